"""The bandit's evaluation by the team's protocol: seeds, splits, baselines, curves.

Per seed: a seeded shuffle; the held-out share is never streamed; the rest is streamed once
through `BanditReplayer` (bandit feedback at `feedback_rate`). Scored: the online run
(exploration included) and the final policy (greedy) on the held-out prompts, the knob swept on
the held-out prompts, the baselines fitted with full information on the streamed prompts and
scored on the held-out ones, and for two-model data APGR and CPT. With `dev`, the scored prompts
come from the streamed part instead (`dev_split`: one cut, or folds), the only splits defaults
are chosen on.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from replay import curves
from replay.bandit_loop import BanditReplayConfig, BanditReplayer, Contexts, Progress
from replay.dev_split import DevSplit, splits
from replay.metrics import learning_curve
from replay.records import ReplayDataset, ReplayRecord
from replay.simulate import Step
from shared.routing.catalog import Catalog

KNOB = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.99, 1.0)
FIXED_TARGETS = (0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 1.0)


def _summary(steps: Sequence[Step], reference: str) -> dict[str, Any]:
    records = [s.record for s in steps]
    point = curves.relative(records, [s.model for s in steps], reference)
    explored = sum(s.explored for s in steps) / len(steps) if steps else 0.0
    return {"n": len(steps), **point, "explored_share": round(explored, 4)}


def _per_group(steps: Sequence[Step], reference: str) -> dict[str, Any]:
    groups: dict[str, list[Step]] = {}
    for s in steps:
        groups.setdefault(s.record.group, []).append(s)
    return {g: _summary(rows, reference) for g, rows in sorted(groups.items())}


@dataclass(slots=True)
class _Part:
    """One stream and the prompts scored after it: per scored prompt, what each policy chose,
    so that the figures of several folds pool prompt by prompt."""

    stream: list[ReplayRecord]
    scored: list[ReplayRecord]
    steps: list[Step]
    final: list[Step]
    knob: list[list[str]]  # per KNOB target
    fixed: dict[str, list[list[str]]]  # per baseline label, per FIXED_TARGETS target
    ratios: list[float]  # two models: predicted quality weak / strong
    retrains: int
    budget: dict[str, Any]


def _run_part(
    dataset: ReplayDataset,
    catalog: Catalog,
    config: BanditReplayConfig,
    contexts: Contexts,
    stream: list[ReplayRecord],
    scored: list[ReplayRecord],
    progress: Progress | None,
) -> _Part:
    replayer = BanditReplayer(dataset, catalog, config, contexts)
    steps = replayer.run(stream, progress)
    labels = {
        "best_fixed_per_pattern": lambda r: contexts.get(r)[0].pattern,
        "best_fixed_per_category": lambda r: r.group,
    }
    ratios = []
    if len(dataset.models) == 2:
        strong = dataset.reference_model
        weak = next(m for m in dataset.models if m != strong)
        for record in scored:
            quality, _ = replayer.model.predict([weak, strong], contexts.get(record)[1])
            ratios.append(quality[0] / max(quality[1], 1e-9))
    return _Part(
        stream, scored, steps, replayer.evaluate(scored),
        [[s.model for s in replayer.evaluate(scored, t)] for t in KNOB],
        {
            name: [curves.fixed_choices(dataset, stream, scored, label, t) for t in FIXED_TARGETS]
            for name, label in labels.items()
        },
        ratios, replayer.retrains, dataclasses.asdict(replayer.budget),
    )  # fmt: skip


def _two_models(
    dataset: ReplayDataset, scored: Sequence[ReplayRecord], ratios: Sequence[float]
) -> dict[str, Any]:
    """APGR and CPT along the knob: prompts go to the strong model in order of the predicted
    quality ratio weak / strong (the knob swept from 0 past 1 visits them in that order)."""
    strong = dataset.reference_model
    weak = next(m for m in dataset.models if m != strong)
    share, pgr = curves.two_model_curve(
        scored, weak, strong, [int(i) for i in np.argsort(ratios, kind="stable")]
    )
    every = max(1, len(share) // 50)
    return {
        "apgr": round(curves.apgr(pgr), 4),
        "cpt50": round(curves.cpt(share, pgr, 0.5), 4),
        "cpt80": round(curves.cpt(share, pgr, 0.8), 4),
        "curve": [
            {"strong_share": round(float(x), 4), "pgr": round(float(p), 4)}
            for x, p in zip(share[::every], pgr[::every], strict=True)
        ],
    }


def run_seed(
    dataset: ReplayDataset,
    catalog: Catalog,
    config: BanditReplayConfig,
    contexts: Contexts,
    dev: DevSplit | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Everything one seed measures (module doc); with several dev folds per seed, each fold's
    stream runs on its own and the scored prompts' figures are pooled (the online figures over
    all the streams, the learning curve and budget of the first)."""
    parts = [
        _run_part(dataset, catalog, config, contexts, stream, scored, progress)
        for stream, scored in splits(dataset, config.seed, config.holdout, config.limit, dev)
    ]
    ref = dataset.reference_model
    scored = [r for p in parts for r in p.scored]
    final = [s for p in parts for s in p.final]

    def pooled(choices: Sequence[list[str]]) -> dict[str, float]:
        """Quality and cost of each part's choices for its scored prompts, pooled."""
        return curves.relative(scored, [m for part in choices for m in part], ref)

    result: dict[str, Any] = {
        "seed": config.seed,
        "streamed": len(parts[0].stream),
        "scored": len(scored),
        "online": _summary([s for p in parts for s in p.steps], ref),
        "final": {**_summary(final, ref), "per_group": _per_group(final, ref)},
        "knob": [{"target": t, **pooled([p.knob[i] for p in parts])} for i, t in enumerate(KNOB)],
        "baselines": {
            "random_mix": curves.random_mix(dataset, scored),
            "oracle": curves.oracle(dataset, scored),
            **{
                name: [
                    {"target": t, **pooled([p.fixed[name][i] for p in parts])}
                    for i, t in enumerate(FIXED_TARGETS)
                ]
                for name in parts[0].fixed
            },
        },
        "learning_curve": learning_curve(parts[0].steps, dataset),
        "retrains": sum(p.retrains for p in parts),
        "exploration_budget": parts[0].budget,
    }
    if dev is not None and dev.folds:
        result["folds"] = {"count": dev.folds, "scored": dev.scored_folds(config.seed)}
    if len(dataset.models) == 2:
        result["two_models"] = _two_models(dataset, scored, [x for p in parts for x in p.ratios])
    return result


def _spread(values: Sequence[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
        "all": [round(v, 4) for v in values],
    }


def aggregate(runs: Sequence[dict[str, Any]], goal: tuple[float, float]) -> dict[str, Any]:
    """Median, range and every seed's value of the headline figures; goal met per seed."""
    out: dict[str, Any] = {}
    for part in ("final", "online"):
        out[part] = {
            key: _spread([r[part][key] for r in runs])
            for key in ("quality_vs_best", "cost_vs_best", "explored_share")
        }
    quality, cost = goal
    out["final_goal_met"] = [
        bool(r["final"]["quality_vs_best"] >= quality and r["final"]["cost_vs_best"] <= cost)
        for r in runs
    ]
    out["knob"] = [
        {
            "target": t,
            "quality_vs_best": round(
                statistics.median(r["knob"][i]["quality_vs_best"] for r in runs), 4
            ),
            "cost_vs_best": round(statistics.median(r["knob"][i]["cost_vs_best"] for r in runs), 4),
        }
        for i, t in enumerate(KNOB)
    ]
    if all("two_models" in r for r in runs):
        out["two_models"] = {
            key: _spread([r["two_models"][key] for r in runs]) for key in ("apgr", "cpt50", "cpt80")
        }
    return out
