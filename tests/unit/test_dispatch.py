"""Retries, fallback, circuits and deadline, through the real adapters against the fake vendors."""

from __future__ import annotations

import time

import pytest

from schemas.messages import ChatMessage, FallbackHop
from shared.providers.registry import build_providers, close_providers
from shared.routing.catalog import Catalog, ModelSpec, load_catalog
from shared.routing.dispatch import AllModelsFailed, call_with_fallback
from shared.routing.policy import RoutingPolicy
from shared.routing.resilience import BreakerRegistry, CircuitState
from shared.routing.tokens import estimate_prompt_tokens
from tests.fakes.vendor_server import TOKENS_IN, TOKENS_OUT, running_vendor_server, settings_for

MESSAGES = [ChatMessage(role="user", content="What is the capital of France?")]


def spec(model_id, provider, context=200_000, fallbacks=(), max_output=8192):
    return ModelSpec(
        id=model_id,
        provider=provider,
        vendor_model=f"vendor-{model_id}",
        tier="middle",
        input_per_mtok=1.0,
        output_per_mtok=4.0,
        context_window=context,
        max_output_tokens=max_output,
        fallbacks=list(fallbacks),
        quality={"default": 0.9},
    )


CATALOG = Catalog(
    default_premium_model="a-prem",
    models=[
        spec("a-prem", "anthropic", fallbacks=["a-mid", "g-pro"]),
        spec("a-mid", "anthropic", fallbacks=["or-mid"]),
        spec("g-pro", "google", context=1_000_000, fallbacks=["or-pro"]),
        spec("or-mid", "openrouter"),
        spec("or-pro", "openrouter", context=1_000_000),
    ],
)
M = {m.id: m for m in CATALOG.models}


def fallback_chain(first, catalog, providers, prompt_tokens=0, max_tokens=0):
    """The policy's chain for `first` when these providers are configured."""
    policy = RoutingPolicy(catalog, frozenset(providers), exploration_rate=0)
    return list(policy.fallbacks(first, prompt_tokens, max_tokens))


@pytest.fixture(scope="module")
def fake():
    with running_vendor_server() as server:
        yield server


@pytest.fixture(scope="module")
async def providers(fake):
    built = build_providers(settings_for(fake))
    yield built
    await close_providers(built)


@pytest.fixture(autouse=True)
def _clean(fake):
    fake.reset()
    yield
    fake.reset()


async def dispatch(chain, providers, fake, breakers=None, deadline_s=5.0, **overrides):
    settings = settings_for(fake, **overrides)
    return await call_with_fallback(
        [M[m] if isinstance(m, str) else m for m in chain],
        providers,
        breakers or BreakerRegistry.from_settings(settings),
        MESSAGES,
        max_tokens=256,
        deadline_s=deadline_s,
        settings=settings,
    )


def hop(provider, model, reason, attempts):
    return FallbackHop(provider=provider, model=model, reason=reason, attempts=attempts)


# ---- the happy path and retries ---------------------------------------------------------------


async def test_first_model_answers_and_is_costed_from_usage(fake, providers):
    result = await dispatch(["a-prem", "g-pro"], providers, fake)
    assert result.spec.id == "a-prem"
    assert (result.hops, result.attempts) == ([], 1)
    assert result.completion.model == "vendor-a-prem"  # the vendor's id was sent
    assert result.spec.cost(result.completion.tokens_in, result.completion.tokens_out) == (
        pytest.approx((TOKENS_IN * 1.0 + TOKENS_OUT * 4.0) / 1e6)
    )


async def test_429_then_success_waits_the_retry_after(fake, providers):
    fake.fail("anthropic", 429, headers={"retry-after-ms": "250"})
    result = await dispatch(["a-prem", "g-pro"], providers, fake)
    assert (result.spec.id, result.attempts, result.hops) == ("a-prem", 2, [])
    first, second = fake.requests_to("anthropic")
    assert second.at - first.at >= 0.25


async def test_retry_after_beyond_the_deadline_moves_on_without_waiting(fake, providers):
    fake.fail("anthropic", 429, headers={"retry-after": "30"})
    started = time.monotonic()
    result = await dispatch(["a-prem", "g-pro"], providers, fake, deadline_s=5)
    assert time.monotonic() - started < 1
    assert result.spec.id == "g-pro"
    assert result.hops == [hop("anthropic", "a-prem", "rate_limited", 1)]


# ---- falling over -----------------------------------------------------------------------------


async def test_529_until_the_chain_falls_over_to_the_next_provider(fake, providers):
    fake.fail("anthropic", 529, times=3)
    result = await dispatch(["a-prem", "g-pro"], providers, fake, max_attempts_per_model=3)
    assert result.spec.id == "g-pro"
    assert result.hops == [hop("anthropic", "a-prem", "overloaded", 3)]
    assert result.attempts == 4
    assert len(fake.requests_to("anthropic")) == 3


