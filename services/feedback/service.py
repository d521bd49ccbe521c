"""Feedback worker: records completions, stores ratings, answers report queries."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from faststream.middlewares import AckPolicy
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError

from schemas.messages import (
    ErrorReply,
    FeedbackAck,
    QueryCommand,
    RouteCompleted,
    RouteCompletedBatch,
    RpcReply,
    SubmitFeedback,
)
from services.feedback import access_store, reports, store
from services.feedback.recorder import CompletionRecorder
from services.runtime import Worker, periodic
from shared.messaging.bus import make_broker
from shared.messaging.topology import (
    FEEDBACK_COMPLETIONS,
    FEEDBACK_QUERIES,
    FEEDBACK_SUBMISSIONS,
    ROUTE_COMPLETED_BATCH_KEY,
)
from shared.metrics import COMPLETIONS_RECORDED, FEEDBACK
from shared.settings import Settings
from shared.storage.db import create_pool, ping, with_db_retry

log = logging.getLogger(__name__)


class FeedbackService(Worker):
    name = "feedback"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, make_broker(settings, settings.feedback_prefetch))
        self._pool: asyncpg.Pool | None = None
        self.database_ok = False
        self._register()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("feedback service is not started")
        return self._pool

    async def on_start(self) -> None:
        # Nothing here leaves session state on a connection (no session locks, LISTEN or SET).
        self._pool = await create_pool(self.settings.database_url, max_size=10, reset_session=False)
        self.recorder = CompletionRecorder(
            self._pool, max_delay_s=self.settings.recorder_window_ms / 1000
        )
        self.database_ok = True

    async def after_start(self) -> None:
        self.spawn(periodic(self.settings.heartbeat_interval_s, self._check_database))

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

    def _register(self) -> None:
        broker = self.broker
        topology = self.topology

        @broker.subscriber(
            topology.completions(), no_reply=True, ack_policy=AckPolicy.NACK_ON_ERROR
        )
        async def on_route_completed(msg: RabbitMessage) -> None:
            grouped = msg.raw_message.routing_key == ROUTE_COMPLETED_BATCH_KEY
            try:
                if grouped:
                    events = RouteCompletedBatch.model_validate_json(msg.body).events
                else:
                    events = [RouteCompleted.model_validate_json(msg.body)]
            except ValidationError as exc:
                # A group is checked whole: one bad event dead-letters the message, which
                # keeps every event of it for inspection rather than storing part of it.
                await self.reject_malformed(msg, exc, FEEDBACK_COMPLETIONS)
                return
            outcomes = await self.recorder.record_many(events)
            for event, inserted in zip(events, outcomes, strict=True):
                COMPLETIONS_RECORDED.labels("inserted" if inserted else "duplicate").inc()
                if not inserted:
                    log.info("duplicate completion ignored", extra={"request_id": event.request_id})

        @broker.subscriber(
            topology.work_queue(FEEDBACK_SUBMISSIONS),
            no_reply=True,
            ack_policy=AckPolicy.NACK_ON_ERROR,
        )
        async def on_feedback(msg: RabbitMessage) -> None:
            try:
                feedback = SubmitFeedback.model_validate_json(msg.body)
            except ValidationError as exc:
                await self.reject_malformed(msg, exc, FEEDBACK_SUBMISSIONS)
                return
            ack = await with_db_retry(lambda: self._submit(feedback), "store feedback")
            FEEDBACK.labels(ack.status).inc()
            await self.answer(msg, ack)

        @broker.subscriber(
            topology.work_queue(FEEDBACK_QUERIES), no_reply=True, ack_policy=AckPolicy.NACK_ON_ERROR
        )
        async def on_query(msg: RabbitMessage) -> None:
            try:
                query = QueryCommand.model_validate_json(msg.body)
            except ValidationError as exc:
                await self.reject_malformed(msg, exc, FEEDBACK_QUERIES)
                return
            try:
                data = await self._query(query)
            except (asyncpg.PostgresError, OSError) as exc:
                error = ErrorReply(
                    error_kind="database_unavailable", error_message=type(exc).__name__
                )
                await self.answer(msg, error)
                return
            except ValueError as exc:
                await self.answer(msg, ErrorReply(error_kind="bad_query", error_message=str(exc)))
                return
            await self.answer(msg, RpcReply(data=data))

    async def _submit(self, feedback: SubmitFeedback) -> FeedbackAck:
        grace = self.settings.feedback_grace_s if feedback.require_known_request else 0.0
        exists, owner = await store.wait_for_request(self.pool, feedback.request_id, grace)
        # A key rates only its own requests (a request made without a key is no key's own);
        # feedback without api_key_id comes from an admin or a trusted bus producer.
        if exists and feedback.api_key_id and owner != feedback.api_key_id:
            return FeedbackAck(
                request_id=feedback.request_id,
                status="forbidden",
                detail="this request was made with another API key",
            )
        if exists:
            status = await store.store_feedback(self.pool, feedback)
            detail = "feedback recorded" if status == "created" else "earlier feedback updated"
            return FeedbackAck(request_id=feedback.request_id, status=status, detail=detail)
        await store.park_feedback(self.pool, feedback)
        if feedback.require_known_request:
            return FeedbackAck(
                request_id=feedback.request_id,
                status="not_found",
                detail="no request with this request_id is recorded; the feedback is kept "
                "aside and attached if the request is recorded later",
            )
        return FeedbackAck(
            request_id=feedback.request_id,
            status="pending",
            detail="request not recorded yet; feedback parked until it is",
        )

    async def _query(self, query: QueryCommand) -> dict[str, Any]:
        if query.action == "feedback_summary":
            return await store.feedback_summary(self.pool, query.days)
        if query.action == "dashboard":
            return await reports.dashboard(self.pool, query.days)
        if query.action == "ping":
            return {"database": await ping(self.pool)}
        if query.action == "request_owner" and query.request_id is not None:
            exists, owner = await store.request_owner(self.pool, query.request_id)
            return {"exists": exists, "api_key_id": owner}
        if query.action in ("api_key", "admit"):
            return await access_store.answer(
                self.pool, query, self.settings.budget_reservation_ttl_s
            )
        raise ValueError(f"unsupported query {query.action}")
