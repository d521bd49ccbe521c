"""The fast lane answers POST /v1/chat/completions exactly as FastAPI's route would.

Each request goes to two apps built by `create_app`: the real one, and the same app without the
fast lane (the reference). Their answers must match, and the real app must have served the
common case without reaching FastAPI and handed everything else to it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from schemas.messages import AdmitRequest, LookUpApiKey, RouteRequest
from services.ingress.app import create_app
from services.ingress.fast_lane import ChatFastLane
from services.ingress.key_cache import KeyVerifier
from shared.routing.catalog import Catalog, load_catalog
from shared.settings import Settings
from shared.storage.apikeys import ApiKeyInfo, hash_key
from tests.unit.test_openai_compat import REPLY  # a router's reply

URL = "/v1/chat/completions"
JSON = {"content-type": "application/json"}
CLIENT_KEY = "aco_" + "c" * 43
LIMITED_KEY = "aco_" + "l" * 43
KEYS = {
    CLIENT_KEY: ApiKeyInfo(id="k-client", scope="client"),
    LIMITED_KEY: ApiKeyInfo(id="k-limited", scope="client", rpm_limit=1),
}


@dataclass
class FakeRpc:
    """Answers as the router (one canned answer) and the feedback service (keys, admission)."""

    reply: dict[str, Any] = field(default_factory=lambda: dict(REPLY))

    async def call(self, queue: str, message: BaseModel, timeout: float, **_: Any) -> bytes:
        if isinstance(message, RouteRequest):
            return json.dumps({**self.reply, "request_id": str(message.request_id)}).encode()
        if isinstance(message, LookUpApiKey):
            known = {hash_key(k): info.model_dump() for k, info in KEYS.items()}
            return json.dumps({"ok": True, "data": {"key": known.get(message.key_hash)}}).encode()
        assert isinstance(message, AdmitRequest)
        refusal = {"admitted": False, "reason": "rate_limited", "message": "1 request per minute"}
        decision = {**refusal, "retry_after_s": 2.5, "limit": "rpm"}
        return json.dumps({"ok": True, "data": decision}).encode()

    async def open_stream(
        self, queue: str, message: RouteRequest, timeout: float, correlation_id: str
    ) -> asyncio.Queue[FakeDelivery]:
        """The canned answer as a router streams it: two chunks, then the end."""
        replies: asyncio.Queue[FakeDelivery] = asyncio.Queue()
        request_id = str(message.request_id)
        for seq, delta in enumerate(("Par", "is.")):
            chunk = {"request_id": request_id, "seq": seq, "delta": delta, "model": "m"}
            replies.put_nowait(FakeDelivery("chunk", json.dumps(chunk).encode()))
        end = {**self.reply, "request_id": request_id, "chunks": 2}
        replies.put_nowait(FakeDelivery("end", json.dumps(end).encode()))
        return replies

    def close_stream(self, correlation_id: str) -> None:
        return None


@dataclass
class FakeDelivery:
    """What the streamed replies' consumer reads of an AMQP delivery."""

    type: str
    body: bytes


@dataclass
class FakeState:
    settings: Settings
    catalog: Catalog
    rpc: FakeRpc
    keys: KeyVerifier = field(default_factory=lambda: KeyVerifier(30.0))


