"""Anthropic-compatible `POST /v1/messages`, so the official `anthropic` SDK (and tools built on
it) use us with only a base URL and a key: `Anthropic(base_url="http://host:8000", api_key=K)`.

`model` is "auto" (the router chooses) or a catalog id (`claude-haiku-4-5` forces that model,
falling over only to itself on another provider). Text, images (base64 or URL), tools, tool
results, `system`, `stop_sequences`, `temperature`, `top_p` and `metadata.user_id` are
forwarded; only models that can honour them are chosen. `top_k` and extended thinking are
refused with a 422. `stream: true` answers with Anthropic's server-sent events.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.messages import GenerationOptions, ToolSpec
from services.ingress.anthropic_wire import AnthropicEvents, message_object, to_chat
from services.ingress.chat_call import forced_model, route_chat, stream_chat
from services.ingress.errors import ApiError
from services.ingress.openai_request import invalid
from services.ingress.strict_json import strict_router

router = strict_router(prefix="/v1", tags=["anthropic-compatible"])


class AnthropicMessagesBody(BaseModel):
    """The request of Anthropic's Messages API; unknown fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow", strict=True)
    model: str = Field(min_length=1, description='"auto" or a catalog model id')
    max_tokens: int = Field(ge=1)
    messages: list[dict[str, Any]] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    metadata: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    thinking: dict[str, Any] | None = None
    stream: bool | None = False


@router.post(
    "/messages",
    responses={404: {"description": "unknown model"}, 413: {}, 422: {}, 429: {}, 502: {}, 504: {}},
)
async def create_message(body: AnthropicMessagesBody, request: Request) -> Response:
    """Answer an Anthropic Messages request through the router."""
    if body.top_k is not None:
        raise ApiError(422, "unsupported", "top_k is not supported")
    if body.thinking is not None and body.thinking.get("type") != "disabled":
        raise ApiError(422, "unsupported", "extended thinking is not supported")
    forced = forced_model(request, body.model)
    messages = to_chat(body.system, body.messages)
    if body.stream:
        return await stream_chat(
            request, messages, _options(body), forced, body.max_tokens, AnthropicEvents
        )
    request_id, payload = await route_chat(
        request, messages, _options(body), forced, body.max_tokens
    )
    message = message_object(payload, request_id)
    return JSONResponse(message, headers={"x-request-id": request_id})


def _options(body: AnthropicMessagesBody) -> GenerationOptions:
    user = (body.metadata or {}).get("user_id")
    try:
        return GenerationOptions(
            temperature=body.temperature,
            top_p=body.top_p,
            stop=list(body.stop_sequences or []),
            user=user if isinstance(user, str) else None,
            tools=[_tool(tool, index) for index, tool in enumerate(body.tools or [])],
            tool_choice=_tool_choice(body.tool_choice),
        )
    except ValidationError as exc:
        raise invalid(exc, "body") from None


def _tool(raw: dict[str, Any], index: int) -> ToolSpec:
    if raw.get("type", "custom") != "custom" or "input_schema" not in raw:
        # Server tools (web search, code execution...) run at Anthropic, not in a model.
        raise ApiError(422, "unsupported", f"tools[{index}]: only custom tools with input_schema")
    return ToolSpec(
        name=raw.get("name", ""),
        description=raw.get("description") or "",
        parameters=raw["input_schema"],
    )


def _tool_choice(raw: dict[str, Any] | None) -> str | None:
    if raw is None:
        return None
    kind = raw.get("type")
    if kind == "tool" and isinstance(raw.get("name"), str):
        return str(raw["name"])
    modes = {"auto": "auto", "any": "required", "none": "none"}
    if kind not in modes:
        raise ApiError(422, "invalid_request", "tool_choice.type: auto, any, tool or none")
    return modes[kind]
