"""One local HTTP server that speaks the Anthropic, Gemini and OpenRouter wire formats.

The real SDKs are pointed at it (their base URLs come from settings), so tests exercise the same
code paths as production: headers, retries switched off, status-code mapping, timeouts. Each test
scripts what a vendor answers next (a queue of `Reply` per vendor); when the queue is empty the
vendor answers a well-formed success. Every request received is recorded for assertions.

It runs uvicorn in a background thread with its own event loop, so that it is independent of the
test's loop and a hanging reply never blocks the code under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.settings import Settings
from tests.fakes.vendor_streams import StreamedAnswer, sse_events

Vendor = Literal["anthropic", "google", "openrouter"]
VENDORS: tuple[Vendor, ...] = ("anthropic", "google", "openrouter")

# Usage every default success reports, so tests can assert the adapter's token accounting.
TOKENS_IN = 12
TOKENS_OUT = 5


@dataclass
class Reply:
    """What a vendor answers to one request. `body=None` with status 200 means a normal answer."""

    status: int = 200
    body: Any = None  # JSON-serialisable; a str or bytes is sent as is (for malformed bodies)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait before answering; longer than the client's timeout = a hang
    text: str | None = None  # answer text of a default success
    # Streamed requests only: the answer's pieces (default: the text word by word), the wait
    # before each, a break of the connection after that many pieces, and usage or none.
    pieces: list[str] | None = None
    piece_delay_s: float = 0.0
    break_after: int | None = None
    usage: bool = True


@dataclass(frozen=True)
class Received:
    vendor: Vendor
    path: str
    headers: dict[str, str]
    body: Any
    at: float  # time.monotonic() on arrival


class FakeVendorServer:
    def __init__(self) -> None:
        self._queues: dict[Vendor, deque[Reply]] = {v: deque() for v in VENDORS}
        self.received: list[Received] = []
        # (vendor, time.monotonic()) of each streamed answer whose client hung up before its end.
        self.disconnects: list[tuple[Vendor, float]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._released = asyncio.Event()
        self.url = ""

    # ---- scripting -------------------------------------------------------------------------

    def enqueue(self, vendor: Vendor, *replies: Reply) -> None:
        self._queues[vendor].extend(replies)

    def fail(
        self,
        vendor: Vendor,
        status: int,
        *,
        times: int = 1,
        message: str = "scripted failure",
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        """Answer the next `times` requests with a vendor-shaped error body."""
        body = error_body(vendor, status, message, details)
        for _ in range(times):
            self.enqueue(vendor, Reply(status=status, body=body, headers=dict(headers or {})))

    def hang(self, vendor: Vendor, seconds: float = 30.0, *, times: int = 1) -> None:
        for _ in range(times):
            self.enqueue(vendor, Reply(delay_s=seconds))

    def malformed(self, vendor: Vendor, body: str = '{"half": ') -> None:
        self.enqueue(vendor, Reply(body=body, headers={"content-type": "application/json"}))

    def requests_to(self, vendor: Vendor) -> list[Received]:
        return [r for r in self.received if r.vendor == vendor]

    def reset(self) -> None:
        """Forget scripts and records, and release any request still hanging."""
        for queue in self._queues.values():
            queue.clear()
        self.received.clear()
        self.disconnects.clear()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._release_hanging)

    # ---- serving ---------------------------------------------------------------------------

    async def _handle(
        self, vendor: Vendor, request: Request, model: str
    ) -> Response | StreamedAnswer:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        self.received.append(
            Received(vendor, request.url.path, dict(request.headers), body, time.monotonic())
        )
        reply = self._queues[vendor].popleft() if self._queues[vendor] else Reply()
        await self._wait(reply.delay_s)
        if reply.body is None and reply.status == 200:
            if _streamed(vendor, request, body):
                return self._stream(vendor, model, reply)
            return JSONResponse(success_body(vendor, model, reply.text), headers=reply.headers)
        if isinstance(reply.body, str | bytes):
            return Response(reply.body, status_code=reply.status, headers=reply.headers)
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)

    def _stream(self, vendor: Vendor, model: str, reply: Reply) -> StreamedAnswer:
        text = reply.text if reply.text is not None else f"answer from {vendor} {model}"
        words = text.split(" ")
        pieces = reply.pieces or [w if i == 0 else " " + w for i, w in enumerate(words)]
        usage = (TOKENS_IN, TOKENS_OUT) if reply.usage else None

        def gone() -> None:
            self.disconnects.append((vendor, time.monotonic()))

        return StreamedAnswer(
            sse_events(vendor, model, pieces, usage), reply.piece_delay_s, reply.break_after, gone
        )

    async def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        # reset() sets this event from the test's thread, freeing handlers still hanging.
        self._loop = asyncio.get_running_loop()
        released = self._released
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(released.wait(), seconds)

    def _release_hanging(self) -> None:
        self._released.set()
        self._released = asyncio.Event()

    def app(self) -> Starlette:
        async def anthropic(request: Request) -> Response | StreamedAnswer:
            body = json.loads(await request.body() or b"{}")
            return await self._handle("anthropic", request, str(body.get("model", "")))

        async def google(request: Request) -> Response | StreamedAnswer:
            model = request.path_params["model_action"].split(":", 1)[0]
            return await self._handle("google", request, model)

        async def openrouter(request: Request) -> Response | StreamedAnswer:
            body = json.loads(await request.body() or b"{}")
            return await self._handle("openrouter", request, str(body.get("model", "")))

        return Starlette(
            routes=[
                Route("/v1/messages", anthropic, methods=["POST"]),
                Route("/{version}/models/{model_action}", google, methods=["POST"]),
                Route("/api/v1/chat/completions", openrouter, methods=["POST"]),
            ]
        )


def _streamed(vendor: Vendor, request: Request, body: Any) -> bool:
    if vendor == "google":
        return request.url.path.endswith(":streamGenerateContent")
    return isinstance(body, dict) and body.get("stream") is True


def success_body(vendor: Vendor, model: str, text: str | None = None) -> dict[str, Any]:
    text = text if text is not None else f"answer from {vendor} {model}"
    if vendor == "anthropic":
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": TOKENS_IN, "output_tokens": TOKENS_OUT},
        }
    if vendor == "google":
        return {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
            ],
            "usageMetadata": {
                "promptTokenCount": TOKENS_IN,
                "candidatesTokenCount": TOKENS_OUT,
                "totalTokenCount": TOKENS_IN + TOKENS_OUT,
            },
            "modelVersion": model,
        }
    return {
        "id": "gen-fake",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": TOKENS_IN,
            "completion_tokens": TOKENS_OUT,
            "total_tokens": TOKENS_IN + TOKENS_OUT,
        },
    }


def tool_call_body(
    vendor: Vendor, model: str, name: str, arguments: dict[str, Any], call_id: str = "call_1"
) -> dict[str, Any]:
    """A success in which the model calls tool `name`, in each vendor's documented shape."""
    if vendor == "anthropic":
        body = success_body(vendor, model)
        body["content"] = [{"type": "tool_use", "id": call_id, "name": name, "input": arguments}]
        body["stop_reason"] = "tool_use"
        return body
    if vendor == "google":
        body = success_body(vendor, model)
        call = {"functionCall": {"id": call_id, "name": name, "args": arguments}}
        body["candidates"][0]["content"]["parts"] = [call]
        return body
    body = success_body(vendor, model)
    body["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ],
    }
    body["choices"][0]["finish_reason"] = "tool_calls"
    return body


