"""What every bus message shares: the version stamp, strict typing, the prompt text rule, and
the base of the commands that share one queue and are told apart by `action`.

The other contract modules build on these; this one imports none of them, so that the
package has no import cycle.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

# Strict types on every message: "5" is not a score, true is not max_tokens, "yes" is not a
# boolean. Only ids and times keep their string wire forms (`Field(strict=False)` below).
STRICT = ConfigDict(strict=True)
BLANK_TEXT = "must contain text, not only whitespace"
INT32_MAX = 2_147_483_647  # an integer column
MAX_USD = 1_000_000.0  # numeric(16, 10) holds less than this


def utcnow() -> datetime:
    return datetime.now(UTC)


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError(BLANK_TEXT)
    return text


# The one rule for prompt text, on HTTP (/v1/route, /v1/chat/completions) and on the bus.
PromptText = Annotated[
    str, AfterValidator(_not_blank), Field(min_length=1, json_schema_extra={"pattern": r"\S"})
]


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False, strict=True)
    schema_version: int = SCHEMA_VERSION


# ---- intents: several commands on one queue, one message type each --------------------------


def _action_is_required(schema: dict[str, Any]) -> None:
    # `action` has a default so that code builds an intent without repeating its name, but a
    # producer must send it: consumers tell the intents of a queue apart by it.
    schema["required"] = ["action", *schema.get("required", [])]


class Intent(Message):
    """A command among several on one queue; `action` names it on the wire."""

    model_config = ConfigDict(extra="ignore", strict=True, json_schema_extra=_action_is_required)
