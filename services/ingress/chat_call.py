"""One chat request through the router, as the compatible endpoints (OpenAI, Anthropic) make it.

They differ in wire format only: each turns its body into our messages and options, then
calls `route_chat`, which applies the size limits, the key's model rules, the caller's
deadline and the key's rate and budget before publishing the RouteRequest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request

from schemas.messages import ChatMessage, GenerationOptions, RouteConstraints, RouteRequest
from services.ingress.bus_calls import ingress, rpc_json
from services.ingress.caller import caller
from services.ingress.deadlines import caller_timeout, deadline_after
from services.ingress.errors import ApiError
from services.ingress.key_rules import constrain
from services.ingress.limits import admit, check_input
from services.ingress.streaming import EventStream, Renderer, open_event_stream
from shared.messaging.topology import ROUTE_REQUESTS

AUTO = "auto"
UNKNOWN_MODEL = "no such model: use 'auto' or an id from GET /v1/models"


def forced_model(request: Request, model: str) -> str | None:
    """None for "auto", else the catalog id `model` stands for; 404 when there is none."""
    if model == AUTO:
        return None
    forced = ingress(request).catalog.resolve(model)
    if forced is None:
        # Never the name itself: errors do not echo input (it may be huge, or a secret).
        raise ApiError(404, "model_not_found", UNKNOWN_MODEL)
    return forced


def chat_command(
    request: Request,
    messages: list[ChatMessage],
    options: GenerationOptions,
    forced: str | None,
    max_tokens: int,
    stream: bool = False,
) -> tuple[RouteRequest, float]:
    """The RouteRequest for a chat, and how long its caller waits (raises 413/422)."""
    state = ingress(request)
    check_input(state.settings, messages, max_tokens)
    timeout_s = caller_timeout(request, state.settings.request_timeout_s)
    key = caller(request).key
    command = RouteRequest(
        messages=messages,
        max_tokens=max_tokens,
        constraints=constrain(key, RouteConstraints(model=forced)),
        options=options,
        api_key_id=caller(request).api_key_id,
        deadline_at=deadline_after(timeout_s),
        stream=stream,
    )
    return command, timeout_s


async def route_chat(
    request: Request,
    messages: list[ChatMessage],
    options: GenerationOptions,
    forced: str | None,
    max_tokens: int,
) -> tuple[str, dict[str, Any]]:
    """(request id, the router's reply) for a buffered chat; raises ApiError."""
    command, timeout_s = chat_command(request, messages, options, forced, max_tokens)
    await admit(request, command)
    request_id = str(command.request_id)
    payload = await rpc_json(
        ingress(request),
        ROUTE_REQUESTS,
        command,
        timeout_s,
        request_id=request_id,
        cancel_on_timeout=True,
    )
    return request_id, payload


async def stream_chat(
    request: Request,
    messages: list[ChatMessage],
    options: GenerationOptions,
    forced: str | None,
    max_tokens: int,
    renderer: Callable[[str], Renderer],
) -> EventStream:
    """The streamed answer of a chat, in the format `renderer(request_id)` writes."""
    command, timeout_s = chat_command(request, messages, options, forced, max_tokens, stream=True)
    await admit(request, command)
    return await open_event_stream(ingress(request), command, timeout_s, renderer)
