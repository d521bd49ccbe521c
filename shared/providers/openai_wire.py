"""Our chat and options in OpenAI's chat-completions shape, and tool calls back out of it.

OpenRouter and self-hosted servers (vLLM, Ollama) speak this shape; the ingress's
OpenAI-compatible endpoint reads the same shape in. Pure functions, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from schemas.messages import ChatMessage, GenerationOptions, ToolCall


def message(m: ChatMessage) -> dict[str, Any]:
    """One message in OpenAI's shape."""
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content}
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.images:
        parts: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
        parts += [{"type": "image_url", "image_url": {"url": image.url}} for image in m.images]
        out["content"] = parts
    if m.tool_calls:
        out["content"] = m.content or None
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in m.tool_calls
        ]
    return out


def options_fields(options: GenerationOptions | None) -> dict[str, Any]:
    """The request fields for `options`; only what is set, so vendor defaults stay."""
    if options is None:
        return {}
    fields: dict[str, Any] = {}
    for name in ("temperature", "top_p", "seed", "user"):
        value = getattr(options, name)
        if value is not None:
            fields[name] = value
    if options.stop:
        fields["stop"] = list(options.stop)
    fmt = options.response_format
    if fmt is not None and fmt.type == "json_object":
        fields["response_format"] = {"type": "json_object"}
    elif fmt is not None and fmt.type == "json_schema":
        schema: dict[str, Any] = {"name": fmt.name, "schema": fmt.json_schema}
        if fmt.strict is not None:
            schema["strict"] = fmt.strict
        fields["response_format"] = {"type": "json_schema", "json_schema": schema}
    if options.tools:
        fields["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            }
            for tool in options.tools
        ]
    choice = options.tool_choice
    if choice in ("auto", "none", "required"):
        fields["tool_choice"] = choice
    elif choice is not None:
        fields["tool_choice"] = {"type": "function", "function": {"name": choice}}
    return fields


def payload(
    model: str,
    messages: Sequence[ChatMessage],
    max_tokens: int,
    options: GenerationOptions | None,
) -> dict[str, Any]:
    """A whole chat-completions request body."""
    return {
        "model": model,
        "messages": [message(m) for m in messages],
        "max_tokens": max_tokens,
        **options_fields(options),
    }


def tool_calls(raw: object) -> tuple[ToolCall, ...] | None:
    """`message.tool_calls` of an answer; None when they are there but unreadable."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        return None
    calls: list[ToolCall] = []
    for index, item in enumerate(raw):
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            return None
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments if arguments is not None else {})
        call_id = item.get("id")
        calls.append(
            ToolCall(
                id=call_id if isinstance(call_id, str) and call_id else f"call_{index}",
                name=function["name"],
                arguments=arguments,
            )
        )
    return tuple(calls)


class StreamReader:
    """Reads a chat.completion.chunk event stream line by line (pure: the caller does I/O).

    `feed(line)` returns each `data:` event as a dict (None for comments, blank lines and
    `[DONE]`); `take(event)` returns the event's text and keeps its finish reason, usage and
    model. After the stream, `text`, `usage`, `finish`, `model` and `done` describe it."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self.usage: dict[str, Any] = {}
        self.finish = "unknown"
        self.model: str | None = None
        self.done = False

    @property
    def text(self) -> str:
        return "".join(self._text)

    def feed(self, line: bytes) -> dict[str, Any] | None:
        """The event on `line`, if it holds one; raises ValueError for unreadable JSON."""
        if not line.startswith(b"data:"):
            return None  # a blank line, an `event:` or a `: comment` keeping the line alive
        data = line[5:].strip()
        if data == b"[DONE]":
            self.done = True
            return None
        event = json.loads(data)
        if not isinstance(event, dict):
            raise ValueError("an event is not a JSON object")
        return event

    def take(self, event: dict[str, Any]) -> str:
        if isinstance(event.get("model"), str) and event["model"]:
            self.model = event["model"]
        if isinstance(event.get("usage"), dict):
            self.usage = event["usage"]
        choices = event.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, dict):
            return ""
        if isinstance(choice.get("finish_reason"), str):
            self.finish = choice["finish_reason"]
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(content, str) and content:
            self._text.append(content)
            return content
        return ""
