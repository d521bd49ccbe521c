"""Real damage to real processes, broker and database; each test's name says what must hold,
and its numbers are printed (run with -s to see them)."""

from __future__ import annotations

import asyncio
import time
import uuid

import aio_pika
import asyncpg
import httpx

from schemas.messages import SubmitFeedback
from shared.messaging.topology import FEEDBACK_SUBMISSIONS, WORK_QUEUES
from shared.settings import Settings
from tests.reliability.conftest import Cluster, until
from tests.reliability.private_services import PostgresCluster, RabbitNode


async def _route(client: httpx.AsyncClient, base: str, prompt: str) -> tuple[int, dict, float]:
    started = time.monotonic()
    try:
        response = await client.post(f"{base}/v1/route", json={"prompt": prompt})
    except httpx.HTTPError as exc:
        return 0, {"error": type(exc).__name__}, time.monotonic() - started
    return response.status_code, response.json(), time.monotonic() - started


async def _rows(settings: Settings, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


async def test_router_sigkill_mid_load_every_request_answered_none_recorded_twice(
    cluster_settings: Settings, tmp_path
) -> None:
    cluster = Cluster(cluster_settings, tmp_path, SIMULATED_LATENCY_MS="600", ROUTER_PREFETCH="100")
    try:
        cluster.start("workers", ["ledger", "learner"])
        victim = cluster.start("router-a", ["router"])
        cluster.start("router-b", ["router"])
        cluster.start("ingress", ["ingress"])
        cluster.wait_ready()
        total = 60
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=total)) as c:
            calls = [
                asyncio.create_task(_route(c, cluster.base, f"kill test {i}")) for i in range(total)
            ]
            await asyncio.sleep(0.3)
            victim.kill()  # SIGKILL while it holds roughly half of the requests
            results = await asyncio.gather(*calls)
        ids = [body["request_id"] for status, body, _ in results if status == 200]
        stored = await until(lambda: _count(cluster_settings, ids, total), 30)
        killed_answered = cluster.processes["router-a"].logs().count("request answered")
        survivor_answered = cluster.processes["router-b"].logs().count("request answered")
        slowest = max(duration for _, _, duration in results)
        print(
            f"\n{total} requests; router A killed after 0.3 s having answered {killed_answered}; "
            f"router B answered {survivor_answered}; {len(ids)} HTTP 200; {stored} rows; "
            f"slowest answer {slowest:.2f} s"
        )
        assert len(ids) == total and len(set(ids)) == total
        assert stored == total
        assert await _rows(cluster_settings, "SELECT count(*) FROM routing_requests") == total
    finally:
        cluster.stop()


async def _count(settings: Settings, ids: list[str], expected: int) -> int | None:
    count = await _rows(
        settings,
        "SELECT count(*) FROM routing_requests WHERE request_id = ANY($1::uuid[])",
        [uuid.UUID(i) for i in ids],
    )
    return count if count >= expected else None


