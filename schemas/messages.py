"""The bus contract: every message a producer or consumer may see, as pydantic models.

Commands read as instructions (`RouteRequest`, `SubmitFeedback`, `RetrainOverrides`), events as
facts (`RouteCompleted`, `OverridesPublished`, `ServiceHeartbeat`). Every message carries a
`schema_version` so that consumers can refuse what they do not understand.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1
DATA_URL = re.compile(r"^data:(image/[a-z0-9.+-]+);base64,")

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


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False, strict=True)
    schema_version: int = SCHEMA_VERSION


class ImagePart(BaseModel):
    """An image given with a message: an http(s) URL or a `data:<media type>;base64,` URL."""

    model_config = STRICT

    url: str = Field(min_length=1, max_length=20_000_000)

    @field_validator("url")
    @classmethod
    def _url_or_data(cls, url: str) -> str:
        if url.startswith(("http://", "https://")):
            return url
        if DATA_URL.match(url[:120]):
            return url
        raise ValueError("an image is an http(s) URL or a data:image/...;base64, URL")

    def inline(self) -> tuple[str, str] | None:
        """(media type, base64 data) of a data URL; None for a web URL."""
        match = DATA_URL.match(self.url[:120])
        if match is None:
            return None
        return match.group(1), self.url[match.end() :]


class ToolCall(BaseModel):
    """A call the model asked for: `arguments` is the JSON text of the arguments."""

    model_config = STRICT

    id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    arguments: str = "{}"


class ChatMessage(BaseModel):
    """One turn. `content` is the text (empty for an assistant turn that only calls tools);
    `images` follow the text; a `tool` turn answers the call named by `tool_call_id`."""

    model_config = STRICT
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    images: list[ImagePart] = Field(default_factory=list)
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _says_something(self) -> ChatMessage:
        if self.role == "tool":
            if not self.tool_call_id:
                raise ValueError("a tool message needs the tool_call_id it answers")
        elif not (self.content.strip() or self.images or self.tool_calls):
            raise ValueError(f"content {BLANK_TEXT} (or images, or tool calls)")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only an assistant message calls tools")
        if self.images and self.role != "user":
            raise ValueError("only a user message carries images")
        return self


class ToolSpec(BaseModel):
    """A function the model may call; `parameters` is its arguments' JSON Schema."""

    model_config = STRICT

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class ResponseFormat(BaseModel):
    """`json_object`: any JSON object; `json_schema`: JSON valid against `json_schema`."""

    model_config = STRICT

    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str = "response"
    json_schema: dict[str, Any] | None = None
    strict: bool | None = None

    @model_validator(mode="after")
    def _schema_when_needed(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("response_format json_schema needs a schema")
        return self


ToolChoice = Literal["auto", "none", "required"] | str  # or the name of one tool to call


class GenerationOptions(BaseModel):
    """What the caller asked of the generation besides the prompt. Unset means the vendor's
    default. Only models whose catalog capabilities cover what is set are chosen."""

    model_config = STRICT

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: list[str] = Field(default_factory=list, max_length=16)
    seed: int | None = None
    user: str | None = Field(default=None, max_length=256)
    response_format: ResponseFormat | None = None
    tools: list[ToolSpec] = Field(default_factory=list, max_length=128)
    tool_choice: ToolChoice | None = None

    @model_validator(mode="after")
    def _choice_names_a_tool(self) -> GenerationOptions:
        choice = self.tool_choice
        if choice not in (None, "auto", "none", "required") and choice not in {
            t.name for t in self.tools
        }:
            raise ValueError("tool_choice names no tool of `tools`")
        return self

    def sampling(self) -> list[str]:
        """The sampling controls this request sets (catalog `sampling` names)."""
        given = {
            "temperature": self.temperature is not None,
            "top_p": self.top_p is not None,
            "stop": bool(self.stop),
            "seed": self.seed is not None,
        }
        return [name for name, is_set in given.items() if is_set]


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


class SubmitFeedback(Message):
    """Command: rate an answer. A re-submission for the same request updates the rating."""

    request_id: UUID = Field(strict=False)
    quality_score: int = Field(ge=1, le=5)
    is_correct: bool | None = None
    comment: str | None = Field(default=None, max_length=2000)
    api_key_id: str | None = None
    # HTTP callers want a 404 for an unknown id; bus producers want it parked until it appears.
    require_known_request: bool = False


class FeedbackAck(Message):
    request_id: UUID = Field(strict=False)
    status: Literal["created", "updated", "pending", "not_found", "forbidden"]
    detail: str


# ---- learner commands (RPC on learner.commands): one message type per intent -------------


def _action_is_required(schema: dict[str, Any]) -> None:
    # `action` has a default so that code builds an intent without repeating its name, but a
    # producer must send it: consumers tell the intents of a queue apart by it.
    schema["required"] = ["action", *schema.get("required", [])]


class Intent(Message):
    """A command among several on one queue; `action` names it on the wire."""

    model_config = ConfigDict(extra="ignore", strict=True, json_schema_extra=_action_is_required)


class RetrainOverrides(Intent):
    """Command: recompute overrides from feedback; `dry_run` only reports the diff."""

    action: Literal["retrain"] = "retrain"
    dry_run: bool = True
    min_samples: int | None = Field(default=None, ge=1)
    confidence_threshold: float | None = Field(default=None, gt=0, lt=1)


class ReportLearningStatus(Intent):
    """Command: overrides in force, their confidence, last and next retrain, coverage."""

    action: Literal["status"] = "status"


class SendCurrentOverrides(Intent):
    """Command: the current override set, as an OverridesPublished in `data`."""

    action: Literal["current_overrides"] = "current_overrides"


class RestoreOverrides(Intent):
    """Command: make `version`'s overrides current again, as a new version."""

    action: Literal["restore"] = "restore"
    version: int = Field(ge=1, le=INT32_MAX)


class ListLearningRuns(Intent):
    """Command: recent learning runs with their parameters and diffs."""

    action: Literal["runs"] = "runs"


class FitQualityModel(Intent):
    """Command: add the ratings that came since the active quality model was fitted, as a new
    version. `dry_run` reports the rows it would use and how recent traffic would move between
    models, and writes nothing. `full` refits from the catalog priors on every stored rating at
    its latest value (a re-rating replaces what it superseded) instead."""

    action: Literal["fit_model"] = "fit_model"
    dry_run: bool = True
    full: bool = False


class RestoreQualityModel(Intent):
    """Command: make quality model `version` current again, as a new version."""

    action: Literal["restore_model"] = "restore_model"
    version: int = Field(ge=1, le=INT32_MAX)


class SendCurrentQualityModel(Intent):
    """Command: the active quality model, as a QualityModelPublished in `data` (an empty
    `data` when none was learned: routers then use the catalog priors)."""

    action: Literal["current_model"] = "current_model"


class ListQualityModels(Intent):
    """Command: the quality model versions, newest first (no model bytes)."""

    action: Literal["models"] = "models"
    limit: int = Field(default=20, ge=1, le=1000)


LearnerCommand = Annotated[
    RetrainOverrides
    | ReportLearningStatus
    | SendCurrentOverrides
    | RestoreOverrides
    | ListLearningRuns
    | FitQualityModel
    | RestoreQualityModel
    | SendCurrentQualityModel
    | ListQualityModels,
    Field(discriminator="action"),
]


# ---- queries to the feedback service (RPC on feedback.queries) ------------------------------
# Reports over the stored data, and the API key checks of the ingress, which holds no database
# credentials.


class SummarizeFeedback(Intent):
    """Query: feedback counts and averages over the last `days`."""

    action: Literal["feedback_summary"] = "feedback_summary"
    days: int = Field(default=30, ge=1, le=365)


class BuildDashboard(Intent):
    """Query: the dashboard's traffic and feedback figures over the last `days`."""

    action: Literal["dashboard"] = "dashboard"
    days: int = Field(default=30, ge=1, le=365)


class PingDatabase(Intent):
    """Query: does the feedback service reach its database."""

    action: Literal["ping"] = "ping"


class FindRequestOwner(Intent):
    """Query: is `request_id` recorded, and with which API key."""

    action: Literal["request_owner"] = "request_owner"
    request_id: UUID = Field(strict=False)


class LookUpApiKey(Intent):
    """Query: the record of the key whose sha256 is `key_hash` (None when unknown)."""

    action: Literal["api_key"] = "api_key"
    key_hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class AdmitRequest(Intent):
    """Query: may `api_key_id` send one more request (rate limit, daily budget)? Reserves
    `estimated_cost_usd` for `request_id` until its cost is recorded. `purpose` "feedback":
    one more rating, limited by the key's rate in a bucket of its own (no budget)."""

    action: Literal["admit"] = "admit"
    api_key_id: str = Field(max_length=64)
    purpose: Literal["request", "feedback"] = "request"
    request_id: UUID | None = Field(default=None, strict=False)
    estimated_cost_usd: float | None = Field(default=None, ge=0)


QueryCommand = Annotated[
    SummarizeFeedback
    | BuildDashboard
    | PingDatabase
    | FindRequestOwner
    | LookUpApiKey
    | AdmitRequest,
    Field(discriminator="action"),
]


class Override(BaseModel):
    """A learned rule: prompts of `pattern` go to `model`."""

    model_config = STRICT
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
    published_at: datetime = Field(default_factory=utcnow, strict=False)


MAX_MODEL_BYTES = 16 * 1024 * 1024  # a learned quality model is up to a few MB


class QualityModelPublished(Message):
    """Event on the overrides fanout (AMQP type `QualityModelPublished`): the learned quality
    model every router scores candidates with, replacing the one before. Versions only grow (a
    restore republishes an old model under a new version), so a router installs a version
    above its own and ignores the rest."""

    version: int = Field(ge=1, le=INT32_MAX)
    context_version: int = Field(ge=0, le=32767, description="features it expects")
    model: str = Field(
        max_length=4 * MAX_MODEL_BYTES // 3 + 4,
        description="the model's bytes (QualityModel.to_bytes), base64",
        json_schema_extra={"contentEncoding": "base64"},
    )
    rows_used: int = Field(default=0, ge=0, description="ratings this version added")
    parent_version: int | None = Field(default=None, ge=1)
    restored_from: int | None = Field(default=None, ge=1)
    published_at: datetime = Field(default_factory=utcnow, strict=False)


class ReloadCatalog(Message):
    """Command (topic `optimizer.events`, key `catalog.reload`, to every router and ingress):
    re-read the catalog and its overlay (CATALOG_OVERLAY_PATH). A process whose file does not
    validate keeps the catalog it has and logs why."""

    models: int = Field(default=0, ge=0, description="models the sender's reload validated")
    requested_at: datetime = Field(default_factory=utcnow, strict=False)


class ServiceHeartbeat(Message):
    """Event: a worker is alive; what it depends on and whether that answers."""

    service: str
    instance: str
    ready: bool
    details: dict[str, Any] = Field(default_factory=dict)
    sent_at: datetime = Field(default_factory=utcnow, strict=False)


# Why a routed request failed (RouteResult / RouteCompleted `error_kind`).
RouteErrorKind = Literal[
    "no_candidate",
    "all_models_failed",
    "deadline_exceeded",
    "expired",  # the caller's deadline passed before a provider call could start
    "cancelled",  # the caller gave up (CancelRequest) while or before it was handled
    "stream_interrupted",  # a streamed answer failed after its first chunk
]
# Every error kind a worker replies with; the ingress maps each one to an HTTP status.
ErrorKind = Literal[
    RouteErrorKind,
    "invalid_message",  # the command did not validate; it was dead-lettered
    "database_unavailable",  # the worker could not reach PostgreSQL; retry later
]


class ErrorReply(Message):
    """Reply sent instead of silence when a command cannot be carried out."""

    ok: Literal[False] = False
    error_kind: ErrorKind
    error_message: str


class RpcReply(Message):
    """Generic successful reply carrying a JSON payload."""

    ok: Literal[True] = True
    data: dict[str, Any] = Field(default_factory=dict)
