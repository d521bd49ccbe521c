"""Reading the replies of one streamed RouteRequest: RouteChunk messages, then the end.

The router sends them in order on one channel, so they arrive in order; the reader still puts
them in `seq` order and drops a duplicate (a request redelivered after its router died is
streamed again from seq 0), and waits for every chunk the end counts before giving the end.
Used by the ingress and by OptimizerClient.route_stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError

from schemas.messages import RouteChunk

log = logging.getLogger(__name__)


class StreamReplies:
    def __init__(self, queue: asyncio.Queue[AbstractIncomingMessage]) -> None:
        self.queue = queue
        self._expected = 0
        self._early: dict[int, RouteChunk] = {}
        self._end: dict[str, Any] | None = None

    async def next(self) -> RouteChunk | dict[str, Any]:
        """The next chunk, or the end's payload (a RouteStreamEnd, or an ErrorReply for a
        request the router refused) once every chunk before it was given."""
        while True:
            if (chunk := self._early.pop(self._expected, None)) is not None:
                self._expected += 1
                return chunk
            if self._end is not None and self._expected >= int(self._end.get("chunks") or 0):
                return self._end
            message = await self.queue.get()
            if message.type == "chunk":
                try:
                    chunk = RouteChunk.model_validate_json(message.body)
                except ValidationError:
                    log.warning("unreadable stream chunk dropped")
                    continue
                if chunk.seq >= self._expected:
                    self._early[chunk.seq] = chunk
                continue
            try:
                payload = json.loads(message.body)
            except ValueError:
                payload = None
            self._end = payload if isinstance(payload, dict) else {"ok": False}