async def test_rabbitmq_restart_mid_load_services_reconnect_nothing_hangs_nothing_lost(
    cluster_settings: Settings, private_broker: RabbitNode, tmp_path
) -> None:
    cluster = Cluster(cluster_settings, tmp_path, SIMULATED_LATENCY_MS="20", REQUEST_TIMEOUT_S="15")
    outcomes: list[tuple[int, float]] = []
    answered: list[str] = []
    feedback_ok: list[str] = []
    try:
        cluster.start("workers", ["router", "ledger", "learner"])
        cluster.start("ingress", ["ingress"])
        cluster.wait_ready()
        stop_at = time.monotonic() + 14

        async def caller(client: httpx.AsyncClient, n: int) -> None:
            i = 0
            while time.monotonic() < stop_at:
                status, body, took = await _route(client, cluster.base, f"restart {n}-{i}")
                outcomes.append((status, took))
                i += 1
                if status == 200:
                    answered.append(body["request_id"])
                    try:
                        fb = await client.post(
                            f"{cluster.base}/production/feedback",
                            json={"request_id": body["request_id"], "quality_score": 4},
                        )
                        if fb.status_code == 200:
                            feedback_ok.append(body["request_id"])
                    except httpx.HTTPError:
                        pass
                else:
                    await asyncio.sleep(0.2)

        async with httpx.AsyncClient(timeout=30) as client:
            load = [asyncio.create_task(caller(client, n)) for n in range(4)]
            await asyncio.sleep(3)
            await asyncio.to_thread(private_broker.stop_app)
            await asyncio.sleep(4)
            await asyncio.to_thread(private_broker.start_app)
            await asyncio.gather(*load)
            healthy = await until(
                lambda: httpx.get(f"{cluster.base}/health").json()["status"] == "healthy", 60
            )
            after = [await _route(client, cluster.base, f"after restart {i}") for i in range(10)]
        stored = await until(lambda: _count(cluster_settings, answered, len(answered)), 60)
        fb_stored = await until(
            lambda: _feedback_count(cluster_settings, feedback_ok, len(feedback_ok)), 30
        )
        codes: dict[int, int] = {}
        for status, _ in outcomes:
            codes[status] = codes.get(status, 0) + 1
        slowest = max(took for _, took in outcomes)
        print(
            f"\nduring load: {codes} (0 = connection error); slowest {slowest:.1f} s; "
            f"{len(answered)} answered -> {stored} rows; {len(feedback_ok)} feedback accepted "
            f"-> {fb_stored} stored; after restart 10 requests: {[s for s, _, _ in after]}"
        )
        assert healthy, "services did not reconnect on their own"
        assert [s for s, _, _ in after] == [200] * 10
        assert set(codes) <= {200, 502, 503, 504}, "errors during the outage are clear ones"
        assert slowest < 20, "no caller waits past the request timeout"
        assert stored == len(answered), "every answered request is recorded"
        assert fb_stored == len(feedback_ok), "every accepted feedback is stored"
    finally:
        await asyncio.to_thread(private_broker.start_app)
        cluster.stop()


async def _publish(settings: Settings, body: bytes, routing_key: str) -> None:
    connection = await aio_pika.connect(settings.rabbitmq_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.default_exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=routing_key,
        )
    finally:
        await connection.close()


async def test_postgres_stopped_events_and_feedback_wait_then_all_stored_ingress_answers(
    cluster_settings: Settings, private_postgres: PostgresCluster, tmp_path
) -> None:
    cluster = Cluster(cluster_settings, tmp_path, SIMULATED_LATENCY_MS="10")
    try:
        cluster.start("workers", ["router", "ledger", "learner"])
        cluster.start("ingress", ["ingress"])
        cluster.wait_ready()
        await asyncio.to_thread(private_postgres.stop)
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                results = [await _route(client, cluster.base, f"pg down {i}") for i in range(20)]
            ids = [b["request_id"] for s, b, _ in results if s == 200]
            for request_id in ids:
                feedback = SubmitFeedback(request_id=uuid.UUID(request_id), quality_score=5)
                await _publish(
                    cluster_settings,
                    feedback.model_dump_json().encode(),
                    cluster_settings.name(FEEDBACK_SUBMISSIONS),
                )
            health = await until(
                lambda: (
                    httpx.get(f"{cluster.base}/health").json()["database"]["status"]
                    == "unreachable"
                ),
                20,
            )
            await asyncio.sleep(2)
        finally:
            await asyncio.to_thread(private_postgres.start)
        stored = await until(lambda: _count(cluster_settings, ids, 20), 60)
        fb = await until(lambda: _feedback_count(cluster_settings, ids, 20), 60)
        print(
            f"\nwith PostgreSQL stopped: {len(ids)}/20 routes answered, health saw the database "
            f"unreachable: {bool(health)}; after restart {stored} rows and {fb} feedback rows"
        )
        assert len(ids) == 20
        assert health
        assert stored == 20
        assert fb == 20
    finally:
        if not private_postgres.running():
            await asyncio.to_thread(private_postgres.start)
        cluster.stop()


async def _feedback_count(settings: Settings, ids: list[str], expected: int) -> int | None:
    """The stored feedback count once it reaches `expected` (a partial count keeps waiting)."""
    count = await _rows(
        settings,
        "SELECT count(*) FROM production_feedback WHERE request_id = ANY($1)",
        [uuid.UUID(i) for i in ids],
    )
    return count if count >= expected else None


