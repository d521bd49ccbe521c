"""The learned quality model in production, over the real broker and database: ratings of stored
features in, versions out, every router switching to them; dry run, restore, preview, the knob.

The module runs on a database of its own, so that the ratings of other modules are not in its
fits. A fit only takes ratings older than `RATING_SETTLE`; it is shortened here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from services.learner import quality
from services.learner.service import LearnerService
from services.router.engine import QualitySet
from services.router.service import RouterService
from shared import metrics
from shared.routing.bandit.chooser import ExplorationBudget
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.catalog import load_catalog
from shared.settings import Settings
from tests.conftest import free_port, isolated_settings
from tests.integration.test_feedback_loop import _wait_version as wait_version
from tests.integration.test_learner_cli import _cli
from tests.integration.test_request_path import wait_for_rows
from tests.system import RunningSystem, start_system
from tests.unit.test_model_size import largest_event

PROMPT = "Write a Python function that reverses a linked list and explain its complexity."
PROMPTS = [f"{PROMPT} Variant {i}." for i in range(20)]
PREMIUM, FAST = "simulated-premium", "simulated-fast"
SETTLE_S = 0.3


@pytest.fixture(scope="module")
async def own(service_urls: tuple[str, str]) -> AsyncIterator[Settings]:
    async with isolated_settings(service_urls, uuid.uuid4().hex[:8]) as settings:
        yield settings


@pytest.fixture(scope="module")
async def running(own: Settings) -> AsyncIterator[tuple[RunningSystem, RouterService]]:
    previous, quality.RATING_SETTLE = quality.RATING_SETTLE, timedelta(seconds=SETTLE_S)
    system = await start_system(own, free_port(), workers=("router", "ledger", "learner"))
    second = RouterService(own, load_catalog())
    await second.start()
    routers = [system.worker("router"), second]
    for router in routers:  # deterministic choices: no Thompson draw may explore
        assert isinstance(router, RouterService)
        router.engine.budget = ExplorationBudget(share=0.0)
    try:
        yield system, second
    finally:
        await second.stop()
        await system.stop()
        quality.RATING_SETTLE = previous


@pytest.fixture
async def pool(own: Settings) -> AsyncIterator[asyncpg.Pool]:
    connection_pool = await asyncpg.create_pool(own.database_url, min_size=1, max_size=2)
    yield connection_pool
    await connection_pool.close()


def _routers(running: tuple[RunningSystem, RouterService]) -> list[RouterService]:
    system, second = running
    first = system.worker("router")
    assert isinstance(first, RouterService)
    return [first, second]


async def _route(client, prompt: str, **constraints: object) -> dict:
    body: dict[str, object] = {"prompt": prompt, "max_tokens": 64}
    if constraints:
        body["constraints"] = constraints
    response = await client.post("/v1/route", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def _rate(client, answers: list[dict], score: int, correct: bool) -> None:
    for answer in answers:
        rating = {"request_id": answer["request_id"], "quality_score": score, "is_correct": correct}
        response = await client.post("/production/feedback", json=rating)
        assert response.status_code == 200, response.text
    await asyncio.sleep(SETTLE_S + 0.2)  # past the settle time: the next fit takes them


async def _fit(client, dry_run: bool) -> dict:
    response = await client.post("/admin/learning/model/fit", params={"dry_run": str(dry_run)})
    assert response.status_code == 200, response.text
    return response.json()


async def _wait_version(routers: list[RouterService], version: int) -> None:
    await wait_version(routers, version, of=lambda r: r.engine.quality.version)


async def test_fit_dry_run_apply_and_restore_move_every_router(
    running: tuple[RunningSystem, RouterService], pool: asyncpg.Pool
) -> None:
    system, _ = running
    routers = _routers(running)
    async with system.client() as client:
        # Cold start: no version, today's rules decide; the requests' features are stored.
        start = await _route(client, PROMPTS[0])
        assert start["model_version"] is None
        stored = "SELECT count(*) FROM request_features WHERE request_id = $1"
        assert await wait_for_rows(pool, stored, uuid.UUID(start["request_id"]), expected=1) == 1
        nothing = await _fit(client, dry_run=False)
        assert nothing["status"] == "unchanged" and nothing["version"] is None

        # Version 1: the premium model rated well on code. Code still goes to premium.
        premium = [await _route(client, p, model=PREMIUM) for p in PROMPTS[:5]]
        await _rate(client, premium, 5, True)
        first = await _fit(client, dry_run=False)
        assert first["status"] == "applied" and first["version"] == 1
        assert first["rows_used"] == 5 and first["parent_version"] is None
        await _wait_version(routers, 1)
        after_first = await _route(client, f"{PROMPT} Again.")
        assert after_first["model"] == PREMIUM and after_first["model_version"] == 1

        # The cheap model turns out good on the same kind of prompt.
        cheap = [await _route(client, p, model=FAST) for p in PROMPTS]
        await _rate(client, cheap, 5, True)

        # A dry run says what would move and writes nothing.
        versions_before = await pool.fetchval("SELECT count(*) FROM quality_models")
        dry = await _fit(client, dry_run=True)
        assert dry["status"] == "dry_run" and dry["written"] is False
        assert dry["rows_used"] == 20 and dry["parent_version"] == 1
        diff = dry["diff"]
        # The 25 requests that forced a model are left out: no model decides them.
        assert diff["forced"] == 25 and diff["requests"] == 2 and diff["moved"] >= 1
        assert diff["moves"][0]["from"] == PREMIUM and diff["moves"][0]["to"] == FAST
        assert diff["estimated_cost_after_usd"] < diff["estimated_cost_before_usd"]
        assert await pool.fetchval("SELECT count(*) FROM quality_models") == versions_before
        await asyncio.sleep(0.2)
        assert [r.engine.quality.version for r in routers] == [1, 1]

        # Applied: version 2 on every router, and code goes to the cheap model.
        second = await _fit(client, dry_run=False)
        assert second["status"] == "applied" and second["version"] == 2
        assert second["rows_used"] == 20 and second["parent_version"] == 1
        await _wait_version(routers, 2)
        routed = [await _route(client, f"{PROMPT} New {i}.") for i in range(6)]
        assert {r["model"] for r in routed} == {FAST}
        assert {r["model_version"] for r in routed} == {2}
        # Nothing new since: a fit adds no version.
        again = await _fit(client, dry_run=False)
        assert again["status"] == "unchanged" and again["version"] == 2

        # Restore version 1: a new version (3) with version 1's model, on every router.
        restored = await client.post("/admin/learning/model/restore", params={"version": 1})
        assert restored.status_code == 200, restored.text
        assert restored.json() == {"status": "restored", "version": 3, "restored_from": 1}
        await _wait_version(routers, 3)
        back = await _route(client, f"{PROMPT} Restored.")
        assert back["model"] == PREMIUM and back["model_version"] == 3
        missing = await client.post("/admin/learning/model/restore", params={"version": 99})
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "unknown_version"

        listed = (await client.get("/admin/learning/model/versions")).json()["versions"]
        assert [(v["version"], v["restored_from"], v["is_active"]) for v in listed] == [
            (3, 1, True),
            (2, None, False),
            (1, None, False),
        ]
        status = (await client.get("/admin/learning/status")).json()
        assert status["model_version"] == 3 and status["model"]["restored_from"] == 1
        # The overrides' fields keep their meaning beside the model's.
        assert {"total_overrides", "confidence_distribution", "recommendation_coverage"} <= set(
            status
        )

        # Version 3 has version 1's watermark: the next fit learns again the 20 ratings version
        # 1 had not seen (a rollback undoes a fit, not the ratings).
        refit = await _fit(client, dry_run=False)
        assert refit["status"] == "applied" and refit["version"] == 4
        assert refit["rows_used"] == 20 and refit["parent_version"] == 3
        await _wait_version(routers, 4)
    stored = await pool.fetch(
        "SELECT model_version, count(*) AS n FROM routing_requests "
        "WHERE model_version IS NOT NULL GROUP BY 1 ORDER BY 1"
    )
    assert {r["model_version"] for r in stored} == {1, 2, 3}


async def test_the_cli_dry_runs_applies_lists_and_restores(
    running: tuple[RunningSystem, RouterService], own: Settings
) -> None:
    routers = _routers(running)
    code, dry = await asyncio.to_thread(_cli, own, "model", "dry-run")
    assert code == 0 and dry["status"] == "dry_run" and dry["written"] is False
    code, full = await asyncio.to_thread(_cli, own, "model", "dry-run", "--full")
    # From the priors, every rating (older than the CLI's own 10-second settle time).
    assert code == 0 and full["full"] is True and full["fitted_from"] is None
    code, listed = await asyncio.to_thread(_cli, own, "model", "list")
    assert code == 0
    newest = listed["versions"][0]["version"]
    code, applied = await asyncio.to_thread(_cli, own, "model", "apply")
    assert code == 0 and applied["status"] == "unchanged" and applied["version"] == newest
    code, restored = await asyncio.to_thread(_cli, own, "model", "restore", "2")
    assert code == 0 and restored == {
        "status": "restored",
        "version": newest + 1,
        "restored_from": 2,
    }
    await _wait_version(routers, newest + 1)  # the CLI publishes like the learner service
    code, status = await asyncio.to_thread(_cli, own, "status")
    assert code == 0 and status["model_version"] == newest + 1
    code, missing = await asyncio.to_thread(_cli, own, "model", "restore", "999")
    assert code == 1 and missing["status"] == "not_found"


async def test_preview_shows_each_candidates_estimate_and_the_knob(
    running: tuple[RunningSystem, RouterService],
) -> None:
    system, _ = running
    async with system.client() as client:
        response = await client.post(
            "/v1/route/preview",
            json={"prompt": PROMPT, "constraints": {"quality_target": 0.5}},
        )
        assert response.status_code == 200, response.text
        view = response.json()
        estimates = {e["model"]: e for e in view["estimates"]}
        assert set(view["candidates"]) == set(estimates)
        for estimate in estimates.values():
            assert 0 < estimate["predicted_quality"] < 1
            assert 0 <= estimate["uncertainty"] < 1
            assert estimate["estimated_cost_usd"] > 0
        assert view["quality_target"] == 0.5
        assert isinstance(view["explored"], bool)
        costs = [e["estimated_cost_usd"] for e in view["estimates"]]
        assert costs == sorted(costs), "cheapest first"
        # A looser target can only pick a cheaper (or the same) model.
        strict = (
            await client.post(
                "/v1/route/preview", json={"prompt": PROMPT, "constraints": {"quality_target": 1}}
            )
        ).json()
        loose_cost = estimates[view["model"]]["estimated_cost_usd"]
        strict_cost = {e["model"]: e for e in strict["estimates"]}[strict["model"]][
            "estimated_cost_usd"
        ]
        assert loose_cost <= strict_cost
        refused = await client.post(
            "/v1/route/preview", json={"prompt": PROMPT, "constraints": {"quality_target": "0.9"}}
        )
        assert refused.status_code == 422
        assert "quality_target" in refused.text


async def test_explored_requests_are_marked_on_the_reply_the_row_and_the_metrics(
    running: tuple[RunningSystem, RouterService], pool: asyncpg.Pool
) -> None:
    system, _ = running
    routers = _routers(running)
    # A learned version that knows nothing (the priors: wide uncertainty) and a budget that
    # allows every draw: Thompson sampling tries cheaper models now and then.
    for router in routers:
        engine = router.engine
        unsure = QualityModel.prior(engine.catalog)
        version = (engine.quality.version or 0) + 100
        assert engine.swap_quality(QualitySet(unsure.with_version(version), version))
        engine.budget = ExplorationBudget(share=1.0, saved_usd=1_000.0)
    explored_before = metrics.BANDIT_DECISIONS.labels("true")._value.get()
    try:
        async with system.client() as client:
            answers = [await _route(client, f"{PROMPT} Draw {i}.") for i in range(40)]
    finally:
        for router in routers:
            router.engine.budget = ExplorationBudget(share=0.0)
    explored = [a for a in answers if a["explored"]]
    assert 0 < len(explored) < len(answers)
    assert all(a["model"] != PREMIUM for a in explored), "never a dearer model than the choice"
    ids = [uuid.UUID(a["request_id"]) for a in explored]
    for _ in range(100):
        rows = await pool.fetch(
            "SELECT explored, model_version FROM routing_requests WHERE request_id = ANY($1)",
            ids,
        )
        if len(rows) == len(ids):
            break
        await asyncio.sleep(0.05)
    assert len(rows) == len(ids) and all(r["explored"] for r in rows)
    assert all(r["model_version"] is not None for r in rows)
    explored_after = metrics.BANDIT_DECISIONS.labels("true")._value.get()
    assert explored_after - explored_before == len(explored)


async def test_old_versions_keep_their_row_but_not_their_model(
    running: tuple[RunningSystem, RouterService], own: Settings
) -> None:
    system, _ = running
    learner = system.worker("learner")
    assert isinstance(learner, LearnerService)
    learner.quality.settings = own.model_copy(update={"learner_model_versions_kept": 1})
    try:
        async with system.client() as client:
            restored = await client.post("/admin/learning/model/restore", params={"version": 1})
            assert restored.status_code == 200, restored.text
            newest = restored.json()["version"]
            listed = (await client.get("/admin/learning/model/versions")).json()["versions"]
            assert [v["version"] for v in listed] == list(range(newest, 0, -1)), "rows stay"
            sizes = {v["version"]: v["model_bytes"] for v in listed}
            assert sizes[newest] > 0 and all(sizes[v] == 0 for v in range(1, newest))
            gone = await client.post("/admin/learning/model/restore", params={"version": 2})
            assert gone.status_code == 404
            assert "pruned" in gone.json()["error"]["message"]
    finally:
        learner.quality.settings = own


async def test_a_model_learned_on_every_catalog_model_reaches_every_router(
    running: tuple[RunningSystem, RouterService],
) -> None:
    """The largest model the catalog can have (every model learned: its precision blocks all
    filled), about 0.5 MB on the wire, through the learner's own publisher and the broker."""
    system, _ = running
    routers = _routers(running)
    learner = system.worker("learner")
    assert isinstance(learner, LearnerService)
    event = largest_event(
        load_catalog(), version=max(r.engine.quality.version or 0 for r in routers) + 1
    )
    assert len(event.model_dump_json()) > 400_000
    await learner.quality.publish(event)
    await _wait_version(routers, event.version)
