"""The bus contract: every message a producer or consumer may see, as pydantic models.

Commands read as instructions (`RouteRequest`, `SubmitFeedback`, `LearnerCommand`), events as
facts (`RouteCompleted`, `OverridesPublished`, `ServiceHeartbeat`). Every message carries a
`schema_version` so that consumers can refuse what they do not understand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False)
    schema_version: int = SCHEMA_VERSION


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1)


class RouteConstraints(BaseModel):
    """Limits a caller may put on the choice of model."""

    max_cost_usd: float | None = Field(default=None, gt=0, description="per request, estimated")
    min_quality: float | None = Field(default=None, ge=0, le=1)
    allowed_providers: list[str] | None = None
    model: str | None = Field(default=None, description="force this catalog model id")


class RouteRequest(Message):
    """Command: answer these messages with the cheapest adequate model."""

    request_id: UUID = Field(default_factory=uuid4)
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int = Field(default=512, ge=1, le=32768)
    constraints: RouteConstraints = Field(default_factory=RouteConstraints)
    api_key_id: str | None = None
    submitted_at: datetime = Field(default_factory=utcnow)
    preview: bool = Field(default=False, description="decide only; no model is called")


class FallbackHop(BaseModel):
    """One model that was tried and left, and why."""

    provider: str
    model: str
    reason: str
    attempts: int = 1


class RouteOutcome(Message):
    """Fields shared by the reply to the caller and the completion event."""

    request_id: UUID
    ok: bool
    provider: str | None = None
    model: str | None = None
    pattern: str = "general"
    complexity: str = "medium"
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    baseline_cost_usd: float = 0.0
    savings_usd: float = 0.0
    latency_ms: float = 0.0
    attempts: int = 0
    fallback_path: list[FallbackHop] = Field(default_factory=list)
    explored: bool = False
    override_version: int | None = None
    decision_reason: str | None = None
    finish_reason: str | None = None
    error_kind: str | None = None
    error_message: str | None = None


class RouteResult(RouteOutcome):
    """Reply on the caller's `reply_to` queue."""

    answer: str | None = None


class RouteCompleted(RouteOutcome):
    """Event: a request was answered or failed. The recorder stores one row per request_id."""

    prompt_hash: str
    prompt_preview: str | None = None
    api_key_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class RouteCompletedBatch(Message):
    """Event: several RouteCompleted at once (routing key `route.completed.batch`).

    Under load a router publishes the events that finished while its previous publish awaited
    the broker's confirm as one message: one broker message, one confirm and one delivery to
    the recorder instead of one each. A lone event still goes out as a plain RouteCompleted.
    """

    events: list[RouteCompleted] = Field(min_length=1, max_length=1000)


class SubmitFeedback(Message):
    """Command: rate an answer. A re-submission for the same request updates the rating."""

    request_id: UUID
    quality_score: int = Field(ge=1, le=5)
    is_correct: bool | None = None
    comment: str | None = Field(default=None, max_length=2000)
    api_key_id: str | None = None
    # HTTP callers want a 404 for an unknown id; bus producers want it parked until it appears.
    require_known_request: bool = False


class FeedbackAck(Message):
    request_id: UUID
    status: Literal["created", "updated", "pending", "not_found", "forbidden"]
    detail: str


class LearnerCommand(Message):
    """Command to the learner (RPC): retrain, status, current overrides, restore a version."""

    action: Literal["retrain", "status", "current_overrides", "restore", "runs"]
    dry_run: bool = True
    min_samples: int | None = Field(default=None, ge=1)
    confidence_threshold: float | None = Field(default=None, gt=0, lt=1)
    version: int | None = Field(default=None, ge=1, le=2_147_483_647)  # an integer column


class QueryCommand(Message):
    """Command to the feedback service (RPC): reports over the stored data, and the API key
    checks of the ingress, which holds no database credentials: `api_key` (the record of the key
    whose sha256 is `key_hash`) and `admit` (rate limit and daily budget of `api_key_id`, with
    `estimated_cost_usd` reserved for `request_id` until its cost is recorded)."""

    action: Literal["feedback_summary", "dashboard", "ping", "request_owner", "api_key", "admit"]
    days: int = Field(default=30, ge=1, le=365)
    request_id: UUID | None = None
    key_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    api_key_id: str | None = Field(default=None, max_length=64)
    estimated_cost_usd: float | None = Field(default=None, ge=0)


class Override(BaseModel):
    """A learned rule: prompts of `pattern` go to `model`."""

    pattern: str
    model: str
    provider: str
    confidence_level: Literal["high", "medium", "low"]
    confidence_bound: float
    sample_count: int
    avg_quality: float | None = None
    correct_rate: float | None = None


class OverridesPublished(Message):
    """Event on the fanout exchange: the full current set of overrides, replacing any before."""

    version: int
    overrides: list[Override]
    # Per routing key, cheaper models exploration should still try (and only those).
    trials: dict[str, list[str]] = Field(default_factory=dict)
    published_at: datetime = Field(default_factory=utcnow)


class ServiceHeartbeat(Message):
    """Event: a worker is alive; what it depends on and whether that answers."""

    service: str
    instance: str
    ready: bool
    details: dict[str, Any] = Field(default_factory=dict)
    sent_at: datetime = Field(default_factory=utcnow)


class ErrorReply(Message):
    """Reply sent instead of silence when a command cannot be carried out."""

    ok: Literal[False] = False
    error_kind: str
    error_message: str


class RpcReply(Message):
    """Generic successful reply carrying a JSON payload."""

    ok: Literal[True] = True
    data: dict[str, Any] = Field(default_factory=dict)
