"""PostgreSQL access: one asyncpg pool per process, and patience while the database is away."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

log = logging.getLogger(__name__)
T = TypeVar("T")

# Errors that mean "the database is not reachable right now", as opposed to "this statement is
# wrong". A handler that meets them waits and tries again instead of dead-lettering the message.
TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncio.TimeoutError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without the reset query: for pools whose users leave no session state."""


async def create_pool(
    database_url: str, min_size: int = 1, max_size: int = 10, reset_session: bool = True
) -> asyncpg.Pool:
    """A pool; keeps trying (with a log line per attempt) until the database answers.

    `reset_session=False` skips asyncpg's reset query (advisory unlock, CLOSE ALL, UNLISTEN,
    RESET ALL) on every release, a round trip each: only for code that takes no session-level
    locks, opens no cursors outside transactions and sets nothing. Open transactions are still
    rolled back on release.
    """
    delay = 0.5
    while True:
        try:
            pool = await asyncpg.create_pool(
                database_url,
                min_size=min_size,
                max_size=max_size,
                init=_init_connection,
                reset=None if reset_session else _keep_session,
                command_timeout=30,
            )
            assert pool is not None
            return pool
        except TRANSIENT_DB_ERRORS as exc:
            log.warning("database not reachable (%s); retrying in %.1fs", type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def with_db_retry(
    operation: Callable[[], Awaitable[T]],
    what: str,
    max_wait_s: float | None = None,
) -> T:
    """Run `operation`, retrying transient database errors with backoff.

    Messages being handled stay unacknowledged meanwhile, so nothing is lost while PostgreSQL
    is down and the delivery limit is not burnt on an outage. `max_wait_s=None` waits forever.
    """
    delay = 0.2
    waited = 0.0
    while True:
        try:
            return await operation()
        except TRANSIENT_DB_ERRORS as exc:
            if max_wait_s is not None and waited >= max_wait_s:
                raise
            log.warning("%s: database unavailable (%s); retrying", what, type(exc).__name__)
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 5.0)


async def ping(pool: asyncpg.Pool, timeout: float = 2.0) -> bool:
    """True when the database answers a trivial query within `timeout`."""
    try:
        async with asyncio.timeout(timeout):
            return bool(await pool.fetchval("SELECT 1"))
    except (*TRANSIENT_DB_ERRORS, asyncpg.PostgresError):
        return False
