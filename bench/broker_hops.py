"""RabbitMQ on this machine: latency of one hop, and broker CPU per message by queue type.

A request crosses the broker three times before its caller hears back: the RouteRequest into a
quorum queue, the confirmed RouteCompleted, and the reply into the caller's exclusive queue.
This measures each kind of hop alone, one message at a time (the floor under what we add at
concurrency 1), then the broker's CPU per message (from /proc of beam.smp, when it runs on
this machine) when 6,000 messages go through each kind of queue:

    .venv/bin/python bench/broker_hops.py [--amqp-url URL] [--count 300]

Queues are named `bench.hops.*` and deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

import aio_pika

BODY = b"x" * 600  # about the size of a RouteRequest


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return f"p50 {pick(0.5):5.2f} ms   p90 {pick(0.9):5.2f} ms"


async def _delivery(channel: aio_pika.abc.AbstractChannel, name: str, quorum: bool, n: int) -> str:
    arguments = {"x-queue-type": "quorum"} if quorum else None
    queue = await channel.declare_queue(
        name, durable=quorum, exclusive=not quorum, arguments=arguments
    )
    arrived: asyncio.Queue[float] = asyncio.Queue()
    await queue.consume(lambda _: arrived.put_nowait(time.perf_counter()), no_ack=True)
    mode = aio_pika.DeliveryMode.PERSISTENT if quorum else aio_pika.DeliveryMode.NOT_PERSISTENT
    samples = []
    for _ in range(n):
        sent = time.perf_counter()
        await channel.default_exchange.publish(
            aio_pika.Message(BODY, delivery_mode=mode), routing_key=name
        )
        samples.append((await arrived.get() - sent) * 1000)
        await asyncio.sleep(0.002)  # one at a time, as at concurrency 1
    await queue.delete(if_unused=False, if_empty=False)
    return _percentiles(samples)


async def _confirm(connection: aio_pika.abc.AbstractConnection, name: str, n: int) -> str:
    channel = await connection.channel(publisher_confirms=True)
    queue = await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
    samples = []
    for _ in range(n):
        sent = time.perf_counter()
        await channel.default_exchange.publish(
            aio_pika.Message(BODY, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=name,
        )
        samples.append((time.perf_counter() - sent) * 1000)
        await asyncio.sleep(0.002)
    await queue.delete(if_unused=False, if_empty=False)
    return _percentiles(samples)


def _broker_cpu_seconds() -> float | None:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"beam.smp" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


async def _cpu_per_message(connection: aio_pika.abc.AbstractConnection, kind: str) -> str:
    """Broker CPU per message through one queue kind: publish, deliver, acknowledge."""
    total = 6000
    channel = await connection.channel(publisher_confirms=False)
    await channel.set_qos(prefetch_count=256)
    exclusive = kind == "exclusive"
    name = f"bench.hops.cost.{kind}"
    queue = await channel.declare_queue(
        name,
        durable=not exclusive,
        exclusive=exclusive,
        arguments=None if exclusive else {"x-queue-type": kind},
    )
    done = asyncio.Event()
    seen = 0

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal seen
        if not exclusive:
            await message.ack()
        seen += 1
        if seen == total:
            done.set()

    await queue.consume(on_message, no_ack=exclusive)
    mode = aio_pika.DeliveryMode.NOT_PERSISTENT if exclusive else aio_pika.DeliveryMode.PERSISTENT
    before = _broker_cpu_seconds()
    for i in range(total):
        await channel.default_exchange.publish(
            aio_pika.Message(BODY, delivery_mode=mode), routing_key=name
        )
        if i % 64 == 0:
            await asyncio.sleep(0)
    await done.wait()
    after = _broker_cpu_seconds()
    await queue.delete(if_unused=False, if_empty=False)
    if before is None or after is None:
        return "broker not on this machine"
    return f"{(after - before) / total * 1e6:4.0f} us broker CPU per message"


async def main(url: str, count: int) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=False)
        print(
            f"publish -> delivery, quorum queue (a RouteRequest): "
            f"{await _delivery(channel, 'bench.hops.quorum', True, count)}"
        )
        print(
            f"publish -> delivery, exclusive queue (a reply):     "
            f"{await _delivery(channel, 'bench.hops.reply', False, count)}"
        )
        print(
            f"publish -> confirm, quorum queue (RouteCompleted):  "
            f"{await _confirm(connection, 'bench.hops.confirm', count)}"
        )
    finally:
        await connection.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.amqp_url, args.count))
