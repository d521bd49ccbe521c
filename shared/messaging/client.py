"""A small client for producers on the bus: route a prompt and await its answer, rate answers.

    async with OptimizerClient("amqp://guest:guest@127.0.0.1:5672/") as client:
        result = await client.route("What is the capital of France?", max_tokens=64)
        print(result.answer, result.model, result.cost_usd)
        await client.submit_feedback(result.request_id, quality_score=5, is_correct=True)

It speaks the contract of schemas/messages.py (docs/asyncapi.json) through
shared/messaging/direct.py, the ingress's own RPC on aio-pika: one exclusive reply queue per
client and a future per correlation id, so any number of calls may be in flight at once. The
bus is a trusted boundary: whoever holds broker credentials may publish, so API key limits
(rate, budget) apply at the HTTP ingress, not here; `api_key_id` only attributes requests and
feedback to a key.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any
from uuid import UUID

from schemas.messages import (
    ChatMessage,
    ErrorReply,
    FeedbackAck,
    RouteConstraints,
    RouteRequest,
    RouteResult,
    SubmitFeedback,
)
from shared.messaging.direct import RpcClient
from shared.messaging.topology import FEEDBACK_SUBMISSIONS, ROUTE_REQUESTS


class OptimizerError(RuntimeError):
    """The service answered with an ErrorReply (malformed message, unknown model, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


class OptimizerClient:
    """Connect with `async with` (or `connect()` / `close()`); then call `route` concurrently."""

    def __init__(self, amqp_url: str, prefix: str = "", timeout_s: float = 60.0) -> None:
        self.amqp_url = amqp_url
        self.prefix = prefix  # the deployment's AMQP_PREFIX
        self.timeout_s = timeout_s
        # The same correlation-id RPC the ingress uses, with a reply queue of this client's own.
        self._rpc = RpcClient(amqp_url, f"{prefix}client.replies.{uuid.uuid4().hex}")
        self._connected = False

    async def connect(self) -> None:
        await self._rpc.start()
        self._connected = True

    async def close(self) -> None:
        if self._connected:
            await self._rpc.stop()
        self._connected = False

    async def __aenter__(self) -> OptimizerClient:
        await self.connect()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def route(
        self,
        prompt: str | list[ChatMessage],
        max_tokens: int = 512,
        constraints: RouteConstraints | None = None,
        api_key_id: str | None = None,
    ) -> RouteResult:
        """Publish a RouteRequest and await its RouteResult. A provider failure is a result
        with `ok=False` and `error_kind`; a malformed request raises OptimizerError."""
        messages = [ChatMessage(role="user", content=prompt)] if isinstance(prompt, str) else prompt
        request = RouteRequest(
            messages=messages,
            max_tokens=max_tokens,
            constraints=constraints or RouteConstraints(),
            api_key_id=api_key_id,
            # Past the time this client waits, no router starts the call (nor pays for it).
            deadline_at=datetime.now(UTC) + timedelta(seconds=self.timeout_s),
        )
        data = await self.call(ROUTE_REQUESTS, request.model_dump_json().encode())
        return RouteResult.model_validate(data)

    async def submit_feedback(
        self,
        request_id: UUID | str,
        quality_score: int,
        is_correct: bool | None = None,
        comment: str | None = None,
        api_key_id: str | None = None,
    ) -> FeedbackAck:
        """Rate an answer; the ack says created, updated or pending (request not stored yet)."""
        feedback = SubmitFeedback(
            request_id=UUID(str(request_id)),
            quality_score=quality_score,
            is_correct=is_correct,
            comment=comment,
            api_key_id=api_key_id,
        )
        data = await self.call(FEEDBACK_SUBMISSIONS, feedback.model_dump_json().encode())
        return FeedbackAck.model_validate(data)

    async def call(self, queue_base: str, body: bytes) -> dict[str, Any]:
        """Publish `body` to a command queue and await the decoded reply."""
        if not self._connected:
            raise RuntimeError("not connected: use `async with OptimizerClient(...)`")
        raw = await self._rpc.call(f"{self.prefix}{queue_base}", body, self.timeout_s)
        data: dict[str, Any] = json.loads(raw)
        if data.get("ok") is False and "request_id" not in data:
            error = ErrorReply.model_validate(data)
            raise OptimizerError(error.error_kind, error.error_message)
        return data
