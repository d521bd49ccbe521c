"""The request path: the RouteRequest command, its reply (whole as a RouteResult, or streamed
as RouteChunk messages ended by a RouteStreamEnd), and the CancelRequest of a caller who gave
up.

RouteOutcome holds the fields the reply shares with the completion event
(`schemas.messages.completions`), so that the two cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, Field, field_validator

from schemas.messages.base import INT32_MAX, MAX_USD, STRICT, Message, utcnow
from schemas.messages.chat import ChatMessage, GenerationOptions, ToolCall


class RouteConstraints(BaseModel):
    """Limits a caller may put on the choice of model."""

    model_config = STRICT

    max_cost_usd: float | None = Field(default=None, gt=0, description="per request, estimated")
    min_quality: float | None = Field(
        default=None, ge=0, le=1, description="absolute floor on a model's expected quality"
    )
    quality_target: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="the decision knob: the cheapest candidate whose predicted quality reaches "
        "this fraction of the best candidate's is chosen (default: the key's target, then "
        "QUALITY_TARGET)",
    )
    allowed_providers: list[str] | None = None
    model: str | None = Field(default=None, description="force this catalog model id")
    allowed_models: list[str] | None = Field(
        default=None, description="catalog ids the choice and every fallback must come from"
    )


class RouteRequest(Message):
    """Command: answer these messages with the cheapest adequate model."""

    request_id: UUID = Field(default_factory=uuid4, strict=False)
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int = Field(default=512, ge=1, le=32768)
    constraints: RouteConstraints = Field(default_factory=RouteConstraints)
    options: GenerationOptions = Field(default_factory=GenerationOptions)
    api_key_id: str | None = None
    submitted_at: datetime = Field(default_factory=utcnow, strict=False)
    preview: bool = Field(default=False, description="decide only; no model is called")
    deadline_at: datetime | None = Field(
        default=None,
        strict=False,
        description="absolute time (UTC) after which the caller no longer wants the answer: "
        "a router never starts a provider call past it (the request is recorded as `expired`); "
        "publish it with a matching AMQP `expiration` so the broker drops it unread",
    )
    stream: bool = Field(
        default=False,
        description="send the answer as RouteChunk messages as the model produces it, then a "
        "RouteStreamEnd, all to `reply_to` with the request's `correlation_id`",
    )

    @field_validator("deadline_at")
    @classmethod
    def _utc_when_naive(cls, value: datetime | None) -> datetime | None:
        # A producer that leaves out the offset means UTC, like every time on this bus.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class FallbackHop(BaseModel):
    """One model that was tried and left, and why."""

    model_config = STRICT
    provider: str
    model: str
    reason: str
    attempts: int = 1


# Why a routed request failed (RouteResult / RouteCompleted `error_kind`).
RouteErrorKind = Literal[
    "no_candidate",
    "all_models_failed",
    "deadline_exceeded",
    "expired",  # the caller's deadline passed before a provider call could start
    "cancelled",  # the caller gave up (CancelRequest) while or before it was handled
    "stream_interrupted",  # a streamed answer failed after its first chunk
]


class RouteOutcome(Message):
    """Fields shared by the reply to the caller and the completion event."""

    request_id: UUID = Field(strict=False)
    ok: bool
    provider: str | None = None
    model: str | None = None
    pattern: str = "general"
    complexity: str = "medium"
    # Bounded by the columns that store them (integer, numeric(16, 10)): a value outside is
    # refused here, on the bus, rather than failing the database insert after delivery.
    tokens_in: int = Field(default=0, ge=0, le=INT32_MAX)
    tokens_out: int = Field(default=0, ge=0, le=INT32_MAX)
    cost_usd: float = Field(default=0.0, ge=0, lt=MAX_USD)
    baseline_cost_usd: float = Field(default=0.0, ge=0, lt=MAX_USD)
    savings_usd: float = Field(default=0.0, gt=-MAX_USD, lt=MAX_USD)
    latency_ms: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    attempts: int = Field(default=0, ge=0, le=INT32_MAX)
    fallback_path: list[FallbackHop] = Field(default_factory=list)
    explored: bool = False
    override_version: int | None = Field(default=None, ge=0, le=INT32_MAX)
    model_version: int | None = Field(
        default=None,
        ge=0,
        le=INT32_MAX,
        description="the learned quality model version that scored the candidates (None: "
        "catalog priors)",
    )
    decision_reason: str | None = None
    finish_reason: str | None = None
    error_kind: RouteErrorKind | None = None
    error_message: str | None = None
    streamed: bool = False
    first_token_ms: float | None = Field(
        default=None, description="time to the first answer text (streamed answers)"
    )
    answer_chars: int = Field(default=0, ge=0, description="length of the answer sent, if any")


class RouteResult(RouteOutcome):
    """Reply on the caller's `reply_to` queue."""

    answer: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)


class RouteChunk(Message):
    """Reply (streamed requests): the next piece of the answer.

    Sent to the caller's `reply_to` with the request's `correlation_id` and the AMQP `type`
    `chunk`. `seq` counts from 0 without gaps; the first chunk names the model answering.
    """

    request_id: UUID = Field(strict=False)
    seq: int = Field(ge=0)
    delta: str
    model: str | None = None
    provider: str | None = None


class RouteStreamEnd(RouteOutcome):
    """Reply (streamed requests): the last message of a stream, AMQP `type` `end`.

    `chunks` RouteChunk messages came before it (wait for any still missing: seq < chunks).
    `ok` false ends the stream with `error_kind`: before the first chunk a failure is the
    same as a buffered request's; after it, `stream_interrupted` (the answer is partial).
    `tool_calls` are the model's complete tool calls (a request with tools is answered whole,
    its text as one chunk).
    """

    chunks: int = Field(default=0, ge=0)
    tool_calls: list[ToolCall] = Field(default_factory=list)


class CancelRequest(Message):
    """Command (fanout `optimizer.cancels`): the caller of `request_id` gave up.

    The router that holds the request stops its provider call and records it `cancelled`;
    a router that receives the request later does not execute it.
    """

    request_id: UUID = Field(strict=False)
    reason: Literal["client_disconnected", "caller_timeout", "caller_request"] = "caller_request"
    sent_at: datetime = Field(default_factory=utcnow, strict=False)
