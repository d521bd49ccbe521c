"""The bus contract: every message a producer or consumer may see, as pydantic models.

Commands read as instructions (`RouteRequest`, `SubmitFeedback`, `RetrainOverrides`), events as
facts (`RouteCompleted`, `OverridesPublished`, `ServiceHeartbeat`). Every message carries a
`schema_version` so that consumers can refuse what they do not understand.

The models live in one module per intent, each short enough to read at a sitting:

- `base`: what every message shares (version, strict typing, prompt text, the intent base);
- `chat`: the conversation and generation options inside a request;
- `routing`: route requests, their replies and stream chunks, cancellation;
- `completions`: the completion events the recorder stores and the learner fits on;
- `feedback`: ratings and their acknowledgement;
- `learner`: learner commands, and the overrides and quality models it publishes;
- `queries`: reports and API key checks answered by the feedback service;
- `workers`: catalog reload, heartbeats, and the generic replies.

Import from here (`from schemas.messages import RouteRequest`): the split is not part of the
contract, and the names below are.
"""

from __future__ import annotations

from schemas.messages.base import (
    BLANK_TEXT,
    INT32_MAX,
    MAX_USD,
    SCHEMA_VERSION,
    STRICT,
    Intent,
    Message,
    PromptText,
    utcnow,
)
from schemas.messages.chat import (
    DATA_URL,
    ChatMessage,
    GenerationOptions,
    ImagePart,
    ResponseFormat,
    ToolCall,
    ToolChoice,
    ToolSpec,
)
from schemas.messages.completions import (
    MAX_FEATURES,
    Float16Vector,
    RouteCompleted,
    RouteCompletedBatch,
)
from schemas.messages.feedback import (
    FeedbackAck,
    SubmitFeedback,
)
from schemas.messages.learner import (
    MAX_MODEL_BYTES,
    FitQualityModel,
    LearnerCommand,
    ListLearningRuns,
    ListQualityModels,
    Override,
    OverridesPublished,
    QualityModelPublished,
    ReportLearningStatus,
    RestoreOverrides,
    RestoreQualityModel,
    RetrainOverrides,
    SendCurrentOverrides,
    SendCurrentQualityModel,
)
from schemas.messages.queries import (
    AdmitRequest,
    BuildDashboard,
    FindRequestOwner,
    LookUpApiKey,
    PingDatabase,
    QueryCommand,
    SummarizeFeedback,
)
from schemas.messages.routing import (
    CancelRequest,
    FallbackHop,
    RouteChunk,
    RouteConstraints,
    RouteErrorKind,
    RouteOutcome,
    RouteRequest,
    RouteResult,
    RouteStreamEnd,
)
from schemas.messages.workers import (
    ErrorKind,
    ErrorReply,
    ReloadCatalog,
    RpcReply,
    ServiceHeartbeat,
)

__all__ = [
    "BLANK_TEXT",
    "DATA_URL",
    "INT32_MAX",
    "MAX_FEATURES",
    "MAX_MODEL_BYTES",
    "MAX_USD",
    "SCHEMA_VERSION",
    "STRICT",
    "AdmitRequest",
    "BuildDashboard",
    "CancelRequest",
    "ChatMessage",
    "ErrorKind",
    "ErrorReply",
    "FallbackHop",
    "FeedbackAck",
    "FindRequestOwner",
    "FitQualityModel",
    "Float16Vector",
    "GenerationOptions",
    "ImagePart",
    "Intent",
    "LearnerCommand",
    "ListLearningRuns",
    "ListQualityModels",
    "LookUpApiKey",
    "Message",
    "Override",
    "OverridesPublished",
    "PingDatabase",
    "PromptText",
    "QualityModelPublished",
    "QueryCommand",
    "ReloadCatalog",
    "ReportLearningStatus",
    "ResponseFormat",
    "RestoreOverrides",
    "RestoreQualityModel",
    "RetrainOverrides",
    "RouteChunk",
    "RouteCompleted",
    "RouteCompletedBatch",
    "RouteConstraints",
    "RouteErrorKind",
    "RouteOutcome",
    "RouteRequest",
    "RouteResult",
    "RouteStreamEnd",
    "RpcReply",
    "SendCurrentOverrides",
    "SendCurrentQualityModel",
    "ServiceHeartbeat",
    "SubmitFeedback",
    "SummarizeFeedback",
    "ToolCall",
    "ToolChoice",
    "ToolSpec",
    "utcnow",
]
