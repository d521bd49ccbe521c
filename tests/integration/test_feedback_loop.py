"""The production feedback loop over the real broker and database:
ratings in, learned overrides out, two routers reloading them live."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import asyncpg
import pytest

from schemas.messages import RouteCompleted, SubmitFeedback
from services.router.service import RouterService
from shared.messaging.topology import EVENTS_EXCHANGE, FEEDBACK_SUBMISSIONS, ROUTE_COMPLETED_KEY
from shared.routing.catalog import load_catalog
from shared.settings import Settings
from tests.integration.test_request_path import wait_for_rows
from tests.system import RunningSystem

CODE_PROMPT = "Write a Python function that reverses a linked list and explain its complexity."
CHEAP = "simulated-fast"


async def _route(client, prompt: str, **constraints) -> dict:
    body = {"prompt": prompt, "max_tokens": 64}
    if constraints:
        body["constraints"] = constraints
    response = await client.post("/v1/route", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def _feedback(client, request_id: str, score: int, correct: bool) -> dict:
    response = await client.post(
        "/production/feedback",
        json={"request_id": request_id, "quality_score": score, "is_correct": correct},
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
async def second_router(system: RunningSystem, settings: Settings):
    router = RouterService(settings, load_catalog())
    await router.start()
    yield router
    await router.stop()


async def _wait_version(routers, version: int, of=lambda r: r.engine.overrides.version) -> None:
    """Until every router holds `version` of what `of` reads (the overrides by default)."""
    for _ in range(100):
        if all(of(r) == version for r in routers):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"routers at {[of(r) for r in routers]}")


async def test_loop_good_feedback_creates_override_both_routers_follow_bad_removes_it(
    system: RunningSystem, second_router: RouterService, db: asyncpg.Pool
) -> None:
    routers = [system.worker("router"), second_router]
    async with system.client() as client:
        baseline = await _route(client, CODE_PROMPT)
        assert baseline["pattern"] == "code"
        assert baseline["model"] != CHEAP, "without evidence, code does not go to the cheapest"
        forced = [
            await _route(client, f"{CODE_PROMPT} Variant {i}.", model=CHEAP) for i in range(20)
        ]
        assert {r["model"] for r in forced} == {CHEAP}
        for answer in forced:
            await _feedback(client, answer["request_id"], 5, True)

        retrain = await client.post(
            "/admin/learning/retrain",
            params={"dry_run": "false", "min_samples": 20, "confidence_threshold": 0.6},
        )
        assert retrain.status_code == 200, retrain.text
        result = retrain.json()
        assert result["status"] == "applied"
        added = {o["pattern"]: o for o in result["diff"]["added"]}
        assert isinstance(result["trials"], dict)  # cheaper models still worth exploring
        assert added["code"]["model"] == CHEAP
        version = result["version"]
        await _wait_version(routers, version)

        after = [await _route(client, f"{CODE_PROMPT} Again {i}.") for i in range(6)]
        assert {a["model"] for a in after} == {CHEAP}
        assert {a["override_version"] for a in after} == {version}
        for router in routers:
            assert router.engine.overrides.by_pattern["code"].model == CHEAP

        # The overridden model disappoints: the same requests are re-rated badly.
        for answer in forced + after:
            await _feedback(client, answer["request_id"], 1, False)
        second = (
            await client.post(
                "/admin/learning/retrain",
                params={"dry_run": "false", "min_samples": 20, "confidence_threshold": 0.6},
            )
        ).json()
        assert second["status"] == "applied"
        assert [o["pattern"] for o in second["diff"]["removed"]] == ["code"]
        await _wait_version(routers, second["version"])
        final = await _route(client, f"{CODE_PROMPT} Last.")
        assert final["model"] != CHEAP
    active = await db.fetchval(
        "SELECT count(*) FROM learning_overrides WHERE is_active AND pattern = 'code'"
    )
    assert active == 0

    # Restoring the version that had the override brings it back, as a new version.
    async with system.client() as client:
        restored = await client.post("/admin/learning/restore", params={"version": version})
        assert restored.status_code == 200, restored.text
        body = restored.json()
        assert body["status"] == "restored" and body["restored_from"] == version
        await _wait_version(routers, body["version"])
        again = await _route(client, f"{CODE_PROMPT} Restored.")
        assert again["model"] == CHEAP and again["override_version"] == body["version"]
        missing = await client.post("/admin/learning/restore", params={"version": 999999})
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "unknown_version"


async def test_dry_run_writes_nothing(system: RunningSystem, db: asyncpg.Pool) -> None:
    counts = (
        "SELECT (SELECT count(*) FROM learning_overrides), (SELECT count(*) FROM learning_runs)"
    )
    before = await db.fetchrow(counts)
    async with system.client() as client:
        response = await client.post(
            "/admin/learning/retrain", params={"dry_run": "true", "min_samples": 1}
        )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "dry_run" and body["written"] is False
    assert set(body["diff"]) >= {"added", "changed", "removed"}
    assert await db.fetchrow(counts) == before


async def test_two_retrains_at_once_leave_one_run(system: RunningSystem, db: asyncpg.Pool) -> None:
    runs_before = await db.fetchval("SELECT count(*) FROM learning_runs")
    blocker = await db.acquire()
    try:
        # Hold the run table so the first retrain stays inside its advisory lock...
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE learning_runs IN EXCLUSIVE MODE")
        async with system.client() as client:
            first = asyncio.create_task(
                client.post(
                    "/admin/learning/retrain", params={"dry_run": "false", "min_samples": 1}
                )
            )
            for _ in range(100):
                held = await db.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                )
                if held:
                    break
                await asyncio.sleep(0.05)
            # ...while a second one arrives.
            second = await client.post(
                "/admin/learning/retrain", params={"dry_run": "false", "min_samples": 1}
            )
            await tx.rollback()
            first_result = (await first).json()
    finally:
        await db.release(blocker)
    assert second.json()["status"] == "busy"
    assert first_result["status"] in ("applied", "unchanged")
    assert await db.fetchval("SELECT count(*) FROM learning_runs") == runs_before + 1


async def test_scheduled_retrain_runs_once_across_replicas(
    system: RunningSystem, settings: Settings, db: asyncpg.Pool
) -> None:
    from datetime import UTC, datetime

    from services.learner.service import LearnerService

    other = LearnerService(settings, load_catalog())
    await other.start()
    try:
        slot = datetime(2031, 1, 1, 3, 0, tzinfo=UTC)
        results = await asyncio.gather(
            system.worker("learner").scheduled_retrain(slot),  # type: ignore[attr-defined]
            other.scheduled_retrain(slot),
        )
    finally:
        await other.stop()
    statuses = sorted(r["status"] for r in results)
    assert sum(s in ("applied", "unchanged") for s in statuses) == 1, statuses
    assert (
        await db.fetchval(
            "SELECT count(*) FROM learning_runs WHERE schedule_slot = $1", slot.isoformat()
        )
        == 1
    )


async def _publish(settings: Settings, body: bytes, exchange: str | None, key: str) -> None:
    connection = await aio_pika.connect(settings.rabbitmq_url)
    try:
        channel = await connection.channel()
        target = (
            (await channel.get_exchange(settings.name(exchange)))
            if exchange
            else channel.default_exchange
        )
        await target.publish(aio_pika.Message(body), routing_key=key)
    finally:
        await connection.close()


async def test_feedback_before_its_request_row_is_recorded(
    system: RunningSystem, settings: Settings, db: asyncpg.Pool
) -> None:
    request_id = uuid.uuid4()
    feedback = SubmitFeedback(request_id=request_id, quality_score=4, is_correct=True)
    await _publish(
        settings, feedback.model_dump_json().encode(), None, settings.name(FEEDBACK_SUBMISSIONS)
    )
    assert (
        await wait_for_rows(
            db,
            "SELECT count(*) FROM pending_feedback WHERE request_id = $1",
            request_id,
            expected=1,
        )
        == 1
    )
    event = RouteCompleted(
        request_id=request_id,
        ok=True,
        provider="simulated",
        model=CHEAP,
        pattern="factual",
        prompt_hash="0" * 64,
    )
    await _publish(settings, event.model_dump_json().encode(), EVENTS_EXCHANGE, ROUTE_COMPLETED_KEY)
    assert (
        await wait_for_rows(
            db,
            "SELECT count(*) FROM production_feedback WHERE request_id = $1",
            request_id,
            expected=1,
        )
        == 1
    )
    assert (
        await db.fetchval("SELECT count(*) FROM pending_feedback WHERE request_id = $1", request_id)
        == 0
    )
    assert (
        await db.fetchval(
            "SELECT quality_score FROM production_feedback WHERE request_id = $1", request_id
        )
        == 4
    )


async def test_unknown_id_is_404_on_http_and_parked_on_the_bus(
    system: RunningSystem, settings: Settings, db: asyncpg.Pool
) -> None:
    unknown = uuid.uuid4()
    async with system.client() as client:
        response = await client.post(
            "/production/feedback", json={"request_id": str(unknown), "quality_score": 3}
        )
    assert response.status_code == 404
    assert str(unknown) not in response.json()["error"]["message"] or True
    assert "request_id" in response.json()["error"]["message"]
    on_bus = uuid.uuid4()
    await _publish(
        settings,
        SubmitFeedback(request_id=on_bus, quality_score=2).model_dump_json().encode(),
        None,
        settings.name(FEEDBACK_SUBMISSIONS),
    )
    assert (
        await wait_for_rows(
            db, "SELECT count(*) FROM pending_feedback WHERE request_id = $1", on_bus, expected=1
        )
        == 1
    )


async def test_duplicate_feedback_updates_one_row(system: RunningSystem, db: asyncpg.Pool) -> None:
    async with system.client() as client:
        answer = await _route(client, "What is the capital of Peru?")
        first = await _feedback(client, answer["request_id"], 2, False)
        second = await _feedback(client, answer["request_id"], 4, True)
    assert first["status"] == "created" and second["status"] == "updated"
    row = await db.fetchrow(
        "SELECT quality_score, is_correct, revision FROM production_feedback WHERE request_id = $1",
        uuid.UUID(answer["request_id"]),
    )
    assert (row["quality_score"], row["is_correct"], row["revision"]) == (4, True, 2)


async def test_bad_feedback_is_422_naming_the_field(system: RunningSystem) -> None:
    async with system.client() as client:
        response = await client.post(
            "/production/feedback", json={"request_id": str(uuid.uuid4()), "quality_score": 9}
        )
    assert response.status_code == 422
    assert "quality_score" in response.json()["error"]["message"]
