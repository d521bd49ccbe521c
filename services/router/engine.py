"""The router's work for one request: classify, decide, call with fallback, cost. No RabbitMQ."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from schemas.messages import FallbackHop, Override, RouteCompleted, RouteRequest, RouteResult
from services.router.cancels import CallRegistry
from services.router.chunks import ChunkSender
from shared import metrics
from shared.providers.base import ChatProvider
from shared.providers.table import PROVIDER_KEYS
from shared.routing.bandit.chooser import ExplorationBudget
from shared.routing.bandit.context import context_vector
from shared.routing.bandit.params import BanditParams
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.capabilities import Needs
from shared.routing.catalog import Catalog, ModelSpec
from shared.routing.classifier import Classification, classify
from shared.routing.dispatch import AllModelsFailed, StreamInterrupted, call_with_fallback
from shared.routing.learned_choice import Scoring
from shared.routing.policy import Decision, NoCandidateError, RoutingPolicy
from shared.routing.resilience import BreakerRegistry, CircuitState
from shared.routing.stored_features import CONTEXT_NUMBER, encode_features
from shared.routing.tokens import estimate_prompt_tokens, estimate_tokens
from shared.settings import Settings

log = logging.getLogger(__name__)

_PREVIEW_CHARS = 80
_CIRCUIT_LEVEL = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


@dataclass(frozen=True)
class OverrideSet:
    """The learner's current overrides. Replaced whole, never mutated, so a swap is atomic."""

    version: int | None = None
    by_pattern: Mapping[str, Override] = field(default_factory=dict)
    trials: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class QualitySet:
    """The quality model in force: learned (`version`) or the catalog priors (None). Replaced
    whole, never mutated: a swap is one reference, so a decision sees one model or the other."""

    model: QualityModel
    version: int | None = None


def decision_view(
    decision: Decision, request_id: str, classification: Classification | None = None
) -> dict[str, Any]:
    """What a preview shows: the choice, its reasons, and the estimates behind it."""
    understood: dict[str, Any] = {}
    if classification is not None:
        understood = {
            "pattern_probabilities": dict(classification.probabilities),
            "failure_share": classification.failure_share,
            "signals": list(classification.signals),
        }
    return {
        "request_id": request_id,
        "model": decision.model.id,
        "provider": decision.model.provider,
        "pattern": decision.pattern,
        "complexity": decision.complexity,
        "explored": decision.explored,
        "override_version": decision.override_version,
        "override_key": decision.key or None,
        "expected_quality": round(decision.expected_quality, 4),
        "estimated_cost_usd": decision.estimated_cost_usd,
        "baseline_cost_usd": decision.baseline_cost_usd,
        "candidates": list(decision.candidates),
        "fallback_chain": [m.id for m in decision.chain],
        "ruled_out": dict(decision.rejected),
        "reasons": list(decision.reasons),
        "model_version": decision.model_version,
        "quality_target": decision.quality_target,
        "estimates": [
            {
                "model": e.model_id,
                "predicted_quality": round(e.predicted_quality, 4),
                "uncertainty": round(e.uncertainty, 4),
                "estimated_cost_usd": e.expected_cost,
            }
            for e in decision.estimates
        ],
        **understood,
    }


def prompt_hash(request: RouteRequest) -> str:
    """A stable fingerprint of the prompt; prompts are personal data and are not stored."""
    digest = hashlib.sha256()
    for message in request.messages:
        digest.update(message.role.encode())
        digest.update(b"\0")
        digest.update(message.content.encode())
        for image in message.images:
            digest.update(image.url.encode())
        for call in message.tool_calls:
            digest.update(f"{call.name}\0{call.arguments}".encode())
        digest.update(b"\1")
    return digest.hexdigest()


