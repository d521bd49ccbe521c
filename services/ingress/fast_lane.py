"""`POST /v1/chat/completions` served without FastAPI's per-request machinery, when it can be.

Under load FastAPI's routing, dependency solving and exception wrappers cost about as much CPU
per request as the endpoint's own work. This plain ASGI middleware is the innermost one, so
CORS, the body limit and the HTTP metrics still wrap it, and it answers the common case itself:
a JSON body that `ChatCompletionBody` accepts. It does what the route does, in the same order
for such a body (the key check of `require_client`, then `openai_compat.answer`), and renders an
ApiError with the app's own handler. Any other request, or a body FastAPI would refuse, goes to
FastAPI with the body replayed, so every other answer and error body is FastAPI's own. An
unexpected exception propagates to the app's 500 handler, as it does from the route.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.ingress import openai_compat
from services.ingress.auth import client_scheme, require_client
from services.ingress.errors import ApiError, api_error_response

PATH = "/v1/chat/completions"
# The route FastAPI would have matched: HttpMetricsMiddleware labels requests with its path.
ROUTE = next(
    route
    for route in openai_compat.router.routes
    if isinstance(route, APIRoute) and route.endpoint is openai_compat.chat_completions
)


class ChatFastLane:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_json_chat_post(scope) or scope["app"].dependency_overrides:
            await self.app(scope, receive, send)
            return
        body, received = await _read_body(receive)
        try:
            parsed = openai_compat.ChatCompletionBody.model_validate_json(body or b"")
        except ValidationError:
            # FastAPI parses it again and answers with its own 400 or 422.
            await self.app(scope, _replay(received, receive), send)
            return
        scope["route"] = ROUTE
        request = Request(scope, receive, send)
        try:
            await require_client(request, await client_scheme(request))
            response = await openai_compat.answer(request, parsed)
        except ApiError as exc:
            response = api_error_response(exc)
        await response(scope, receive, send)


def _is_json_chat_post(scope: Scope) -> bool:
    """Whether FastAPI would give this request's body to the route as JSON (stricter is fine)."""
    if scope["type"] != "http" or scope["method"] != "POST" or _route_path(scope) != PATH:
        return False
    for name, value in scope["headers"]:
        if name == b"content-type":
            # FastAPI reads the first Content-Type header; parameters (charset) do not matter.
            return bool(value.partition(b";")[0].strip().lower() == b"application/json")
    return False  # without a Content-Type FastAPI does not parse the body as JSON


def _route_path(scope: Scope) -> str:
    """The path the app routes on: without the `root_path` a proxy mounted it under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path


async def _read_body(receive: Receive) -> tuple[bytes | None, list[Message]]:
    """The whole body (None if the client left first) and the messages that carried it."""
    received: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return None, received
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), received


def _replay(received: list[Message], receive: Receive) -> Receive:
    """A receive that gives the messages already read, in order, then the live ones."""
    pending = list(received)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
