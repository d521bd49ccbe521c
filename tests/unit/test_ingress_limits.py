"""Input limits and the cost bound that a request reserves against its key's daily budget."""

from __future__ import annotations

import pytest

from schemas.messages import ChatMessage, RouteConstraints, RouteRequest
from services.ingress.errors import ApiError
from services.ingress.limits import candidates, check_input, cost_bound
from shared.providers.simulated import SimulatedProvider
from shared.routing.catalog import load_catalog
from shared.settings import Settings

CATALOG = load_catalog()
SETTINGS = Settings(max_prompt_chars=100, max_tokens_limit=256)


def test_prompt_over_the_limit_is_413_naming_the_setting() -> None:
    with pytest.raises(ApiError) as caught:
        check_input(SETTINGS, [ChatMessage(role="user", content="x" * 101)], 10)
    assert caught.value.status == 413 and caught.value.kind == "prompt_too_long"
    assert "MAX_PROMPT_CHARS=100" in caught.value.message
    check_input(SETTINGS, [ChatMessage(role="user", content="x" * 100)], 256)


def test_max_tokens_over_the_limit_is_422_naming_the_setting() -> None:
    with pytest.raises(ApiError) as caught:
        check_input(SETTINGS, [ChatMessage(role="user", content="hi")], 257)
    assert caught.value.status == 422 and "MAX_TOKENS_LIMIT=256" in caught.value.message


def test_a_forced_model_may_only_fall_back_along_its_chain() -> None:
    chain = [m.id for m in candidates(CATALOG, "simulated-premium")]
    assert chain[0] == "simulated-premium"
    assert set(chain) == {"simulated-premium", "simulated-balanced", "simulated-fast"}
    assert len(candidates(CATALOG, None)) == len(CATALOG.models)


@pytest.mark.parametrize(
    "text", ["hi", "Écris un poème sur la mer 🌊" * 20, "def f(x):\n    return x * 2\n" * 50]
)
async def test_the_reservation_bounds_the_real_cost_of_every_model(text: str) -> None:
    request = RouteRequest(messages=[ChatMessage(role="user", content=text)], max_tokens=300)
    bound = cost_bound(CATALOG, request)
    provider = SimulatedProvider()
    for spec in CATALOG.models:
        done = await provider.complete(spec.id, request.messages, request.max_tokens, 5)
        assert spec.cost(done.tokens_in, done.tokens_out) <= bound
    forced = request.model_copy(update={"constraints": RouteConstraints(model="simulated-fast")})
    assert cost_bound(CATALOG, forced) < bound, "a cheap forced model reserves less"
