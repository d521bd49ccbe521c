"""Damage helpers: stop and start the real broker and database, run services as processes."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.conftest import free_port, isolated_settings
from tests.e2e.processes import ServiceProcess, service_env, start, wait_http


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def rabbitmq_app(action: str) -> None:
    """`stop_app` / `start_app`: every client connection drops, queues and messages stay."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not available to restart the broker")
    _run("rabbitmqctl", action)


def postgres(action: str) -> None:
    if shutil.which("pg_ctlcluster") is None:
        pytest.skip("pg_ctlcluster is not available to stop the database")
    version = sorted(Path("/etc/postgresql").iterdir())[-1].name
    command = ("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action)
    result = subprocess.run(command, capture_output=True, timeout=120, check=False)
    # Exit 2: already in the wanted state (started twice, or stopped twice).
    if result.returncode not in (0, 2):
        raise AssertionError(f"{' '.join(command)} failed: {result.stderr.decode()[-300:]}")


def wait_port(port: int, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"port {port} did not come back")


class Cluster:
    """An ingress and workers as OS processes in their own database and AMQP namespace."""

    def __init__(self, settings: Settings, logs: Path, **env: str) -> None:
        self.settings = settings
        self.logs = logs
        self.port = free_port()
        self.env = service_env(settings, INGRESS_PORT=str(self.port), **env)
        self.processes: dict[str, ServiceProcess] = {}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, name: str, services: list[str], **env: str) -> ServiceProcess:
        process = start(services, {**self.env, **env}, self.logs / f"{name}.log")
        self.processes[name] = process
        return process

    def wait_ready(self) -> None:
        wait_http(f"{self.base}/health")
        deadline = time.monotonic() + 30
        import httpx

        while time.monotonic() < deadline:
            body = httpx.get(f"{self.base}/health").json()
            if body["status"] == "healthy":
                return
            time.sleep(0.3)
        raise AssertionError(f"cluster not healthy: {body}")

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()


@pytest.fixture
async def cluster_settings(service_urls: tuple[str, str]) -> AsyncIterator[Settings]:
    async with isolated_settings(service_urls, "rel" + uuid.uuid4().hex[:6]) as settings:
        yield settings


async def until(predicate, timeout: float, interval: float = 0.2):  # type: ignore[no-untyped-def]
    """Await `predicate()` (sync or async) until truthy; returns its last value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(interval)
    return value
