"""The bus contract as JSON Schemas: one per message that travels on the bus.

`python -m shared.messaging.asyncapi docs/` writes them with the AsyncAPI document (which needs
the topology, so it lives beside it: `schemas` imports nothing of ours). The ingress serves the
same documents (GET /schemas, /schemas/<Name>.json, /asyncapi.json).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, TypeAdapter

from schemas.messages import (
    SCHEMA_VERSION,
    CancelRequest,
    ErrorReply,
    FeedbackAck,
    LearnerCommand,
    OverridesPublished,
    QualityModelPublished,
    QueryCommand,
    ReloadCatalog,
    RouteChunk,
    RouteCompleted,
    RouteCompletedBatch,
    RouteRequest,
    RouteResult,
    RouteStreamEnd,
    RpcReply,
    ServiceHeartbeat,
    SubmitFeedback,
)

# Every message that travels on the bus, by name. RouteOutcome is only a common base; the two
# command unions (one message type per intent, told apart by `action`) each get one schema.
_MODELS: tuple[type[BaseModel], ...] = (
    RouteRequest,
    RouteResult,
    RouteChunk,
    RouteStreamEnd,
    CancelRequest,
    RouteCompleted,
    RouteCompletedBatch,
    SubmitFeedback,
    FeedbackAck,
    RpcReply,
    ErrorReply,
    OverridesPublished,
    QualityModelPublished,
    ReloadCatalog,
    ServiceHeartbeat,
)
MESSAGES: dict[str, TypeAdapter[Any]] = {
    **{model.__name__: TypeAdapter(model) for model in _MODELS},
    "QueryCommand": TypeAdapter(QueryCommand),
    "LearnerCommand": TypeAdapter(LearnerCommand),
}
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one message, as its consumers validate it. KeyError when unknown."""
    schema = MESSAGES[name].json_schema(mode="validation")
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"{name}.json",
        "x-schema-version": SCHEMA_VERSION,
        **schema,
    }


def render(document: dict[str, Any]) -> str:
    """Stable text (sorted keys) so that the committed files diff cleanly."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
