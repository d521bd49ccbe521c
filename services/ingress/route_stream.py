"""`stream: true` on `POST /v1/route`: our own server-sent events.

    event: chunk   data: {"seq": 0, "delta": "The", "model": "gemini-2.5-flash"}
    event: chunk   data: {"seq": 1, "delta": " sea"}
    event: end     data: {RouteResponse without `answer`: model, tokens, cost, fallback_path ...}

A failure after the first chunk ends the stream with `event: error` and the same error body
as an HTTP error (`{"error": {"type", "message", "request_id"}}`); before it, the request gets
the buffered route's HTTP error.
"""

from __future__ import annotations

import json
from typing import Any

from services.ingress.errors import ApiError, error_body
from services.ingress.models import RouteResponse

_END_FIELDS = tuple(name for name in RouteResponse.model_fields if name != "answer")


class RouteEvents:
    """services/ingress/streaming.Renderer for /v1/route."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.seq = 0
        self.model: str | None = None

    def opening(self, model: str | None) -> str:
        self.model = model
        return ""

    def piece(self, text: str) -> str:
        data: dict[str, Any] = {"seq": self.seq, "delta": text}
        if self.seq == 0:
            data["model"] = self.model
        self.seq += 1
        return _event("chunk", data)

    def closing(self, end: dict[str, Any]) -> str:
        return _event("end", {name: end.get(name) for name in _END_FIELDS})

    def failure(self, error: ApiError) -> str:
        return _event("error", error_body(error.kind, error.message, **error.extra))


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
