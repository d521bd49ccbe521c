"""Every place where we talk to RabbitMQ beneath FastStream, and why. Everything else uses it.

Profiles under load (py-spy) showed FastStream's per-message stack (context scopes, middlewares,
its publisher wrapper) and aio-pika's Message objects costing more CPU than the work itself on
the three hot paths, so those three run on aio-pika / aiormq directly:

- `publish_raw`: a publish on the aiormq channel underneath an aio-pika channel, with prebuilt
  properties (the router's replies and completion events, the ingress's requests);
- `DirectConsumer`: the router's consumer of `route.requests` (about a third of the router's CPU
  was FastStream's); explicit acks, a prefetch window, a drain on stop;
- `RpcClient`: request/reply with a correlation-id map. FastStream's `broker.request()` holds a
  broker-wide lock for the whole round trip, so concurrent callers serialise (9 req/s against
  423 req/s measured), and its reply consumer had the same per-message cost.

The topology is still declared through FastStream (`topology.py`); these only consume and
publish on it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from pamqp.commands import Basic
from pydantic import BaseModel

from shared.messaging import cluster
from shared.messaging.bus import JSON, encode
from shared.messaging.topology import EVENTS_EXCHANGE, Topology
from shared.settings import Settings

log = logging.getLogger(__name__)

# AMQP delivery mode 2: the broker writes the message to disk (survives its restart).
PERSISTENT = 2


async def publish_raw(
    channel: AbstractChannel,
    body: bytes,
    routing_key: str,
    properties: Basic.Properties,
    exchange: str = "",
) -> None:
    """The hot paths' publish: on the aiormq channel underneath an aio-pika channel.

    aio-pika's Message validates and converts every property on each publish, which showed in
    the router's and the ingress's profiles. `wait=False`: aiormq holds the channel's lock
    until the writer has put the frame on the socket, so waiting queued every concurrent
    publish behind the one before it. Frames still leave in order (one connection, one
    writer), and on a channel with publisher confirms this returns once the broker confirmed
    (raises if it refused). Not mandatory: an unroutable message is dropped by the broker.
    """
    raw = cast(aiormq.Channel, await channel.get_underlay_channel())
    await raw.basic_publish(
        body, wait=False, exchange=exchange, routing_key=routing_key, properties=properties
    )


Handler = Callable[[AbstractIncomingMessage], Awaitable[None]]


class DirectConsumer:
    """The router's consumer: one work queue, a prefetch window, a drain of in-flight on stop."""

    def __init__(self, settings: Settings, queue_base: str, prefetch: int) -> None:
        self._settings = settings
        self._queue_name = settings.name(queue_base)
        self._prefetch = prefetch
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._reply_channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._events: AbstractExchange | None = None
        self._consumer_tag: str | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def consuming(self) -> bool:
        return (
            self._consumer_tag is not None
            and self._connection is not None
            and (not self._connection.is_closed)
        )

    async def start(self, handler: Handler) -> None:
        """Connect and consume; the queue and exchanges must already be declared."""
        self._connection = await cluster.connect(
            self._settings.rabbitmq_url, reconnect_interval=1.0
        )
        channel = await self._connection.channel(publisher_confirms=True)
        assert isinstance(channel, AbstractRobustChannel)
        self._channel = channel
        await channel.set_qos(prefetch_count=self._prefetch)
        self._events = await channel.get_exchange(self._settings.name(EVENTS_EXCHANGE))
        # Replies go out unconfirmed: the caller hears them or times out either way; only the
        # completion event, which must never be lost, waits for the broker's confirm.
        self._reply_channel = await self._connection.channel(publisher_confirms=False)
        arguments = Topology(self._settings).work_queue_arguments(self._queue_name)
        self._queue = await channel.declare_queue(
            self._queue_name, durable=True, arguments=arguments
        )

        async def guarded(message: AbstractIncomingMessage) -> None:
            self._in_flight += 1
            self._idle.clear()
            try:
                await handler(message)
            except Exception:
                log.exception("route request failed; requeued")
                if not message.processed:
                    await message.nack(requeue=True)
            finally:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle.set()

        self._consumer_tag = await self._queue.consume(guarded)

    async def stop(self, drain_timeout_s: float) -> None:
        """Stop taking messages, let the ones held finish (or requeue them), close."""
        if self._queue is not None and self._consumer_tag is not None:
            try:
                await self._queue.cancel(self._consumer_tag)
            except Exception as exc:  # connection already gone: the broker requeues for us
                log.warning("cancel consumer: %s", type(exc).__name__)
            self._consumer_tag = None
        try:
            await asyncio.wait_for(self._idle.wait(), drain_timeout_s)
        except TimeoutError:
            log.warning(
                "%d messages still in flight at shutdown; the broker requeues them", self._in_flight
            )
        if self._connection is not None:
            await self._connection.close()
        self._connection = self._channel = self._reply_channel = None

    async def publish_event(self, body: bytes, routing_key: str, message_id: str) -> None:
        """Publish on the events exchange; returns once the broker confirmed, raises if not."""
        if self._channel is None or self._events is None:
            raise aiormq.exceptions.ChannelInvalidStateError("the consumer is not started")
        await publish_raw(
            self._channel,
            body,
            exchange=self._events.name,
            routing_key=routing_key,
            properties=Basic.Properties(
                content_type=JSON, message_id=message_id, delivery_mode=PERSISTENT
            ),
        )

    async def reply(
        self, reply_to: str | None, correlation_id: str | None, body: bytes, kind: str | None = None
    ) -> None:
        """Answer on the caller's queue; a caller without reply_to gets nothing.

        A reply queue that vanished (caller gone) is not our failure. The ack that follows is
        written after this frame, so a reply lost with the connection means a redelivery.
        """
        if not reply_to or self._reply_channel is None:
            return
        await publish_raw(
            self._reply_channel,
            body,
            routing_key=reply_to,
            # `kind` (AMQP `type`): "chunk" / "end" on a streamed request's replies.
            properties=Basic.Properties(
                content_type=JSON, correlation_id=correlation_id, message_type=kind
            ),
        )


