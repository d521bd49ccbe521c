"""Store RouteCompleted events in batches: one transaction and five statements per batch.

One transaction per event cost five round trips to PostgreSQL; under load the recorder was the
busiest part of the feedback worker. Handlers still ack one message at a time, each only after
the batch holding its event has committed, so at-least-once delivery is unchanged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from uuid import UUID

import asyncpg

from schemas.messages import RouteCompleted
from services.ledger import access_store
from shared.routing.stored_features import stored_bytes
from shared.storage import partitions
from shared.storage.db import TRANSIENT_DB_ERRORS, with_db_retry

log = logging.getLogger(__name__)

_COLUMNS = (
    ("request_id", "uuid"), ("created_at", "timestamptz"), ("ok", "boolean"),
    ("provider", "text"), ("model", "text"), ("pattern", "text"), ("complexity", "text"),
    ("tokens_in", "integer"), ("tokens_out", "integer"), ("cost_usd", "numeric"),
    ("baseline_cost_usd", "numeric"), ("savings_usd", "numeric"),
    ("latency_ms", "double precision"), ("attempts", "integer"), ("fallback_path", "jsonb"),
    ("explored", "boolean"), ("override_version", "integer"), ("decision_reason", "text"),
    ("finish_reason", "text"), ("error_kind", "text"), ("error_message", "text"),
    ("prompt_hash", "text"), ("prompt_preview", "text"), ("api_key_id", "text"),
    ("streamed", "boolean"), ("first_token_ms", "double precision"), ("answer_chars", "integer"),
    ("model_version", "integer"),
)  # fmt: skip

# jsonb travels as text: asyncpg would read a list inside an array as another dimension.
_NAMES = ", ".join(name for name, _ in _COLUMNS)
# routing_requests is partitioned by created_at, so its key is (request_id, created_at); the
# request id is claimed in request_ids first, and only the events that claimed theirs are
# stored: a redelivered event (even with another created_at) stays one row.
_INSERT_MANY = f"""
WITH batch AS (
    SELECT * FROM unnest({
    ", ".join(
        f"${i}::{'text' if kind == 'jsonb' else kind}[]" for i, (_, kind) in enumerate(_COLUMNS, 1)
    )
}) AS batch({_NAMES})
), claimed AS (
    INSERT INTO request_ids (request_id, created_at)
    SELECT request_id, created_at FROM batch
    ON CONFLICT (request_id) DO NOTHING
    RETURNING request_id
)
INSERT INTO routing_requests ({_NAMES})
SELECT {", ".join(f"{name}::jsonb" if kind == "jsonb" else name for name, kind in _COLUMNS)}
FROM batch JOIN claimed USING (request_id)
RETURNING request_id
"""  # noqa: S608 - column names are constants

# Beside its row, in the same transaction: a redelivered event stores nothing twice.
_INSERT_FEATURES = """
INSERT INTO request_features (request_id, created_at, context_version, features)
SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::smallint[], $4::bytea[])
ON CONFLICT (request_id) DO NOTHING
"""

# Feedback parked before its request row existed joins production_feedback in the same
# transaction that stores the row.
ADOPT_PENDING = """
WITH moved AS (DELETE FROM pending_feedback WHERE request_id = ANY($1::uuid[]) RETURNING *)
INSERT INTO production_feedback (request_id, request_created_at, quality_score, is_correct,
                                 comment, api_key_id, created_at, updated_at)
SELECT m.request_id, r.created_at, m.quality_score, m.is_correct, m.comment, m.api_key_id,
       m.received_at, now()
