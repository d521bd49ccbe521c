"""RabbitMQ names and declarations: one place that says which queues and exchanges exist.

Work queues are durable quorum queues with an explicit delivery limit and a dead-letter
exchange, so a poison message ends in `<queue>.dead` after N deliveries instead of looping.
Services declare what they use at start; declarations are idempotent.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

from shared.settings import Settings

# Base names; `Settings.name()` prefixes them with AMQP_PREFIX.
ROUTE_REQUESTS = "route.requests"
FEEDBACK_COMPLETIONS = "feedback.completions"
FEEDBACK_SUBMISSIONS = "feedback.submissions"
FEEDBACK_QUERIES = "feedback.queries"
LEARNER_COMMANDS = "learner.commands"
WORK_QUEUES = (
    ROUTE_REQUESTS,
    FEEDBACK_COMPLETIONS,
    FEEDBACK_SUBMISSIONS,
    FEEDBACK_QUERIES,
    LEARNER_COMMANDS,
)

EVENTS_EXCHANGE = "optimizer.events"  # topic
OVERRIDES_EXCHANGE = "optimizer.overrides"  # fanout
# AMQP `type` of a QualityModelPublished on the overrides fanout (OverridesPublished has none).
QUALITY_MODEL_TYPE = "QualityModelPublished"
CANCELS_EXCHANGE = "optimizer.cancels"  # fanout: CancelRequest to every router
DEAD_LETTER_EXCHANGE = "optimizer.dlx"  # direct, routing key = "<queue>.dead"

ROUTE_COMPLETED_KEY = "route.completed"
ROUTE_COMPLETED_BATCH_KEY = "route.completed.batch"  # RouteCompletedBatch
HEARTBEAT_KEY = "service.heartbeat"
CATALOG_RELOAD_KEY = "catalog.reload"  # ReloadCatalog to every router and ingress


@dataclass(frozen=True)
class Topology:
    """Declarable objects for one deployment namespace."""

    settings: Settings

    def events(self) -> RabbitExchange:
        return RabbitExchange(self.settings.name(EVENTS_EXCHANGE), type=ExchangeType.TOPIC)

    def overrides(self) -> RabbitExchange:
        return RabbitExchange(self.settings.name(OVERRIDES_EXCHANGE), type=ExchangeType.FANOUT)

    def cancels(self) -> RabbitExchange:
        return RabbitExchange(self.settings.name(CANCELS_EXCHANGE), type=ExchangeType.FANOUT)

    def dead_letters(self) -> RabbitExchange:
        return RabbitExchange(self.settings.name(DEAD_LETTER_EXCHANGE), type=ExchangeType.DIRECT)

    def work_queue_arguments(self, name: str) -> dict[str, Any]:
        """Declaration arguments of the work queue called `name` (already prefixed)."""
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.settings.delivery_limit,
            "x-dead-letter-exchange": self.settings.name(DEAD_LETTER_EXCHANGE),
            "x-dead-letter-routing-key": f"{name}.dead",
        }

    def work_queue(self, base: str, routing_key: str | None = None) -> RabbitQueue:
        """A durable quorum queue that dead-letters after `delivery_limit` deliveries."""
        name = self.settings.name(base)
        arguments = {
            k: v for k, v in self.work_queue_arguments(name).items() if k != "x-queue-type"
        }
        queue: RabbitQueue = RabbitQueue(  # type: ignore[call-overload]
            name,
            queue_type=QueueType.QUORUM,
            durable=True,
            arguments=arguments,
            routing_key=routing_key or name,
        )
        return queue

    def dead_queue(self, base: str) -> RabbitQueue:
        name = f"{self.settings.name(base)}.dead"
        return RabbitQueue(name, queue_type=QueueType.QUORUM, durable=True, routing_key=name)

    def route_requests(self) -> RabbitQueue:
        return self.work_queue(ROUTE_REQUESTS)

    def completions(self) -> RabbitQueue:
        """Bound to the events exchange on `route.completed` and `route.completed.batch`."""
        return self.work_queue(FEEDBACK_COMPLETIONS, routing_key=ROUTE_COMPLETED_KEY)


async def declare_all(broker: Any, topology: Topology) -> None:
    """Declare every exchange, work queue, dead-letter queue and binding (idempotent)."""
    dlx = await broker.declare_exchange(topology.dead_letters())
    events = await broker.declare_exchange(topology.events())
    await broker.declare_exchange(topology.overrides())
    await broker.declare_exchange(topology.cancels())
    for base in WORK_QUEUES:
        dead = await broker.declare_queue(topology.dead_queue(base))
        await dead.bind(dlx, routing_key=f"{topology.settings.name(base)}.dead")
        await broker.declare_queue(topology.work_queue(base))
    completions = await broker.declare_queue(topology.completions())
    await completions.bind(events, routing_key=ROUTE_COMPLETED_KEY)
    await completions.bind(events, routing_key=ROUTE_COMPLETED_BATCH_KEY)


async def delete_namespace(amqp_url: str, prefix: str) -> None:
    """Delete the queues and exchanges declared under `prefix` (quorum queues outlive their
    connections and keep broker files open): what tests and benchmarks do when they end."""
    from shared.messaging import cluster

    connection = await cluster.connect(amqp_url)  # any node of a cluster will do
    try:
        channel = await connection.channel()
        for base in WORK_QUEUES:
            for name in (f"{prefix}{base}", f"{prefix}{base}.dead"):
                with suppress(Exception):
                    await channel.queue_delete(name)
                if channel.is_closed:
                    channel = await connection.channel()
        for base in (EVENTS_EXCHANGE, OVERRIDES_EXCHANGE, CANCELS_EXCHANGE, DEAD_LETTER_EXCHANGE):
            with suppress(Exception):
                await channel.exchange_delete(f"{prefix}{base}")
    finally:
        await connection.close()
