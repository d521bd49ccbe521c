"""Which providers this process can call, built from settings in a service's lifespan."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Mapping

from shared.providers.base import ChatProvider
from shared.providers.simulated import SimulatedProvider
from shared.providers.table import SIMULATED, VENDORS
from shared.settings import Settings

logger = logging.getLogger(__name__)


def build_providers(settings: Settings) -> dict[str, ChatProvider]:
    """One client per configured vendor, keyed by the catalog's provider name.

    "simulated" is always present. A vendor whose key is unset (or blank) is simply absent, so
    the catalog's models for it are skipped; it is never an error. Call from a lifespan, and pair
    with `close_providers`.
    """
    providers: dict[str, ChatProvider] = {
        SIMULATED: SimulatedProvider(latency_ms=settings.simulated_latency_ms)
    }
    timeout = settings.provider_timeout_s
    # Vendor SDKs are imported only when their key is set: they are slow to import, and a
    # process without that key never needs them.
    for name in settings.configured_providers():
        key = settings.api_key(name)  # None only for a self-hosted server without a key
        secret = key.get_secret_value().strip() if key is not None else ""
        providers[name] = _adapter(name)(secret, settings.base_url(name), timeout)
    logger.info("providers configured: %s", ", ".join(sorted(providers)))
    return providers


def _adapter(name: str) -> Callable[[str, str, float], ChatProvider]:
    row = next(row for row in VENDORS if row.key == name)
    adapter: Callable[[str, str, float], ChatProvider] = getattr(
        importlib.import_module(row.module), row.adapter
    )
    return adapter


async def close_providers(providers: Mapping[str, ChatProvider]) -> None:
    """Close every client; one failing to close does not stop the others (this runs at shutdown)."""
    names = list(providers)
    results = await asyncio.gather(*(providers[n].aclose() for n in names), return_exceptions=True)
    for name, result in zip(names, results, strict=True):
        if isinstance(result, BaseException):
            logger.warning("closing provider %s failed: %s", name, type(result).__name__)
