"""How long an HTTP caller waits, and telling the routers when it stopped waiting.

A caller says how long it will wait with `X-Request-Timeout` (seconds), or implicitly through the
timeout header the openai SDKs send (`X-Stainless-Timeout`, `X-Stainless-Read-Timeout` in the
Python SDK). The wait is capped by REQUEST_TIMEOUT_S. The request then carries the absolute
deadline (`RouteRequest.deadline_at`) and an AMQP expiration of the same length, so the broker
drops it unread once the caller has gone and no router starts a provider call for it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime, timedelta
from uuid import UUID

from starlette.requests import Request

from schemas.messages import CancelRequest
from services.ingress.state import IngressState
from shared.messaging.topology import CANCELS_EXCHANGE

log = logging.getLogger(__name__)

TIMEOUT_HEADERS = ("x-request-timeout", "x-stainless-timeout", "x-stainless-read-timeout")
# Below this a request cannot even reach a router; a smaller value is taken as this.
MIN_TIMEOUT_S = 0.05


def caller_timeout(request: Request, cap_s: float) -> float:
    """Seconds this caller waits: the first valid timeout header, capped; else the cap."""
    for name in TIMEOUT_HEADERS:
        raw = request.headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            continue  # a malformed hint is ignored, not an error: the cap still applies
        if math.isfinite(value) and value > 0:
            return max(MIN_TIMEOUT_S, min(value, cap_s))
    return cap_s


def deadline_after(timeout_s: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=timeout_s)


def cancel_request(state: IngressState, request_id: UUID, reason: str) -> None:
    """Tell every router that the caller of `request_id` gave up (fire and forget).

    Runs as a task of its own: it is called from code being cancelled (a client that
    disconnected), where an await would not complete.
    """
    message = CancelRequest.model_validate({"request_id": request_id, "reason": reason})
    task = asyncio.get_running_loop().create_task(_publish(state, message))
    state.background.add(task)
    task.add_done_callback(state.background.discard)


async def _publish(state: IngressState, message: CancelRequest) -> None:
    try:
        await state.rpc.notify(state.settings.name(CANCELS_EXCHANGE), message)
    except Exception as exc:  # the broker is away: the deadline still stops the work
        log.warning("cancel of %s not sent (%s)", message.request_id, type(exc).__name__)
