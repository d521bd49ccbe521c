"""Commands on the bus: one type per intent, tables that cover them, error kinds that map."""

from __future__ import annotations

import json
import typing

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas import messages
from services.ingress.bus_calls import STATUS_BY_KIND
from services.learner.commands import COMMANDS
from services.ledger.handlers import QUERIES


def members(union: object) -> set[type]:
    return set(typing.get_args(typing.get_args(union)[0]))


def flat_literal(kind: object) -> set[str]:
    values: set[str] = set()
    for arg in typing.get_args(kind):
        values |= flat_literal(arg) if typing.get_args(arg) else {arg}
    return values


def test_every_error_kind_maps_to_an_http_status_and_nothing_else_is_mapped() -> None:
    assert set(STATUS_BY_KIND) == flat_literal(messages.ErrorKind)
    assert flat_literal(messages.RouteErrorKind) <= set(STATUS_BY_KIND)
    assert all(400 <= status < 600 for status in STATUS_BY_KIND.values())
    assert STATUS_BY_KIND["deadline_exceeded"] == 504
    assert STATUS_BY_KIND["all_models_failed"] == 502
    assert STATUS_BY_KIND["database_unavailable"] == 503


def test_an_error_kind_outside_the_contract_is_refused() -> None:
    with pytest.raises(ValidationError):
        messages.ErrorReply(error_kind="something_else", error_message="x")
    with pytest.raises(ValidationError):
        messages.RouteResult(request_id="0" * 32, ok=False, error_kind="something_else")


def test_each_queue_table_handles_every_intent_of_its_union() -> None:
    assert set(QUERIES) == members(messages.QueryCommand)
    assert set(COMMANDS) == members(messages.LearnerCommand)


@pytest.mark.parametrize(
    ("union", "wire", "expected"),
    [
        # What producers sent before the intents had types of their own, field for field.
        (
            messages.LearnerCommand,
            {"action": "retrain", "dry_run": False, "min_samples": 5, "version": None},
            messages.RetrainOverrides,
        ),
        (messages.LearnerCommand, {"action": "restore", "version": 3}, messages.RestoreOverrides),
        (
            messages.LearnerCommand,
            {"action": "status", "dry_run": True},
            messages.ReportLearningStatus,
        ),
        (
            messages.QueryCommand,
            {"action": "admit", "days": 30, "api_key_id": "key_1", "key_hash": None},
            messages.AdmitRequest,
        ),
        (messages.QueryCommand, {"action": "api_key", "key_hash": "a" * 64}, messages.LookUpApiKey),
        (messages.QueryCommand, {"action": "dashboard", "days": 7}, messages.BuildDashboard),
    ],
)
def test_the_wire_format_of_commands_is_unchanged(union, wire, expected) -> None:
    parsed = TypeAdapter(union).validate_json(json.dumps(wire))
    assert type(parsed) is expected
    assert json.loads(parsed.model_dump_json())["action"] == wire["action"]


@pytest.mark.parametrize(
    ("union", "wire"),
    [
        (messages.LearnerCommand, {"action": "restore"}),  # restore without a version
        (messages.LearnerCommand, {"action": "explode"}),
        (messages.QueryCommand, {"action": "request_owner"}),  # no request_id
        (messages.QueryCommand, {"action": "api_key", "key_hash": "not-hex"}),
        (messages.QueryCommand, {"days": 3}),  # no action at all
    ],
)
def test_an_incomplete_or_unknown_command_does_not_validate(union, wire) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(union).validate_json(json.dumps(wire))
