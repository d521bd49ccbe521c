"""Each vendor adapter, through its real SDK, against the local fake vendor server."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from schemas.messages import ChatMessage
from shared.providers import table
from shared.providers.anthropic import AnthropicProvider
from shared.providers.base import (
    ContextTooLongError,
    FatalProviderError,
    RetryableProviderError,
)
from shared.providers.common import parse_retry_after
from shared.providers.google import GeminiProvider
from shared.providers.openrouter import OpenRouterProvider
from shared.providers.registry import build_providers, close_providers
from shared.routing.catalog import ModelSpec, load_catalog
from shared.settings import Settings
from tests.fakes.vendor_server import TOKENS_IN, TOKENS_OUT, Reply, settings_for
from tests.unit.providers.conftest import KEY, VENDOR_MODEL, VENDORS

SECRET_PROMPT = "my-private-diagnosis-1234"
MESSAGES = [
    ChatMessage(role="system", content="be brief"),
    ChatMessage(role="user", content=SECRET_PROMPT),
    ChatMessage(role="assistant", content="earlier answer"),
    ChatMessage(role="user", content="and now?"),
]


async def call(provider, timeout_s=2.0, messages=MESSAGES):
    return await provider.complete(VENDOR_MODEL[provider.name], messages, 64, timeout_s)


# ---- success, and what goes over the wire --------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS)
async def test_success_reports_text_usage_model_and_finish(fake, provider_for, vendor):
    completion = await call(provider_for(vendor))
    assert completion.text == f"answer from {vendor} {VENDOR_MODEL[vendor]}"
    assert (completion.tokens_in, completion.tokens_out) == (TOKENS_IN, TOKENS_OUT)
    assert completion.model == VENDOR_MODEL[vendor]
    assert completion.finish_reason == "stop"


async def test_anthropic_request_shape(fake, provider_for):
    await call(provider_for("anthropic"))
    [request] = fake.requests_to("anthropic")
    assert request.path == "/v1/messages"
    assert request.headers.get("authorization") == "Bearer key-a" or (
        request.headers.get("x-api-key") == "key-a"
    )
    assert "anthropic-version" in request.headers
    assert request.headers["x-stainless-retry-count"] == "0"
    assert request.body["model"] == "claude-x"
    assert request.body["max_tokens"] == 64
    assert request.body["system"] == "be brief"
    assert [m["role"] for m in request.body["messages"]] == ["user", "assistant", "user"]
    # Sonnet 5 and later answer 400 to non-default sampling parameters and to manual thinking
    # settings, so the adapter leaves them all to the model's defaults.
    assert not {"temperature", "top_p", "top_k", "thinking"} & set(request.body)


async def test_anthropic_thinking_blocks_are_not_answer_text(fake, provider_for):
    # Models with adaptive thinking on by default put thinking blocks before the text.
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "", "signature": "sig"},
            {"type": "text", "text": "ok"},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 30},
    }
    fake.enqueue("anthropic", Reply(body=body))
    completion = await call(provider_for("anthropic"))
    assert (completion.text, completion.tokens_out, completion.finish_reason) == ("ok", 30, "stop")


async def test_gemini_request_shape(fake, provider_for):
    await call(provider_for("google"))
    [request] = fake.requests_to("google")
    assert request.path == "/v1/models/gemini-x:generateContent"
    assert request.headers["x-goog-api-key"] == "key-g"
    assert [c["role"] for c in request.body["contents"]] == ["user", "model", "user"]
    assert request.body["systemInstruction"]["parts"] == [{"text": "be brief"}]
    assert request.body["generationConfig"]["maxOutputTokens"] == 64


async def test_openrouter_request_shape(fake, provider_for):
    await call(provider_for("openrouter"))
    [request] = fake.requests_to("openrouter")
    assert request.path == "/api/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer key-o"
    assert request.body["model"] == "vendor/model-x"
    assert request.body["max_tokens"] == 64
    assert [m["role"] for m in request.body["messages"]] == ["system", "user", "assistant", "user"]


async def test_gemini_counts_thinking_tokens_as_output(fake, provider_for):
    body = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"text": "hm", "thought": True}, {"text": "ok"}],
                },
                "finishReason": "MAX_TOKENS",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 10,
            "candidatesTokenCount": 3,
            "thoughtsTokenCount": 40,
        },
    }
    fake.enqueue("google", Reply(body=body))
    completion = await call(provider_for("google"))
    assert (completion.text, completion.tokens_out, completion.finish_reason) == (
        "ok",
        43,
        "length",
    )


async def test_gemini_blocked_prompt_is_a_content_filter_answer(fake, provider_for):
    body = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9}}
    fake.enqueue("google", Reply(body=body))
    completion = await call(provider_for("google"))
    assert (completion.text, completion.tokens_in, completion.finish_reason) == (
        "",
        9,
        "content_filter",
    )


async def test_missing_usage_is_estimated_never_zero(fake, provider_for):
    body = {
        "choices": [
            {"message": {"role": "assistant", "content": "x" * 40}, "finish_reason": "stop"}
        ]
    }
    fake.enqueue("openrouter", Reply(body=body))
    completion = await call(provider_for("openrouter"))
    assert completion.tokens_in > 0 and completion.tokens_out == 10


def _with_usage(vendor: str, tokens_in: object, tokens_out: object) -> dict:
    """A vendor's success body reporting these token counts."""
    from tests.fakes.vendor_server import success_body

    body = success_body(vendor, VENDOR_MODEL[vendor], "a short answer")
    if vendor == "anthropic":
        body["usage"] = {"input_tokens": tokens_in, "output_tokens": tokens_out}
    elif vendor == "google":
        body["usageMetadata"] = {"promptTokenCount": tokens_in, "candidatesTokenCount": tokens_out}
    else:
        body["usage"] = {"prompt_tokens": tokens_in, "completion_tokens": tokens_out}
    return body


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize(
    ("tokens_in", "tokens_out"),
    [(-5, 7), (TOKENS_IN, -1), (10**12, 10**12), (TOKENS_IN, 10**12), (-1, -1)],
)
async def test_absurd_usage_is_estimated_with_a_warning(
    fake, provider_for, vendor, tokens_in, tokens_out, caplog
):
    fake.enqueue(vendor, Reply(body=_with_usage(vendor, tokens_in, tokens_out)))
    completion = await call(provider_for(vendor))
    assert completion.text == "a short answer", "the answer is kept, not paid for again"
    prompt_bytes = sum(len(m.content.encode()) for m in MESSAGES)
    assert 0 < completion.tokens_in <= prompt_bytes
    assert 0 < completion.tokens_out <= len(completion.text)
    if 0 <= tokens_in <= 10**6:
        assert completion.tokens_in == tokens_in, "a believable count is the vendor's"
    assert "estimating from text length" in caplog.text
    assert str(10**12) not in caplog.text


