"""Issue 18 end to end: the official `openai` and `anthropic` clients against our ingress, the
bus and the routers, with fakes speaking each vendor's wire format behind them.

Tool calls make a round trip through each vendor's fake; an image is routed only among vision
models; JSON schema and sampling reach the vendor in its own terms; a key limited to two models
never gets a third, even through fallback; a forced model falls over only to itself elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from services.ledger import access_store
from shared.routing.catalog import load_catalog
from shared.storage.db import create_pool
from tests.conftest import free_port, isolated_settings
from tests.fakes.vendor_server import FakeVendorServer, Reply, running_vendor_server, tool_call_body
from tests.integration.test_request_path import wait_for_rows
from tests.system import RunningSystem, start_system

CATALOG = load_catalog()
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
# A 1x1 PNG.
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAj"
    "CB0C8AAAAASUVORK5CYII="
)


@dataclass
class Stack:
    running: RunningSystem
    vendor: FakeVendorServer
    pool: object

    async def key(self, scope: str = "client", **rules: object) -> str:
        _, key = await access_store.create_key(self.pool, scope, "e2e", **rules)  # type: ignore[arg-type]
        return key

    def openai(self, key: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=key, base_url=f"{self.running.base_url}/v1", max_retries=0, timeout=30
        )

    def anthropic(self, key: str) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            api_key=key, base_url=self.running.base_url, max_retries=0, timeout=30
        )


@pytest.fixture(scope="module")
def vendor() -> Iterator[FakeVendorServer]:
    with running_vendor_server() as fake:
        yield fake


@pytest.fixture(scope="module")
def overlay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("catalog") / "overlay.toml"
    path.write_text("remove = []\n")
    return path


@pytest.fixture(scope="module")
async def stack(
    service_urls: tuple[str, str], vendor: FakeVendorServer, overlay: Path
) -> AsyncIterator[Stack]:
    overrides = {
        # A self-hosted OpenAI-compatible server: the fake's OpenAI-shaped route.
        "selfhosted_base_url": f"{vendor.url}/api/v1",
        "catalog_overlay_path": str(overlay),
        "anthropic_api_key": "test-anthropic-key",
        "google_api_key": "test-google-key",
        "openrouter_api_key": "test-openrouter-key",
        "anthropic_base_url": vendor.url,
        "gemini_base_url": vendor.url,
        "openrouter_base_url": f"{vendor.url}/api/v1",
        "provider_timeout_s": 1.0,
        "request_deadline_s": 8.0,
        "retry_base_delay_s": 0.01,
        "max_attempts_per_model": 1,
        "auth_enabled": True,
        "auth_cache_ttl_s": 0.5,
    }
    async with isolated_settings(service_urls, "rc" + uuid.uuid4().hex[:6], **overrides) as s:
        running = await start_system(s, free_port())
        pool = await create_pool(s.database_url, max_size=2)
        try:
            yield Stack(running, vendor, pool)
        finally:
            await pool.close()
            await running.stop()


@pytest.fixture(autouse=True)
def _clean(vendor: FakeVendorServer) -> Iterator[None]:
    vendor.reset()
    yield
    vendor.reset()


def _last_body(vendor: FakeVendorServer, which: str) -> dict:
    sent = vendor.requests_to(which)  # type: ignore[arg-type]
    assert sent, f"nothing reached {which}"
    return sent[-1].body


# ---- the openai client ----------------------------------------------------------------------


async def test_the_sync_openai_client_works_unchanged(stack: Stack) -> None:
    key = await stack.key()

    def ask() -> str | None:
        client = openai.OpenAI(api_key=key, base_url=f"{stack.running.base_url}/v1", max_retries=0)
        completion = client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "Say hello"}], max_tokens=20
        )
        client.close()
        return completion.choices[0].message.content

    assert await asyncio.to_thread(ask)


@pytest.mark.parametrize(
    ("model", "vendor_name"),
    [
        ("claude-haiku-4-5", "anthropic"),
        ("gemini-2.5-flash", "google"),
        ("openrouter/deepseek/deepseek-chat-v3.1", "openrouter"),
    ],
)
async def test_a_tool_call_round_trip_through_each_vendor(
    stack: Stack, model: str, vendor_name: str
) -> None:
    key = await stack.key()
    client = stack.openai(key)
    vendor_model = CATALOG.get(model).vendor_model
    stack.vendor.enqueue(
        vendor_name,  # type: ignore[arg-type]
        Reply(body=tool_call_body(vendor_name, vendor_model, "get_weather", {"city": "Oslo"})),  # type: ignore[arg-type]
    )
    question = {"role": "user", "content": "What is the weather in Oslo?"}
    first = await client.chat.completions.create(
        model=model, messages=[question], tools=[WEATHER], tool_choice="auto", max_tokens=64
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Oslo"}  # type: ignore[union-attr]
    sent = json.dumps(_last_body(stack.vendor, vendor_name))
    assert "get_weather" in sent  # the tool reached the vendor in its own terms
    second = await client.chat.completions.create(
        model=model,
        messages=[
            question,
            choice.message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "rain, 7 C"},
        ],
        tools=[WEATHER],
        max_tokens=64,
    )
    assert second.choices[0].message.content
    result = json.dumps(_last_body(stack.vendor, vendor_name))
    marker = {"anthropic": "tool_result", "google": "functionResponse", "openrouter": '"tool"'}
    assert marker[vendor_name] in result and "rain, 7 C" in result
    await client.close()


async def test_an_image_goes_only_to_a_vision_model_in_the_vendors_format(stack: Stack) -> None:
    key = await stack.key()
    client = stack.openai(key)
    completion = await client.chat.completions.create(
        model="auto",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What colour is this pixel?"},
                    {"type": "image_url", "image_url": {"url": PIXEL}},
                ],
            }
        ],
        max_tokens=32,
    )
    assert CATALOG.get(completion.model).capabilities.vision
    provider = CATALOG.get(completion.model).provider
    sent = json.dumps(_last_body(stack.vendor, provider))
    assert {"anthropic": '"base64"', "google": "inlineData", "openrouter": "image_url"}[
        provider
    ] in sent
    await client.close()


async def test_json_schema_and_sampling_reach_the_vendor_and_n_above_one_is_refused(
    stack: Stack,
) -> None:
    key = await stack.key()
    client = stack.openai(key)
    stack.vendor.enqueue("google", Reply(text='{"city": "Oslo"}'))
    completion = await client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Name a Norwegian city as JSON."}],
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "city",
                "schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        },
        temperature=0.1,
        seed=3,
        stop=["END"],
        max_tokens=32,
    )
    assert json.loads(completion.choices[0].message.content or "") == {"city": "Oslo"}
    config = _last_body(stack.vendor, "google")["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["properties"]["city"]["type"] == "string"
    assert (config["temperature"], config["seed"], config["stopSequences"]) == (0.1, 3, ["END"])
    with pytest.raises(openai.UnprocessableEntityError, match="n > 1"):
        await client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}], n=2, max_tokens=8
        )
    # A seed no Claude model takes: forcing one is a clear refusal, not a silent drop.
    with pytest.raises(openai.UnprocessableEntityError, match="seed"):
        await client.chat.completions.create(
            model="claude-haiku-4-5",
            messages=[{"role": "user", "content": "hi"}],
            seed=1,
            max_tokens=8,
        )
    await client.close()


# ---- the anthropic client against /v1/messages ---------------------------------------------


async def test_the_anthropic_client_gets_messages_and_tool_use(stack: Stack) -> None:
    key = await stack.key()
    client = stack.anthropic(key)
    message = await client.messages.create(
        model="auto",
        max_tokens=64,
        system="Be brief.",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
    )
    assert message.type == "message" and message.stop_reason == "end_turn"
    assert message.content[0].type == "text" and message.content[0].text  # type: ignore[union-attr]
    assert message.usage.input_tokens > 0
    stack.vendor.enqueue(
        "anthropic",
        Reply(
            body=tool_call_body("anthropic", "claude-haiku-4-5", "get_weather", {"city": "Oslo"})
        ),
    )
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    question = {"role": "user", "content": "Weather in Oslo?"}
    calling = await client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=64,
        tools=tools,
        messages=[question],  # type: ignore[list-item]
    )
    assert calling.stop_reason == "tool_use"
    use = calling.content[0]
    assert use.type == "tool_use" and use.input == {"city": "Oslo"}  # type: ignore[union-attr]
    answer = await client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=64,
        tools=tools,  # type: ignore[arg-type]
        messages=[
            question,  # type: ignore[list-item]
            {"role": "assistant", "content": [use.model_dump()]},  # type: ignore[list-item]
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "rain"}],  # type: ignore[union-attr]
            },
        ],
    )
    assert answer.content[0].text  # type: ignore[union-attr]
    sent = _last_body(stack.vendor, "anthropic")
    assert sent["messages"][-1]["content"][0]["type"] == "tool_result"
    async with client.messages.stream(
        model="auto", max_tokens=32, messages=[{"role": "user", "content": "Say hi"}]
    ) as stream:
        text = "".join([piece async for piece in stream.text_stream])
    assert text
    await client.close()


async def test_x_api_key_is_accepted_wherever_bearer_is(stack: Stack) -> None:
    key = await stack.key()
    async with httpx.AsyncClient(base_url=stack.running.base_url) as http:
        models = await http.get("/v1/models", headers={"x-api-key": key})
        refused = await http.get("/v1/models", headers={"x-api-key": "aco_wrong"})
    assert models.status_code == 200 and refused.status_code == 401


# ---- rules and fallback --------------------------------------------------------------------


async def test_a_key_limited_to_two_models_never_gets_a_third_even_through_fallback(
    stack: Stack,
) -> None:
    two = ["claude-haiku-4-5", "gemini-2.5-flash"]
    key = await stack.key(allowed_models=two)
    client = stack.openai(key)
    listed = {m.id for m in (await client.models.list()).data}
    assert listed == {"auto", *two}
    stack.vendor.fail("anthropic", 529, times=20)
    stack.vendor.fail("google", 503, times=20)
    with pytest.raises(openai.APIStatusError) as failed:
        await client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "Hello there"}], max_tokens=16
        )
    assert failed.value.status_code == 502
    assert not stack.vendor.requests_to("openrouter"), "a third model was tried"
    await client.close()


async def test_a_forced_model_with_its_vendor_down_is_answered_by_itself_elsewhere(
    stack: Stack,
) -> None:
    key = await stack.key()
    client = stack.openai(key)
    stack.vendor.fail("anthropic", 529, times=5)
    completion = await client.chat.completions.create(
        model="claude-haiku-4-5", messages=[{"role": "user", "content": "Hi"}], max_tokens=16
    )
    assert completion.model == "openrouter/anthropic/claude-haiku-4.5"
    path = completion.model_extra["fallback_path"]  # type: ignore[index]
    assert [(hop["model"], hop["reason"]) for hop in path] == [("claude-haiku-4-5", "overloaded")]
    await wait_for_rows(
        stack.pool,  # type: ignore[arg-type]
        "SELECT count(*) FROM routing_requests"
        " WHERE request_id = $1 AND fallback_path::text LIKE $2",
        uuid.UUID(completion.id),
        '%"claude-haiku-4-5"%',
        expected=1,
    )
    await client.close()


# ---- any model ------------------------------------------------------------------------------

SELF_HOSTED = """
[[models]]
id = "selfhosted/qwen3-8b"
provider = "selfhosted"
vendor_model = "Qwen/Qwen3-8B"
tier = "cheap"
input_per_mtok = 0.0
output_per_mtok = 0.0
context_window = 32768
quality = { default = 0.7 }
capabilities = { tools = true }
"""


async def test_an_overlay_model_reaches_every_router_after_an_admin_reload(
    stack: Stack, overlay: Path
) -> None:
    key = await stack.key()
    admin = await stack.key("admin")
    client = stack.openai(key)
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(
            model="selfhosted/qwen3-8b", messages=[{"role": "user", "content": "hi"}]
        )
    async with httpx.AsyncClient(base_url=stack.running.base_url) as http:
        await asyncio.to_thread(overlay.write_text, "[[models]]\nid = 'broken'\n")
        refused = await http.post("/admin/catalog/reload", headers={"x-api-key": admin})
        assert refused.status_code == 422, refused.text
        await asyncio.to_thread(overlay.write_text, SELF_HOSTED)
        reloaded = await http.post("/admin/catalog/reload", headers={"x-api-key": admin})
    assert reloaded.status_code == 200, reloaded.text
    assert reloaded.json()["models"] == len(CATALOG.models) + 1
    # The routers hear of it on the bus; the first request may come before they have.
    for _ in range(50):
        try:
            completion = await client.chat.completions.create(
                model="selfhosted/qwen3-8b",
                messages=[{"role": "user", "content": "hi"}],
                max_tokens=16,
            )
            break
        except openai.APIStatusError:
            await asyncio.sleep(0.1)
    assert completion.model == "selfhosted/qwen3-8b"
    assert completion.model_extra["provider"] == "selfhosted"  # type: ignore[index]
    assert _last_body(stack.vendor, "openrouter")["model"] == "Qwen/Qwen3-8B"
    listed = {m.id for m in (await client.models.list()).data}
    assert "selfhosted/qwen3-8b" in listed
    await asyncio.to_thread(overlay.write_text, "remove = []\n")
    await client.close()


async def test_the_preview_says_which_capability_ruled_each_model_out(stack: Stack) -> None:
    key = await stack.key()
    body = {
        "messages": [{"role": "user", "content": "Describe this.", "images": [{"url": PIXEL}]}],
        "options": {"temperature": 0.3},
        "constraints": {"min_quality": 0.9},
    }
    async with httpx.AsyncClient(base_url=stack.running.base_url) as http:
        preview = await http.post("/v1/route/preview", json=body, headers={"x-api-key": key})
    assert preview.status_code == 200, preview.text
    decision = preview.json()
    assert decision["ruled_out"]["openrouter/deepseek/deepseek-chat-v3.1"] == "no image input"
    assert decision["ruled_out"]["claude-sonnet-5-5"] == "does not take temperature"
    chain = decision["fallback_chain"]
    assert chain[0] == decision["model"]
    assert all(CATALOG.get(m).capabilities.vision for m in chain)


async def test_tool_call_deltas_in_an_openai_stream(stack: Stack) -> None:
    key = await stack.key()
    client = stack.openai(key)
    body = tool_call_body("google", "gemini-2.5-flash", "get_weather", {"city": "Oslo"})
    stack.vendor.enqueue("google", Reply(body=body))
    stream = await client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=[WEATHER],  # type: ignore[list-item]
        stream=True,
    )
    calls = []
    finish = None
    async for chunk in stream:
        for choice in chunk.choices:
            calls += choice.delta.tool_calls or []
            finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert [c.function.name for c in calls] == ["get_weather"]  # type: ignore[union-attr]
    assert json.loads(calls[0].function.arguments) == {"city": "Oslo"}  # type: ignore[union-attr]
    await client.close()
