"""Two router processes switch quality model versions together: on a fit, on a restore, and a
router that starts later loads the version in force. Real processes (`optimizer serve router`),
each read through its own /metrics (`optimizer_quality_model_version`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from services.learner import quality
from shared.settings import Settings
from tests.conftest import free_port, isolated_settings
from tests.e2e.processes import ServiceProcess, service_env, start, wait_http
from tests.system import RunningSystem, start_system

PROMPT = "Write a Python function that reverses a linked list and explain its complexity."
FAST = "simulated-fast"
SETTLE_S = 0.3


@dataclass
class Routers:
    settings: Settings
    logs: Path
    processes: dict[int, ServiceProcess]  # probe port -> process

    def add(self) -> int:
        port = free_port()
        env = service_env(self.settings, PROBE_PORT=str(port))
        self.processes[port] = start(["router"], env, self.logs / f"router-{port}.log")
        wait_http(f"http://127.0.0.1:{port}/readyz")
        return port

    def stop(self, port: int) -> None:
        assert self.processes.pop(port).terminate() == 0

    def versions(self) -> dict[int, float]:
        return {port: _model_version(port) for port in self.processes}


def _model_version(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    line = next(x for x in text.splitlines() if x.startswith("optimizer_quality_model_version "))
    return float(line.split()[1])


async def _all_at(routers: Routers, version: int, timeout: float = 10) -> float:
    """Seconds until every router process reports `version`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if set((await asyncio.to_thread(routers.versions)).values()) == {version}:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"router processes at {routers.versions()}, wanted {version}")


@pytest.fixture(scope="module")
async def own(service_urls: tuple[str, str]) -> AsyncIterator[Settings]:
    async with isolated_settings(service_urls, uuid.uuid4().hex[:8]) as settings:
        yield settings


@pytest.fixture(scope="module")
async def ledger_and_learner(own: Settings) -> AsyncIterator[RunningSystem]:
    """Ingress, ledger and learner in this process; the routers are processes of their own."""
    previous, quality.RATING_SETTLE = quality.RATING_SETTLE, timedelta(seconds=SETTLE_S)
    system = await start_system(own, free_port(), workers=("ledger", "learner"))
    try:
        yield system
    finally:
        await system.stop()
        quality.RATING_SETTLE = previous


@pytest.fixture(scope="module")
def routers(own: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Routers]:
    running = Routers(own, tmp_path_factory.mktemp("model-routers"), {})
    try:
        running.add()
        running.add()
        yield running
    finally:
        for process in running.processes.values():
            process.kill()


async def test_two_router_processes_switch_versions_together(
    ledger_and_learner: RunningSystem, routers: Routers
) -> None:
    assert set(routers.versions().values()) == {0}, "no learned version yet: catalog priors"
    async with ledger_and_learner.client() as client:

        async def route(prompt: str, **constraints: object) -> dict:
            body = {"prompt": prompt, "max_tokens": 32, "constraints": constraints}
            response = await client.post("/v1/route", json=body)
            assert response.status_code == 200, response.text
            return response.json()

        cheap = [await route(f"{PROMPT} Variant {i}.", model=FAST) for i in range(20)]
        for answer in cheap:
            rating = {"request_id": answer["request_id"], "quality_score": 5, "is_correct": True}
            assert (await client.post("/production/feedback", json=rating)).status_code == 200
        await asyncio.sleep(SETTLE_S + 0.2)

        fitted = (await client.post("/admin/learning/model/fit", params={"dry_run": "false"}))
        assert fitted.status_code == 200, fitted.text
        assert fitted.json()["status"] == "applied" and fitted.json()["version"] == 1
        took = await _all_at(routers, 1)
        print(f"both router processes at version 1 {took:.2f}s after the fit returned")
        answers = [await route(f"{PROMPT} New {i}.") for i in range(6)]
        assert {a["model_version"] for a in answers} == {1}
        assert {a["model"] for a in answers} == {FAST}

        restored = await client.post("/admin/learning/model/restore", params={"version": 1})
        assert restored.status_code == 200, restored.text
        assert restored.json()["version"] == 2
        await _all_at(routers, 2)
        answers = [await route(f"{PROMPT} Later {i}.") for i in range(6)]
        assert {a["model_version"] for a in answers} == {2}

    # A router started now asks the learner for the version in force: nothing is published.
    old = next(iter(routers.processes))
    routers.stop(old)
    late = routers.add()
    await _all_at(routers, 2)
    assert "quality model version 2 installed" in routers.processes[late].logs()