async def test_believable_usage_is_taken_as_reported(fake, provider_for, caplog):
    # Thinking tokens may take the output well past the visible text, up to max_tokens.
    fake.enqueue("openrouter", Reply(body=_with_usage("openrouter", 300, 60)))
    completion = await call(provider_for("openrouter"))
    assert (completion.tokens_in, completion.tokens_out) == (300, 60)
    assert "estimating" not in caplog.text


# ---- error mapping --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vendor", "headers", "details", "expected"),
    [
        ("anthropic", {"retry-after": "2"}, None, 2.0),
        ("anthropic", {"retry-after-ms": "150", "retry-after": "1"}, None, 0.15),
        (
            "google",
            {},
            [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"}],
            1.5,
        ),
        ("openrouter", {"Retry-After": "3"}, None, 3.0),
    ],
)
async def test_429_is_retryable_with_retry_after(
    fake, provider_for, vendor, headers, details, expected
):
    fake.fail(vendor, 429, headers=headers, details=details)
    with pytest.raises(RetryableProviderError) as caught:
        await call(provider_for(vendor))
    assert caught.value.kind == "rate_limited"
    assert caught.value.status == 429
    assert caught.value.retry_after_s == pytest.approx(expected)
    assert len(fake.requests_to(vendor)) == 1  # the SDK did not retry on its own


