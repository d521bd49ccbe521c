"""Cost-quality curves and the baselines a learned router is held against (docs/EVALUATION).

All figures are relative to the reference model on the same prompts. Baselines:
- random mix: the reference with probability p, else the cheapest model (a straight line);
- best fixed per label: per label (the classifier's pattern, or the dataset's category, which
  the router never sees), the cheapest model whose mean outcome on the streamed prompts reaches
  `target` x the reference's there, fitted with full information; swept over `target`;
- oracle: per prompt, the cheapest model that is right, in hindsight.
Two models (RouteLLM's definitions): PGR(x) = (q(x) - q_weak) / (q_strong - q_weak) at a share x
of strong calls; APGR the mean PGR over x in [0, 1] along the curve; CPT(p) the smallest share
of strong calls whose PGR reaches p.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from statistics import fmean

import numpy as np

from replay.records import ReplayDataset, ReplayRecord

Label = Callable[[ReplayRecord], str]
Point = dict[str, float]


def relative(records: Sequence[ReplayRecord], chosen: Sequence[str], reference: str) -> Point:
    """Quality and cost of these choices over the reference's, on the same records."""
    q = sum(r.quality[m] for r, m in zip(records, chosen, strict=True))
    c = sum(r.cost_usd[m] for r, m in zip(records, chosen, strict=True))
    ref_q = sum(r.quality[reference] for r in records)
    ref_c = sum(r.cost_usd[reference] for r in records)
    return {"quality_vs_best": round(q / ref_q, 4) if ref_q else 0.0,
            "cost_vs_best": round(c / ref_c, 4) if ref_c else 0.0}  # fmt: skip


def cheapest_model(dataset: ReplayDataset, records: Sequence[ReplayRecord]) -> str:
    return min(dataset.models, key=lambda m: (fmean(r.cost_usd[m] for r in records), m))


def random_mix(
    dataset: ReplayDataset, records: Sequence[ReplayRecord], steps: int = 10
) -> list[Point]:
    """The random-mix line of reference and cheapest model, at p = 0, 1/steps, ..., 1."""
    ref, cheap = dataset.reference_model, cheapest_model(dataset, records)
    low = relative(records, [cheap] * len(records), ref)
    return [
        {k: round((1 - i / steps) * low[k] + i / steps * 1.0, 4) for k in low}
        for i in range(steps + 1)
    ]


def oracle(dataset: ReplayDataset, records: Sequence[ReplayRecord]) -> Point:
    """The cheapest model with the best recorded outcome, per prompt (a hindsight bound)."""
    by_cost = sorted(dataset.models, key=lambda m: fmean(r.cost_usd[m] for r in records))
    chosen = [max(by_cost, key=lambda m: (r.quality[m], -by_cost.index(m))) for r in records]
    return relative(records, chosen, dataset.reference_model)


def fit_fixed(
    dataset: ReplayDataset, fit: Sequence[ReplayRecord], label: Label, target: float
) -> dict[str, str]:
    """Per label: the cheapest model reaching `target` x the reference's mean outcome there."""
    groups: dict[str, list[ReplayRecord]] = defaultdict(list)
    for r in fit:
        groups[label(r)].append(r)
    ref = dataset.reference_model
    chosen = {}
    for name, rows in groups.items():
        quality = {m: fmean(r.quality[m] for r in rows) for m in dataset.models}
        cost = {m: fmean(r.cost_usd[m] for r in rows) for m in dataset.models}
        good = [m for m in dataset.models if quality[m] >= target * quality[ref]]
        chosen[name] = min(good, key=lambda m: (cost[m], m)) if good else ref
    return chosen


def fixed_curve(
    dataset: ReplayDataset,
    fit: Sequence[ReplayRecord],
    evaluate: Sequence[ReplayRecord],
    label: Label,
    targets: Sequence[float],
) -> list[Point]:
    """`fit_fixed` at each target, scored on `evaluate` (labels unseen in `fit`: reference)."""
    points = []
    for target in targets:
        chosen = fixed_choices(dataset, fit, evaluate, label, target)
        points.append({"target": target, **relative(evaluate, chosen, dataset.reference_model)})
    return points


def fixed_choices(
    dataset: ReplayDataset,
    fit: Sequence[ReplayRecord],
    evaluate: Sequence[ReplayRecord],
    label: Label,
    target: float,
) -> list[str]:
    """The model `fit_fixed` at `target` chooses for each of `evaluate`."""
    rule = fit_fixed(dataset, fit, label, target)
    return [rule.get(label(r), dataset.reference_model) for r in evaluate]


def two_model_curve(
    records: Sequence[ReplayRecord], weak: str, strong: str, strong_first: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(strong share x, PGR) routing the first k prompts of `strong_first` to the strong model,
    k = 0..n: the knob swept from "never" to "always" strong."""
    n = len(records)
    q_weak = np.array([r.quality[weak] for r in records])
    q_strong = np.array([r.quality[strong] for r in records])
    gap = q_strong.sum() - q_weak.sum()
    gain = np.concatenate(([0.0], np.cumsum((q_strong - q_weak)[list(strong_first)])))
    pgr = gain / gap if gap else np.zeros(n + 1)
    return np.arange(n + 1) / n, pgr


def apgr(pgr: np.ndarray) -> float:
    """Mean PGR over strong-call shares evenly spread from 0 to 1 (the curve's area)."""
    return float(np.trapezoid(pgr, dx=1.0 / (len(pgr) - 1))) if len(pgr) > 1 else 0.0


def cpt(share: np.ndarray, pgr: np.ndarray, target: float) -> float:
    """The smallest share of strong calls whose PGR reaches `target` (1.0 if none does)."""
    reached = np.nonzero(pgr >= target)[0]
    return float(share[reached[0]]) if reached.size else 1.0
