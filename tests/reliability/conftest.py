"""Damage helpers: private broker and database instances to stop and start, services as processes.

Nothing here touches the machine's own RabbitMQ or PostgreSQL (see private_services.py).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aio_pika
import asyncpg
import pytest

from shared.settings import Settings
from tests.conftest import DEFAULT_AMQP, DEFAULT_DB, free_port, isolated_settings
from tests.e2e.processes import ServiceProcess, service_env, start, wait_http
from tests.reliability.private_services import (
    RABBITMQ_SCRIPTS,
    Epmd,
    PostgresCluster,
    RabbitNode,
    private_dir,
)


@pytest.fixture(scope="session")
def private_broker() -> Iterator[RabbitNode]:
    """A RabbitMQ node of the suite's own: the tests may stop it, never the machine's."""
    if not (RABBITMQ_SCRIPTS / "rabbitmq-server").exists() or shutil.which("epmd") is None:
        pytest.skip("RabbitMQ is not installed here: the damage tests start private nodes")
    root = private_dir("optimizer-mq-")
    epmd = Epmd()
    epmd.start()
    node = RabbitNode("damage1", root / "damage1", epmd, uuid.uuid4().hex)
    try:
        node.start()
        yield node
    finally:
        node.stop()
        epmd.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of the suite's own, on a private port and data directory."""
    cluster = PostgresCluster(private_dir("optimizer-pg-", owner="postgres"))
    try:
        cluster.init()
    except RuntimeError as exc:
        pytest.skip(f"cannot make a private PostgreSQL cluster: {exc}")
    cluster.start()
    try:
        yield cluster
    finally:
        if cluster.running():
            cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
async def shared_services_untouched() -> AsyncIterator[None]:
    """Hold a connection to the machine's own services across the suite: it must survive.

    A damage test that stopped the shared broker or database would drop these connections.
    Where the machine runs neither, there is nothing to protect.
    """
    db = os.environ.get("DATABASE_URL", DEFAULT_DB)
    amqp = os.environ.get("RABBITMQ_URL", DEFAULT_AMQP)
    try:
        conn = await asyncpg.connect(db, timeout=5)
        broker = await aio_pika.connect(amqp, timeout=5)
    except (OSError, asyncpg.PostgresError, aio_pika.exceptions.AMQPError):
        yield
        return
    try:
        yield
        assert await conn.fetchval("SELECT 1") == 1, "the machine's PostgreSQL was restarted"
        assert not broker.is_closed, "the machine's RabbitMQ dropped our connection"
        channel = await broker.channel()
        await channel.close()
    finally:
        await broker.close()
        await conn.close()


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
async def cluster_settings(
    private_postgres: PostgresCluster, private_broker: RabbitNode
) -> AsyncIterator[Settings]:
    urls = (private_postgres.url, private_broker.url)
    async with isolated_settings(urls, "rel" + uuid.uuid4().hex[:6]) as settings:
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
