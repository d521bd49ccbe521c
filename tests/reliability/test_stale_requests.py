"""No request is executed after its caller gave up, across a router SIGKILL and a broker restart
(issue 16: 48 requests whose callers had gone were executed, and billed, after a restart).

Every upstream call reaches the fake vendor, which notes when it arrived and which request
(the prompt carries a tag) it was for. Each caller says it waits CALLER_WAIT_S
(X-Request-Timeout) and gives up when its answer (a 504 once that time has passed at the
ingress) or a connection error comes; a call that arrives at the vendor after that is a
violation. Run with -s to see the counts.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import aio_pika
import asyncpg
import httpx

from shared.messaging.topology import ROUTE_REQUESTS
from shared.settings import Settings
from tests.fakes.vendor_server import FakeVendorServer, Reply, running_vendor_server
from tests.reliability.conftest import Cluster, until
from tests.reliability.private_services import RabbitNode

CALLER_WAIT_S = 3.0
# A call the router started just before the deadline reaches the vendor a moment later.
SLACK_S = 0.1
TAG = re.compile(r"stale-(\d+)")


def _cluster(settings: Settings, tmp_path, fake: FakeVendorServer) -> Cluster:  # type: ignore[no-untyped-def]
    return Cluster(
        settings,
        tmp_path,
        GOOGLE_API_KEY="test-google-key",
        GEMINI_BASE_URL=fake.url,
        PROVIDER_TIMEOUT_S="10",
        REQUEST_DEADLINE_S="30",
        MAX_ATTEMPTS_PER_MODEL="1",
        EXPLORATION_RATE="0",
        ROUTER_PREFETCH="100",
    )


async def _call(client: httpx.AsyncClient, base: str, n: int) -> tuple[int, float]:
    """(HTTP status or 0, the time the caller got its answer or gave up)."""
    body = {"prompt": f"stale-{n}: say hi", "constraints": {"model": "gemini-2.5-flash"}}
    try:
        response = await client.post(
            f"{base}/v1/route",
            json=body,
            headers={"X-Request-Timeout": str(CALLER_WAIT_S)},
            timeout=CALLER_WAIT_S + 5,
        )
        status = response.status_code
    except httpx.HTTPError:
        status = 0
    return status, time.monotonic()


async def _serving(cluster: Cluster, fake: FakeVendorServer) -> None:
    """Wait until a router answers (health says the ingress is up, not that a router consumes
    yet), then script the vendor: every answer takes 1.5 s, so routers hold many requests."""
    async with httpx.AsyncClient(timeout=5) as client:

        async def answered() -> bool:
            body = {"prompt": "probe: say hi", "constraints": {"model": "gemini-2.5-flash"}}
            try:
                response = await client.post(f"{cluster.base}/v1/route", json=body)
            except httpx.HTTPError:
                return False
            return response.status_code == 200

        assert await until(answered, 90, interval=0.5), "no router answered"
    fake.reset()
    fake.enqueue("google", *[Reply(delay_s=1.5) for _ in range(400)])


async def _refused(settings: Settings) -> int:
    """Requests dropped without a provider call: dead-lettered by the broker when their AMQP
    expiration passed in the queue, or recorded `expired` / `cancelled` by a router."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetchval(
            "SELECT count(*) FROM routing_requests WHERE status IN ('expired', 'cancelled')"
        )
    finally:
        await conn.close()
    broker = await aio_pika.connect(settings.rabbitmq_url)
    try:
        channel = await broker.channel()
        dead = await channel.declare_queue(f"{settings.name(ROUTE_REQUESTS)}.dead", passive=True)
        expired = dead.declaration_result.message_count
    finally:
        await broker.close()
    return int(rows) + int(expired or 0)


