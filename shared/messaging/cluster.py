"""Connections to a RabbitMQ cluster: RABBITMQ_URL may name several nodes.

Two spellings, both comma separated (docs/operations.md#a-broker-cluster):

    amqp://user:pass@node1:5672,node2:5672,node3:5672/vhost     one URL, several hosts
    amqp://user:pass@node1:5672/vhost,amqp://user:pass@node2:5672/vhost   several URLs

Neither aio-pika nor FastStream takes a list of nodes (aio-pika issue #141 is open; its
answer is DNS or a load balancer), so `ClusterConnection` extends aio-pika's robust connection:
every attempt to (re)connect goes to the next node of the list, starting from a random one so
that clients spread over the cluster. A client whose node stops reconnects to a surviving one,
and the robust connection then restores its channels, queues, bindings and consumers there.
One address behaves exactly as before.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from functools import partial
from typing import Any

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from aio_pika.robust_connection import RobustConnection
from faststream.rabbit import RabbitBroker
from yarl import URL

from shared.broker_urls import broker_addresses


class ClusterConnection(RobustConnection):
    """A robust connection that goes to the next node of its list on every (re)connect.

    aio-pika drops the transport (sets it to None) before each connection attempt, first or
    after a loss: that is where the next address is chosen. The connection parameters that
    aio-pika put in the first URL's query (reconnect interval, ...) go with every address.
    """

    def __init__(self, url: URL, *args: Any, addresses: Sequence[str] = (), **kwargs: Any):
        query = URL(url).query
        self._addresses = [URL(address).update_query(query) for address in addresses]
        self._next = random.randrange(len(self._addresses)) if self._addresses else 0
        self._transport: Any = None
        super().__init__(url, *args, **kwargs)

    @property
    def transport(self) -> Any:
        return self._transport

    @transport.setter
    def transport(self, value: Any) -> None:
        if value is None and self._addresses:
            self.url = self._addresses[self._next % len(self._addresses)]
            self._next += 1
        self._transport = value

    async def connect(self, timeout: Any = None) -> None:
        # aio-pika fails at once when its first attempt fails: begin with a node that accepts
        # connections, so that starting fails only when none does.
        for _ in range(len(self._addresses)):
            if await _accepts(self._addresses[self._next % len(self._addresses)]):
                break
            self._next += 1
        await super().connect(timeout)


async def _accepts(url: URL) -> bool:
    default_port = 5671 if url.scheme == "amqps" else 5672
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(url.host or "localhost", url.port or default_port), 2
        )
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def connect(url: str, **kwargs: Any) -> AbstractRobustConnection:
    """`aio_pika.connect_robust` for a RABBITMQ_URL of one or several nodes."""
    addresses = broker_addresses(url)
    if len(addresses) == 1:
        single: AbstractRobustConnection = await aio_pika.connect_robust(addresses[0], **kwargs)
        return single
    connection: AbstractRobustConnection = await aio_pika.connect_robust(
        addresses[0],
        connection_class=partial(ClusterConnection, addresses=addresses),
        **kwargs,
    )
    return connection


def rabbit_broker(url: str, **kwargs: Any) -> RabbitBroker:
    """A FastStream RabbitBroker for a RABBITMQ_URL of one or several nodes."""
    addresses = broker_addresses(url)
    broker = RabbitBroker(addresses[0], **kwargs)
    if len(addresses) > 1:
        # FastStream hands these to aio_pika.connect_robust, which takes a connection class.
        broker._connection_kwargs["connection_class"] = partial(
            ClusterConnection, addresses=addresses
        )
    return broker
