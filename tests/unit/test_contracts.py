"""The exported contract: committed files match the code, and every message is in it."""

from __future__ import annotations

import inspect
import json
import typing
from pathlib import Path

import jsonschema

from schemas import messages
from schemas.export import MESSAGES, json_schema
from shared.messaging.asyncapi import asyncapi_document, documents
from shared.messaging.topology import WORK_QUEUES

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_committed_documents_match_the_code() -> None:
    stale = [
        relative
        for relative, text in documents().items()
        if not (DOCS / relative).exists() or (DOCS / relative).read_text("utf-8") != text
    ]
    assert not stale, f"regenerate with `python -m shared.messaging.asyncapi docs/`: {stale}"


def test_every_message_of_the_contract_is_exported() -> None:
    defined = {
        name
        for name, obj in inspect.getmembers(messages, inspect.isclass)
        # The contract is a package (one module per intent): its models live in its modules.
        if issubclass(obj, messages.Message) and obj.__module__.startswith(f"{messages.__name__}.")
    }
    intents = {
        member.__name__
        for union in (messages.QueryCommand, messages.LearnerCommand)
        for member in typing.get_args(typing.get_args(union)[0])
    }
    # Bases are never sent alone; each intent is exported inside its queue's union.
    assert defined - set(MESSAGES) == {"Message", "RouteOutcome", "Intent"} | intents


def test_json_schema_accepts_what_the_models_produce() -> None:
    request = messages.RouteRequest(messages=[messages.ChatMessage(role="user", content="hi")])
    validator = jsonschema.Draft202012Validator(json_schema("RouteRequest"))
    validator.validate(json.loads(request.model_dump_json()))
    errors = list(validator.iter_errors({"messages": []}))
    assert errors, "an empty chat is refused by the schema as by the model"


def test_asyncapi_describes_every_work_queue_and_the_events() -> None:
    document = asyncapi_document()
    assert document["asyncapi"] == "3.0.0"
    channels = document["channels"]
    for queue in WORK_QUEUES:
        assert queue in channels, queue
    assert "optimizer.events:route.completed" in channels
    assert "optimizer.overrides" in channels
    schemas = document["components"]["schemas"]
    assert {"RouteRequest", "RouteResult", "SubmitFeedback", "FeedbackAck"} <= set(schemas)
