"""What a new quality model would change: recent traffic replayed through both models. Pure.

The learner's dry run (and every real fit, for its record) decides each recent request's stored
context vector twice, with the active model and with the proposed one, by the routers' greedy
rule at the quality target (no exploration), and counts the requests that would move from one
model to another, with the estimated cost of each side at the request's recorded token counts.
With `aggregate` (the routers' BANDIT_TARGET_WINDOW > 0), each model's cost weight is solved on
these requests themselves (`bandit.cost_weight`), costs as shares of the dearest candidate's.
Each request is decided within its API key's rules (allowed models and providers, max cost,
`min_quality`, quality target), as the key has them now; its own `constraints` are not stored,
so they are not applied (the learner leaves out requests that forced a model).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shared.routing.bandit.cost_weight import CostWeights
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.catalog import ModelSpec
from shared.routing.learned_choice import Scoring, learned_choice


@dataclass(frozen=True, slots=True)
class PastRequest:
    """A recent request as the diff sees it: its context vector, recorded token counts, and
    the rules of its API key as they stand now (None: no rule; the request's own constraints
    are not stored, docs/learning.md)."""

    x: npt.NDArray[np.float32]
    tokens_in: int
    tokens_out: int
    quality_target: float | None = None
    min_quality: float | None = None
    allowed_models: frozenset[str] | None = None
    allowed_providers: frozenset[str] | None = None
    max_cost_usd: float | None = None

    def allows(self, model: ModelSpec, cost: float) -> bool:
        """Whether the key's rules let this request use `model` at `cost`."""
        return (
            (self.allowed_models is None or model.id in self.allowed_models)
            and (self.allowed_providers is None or model.provider in self.allowed_providers)
            and (self.max_cost_usd is None or cost <= self.max_cost_usd)
        )


@dataclass(frozen=True, slots=True)
class _Priced:
    """A request ready to decide: its vector, candidates and their costs, target and floor."""

    x: npt.NDArray[np.float32]
    candidates: list[ModelSpec]
    costs: dict[str, float]
    baseline_cost: float
    quality_target: float
    min_quality: float | None


def traffic_moves(
    before: QualityModel,
    after: QualityModel,
    requests: Iterable[PastRequest],
    candidates: Sequence[ModelSpec],
    quality_target: float,
    aggregate: bool = False,
) -> dict[str, object]:
    """How `requests` would be routed by `before` and by `after` (module doc).

    `candidates` are the models the routers can use (the catalog's models of the providers
    seen in the traffic); each request is decided among those both models know and its key's
    rules allow, at its key's quality target (else `quality_target`) and above its key's
    `min_quality` as the routers apply it (`learned_choice`). A request its key's rules leave
    no candidate for is not counted (`no_candidate`).
    """
    known = [c for c in candidates if before.knows(c.id) and after.knows(c.id)]
    past = list(requests) if known else []
    priced = [p for p in (_priced(r, known, quality_target) for r in past) if p is not None]
    olds = _decisions(before, priced, aggregate)
    news = _decisions(after, priced, aggregate)
    counts_before: Counter[str] = Counter()
    counts_after: Counter[str] = Counter()
    moves: Counter[tuple[str, str]] = Counter()
    cost_before = cost_after = 0.0
    total = 0
    for costs, old, new in zip((p.costs for p in priced), olds, news, strict=True):
        total += 1
        counts_before[old] += 1
        counts_after[new] += 1
        cost_before += costs[old]
        cost_after += costs[new]
        if old != new:
            moves[(old, new)] += 1
    moved = sum(moves.values())
    return {
        "requests": total,
        "moved": moved,
        "moved_share": round(moved / total, 4) if total else 0.0,
        "moves": [
            {"from": old, "to": new, "requests": n}
            for (old, new), n in sorted(moves.items(), key=lambda item: (-item[1], item[0]))
        ],
        "before": dict(counts_before.most_common()),
        "after": dict(counts_after.most_common()),
        "estimated_cost_before_usd": round(cost_before, 6),
        "estimated_cost_after_usd": round(cost_after, 6),
        "quality_target": quality_target,
        "no_candidate": len(past) - len(priced),
    }


def _priced(r: PastRequest, known: Sequence[ModelSpec], quality_target: float) -> _Priced | None:
    costs = {c.id: c.cost(r.tokens_in, r.tokens_out) for c in known}
    allowed = [c for c in known if r.allows(c, costs[c.id])]
    if not allowed:
        return None
    return _Priced(
        r.x,
        allowed,
        {c.id: costs[c.id] for c in allowed},
        # the dearest model the routers could use: the baseline's stand-in, as before the rules
        max(costs.values()),
        quality_target if r.quality_target is None else r.quality_target,
        r.min_quality,
    )


def _decisions(model: QualityModel, priced: Sequence[_Priced], aggregate: bool) -> list[str]:
    """Each request's greedy choice by `model`; with `aggregate`, a first pass records every
    request's predictions (the per-prompt rule decides nothing yet: no weight before the window
    is full) and the second decides at the weight solved on all of them."""
    rng = random.Random(0)  # unused: no budget means no exploration
    weights = None
    if aggregate and priced:
        weights = CostWeights(window=len(priced), every=len(priced) + 1, warmup=len(priced))
        for p in priced:
            _choice(model, p, rng, weights, record=True)
    return [_choice(model, p, rng, weights, record=False) for p in priced]


def _choice(
    model: QualityModel,
    p: _Priced,
    rng: random.Random,
    weights: CostWeights | None,
    *,
    record: bool,
) -> str:
    scoring = Scoring(model, p.x, weights=weights, record=record)
    choice, _ = learned_choice(
        p.candidates, scoring, p.quality_target, p.min_quality, p.costs, p.baseline_cost, rng
    )
    return choice.model_id
