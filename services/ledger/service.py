"""Feedback worker: records completions, stores ratings, answers report and key queries.

The handlers are in handlers.py; this module opens their dependencies and wires the queues.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from pydantic import TypeAdapter

from schemas.messages import QueryCommand, SubmitFeedback
from services.handlers import body_as, dispatch, subscribe
from services.ledger import handlers, store
from services.ledger.recorder import CompletionRecorder
from services.runtime import Worker, periodic
from shared.messaging.bus import make_broker
from shared.messaging.topology import FEEDBACK_COMPLETIONS, FEEDBACK_QUERIES, FEEDBACK_SUBMISSIONS
from shared.metrics import FEEDBACK
from shared.settings import Settings
from shared.storage import partitions
from shared.storage.db import create_pool, ping

log = logging.getLogger(__name__)

# Parked ratings are swept at least this often (more often for a short PENDING_FEEDBACK_TTL_S).
_EXPIRY_SWEEP_S = 300.0
# Stored features older than FEATURE_RETENTION_DAYS are deleted this often (retention is days).
_FEATURE_SWEEP_S = 3600.0
# Partitions are made months ahead, so a daily run (and one at start) leaves ample margin.
_PARTITION_MAINTENANCE_S = 86_400.0


class LedgerService(Worker):
    """The one writer of the request ledger: completions, ratings, API keys, spend.

    It reports itself as "feedback" (heartbeats, /health) and its queues keep their
    `feedback.*` names: those are the HTTP and bus contracts and what deployed manifests and
    dashboards match on. docs/architecture.md says why the service is one and not two.
    """

    name = "feedback"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, make_broker(settings, settings.feedback_prefetch))
        self._pool: asyncpg.Pool | None = None
        self._deps: handlers.Deps | None = None
        self.database_ok = False
        self._register()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("ledger service is not started")
        return self._pool

    async def on_start(self) -> None:
        # Nothing here leaves session state on a connection (no session locks, LISTEN or SET).
        self._pool = await create_pool(self.settings.database_url, max_size=10, reset_session=False)
        recorder = CompletionRecorder(
            self._pool, max_delay_s=self.settings.recorder_window_ms / 1000
        )
        self._deps = handlers.Deps(self._pool, self.settings, recorder)
        self.database_ok = True

    async def after_start(self) -> None:
        self.spawn(periodic(self.settings.heartbeat_interval_s, self._check_database))
        ttl = self.settings.pending_feedback_ttl_s
        self.spawn(periodic(min(ttl / 2, _EXPIRY_SWEEP_S), self._expire_pending))
        self.spawn(periodic(_FEATURE_SWEEP_S, self.expire_features))
        self.spawn(periodic(_PARTITION_MAINTENANCE_S, self._maintain_partitions))

    async def expire_features(self) -> int:
        """Delete context vectors past FEATURE_RETENTION_DAYS (also run every hour)."""
        deleted = await store.expire_features(self.pool, self.settings.feature_retention_days)
        if deleted:
            log.info("%d stored feature vectors expired", deleted)
        return deleted

    async def _maintain_partitions(self) -> None:
        await partitions.maintain(self.pool, self.settings.data_retention_days)

    async def _expire_pending(self) -> None:
        expired = await store.expire_pending(self.pool, self.settings.pending_feedback_ttl_s)
        if expired:
            FEEDBACK.labels("expired").inc(expired)
            log.info("%d parked ratings expired (their requests never came)", expired)

    async def on_stop(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def _check_database(self) -> None:
        self.database_ok = await ping(self.pool)

    def ready(self) -> bool:
        return super().ready() and self.database_ok

    def health_details(self) -> dict[str, Any]:
        return {"database": "ok" if self.database_ok else "unreachable"}

    def watched_queues(self) -> list[str]:
        return [self.settings.name(q) for q in (FEEDBACK_COMPLETIONS, FEEDBACK_SUBMISSIONS)]

    @property
    def deps(self) -> handlers.Deps:
        if self._deps is None:
            raise RuntimeError("ledger service is not started")
        return self._deps

    def _register(self) -> None:
        topology = self.topology
        subscribe(
            self,
            topology.completions(),
            FEEDBACK_COMPLETIONS,
            lambda msg: handlers.completions_of(msg.raw_message.routing_key, msg.body),
            lambda events: handlers.record_completions(events, self.deps),
        )
        subscribe(
            self,
            topology.work_queue(FEEDBACK_SUBMISSIONS),
            FEEDBACK_SUBMISSIONS,
            body_as(TypeAdapter(SubmitFeedback)),
            lambda feedback: handlers.submit_feedback(feedback, self.deps),
        )
        subscribe(
            self,
            topology.work_queue(FEEDBACK_QUERIES),
            FEEDBACK_QUERIES,
            body_as(TypeAdapter(QueryCommand)),
            lambda query: dispatch(handlers.QUERIES, query, self.deps),
            answer_database_errors=True,
        )