class CountingApp:
    """Counts the requests the fast lane hands to FastAPI."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await self.app(scope, receive, send)


def build(
    fast: bool, rpc: FakeRpc | None = None, **overrides: Any
) -> tuple[FastAPI, CountingApp | None]:
    """The app, or the reference (`fast=False`), with fake workers; and for the app, a count of
    the requests its fast lane handed to FastAPI."""
    settings = Settings(environment="test", **{"auth_enabled": False, **overrides})
    app = create_app(settings)
    if not fast:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not ChatFastLane]
    catalog = load_catalog(None, settings.default_premium_model)
    state = FakeState(settings, catalog, rpc or FakeRpc())
    app.state.ingress = state
    app.middleware_stack = app.build_middleware_stack()
    if not fast:
        return app, None
    layer: Any = app.middleware_stack
    while not isinstance(layer, ChatFastLane):
        layer = layer.app
    layer.app = counter = CountingApp(layer.app)
    return app, counter


async def post(app: FastAPI, content: Any = None, headers: dict[str, str] | None = None):
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post(URL, content=content, headers=headers)


def _same_answer(a: httpx.Response, b: httpx.Response) -> None:
    assert a.status_code == b.status_code
    for name in ("content-type", "www-authenticate", "retry-after", "connection"):
        assert a.headers.get(name) == b.headers.get(name), name
    for name in ("access-control-allow-origin", "access-control-expose-headers"):
        assert a.headers.get(name) == b.headers.get(name), name
    assert ("x-request-id" in a.headers) == ("x-request-id" in b.headers)
    assert _normalised(a) == _normalised(b)


def _normalised(response: httpx.Response) -> str:
    """The body without what differs between two answers: the request id and the time."""
    text = response.text
    if "x-request-id" in response.headers:
        text = text.replace(response.headers["x-request-id"], "ID")
    return re.sub(r'"created": ?\d+', '"created": 0', text)


async def compare(content: Any, headers: dict[str, str] | None = None, **settings: Any):
    """(the fast app's answer, how many requests it handed to FastAPI); checks the reference.

    `content` may be a function that makes it, for a body that can be sent only once."""
    fast, counter = build(True, **settings)
    reference, _ = build(False, **settings)
    answers = [
        await post(app, content() if callable(content) else content, headers)
        for app in (fast, reference)
    ]
    _same_answer(*answers)
    assert counter is not None
    return answers[0], counter.calls


def chat(**extra: Any) -> str:
    return json.dumps({"model": "auto", "messages": [{"role": "user", "content": "hi"}], **extra})


@pytest.mark.parametrize(
    "body",
    [
        chat(),
        chat(max_tokens=16, temperature=0.2, model="simulated-premium"),
        json.dumps(
            {
                "model": "auto",
                "messages": [
                    {"role": "developer", "content": "Be brief."},
                    {"role": "user", "content": [{"type": "text", "text": "é ✓"}]},
                ],
            }
        ),
        chat(stream=True, stream_options={"include_usage": True}),
        chat(model="gpt-17"),  # 404 from the route's own check
        chat(tools=[{"type": "function"}]),  # 422 unsupported
        chat(max_tokens=100_000),  # 422 over MAX_TOKENS_LIMIT
        chat(messages=[{"role": "user", "content": "  "}]),  # 422 empty content
    ],
)
async def test_valid_bodies_are_served_by_the_fast_lane_as_by_the_route(body: str) -> None:
    answer, handed_on = await compare(body, JSON)
    assert handed_on == 0
    if answer.status_code == 200 and "stream" not in body:
        completion = answer.json()
        assert completion["id"] == answer.headers["x-request-id"]
        assert completion["choices"][0]["message"]["content"] == "Paris."


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        ("{not json", JSON),
        (chat(messages=[]), JSON),
        (chat(n=0), JSON),
        ('["a list"]', JSON),
        ("", JSON),
        (chat(), {"content-type": "text/plain"}),
        (chat(), {}),  # no Content-Type: FastAPI does not read it as JSON
        (chat(), {"content-type": "application/vnd.api+json"}),
        (b'{"model":"auto","messages":[{"role":"user","content":"\xff"}]}', JSON),
    ],
)
async def test_everything_else_is_handed_to_fastapi_unchanged(
    content: Any, headers: dict[str, str]
) -> None:
    answer, handed_on = await compare(content, headers, cors_origins=["https://app.example"])
    assert handed_on == 1
    assert answer.status_code != 500


async def test_cors_headers_on_a_chat_request_from_an_allowed_origin() -> None:
    headers = {**JSON, "origin": "https://app.example"}
    answer, handed_on = await compare(chat(), headers, cors_origins=["https://app.example"])
    assert answer.status_code == 200 and handed_on == 0
    assert answer.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in answer.headers["access-control-expose-headers"]


@pytest.mark.parametrize("chunked", [False, True])
async def test_the_body_limit_still_applies(chunked: bool) -> None:
    big = chat(messages=[{"role": "user", "content": "x" * 3000}]).encode()

    async def chunks():
        yield big

    answer, handed_on = await compare(chunks if chunked else big, JSON, max_body_bytes=2048)
    assert answer.status_code == 413 and handed_on == 0
    assert answer.json()["error"]["type"] == "body_too_large"


@pytest.mark.parametrize(
    ("body", "authorization", "status"),
    [
        (chat(), None, 401),
        (chat(), "Bearer aco_" + "w" * 43, 401),
        (chat(), f"Bearer {CLIENT_KEY}", 200),
        (chat(), "Basic " + base64.b64encode(f"u:{CLIENT_KEY}".encode()).decode(), 200),
        (chat(), f"Bearer {LIMITED_KEY}", 429),
        (chat(messages=[]), None, 401),  # the key is checked before the body, as by FastAPI
    ],
)
async def test_keys_are_checked_as_by_the_route(
    body: str, authorization: str | None, status: int
) -> None:
    headers = {**JSON, **({"authorization": authorization} if authorization else {})}
    answer, _ = await compare(body, headers, auth_enabled=True)
    assert answer.status_code == status
    if status == 401:
        assert CLIENT_KEY not in answer.text and "www-authenticate" in answer.headers
    if status == 429:
        assert answer.headers["retry-after"] == "3"


async def test_an_unexpected_error_is_the_app_500_and_is_measured() -> None:
    rpc = FakeRpc(reply={**REPLY, "tokens_in": "many"})
    fast, counter = build(True, rpc=rpc)
    reference, _ = build(False, rpc=rpc)
    before = _count("500")
    answer = await post(fast, chat(), JSON)
    _same_answer(answer, await post(reference, chat(), JSON))
    assert answer.json() == {"error": {"type": "internal_error", "message": "internal error"}}
    assert counter is not None and counter.calls == 0
    assert _count("500") == before + 2


async def test_served_requests_are_measured_under_the_route_template() -> None:
    fast, _ = build(True)
    before = _count("200")
    assert (await post(fast, chat(), JSON)).status_code == 200
    assert _count("200") == before + 1


def _count(status: str) -> float:
    labels = {"method": "POST", "path": URL, "status": status}
    return REGISTRY.get_sample_value("optimizer_http_request_duration_seconds_count", labels) or 0