async def test_500s_on_two_vendors_end_at_openrouter(fake, providers):
    fake.fail("anthropic", 500, times=2)
    fake.fail("google", 503, times=2)
    result = await dispatch(
        ["a-prem", "g-pro", "or-pro"], providers, fake, max_attempts_per_model=2
    )
    assert result.spec.id == "or-pro"
    assert [h.reason for h in result.hops] == ["server_error", "server_error"]


async def test_all_providers_failing_lists_every_reason(fake, providers):
    fake.fail("anthropic", 529, times=2)
    fake.fail("google", 503, times=2)
    fake.fail("openrouter", 401)
    with pytest.raises(AllModelsFailed) as caught:
        await dispatch(["a-prem", "g-pro", "or-pro"], providers, fake, max_attempts_per_model=2)
    failure = caught.value
    assert not failure.deadline_exceeded
    assert failure.hops == [
        hop("anthropic", "a-prem", "overloaded", 2),
        hop("google", "g-pro", "server_error", 2),
        hop("openrouter", "or-pro", "auth", 1),
    ]
    for text in ("anthropic/a-prem: overloaded x2", "google/g-pro: server_error x2", "auth x1"):
        assert text in str(failure)


async def test_a_hanging_provider_falls_over_within_the_deadline(fake, providers):
    fake.hang("anthropic", 10, times=2)
    started = time.monotonic()
    result = await dispatch(
        ["a-prem", "g-pro"],
        providers,
        fake,
        deadline_s=3,
        provider_timeout_s=0.2,
        max_attempts_per_model=2,
    )
    assert result.spec.id == "g-pro"
    assert result.hops == [hop("anthropic", "a-prem", "timeout", 2)]
    assert time.monotonic() - started < 1.5


async def test_the_deadline_bounds_the_whole_chain(fake, providers):
    for vendor in ("anthropic", "google", "openrouter"):
        fake.hang(vendor, 10, times=3)
    started = time.monotonic()
    with pytest.raises(AllModelsFailed) as caught:
        await dispatch(["a-prem", "g-pro", "or-pro"], providers, fake, deadline_s=0.5)
    elapsed = time.monotonic() - started
    assert caught.value.deadline_exceeded
    assert "deadline exceeded" in str(caught.value)
    assert 0.45 <= elapsed < 1.2
    assert caught.value.hops[0].reason == "timeout"


async def test_a_malformed_answer_moves_on_without_a_retry(fake, providers):
    fake.malformed("anthropic")
    result = await dispatch(["a-prem", "g-pro"], providers, fake)
    assert result.spec.id == "g-pro"
    assert result.hops == [hop("anthropic", "a-prem", "malformed_response", 1)]
    assert len(fake.requests_to("anthropic")) == 1


async def test_context_too_long_skips_to_a_larger_context_model(fake, providers):
    fake.fail("anthropic", 400, message="prompt is too long: 250000 tokens > 200000 maximum")
    result = await dispatch(["a-prem", "or-mid", "g-pro"], providers, fake)
    assert result.spec.id == "g-pro"
    assert result.hops == [
        hop("anthropic", "a-prem", "context_too_long", 1),
        hop("openrouter", "or-mid", "context_too_small", 0),
    ]
    assert fake.requests_to("openrouter") == []


@pytest.mark.parametrize(("status", "reason"), [(401, "auth"), (403, "auth"), (400, "bad_request")])
async def test_a_provider_wide_error_skips_that_provider_only(fake, providers, status, reason):
    fake.fail("anthropic", status)
    result = await dispatch(["a-prem", "a-mid", "g-pro"], providers, fake)
    assert result.spec.id == "g-pro"
    assert result.hops == [
        hop("anthropic", "a-prem", reason, 1),
        hop("anthropic", "a-mid", reason, 0),
    ]
    assert len(fake.requests_to("anthropic")) == 1


async def test_max_tokens_is_clamped_to_the_models_limit(fake, providers):
    small = spec("a-small-out", "anthropic", max_output=100)
    await dispatch([small], providers, fake)
    assert fake.requests_to("anthropic")[0].body["max_tokens"] == 100


# ---- circuits ---------------------------------------------------------------------------------


class FakeClock:
    now = 0.0

    def __call__(self):
        return self.now


async def test_circuit_opens_skips_then_probes_and_closes(fake, providers):
    clock = FakeClock()
    breakers = BreakerRegistry(failure_threshold=2, reset_s=30, clock=clock)
    fake.fail("anthropic", 500, times=2)
    first = await dispatch(["a-prem", "g-pro"], providers, fake, breakers, max_attempts_per_model=3)
    # The second failure opened the circuit, so the third attempt was never made.
    assert first.hops == [hop("anthropic", "a-prem", "server_error", 2)]
    assert breakers.get("anthropic", "a-prem").state is CircuitState.OPEN

    second = await dispatch(["a-prem", "g-pro"], providers, fake, breakers)
    assert second.hops == [hop("anthropic", "a-prem", "circuit_open", 0)]
    assert len(fake.requests_to("anthropic")) == 2

    clock.now += 30  # half-open: one probe goes through, succeeds, and closes the circuit
    third = await dispatch(["a-prem", "g-pro"], providers, fake, breakers)
    assert (third.spec.id, third.hops) == ("a-prem", [])
    [status] = [s for s in breakers.snapshot() if s.model == "a-prem"]
    assert (status.state, status.consecutive_failures) == ("closed", 0)