@pytest.mark.parametrize(
    ("vendor", "status", "kind"),
    [
        ("anthropic", 529, "overloaded"),
        ("anthropic", 500, "server_error"),
        ("google", 503, "server_error"),
        ("google", 500, "server_error"),
        ("openrouter", 502, "server_error"),
    ],
)
async def test_server_errors_are_retryable(fake, provider_for, vendor, status, kind):
    fake.fail(vendor, status)
    with pytest.raises(RetryableProviderError) as caught:
        await call(provider_for(vendor))
    assert (caught.value.kind, caught.value.status) == (kind, status)
    assert len(fake.requests_to(vendor)) == 1


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "bad_request"), (401, "auth"), (403, "auth"), (404, "not_found")],
)
async def test_client_errors_are_fatal(fake, provider_for, vendor, status, kind):
    fake.fail(vendor, status, message=f"bad things about {SECRET_PROMPT}")
    with pytest.raises(FatalProviderError) as caught:
        await call(provider_for(vendor))
    assert caught.value.kind == kind
    assert not isinstance(caught.value, ContextTooLongError)


@pytest.mark.parametrize(
    ("vendor", "message"),
    [
        ("anthropic", "prompt is too long: 210000 tokens > 200000 maximum"),
        ("google", "The input token count (1200000) exceeds the maximum number of tokens allowed"),
        ("openrouter", "This endpoint's maximum context length is 32768 tokens"),
    ],
)
async def test_prompt_too_long_is_context_too_long(fake, provider_for, vendor, message):
    fake.fail(vendor, 400, message=message)
    with pytest.raises(ContextTooLongError) as caught:
        await call(provider_for(vendor))
    assert caught.value.kind == "context_too_long"


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize(
    "reply",
    [
        Reply(body='{"half": ', headers={"content-type": "application/json"}),
        Reply(body="<html>bad gateway</html>", headers={"content-type": "text/html"}),
        Reply(body={"unexpected": "shape"}),
    ],
    ids=["truncated-json", "html", "wrong-shape"],
)
async def test_malformed_answers_are_fatal_malformed_response(fake, provider_for, vendor, reply):
    fake.enqueue(vendor, reply)
    with pytest.raises(FatalProviderError) as caught:
        await call(provider_for(vendor))
    assert caught.value.kind == "malformed_response"


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_hanging_vendor_times_out_as_retryable(fake, provider_for, vendor):
    fake.hang(vendor, 10)
    started = time.monotonic()
    with pytest.raises(RetryableProviderError) as caught:
        await call(provider_for(vendor), timeout_s=0.3)
    assert caught.value.kind == "timeout"
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("vendor", VENDORS)
async def test_connection_refused_is_retryable(vendor):
    # Port 9 (discard) is closed on a test machine: the connection is refused at once.
    providers = {
        "anthropic": lambda: AnthropicProvider("k", "http://127.0.0.1:9", 1.0),
        "google": lambda: GeminiProvider("k", "http://127.0.0.1:9", 1.0),
        "openrouter": lambda: OpenRouterProvider("k", "http://127.0.0.1:9/api/v1", 1.0),
    }
    provider = providers[vendor]()
    try:
        with pytest.raises(RetryableProviderError) as caught:
            await call(provider)
        assert caught.value.kind in ("connection", "timeout")
    finally:
        await provider.aclose()


async def test_openrouter_upstream_retry_hint_in_error_metadata(fake, provider_for):
    body = {"error": {"code": 429, "message": "rate-limited upstream"}}
    body["error"]["metadata"] = {"retry_after_seconds": 17, "provider_name": "X"}
    fake.enqueue("openrouter", Reply(status=429, body=body))
    with pytest.raises(RetryableProviderError) as caught:
        await call(provider_for("openrouter"))
    assert (caught.value.kind, caught.value.retry_after_s) == ("rate_limited", 17)


