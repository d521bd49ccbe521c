"""Which model answers a prompt: candidates, expected quality, overrides, exploration. Pure logic.

`RoutingPolicy.decide` is called by the router for each request and by the replay evaluator for
each replayed prompt. It knows nothing of RabbitMQ or HTTP; randomness comes from an injected
`random.Random`, so a seeded run is reproducible.

Order of a decision (each step leaves a line in `Decision.reasons`):
1. Candidates: models of a configured provider whose context window holds the prompt plus
   `max_tokens`, which have the capabilities the request needs (`Needs`: tools, images, JSON
   output, sampling controls) and meet its constraints (allowed models and providers, max
   cost). Each model left out is kept with its reason (`Decision.rejected`, shown by the
   preview). A forced model is checked the same way and is then the choice, or a
   `NoCandidateError`.
2. Expected quality: the catalog prior for the pattern, adjusted for complexity
   (`expected_quality`).
3. Default choice: the cheapest candidate whose expected quality meets the floor (the request's
   `min_quality` replaces the configured floor); if none does, the best expected quality.
4. A learned override for the prompt's key (pattern/complexity first, then pattern) replaces the
   default when its confidence level is at least `override_min_confidence` and its model is a
   candidate.
5. Exploration: with probability `exploration_rate`, a cheaper candidate than the choice is tried
   instead (the learner's trials for the key first), and the decision says `explored=True`.
With a learned quality model installed (`Scoring.version` set), steps 3-5 are the bandit's
instead (`learned_choice`): the cheapest candidate predicted within the quality target
(`constraints.quality_target`, else the key's, else QUALITY_TARGET) of the best, explored by
Thompson sampling within its budget; a learned override is then only reported. Without one
(cold start), steps 3-5 decide as before and the prior model only explains (the preview).

6. Fallback chain (`Decision.chain`): the choice, then the same model on other providers
   (`same_as`), then its catalog fallbacks, each followed by its own twins; only candidates,
   and never below the request's `min_quality`. A forced model falls over only to its twins.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.messages import Override, RouteConstraints
from shared.routing.bandit.chooser import BanditChoice, CandidateEstimate, choose
from shared.routing.capabilities import NONE, Needs
from shared.routing.catalog import Catalog, ModelSpec
from shared.routing.classifier import Classification
from shared.routing.learned_choice import Scoring, learned_choice, predicted
from shared.routing.learning import LEVEL_RANK, route_key
from shared.settings import Settings

# Errors grow with difficulty: the share of bad answers a prior implies is scaled by this factor.
# A 0.95 model stays near 0.93 on hard prompts while a 0.76 model drops to 0.66: weak models
# lose more on hard prompts, which is what benchmark breakdowns by difficulty show.
COMPLEXITY_ERROR_FACTOR = {"low": 0.7, "medium": 1.0, "high": 1.4}


class NoCandidateError(Exception):
    """No configured model can take this request; `reason` says why, for the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# The reason a decision forced by `constraints.model` gives, before the model's id: the
# learner's dry-run diff finds forced requests by it in the stored `decision_reason` (nothing
# else stored says so).
FORCED_REASON = "forced model "


@dataclass(frozen=True, slots=True)
class Decision:
    """The chosen model and why. Costs are estimates at catalog prices for the request size."""

    model: ModelSpec
    pattern: str
    complexity: str
    explored: bool
    override_version: int | None
    reasons: list[str]
    candidates: tuple[str, ...]
    estimated_cost_usd: float
    baseline_cost_usd: float
    expected_quality: float
    key: str = ""  # the override key that decided, when one did
    # Models left out, each with the first reason found (capability, constraint, size...).
    rejected: Mapping[str, str] = field(default_factory=dict)
    # The models to try in order: the choice first, then its fallbacks (see the module doc).
    chain: tuple[ModelSpec, ...] = ()
    # The quality model's choice, when it was consulted (`estimates` reads it).
    bandit: BanditChoice | None = None
    model_version: int | None = None  # the learned model that decided; None: catalog priors
    quality_target: float | None = None

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    @property
    def estimates(self) -> tuple[CandidateEstimate, ...]:
        """The quality model's view of each candidate, cheapest first (the preview's)."""
        return self.bandit.estimates if self.bandit is not None else ()


