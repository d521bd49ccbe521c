"""The official `openai` client, unchanged, against the running system (base_url=.../v1)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import openai
import pytest

from shared.settings import Settings
from tests.integration.auth_support import SecuredSystem, secured_system
from tests.integration.test_request_path import wait_for_rows

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
async def secured(settings: Settings) -> AsyncIterator[SecuredSystem]:
    async with secured_system(settings) as system:
        yield system


async def _client(secured: SecuredSystem, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key=key, base_url=f"{secured.running.base_url}/v1", max_retries=0, timeout=30
    )


async def test_auto_routes_and_answers_a_standard_chat_completion(
    secured: SecuredSystem,
) -> None:
    key_id, key = await secured.key()
    client = await _client(secured, key)
    raw = await client.chat.completions.with_raw_response.create(
        model="auto",
        messages=QUESTION,
        max_tokens=60,
        temperature=0.3,  # type: ignore[arg-type]
    )
    completion = raw.parse()
    assert raw.headers["x-request-id"] == completion.id
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage is not None
    usage = completion.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0
    assert completion.model.startswith("simulated-")
    # The completion id is the request_id: the row exists, owned by the key, and takes feedback.
    request_id = uuid.UUID(completion.id)
    await wait_for_rows(
        secured.pool,
        "SELECT count(*) FROM routing_requests WHERE request_id = $1 AND api_key_id = $2",
        request_id,
        key_id,
        expected=1,
    )
    async with secured.client(key) as http:
        rated = await http.post(
            "/production/feedback", json={"request_id": completion.id, "quality_score": 5}
        )
    assert rated.status_code == 200, rated.text
    await client.close()


async def test_a_catalog_model_id_forces_that_model(secured: SecuredSystem) -> None:
    _, key = await secured.key()
    client = await _client(secured, key)
    models = await client.models.list()
    ids = [m.id for m in models.data]
    assert ids[0] == "auto" and "simulated-premium" in ids
    completion = await client.chat.completions.create(
        model="simulated-premium",
        messages=QUESTION,  # type: ignore[arg-type]
    )
    assert completion.model == "simulated-premium"
    assert (await client.models.retrieve("simulated-premium")).id == "simulated-premium"
    await client.close()


async def test_streaming_clients_get_the_answer_as_chunks(secured: SecuredSystem) -> None:
    _, key = await secured.key()
    client = await _client(secured, key)
    stream = await client.chat.completions.create(
        model="auto",
        messages=QUESTION,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text.startswith("[simulated answer")
    assert usage is not None and usage.total_tokens > 0
    await client.close()


async def test_errors_reach_the_openai_client_as_its_own_exceptions(
    secured: SecuredSystem,
) -> None:
    _, key = await secured.key()
    client = await _client(secured, key)
    with pytest.raises(openai.NotFoundError) as unknown:
        await client.chat.completions.create(model="gpt-17", messages=QUESTION)  # type: ignore[arg-type]
    assert "no such model" in str(unknown.value)
    assert "gpt-17" not in str(unknown.value), "errors never echo input"
    # A retired id is forced onto the model that replaces it: no Anthropic key here, so the
    # answer is that model's error, not "unknown model".
    with pytest.raises(openai.APIStatusError) as retired:
        await client.chat.completions.create(model="claude-sonnet-4-5", messages=QUESTION)  # type: ignore[arg-type]
    assert retired.value.status_code != 404
    assert "claude-sonnet-5-5" in str(retired.value)
    with pytest.raises(openai.UnprocessableEntityError):
        await client.chat.completions.create(
            model="auto",
            messages=[
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
            ],  # type: ignore[list-item]
        )
    await client.close()
    wrong = openai.AsyncOpenAI(
        api_key="aco_" + "x" * 43, base_url=f"{secured.running.base_url}/v1", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError):
        await wrong.models.list()
    await wrong.close()
