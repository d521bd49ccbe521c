"""The official `openai` client streams through us from each vendor's fake (issue 16).

Each vendor's real SDK (Anthropic Messages events, Gemini streamGenerateContent, OpenRouter SSE)
reads the fake's streamed answer; the router sends it on as RouteChunk messages; the ingress as
OpenAI `chat.completion.chunk` events. The rows say what happened.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import anthropic
import asyncpg
import httpx
import openai
import pytest

from schemas.messages import ChatMessage, RouteChunk, RouteConstraints, RouteRequest, RouteStreamEnd
from services.router.service import RouterService
from shared.messaging.client import OptimizerClient
from shared.messaging.direct import RpcClient
from shared.messaging.topology import ROUTE_REQUESTS
from shared.routing.catalog import load_catalog
from tests.fakes.vendor_server import (
    TOKENS_IN,
    TOKENS_OUT,
    FakeVendorServer,
    Reply,
    running_vendor_server,
)
from tests.integration.test_request_path import wait_for_rows
from tests.integration.vendor_system import vendor_system
from tests.system import RunningSystem

QUESTION = [{"role": "user", "content": "Describe the sea in one sentence."}]
PIECES = ["The sea", " is", " wide,", " cold", " and", " deep."]
# A model of each vendor, forced, so each vendor's wire format is the one read.
MODEL_OF = {
    "anthropic": "claude-haiku-4-5",
    "google": "gemini-2.5-flash",
    "openrouter": "openrouter/deepseek/deepseek-chat-v3.1",
}
CATALOG = load_catalog()


@pytest.fixture(scope="module")
def vendor() -> AsyncIterator[FakeVendorServer]:
    with running_vendor_server() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture(scope="module")
async def running(
    service_urls: tuple[str, str], vendor: FakeVendorServer
) -> AsyncIterator[tuple[RunningSystem, asyncpg.Pool]]:
    async with vendor_system(service_urls, vendor) as pair:
        yield pair


@pytest.fixture(autouse=True)
def _clean(vendor: FakeVendorServer) -> None:
    vendor.reset()


def _client(system: RunningSystem) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key="unused", base_url=f"{system.base_url}/v1", max_retries=0, timeout=30
    )


async def _row(pool: asyncpg.Pool, request_id: str) -> asyncpg.Record:
    await wait_for_rows(
        pool,
        "SELECT count(*) FROM routing_requests WHERE request_id = $1",
        uuid.UUID(request_id),
        expected=1,
    )
    row = await pool.fetchrow(
        "SELECT * FROM routing_requests WHERE request_id = $1", uuid.UUID(request_id)
    )
    assert row is not None
    return row


@pytest.mark.parametrize("name", sorted(MODEL_OF))
async def test_each_vendor_streams_through_to_the_openai_client_with_its_usage(
    name: str, running: tuple[RunningSystem, asyncpg.Pool], vendor: FakeVendorServer
) -> None:
    system, pool = running
    vendor.enqueue(name, Reply(pieces=PIECES, piece_delay_s=0.1))  # type: ignore[arg-type]
    client = _client(system)
    stream = await client.chat.completions.create(
        model=MODEL_OF[name],
        messages=QUESTION,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    request_id = stream.response.headers["x-request-id"]
    texts: list[str] = []
    arrivals: list[float] = []
    usage = None
    finish = None
    async for chunk in stream:
        assert chunk.id == request_id
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            if choice.delta.content:
                texts.append(choice.delta.content)
                arrivals.append(time.monotonic())
        usage = chunk.usage or usage
    await client.close()
    assert "".join(texts) == "".join(PIECES) and finish == "stop"
    # Streamed, not buffered: the text came in pieces spread over the answer's production.
    assert len(texts) >= 3 and arrivals[-1] - arrivals[0] >= 0.3
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (TOKENS_IN, TOKENS_OUT)
    row = await _row(pool, request_id)
    spec = CATALOG.get(MODEL_OF[name])
    assert row["status"] == "answered" and row["streamed"] and row["provider"] == name
    assert (row["tokens_in"], row["tokens_out"]) == (TOKENS_IN, TOKENS_OUT)
    assert spec.cost(TOKENS_IN, TOKENS_OUT) > 0
    assert float(row["cost_usd"]) == pytest.approx(spec.cost(TOKENS_IN, TOKENS_OUT))
    assert row["answer_chars"] == len("".join(PIECES))
    assert 0 < row["first_token_ms"] < row["latency_ms"] - 300
    assert len(vendor.requests_to(name)) == 1  # type: ignore[arg-type]


async def test_before_the_first_token_a_failing_then_a_hanging_provider_fall_over(
    running: tuple[RunningSystem, asyncpg.Pool], vendor: FakeVendorServer
) -> None:
    system, pool = running
    # Gemini fails (503) twice, its OpenRouter twin hangs past the provider timeout, then
    # answers when retried; the stream the client reads is whole and from one model.
    vendor.fail("google", 503, times=2)
    vendor.hang("openrouter", 5.0)
    vendor.enqueue("openrouter", Reply(pieces=PIECES))
    client = _client(system)
    stream = await client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=QUESTION,  # type: ignore[arg-type]
        stream=True,
    )
    request_id = stream.response.headers["x-request-id"]
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    await client.close()
    assert text == "".join(PIECES)
    row = await _row(pool, request_id)
    assert row["status"] == "answered" and row["provider"] == "openrouter"
    (hop,) = row["fallback_path"]
    assert (hop["provider"], hop["reason"], hop["attempts"]) == ("google", "server_error", 2)
    assert row["attempts"] == 4  # two failures, one hang (timed out), one answer
    assert len(vendor.requests_to("google")) == 2 and len(vendor.requests_to("openrouter")) == 2


async def test_a_failure_mid_stream_ends_with_an_error_the_client_raises_and_a_partial_row(
    running: tuple[RunningSystem, asyncpg.Pool], vendor: FakeVendorServer
) -> None:
    system, pool = running
    vendor.enqueue("anthropic", Reply(pieces=PIECES, piece_delay_s=0.05, break_after=2))
    client = _client(system)
    stream = await client.chat.completions.create(
        model=MODEL_OF["anthropic"],
        messages=QUESTION,  # type: ignore[arg-type]
        stream=True,
    )
    request_id = stream.response.headers["x-request-id"]
    texts: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            texts += [c.delta.content for c in chunk.choices if c.delta.content]
    await client.close()
    assert "".join(texts) == "".join(PIECES[:2]), "no fallback after text was sent"
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "stream_interrupted"
    row = await _row(pool, request_id)
    assert row["status"] == "stream_interrupted"
    assert row["answer_chars"] == len("".join(PIECES[:2]))
    assert row["cost_usd"] > 0 and row["tokens_out"] > 0  # the vendor bills what it produced
    # The twin was not tried: text already sent cannot be taken back.
    assert vendor.requests_to("openrouter") == []


async def test_a_client_that_hangs_up_mid_stream_cancels_the_upstream_call(
    running: tuple[RunningSystem, asyncpg.Pool], vendor: FakeVendorServer
) -> None:
    system, pool = running
    many = [f" word{i}" for i in range(100)]
    vendor.enqueue("google", Reply(pieces=many, piece_delay_s=0.1))
    client = _client(system)
    stream = await client.chat.completions.create(
        model=MODEL_OF["google"],
        messages=QUESTION,  # type: ignore[arg-type]
        stream=True,
    )
    request_id = stream.response.headers["x-request-id"]
    seen = 0
    async for chunk in stream:
        seen += sum(1 for c in chunk.choices if c.delta.content)
        if seen >= 3:
            break
    await stream.close()
    left_at = time.monotonic()
    while not vendor.disconnects and time.monotonic() - left_at < 5:
        await asyncio.sleep(0.02)
    await client.close()
    assert vendor.disconnects, "the upstream call went on after the client left"
    (where, closed_at) = vendor.disconnects[0]
    assert where == "google" and closed_at - left_at < 2.0
    row = await _row(pool, request_id)
    assert row["status"] == "cancelled" and row["streamed"]
    assert 0 < row["answer_chars"] < len("".join(many))
    assert len(vendor.received) == 1, "nothing else was called for it"


async def test_an_expired_streamed_request_is_never_executed(
    running: tuple[RunningSystem, asyncpg.Pool], vendor: FakeVendorServer
) -> None:
    system, pool = running
    settings = system.settings
    request = RouteRequest(
        messages=[ChatMessage(role="user", content="Too late for this one.")],
        stream=True,
        deadline_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    rpc = RpcClient(settings.rabbitmq_url, settings.name(f"test.replies.{uuid.uuid4().hex}"))
    await rpc.start()
    try:
        replies = await rpc.open_stream(
            settings.name(ROUTE_REQUESTS), request, 10, request.request_id.hex
        )
        message = await asyncio.wait_for(replies.get(), 10)
    finally:
        await rpc.stop()
    assert message.type == "end"
    end = RouteStreamEnd.model_validate_json(message.body)
    assert (end.ok, end.error_kind, end.chunks) == (False, "expired", 0)
    row = await _row(pool, str(request.request_id))
    assert row["status"] == "expired" and row["cost_usd"] == 0
    assert vendor.received == [], "a provider was called for an expired request"


async def test_an_openai_stream_that_expires_while_no_router_takes_it_is_never_executed(
    running: tuple[RunningSystem, asyncpg.Pool], vendor: FakeVendorServer
) -> None:
    system, _ = running
    router = system.worker("router")
    assert isinstance(router, RouterService)
    await router.consumer.stop(5)  # the request waits in the queue, as behind a busy fleet
    client = _client(system)
    try:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(
                model=MODEL_OF["google"],
                messages=QUESTION,  # type: ignore[arg-type]
                stream=True,
                extra_headers={"X-Request-Timeout": "1"},
            )
    finally:
        await router.consumer.start(router.on_route_request)
        await client.close()
    assert caught.value.status_code == 504  # no text was sent: an ordinary HTTP error
    await asyncio.sleep(2)  # the router consumes again: anything left would run now
    assert vendor.received == [], "a provider was called after the caller's deadline"


async def test_v1_route_streams_chunks_then_the_end_with_cost(
    running: tuple[RunningSystem, asyncpg.Pool], vendor: FakeVendorServer
) -> None:
    system, pool = running
    vendor.enqueue("openrouter", Reply(pieces=PIECES, piece_delay_s=0.05))
    body = {
        "prompt": "Describe the sea.",
        "constraints": {"model": MODEL_OF["openrouter"]},
        "stream": True,
    }
    events: list[tuple[str, dict[str, object]]] = []
    async with (
        httpx.AsyncClient(base_url=system.base_url, timeout=30) as http,
        http.stream("POST", "/v1/route", json=body) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "end" and set(kinds[:-1]) == {"chunk"}
    chunks = [data for kind, data in events if kind == "chunk"]
    assert [c["seq"] for c in chunks] == list(range(len(chunks)))
    assert "".join(str(c["delta"]) for c in chunks) == "".join(PIECES)
    end = events[-1][1]
    assert end["model"] == MODEL_OF["openrouter"] and end["tokens_out"] == TOKENS_OUT
    assert isinstance(end["cost_usd"], float) and end["cost_usd"] > 0
    row = await _row(pool, str(end["request_id"]))
    assert row["status"] == "answered" and row["streamed"]


async def test_anthropic_sdk_streams_v1_messages_and_sees_a_mid_stream_error(
    running: tuple[RunningSystem, asyncpg.Pool], vendor: FakeVendorServer
) -> None:
    system, _ = running
    client = anthropic.AsyncAnthropic(
        api_key="unused", base_url=system.base_url, max_retries=0, timeout=30
    )
    question = [{"role": "user", "content": "Describe the sea."}]
    vendor.enqueue("anthropic", Reply(pieces=PIECES, piece_delay_s=0.02))
    async with client.messages.stream(
        model=MODEL_OF["anthropic"],
        max_tokens=64,
        messages=question,  # type: ignore[arg-type]
    ) as stream:
        pieces = [piece async for piece in stream.text_stream]
        final = await stream.get_final_message()
    # Pieces close together may share a chunk (coalescing); the text is whole and in order.
    assert "".join(pieces) == "".join(PIECES) and len(pieces) > 1
    assert final.usage.output_tokens == TOKENS_OUT and final.stop_reason == "end_turn"
    vendor.enqueue("anthropic", Reply(pieces=PIECES, break_after=3))
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with client.messages.stream(
            model=MODEL_OF["anthropic"],
            max_tokens=64,
            messages=question,  # type: ignore[arg-type]
        ) as stream:
            async for _ in stream.text_stream:
                pass
    assert "stream_interrupted" in str(caught.value)
    await client.close()


async def test_a_bus_producer_streams_and_leaving_early_cancels_the_call(
    running: tuple[RunningSystem, asyncpg.Pool], vendor: FakeVendorServer
) -> None:
    system, pool = running
    settings = system.settings
    constraints = RouteConstraints(model=MODEL_OF["google"])
    vendor.enqueue("google", Reply(pieces=PIECES, piece_delay_s=0.02))
    async with OptimizerClient(settings.rabbitmq_url, settings.amqp_prefix, timeout_s=20) as bus:
        parts = [part async for part in bus.route_stream("The sea?", constraints=constraints)]
        *chunks, end = parts
        assert all(isinstance(c, RouteChunk) for c in chunks) and isinstance(end, RouteStreamEnd)
        assert "".join(c.delta for c in chunks) == "".join(PIECES)  # type: ignore[union-attr]
        assert end.ok and end.chunks == len(chunks) and end.cost_usd > 0
        assert end.tokens_out == TOKENS_OUT
        vendor.enqueue("google", Reply(pieces=[f" w{i}" for i in range(100)], piece_delay_s=0.1))
        async for part in bus.route_stream("The sea again?", constraints=constraints):
            assert isinstance(part, RouteChunk)
            request_id = part.request_id
            break
    left_at = time.monotonic()
    while not vendor.disconnects and time.monotonic() - left_at < 5:
        await asyncio.sleep(0.02)
    assert vendor.disconnects and vendor.disconnects[0][1] - left_at < 2.0
    row = await _row(pool, str(request_id))
    assert row["status"] == "cancelled"
