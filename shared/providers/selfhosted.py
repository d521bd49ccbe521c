"""A self-hosted OpenAI-compatible server (vLLM, Ollama, llama.cpp, TGI) at SELFHOSTED_BASE_URL.

Its models are catalog entries with `provider = "selfhosted"`, usually added through the catalog
overlay (CATALOG_OVERLAY_PATH) with their prices (your cost per token, or 0 for hardware already
paid for) and capabilities. SELFHOSTED_API_KEY is sent as a bearer token when set.
"""

from __future__ import annotations

from shared.providers.openrouter import OpenAICompatibleProvider


class SelfHostedProvider(OpenAICompatibleProvider):
    """`complete()` against {SELFHOSTED_BASE_URL}/chat/completions (e.g. http://vllm:8000/v1)."""

    name = "selfhosted"
