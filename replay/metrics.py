"""What a replay measured: the learned policy against fixed strategies, overall and per pattern.

Strategies compared on the same prompts (each reads the recorded outcomes of the model it
picks): `reference` always uses the best single model (the dataset's premium one), `cheapest`
always the cheapest, `random` a uniformly random model per prompt (seeded), and `oracle` the
cheapest model with the best recorded outcome for that very prompt (a hindsight bound, not a
policy). Quality is the mean 0..1 outcome; cost the mean USD per prompt.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from itertools import pairwise
from statistics import fmean
from typing import Any

from replay.records import ReplayDataset, ReplayRecord
from replay.simulate import Step
from shared.routing.catalog import Catalog
from shared.routing.learning import blended_price_per_mtok

Picker = Callable[[ReplayRecord], str]
CURVE_WINDOWS = 20


def pickers(dataset: ReplayDataset, catalog: Catalog, seed: int) -> dict[str, Picker]:
    """The fixed strategies, each a function from a record to the model it would use."""
    cheapest = min(dataset.models, key=lambda m: blended_price_per_mtok(catalog.get(m)))
    rng = random.Random(seed + 2)
    models = sorted(dataset.models)

    def oracle(record: ReplayRecord) -> str:
        return min(models, key=lambda m: (-record.quality[m], record.cost_usd[m]))

    return {
        "reference": lambda _: dataset.reference_model,
        "cheapest": lambda _: cheapest,
        "random": lambda _: rng.choice(models),
        "oracle": oracle,
    }


def _summary(pairs: Sequence[tuple[float, float]]) -> dict[str, float]:
    if not pairs:
        return {"n": 0, "quality": 0.0, "cost_usd": 0.0}
    return {
        "n": len(pairs),
        "quality": round(fmean(q for q, _ in pairs), 5),
        "cost_usd": round(fmean(c for _, c in pairs), 8),
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def _compare(
    steps: Sequence[Step], strategies: dict[str, Picker], dataset: ReplayDataset
) -> dict[str, Any]:
    learned = [(s.quality, s.cost_usd) for s in steps]
    result: dict[str, Any] = {"learned": _summary(learned)}
    for name, pick in strategies.items():
        chosen = [pick(s.record) for s in steps]
        result[name] = _summary(
            [
                (s.record.quality[m], s.record.cost_usd[m])
                for s, m in zip(steps, chosen, strict=True)
            ]
        )
    ref, mine = result["reference"], result["learned"]
    result["quality_vs_best"] = _ratio(mine["quality"], ref["quality"])
    result["cost_vs_best"] = _ratio(mine["cost_usd"], ref["cost_usd"])
    shares = Counter(s.model for s in steps)
    result["model_share"] = (
        {m: round(n / len(steps), 4) for m, n in shares.most_common()} if steps else {}
    )
    result["explored_share"] = (
        round(sum(s.explored for s in steps) / len(steps), 4) if steps else 0.0
    )
    if len(dataset.models) == 2 and steps:
        weak = next(m for m in dataset.models if m != dataset.reference_model)
        q_weak = fmean(s.record.quality[weak] for s in steps)
        gap = ref["quality"] - q_weak
        # RouteLLM's "performance gap recovered": 0 = the weak model alone, 1 = the strong one.
        result["performance_gap_recovered"] = _ratio(mine["quality"] - q_weak, gap)
        result["strong_call_share"] = result["model_share"].get(dataset.reference_model, 0.0)
    return result


def segment(
    steps: Sequence[Step], dataset: ReplayDataset, catalog: Catalog, seed: int
) -> dict[str, Any]:
    """Overall and per-pattern comparison of the learned policy with every fixed strategy."""
    overall = _compare(steps, pickers(dataset, catalog, seed), dataset)
    by_pattern: dict[str, list[Step]] = defaultdict(list)
    by_group: dict[str, list[Step]] = defaultdict(list)
    for s in steps:
        by_pattern[s.classification.pattern].append(s)
        by_group[s.record.group].append(s)
    overall["per_pattern"] = {
        p: _compare(group, pickers(dataset, catalog, seed), dataset)
        for p, group in sorted(by_pattern.items())
    }
    # Benchmark/subject labels: for reading the results only; the router never saw them.
    overall["per_group"] = {
        g: {
            "n": len(group),
            **{
                k: v
                for k, v in _compare(group, pickers(dataset, catalog, seed), dataset).items()
                if k in ("quality_vs_best", "cost_vs_best", "model_share")
            },
        }
        for g, group in sorted(by_group.items())
    }
    return overall


def learning_curve(
    steps: Sequence[Step], dataset: ReplayDataset, windows: int = CURVE_WINDOWS
) -> list[dict[str, Any]]:
    """Quality and cost per window of the stream, against the reference model on its prompts."""
    if not steps:
        return []
    count = min(windows, len(steps))
    # Near-equal windows that cover every step: no tiny, noisy last window.
    bounds = [round(i * len(steps) / count) for i in range(count + 1)]
    ref = dataset.reference_model
    curve = []
    cum_q = cum_c = cum_rq = cum_rc = 0.0
    for start, end in pairwise(bounds):
        window = steps[start:end]
        q = sum(s.quality for s in window)
        c = sum(s.cost_usd for s in window)
        rq = sum(s.record.quality[ref] for s in window)
        rc = sum(s.record.cost_usd[ref] for s in window)
        cum_q, cum_c, cum_rq, cum_rc = cum_q + q, cum_c + c, cum_rq + rq, cum_rc + rc
        curve.append(
            {
                "end": end,
                "quality_vs_best": _ratio(q, rq),
                "cost_vs_best": _ratio(c, rc),
                "cumulative_quality_vs_best": _ratio(cum_q, cum_rq),
                "cumulative_cost_vs_best": _ratio(cum_c, cum_rc),
                "explored_share": round(sum(s.explored for s in window) / len(window), 4),
            }
        )
    return curve
