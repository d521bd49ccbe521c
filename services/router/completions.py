"""Group commit of RouteCompleted events: one broker message and one confirm per group.

Every answered request's event must be confirmed by the broker before its caller hears the
answer. Publishing and confirming each event alone cost the broker, the router and the recorder
one message each per request, about a fifth of all CPU under load. Here one publish is in
flight at a time; the events that finish while it awaits its confirm wait and go out together
in the next one, and a router with other requests in flight waits `COMPLETION_LINGER_MS`
for their events first. A lone event (light load, concurrency 1) is published at once as a
plain `RouteCompleted`, so grouping adds no latency when there is nothing to group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from schemas.messages import SCHEMA_VERSION, RouteCompleted
from shared.messaging.bus import encode
from shared.messaging.topology import ROUTE_COMPLETED_BATCH_KEY, ROUTE_COMPLETED_KEY
from shared.metrics import COMPLETION_GROUP_SIZE

# (body, routing key, message id) -> returns once the broker has confirmed the message.
Publish = Callable[[bytes, str, str], Awaitable[None]]
# An event waiting for its publish: its request id, its encoded body, its handler's future.
Waiting = tuple[str, bytes, "asyncio.Future[None]"]
_BATCH_HEAD = b'{"schema_version":%d,"events":[' % SCHEMA_VERSION


def batch_body(encoded_events: list[bytes]) -> bytes:
    """A RouteCompletedBatch from events already encoded (each is encoded once, by its handler)."""
    return _BATCH_HEAD + b",".join(encoded_events) + b"]}"


class CompletionPublisher:
    """Publishes events with publisher confirms, grouping those that arrive during a publish."""

    def __init__(
        self,
        publish: Publish,
        max_batch: int = 128,
        linger_s: float = 0.0,
        in_flight: Callable[[], int] = lambda: 0,
    ) -> None:
        self._publish = publish
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._in_flight = in_flight
        self._waiting: list[Waiting] = []
        self._sender: asyncio.Task[None] | None = None

    async def publish(self, event: RouteCompleted) -> None:
        """Return once the broker has confirmed a message holding `event`; raise if it did not."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((str(event.request_id), encode(event), future))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_all())
        await future

    async def _send_all(self) -> None:
        try:
            while self._waiting:
                if self._linger_s and self._in_flight() > len(self._waiting):
                    # Other requests are being answered: a moment's wait lets their events
                    # share this publish. Alone (concurrency 1), an event never waits.
                    await asyncio.sleep(self._linger_s)
                group = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._send(group)
        except BaseException:  # cancelled at shutdown: no handler may wait forever
            left, self._waiting = self._waiting, []
            _settle(left, ConnectionError("event publisher stopped"))
            raise
        finally:
            self._sender = None

    async def _send(self, group: list[Waiting]) -> None:
        first_id = group[0][0]
        if len(group) == 1:
            body, key, message_id = group[0][1], ROUTE_COMPLETED_KEY, first_id
        else:
            body = batch_body([encoded for _, encoded, _ in group])
            key, message_id = ROUTE_COMPLETED_BATCH_KEY, f"{first_id}+{len(group) - 1}"
        try:
            await self._publish(body, key, message_id)
        except Exception as exc:  # the handlers requeue their requests; nothing is acked
            _settle(group, exc)
            return
        except BaseException:
            _settle(group, ConnectionError("event publisher stopped"))
            raise
        COMPLETION_GROUP_SIZE.observe(len(group))
        _settle(group, None)


def _settle(group: list[Waiting], error: Exception | None) -> None:
    for _, _, future in group:
        if future.done():  # its handler was cancelled
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
