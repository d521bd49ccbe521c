"""Which providers this process can call, built from settings in a service's lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from shared.providers.base import ChatProvider
from shared.providers.simulated import SimulatedProvider
from shared.settings import Settings

logger = logging.getLogger(__name__)


def build_providers(settings: Settings) -> dict[str, ChatProvider]:
    """One client per configured vendor, keyed by the catalog's provider name.

    "simulated" is always present. A vendor whose key is unset (or blank) is simply absent, so
    the catalog's models for it are skipped; it is never an error. Call from a lifespan, and pair
    with `close_providers`.
    """
    providers: dict[str, ChatProvider] = {
        "simulated": SimulatedProvider(latency_ms=settings.simulated_latency_ms)
    }
    configured = set(settings.configured_providers())
    timeout = settings.provider_timeout_s
    # Vendor SDKs are imported only when their key is set: they are slow to import, and a
    # process without that key never needs them.
    if "anthropic" in configured and settings.anthropic_api_key is not None:
        from shared.providers.anthropic import AnthropicProvider

        providers["anthropic"] = AnthropicProvider(
            settings.anthropic_api_key.get_secret_value().strip(),
            settings.anthropic_base_url,
            timeout,
        )
    if "google" in configured and settings.google_api_key is not None:
        from shared.providers.google import GeminiProvider

        providers["google"] = GeminiProvider(
            settings.google_api_key.get_secret_value().strip(), settings.gemini_base_url, timeout
        )
    if "openrouter" in configured and settings.openrouter_api_key is not None:
        from shared.providers.openrouter import OpenRouterProvider

        providers["openrouter"] = OpenRouterProvider(
            settings.openrouter_api_key.get_secret_value().strip(),
            settings.openrouter_base_url,
            timeout,
        )
    logger.info("providers configured: %s", ", ".join(sorted(providers)))
    return providers


async def close_providers(providers: Mapping[str, ChatProvider]) -> None:
    """Close every client; one failing to close does not stop the others (this runs at shutdown)."""
    names = list(providers)
    results = await asyncio.gather(*(providers[n].aclose() for n in names), return_exceptions=True)
    for name, result in zip(names, results, strict=True):
        if isinstance(result, BaseException):
            logger.warning("closing provider %s failed: %s", name, type(result).__name__)
