"""Request/reply over RabbitMQ with a correlation-id map, safe for many concurrent callers.

FastStream's `broker.request()` holds a broker-wide lock for the whole round trip, so
concurrent callers serialise (9 req/s against 423 req/s measured). Here each process owns one
exclusive reply queue; every call registers a future under a fresh correlation id and the
reply consumer resolves it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from faststream.middlewares import AckPolicy
from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from pydantic import BaseModel

from shared.bus import JSON, encode


class RpcTimeoutError(TimeoutError):
    """No reply arrived within the timeout."""


class RpcClient:
    """Register with `attach()` before the broker starts; then `call()` from anywhere."""

    def __init__(self, broker: RabbitBroker, reply_queue: str) -> None:
        self._broker = broker
        self.reply_queue = reply_queue
        self._pending: dict[str, asyncio.Future[bytes]] = {}

    def attach(self) -> None:
        # Exclusive + auto-delete: the queue dies with this process's connection and the
        # robust connection re-declares it, under the same name, after a reconnect.
        queue = RabbitQueue(self.reply_queue, exclusive=True, auto_delete=True, durable=False)

        @self._broker.subscriber(queue, no_reply=True, ack_policy=AckPolicy.ACK_FIRST)
        async def _on_reply(msg: RabbitMessage) -> None:
            correlation_id = msg.raw_message.correlation_id
            future = self._pending.get(str(correlation_id)) if correlation_id else None
            if future is not None and not future.done():
                future.set_result(msg.body)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def call(
        self,
        queue: str,
        message: BaseModel | bytes,
        timeout: float,
        headers: dict[str, Any] | None = None,
        correlation_id: str | None = None,
    ) -> bytes:
        """Publish to `queue` and wait for the raw reply body. Raises RpcTimeoutError."""
        correlation_id = correlation_id or uuid.uuid4().hex
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        body = message if isinstance(message, bytes) else encode(message)
        try:
            await self._broker.publish(
                body,
                queue=queue,
                reply_to=self.reply_queue,
                correlation_id=correlation_id,
                content_type=JSON,
                headers=headers,
                # A request nobody picked up in time is dropped by the broker, not answered late.
                expiration=timeout,
                persist=True,
            )
            return await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise RpcTimeoutError(f"no reply from {queue} within {timeout:.1f}s") from exc
        finally:
            self._pending.pop(correlation_id, None)
