"""Validation errors described without the input: a field path and a reason, never a value.

Used by the ingress (HTTP 422 bodies) and by the workers (`invalid_message` replies and logs).
An error body that repeats what the caller sent can carry a prompt, a key or megabytes back out,
so pydantic's message is kept only when it cannot contain the input: some messages quote it
(an unknown discriminator tag, the bad character of a UUID), and those get a fixed reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# pydantic error types whose message quotes (part of) the input.
_QUOTING_TYPES = {
    "union_tag_invalid": "unknown value for the message's type tag",
    "uuid_parsing": "Input should be a valid UUID",
    "json_invalid": "Invalid JSON",
    "url_parsing": "Input should be a valid URL",
}
_FALLBACK = "invalid value"
_MAX_MESSAGE = 200


def field_path(loc: Iterable[object]) -> str:
    """`messages.0.content` from pydantic's location tuple (FastAPI's leading 'body' dropped)."""
    return ".".join(str(p) for p in loc if p != "body") or "body"


def safe_reason(error: Mapping[str, Any]) -> str:
    """Pydantic's reason for one error, or a fixed one where that reason could quote input."""
    kind = str(error.get("type", ""))
    if kind in _QUOTING_TYPES:
        return _QUOTING_TYPES[kind]
    message = str(error.get("msg") or _FALLBACK)
    value = error.get("input")
    # A message built by a validator may still include the value: a reason, not an echo.
    if isinstance(value, str) and len(value) >= 3 and value in message:
        return _FALLBACK
    return message[:_MAX_MESSAGE]


def describe(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """[{"field", "message"}] for each error, safe to return to the caller or to log."""
    return [
        {
            # FastAPI locates a JSON syntax error at ("body", <offset>): the field is the body.
            "field": "body" if e.get("type") == "json_invalid" else field_path(e.get("loc", ())),
            "message": safe_reason(e),
        }
        for e in errors
    ]


def summary(errors: Iterable[Mapping[str, Any]], limit: int = 5) -> str:
    """One line: `field: reason; field: reason` for the first `limit` errors."""
    return "; ".join(f"{e['field']}: {e['message']}" for e in describe(errors)[:limit])
