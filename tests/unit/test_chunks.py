"""The router's chunk sender: the first piece at once, later pieces coalesced, seq in order."""

from __future__ import annotations

import asyncio
import json
import uuid

from services.router.chunks import ChunkSender, StreamWindow
from shared.routing.catalog import load_catalog

SPEC = load_catalog().get("simulated-fast")


async def test_the_first_piece_goes_at_once_and_later_ones_share_a_message() -> None:
    sent: list[dict[str, object]] = []

    async def send(body: bytes, kind: str) -> None:
        assert kind == "chunk"
        sent.append(json.loads(body))

    sender = ChunkSender(send, uuid.uuid4(), StreamWindow(0.05, 1000))
    await sender.emit(SPEC, "The")
    assert [c["delta"] for c in sent] == ["The"], "the first piece must not wait"
    assert sent[0]["model"] == "simulated-fast"
    await sender.emit(SPEC, " sea")
    await sender.emit(SPEC, " is")
    assert len(sent) == 1, "pieces within the window wait for the next message"
    await asyncio.sleep(0.08)
    await sender.emit(SPEC, " deep.")
    await sender.finish()
    assert [c["delta"] for c in sent] == ["The", " sea is", " deep."]
    assert [c["seq"] for c in sent] == [0, 1, 2] and sender.chunks == 3
    assert sender.text == "The sea is deep."


def test_the_window_widens_when_many_streams_would_exceed_the_message_rate() -> None:
    window = StreamWindow(0.025, max_rate=600)
    window.active = 6
    assert window.seconds() == 0.025  # 6 streams at 40 messages a second: within the rate
    window.active = 60
    assert window.seconds() == 0.1  # 60 streams share 600 messages a second: 10 each
