"""What the feedback service does with each message: plain functions over their dependencies.

`services/handlers.py` validates, dead-letters and answers around them; `service.py` wires
them to their queues.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import asyncpg

from schemas.messages import (
    AdmitRequest,
    BuildDashboard,
    FeedbackAck,
    FindRequestOwner,
    LookUpApiKey,
    PingDatabase,
    RouteCompleted,
    RouteCompletedBatch,
    SubmitFeedback,
    SummarizeFeedback,
)
from services.handlers import Table
from services.ledger import access_store, reports, store
from services.ledger.recorder import CompletionRecorder
from shared.messaging.topology import ROUTE_COMPLETED_BATCH_KEY
from shared.metrics import COMPLETIONS_RECORDED, FEEDBACK
from shared.settings import Settings
from shared.storage.db import ping, with_db_retry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Deps:
    """What the handlers need, opened in the service's lifespan."""

    pool: asyncpg.Pool
    settings: Settings
    recorder: CompletionRecorder


def completions_of(routing_key: str | None, body: bytes) -> list[RouteCompleted]:
    """The events of one delivery: a group (validated whole: one bad event dead-letters the
    message and keeps every event of it for inspection) or a lone event."""
    if routing_key == ROUTE_COMPLETED_BATCH_KEY:
        return RouteCompletedBatch.model_validate_json(body).events
    return [RouteCompleted.model_validate_json(body)]


async def record_completions(events: list[RouteCompleted], deps: Deps) -> None:
    """Store each event once per request_id; a redelivered one is a counted duplicate."""
    outcomes = await deps.recorder.record_many(events)
    for event, inserted in zip(events, outcomes, strict=True):
        COMPLETIONS_RECORDED.labels("inserted" if inserted else "duplicate").inc()
        if not inserted:
            log.info("duplicate completion ignored", extra={"request_id": event.request_id})


async def submit_feedback(feedback: SubmitFeedback, deps: Deps) -> FeedbackAck:
    ack = await with_db_retry(lambda: _store_feedback(feedback, deps), "store feedback")
    FEEDBACK.labels(ack.status).inc()
    return ack


async def _store_feedback(feedback: SubmitFeedback, deps: Deps) -> FeedbackAck:
    grace = deps.settings.feedback_grace_s if feedback.require_known_request else 0.0
    exists, owner = await store.wait_for_request(deps.pool, feedback.request_id, grace)
    # A key rates only its own requests (a request made without a key is no key's own);
    # feedback without api_key_id comes from an admin or a trusted bus producer.
    if exists and feedback.api_key_id and owner != feedback.api_key_id:
        return FeedbackAck(
            request_id=feedback.request_id,
            status="forbidden",
            detail="this request was made with another API key",
        )
    if exists:
        status = await store.store_feedback(deps.pool, feedback)
        detail = "feedback recorded" if status == "created" else "earlier feedback updated"
        return FeedbackAck(request_id=feedback.request_id, status=status, detail=detail)
    await store.park_feedback(deps.pool, feedback)
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


# ---- queries (feedback.queries): one function per message type, dispatched by a table ----


async def _summary(query: SummarizeFeedback, deps: Deps) -> dict[str, Any]:
    return await store.feedback_summary(deps.pool, query.days)


async def _dashboard(query: BuildDashboard, deps: Deps) -> dict[str, Any]:
    return await reports.dashboard(deps.pool, query.days)


async def _ping(_: PingDatabase, deps: Deps) -> dict[str, Any]:
    return {"database": await ping(deps.pool)}


async def _request_owner(query: FindRequestOwner, deps: Deps) -> dict[str, Any]:
    exists, owner = await store.request_owner(deps.pool, query.request_id)
    return {"exists": exists, "api_key_id": owner}


async def _api_key(query: LookUpApiKey, deps: Deps) -> dict[str, Any]:
    info = await access_store.find_key(deps.pool, query.key_hash)
    return {"found": info is not None, "key": info.model_dump() if info else None}


async def _admit(query: AdmitRequest, deps: Deps) -> dict[str, Any]:
    return await access_store.admit(
        deps.pool,
        query.api_key_id,
        query.request_id,
        query.estimated_cost_usd,
        deps.settings.budget_reservation_ttl_s,
        query.purpose,
    )


QUERIES: Table[Deps] = {
    SummarizeFeedback: _summary,
    BuildDashboard: _dashboard,
    PingDatabase: _ping,
    FindRequestOwner: _request_owner,
    LookUpApiKey: _api_key,
    AdmitRequest: _admit,
}

