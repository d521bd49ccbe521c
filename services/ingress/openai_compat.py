"""OpenAI-compatible endpoints: `POST /v1/chat/completions` and `GET /v1/models`.

Any OpenAI client works unchanged with `base_url=http://host:8000/v1` and one of our API keys:
`model: "auto"` lets the router choose, a catalog model id forces that model. The completion's
`id` is our `request_id` (also in the `x-request-id` header), the id to send feedback for.
Sampling and output controls, tools and images are forwarded (openai_request.py) and only
models that can honour them are chosen; what none can (n > 1, logprobs, penalties...) is refused
with a 422 naming it. `stream: true` is served as server-sent events.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.ingress.bus_calls import ingress
from services.ingress.caller import caller
from services.ingress.chat_call import AUTO, UNKNOWN_MODEL, forced_model, route_chat, stream_chat
from services.ingress.errors import ApiError
from services.ingress.key_rules import may_use
from services.ingress.openai_answer import OpenAIChunks, completion_object
from services.ingress.openai_request import refuse_unsupported, to_chat, to_options
from services.ingress.strict_json import strict_router

router = strict_router(prefix="/v1", tags=["openai-compatible"])

DEFAULT_MAX_TOKENS = 512
_CREATED = 1_700_000_000  # catalog models carry no creation date; any fixed time will do


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    type: str
    text: str | None = None


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None


class ChatCompletionBody(BaseModel):
    """The request of OpenAI's chat completions API; unknown fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow", strict=True)
    model: str = Field(min_length=1, description='"auto" or a catalog model id (GET /v1/models)')
    messages: list[OpenAIMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1, description="only 1 is supported")
    stream: bool | None = False
    stream_options: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    user: str | None = None
    response_format: dict[str, Any] | None = None
    tools: list[Any] | None = None
    tool_choice: str | dict[str, Any] | None = None


@router.post(
    "/chat/completions",
    responses={404: {"description": "unknown model"}, 413: {}, 422: {}, 429: {}, 502: {}, 504: {}},
)
async def chat_completions(body: ChatCompletionBody, request: Request) -> Any:
    """Answer an OpenAI chat completion request through the router."""
    return await answer(request, body)


async def answer(request: Request, body: ChatCompletionBody) -> Response:
    """The route's work once the key is checked and the body is valid; raises ApiError.

    Also called by services/ingress/fast_lane.py, which serves this route in the common case.
    """
    refuse_unsupported(body.model_extra, body.n)
    forced = forced_model(request, body.model)
    messages = to_chat(body.messages)
    options = to_options(body)
    max_tokens = body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_TOKENS
    if body.stream:
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        return await stream_chat(
            request,
            messages,
            options,
            forced,
            max_tokens,
            lambda request_id: OpenAIChunks(request_id, include_usage),
        )
    request_id, payload = await route_chat(request, messages, options, forced, max_tokens)
    completion = completion_object(payload, request_id, int(time.time()))
    return JSONResponse(completion, headers={"x-request-id": request_id})


def _model_entry(model_id: str, owner: str, available: bool) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": _CREATED,
        "owned_by": owner,
        "available": available,
    }


def _models(request: Request) -> list[dict[str, Any]]:
    state = ingress(request)
    live = {*state.settings.configured_providers(), "simulated"}
    key = caller(request).key
    entries = [_model_entry(AUTO, "ai-cost-optimizer", True)]
    entries += [
        _model_entry(m.id, m.provider, m.provider in live)
        for m in state.catalog.models
        if may_use(key, m)
    ]
    return entries


@router.get("/models")
async def list_models(request: Request) -> dict[str, Any]:
    """`auto` (the router chooses) and the catalog models the calling key may use;
    `available` says whether its provider is configured in this deployment."""
    return {"object": "list", "data": _models(request)}


@router.get("/models/{model_id:path}", responses={404: {"description": "unknown model"}})
async def get_model(model_id: str, request: Request) -> dict[str, Any]:
    """One model of GET /v1/models."""
    for entry in _models(request):
        if entry["id"] == model_id:
            return entry
    raise ApiError(404, "model_not_found", UNKNOWN_MODEL)
