"""Reading a streamed request's replies: seq order, duplicates dropped, the end waits."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass

from schemas.messages import RouteChunk
from shared.messaging.stream_replies import StreamReplies

REQUEST = str(uuid.uuid4())


@dataclass
class Delivery:
    type: str
    body: bytes


def chunk(seq: int, delta: str) -> Delivery:
    body = {"request_id": REQUEST, "seq": seq, "delta": delta}
    return Delivery("chunk", json.dumps(body).encode())


async def read_all(*deliveries: Delivery) -> list[object]:
    queue: asyncio.Queue[Delivery] = asyncio.Queue()
    for delivery in deliveries:
        queue.put_nowait(delivery)
    replies = StreamReplies(queue)  # type: ignore[arg-type]
    items: list[object] = []
    while True:
        item = await asyncio.wait_for(replies.next(), 1)
        items.append(item.delta if isinstance(item, RouteChunk) else item)
        if not isinstance(item, RouteChunk):
            return items


async def test_chunks_come_in_seq_order_and_the_end_waits_for_every_one_it_counts() -> None:
    end = {"request_id": REQUEST, "ok": True, "chunks": 3}
    items = await read_all(
        chunk(1, " sea"),
        Delivery("end", json.dumps(end).encode()),
        chunk(0, "The"),
        chunk(2, " is deep."),
    )
    assert items == ["The", " sea", " is deep.", end]


async def test_a_repeated_chunk_is_dropped_and_an_unreadable_one_is_skipped() -> None:
    end = {"request_id": REQUEST, "ok": True, "chunks": 2}
    items = await read_all(
        chunk(0, "The"),
        chunk(0, "The"),  # the request redelivered and streamed again
        Delivery("chunk", b'{"seq": "x"}'),
        chunk(1, " end."),
        Delivery("end", json.dumps(end).encode()),
    )
    assert items == ["The", " end.", end]


async def test_a_refusal_without_chunks_ends_at_once() -> None:
    refusal = {"ok": False, "error_kind": "invalid_message", "error_message": "bad"}
    assert await read_all(Delivery("", json.dumps(refusal).encode())) == [refusal]
    assert await read_all(Delivery("end", b"not json")) == [{"ok": False}]
