"""A three-node RabbitMQ cluster of the suite's own, losing the node that leads each queue.

Every service is given all three addresses (RABBITMQ_URL with three hosts). Under load the node
leading `route.requests` is stopped (the Erlang VM, as a crash would), brought back, then the
node leading `feedback.completions`: clients reconnect to the surviving nodes, every answered
request has its row, every accepted rating is stored, no request is answered twice. Run with -s
for the numbers. Slow: the cluster alone takes one to two minutes to form.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.messaging.topology import FEEDBACK_COMPLETIONS, ROUTE_REQUESTS
from shared.settings import Settings
from tests.conftest import isolated_settings
from tests.e2e.processes import wait_http
from tests.reliability.conftest import Cluster, until
from tests.reliability.private_services import (
    RABBITMQ_SCRIPTS,
    PostgresCluster,
    RabbitCluster,
    private_dir,
)
from tests.reliability.test_damage import _count, _feedback_count, _route

CALLERS = 6


@pytest.fixture(scope="module")
def rabbit_cluster() -> Iterator[RabbitCluster]:
    if not (RABBITMQ_SCRIPTS / "rabbitmq-server").exists() or shutil.which("epmd") is None:
        pytest.skip("RabbitMQ is not installed here: the cluster test starts private nodes")
    cluster = RabbitCluster(private_dir("optimizer-mqc-"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        cluster.keep_logs(Path(tempfile.gettempdir()) / "optimizer-cluster-logs")
        shutil.rmtree(cluster.root, ignore_errors=True)


@dataclass
class Load:
    """Callers that route and rate until told to stop, and what they saw."""

    base: str
    outcomes: list[tuple[float, int, float]] = field(default_factory=list)  # (at, status, took)
    answered: list[str] = field(default_factory=list)
    rated: list[str] = field(default_factory=list)
    running: bool = True

    async def caller(self, client: httpx.AsyncClient, n: int) -> None:
        i = 0
        while self.running:
            status, body, took = await _route(client, self.base, f"cluster {n}-{i}")
            self.outcomes.append((time.monotonic(), status, took))
            i += 1
            if status != 200:
                await asyncio.sleep(0.2)
                continue
            self.answered.append(body["request_id"])
            try:
                rating = await client.post(
                    f"{self.base}/production/feedback",
                    json={"request_id": body["request_id"], "quality_score": 1 + i % 5},
                )
            except httpx.HTTPError:
                continue
            if rating.status_code == 200:
                self.rated.append(body["request_id"])

    def first_answer_after(self, moment: float) -> float | None:
        """Seconds from `moment` to the first request sent after it and answered."""
        done = [at for at, status, took in self.outcomes if status == 200 and at - took >= moment]
        return min(done) - moment if done else None


async def _lose_leader(
    rabbit: RabbitCluster, queue: str, load: Load, report: list[str]
) -> dict[str, Any]:
    """Stop the node leading `queue`, wait for answers from the others, bring it back."""
    everyone = sorted(n.node for n in rabbit.nodes)
    replicated = await until(lambda: rabbit.online(queue) == everyone, 60, 1)
    assert replicated, f"{queue}: replicas online {rabbit.online(queue)}, not all three"
    victim = rabbit.leader(queue)
    stopped_at = time.monotonic()
    await asyncio.to_thread(victim.stop)
    await asyncio.sleep(1)
    report.append(f"{queue} after the stop: online {rabbit.online(queue)}")
    await until(lambda: load.first_answer_after(stopped_at + 0.5), 60, 0.5)
    new_leader = rabbit.leader(queue)
    gap = load.first_answer_after(stopped_at)
    await asyncio.sleep(3)  # keep the load on the two survivors a little longer
    await asyncio.to_thread(victim.start)
    report.append(
        f"{queue}: stopped leader {victim.name}; new leader {new_leader.name}; first answer "
        f"to a request sent after the stop: {'none' if gap is None else f'{gap:.1f} s'}"
    )
    return {"stopped": victim.node, "new_leader": new_leader.node, "gap": gap}


def _answers_per_request(cluster: Cluster) -> Counter[str]:
    """How many times the routers answered each request (their JSON log lines)."""
    counts: Counter[str] = Counter()
    for name, process in cluster.processes.items():
        if not name.startswith("router"):
            continue
        for line in process.logs().splitlines():
            if '"request answered"' in line:
                counts[json.loads(line)["request_id"]] += 1
    return counts


async def test_cluster_loses_each_queue_leader_under_load_nothing_lost_none_answered_twice(
    rabbit_cluster: RabbitCluster, private_postgres: PostgresCluster, tmp_path
) -> None:
    urls = (private_postgres.url, rabbit_cluster.url())
    async with isolated_settings(urls, "clu" + uuid.uuid4().hex[:6]) as settings:
        await _run(rabbit_cluster, settings, tmp_path)


async def _run(rabbit: RabbitCluster, settings: Settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert settings.rabbitmq_url.count(",") == 2, "every service is given all three nodes"
    cluster = Cluster(settings, tmp_path, SIMULATED_LATENCY_MS="20", REQUEST_TIMEOUT_S="15")
    report: list[str] = []
    load = Load(cluster.base)
    try:
        cluster.start("router-a", ["router"])
        cluster.start("router-b", ["router"])
        cluster.start("workers", ["ledger", "learner"])
        cluster.start("ingress", ["ingress"])
        wait_http(f"{cluster.base}/health", timeout=120)  # four processes and three nodes
        cluster.wait_ready()
        requests_queue = settings.name(ROUTE_REQUESTS)
        completions_queue = settings.name(FEEDBACK_COMPLETIONS)
        all_nodes = sorted(n.node for n in rabbit.nodes)
        assert rabbit.members(requests_queue) == all_nodes, "replicated on every node"
        assert rabbit.members(completions_queue) == all_nodes

        async with httpx.AsyncClient(timeout=30) as client:
            callers = [asyncio.create_task(load.caller(client, n)) for n in range(CALLERS)]
            await asyncio.sleep(3)
            first = await _lose_leader(rabbit, requests_queue, load, report)
            await asyncio.sleep(3)
            second = await _lose_leader(rabbit, completions_queue, load, report)
            await asyncio.sleep(3)
            load.running = False
            await asyncio.gather(*callers)
            healthy = await until(
                lambda: httpx.get(f"{cluster.base}/health").json()["status"] == "healthy", 60
            )
            after = [await _route(client, cluster.base, f"after {i}") for i in range(10)]

        stored = await until(lambda: _count(settings, load.answered, len(load.answered)), 60)
        ratings = await until(lambda: _feedback_count(settings, load.rated, len(load.rated)), 60)
        answers = _answers_per_request(cluster)
        twice = sorted(r for r, n in answers.items() if n > 1)
        codes = Counter(status for _, status, _ in load.outcomes)
        print(
            "\n" + "\n".join(report) + f"\nduring load ({CALLERS} callers): {dict(codes)} "
            f"(0 = connection error); slowest {max(t for _, _, t in load.outcomes):.1f} s; "
            f"{len(load.answered)} answered -> {stored} rows; {len(load.rated)} ratings "
            f"accepted -> {ratings} stored; routers answered {len(answers)} requests, "
            f"{len(twice)} of them twice; after: {[s for s, _, _ in after]}"
        )
        for lost in (first, second):
            assert lost["stopped"] != lost["new_leader"]
            assert lost["gap"] is not None and lost["gap"] < 30, "answered again while it is down"
        assert healthy, "services did not reconnect to the surviving nodes"
        assert [s for s, _, _ in after] == [200] * 10
        assert len(set(load.answered)) == len(load.answered), "one HTTP answer per request"
        assert stored == len(load.answered), "every answered request is recorded"
        assert ratings == len(load.rated), "every accepted rating is stored"
        assert not twice, f"requests answered twice by the routers: {twice[:5]}"
        assert set(codes) <= {200, 502, 503, 504}, "errors during a failover are clear ones"
    finally:
        load.running = False
        for node in rabbit.nodes:
            if node not in rabbit.running():
                await asyncio.to_thread(node.start)
        cluster.stop()
