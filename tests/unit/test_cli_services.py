"""`optimizer serve`: the ledger service keeps answering to its earlier name."""

from __future__ import annotations

import pytest

from services import cli, names


def test_feedback_is_an_alias_of_ledger() -> None:
    args = cli._parser().parse_args(["serve", "router", "feedback"])
    assert names.canonical(args.services) == ["router", "ledger"]
    assert names.canonical(["feedback", "ledger"]) == ["ledger"]


def test_aliases_name_services_and_unknown_names_are_refused() -> None:
    assert set(names.ALIASES.values()) <= set(names.SERVICES)
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["serve", "accounting"])


def test_a_worker_built_by_its_earlier_name_is_the_ledger() -> None:
    from services.ledger.service import LedgerService
    from services.runner import build_worker
    from shared.routing.catalog import load_catalog
    from shared.settings import Settings

    worker = build_worker("feedback", Settings(environment="test"), load_catalog())
    assert isinstance(worker, LedgerService)
    assert worker.name == "feedback"  # what heartbeats and /health keep reporting