def _metric(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


async def test_poison_on_every_queue_is_dead_lettered_counted_and_consumers_keep_going(
    cluster_settings: Settings, tmp_path
) -> None:
    from tests.conftest import free_port

    probe = free_port()
    cluster = Cluster(cluster_settings, tmp_path, PROBE_PORT=str(probe))
    try:
        cluster.start("workers", ["router", "ledger", "learner"])
        cluster.start("ingress", ["ingress"])
        cluster.wait_ready()
        poisons = [
            b"{not json",
            b'{"schema_version": 1, "what": "wrong shape"}',
            b"[" + b"9," * 2_500_000 + b"9]",
        ]  # about 5 MB
        for base in WORK_QUEUES:
            for body in poisons:
                await _publish(cluster_settings, body, cluster_settings.name(base))

        async def dead_counts() -> dict[str, int]:
            connection = await aio_pika.connect(cluster_settings.rabbitmq_url)
            try:
                channel = await connection.channel()
                counts = {}
                for base in WORK_QUEUES:
                    queue = await channel.declare_queue(
                        f"{cluster_settings.name(base)}.dead", passive=True
                    )
                    counts[base] = queue.declaration_result.message_count or 0
                return counts
            finally:
                await connection.close()

        counts = await until(lambda: _all_three(dead_counts()), 30)
        metrics = httpx.get(f"http://127.0.0.1:{probe}/metrics").text
        counted = _metric(metrics, "optimizer_poison_messages_total")
        async with httpx.AsyncClient(timeout=30) as client:
            status, body, _ = await _route(client, cluster.base, "still serving?")
            fb = await client.post(
                f"{cluster.base}/production/feedback",
                json={"request_id": body.get("request_id"), "quality_score": 5},
            )
            summary = await client.get(f"{cluster.base}/admin/feedback/summary")
            learning = await client.get(f"{cluster.base}/admin/learning/status")
        print(
            f"\ndead-lettered per queue: {counts}; poison counted in metrics: {counted:.0f}; "
            f"afterwards route {status}, feedback {fb.status_code}, summary "
            f"{summary.status_code}, learner {learning.status_code}"
        )
        assert counts and all(v == 3 for v in counts.values()), counts
        assert counted == 3 * len(WORK_QUEUES)
        assert (status, fb.status_code, summary.status_code, learning.status_code) == (
            200,
            200,
            200,
            200,
        )
    finally:
        cluster.stop()


async def _all_three(counts_coro):  # type: ignore[no-untyped-def]
    counts = await counts_coro
    return counts if all(v >= 3 for v in counts.values()) else None


async def test_hanging_provider_falls_over_within_deadline_other_requests_not_held_up(
    cluster_settings: Settings, tmp_path
) -> None:
    from tests.fakes.vendor_server import running_vendor_server

    with running_vendor_server() as fake:
        cluster = Cluster(
            cluster_settings,
            tmp_path,
            GOOGLE_API_KEY="test-google-key",
            GEMINI_BASE_URL=fake.url,
            OPENROUTER_API_KEY="test-openrouter-key",
            OPENROUTER_BASE_URL=f"{fake.url}/api/v1",
            PROVIDER_TIMEOUT_S="1.5",
            REQUEST_DEADLINE_S="5",
            MAX_ATTEMPTS_PER_MODEL="1",
            EXPLORATION_RATE="0",
        )
        try:
            cluster.start("workers", ["router", "ledger", "learner"])
            cluster.start("ingress", ["ingress"])
            cluster.wait_ready()
            fake.hang("openrouter", 30, times=1)
            async with httpx.AsyncClient(timeout=30) as client:
                stuck = asyncio.create_task(_route(client, cluster.base, "Say hello."))
                await asyncio.sleep(0.2)
                others = await asyncio.gather(
                    *(_route(client, cluster.base, f"Say hello {i}.") for i in range(20))
                )
                status, body, took = await stuck
            other_times = sorted(t for _, _, t in others)
            print(
                f"\nhanging call: {status} via {body.get('provider')}/{body.get('model')} after "
                f"{took:.2f} s, path {body.get('fallback_path')}; 20 concurrent others: "
                f"median {other_times[10] * 1000:.0f} ms, max {other_times[-1] * 1000:.0f} ms"
            )
            assert status == 200
            assert body["fallback_path"][0]["reason"] == "timeout"
            assert body["provider"] == "google"
            assert 1.4 < took < 5.5
            assert all(s == 200 for s, _, _ in others)
            assert other_times[-1] < 1.4, "the hang did not hold up the worker's other requests"
        finally:
            cluster.stop()
