"""A streamed answer on its way to the caller: ordered RouteChunk messages, coalesced.

The first piece goes out at once (time to first token is what a streaming caller waits for).
After each message, pieces that arrive within the window are sent together in the next one, so
a fast model does not become one broker message per token. The window is STREAM_COALESCE_MS,
widened while the router streams many answers at once (`StreamWindow`): chunk messages, not
tokens, are what cost CPU in the router, the broker and the ingress. A publish failure is
logged and the rest is dropped: the caller then misses text and times out (and cancels); the
provider call is not failed for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from uuid import UUID

from schemas.messages import RouteChunk
from shared.messaging.bus import encode
from shared.routing.catalog import ModelSpec

log = logging.getLogger(__name__)

# (body, AMQP type) -> published to the caller's reply queue.
Send = Callable[[bytes, str], Awaitable[None]]


class StreamWindow:
    """The coalescing window of this router's streams: `floor_s`, or wider when `active`
    streams would otherwise send more than `max_rate` chunk messages a second together."""

    def __init__(self, floor_s: float, max_rate: float) -> None:
        self.floor_s = floor_s
        self.max_rate = max_rate
        self.active = 0

    def seconds(self) -> float:
        return max(self.floor_s, self.active / self.max_rate)


class ChunkSender:
    def __init__(self, send: Send, request_id: UUID, window: StreamWindow) -> None:
        self._send = send
        self._request_id = request_id
        self._window = window
        self._pieces: list[str] = []  # waiting for the next message
        self._text: list[str] = []  # everything emitted so far
        self._spec: ModelSpec | None = None
        self._last_sent = -1e9
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()  # referenced until done
        self._lock = asyncio.Lock()  # one publish at a time keeps the seq order on the wire
        self.chunks = 0
        self.first_piece_at: float | None = None  # perf_counter of the first piece
        self.lost = False

    @property
    def model_id(self) -> str | None:
        """The catalog model producing the stream, once it has started."""
        return self._spec.id if self._spec is not None else None

    @property
    def text(self) -> str:
        """What the model has produced so far (sent or about to be)."""
        return "".join(self._text)

    async def emit(self, spec: ModelSpec, piece: str) -> None:
        """dispatch.Emit: take the next piece of the answer."""
        if self.first_piece_at is None:
            self.first_piece_at = time.perf_counter()
            self._spec = spec
        self._text.append(piece)
        self._pieces.append(piece)
        if self._timer is not None:
            return  # a send is already scheduled and will carry this piece
        loop = asyncio.get_running_loop()
        wait = self._last_sent + self._window.seconds() - loop.time()
        if wait <= 0:
            await self._flush()
        else:
            self._timer = loop.call_later(wait, self._flush_later)

    async def finish(self) -> None:
        """Send what is still waiting; then the stream's end may follow."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self._flush()

    def _flush_later(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self._flush())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush(self) -> None:
        async with self._lock:
            if not self._pieces or self.lost:
                return
            delta = "".join(self._pieces)
            self._pieces.clear()
            first = self.chunks == 0
            chunk = RouteChunk(
                request_id=self._request_id,
                seq=self.chunks,
                delta=delta,
                model=self._spec.id if first and self._spec else None,
                provider=self._spec.provider if first and self._spec else None,
            )
            self.chunks += 1
            self._last_sent = asyncio.get_running_loop().time()
            try:
                await self._send(encode(chunk), "chunk")
            except Exception as exc:
                self.lost = True
                log.warning("stream %s: chunk not sent (%s)", self._request_id, type(exc).__name__)