async def test_a_context_error_does_not_count_against_the_circuit(fake, providers):
    breakers = BreakerRegistry(failure_threshold=1, reset_s=30)
    fake.fail("anthropic", 400, message="prompt is too long")
    await dispatch(["a-prem", "g-pro"], providers, fake, breakers)
    assert breakers.get("anthropic", "a-prem").state is CircuitState.CLOSED


# ---- chains and missing keys ------------------------------------------------------------------


async def test_a_missing_key_removes_that_provider_from_the_chain(fake, monkeypatch):
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    partial = build_providers(settings_for(fake, google_api_key=None))
    try:
        assert "google" not in partial
        chain = fallback_chain(M["a-prem"], CATALOG, set(partial))
        assert [m.id for m in chain] == ["a-prem", "a-mid", "or-mid", "or-pro"]
        fake.fail("anthropic", 529, times=6)
        result = await dispatch(chain, partial, fake, max_attempts_per_model=3)
        assert result.spec.id == "or-mid"
        # Handed a chain with a model it cannot call, dispatch skips it rather than crashing.
        result = await dispatch(["g-pro", "or-pro"], partial, fake)
        assert result.hops == [hop("google", "g-pro", "provider_unavailable", 0)]
    finally:
        await close_providers(partial)


def test_fallback_chain_is_breadth_first_and_deduplicated():
    everything = {"anthropic", "google", "openrouter"}
    chain = fallback_chain(M["a-prem"], CATALOG, everything)
    assert [m.id for m in chain] == ["a-prem", "a-mid", "g-pro", "or-mid", "or-pro"]
    assert [m.id for m in fallback_chain(M["a-prem"], CATALOG, {"openrouter"})] == [
        "or-mid",
        "or-pro",
    ]
    assert fallback_chain(M["a-prem"], CATALOG, {"simulated"}) == []


def test_fallback_chain_skips_models_too_small_for_the_prompt():
    chain = fallback_chain(
        M["a-prem"],
        CATALOG,
        {"anthropic", "google", "openrouter"},
        prompt_tokens=195_000,
        max_tokens=8_000,
    )
    assert [m.id for m in chain] == ["g-pro", "or-pro"]


async def test_an_empty_chain_fails_clearly(fake, providers):
    with pytest.raises(AllModelsFailed, match="no configured model"):
        await dispatch([], providers, fake)


def test_every_real_vendor_chain_reaches_openrouter():
    catalog = load_catalog()
    everything = {"anthropic", "google", "openrouter"}
    for model in catalog.models:
        if model.provider in ("anthropic", "google"):
            chain = fallback_chain(model, catalog, everything)
            assert any(m.provider == "openrouter" for m in chain), model.id


def test_real_catalog_opus_chain_keeps_close_substitutes_first():
    catalog = load_catalog()
    chain = fallback_chain(catalog.get("claude-opus-4-5"), catalog, {"anthropic", "openrouter"})
    # The same model through OpenRouter first, then the catalog's substitutes.
    assert [m.id for m in chain][:3] == [
        "claude-opus-4-5",
        "openrouter/anthropic/claude-opus-4.5",
        "claude-sonnet-5-5",
    ]


def test_prompt_token_estimate_counts_message_overhead():
    assert estimate_prompt_tokens(MESSAGES) == 8 + 4


# ---- options and tools ------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", ["anthropic", "google", "openrouter"])
async def test_a_streamed_request_with_tools_gets_whole_tool_calls(fake, providers, vendor):
    from schemas.messages import GenerationOptions, ToolSpec
    from tests.fakes.vendor_server import Reply, tool_call_body

    model = {"anthropic": "a-prem", "google": "g-pro", "openrouter": "or-pro"}[vendor]
    fake.enqueue(vendor, Reply(body=tool_call_body(vendor, f"vendor-{model}", "calc", {"x": 2})))
    pieces = []

    async def emit(spec, piece):
        pieces.append(piece)

    settings = settings_for(fake)
    result = await call_with_fallback(
        [M[model]],
        providers,
        BreakerRegistry.from_settings(settings),
        MESSAGES,
        max_tokens=64,
        deadline_s=5,
        settings=settings,
        emit=emit,
        options=GenerationOptions(tools=[ToolSpec(name="calc")], temperature=0.5),
    )
    (call,) = result.completion.tool_calls
    assert (call.name, call.arguments) == ("calc", '{"x": 2}')
    assert result.completion.finish_reason == "tool_calls"
    assert pieces == []  # no text came with the call
    assert "calc" in str(fake.requests_to(vendor)[-1].body)
