"""A small client for producers on the bus: route a prompt and await its answer, rate answers.

    async with OptimizerClient("amqp://guest:guest@127.0.0.1:5672/") as client:
        result = await client.route("What is the capital of France?", max_tokens=64)
        print(result.answer, result.model, result.cost_usd)
        async for part in client.route_stream("Tell me a story."):  # as it is produced
            print(part.delta if isinstance(part, RouteChunk) else part.cost_usd)
        await client.submit_feedback(result.request_id, quality_score=5, is_correct=True)

It speaks the contract of schemas.messages (docs/asyncapi.json) through
shared/messaging/direct.py, the ingress's own RPC on aio-pika: one exclusive reply queue per
client and a future per correlation id, so any number of calls may be in flight at once. The
bus is a trusted boundary: whoever holds broker credentials may publish, so API key limits
(rate, budget) apply at the HTTP ingress, not here; `api_key_id` only attributes requests and
feedback to a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any
from uuid import UUID

from schemas.messages import (
    CancelRequest,
    ChatMessage,
    ErrorReply,
    FeedbackAck,
    RouteChunk,
    RouteConstraints,
    RouteRequest,
    RouteResult,
    RouteStreamEnd,
    SubmitFeedback,
)
from shared.messaging.direct import RpcClient, RpcTimeoutError
from shared.messaging.stream_replies import StreamReplies
from shared.messaging.topology import CANCELS_EXCHANGE, FEEDBACK_SUBMISSIONS, ROUTE_REQUESTS


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

    async def route_stream(
        self,
        prompt: str | list[ChatMessage],
        max_tokens: int = 512,
        constraints: RouteConstraints | None = None,
        api_key_id: str | None = None,
    ) -> AsyncIterator[RouteChunk | RouteStreamEnd]:
        """The answer as the model produces it: RouteChunk messages in `seq` order, then one
        RouteStreamEnd (usage, cost, the decision; `ok` false with `error_kind` on failure,
        `stream_interrupted` when it broke off after some text). Leaving the loop early sends
        a CancelRequest, which stops the provider call. Raises OptimizerError for a malformed
        request and RpcTimeoutError when nothing arrives within `timeout_s`."""
        if not self._connected:
            raise RuntimeError("not connected: use `async with OptimizerClient(...)`")
        messages = [ChatMessage(role="user", content=prompt)] if isinstance(prompt, str) else prompt
        request = RouteRequest(
            messages=messages,
            max_tokens=max_tokens,
            constraints=constraints or RouteConstraints(),
            api_key_id=api_key_id,
            deadline_at=datetime.now(UTC) + timedelta(seconds=self.timeout_s),
            stream=True,
        )
        correlation_id = request.request_id.hex
        queue = await self._rpc.open_stream(
            f"{self.prefix}{ROUTE_REQUESTS}", request, self.timeout_s, correlation_id
        )
        replies = StreamReplies(queue)
        finished = False
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    item = await replies.next()
                    if isinstance(item, RouteChunk):
                        yield item
                        continue
                    finished = True
                    if item.get("ok") is False and "request_id" not in item:
                        error = ErrorReply.model_validate(item)
                        raise OptimizerError(error.error_kind, error.error_message)
                    yield RouteStreamEnd.model_validate(item)
                    return
        except TimeoutError as exc:
            raise RpcTimeoutError(f"the stream did not end within {self.timeout_s:.1f}s") from exc
        finally:
            self._rpc.close_stream(correlation_id)
            if not finished:
                cancel = CancelRequest(request_id=request.request_id, reason="caller_request")
                with contextlib.suppress(Exception):  # the deadline still stops the work
                    await self._rpc.notify(f"{self.prefix}{CANCELS_EXCHANGE}", cancel)

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
