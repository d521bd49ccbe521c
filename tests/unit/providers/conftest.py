"""Fixtures of the adapter tests: one fake vendor server per module, reset around each test,
and one client per vendor pointed at it."""

from __future__ import annotations

import pytest

from shared.providers.anthropic import AnthropicProvider
from shared.providers.base import ChatProvider
from shared.providers.google import GeminiProvider
from shared.providers.openrouter import OpenRouterProvider
from shared.providers.registry import close_providers
from tests.fakes.vendor_server import running_vendor_server

VENDOR_MODEL = {"anthropic": "claude-x", "google": "gemini-x", "openrouter": "vendor/model-x"}
KEY = {"anthropic": "key-a", "google": "key-g", "openrouter": "key-o"}
VENDORS = list(VENDOR_MODEL)


@pytest.fixture(scope="module")
def fake():
    with running_vendor_server() as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(fake):
    fake.reset()
    yield
    fake.reset()


@pytest.fixture(scope="module")
async def provider_for(fake):
    # One client per vendor for the module, as in production (building a google-genai client
    # loads TLS contexts and takes ~0.1 s).
    made: dict[str, ChatProvider] = {}

    def make(vendor: str) -> ChatProvider:
        if vendor not in made:
            if vendor == "anthropic":
                made[vendor] = AnthropicProvider(KEY[vendor], fake.url, 2.0)
            elif vendor == "google":
                made[vendor] = GeminiProvider(KEY[vendor], fake.url, 2.0)
            else:
                made[vendor] = OpenRouterProvider(KEY[vendor], f"{fake.url}/api/v1", 2.0)
        return made[vendor]

    yield make
    await close_providers(made)
