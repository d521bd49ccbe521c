"""Streamed answers over HTTP: the router's RouteChunk and RouteStreamEnd replies as SSE.

The ingress publishes the RouteRequest with `stream` set and reads its replies in `seq` order.
Until the first chunk nothing is sent: a request that fails before any text gets the same HTTP
error (status and body) as a buffered one, so clients handle it as they always do. After it,
text goes out as it arrives and a failure ends the stream with an error event in the endpoint's
format. A client that hangs up, or a stream that outlives its caller's deadline, sends a
CancelRequest: the router stops the provider call and records the request `cancelled`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol
from uuid import UUID

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from schemas.messages import RouteChunk, RouteRequest
from services.ingress.bus_calls import reply_error
from services.ingress.deadlines import cancel_request
from services.ingress.errors import ApiError, api_error_response
from services.ingress.state import IngressState
from shared.messaging.stream_replies import StreamReplies
from shared.messaging.topology import ROUTE_REQUESTS

log = logging.getLogger(__name__)

# After the caller's deadline the router still sends the stream's end (it stops its own work
# at that deadline); this much longer the ingress waits for it.
END_GRACE_S = 5.0


class Renderer(Protocol):
    """One endpoint's wire format for a streamed answer."""

    def opening(self, model: str | None) -> str:
        """Events before the first text (the role, the model); may be empty."""
        ...

    def piece(self, text: str) -> str: ...

    def closing(self, end: dict[str, Any]) -> str:
        """Events after the last text of an answered request (finish, usage, [DONE])."""
        ...

    def failure(self, error: ApiError) -> str:
        """The event that ends a stream which failed after its first text."""
        ...


class RouteReplies:
    """The replies of one streamed request, published by this ingress."""

    def __init__(self, state: IngressState, request_id: UUID, correlation_id: str) -> None:
        self.state = state
        self.request_id = request_id
        self.correlation_id = correlation_id
        self._replies: StreamReplies | None = None

    async def open(self, command: RouteRequest, timeout_s: float) -> None:
        """Publish the request; raises ApiError 503 when the broker cannot take it."""
        name = self.state.settings.name(ROUTE_REQUESTS)
        try:
            queue = await self.state.rpc.open_stream(name, command, timeout_s, self.correlation_id)
        except Exception as exc:  # aiormq/aio-pika raise several types while the broker is away
            raise ApiError(
                503,
                "broker_unavailable",
                "the message broker is not reachable; retry shortly",
                extra={"request_id": str(self.request_id)},
            ) from exc
        self._replies = StreamReplies(queue)

    def close(self) -> None:
        self.state.rpc.close_stream(self.correlation_id)

    async def next(self) -> RouteChunk | dict[str, Any]:
        """The next chunk, or the end's payload once every chunk before it was given."""
        assert self._replies is not None, "open() first"
        return await self._replies.next()


class EventStream(Response):
    """The SSE response of a streamed request (or its HTTP error, before any text)."""

    media_type = "text/event-stream"

    def __init__(
        self,
        replies: RouteReplies,
        renderer: Renderer,
        timeout_s: float,
        headers: dict[str, str],
    ) -> None:
        # Not Response.__init__: without a body the headers get no Content-Length.
        self.status_code = 200
        self.background = None
        self.init_headers(headers)
        self.replies = replies
        self.renderer = renderer
        self.timeout_s = timeout_s
        self.finished = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        serving = asyncio.get_running_loop().create_task(self._serve(scope, receive, send))

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            serving.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await serving
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the server is stopping; the finally below still tells the routers
        except OSError:  # the client closed the connection while we wrote
            pass
        finally:
            watcher.cancel()
            self.replies.close()
            if not self.finished:
                cancel_request(self.replies.state, self.replies.request_id, "client_disconnected")

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        extra: dict[str, object] = {"request_id": str(self.replies.request_id)}
        try:
            async with asyncio.timeout(self.timeout_s):
                first = await self.replies.next()
        except TimeoutError:
            self.finished = True
            cancel_request(self.replies.state, self.replies.request_id, "caller_timeout")
            error = ApiError(504, "timeout", "no answer in time; retry shortly", extra=extra)
            await api_error_response(error)(scope, receive, send)
            return
        if isinstance(first, dict) and first.get("ok") is False:
            self.finished = True  # the router has finished with it: nothing to cancel
            await api_error_response(reply_error(first, extra))(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        model = first.model if isinstance(first, RouteChunk) else first.get("model")
        await self._write(send, self.renderer.opening(model))
        # The router stops at the caller's deadline and then sends the end: a little grace.
        last = loop.time() + self.timeout_s + END_GRACE_S
        item = first
        try:
            async with asyncio.timeout_at(last):
                while isinstance(item, RouteChunk):
                    await self._write(send, self.renderer.piece(item.delta))
                    item = await self.replies.next()
        except TimeoutError:
            cancel_request(self.replies.state, self.replies.request_id, "caller_timeout")
            item = {"ok": False, "error_kind": "deadline_exceeded"}
        self.finished = True
        if item.get("ok") is False:
            await self._write(send, self.renderer.failure(reply_error(item, extra)))
        else:
            await self._write(send, self.renderer.closing(item))
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _write(send: Send, text: str) -> None:
        if text:
            await send({"type": "http.response.body", "body": text.encode(), "more_body": True})


async def open_event_stream(
    state: IngressState,
    command: RouteRequest,
    timeout_s: float,
    renderer: Callable[[str], Renderer],
) -> EventStream:
    """Publish a streamed RouteRequest; the response sends its answer as it comes."""
    request_id = str(command.request_id)
    replies = RouteReplies(state, command.request_id, command.request_id.hex)
    await replies.open(command, timeout_s)
    return EventStream(replies, renderer(request_id), timeout_s, {"x-request-id": request_id})
