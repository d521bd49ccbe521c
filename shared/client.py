"""A small client for producers on the bus: route a prompt and await its answer, rate answers.

    async with OptimizerClient("amqp://guest:guest@127.0.0.1:5672/") as client:
        result = await client.route("What is the capital of France?", max_tokens=64)
        print(result.answer, result.model, result.cost_usd)
        await client.submit_feedback(result.request_id, quality_score=5, is_correct=True)

It speaks the contract of schemas/messages.py (docs/asyncapi.json) with aio-pika alone: one
exclusive reply queue per client and a future per correlation id, so any number of calls may
be in flight at once. The bus is a trusted boundary: whoever holds broker credentials may
publish, so API key limits (rate, budget) apply at the HTTP ingress, not here; `api_key_id`
only attributes requests and feedback to a key.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from types import TracebackType
from typing import Any
from uuid import UUID

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection

from schemas.messages import (
    ChatMessage,
    ErrorReply,
    FeedbackAck,
    RouteConstraints,
    RouteRequest,
    RouteResult,
    SubmitFeedback,
)
from shared.topology import FEEDBACK_SUBMISSIONS, ROUTE_REQUESTS

JSON = "application/json"


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
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._reply_queue = ""
        self._pending: dict[str, asyncio.Future[bytes]] = {}

    async def connect(self) -> None:
        self._connection = await aio_pika.connect_robust(self.amqp_url)
        self._channel = await self._connection.channel(publisher_confirms=True)
        # Server-named, exclusive, auto-delete: the queue lives exactly as long as this client.
        queue = await self._channel.declare_queue("", exclusive=True, auto_delete=True)
        self._reply_queue = queue.name
        await queue.consume(self._on_reply, no_ack=True)

    async def close(self) -> None:
        for future in self._pending.values():
            future.cancel()
        if self._connection is not None:
            await self._connection.close()
        self._connection = self._channel = None

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
        if self._channel is None:
            raise RuntimeError("not connected: use `async with OptimizerClient(...)`")
        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        try:
            await self._channel.default_exchange.publish(
                aio_pika.Message(
                    body,
                    content_type=JSON,
                    correlation_id=correlation_id,
                    reply_to=self._reply_queue,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    # Not picked up in time: dropped by the broker rather than answered late.
                    expiration=self.timeout_s,
                ),
                routing_key=f"{self.prefix}{queue_base}",
            )
            raw = await asyncio.wait_for(future, self.timeout_s)
        finally:
            self._pending.pop(correlation_id, None)
        data: dict[str, Any] = json.loads(raw)
        if data.get("ok") is False and "request_id" not in data:
            error = ErrorReply.model_validate(data)
            raise OptimizerError(error.error_kind, error.error_message)
        return data

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._pending.get(message.correlation_id or "")
        if future is not None and not future.done():
            future.set_result(message.body)
