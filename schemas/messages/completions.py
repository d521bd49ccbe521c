"""Completion events: the fact that a request was answered or failed, one per request, which
the recorder stores and the learner fits its quality model on.

Apart from the request path because their readers differ: callers never see these, and they
carry what only learning needs (the prompt's hash and context vector, never its text).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from schemas.messages.base import Message, utcnow
from schemas.messages.routing import RouteOutcome

MAX_FEATURES = 1024  # numbers in a stored context vector (2 KiB as float16)


def _float16_base64(text: str) -> str:
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("must be base64") from None
    if len(raw) % 2 or len(raw) > 2 * MAX_FEATURES:
        raise ValueError(f"must hold at most {MAX_FEATURES} float16 numbers (2 bytes each)")
    return text


# A vector of float16 as base64 (standard alphabet, padded): compact in JSON, exact to decode.
Float16Vector = Annotated[
    str,
    AfterValidator(_float16_base64),
    Field(
        max_length=4 * ((2 * MAX_FEATURES + 2) // 3),
        json_schema_extra={"contentEncoding": "base64", "pattern": r"^[A-Za-z0-9+/]*={0,2}$"},
    ),
]


class RouteCompleted(RouteOutcome):
    """Event: a request was answered or failed. The recorder stores one row per request_id."""

    prompt_hash: str
    prompt_preview: str | None = None
    features: Float16Vector | None = Field(
        default=None,
        description="the prompt's context vector at decision time (base64 of little-endian "
        "float16), what the learner fits the quality model on; never the prompt's text",
    )
    context_version: int | None = Field(
        default=None, ge=0, le=32767, description="how `features` were computed"
    )
    api_key_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow, strict=False)


class RouteCompletedBatch(Message):
    """Event: several RouteCompleted at once (routing key `route.completed.batch`).

    Under load a router publishes the events that finished while its previous publish awaited
    the broker's confirm as one message: one broker message, one confirm and one delivery to
    the recorder instead of one each. A lone event still goes out as a plain RouteCompleted.
    """

    events: list[RouteCompleted] = Field(min_length=1, max_length=1000)
