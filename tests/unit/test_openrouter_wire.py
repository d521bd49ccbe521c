"""The OpenRouter adapter's HTTP layer against a raw TCP server that can break HTTP on purpose.

The fake vendor server (uvicorn) always speaks correct HTTP; this one can drop the connection,
truncate a body or send garbage, and it records the exact bytes of each request.
"""

from __future__ import annotations

import asyncio
import gzip
import json

import pytest

from schemas.messages import ChatMessage
from shared.providers.base import FatalProviderError, RetryableProviderError
from shared.providers.openrouter import OpenRouterProvider

MESSAGES = [ChatMessage(role="user", content="héllo ☃")]
OK_BODY = json.dumps(
    {
        "choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
).encode()


def http(status: int, body: bytes, *extra: str) -> bytes:
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class RawServer:
    """Answers each request with the next scripted bytes, then closes the connection if told."""

    def __init__(self) -> None:
        self.replies: list[tuple[bytes, bool]] = []  # (bytes to send, close afterwards)
        self.requests: list[tuple[str, bytes]] = []  # (head, body)
        self.connections = 0
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                length = next(
                    int(line.split(":", 1)[1])
                    for line in head.split("\r\n")
                    if line.lower().startswith("content-length:")
                )
                self.requests.append((head, await reader.readexactly(length)))
                reply, close = self.replies.pop(0) if self.replies else (http(200, OK_BODY), False)
                writer.write(reply)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def raw():
    server = RawServer()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/api/v1"
    yield server
    listener.close()


@pytest.fixture
async def provider(raw):
    made = OpenRouterProvider("key-o", raw.url + "/", 2.0)  # a trailing slash is tolerated
    yield made
    await made.aclose()


async def call(provider, timeout_s=2.0):
    return await provider.complete("vendor/model-x", MESSAGES, 64, timeout_s)


async def test_request_bytes_and_headers(raw, provider):
    await call(provider)
    [(head, body)] = raw.requests
    assert head.startswith("POST /api/v1/chat/completions HTTP/1.1\r\n")
    headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in head.split("\r\n")[1:-2])}
    assert headers["authorization"] == "Bearer key-o"
    assert headers["content-type"] == "application/json"
    assert headers["accept-encoding"] == "gzip, deflate"
    assert "cookie" not in headers
    # Compact UTF-8 JSON, byte for byte what httpx's json= produced.
    expected = '{"model":"vendor/model-x","messages":[{"role":"user","content":"héllo ☃"}],'
    assert body == (expected + '"max_tokens":64}').encode()


async def test_one_kept_alive_connection_and_no_cookies(raw, provider):
    raw.replies.append((http(200, OK_BODY, "Set-Cookie: __cf_bm=abc; Path=/"), False))
    for _ in range(3):
        assert (await call(provider)).text == "hi"
    assert raw.connections == 1
    assert all("cookie:" not in head.lower() for head, _ in raw.requests)


async def test_gzip_answer_is_decoded(raw, provider):
    raw.replies.append((http(200, gzip.compress(OK_BODY), "Content-Encoding: gzip"), False))
    assert (await call(provider)).text == "hi"


@pytest.mark.parametrize(
    "reply",
    [
        b"",  # the server drops the connection without answering
        b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + OK_BODY[:10],  # truncated body
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n",
    ],
    ids=["dropped", "truncated", "garbage-status", "bad-chunk"],
)
async def test_broken_connections_are_retryable_connection_errors(raw, provider, reply):
    raw.replies.append((reply, True))
    with pytest.raises(RetryableProviderError) as caught:
        await call(provider)
    assert caught.value.kind == "connection"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_connection_refused_is_a_connection_error():
    # Port 9 (discard) is closed on a test machine: the connection is refused at once.
    provider = OpenRouterProvider("k", "http://127.0.0.1:9/api/v1", 1.0)
    try:
        with pytest.raises(RetryableProviderError) as caught:
            await call(provider)
        assert caught.value.kind == "connection"
        assert "127.0.0.1" not in str(caught.value)
    finally:
        await provider.aclose()


async def test_a_redirect_is_not_followed(raw, provider):
    raw.replies.append((http(302, b"", "Location: /elsewhere"), False))
    with pytest.raises(FatalProviderError) as caught:
        await call(provider)
    assert caught.value.kind == "malformed_response"
    assert len(raw.requests) == 1


async def test_a_slow_body_times_out(raw, provider):
    # The rest of the body never comes, and the connection stays open.
    raw.replies.append((b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{", False))
    with pytest.raises(RetryableProviderError) as caught:
        await call(provider, timeout_s=0.3)
    assert caught.value.kind == "timeout"


async def test_closing_an_unused_provider():
    await OpenRouterProvider("k", "http://127.0.0.1:9/api/v1", 1.0).aclose()
