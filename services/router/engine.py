"""The router's work for one request: classify, decide, call, cost. No RabbitMQ in here."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.messages import (
    FallbackHop,
    Override,
    RouteCompleted,
    RouteRequest,
    RouteResult,
)
from shared.catalog import Catalog, ModelSpec
from shared.providers.base import ChatProvider, ProviderError
from shared.providers.simulated import estimate_tokens
from shared.settings import Settings

log = logging.getLogger(__name__)

_PREVIEW_CHARS = 80


@dataclass(frozen=True)
class OverrideSet:
    """The learner's current overrides. Replaced whole, never mutated, so a swap is atomic."""

    version: int | None = None
    by_pattern: Mapping[str, Override] = field(default_factory=dict)


def prompt_hash(request: RouteRequest) -> str:
    """A stable fingerprint of the prompt; prompts are personal data and are not stored."""
    digest = hashlib.sha256()
    for message in request.messages:
        digest.update(message.role.encode())
        digest.update(b"\0")
        digest.update(message.content.encode())
        digest.update(b"\1")
    return digest.hexdigest()


class RoutingEngine:
    """Holds the catalog, the providers and the overrides of one router process."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        providers: Mapping[str, ChatProvider],
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.providers = providers
        self.overrides = OverrideSet()

    def swap_overrides(self, overrides: OverrideSet) -> bool:
        """Install a newer set; an older or equal version (a late redelivery) is ignored."""
        current = self.overrides.version
        if overrides.version is not None and current is not None and overrides.version <= current:
            return False
        self.overrides = overrides
        return True

    def _choose(self, request: RouteRequest) -> ModelSpec:
        available = [m for m in self.catalog.models if m.provider in self.providers]
        cheapest = min(available, key=lambda m: m.input_per_mtok + m.output_per_mtok)
        return cheapest

    async def handle(self, request: RouteRequest) -> tuple[RouteResult, RouteCompleted]:
        """Answer one request. Never raises for a provider failure: the result says what failed."""
        started = time.perf_counter()
        spec = self._choose(request)
        pattern, complexity = "general", "medium"
        hops: list[FallbackHop] = []
        answer: str | None = None
        fields: dict[str, object] = {}
        try:
            completion = await self.providers[spec.provider].complete(
                spec.vendor_model,
                request.messages,
                request.max_tokens,
                self.settings.provider_timeout_s,
            )
            cost = spec.cost(completion.tokens_in, completion.tokens_out)
            baseline = self.catalog.baseline().cost(completion.tokens_in, completion.tokens_out)
            answer = completion.text
            fields = {
                "ok": True,
                "provider": spec.provider,
                "model": spec.id,
                "tokens_in": completion.tokens_in,
                "tokens_out": completion.tokens_out,
                "cost_usd": cost,
                "baseline_cost_usd": baseline,
                "savings_usd": baseline - cost,
                "attempts": 1,
                "finish_reason": completion.finish_reason,
            }
        except ProviderError as exc:
            hops.append(FallbackHop(provider=spec.provider, model=spec.id, reason=exc.kind))
            fields = {"ok": False, "error_kind": exc.kind, "error_message": str(exc), "attempts": 1}
        common = {
            "request_id": request.request_id,
            "pattern": pattern,
            "complexity": complexity,
            "fallback_path": hops,
            "latency_ms": (time.perf_counter() - started) * 1000,
            "override_version": self.overrides.version,
            **fields,
        }
        preview = None
        if self.settings.store_prompt_preview:
            preview = request.messages[-1].content[:_PREVIEW_CHARS]
        result = RouteResult.model_validate({**common, "answer": answer})
        completed = RouteCompleted.model_validate(
            {
                **common,
                "prompt_hash": prompt_hash(request),
                "prompt_preview": preview,
                "api_key_id": request.api_key_id,
            }
        )
        return result, completed

    def estimate_prompt_tokens(self, request: RouteRequest) -> int:
        return sum(estimate_tokens(m.content) for m in request.messages)
