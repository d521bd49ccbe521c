"""Turning a bus round trip into an HTTP answer: timeouts, broker outages and error replies."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from fastapi import Request
from pydantic import BaseModel

from schemas.messages import ErrorKind
from services.ingress.deadlines import cancel_request
from services.ingress.errors import ApiError
from services.ingress.state import IngressState
from shared.messaging.direct import RpcTimeoutError

# The HTTP status of every error kind a worker replies with (tests/unit/test_contracts.py checks
# that the table covers ErrorKind exactly). A kind from a newer worker falls back to 502.
STATUS_BY_KIND: dict[ErrorKind, int] = {
    "invalid_message": 422,  # the command did not validate (the ingress checks first, so rare)
    "no_candidate": 422,  # no configured model satisfies the request's constraints
    "all_models_failed": 502,  # every model of the fallback chain failed upstream
    "deadline_exceeded": 504,  # the router's deadline ran out before a model answered
    "expired": 504,  # the caller's deadline passed before a router could start the call
    "cancelled": 504,  # the caller gave up (its timeout fired, or it disconnected)
    "stream_interrupted": 502,  # a streamed answer failed after its first chunk
    "database_unavailable": 503,  # the worker cannot reach PostgreSQL; retry shortly
}


# What the caller reads for kinds whose worker message is for operators (it names providers'
# model paths, exception types): the row and the logs keep that; `fallback_path` says, per model
# tried, which one and why. The other kinds' messages are written for the caller and hold no
# input (an invalid field's path and reason, or why no model fits).
CALLER_MESSAGE: dict[str, str] = {
    "all_models_failed": "no model could answer this request; fallback_path says why, per model",
    "deadline_exceeded": "no model answered before the request's deadline; see fallback_path",
    "database_unavailable": "the database is unavailable; retry shortly",
}
_PASSED_ON = {"no_candidate", "invalid_message"}


def caller_message(kind: str, worker_message: object) -> str:
    if kind in _PASSED_ON and isinstance(worker_message, str) and worker_message:
        return worker_message[:500]
    return CALLER_MESSAGE.get(kind, "the request failed")


def ingress(request: Request) -> IngressState:
    state: IngressState = request.app.state.ingress
    return state


async def rpc_json(
    state: IngressState,
    queue_base: str,
    message: BaseModel,
    timeout: float | None = None,
    request_id: str | None = None,
    cancel_on_timeout: bool = False,
) -> dict[str, Any]:
    """Send a command and return the decoded reply; failures become ApiError.

    `cancel_on_timeout`: when the wait runs out, tell the routers to drop `request_id`.
    """
    extra: dict[str, object] = {"request_id": request_id} if request_id else {}
    try:
        raw = await state.rpc.call(
            state.settings.name(queue_base), message, timeout or state.settings.request_timeout_s
        )
    except RpcTimeoutError as exc:
        if cancel_on_timeout and request_id:
            cancel_request(state, UUID(request_id), "caller_timeout")
        # Not the exception's text: it names the queue, which is none of the caller's business.
        raise ApiError(504, "timeout", "no answer in time; retry shortly", extra=extra) from exc
    except Exception as exc:  # aiormq/aio-pika raise several types while the broker is away
        raise ApiError(
            503,
            "broker_unavailable",
            "the message broker is not reachable; retry shortly",
            extra=extra,
        ) from exc
    try:
        payload: dict[str, Any] = json.loads(raw)
    except ValueError as exc:
        raise ApiError(502, "bad_reply", "a worker sent an unreadable reply", extra=extra) from exc
    if payload.get("ok") is False:
        raise reply_error(payload, extra)
    return payload


def reply_error(payload: dict[str, Any], extra: dict[str, object]) -> ApiError:
    """The ApiError for a worker's failed reply (`ok` false): its status, kind and a message
    for the caller; `extra` (the request id) goes into the error body."""
    kind = str(payload.get("error_kind") or "upstream_error")
    return ApiError(
        STATUS_BY_KIND.get(kind, 502),  # type: ignore[call-overload]
        kind,
        caller_message(kind, payload.get("error_message")),
        extra={**extra, **{k: payload[k] for k in ("fallback_path",) if payload.get(k)}},
    )
