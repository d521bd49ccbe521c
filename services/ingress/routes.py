"""Public endpoints: route a prompt, preview a decision, submit feedback."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from schemas.messages import GenerationOptions, RouteConstraints, RouteRequest, SubmitFeedback
from services.ingress.bus_calls import ingress, rpc_json
from services.ingress.caller import caller
from services.ingress.deadlines import caller_timeout, deadline_after
from services.ingress.errors import ApiError
from services.ingress.key_rules import constrain
from services.ingress.limits import admit, admit_rating, check_input
from services.ingress.models import (
    FeedbackBody,
    FeedbackResponse,
    RouteBody,
    RouteResponse,
)
from services.ingress.route_stream import RouteEvents
from services.ingress.streaming import open_event_stream
from services.ingress.strict_json import strict_router
from shared.messaging.topology import FEEDBACK_SUBMISSIONS, ROUTE_REQUESTS

router = strict_router()

_RESPONSE_FIELDS = tuple(RouteResponse.model_fields)


def _route_request(
    body: RouteBody, request: Request, timeout_s: float, preview: bool = False
) -> RouteRequest:
    return RouteRequest(
        messages=body.chat(),
        max_tokens=body.max_tokens,
        constraints=constrain(caller(request).key, body.constraints or RouteConstraints()),
        options=body.options or GenerationOptions(),
        api_key_id=caller(request).api_key_id,
        preview=preview,
        deadline_at=deadline_after(timeout_s),
    )


async def _within_limits(request: Request, command: RouteRequest) -> None:
    """Size limits (413/422), then the key's rate and budget (429), before the bus."""
    check_input(ingress(request).settings, command.messages, command.max_tokens)
    await admit(request, command)


@router.post(
    "/v1/route",
    response_model=RouteResponse,
    responses={422: {"description": "invalid body"}, 413: {}, 429: {}, 502: {}, 503: {}, 504: {}},
    tags=["routing"],
)
async def route(body: RouteBody, request: Request) -> Response:
    """Answer the prompt with the cheapest adequate model (`stream`: as server-sent events)."""
    state = ingress(request)
    timeout_s = caller_timeout(request, state.settings.request_timeout_s)
    command = _route_request(body, request, timeout_s)
    await _within_limits(request, command)
    if body.stream:
        return await open_event_stream(
            state, command.model_copy(update={"stream": True}), timeout_s, RouteEvents
        )
    request_id = str(command.request_id)
    payload = await rpc_json(
        state, ROUTE_REQUESTS, command, timeout_s, request_id=request_id, cancel_on_timeout=True
    )
    answer: dict[str, Any] = {key: payload.get(key) for key in _RESPONSE_FIELDS}
    return JSONResponse(answer, headers={"x-request-id": request_id})


@router.post("/v1/route/preview", tags=["routing"])
async def preview(body: RouteBody, request: Request) -> dict[str, Any]:
    """The decision the router would take, with its reasons, without calling any model."""
    state = ingress(request)
    timeout_s = caller_timeout(request, state.settings.request_timeout_s)
    command = _route_request(body, request, timeout_s, preview=True)
    await _within_limits(request, command)
    payload = await rpc_json(
        state, ROUTE_REQUESTS, command, timeout_s, request_id=str(command.request_id)
    )
    data: dict[str, Any] = payload.get("data", {})
    return data


@router.post(
    "/production/feedback",
    response_model=FeedbackResponse,
    responses={404: {"description": "unknown request_id"}, 403: {}, 422: {}, 429: {}},
    tags=["feedback"],
)
async def submit_feedback(body: FeedbackBody, request: Request) -> FeedbackResponse:
    """Rate an answer (quality 1-5, correct or not). A second rating replaces the first."""
    state = ingress(request)
    await admit_rating(request)
    command = SubmitFeedback(
        **body.model_dump(),
        api_key_id=caller(request).feedback_key_id,
        require_known_request=True,
    )
    payload = await rpc_json(state, FEEDBACK_SUBMISSIONS, command)
    status = payload.get("status")
    if status == "not_found":
        raise ApiError(404, "unknown_request_id", str(payload.get("detail")))
    if status == "forbidden":
        raise ApiError(403, "forbidden", str(payload.get("detail")))
    return FeedbackResponse.model_validate(payload)
