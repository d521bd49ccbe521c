"""Anthropic's Messages format in and out: content blocks to our chat, the reply to a message.

Pure translation, no I/O. Block types: text, image (base64 or URL source), tool_use (assistant),
tool_result (user; becomes our `tool` message). Thinking blocks an agent sends back are model
scaffolding, not content, and are left out; any other block is a 422 naming it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from schemas.messages import BLANK_TEXT, ChatMessage, ImagePart, ToolCall
from services.ingress.errors import ApiError
from services.ingress.openai_request import invalid

_SKIPPED = {"thinking", "redacted_thinking"}
# Our finish reasons (OpenAI's vocabulary) as Anthropic stop reasons.
_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def to_chat(
    system: str | list[dict[str, Any]] | None, messages: list[dict[str, Any]]
) -> list[ChatMessage]:
    """`system` and the turns as our chat messages; 422 naming the turn we cannot take."""
    chat: list[ChatMessage] = []
    system_text = system if isinstance(system, str) else _texts(system or [], "system")
    if system_text.strip():
        chat.append(ChatMessage(role="system", content=system_text))
    for index, turn in enumerate(messages):
        where = f"messages[{index}]"
        role = turn.get("role")
        if role not in ("user", "assistant"):
            raise ApiError(422, "invalid_request", f"{where}.role: user or assistant")
        try:
            chat.extend(_turn(role, turn.get("content"), where))
        except ValidationError as exc:
            raise invalid(exc, where) from None
    return chat


def _turn(role: str, content: Any, where: str) -> list[ChatMessage]:
    if isinstance(content, str):
        if not content.strip():
            raise ApiError(422, "invalid_request", f"{where}.content: {BLANK_TEXT}")
        return [ChatMessage(role=role, content=content)]
    if not isinstance(content, list):
        raise ApiError(422, "invalid_request", f"{where}.content: a string or a list of blocks")
    results: list[ChatMessage] = []
    texts: list[str] = []
    images: list[ImagePart] = []
    calls: list[ToolCall] = []
    for number, block in enumerate(content):
        at = f"{where}.content[{number}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "image" and role == "user":
            images.append(ImagePart(url=_image_url(block.get("source"), at)))
        elif kind == "tool_use" and role == "assistant":
            arguments = json.dumps(block.get("input") or {})
            calls.append(
                ToolCall(id=block.get("id", ""), name=block.get("name", ""), arguments=arguments)
            )
        elif kind == "tool_result" and role == "user":
            results.append(
                ChatMessage(
                    role="tool",
                    tool_call_id=block.get("tool_use_id"),
                    content=_result_text(block.get("content"), at),
                )
            )
        elif kind not in _SKIPPED:
            raise ApiError(422, "unsupported", f"{at}: blocks of this type are not supported")
    text = "\n".join(texts)
    if not (text.strip() or images or calls):
        return results  # a turn of tool results only
    turn = ChatMessage(role=role, content=text, images=images, tool_calls=calls)
    # Results answer the previous assistant turn, so they come before this turn's own text.
    return [*results, turn]


def _texts(blocks: list[dict[str, Any]], where: str) -> str:
    if any(block.get("type") != "text" for block in blocks):
        raise ApiError(422, "unsupported", f"{where}: only text blocks")
    return "\n".join(str(block.get("text", "")) for block in blocks)


def _result_text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        return _texts(content, where)
    raise ApiError(422, "invalid_request", f"{where}.content: a string or text blocks")


def _image_url(source: Any, where: str) -> str:
    if isinstance(source, dict) and source.get("type") == "base64":
        return f"data:{source.get('media_type')};base64,{source.get('data')}"
    if isinstance(source, dict) and source.get("type") == "url":
        return str(source.get("url"))
    raise ApiError(422, "unsupported", f"{where}.source: base64 or url")


def message_object(payload: dict[str, Any], request_id: str) -> dict[str, Any]:
    """An Anthropic `message` from the router's reply, with our cost fields added."""
    content: list[dict[str, Any]] = []
    if payload.get("answer"):
        content.append({"type": "text", "text": payload["answer"]})
    for call in payload.get("tool_calls") or []:
        try:
            arguments = json.loads(call["arguments"])
        except ValueError:
            arguments = {}
        content.append(
            {"type": "tool_use", "id": call["id"], "name": call["name"], "input": arguments}
        )
    finish = (
        "tool_calls" if payload.get("tool_calls") else str(payload.get("finish_reason") or "stop")
    )
    return {
        "id": request_id,
        "type": "message",
        "role": "assistant",
        "model": payload.get("model"),
        "content": content,
        "stop_reason": _STOP.get(finish, "end_turn"),
        "stop_sequence": None,
        "usage": {
            "input_tokens": int(payload.get("tokens_in") or 0),
            "output_tokens": int(payload.get("tokens_out") or 0),
        },
        # Our additions; the SDK keeps fields it does not know.
        "provider": payload.get("provider"),
        "cost_usd": payload.get("cost_usd"),
        "savings_usd": payload.get("savings_usd"),
        "fallback_path": payload.get("fallback_path") or [],
    }


class AnthropicEvents:
    """services/ingress/streaming.Renderer for Anthropic's Messages events: message_start,
    a text block whose deltas are the chunks, the complete tool_use blocks (a request with
    tools is answered whole), message_delta (stop reason, usage), message_stop. A failure
    after the first text is an `error` event, which the anthropic SDK raises."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id

    def opening(self, model: str | None) -> str:
        start: dict[str, Any] = {
            "id": self.request_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # Known at the end only; message_delta carries both counts.
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        text_block = {"type": "text", "text": ""}
        return _event("message_start", {"type": "message_start", "message": start}) + _event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": text_block},
        )

    def piece(self, text: str) -> str:
        delta = {"type": "text_delta", "text": text}
        return _event(
            "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
        )

    def closing(self, end: dict[str, Any]) -> str:
        message = message_object({**end, "answer": None}, self.request_id)
        events = _event("content_block_stop", {"type": "content_block_stop", "index": 0})
        for index, block in enumerate(message["content"], start=1):
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            events += (
                _event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {**block, "input": {}},
                    },
                )
                + _event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
                + _event("content_block_stop", {"type": "content_block_stop", "index": index})
            )
        final = {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": message["usage"],
        }
        return (
            events
            + _event("message_delta", final)
            + _event("message_stop", {"type": "message_stop"})
        )

    def failure(self, error: ApiError) -> str:
        body = {"type": error.kind, "message": error.message, **error.extra}
        return _event("error", {"type": "error", "error": body})


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