FROM moved m JOIN request_ids i USING (request_id)
JOIN routing_requests r ON r.request_id = i.request_id AND r.created_at = i.created_at
-- Feedback parked under another client's key is dropped here, never attached to this request.
WHERE m.api_key_id IS NULL OR m.api_key_id IS NOT DISTINCT FROM r.api_key_id
ON CONFLICT (request_id, request_created_at) DO NOTHING
"""


def _hops_json(event: RouteCompleted) -> str:
    return json.dumps([hop.model_dump() for hop in event.fallback_path])


def _column_arrays(events: Sequence[RouteCompleted]) -> list[list[object]]:
    rows = [
        (
            e.request_id, e.created_at, e.ok, e.provider, e.model, e.pattern, e.complexity,
            e.tokens_in, e.tokens_out, e.cost_usd, e.baseline_cost_usd, e.savings_usd,
            e.latency_ms, e.attempts, _hops_json(e), e.explored,
            e.override_version, e.decision_reason, e.finish_reason, e.error_kind,
            e.error_message, e.prompt_hash, e.prompt_preview, e.api_key_id,
            e.streamed, e.first_token_ms, e.answer_chars, e.model_version,
        )
        for e in events
    ]  # fmt: skip
    return [list(column) for column in zip(*rows, strict=True)]


def _feature_arrays(events: Sequence[RouteCompleted]) -> list[list[object]]:
    return [
        [e.request_id for e in events],
        [e.created_at for e in events],
        [e.context_version for e in events],
        [stored_bytes(e.features or "") for e in events],
    ]


async def record_completions(pool: asyncpg.Pool, events: Sequence[RouteCompleted]) -> set[UUID]:
    """Store the events (idempotent on request_id); returns the ids this call inserted."""
    unique = list({e.request_id: e for e in events}.values())
    async with pool.acquire() as conn:
        try:
            return await _insert(conn, unique)
        except asyncpg.CheckViolationError as exc:
            if not partitions.is_missing_partition(exc):
                raise
            # Dated in a month not made ahead (a clock far off, an old event redelivered).
            await partitions.ensure_months(conn, (e.created_at for e in unique))
            return await _insert(conn, unique)


async def _insert(conn: asyncpg.Connection, events: list[RouteCompleted]) -> set[UUID]:
    async with conn.transaction():
        rows = await conn.fetch(_INSERT_MANY, *_column_arrays(events))
        inserted = {row["request_id"] for row in rows}
        with_features = [e for e in events if e.features and e.context_version is not None]
        if with_features:
            await conn.execute(_INSERT_FEATURES, *_feature_arrays(with_features))
        await conn.execute(ADOPT_PENDING, [e.request_id for e in events])
        await access_store.settle_many(conn, events, inserted)
    return inserted


class CompletionRecorder:
    """Collects events for up to `max_delay_s` (or `max_batch` events) and stores them at once."""

    def __init__(self, pool: asyncpg.Pool, max_batch: int = 256, max_delay_s: float = 0.005):
        self._pool = pool
        self._max_batch = max_batch
        self._max_delay_s = max_delay_s
        self._waiting: list[tuple[RouteCompleted, asyncio.Future[bool]]] = []
        self._timer: asyncio.TimerHandle | None = None

    async def record(self, event: RouteCompleted) -> bool:
        """True when this delivery inserted the row, False for a duplicate. Raises on failure."""
        return (await self.record_many([event]))[0]

    async def record_many(self, events: Sequence[RouteCompleted]) -> list[bool]:
        """`record` for each event (all in the same or adjacent batches); raises if any fails."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[bool]] = []
        for event in events:
            future: asyncio.Future[bool] = loop.create_future()
            futures.append(future)
            self._waiting.append((event, future))
            if len(self._waiting) >= self._max_batch:
                self._flush()
        if self._waiting and self._timer is None:
            self._timer = loop.call_later(self._max_delay_s, self._flush)
        return list(await asyncio.gather(*futures))

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._waiting = self._waiting, []
        if batch:
            asyncio.get_running_loop().create_task(self._store(batch))

    async def _store(self, batch: list[tuple[RouteCompleted, asyncio.Future[bool]]]) -> None:
        events = [event for event, _ in batch]
        try:
            # While the database is away the messages stay unacked: nothing is lost.
            inserted = await with_db_retry(
                lambda: record_completions(self._pool, events), "record completions"
            )
        except TRANSIENT_DB_ERRORS as exc:
            self._fail(batch, exc)
            return
        except asyncpg.PostgresError:
            # One bad event must not sink its batch-mates: store them one by one.
            log.warning("batch of %d failed; storing events one at a time", len(batch))
            await self._store_singly(batch)
            return
        for event, future in batch:
            if not future.done():
                future.set_result(event.request_id in inserted)

    async def _store_singly(self, batch: list[tuple[RouteCompleted, asyncio.Future[bool]]]) -> None:
        for event, future in batch:
            try:
                inserted = await record_completions(self._pool, [event])
            except (asyncpg.PostgresError, *TRANSIENT_DB_ERRORS) as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            if not future.done():
                future.set_result(event.request_id in inserted)

    @staticmethod
    def _fail(batch: list[tuple[RouteCompleted, asyncio.Future[bool]]], exc: BaseException) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)
