"""What a new quality model would change: recent traffic replayed through both models. Pure.

The learner's dry run (and every real fit, for its record) decides each recent request's stored
context vector twice, with the active model and with the proposed one, by the routers' greedy
rule at the quality target (no exploration), and counts the requests that would move from one
model to another, with the estimated cost of each side at the request's recorded token counts.
With `aggregate` (the routers' BANDIT_TARGET_WINDOW > 0), each model's cost weight is solved on
these requests themselves (`bandit.cost_weight`), costs as shares of the dearest candidate's.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shared.routing.bandit.chooser import choose
from shared.routing.bandit.cost_weight import CostWeights
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.catalog import ModelSpec


@dataclass(frozen=True, slots=True)
class PastRequest:
    """A recent request as the diff sees it: its context vector and recorded token counts."""

    x: npt.NDArray[np.float32]
    tokens_in: int
    tokens_out: int


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
    seen in the traffic); each request is decided among those both models know.
    """
    known = [c for c in candidates if before.knows(c.id) and after.knows(c.id)]
    past = list(requests) if known else []
    priced = [(r.x, {c.id: c.cost(r.tokens_in, r.tokens_out) for c in known}) for r in past]
    olds = _decisions(before, known, priced, quality_target, aggregate)
    news = _decisions(after, known, priced, quality_target, aggregate)
    counts_before: Counter[str] = Counter()
    counts_after: Counter[str] = Counter()
    moves: Counter[tuple[str, str]] = Counter()
    cost_before = cost_after = 0.0
    total = 0
    for (_, costs), old, new in zip(priced, olds, news, strict=True):
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
    }


def _decisions(
    model: QualityModel,
    known: Sequence[ModelSpec],
    priced: Sequence[tuple[npt.NDArray[np.float32], dict[str, float]]],
    quality_target: float,
    aggregate: bool,
) -> list[str]:
    """Each request's greedy choice by `model`; with `aggregate`, a first pass records every
    request's predictions (the per-prompt rule decides nothing yet: no weight before the window
    is full) and the second decides at the weight solved on all of them."""
    rng = random.Random(0)  # unused: no budget means no exploration
    weights = None
    if aggregate and priced:
        weights = CostWeights(window=len(priced), every=len(priced) + 1, warmup=len(priced))
        for x, costs in priced:
            choose(known, model, x, quality_target, rng, None, costs=costs, weights=weights,
                   record=True)  # fmt: skip
    return [
        choose(known, model, x, quality_target, rng, None, costs=costs, weights=weights).model_id
        for x, costs in priced
    ]
