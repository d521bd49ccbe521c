"""The bus contract as JSON Schemas: one per message that travels on the bus.

`python -m shared.messaging.asyncapi docs/` writes them with the AsyncAPI document (which needs
the topology, so it lives beside it: `schemas` imports nothing of ours). The ingress serves the
same documents (GET /schemas, /schemas/<Name>.json, /asyncapi.json).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from schemas.messages import (
    SCHEMA_VERSION,
    ErrorReply,
    FeedbackAck,
    LearnerCommand,
    OverridesPublished,
    QueryCommand,
    RouteCompleted,
    RouteCompletedBatch,
    RouteRequest,
    RouteResult,
    RpcReply,
    ServiceHeartbeat,
    SubmitFeedback,
)

# Every message that travels on the bus. RouteOutcome is only their common base.
MESSAGES: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (
        RouteRequest,
        RouteResult,
        RouteCompleted,
        RouteCompletedBatch,
        SubmitFeedback,
        FeedbackAck,
        QueryCommand,
        LearnerCommand,
        RpcReply,
        ErrorReply,
        OverridesPublished,
        ServiceHeartbeat,
    )
}
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one message, as its consumers validate it. KeyError when unknown."""
    model = MESSAGES[name]
    schema = model.model_json_schema(mode="validation")
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"{name}.json",
        "x-schema-version": SCHEMA_VERSION,
        **schema,
    }


def render(document: dict[str, Any]) -> str:
    """Stable text (sorted keys) so that the committed files diff cleanly."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