async def test_openrouter_error_inside_a_200_answer(fake, provider_for):
    fake.enqueue("openrouter", Reply(body={"error": {"code": 502, "message": "upstream down"}}))
    with pytest.raises(RetryableProviderError) as caught:
        await call(provider_for("openrouter"))
    assert caught.value.status == 502


@pytest.mark.parametrize("vendor", VENDORS)
async def test_errors_carry_no_prompt_text_and_no_key(fake, provider_for, vendor):
    fake.fail(vendor, 400, message=f"cannot process '{SECRET_PROMPT}'")
    with pytest.raises(FatalProviderError) as caught:
        await call(provider_for(vendor))
    text = str(caught.value)
    assert SECRET_PROMPT not in text and KEY[vendor] not in text
    # The vendor's exception (holding the raw body) is not chained into tracebacks.
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def test_parse_retry_after_variants():
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "7"}) == 7
    assert parse_retry_after({"retry-after": "garbage"}) is None
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0


# ---- registry -------------------------------------------------------------------------------


async def test_missing_keys_leave_only_the_simulated_provider(fake, monkeypatch):
    for name in ("ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = settings_for(
        fake, anthropic_api_key=None, google_api_key="   ", openrouter_api_key=None
    )
    providers = build_providers(settings)
    assert set(providers) == {"simulated"}
    await close_providers(providers)


async def test_each_key_adds_its_provider(fake):
    providers = build_providers(settings_for(fake, google_api_key=None))
    try:
        assert set(providers) == {"simulated", "anthropic", "openrouter"}
        completion = await providers["anthropic"].complete("claude-x", MESSAGES, 16, 1.0)
        assert completion.tokens_in == TOKENS_IN
        request = fake.requests_to("anthropic")[0]
        assert "test-anthropic-key" in (
            request.headers.get("authorization", "") + request.headers.get("x-api-key", "")
        )
    finally:
        await close_providers(providers)


async def test_close_providers_survives_a_failing_close():
    class Broken:
        name = "broken"

        async def complete(self, model, messages, max_tokens, timeout_s):
            raise NotImplementedError

        async def aclose(self):
            raise RuntimeError("boom")

    closed = []

    class Fine(Broken):
        async def aclose(self):
            closed.append(True)

    await close_providers({"broken": Broken(), "fine": Fine()})
    assert closed == [True]


# ---- the provider table ---------------------------------------------------------------------


def test_every_row_names_a_module_and_adapter_that_exist():
    import importlib

    for row in table.VENDORS:
        module = importlib.import_module(row.module)
        adapter = getattr(module, row.adapter)
        assert module.__name__.rsplit(".", 1)[-1] == row.key
        assert adapter.name == row.key
        assert row.api_key_setting in Settings.model_fields
        assert row.base_url_setting in Settings.model_fields


def test_settings_read_each_vendor_key_from_the_table():
    settings = Settings(
        anthropic_api_key="a-key", google_api_key=None, openrouter_api_key=" o-key "
    )
    assert settings.configured_providers() == ["anthropic", "openrouter"]
    for row in table.VENDORS:
        assert settings.base_url(row.key) == getattr(settings, row.base_url_setting)


def test_the_catalog_refuses_a_provider_the_table_does_not_know():
    entry = {
        "id": "m",
        "provider": "acme",
        "vendor_model": "m",
        "tier": "cheap",
        "input_per_mtok": 1.0,
        "output_per_mtok": 1.0,
        "context_window": 1000,
        "quality": {"default": 0.5},
    }
    with pytest.raises(ValidationError, match="unknown provider"):
        ModelSpec(**entry)
    assert ModelSpec(**{**entry, "provider": "simulated"}).provider == "simulated"
    assert {spec.provider for spec in load_catalog().models} <= set(table.PROVIDER_KEYS)