def expected_quality(spec: ModelSpec, pattern: str, complexity: str) -> float:
    """The catalog prior for the pattern, its error share scaled by `COMPLEXITY_ERROR_FACTOR`."""
    prior = spec.prior_quality(pattern)
    factor = COMPLEXITY_ERROR_FACTOR.get(complexity, 1.0)
    return min(1.0, max(0.0, 1 - (1 - prior) * factor))


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """The routing rules of one process: its catalog, its providers and its settings."""

    catalog: Catalog
    providers: frozenset[str]
    quality_floor: float = 0.8
    exploration_rate: float = 0.05
    override_min_confidence: str = "medium"
    quality_target: float = 0.95
    # Looked up for every decision: built once per policy (a catalog reload builds a new one),
    # as plain dicts and tuples (a pydantic model's private attributes cost ~1 us per access).
    _by_id: Mapping[str, ModelSpec] = field(init=False, repr=False, compare=False)
    _twins: Mapping[str, tuple[ModelSpec, ...]] = field(init=False, repr=False, compare=False)
    _available: tuple[ModelSpec, ...] = field(init=False, repr=False, compare=False)
    _baseline: ModelSpec = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        catalog = self.catalog
        object.__setattr__(self, "_by_id", {m.id: m for m in catalog.models})
        object.__setattr__(self, "_twins", {m.id: catalog.twins(m.id) for m in catalog.models})
        object.__setattr__(self, "_available", tuple(catalog.available(self.providers)))
        object.__setattr__(self, "_baseline", catalog.baseline())

    @classmethod
    def from_settings(
        cls, settings: Settings, catalog: Catalog, providers: Iterable[str]
    ) -> RoutingPolicy:
        """The policy set by QUALITY_FLOOR, EXPLORATION_RATE, OVERRIDE_MIN_CONFIDENCE and
        QUALITY_TARGET."""
        return cls(
            catalog,
            frozenset(providers),
            settings.quality_floor,
            settings.exploration_rate,
            settings.override_min_confidence,
            settings.quality_target,
        )

    def decide(
        self,
        classification: Classification,
        prompt_tokens: int,
        max_tokens: int,
        rng: random.Random,
        constraints: RouteConstraints | None = None,
        overrides: Mapping[str, Override] | None = None,
        overrides_version: int | None = None,
        trials: Mapping[str, Sequence[str]] | None = None,
        needs: Needs = NONE,
        scoring: Scoring | None = None,
    ) -> Decision:
        """Choose a model for one prompt. Raises `NoCandidateError` when none can take it.

        `overrides` maps keys to the learner's current rules (`overrides_version` is recorded
        when one decides); `trials` maps keys to cheaper models the learner wants tried;
        `scoring` is the quality model and the prompt's context vector (module doc).
        """
        constraints = constraints or RouteConstraints()
        pattern, complexity = classification.pattern, classification.complexity
        reasons = [f"classified {pattern}/{complexity}"]

        rejected: dict[str, str] = {}

        def decision(spec: ModelSpec, **fields: Any) -> Decision:
            usable = {c: None for c in fields["candidates"]}
            fields.setdefault("expected_quality", expected_quality(spec, pattern, complexity))
            return Decision(
                model=spec,
                pattern=pattern,
                complexity=complexity,
                reasons=reasons,
                estimated_cost_usd=spec.cost(prompt_tokens, max_tokens),
                baseline_cost_usd=self._baseline.cost(prompt_tokens, max_tokens),
                rejected=rejected,
                chain=self._chain(spec, usable, constraints, pattern, complexity),
                **fields,
            )

        if constraints.model:
            spec = self._forced(constraints, prompt_tokens, max_tokens, needs)
            reasons.append(f"{FORCED_REASON}{spec.id}")
            twins = [
                t.id
                for t in self._twins[spec.id]
                if self._misfit(t, constraints, prompt_tokens, max_tokens, needs) is None
            ]
            return decision(
                spec, explored=False, override_version=None, candidates=(spec.id, *twins)
            )
        candidates = self._candidates(
            constraints, prompt_tokens, max_tokens, needs, reasons, rejected
        )
        costs = {c.id: c.cost(prompt_tokens, max_tokens) for c in candidates}
        by_cost = sorted(candidates, key=lambda c: (costs[c.id], c.id))
        target = constraints.quality_target
        target = self.quality_target if target is None else target
        if scoring is not None and scoring.version is not None:
            choice, why = learned_choice(
                by_cost, scoring, target, constraints.min_quality, costs,
                self._baseline.cost(prompt_tokens, max_tokens), rng,
            )  # fmt: skip
            reasons.extend(why)
            override, override_key = self._override(overrides, pattern, complexity)
            if override is not None:
                reasons.append(f"override {override_key} -> {override.model} reported only")
            return decision(
                self._by_id[choice.model_id],
                explored=choice.explored,
                override_version=None,
                candidates=tuple(c.id for c in candidates),
                expected_quality=predicted(choice, choice.model_id)[0],
                bandit=choice,
                model_version=scoring.version,
                quality_target=target,
            )
        chosen = self._default(by_cost, pattern, complexity, constraints, reasons)
        key, version = "", None
        wanted = set(self._trials(trials, pattern, complexity))
        override, override_key = self._override(overrides, pattern, complexity)
        if override is not None:
            why_not = self._why_not(override, candidates, constraints)
            if why_not is None:
                chosen, key, version = (
                    self._by_id[override.model],
                    override_key,
                    overrides_version,
                )
                reasons.append(
                    f"learned override {override_key} -> {override.model} "
                    f"({override.confidence_level}, bound {override.confidence_bound:.2f}, "
                    f"n={override.sample_count})"
                )
            else:
                # A rule not yet trusted enough to apply is still the best model to try.
                wanted.add(override.model)
                reasons.append(f"override {override_key} -> {override.model} not used: {why_not}")
        chosen_cost = chosen.cost(prompt_tokens, max_tokens)
        cheaper = [c for c in by_cost if costs[c.id] < chosen_cost]
        explored = self._explore(rng, constraints, cheaper, wanted)
        if explored is not None:
            chosen, version = explored, None
            reasons.append(f"exploring cheaper {chosen.id}")
        explained = None
        if scoring is not None:  # the priors explain the decision; they do not make it
            explained = choose(by_cost, scoring.model, scoring.x, target, rng, None, costs=costs)
        return decision(
            chosen,
            explored=explored is not None,
            override_version=version,
            candidates=tuple(c.id for c in candidates),
            key=key,
            bandit=explained,
            quality_target=target if scoring is not None else None,
        )

    def _default(
        self,
        by_cost: Sequence[ModelSpec],
        pattern: str,
        complexity: str,
        constraints: RouteConstraints,
        reasons: list[str],
    ) -> ModelSpec:
        """The choice from catalog priors: cheapest adequate, else the best available."""
        floor = self.quality_floor if constraints.min_quality is None else constraints.min_quality
        quality = {c.id: expected_quality(c, pattern, complexity) for c in by_cost}
        for spec in by_cost:
            if quality[spec.id] >= floor:
                reasons.append(f"cheapest with expected quality >= {floor:.2f}: {spec.id}")
                return spec
        best = max(by_cost, key=lambda c: quality[c.id])  # max keeps the first, the cheapest
        reasons.append(f"none expected to reach {floor:.2f}; best expected: {best.id}")
        return best

    def _explore(
        self,
        rng: random.Random,
        constraints: RouteConstraints,
        cheaper: Sequence[ModelSpec],
        wanted: Collection[str],
    ) -> ModelSpec | None:
        """A cheaper model to try instead, or None. A caller's min_quality is never explored."""
        if self.exploration_rate <= 0 or constraints.min_quality is not None:
            return None
        # The draw happens whether or not there is a cheaper model, so that seeded runs
        # consume the generator identically whatever the catalog holds.
        if rng.random() >= self.exploration_rate or not cheaper:
            return None
        targets = [c for c in cheaper if c.id in wanted] or list(cheaper)
        return rng.choice(targets)

    def _forced(
        self, constraints: RouteConstraints, prompt_tokens: int, max_tokens: int, needs: Needs
    ) -> ModelSpec:
        model_id = self.catalog.resolve(constraints.model or "")
        if model_id is None:
            # Not the name itself: errors never echo input.
            raise NoCandidateError("constraints.model is not a catalog model id (GET /v1/models)")
        spec = self._by_id[model_id]
        problem = self._misfit(spec, constraints, prompt_tokens, max_tokens, needs)
        if problem and spec.provider not in self.providers:
            # Its vendor is not configured here: the same model elsewhere is the same answer.
            for twin in self._twins[model_id]:
                if self._misfit(twin, constraints, prompt_tokens, max_tokens, needs) is None:
                    return twin
        if problem:
            raise NoCandidateError(f"forced model {model_id!r} cannot take this request: {problem}")
        return spec

    def _misfit(
        self,
        spec: ModelSpec,
        constraints: RouteConstraints,
        prompt_tokens: int,
        max_tokens: int,
        needs: Needs = NONE,
    ) -> str | None:
        """Why this model cannot take the request, or None when it can."""
        if spec.provider not in self.providers:
            return f"provider {spec.provider} is not configured"
        allowed = constraints.allowed_providers
        if allowed is not None and spec.provider not in allowed:
            return f"provider {spec.provider} is not in allowed_providers"
        if constraints.allowed_models is not None and spec.id not in constraints.allowed_models:
            return "not in allowed_models"
        lacking = needs.lacking(spec.capabilities)
        if lacking is not None:
            return lacking
        if prompt_tokens + max_tokens > spec.context_window:
            return (
                f"{prompt_tokens}+{max_tokens} tokens exceed its context of {spec.context_window}"
            )
        if max_tokens > spec.max_output_tokens:
            return f"max_tokens {max_tokens} exceeds its output limit of {spec.max_output_tokens}"
        cost = spec.cost(prompt_tokens, max_tokens)
        if constraints.max_cost_usd is not None and cost > constraints.max_cost_usd:
            return f"estimated ${cost:.6f} exceeds max_cost_usd ${constraints.max_cost_usd}"
        return None

    def _candidates(
        self,
        constraints: RouteConstraints,
        prompt_tokens: int,
        max_tokens: int,
        needs: Needs,
        reasons: list[str],
        rejected: dict[str, str],
    ) -> list[ModelSpec]:
        candidates = []
        for spec in self._available:
            problem = self._misfit(spec, constraints, prompt_tokens, max_tokens, needs)
            if problem is None:
                candidates.append(spec)
            else:
                rejected[spec.id] = problem
        if not candidates:
            detail = "; ".join(f"{m}: {p}" for m, p in sorted(rejected.items())[:5])
            raise NoCandidateError(
                "no configured model fits this request" + (f" ({detail})" if detail else "")
            )
        reasons.append(f"{len(candidates)} candidates")
        return candidates

    def _override(
        self, overrides: Mapping[str, Override] | None, pattern: str, complexity: str
    ) -> tuple[Override | None, str]:
        if not overrides:
            return None, ""
        for key in (route_key(pattern, complexity), pattern):
            if key in overrides:
                return overrides[key], key
        return None, ""

    def _why_not(
        self, override: Override, candidates: Collection[ModelSpec], constraints: RouteConstraints
    ) -> str | None:
        """Why a learned override cannot be applied here, or None when it can."""
        level = LEVEL_RANK.get(override.confidence_level, 0)
        if level < LEVEL_RANK.get(self.override_min_confidence, 1):
            return f"confidence {override.confidence_level} < {self.override_min_confidence}"
        if override.model not in {c.id for c in candidates}:
            return "its model is not a candidate for this request"
        wanted = constraints.min_quality
        if wanted is not None and override.confidence_bound < wanted:
            return f"its bound {override.confidence_bound:.2f} < min_quality {wanted:.2f}"
        return None

    def _trials(
        self, trials: Mapping[str, Sequence[str]] | None, pattern: str, complexity: str
    ) -> Sequence[str]:
        if not trials:
            return ()
        fine = route_key(pattern, complexity)
        return trials.get(fine) or trials.get(pattern) or ()

    def fallbacks(
        self,
        first: ModelSpec,
        prompt_tokens: int,
        max_tokens: int,
        constraints: RouteConstraints | None = None,
        needs: Needs = NONE,
        classification: Classification | None = None,
    ) -> tuple[ModelSpec, ...]:
        """The chain `decide` would give for `first` (for tools and tests that start there)."""
        constraints = constraints or RouteConstraints()
        usable = {
            m.id: None
            for m in self.catalog.models
            if self._misfit(m, constraints, prompt_tokens, max_tokens, needs) is None
        }
        pattern, complexity = (
            (classification.pattern, classification.complexity)
            if classification
            else ("general", "medium")
        )
        return self._chain(first, usable, constraints, pattern, complexity)

    def _chain(
        self,
        first: ModelSpec,
        usable: Mapping[str, None],
        constraints: RouteConstraints,
        pattern: str,
        complexity: str,
    ) -> tuple[ModelSpec, ...]:
        """`first`, its twins, then its fallbacks breadth first (each followed by its twins):
        only models in `usable`, and none below the request's min_quality."""
        floor = constraints.min_quality
        chain = [first] if first.id in usable else []
        seen = {first.id}
        queue = deque([first])

        def add(spec: ModelSpec) -> None:
            if spec.id in seen:
                return
            seen.add(spec.id)
            if spec.id not in usable:
                return
            if floor is not None and expected_quality(spec, pattern, complexity) < floor:
                return
            chain.append(spec)

        for twin in self._twins[first.id]:
            add(twin)
        if constraints.model:
            return tuple(chain)
        visited = {first.id}
        while queue:
            spec = queue.popleft()
            for fallback_id in spec.fallbacks:
                if fallback_id in visited:
                    continue
                visited.add(fallback_id)
                fallback = self._by_id[fallback_id]
                add(fallback)
                for twin in self._twins[fallback_id]:
                    add(twin)
                queue.append(fallback)
        return tuple(chain)
