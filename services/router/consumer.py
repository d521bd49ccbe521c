"""The router's hot path on aio-pika directly: consume `route.requests`, publish, reply.

FastStream's per-message stack (context scopes, middlewares, its publisher wrapper) cost about
a third of the router's CPU in a py-spy profile under load, more than classifying, choosing and
calling the provider together. The rest of the router (overrides, heartbeats, RPC to the
learner) stays on FastStream. Acknowledgement is explicit: a handler acks, rejects or raises;
an exception requeues the message and the quorum queue's delivery limit bounds the retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aio_pika
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

from shared.messaging.bus import JSON, PERSISTENT, publish_raw
from shared.messaging.topology import EVENTS_EXCHANGE, Topology
from shared.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[AbstractIncomingMessage], Awaitable[None]]


class DirectConsumer:
    """Consumes one work queue with a prefetch window; drains in-flight messages on stop."""

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
        self._connection = await aio_pika.connect_robust(
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

    async def reply(self, reply_to: str | None, correlation_id: str | None, body: bytes) -> None:
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
            properties=Basic.Properties(content_type=JSON, correlation_id=correlation_id),
        )
