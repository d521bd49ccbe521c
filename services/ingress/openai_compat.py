"""OpenAI-compatible endpoints: `POST /v1/chat/completions` and `GET /v1/models`.

Any OpenAI client works unchanged with `base_url=http://host:8000/v1` and one of our API keys:
`model: "auto"` lets the router choose, a catalog model id forces that model. The completion's
`id` is our `request_id` (also in the `x-request-id` header), the id to send feedback for.
Sampling and output controls, tools and images are forwarded (openai_request.py) and only
models that can honour them are chosen; what none can (n > 1, logprobs, penalties...) is refused
with a 422 naming it. `stream: true` is served as server-sent events.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from services.ingress.bus_calls import ingress
from services.ingress.caller import caller
from services.ingress.chat_call import AUTO, UNKNOWN_MODEL, forced_model, route_chat
from services.ingress.errors import ApiError
from services.ingress.key_rules import may_use
from services.ingress.openai_request import refuse_unsupported, to_chat, to_options
from services.ingress.strict_json import strict_router

router = strict_router(prefix="/v1", tags=["openai-compatible"])

DEFAULT_MAX_TOKENS = 512
_CREATED = 1_700_000_000  # catalog models carry no creation date; any fixed time will do

# Vendors' stop reasons as OpenAI names them.
_FINISH = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "safety": "content_filter",
    "content_filter": "content_filter",
    "recitation": "content_filter",
    "tool_calls": "tool_calls",
}


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


def completion_object(payload: dict[str, Any], request_id: str, created: int) -> dict[str, Any]:
    """A `chat.completion` from the router's reply."""
    tokens_in = int(payload.get("tokens_in") or 0)
    tokens_out = int(payload.get("tokens_out") or 0)
    reason = str(payload.get("finish_reason") or "stop").lower()
    message: dict[str, Any] = {"role": "assistant", "content": payload.get("answer") or ""}
    calls = payload.get("tool_calls") or []
    if calls:
        message["content"] = payload.get("answer") or None
        message["tool_calls"] = [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": call["arguments"]},
            }
            for call in calls
        ]
        reason = "tool_calls"
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": created,
        "model": payload.get("model"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _FINISH.get(reason, "stop"),
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": tokens_in,
            "completion_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        },
        "system_fingerprint": None,
        # Our additions; OpenAI clients ignore fields they do not know.
        "provider": payload.get("provider"),
        "cost_usd": payload.get("cost_usd"),
        "savings_usd": payload.get("savings_usd"),
        "pattern": payload.get("pattern"),
        "fallback_path": payload.get("fallback_path") or [],
    }


def stream_events(completion: dict[str, Any], include_usage: bool) -> list[str]:
    """The completion as `chat.completion.chunk` server-sent events, ending with [DONE]."""
    base = {k: completion[k] for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"
    choice = completion["choices"][0]
    content = {"role": "assistant", "content": choice["message"]["content"]}
    calls = choice["message"].get("tool_calls")
    if calls:
        # Tool-call deltas as OpenAI streams them: each call whole, with its index.
        content["tool_calls"] = [{"index": i, **call} for i, call in enumerate(calls)]
    chunks: list[dict[str, Any]] = [
        {**base, "choices": [{"index": 0, "delta": content, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]},
    ]
    if include_usage:
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    return [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks] + ["data: [DONE]\n\n"]


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
    request_id, payload = await route_chat(request, messages, options, forced, max_tokens)
    completion = completion_object(payload, request_id, int(time.time()))
    headers = {"x-request-id": request_id}
    if body.stream:
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        events = stream_events(completion, include_usage)

        async def send() -> AsyncIterator[str]:
            for event in events:
                yield event

        return StreamingResponse(send(), media_type="text/event-stream", headers=headers)
    return JSONResponse(completion, headers=headers)


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