# ---- request/reply -------------------------------------------------------------------------
# Each process owns one exclusive reply queue; every call registers a future under a fresh
# correlation id and the reply consumer resolves it. On a connection of its own.


class RpcTimeoutError(TimeoutError):
    """No reply arrived within the timeout."""


class RpcNotReadyError(ConnectionError):
    """The client is not connected (not started yet, or stopped)."""


class RpcClient:
    """`await start()` in the lifespan, then `call()` from anywhere; `await stop()` at the end."""

    def __init__(self, amqp_url: str, reply_queue: str) -> None:
        self._url = amqp_url
        self.reply_queue = reply_queue
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        # Streamed calls: every reply carrying the correlation id goes to its queue, in order.
        self._streams: dict[str, asyncio.Queue[AbstractIncomingMessage]] = {}
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None

    async def start(self) -> None:
        self._connection = await cluster.connect(self._url, reconnect_interval=1.0)
        # No publisher confirms on this channel: a request the broker lost shows up as the
        # caller's timeout anyway, and waiting for a confirm cost a broker round trip (with a
        # quorum-queue fsync) on every call.
        channel = await self._connection.channel(publisher_confirms=False)
        assert isinstance(channel, AbstractRobustChannel)
        self._channel = channel
        # Exclusive + auto-delete: the queue dies with this connection; the robust connection
        # declares it again, under the same name, after a reconnect.
        queue = await channel.declare_queue(self.reply_queue, exclusive=True, auto_delete=True)
        await queue.consume(self._on_reply, no_ack=True)

    async def stop(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RpcNotReadyError("the client is stopping"))
        self._streams.clear()
        if self._connection is not None:
            await self._connection.close()
        self._connection = self._channel = None

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        correlation_id = message.correlation_id
        if correlation_id and (stream := self._streams.get(correlation_id)) is not None:
            stream.put_nowait(message)
            return
        future = self._pending.get(correlation_id) if correlation_id else None
        if future is not None and not future.done():
            future.set_result(message.body)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    async def notify(self, exchange: str, message: BaseModel) -> None:
        """Publish a one-way message on an exchange (e.g. a CancelRequest on the fanout)."""
        if self._channel is None:
            raise RpcNotReadyError("the RPC client is not started")
        await publish_raw(
            self._channel,
            encode(message),
            exchange=exchange,
            routing_key="",
            properties=Basic.Properties(content_type=JSON),
        )

    async def open_stream(
        self, queue: str, message: BaseModel, timeout: float, correlation_id: str
    ) -> asyncio.Queue[AbstractIncomingMessage]:
        """Publish a streamed request; its replies arrive on the returned queue until
        `close_stream(correlation_id)`. The request expires in the queue after `timeout`."""
        if self._channel is None:
            raise RpcNotReadyError("the RPC client is not started")
        replies: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._streams[correlation_id] = replies
        try:
            await publish_raw(
                self._channel,
                encode(message),
                routing_key=queue,
                properties=self._request_properties(correlation_id, None, timeout),
            )
        except BaseException:
            self._streams.pop(correlation_id, None)
            raise
        return replies

    def close_stream(self, correlation_id: str) -> None:
        self._streams.pop(correlation_id, None)

    def _request_properties(
        self, correlation_id: str, headers: dict[str, Any] | None, timeout: float
    ) -> Basic.Properties:
        return Basic.Properties(
            content_type=JSON,
            correlation_id=correlation_id,
            reply_to=self.reply_queue,
            headers=headers or {},
            delivery_mode=PERSISTENT,
            # A request nobody picked up in time is dropped, not answered late.
            expiration=str(max(1, int(timeout * 1000))),
        )

    async def call(
        self,
        queue: str,
        message: BaseModel | bytes,
        timeout: float,
        headers: dict[str, Any] | None = None,
        correlation_id: str | None = None,
    ) -> bytes:
        """Publish to `queue` and wait for the raw reply body. Raises RpcTimeoutError."""
        if self._channel is None:
            raise RpcNotReadyError("the RPC client is not started")
        correlation_id = correlation_id or uuid.uuid4().hex
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        body = message if isinstance(message, bytes) else encode(message)
        try:
            async with asyncio.timeout(timeout):
                await publish_raw(
                    self._channel,
                    body,
                    routing_key=queue,
                    properties=self._request_properties(correlation_id, headers, timeout),
                )
                return await future
        except TimeoutError as exc:
            raise RpcTimeoutError(f"no reply from {queue} within {timeout:.1f}s") from exc
        finally:
            self._pending.pop(correlation_id, None)
