"""The one table of vendors: adding one is a module, a row here and its catalog entries.

Each row names the module (`shared/providers/<key>.py`, named after the catalog's provider key)
and the adapter class in it, and the settings that carry its key and base URL. Settings, the
provider registry, /health, the router's status and the catalog validator read this table. It
imports nothing heavy: the vendor SDKs load only when a key is set (see registry.py).
"""

from __future__ import annotations

from dataclasses import dataclass

SIMULATED = "simulated"


@dataclass(frozen=True, slots=True)
class ProviderRow:
    """One vendor: the catalog's provider key, its adapter and the settings it reads."""

    key: str  # the catalog's `provider`, and the module name under shared/providers/
    # The ChatProvider class in that module, built as cls(api_key, base_url, timeout_s).
    adapter: str
    api_key_setting: str  # the Settings field (environment variable in upper case)
    base_url_setting: str
    # A cloud vendor is configured by its key; a self-hosted server by its base URL (its key,
    # when it has one, is optional).
    configured_by_url: bool = False

    @property
    def module(self) -> str:
        return f"shared.providers.{self.key}"

    @property
    def api_key_env(self) -> str:
        return self.api_key_setting.upper()


VENDORS: tuple[ProviderRow, ...] = (
    ProviderRow("anthropic", "AnthropicProvider", "anthropic_api_key", "anthropic_base_url"),
    ProviderRow("google", "GeminiProvider", "google_api_key", "gemini_base_url"),
    ProviderRow("openrouter", "OpenRouterProvider", "openrouter_api_key", "openrouter_base_url"),
    ProviderRow(
        "selfhosted",
        "SelfHostedProvider",
        "selfhosted_api_key",
        "selfhosted_base_url",
        configured_by_url=True,
    ),
)
# Every provider a catalog entry may name, in the order status pages list them.
PROVIDER_KEYS: tuple[str, ...] = (*(row.key for row in VENDORS), SIMULATED)
