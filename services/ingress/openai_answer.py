"""The router's answer in OpenAI's chat completions shape: whole, or streamed as
`chat.completion.chunk` events (`stream: true`).

In a stream, the first event carries the role and the model, then one content delta per
RouteChunk, then the model's complete tool calls (a request with tools is answered whole),
the finish reason, the usage chunk when `stream_options.include_usage` asked for it (with our
cost fields), and `[DONE]`. A failure after the first text is an event `{"error": {...}}`,
which the openai SDKs raise as `APIError`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from services.ingress.errors import ApiError, error_body

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


class OpenAIChunks:
    """services/ingress/streaming.Renderer for the OpenAI chat completions format."""

    def __init__(self, request_id: str, include_usage: bool) -> None:
        self.request_id = request_id
        self.include_usage = include_usage
        self.created = int(time.time())
        self.model: str | None = None

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> str:
        chunk = {
            "id": self.request_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return _data(chunk)

    def opening(self, model: str | None) -> str:
        self.model = model
        return self._chunk({"role": "assistant", "content": ""})

    def piece(self, text: str) -> str:
        return self._chunk({"content": text})

    def closing(self, end: dict[str, Any]) -> str:
        completion = completion_object(end, self.request_id, self.created)
        self.model = completion["model"] or self.model
        choice = completion["choices"][0]
        events = ""
        calls = choice["message"].get("tool_calls")
        if calls:
            # Tool-call deltas as OpenAI streams them: each call whole, with its index.
            events += self._chunk({"tool_calls": [{"index": i, **c} for i, c in enumerate(calls)]})
        events += self._chunk({}, choice["finish_reason"])
        if self.include_usage:
            usage = {
                "id": self.request_id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": completion["usage"],
                # Our additions, as on a buffered completion.
                **{k: completion[k] for k in ("provider", "cost_usd", "savings_usd", "pattern")},
            }
            events += _data(usage)
        return events + "data: [DONE]\n\n"

    def failure(self, error: ApiError) -> str:
        return _data(error_body(error.kind, error.message, **error.extra))


def _data(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"
