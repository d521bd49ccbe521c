"""RABBITMQ_URL with several nodes against a real broker: a node that does not answer is
passed over, by aio-pika connections and by FastStream brokers alike."""

from __future__ import annotations

from urllib.parse import urlsplit

import aio_pika

from shared.messaging import cluster
from tests.conftest import free_port


def _with_dead_node_first(amqp_url: str) -> str:
    parts = urlsplit(amqp_url)
    live = f"{parts.hostname}:{parts.port or 5672}"
    userinfo = f"{parts.username}:{parts.password}@" if parts.username else ""
    return f"{parts.scheme}://{userinfo}127.0.0.1:{free_port()},{live}{parts.path or '/'}"


async def test_a_connection_skips_a_node_that_does_not_answer(
    service_urls: tuple[str, str],
) -> None:
    url = _with_dead_node_first(service_urls[1])
    for _ in range(3):  # whichever node it starts from
        connection = await cluster.connect(url, reconnect_interval=0.2)
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue("", exclusive=True)
            await channel.default_exchange.publish(aio_pika.Message(b"x"), queue.name)
            message = await queue.get(timeout=5)
            assert message is not None and message.body == b"x"
        finally:
            await connection.close()


async def test_a_faststream_broker_skips_a_node_that_does_not_answer(
    service_urls: tuple[str, str],
) -> None:
    broker = cluster.rabbit_broker(_with_dead_node_first(service_urls[1]), logger=None)
    try:
        await broker.connect()
        assert await broker.ping(timeout=5)
    finally:
        await broker.stop()
