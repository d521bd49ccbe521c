"""What every worker shares: a broker, topology declared at start, heartbeats, graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from pydantic import BaseModel, ValidationError

from schemas.messages import ErrorReply, ServiceHeartbeat
from shared.messaging.bus import JSON, encode, incoming_correlation_id, reply, validation_summary
from shared.messaging.topology import HEARTBEAT_KEY, Topology, declare_all
from shared.metrics import POISON_MESSAGES, QUEUE_CONSUMERS, QUEUE_DEPTH
from shared.routing.catalog import Catalog
from shared.settings import Settings

log = logging.getLogger(__name__)


def malformed(exc: ValidationError, queue_base: str) -> ErrorReply:
    """The answer to a message that does not validate, counted and logged (never its body).
    The caller dead-letters the message: retrying cannot fix it."""
    POISON_MESSAGES.labels(queue_base).inc()
    log.warning("malformed message on %s dead-lettered", queue_base)
    return ErrorReply(error_kind="invalid_message", error_message=validation_summary(exc))


def instance_id(service: str) -> str:
    """Unique per process: host, pid and a short random suffix."""
    return f"{service}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """Base for a service: subclasses register subscribers in __init__ and extend hooks."""

    name = "worker"

    def __init__(self, settings: Settings, broker: RabbitBroker) -> None:
        self.settings = settings
        self.broker = broker
        self.topology = Topology(settings)
        self.instance = instance_id(self.name)
        self._tasks: list[asyncio.Task[Any]] = []
        self._started = False

    def use_catalog(self, catalog: Catalog) -> None:
        """Install a reloaded catalog (SIGHUP); services without one ignore it."""

    async def on_start(self) -> None:
        """Open resources (pools, clients). Runs before the broker consumes."""

    async def after_start(self) -> None:
        """Runs once the broker consumes (schedulers, background loads)."""

    async def before_stop(self) -> None:
        """Stop consumers of our own (not FastStream's) and drain them. Runs first on stop."""

    async def on_stop(self) -> None:
        """Close resources. Runs after the broker drained in-flight messages."""

    def ready(self) -> bool:
        return self._started

    def watched_queues(self) -> list[str]:
        """Queues whose depth this worker reports as a metric."""
        return []

    def health_details(self) -> dict[str, Any]:
        return {}

    async def start(self) -> None:
        await self.on_start()
        await self.broker.connect()
        await declare_all(self.broker, self.topology)
        await self.broker.start()
        self._started = True
        self.spawn(self._heartbeat_loop())
        if self.watched_queues():
            self.spawn(periodic(self.settings.heartbeat_interval_s, self._measure_queues))
        await self.after_start()
        log.info("service started", extra={"service": self.name})

    async def stop(self) -> None:
        self._started = False
        await self.before_stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # FastStream stops consuming, then waits up to graceful_timeout for handlers in flight.
        await self.broker.stop()
        await self.on_stop()
        log.info("service stopped", extra={"service": self.name})

    async def answer(self, msg: RabbitMessage, message: BaseModel) -> None:
        """Reply to the caller of `msg` (if it gave a reply_to)."""
        raw = msg.raw_message
        await reply(self.broker, raw.reply_to, incoming_correlation_id(raw), message)

    async def reject_malformed(
        self, msg: RabbitMessage, exc: ValidationError, queue_base: str
    ) -> None:
        """Tell the caller why, dead-letter at once (retrying cannot fix it), count it."""
        await self.answer(msg, malformed(exc, queue_base))
        await msg.reject(requeue=False)

    def spawn(self, coro: Awaitable[Any]) -> None:
        self._tasks.append(asyncio.ensure_future(coro))

    async def _measure_queues(self) -> None:
        for name in self.watched_queues():
            queue = await self.broker.declare_queue(RabbitQueue(name, declare=False))
            # A passive declare returns fresh counts; FastStream caches the first answer.
            fresh = await queue.channel.declare_queue(name, passive=True)
            result = fresh.declaration_result
            QUEUE_DEPTH.labels(name).set(result.message_count or 0)
            QUEUE_CONSUMERS.labels(name).set(result.consumer_count or 0)

    async def _heartbeat_loop(self) -> None:
        exchange = self.topology.events()
        while True:
            beat = ServiceHeartbeat(
                service=self.name,
                instance=self.instance,
                ready=self.ready(),
                details=self.health_details(),
            )
            try:
                await self.broker.publish(
                    encode(beat),
                    exchange=exchange,
                    routing_key=f"{HEARTBEAT_KEY}.{self.name}",
                    content_type=JSON,
                    expiration=self.settings.heartbeat_interval_s * 3,
                    mandatory=False,
                )
            except Exception as exc:  # broker away: the robust connection will come back
                log.warning("heartbeat not sent: %s", type(exc).__name__)
            await asyncio.sleep(self.settings.heartbeat_interval_s)


async def periodic(
    interval_s: float, action: Callable[[], Awaitable[object]], first_delay_s: float = 0.0
) -> None:
    """Run `action` every `interval_s` seconds (the first time after `first_delay_s`) until
    cancelled; errors are logged, not fatal."""
    await asyncio.sleep(first_delay_s)
    while True:
        try:
            await action()
        except Exception:
            log.exception("periodic task failed")
        await asyncio.sleep(interval_s)
