"""Shared fixtures: real PostgreSQL and RabbitMQ, isolated per test session.

Service URLs come from DATABASE_URL / RABBITMQ_URL when set, else testcontainers where a Docker
engine runs, else the tests that need them are skipped with a clear message. Each session gets
its own database and its own AMQP name prefix, so runs never see each other's data or messages.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from shared.messaging.topology import delete_namespace
from shared.settings import Settings
from tests.system import RunningSystem, start_system

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def _from_containers() -> tuple[str, str] | None:
    """Start PostgreSQL and RabbitMQ containers when a Docker engine runs; None otherwise."""
    try:
        from testcontainers.postgres import PostgresContainer  # type: ignore[import-not-found]
        from testcontainers.rabbitmq import RabbitMqContainer  # type: ignore[import-not-found]

        pg = PostgresContainer("postgres:16-alpine").start()
        mq = RabbitMqContainer("rabbitmq:3.13-management-alpine").start()
    except Exception:
        return None
    db = pg.get_connection_url().replace("postgresql+psycopg2", "postgresql")
    params = mq.get_connection_params()
    amqp = f"amqp://guest:guest@{params.host}:{params.port}/"
    return db, amqp


@pytest.fixture(scope="session")
def service_urls() -> tuple[str, str]:
    db = os.environ.get("DATABASE_URL", DEFAULT_DB)
    amqp = os.environ.get("RABBITMQ_URL", DEFAULT_AMQP)
    if _answers(db, 5432) and _answers(amqp, 5672):
        return db, amqp
    started = _from_containers()
    if started:
        return started
    pytest.skip(
        "PostgreSQL and RabbitMQ are needed: set DATABASE_URL and RABBITMQ_URL, or start them "
        "locally, or run where a Docker engine is available for testcontainers"
    )


@pytest.fixture(scope="session")
def session_tag() -> str:
    return uuid.uuid4().hex[:8]


@asynccontextmanager
async def isolated_settings(
    service_urls: tuple[str, str], tag: str, **overrides: object
) -> AsyncIterator[Settings]:
    """Settings with a database and an AMQP namespace of their own, removed afterwards."""
    from shared.storage.migrate import migrate

    base = urlsplit(service_urls[0])
    name = f"optimizer_test_{tag}"
    url = urlunsplit(base._replace(path=f"/{name}"))
    await migrate(url)
    prefix = f"test{tag}."
    values: dict[str, object] = {
        "environment": "test",
        "database_url": url,
        "rabbitmq_url": service_urls[1],
        "amqp_prefix": prefix,
        "simulated_latency_ms": 0,
        "request_timeout_s": 15,
        "heartbeat_interval_s": 0.5,
        "feedback_grace_s": 0.5,
        "exploration_rate": 0.0,
        # Quality model fits run when a test asks (a background fit would race its asserts).
        "learner_model_fit_interval_s": 0,
        "anthropic_api_key": None,
        "google_api_key": None,
        "openrouter_api_key": None,
        # Tests call without API keys unless they ask for auth (tests/integration/test_auth.py
        # passes auth_enabled=True or starts its own ingress with it).
        "auth_enabled": False,
        **overrides,
    }
    try:
        yield Settings(**values)  # type: ignore[arg-type]
    finally:
        await delete_namespace(service_urls[1], prefix)
        admin = await asyncpg.connect(urlunsplit(base._replace(path="/postgres")))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="session")
async def settings(service_urls: tuple[str, str], session_tag: str) -> AsyncIterator[Settings]:
    async with isolated_settings(service_urls, session_tag) as value:
        yield value


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    from shared.storage.db import create_pool

    pool = await create_pool(settings.database_url, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def fresh_url(service_urls: tuple[str, str]) -> AsyncIterator[str]:
    """The URL of a database of its own, not created yet (`migrate` creates it); dropped after."""
    base = urlsplit(service_urls[0])
    name = f"optimizer_mig_{uuid.uuid4().hex[:8]}"
    yield urlunsplit(base._replace(path=f"/{name}"))
    admin = await asyncpg.connect(urlunsplit(base._replace(path="/postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
async def system(settings: Settings) -> AsyncIterator[RunningSystem]:
    """Ingress, router, feedback and learner in this loop, over the real broker and database."""
    running = await start_system(settings, free_port(), workers=_WORKERS)
    yield running
    await running.stop()


_WORKERS = ("router", "feedback", "learner")