_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_GOOGLE_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def error_body(
    vendor: Vendor, status: int, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The error envelope each vendor documents."""
    if vendor == "anthropic":
        kind = _ANTHROPIC_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    if vendor == "google":
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": _GOOGLE_STATUSES.get(status, "UNKNOWN"),
        }
        if details:
            error["details"] = details
        return {"error": error}
    return {"error": {"code": status, "message": message}}


@contextmanager
def running_vendor_server() -> Iterator[FakeVendorServer]:
    """Start the fake on a free localhost port for the duration of the block."""
    fake = FakeVendorServer()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        fake.app(), log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("fake vendor server did not start")
        time.sleep(0.01)
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        fake.reset()
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


def settings_for(fake: FakeVendorServer, **overrides: Any) -> Settings:
    """Settings whose three vendors point at the fake, with fast timeouts and backoff.

    Keys are explicit (not read from the environment or a .env file) so a developer's real
    keys never reach the fake, and the fake's keys never reach a real vendor.
    """
    values: dict[str, Any] = {
        "environment": "test",
        "anthropic_api_key": "test-anthropic-key",
        "google_api_key": "test-google-key",
        "openrouter_api_key": "test-openrouter-key",
        "anthropic_base_url": fake.url,
        "gemini_base_url": fake.url,
        "openrouter_base_url": f"{fake.url}/api/v1",
        "provider_timeout_s": 1.0,
        "request_deadline_s": 5.0,
        "max_attempts_per_model": 3,
        "retry_base_delay_s": 0.01,
        "circuit_failure_threshold": 50,
        "circuit_reset_s": 30.0,
        "simulated_latency_ms": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]
