"""An OpenAI chat-completions request in our terms: messages, generation options, refusals.

What a model can honour is forwarded (sampling, stop, seed, user, JSON output, tools and tool
results, images as URL or base64 content parts); the policy then picks only models that can.
What no model behind us honours is refused with a 422 naming the field, never silently dropped.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from schemas.errors import describe
from schemas.messages import (
    BLANK_TEXT,
    ChatMessage,
    GenerationOptions,
    ImagePart,
    ResponseFormat,
    ToolCall,
    ToolSpec,
)
from services.ingress.errors import ApiError

# Fields of OpenAI's API we cannot honour; a value other than these defaults gets a 422.
_UNSUPPORTED: dict[str, tuple[object, ...]] = {
    "presence_penalty": (None, 0, 0.0),
    "frequency_penalty": (None, 0, 0.0),
    "logit_bias": (None, {}),
    "logprobs": (None, False),
    "top_logprobs": (None, 0),
    "functions": (None, []),
    "function_call": (None,),
    "audio": (None,),
    "modalities": (None, ["text"]),
    "prediction": (None,),
    "web_search_options": (None,),
    "parallel_tool_calls": (None, True),
}


def invalid(exc: ValidationError, where: str) -> ApiError:
    """A 422 naming the fields; never their values (they may be prompt text)."""
    fields = describe(exc.errors(include_url=False))
    summary = "; ".join(f"{where}.{f['field']}: {f['message']}" for f in fields[:5])
    return ApiError(422, "invalid_request", summary)


def refuse_unsupported(extra: dict[str, Any] | None, n: int | None) -> None:
    """422 for `n` > 1 and for any field of `_UNSUPPORTED` set to a non-default value."""
    if n is not None and n > 1:
        raise ApiError(422, "unsupported", "n > 1 is not supported: send n requests instead")
    for name, defaults in _UNSUPPORTED.items():
        value = (extra or {}).get(name)
        if not any(value == default and type(value) is type(default) for default in defaults):
            raise ApiError(422, "unsupported", f"{name} is not supported")


def to_chat(messages: list[Any]) -> list[ChatMessage]:
    """OpenAI messages (roles, text and image parts, tool calls and results) as ours."""
    chat: list[ChatMessage] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        extra = message.model_extra or {}
        if message.role == "function":
            raise ApiError(
                422, "unsupported", f"{where}: function messages are deprecated; use tool"
            )
        text, images = _content(message.content, where)
        role = "system" if message.role == "developer" else message.role
        if role in ("system", "user") and not images and not text.strip():
            raise ApiError(422, "invalid_request", f"{where}.content: {BLANK_TEXT}")
        try:
            chat.append(
                ChatMessage(
                    role=role,
                    content=text,
                    images=images,
                    tool_calls=_tool_calls(extra.get("tool_calls"), where),
                    tool_call_id=extra.get("tool_call_id"),
                )
            )
        except ValidationError as exc:
            raise invalid(exc, where) from None
    return chat


def _content(content: Any, where: str) -> tuple[str, list[ImagePart]]:
    if content is None or isinstance(content, str):
        return content or "", []
    texts: list[str] = []
    images: list[ImagePart] = []
    for number, part in enumerate(content):
        if part.type == "text":
            texts.append(part.text or "")
        elif part.type == "image_url":
            image = (part.model_extra or {}).get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            try:
                images.append(ImagePart(url=url))
            except ValidationError as exc:
                raise invalid(exc, f"{where}.content[{number}].image_url") from None
        else:
            raise ApiError(
                422, "unsupported", f"{where}.content[{number}]: only text and image_url parts"
            )
    return "\n".join(texts), images


def _tool_calls(raw: Any, where: str) -> list[ToolCall]:
    if raw is None:
        return []
    calls: list[ToolCall] = []
    try:
        for item in raw:
            function = item["function"]
            calls.append(
                ToolCall(id=item["id"], name=function["name"], arguments=function["arguments"])
            )
    except (TypeError, KeyError):
        raise ApiError(
            422, "invalid_request", f"{where}.tool_calls: each needs id and function name/arguments"
        ) from None
    except ValidationError as exc:
        raise invalid(exc, f"{where}.tool_calls") from None
    return calls


def to_options(body: Any) -> GenerationOptions:
    """The body's sampling, output and tool fields as GenerationOptions (422 when invalid)."""
    stop = body.stop
    try:
        return GenerationOptions(
            temperature=body.temperature,
            top_p=body.top_p,
            stop=[stop] if isinstance(stop, str) else list(stop or []),
            seed=body.seed,
            user=body.user,
            response_format=_response_format(body.response_format),
            tools=[_tool(tool) for tool in body.tools or []],
            tool_choice=_tool_choice(body.tool_choice),
        )
    except ValidationError as exc:
        raise invalid(exc, "body") from None


def _response_format(raw: dict[str, Any] | None) -> ResponseFormat | None:
    if raw is None:
        return None
    schema = raw.get("json_schema")
    if raw.get("type") == "json_schema":
        if not isinstance(schema, dict):
            raise ApiError(422, "invalid_request", "response_format.json_schema: an object")
        return ResponseFormat(
            type="json_schema",
            name=schema.get("name", "response"),
            json_schema=schema.get("schema", {"type": "object"}),
            strict=schema.get("strict"),
        )
    return ResponseFormat(type=raw.get("type", "text"))


def _tool(raw: Any) -> ToolSpec:
    function = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(function, dict) or raw.get("type", "function") != "function":
        raise ApiError(422, "invalid_request", "tools: each is {type: function, function: {...}}")
    return ToolSpec(
        name=function.get("name", ""),
        description=function.get("description") or "",
        parameters=function.get("parameters") or {"type": "object", "properties": {}},
    )


def _tool_choice(raw: Any) -> str | None:
    if raw is None or isinstance(raw, str):
        return raw
    function = raw.get("function") if isinstance(raw, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise ApiError(422, "invalid_request", "tool_choice: a mode or {type: function, ...}")
    return name