def _late_calls(fake: FakeVendorServer, gave_up: dict[int, float]) -> list[tuple[int, float]]:
    """(request, seconds after its caller gave up) of each upstream call made too late."""
    late = []
    for received in fake.requests_to("google"):
        match = TAG.search(json.dumps(received.body))
        if match is None:
            continue
        n = int(match.group(1))
        if received.at > gave_up[n] + SLACK_S:
            late.append((n, received.at - gave_up[n]))
    return late


async def test_after_a_router_sigkill_no_request_is_executed_after_its_caller_gave_up(
    cluster_settings: Settings, tmp_path
) -> None:
    with running_vendor_server() as fake:
        cluster = _cluster(cluster_settings, tmp_path, fake)
        try:
            cluster.start("workers", ["ledger", "learner"])
            victim = cluster.start("router-a", ["router"])
            cluster.start("ingress", ["ingress"])
            cluster.wait_ready()
            await _serving(cluster, fake)
            total = 60
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=total)) as client:
                calls = [asyncio.create_task(_call(client, cluster.base, n)) for n in range(total)]
                # SIGKILL once it holds calls in flight: its unacknowledged requests (and those
                # it has not started) go back to the queue.
                assert await until(lambda: len(fake.received) >= 10, 10), "no load reached it"
                victim.kill()
                results = await asyncio.gather(*calls)
            # The callers are gone; a new router picks up what the dead one held.
            cluster.start("router-b", ["router"])
            await asyncio.sleep(CALLER_WAIT_S + 4)
            gave_up = {n: at for n, (_, at) in enumerate(results)}
            late = _late_calls(fake, gave_up)
            upstream = len(fake.requests_to("google"))
            statuses = sorted({status for status, _ in results})
            refused = await until(lambda: _refused(cluster_settings), 30)
            print(
                f"\n{total} callers (wait {CALLER_WAIT_S} s), statuses {statuses}; router A "
                f"killed with calls in flight; {upstream} upstream calls, "
                f"{len(late)} after the caller gave up; dropped unexecuted: {refused}"
            )
            assert refused, "what router A held was neither expired nor refused"
            assert upstream >= 1, "the test did not load the router"
            assert late == [], f"executed after the caller gave up: {late[:5]}"
        finally:
            cluster.stop()


async def test_after_a_broker_restart_no_request_is_executed_after_its_caller_gave_up(
    cluster_settings: Settings, private_broker: RabbitNode, tmp_path
) -> None:
    with running_vendor_server() as fake:
        cluster = _cluster(cluster_settings, tmp_path, fake)
        try:
            cluster.start("workers", ["router", "ledger", "learner"])
            cluster.start("ingress", ["ingress"])
            cluster.wait_ready()
            await _serving(cluster, fake)
            total = 60
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=total)) as client:
                calls = [asyncio.create_task(_call(client, cluster.base, n)) for n in range(total)]
                assert await until(lambda: len(fake.received) >= 10, 10), "no load reached it"
                await asyncio.to_thread(private_broker.stop_app)
                results = await asyncio.gather(*calls)
                await asyncio.sleep(2)
                await asyncio.to_thread(private_broker.start_app)
            healthy = await until(
                lambda: httpx.get(f"{cluster.base}/health").json()["status"] == "healthy", 60
            )
            await asyncio.sleep(3)  # time for anything redelivered to be (not) executed
            gave_up = {n: at for n, (_, at) in enumerate(results)}
            late = _late_calls(fake, gave_up)
            upstream = len(fake.requests_to("google"))
            statuses = sorted({status for status, _ in results})
            print(
                f"\n{total} callers (wait {CALLER_WAIT_S} s), statuses {statuses}; broker "
                f"stopped with calls in flight, started after the callers left; "
                f"{upstream} upstream calls, {len(late)} after the caller gave up"
            )
            assert healthy, "services did not reconnect on their own"
            assert upstream >= 1, "the test did not load the router"
            assert late == [], f"executed after the caller gave up: {late[:5]}"
        finally:
            await asyncio.to_thread(private_broker.start_app)
            cluster.stop()
