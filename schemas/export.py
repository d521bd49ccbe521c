"""Export the bus contract: one JSON Schema per message, and the AsyncAPI document.

    python -m schemas.export docs/      # writes docs/schemas/<Name>.json and docs/asyncapi.json

The ingress serves the same documents (GET /schemas, /schemas/<Name>.json, /asyncapi.json);
tests/unit/test_contracts.py fails when the committed files differ from the code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
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


def documents() -> dict[str, str]:
    """Relative path -> file content, for everything `main` writes."""
    from schemas.asyncapi import asyncapi_document

    files = {f"schemas/{name}.json": render(json_schema(name)) for name in MESSAGES}
    files["asyncapi.json"] = render(asyncapi_document())
    return files


def write(target: Path) -> list[Path]:
    written = []
    for relative, text in documents().items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0] if args else "docs")
    for path in write(target):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
