"""The bandit's evaluation by the team's protocol: seeds, splits, baselines, curves.

Per seed: a seeded shuffle; the held-out share is never streamed; the rest is streamed once
through `BanditReplayer` (bandit feedback at `feedback_rate`). Scored: the online run
(exploration included) and the final policy (greedy) on the held-out prompts, the knob swept on
the held-out prompts, the baselines fitted with full information on the streamed prompts and
scored on the held-out ones, and for two-model data APGR and CPT. With `dev`, the streamed part
is split again (its last 30% scored, the rest streamed): the only split defaults are chosen on.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from replay import curves
from replay.bandit_loop import BanditReplayConfig, BanditReplayer, Contexts, Progress
from replay.metrics import learning_curve
from replay.records import ReplayDataset, ReplayRecord
from replay.simulate import ReplayConfig, Step, split
from shared.routing.catalog import Catalog

KNOB = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.99, 1.0)
FIXED_TARGETS = (0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 1.0)
DEV_SHARE = 0.3


def splits(
    dataset: ReplayDataset, config: BanditReplayConfig, dev: bool
) -> tuple[list[ReplayRecord], list[ReplayRecord]]:
    """(streamed, scored): the held-out split, or with `dev` the dev split of the streamed part."""
    stream, holdout = split(
        dataset, ReplayConfig(seed=config.seed, holdout=config.holdout, limit=config.limit)
    )
    if not dev:
        return stream, holdout
    cut = round(len(stream) * (1 - DEV_SHARE))
    return stream[:cut], stream[cut:]


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


def _two_models(
    dataset: ReplayDataset, replayer: BanditReplayer, scored: Sequence[ReplayRecord]
) -> dict[str, Any]:
    """APGR and CPT along the knob: prompts go to the strong model in order of the predicted
    quality ratio weak / strong (the knob swept from 0 past 1 visits them in that order)."""
    strong = dataset.reference_model
    weak = next(m for m in dataset.models if m != strong)
    ratios = []
    for record in scored:
        quality, _ = replayer.model.predict([weak, strong], replayer.contexts.get(record)[1])
        ratios.append(quality[0] / max(quality[1], 1e-9))
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
    dev: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Everything one seed measures (module doc)."""
    stream, scored = splits(dataset, config, dev)
    replayer = BanditReplayer(dataset, catalog, config, contexts)
    steps = replayer.run(stream, progress)
    final = replayer.evaluate(scored)
    ref = dataset.reference_model
    pattern = lambda r: contexts.get(r)[0].pattern  # noqa: E731
    result: dict[str, Any] = {
        "seed": config.seed,
        "streamed": len(stream),
        "scored": len(scored),
        "online": _summary(steps, ref),
        "final": {**_summary(final, ref), "per_group": _per_group(final, ref)},
        "knob": [
            {
                "target": t,
                **curves.relative(scored, [s.model for s in replayer.evaluate(scored, t)], ref),
            }
            for t in KNOB
        ],
        "baselines": {
            "random_mix": curves.random_mix(dataset, scored),
            "oracle": curves.oracle(dataset, scored),
            "best_fixed_per_pattern": curves.fixed_curve(
                dataset, stream, scored, pattern, FIXED_TARGETS
            ),
            "best_fixed_per_category": curves.fixed_curve(
                dataset, stream, scored, lambda r: r.group, FIXED_TARGETS
            ),
        },
        "learning_curve": learning_curve(steps, dataset),
        "retrains": replayer.retrains,
        "exploration_budget": dataclasses.asdict(replayer.budget),
    }
    if len(dataset.models) == 2:
        result["two_models"] = _two_models(dataset, replayer, scored)
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