class RoutingEngine:
    """Holds the catalog, providers, circuit breakers and overrides of one router process."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        providers: Mapping[str, ChatProvider],
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.breakers = BreakerRegistry.from_settings(settings)
        self.use_providers(providers)
        self.overrides = OverrideSet()
        self.quality = QualitySet(QualityModel.prior(catalog))
        # What this process's routing saved and its explorations were charged: exploration may
        # spend a share of the savings (BANDIT_EXPLORATION_SHARE); a new process starts at 0.
        self.budget = ExplorationBudget(share=settings.bandit_exploration_share)
        # This process's recent routed decisions, on which the aggregate rule's cost weight is
        # calibrated (BANDIT_TARGET_WINDOW; 0: the per-prompt rule); a new process starts empty.
        params = BanditParams(weight_window=settings.bandit_target_window)
        self.weights = params.cost_weights()
        self.rng = rng or random.Random()
        self.calls = CallRegistry()

    def swap_overrides(self, overrides: OverrideSet) -> bool:
        """Install a newer set; an older or equal version (a late redelivery) is ignored."""
        current = self.overrides.version
        if overrides.version is not None and current is not None and overrides.version <= current:
            return False
        self.overrides = overrides
        metrics.OVERRIDES_ACTIVE.set(len(overrides.by_pattern))
        metrics.OVERRIDES_VERSION.set(overrides.version or 0)
        return True

    def swap_quality(self, quality: QualitySet) -> bool:
        """Install a newer learned model (built whole before this one assignment); an older or
        equal version (a late redelivery, or the start-up load racing a publish) is ignored."""
        current = self.quality.version
        if quality.version is not None and current is not None and quality.version <= current:
            return False
        self.quality = replace(quality, model=quality.model.covering(self.catalog))
        metrics.QUALITY_MODEL_VERSION.set(quality.version or 0)
        return True

    def use_catalog(self, catalog: Catalog) -> None:
        """Install a reloaded catalog: later decisions use it; requests in flight keep theirs."""
        self.catalog = catalog
        self.use_providers(self.providers)
        self.quality = replace(self.quality, model=self.quality.model.covering(catalog))

    def use_providers(self, providers: Mapping[str, ChatProvider]) -> None:
        """Install the process's provider clients; only their models are candidates."""
        self.providers = providers
        # The simulated provider stands in only when no vendor is configured: it must never
        # answer a production request in place of a real model.
        real = {name for name in providers if name != "simulated"}
        self.policy = RoutingPolicy.from_settings(
            self.settings, self.catalog, real or set(providers)
        )

    def context(self, request: RouteRequest, classification: Classification) -> Any:
        """The prompt's context vector: what the quality model scores and the learner stores."""
        return context_vector(classification, [m.content for m in request.messages])

    def decide(
        self,
        request: RouteRequest,
        classification: Classification | None = None,
        prompt_tokens: int | None = None,
        x: Any = None,
        explain: bool = False,
    ) -> Decision:
        """Choose a model; raises NoCandidateError when nothing fits the constraints.

        `x` is the prompt's context vector (computed when not given). With a learned quality
        model the bandit decides; `explain` (the preview) asks the priors for their estimates
        too, and never explores.
        """
        overrides, quality = self.overrides, self.quality
        classification = classification or classify(request.messages)
        scoring = None
        if quality.version is not None or explain:
            scoring = Scoring(
                quality.model,
                self.context(request, classification) if x is None else x,
                quality.version,
                # A preview draws like a real decision but charges a copy of the budget, and
                # is not one of the decisions the target is kept over.
                replace(self.budget) if explain else self.budget,
                self.weights,
                record=not explain,
            )
        return self.policy.decide(
            classification,
            prompt_tokens
            if prompt_tokens is not None
            else estimate_prompt_tokens(request.messages),
            request.max_tokens,
            self.rng,
            constraints=request.constraints,
            overrides=overrides.by_pattern,
            overrides_version=overrides.version,
            trials=overrides.trials,
            needs=Needs.of(request.messages, request.options),
            scoring=scoring,
        )

    def provider_status(self) -> list[dict[str, Any]]:
        """Each provider: configured or not, and its circuits (for /health via heartbeats)."""
        circuits: dict[str, dict[str, str]] = {}
        for status in self.breakers.snapshot():
            circuits.setdefault(status.provider, {})[status.model] = status.state.value
        return [
            {"name": name, "configured": name in self.providers, "circuits": circuits.get(name, {})}
            for name in PROVIDER_KEYS
        ]

    async def handle(
        self, request: RouteRequest, sink: ChunkSender | None = None
    ) -> tuple[RouteResult, RouteCompleted]:
        """Answer one request. Never raises for a routing or provider failure: the result says.

        With `sink` the answer is streamed through it as the model produces it.
        """
        started = time.perf_counter()
        fields: dict[str, Any]
        answer: str | None = None
        tool_calls: list[Any] = []
        classification = classify(request.messages, evidence=False)  # signals: previews only
        prompt_tokens = estimate_prompt_tokens(request.messages)
        x = self.context(request, classification)
        try:
            decision = self.decide(request, classification, prompt_tokens, x)
        except NoCandidateError as exc:
            fields = {
                "ok": False,
                "pattern": classification.pattern,
                "complexity": classification.complexity,
                "error_kind": "no_candidate",
                "error_message": str(exc),
            }
        else:
            fields, answer, tool_calls = await self._call(request, decision, prompt_tokens, sink)
        fields["latency_ms"] = (time.perf_counter() - started) * 1000
        if answer:
            fields["answer_chars"] = len(answer)
        if sink is not None:
            fields["streamed"] = True
            if sink.first_piece_at is not None:
                fields["first_token_ms"] = (sink.first_piece_at - started) * 1000
        self._observe(fields)
        common = {"request_id": request.request_id, **fields}
        preview = None
        if self.settings.store_prompt_preview:
            preview = request.messages[-1].content[:_PREVIEW_CHARS]
        result = RouteResult.model_validate({**common, "answer": answer, "tool_calls": tool_calls})
        completed = RouteCompleted.model_validate(
            {
                **common,
                "prompt_hash": prompt_hash(request),
                "prompt_preview": preview,
                "api_key_id": request.api_key_id,
                "features": encode_features(x),
                "context_version": CONTEXT_NUMBER,
            }
        )
        return result, completed

    async def _call(
        self,
        request: RouteRequest,
        decision: Decision,
        prompt_tokens: int,
        sink: ChunkSender | None,
    ) -> tuple[dict[str, Any], str | None, list[Any]]:
        # The policy built the chain: capable models only, the same model elsewhere first,
        # nothing below min_quality, above max_cost_usd or outside the allowed models and
        # providers; a forced model falls over only to itself on another provider.
        chain = list(decision.chain)
        base: dict[str, Any] = {
            "pattern": decision.pattern,
            "complexity": decision.complexity,
            "explored": decision.explored,
            "override_version": decision.override_version,
            "model_version": decision.model_version,
            "decision_reason": "; ".join(decision.reasons)[:500],
        }
        refused = self._refusal(request)
        if refused is not None:
            metrics.REQUESTS_REFUSED.labels(refused[0]).inc()
            kind, why = refused
            return {**base, "ok": False, "error_kind": kind, "error_message": why}, None, []
        deadline_s = self.settings.request_deadline_s
        if request.deadline_at is not None:
            left = (request.deadline_at - datetime.now(UTC)).total_seconds()
            deadline_s = min(deadline_s, left)
        try:
            with self.calls.running(request.request_id):
                result = await call_with_fallback(
                    chain,
                    self.providers,
                    self.breakers,
                    request.messages,
                    max_tokens=request.max_tokens,
                    deadline_s=deadline_s,
                    settings=self.settings,
                    emit=sink.emit if sink is not None else None,
                    options=request.options,
                )
        except asyncio.CancelledError:
            if not self.calls.take_back(request.request_id):
                raise
            log.info("request %s cancelled by its caller", request.request_id)
            partial = sink.text if sink is not None else ""
            spec = self.catalog.get(sink.model_id) if sink and sink.model_id else None
            return self._partial(base, spec, partial, prompt_tokens, "cancelled"), None, []
        except StreamInterrupted as exc:
            fields = self._partial(base, exc.spec, exc.partial, prompt_tokens, "stream_interrupted")
            fields.update(fallback_path=exc.hops, attempts=exc.attempts, error_message=str(exc))
            return fields, None, []
        except AllModelsFailed as exc:
            attempts = sum(h.attempts for h in exc.hops)
            kind = "deadline_exceeded" if exc.deadline_exceeded else "all_models_failed"
            return (
                {
                    **base,
                    "ok": False,
                    "attempts": attempts,
                    "fallback_path": exc.hops,
                    "error_kind": kind,
                    "error_message": str(exc),
                },
                None,
                [],
            )
        completion, spec = result.completion, result.spec
        cost = spec.cost(completion.tokens_in, completion.tokens_out)
        baseline = self.catalog.baseline().cost(completion.tokens_in, completion.tokens_out)
        return (
            {
                **base,
                "ok": True,
                "provider": spec.provider,
                "model": spec.id,
                "tokens_in": completion.tokens_in,
                "tokens_out": completion.tokens_out,
                "cost_usd": cost,
                "baseline_cost_usd": baseline,
                "savings_usd": baseline - cost,
                "attempts": result.attempts,
                "fallback_path": result.hops,
                "finish_reason": completion.finish_reason,
            },
            completion.text,
            list(completion.tool_calls),
        )

    def _refusal(self, request: RouteRequest) -> tuple[str, str] | None:
        """Why no provider may be called for this request any more, if so."""
        if self.calls.was_cancelled(request.request_id):
            return "cancelled", "the caller gave up before the request was handled"
        if request.deadline_at is not None and request.deadline_at <= datetime.now(UTC):
            return "expired", "the caller's deadline passed before a model could be called"
        return None

    def _partial(
        self,
        base: dict[str, Any],
        spec: ModelSpec | None,
        partial: str,
        prompt_tokens: int,
        kind: str,
    ) -> dict[str, Any]:
        """A request that ended early: what was produced, and its cost estimated from it.

        The vendor bills the tokens it generated even when the stream broke off; it sends no
        usage then, so the cost is estimated from the text's length (never $0 for text sent).
        """
        fields: dict[str, Any] = {
            **base,
            "ok": False,
            "error_kind": kind,
            "error_message": "the caller gave up" if kind == "cancelled" else kind,
            "answer_chars": len(partial),
        }
        if spec is not None and partial:
            log.warning("%s: cost of a partial answer estimated from its length", kind)
            tokens_out = estimate_tokens(partial)
            cost = spec.cost(prompt_tokens, tokens_out)
            baseline = self.catalog.baseline().cost(prompt_tokens, tokens_out)
            fields.update(
                provider=spec.provider,
                model=spec.id,
                tokens_in=prompt_tokens,
                tokens_out=tokens_out,
                cost_usd=cost,
                baseline_cost_usd=baseline,
                savings_usd=baseline - cost,
            )
        return fields

    def _observe(self, fields: dict[str, Any]) -> None:
        provider = fields.get("provider") or "none"
        model = fields.get("model") or "none"
        outcome = "ok" if fields["ok"] else str(fields.get("error_kind"))
        metrics.REQUESTS_ROUTED.labels(provider, model, outcome).inc()
        metrics.ROUTE_LATENCY.labels(provider, model).observe(fields["latency_ms"] / 1000)
        hops: list[FallbackHop] = fields.get("fallback_path", [])
        for hop in hops:
            metrics.FALLBACKS.labels(hop.provider, hop.reason.split(":")[0]).inc()
            metrics.PROVIDER_ERRORS.labels(hop.provider, hop.model, hop.reason.split(":")[0]).inc()
        if fields.get("first_token_ms") is not None:
            metrics.STREAM_FIRST_TOKEN.labels(provider, model).observe(
                fields["first_token_ms"] / 1000
            )
        if fields.get("cost_usd"):  # a partial streamed answer was paid for too
            metrics.COST.labels(provider, model).inc(fields["cost_usd"])
            metrics.BASELINE_COST.inc(fields["baseline_cost_usd"])
            metrics.SAVINGS.inc(max(0.0, fields["savings_usd"]))
        if fields.get("explored"):
            metrics.EXPLORED.inc()
        if fields.get("model_version") is not None:
            metrics.BANDIT_DECISIONS.labels("true" if fields.get("explored") else "false").inc()
        # Only the breakers this request touched can have changed: no walk over all of them.
        touched = {(hop.provider, hop.model) for hop in hops}
        if fields["ok"]:
            touched.add((provider, model))
        for provider_name, model_id in touched:
            state = self.breakers.get(provider_name, model_id).state
            metrics.CIRCUIT_STATE.labels(provider_name, model_id).set(_CIRCUIT_LEVEL[state])
