"""Routing and fallback respect what the request contains and promises (issue 18, part 4)."""

from __future__ import annotations

import random

import pytest

from schemas.messages import (
    ChatMessage,
    GenerationOptions,
    ImagePart,
    ResponseFormat,
    RouteConstraints,
    ToolCall,
    ToolSpec,
)
from shared.routing.capabilities import NONE, Needs
from shared.routing.catalog import Capabilities, load_catalog
from shared.routing.classifier import Classification
from shared.routing.policy import NoCandidateError, RoutingPolicy

CATALOG = load_catalog()
REAL = frozenset({"anthropic", "google", "openrouter"})
TEXT = [ChatMessage(role="user", content="Prove that there are infinitely many primes.")]
IMAGE = [
    ChatMessage(
        role="user",
        content="What is in this picture?",
        images=[ImagePart(url="data:image/png;base64,iVBORw0KGgo=")],
    )
]
WEATHER = ToolSpec(name="get_weather", parameters={"type": "object", "properties": {}})


def decide(messages=TEXT, options=None, providers=REAL, **constraints):
    policy = RoutingPolicy(CATALOG, providers, exploration_rate=0)
    options = options or GenerationOptions()
    return policy.decide(
        Classification("math", "high", ()),
        200,
        256,
        random.Random(0),
        constraints=RouteConstraints(**constraints),
        needs=Needs.of(messages, options),
    )


def ids(models):
    return [m.id for m in models]


def test_plain_text_needs_nothing_and_every_model_fits():
    assert Needs.of(TEXT, GenerationOptions()) is NONE
    assert NONE.lacking(Capabilities()) is None


def test_an_image_goes_only_to_vision_models_and_the_preview_says_why_others_were_left():
    decision = decide(IMAGE)
    assert decision.model.capabilities.vision
    assert all(CATALOG.get(m).capabilities.vision for m in decision.candidates)
    assert all(m.capabilities.vision for m in decision.chain)
    assert decision.rejected["openrouter/deepseek/deepseek-chat-v3.1"] == "no image input"


def test_tools_json_schema_and_seed_each_rule_out_the_models_that_cannot_honour_them():
    tools = decide(options=GenerationOptions(tools=[WEATHER]))
    assert all(CATALOG.get(m).capabilities.tools for m in tools.candidates)
    schema = ResponseFormat(type="json_schema", json_schema={"type": "object"})
    structured = decide(options=GenerationOptions(response_format=schema))
    assert structured.rejected["openrouter/qwen/qwen-2.5-72b-instruct"] == "no JSON schema output"
    seeded = decide(options=GenerationOptions(seed=7))
    assert seeded.rejected["claude-haiku-4-5"] == "does not take seed"
    # Sonnet 5.5 refuses a non-default temperature (catalog.toml says why).
    warm = decide(options=GenerationOptions(temperature=0.2))
    assert warm.rejected["claude-sonnet-5-5"] == "does not take temperature"


def test_a_history_with_tool_calls_needs_tool_use_even_without_tools():
    history = [
        *TEXT,
        ChatMessage(role="assistant", tool_calls=[ToolCall(id="c1", name="calc")]),
        ChatMessage(role="tool", tool_call_id="c1", content="42"),
    ]
    assert Needs.of(history, GenerationOptions()).tools


def test_with_google_down_and_min_quality_the_same_pro_model_comes_before_any_flash():
    decision = decide(min_quality=0.9, allowed_providers=["google", "openrouter"])
    assert decision.model.id == "gemini-2.5-pro"
    chain = ids(decision.chain)
    assert chain[:2] == ["gemini-2.5-pro", "openrouter/google/gemini-2.5-pro"]
    assert not any("flash" in m for m in chain), "nothing below min_quality"


def test_a_forced_model_falls_over_only_to_itself_on_another_provider():
    decision = decide(model="claude-haiku-4-5")
    assert ids(decision.chain) == ["claude-haiku-4-5", "openrouter/anthropic/claude-haiku-4.5"]
    # Without an Anthropic key the same model through OpenRouter answers at once.
    alone = decide(model="claude-haiku-4-5", providers=frozenset({"openrouter"}))
    assert ids(alone.chain) == ["openrouter/anthropic/claude-haiku-4.5"]


def test_the_chain_keeps_the_cost_ceiling_and_the_allowed_providers():
    decision = decide(allowed_providers=["anthropic"], min_quality=0.9)
    assert {m.provider for m in decision.chain} == {"anthropic"}
    cheap = decide(max_cost_usd=0.0005)
    assert all(m.cost(200, 256) <= 0.0005 for m in cheap.chain)


def test_a_key_limited_to_two_models_never_gets_a_third_even_through_fallback():
    two = ["gemini-2.5-flash", "claude-haiku-4-5"]
    for forced in (None, "claude-haiku-4-5"):
        decision = decide(allowed_models=two, model=forced)
        assert set(ids(decision.chain)) <= set(two)
        assert set(decision.candidates) <= set(two)
    with pytest.raises(NoCandidateError, match="not in allowed_models"):
        decide(allowed_models=two, model="claude-opus-4-5")


def test_no_capable_model_is_a_clear_no_candidate_error():
    with pytest.raises(NoCandidateError, match="no image input"):
        decide(IMAGE, providers=frozenset({"simulated"}))


def test_an_image_counts_in_the_prompt_estimate_and_the_budget_bound():
    from schemas.messages import RouteRequest
    from services.ingress.limits import cost_bound
    from shared.routing.tokens import IMAGE_TOKENS, estimate_prompt_tokens

    words_only = [ChatMessage(role="user", content=IMAGE[0].content)]
    assert estimate_prompt_tokens(IMAGE) - estimate_prompt_tokens(words_only) == IMAGE_TOKENS
    plain = RouteRequest(messages=words_only)
    with_image = RouteRequest(messages=IMAGE)
    assert cost_bound(CATALOG, with_image) > cost_bound(CATALOG, plain)
