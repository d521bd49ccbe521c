"""The replay's outputs: one JSON document and one cost-vs-quality plot."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from statistics import fmean
from typing import Any

from replay.metrics import learning_curve, segment
from replay.records import ReplayDataset, ReplayRecord
from replay.simulate import ReplayConfig, Replayer, Step
from shared.routing.catalog import Catalog

GOAL_QUALITY, GOAL_COST = 0.95, 0.5  # the project's target: 95% of the best quality at 50% cost


def build(
    dataset: ReplayDataset,
    catalog: Catalog,
    config: ReplayConfig,
    replayer: Replayer,
    stream: list[Step],
    holdout: list[Step],
) -> dict[str, Any]:
    """Everything the run measured. Top-level `quality_vs_best` / `cost_vs_best` are the learned
    policy over the whole online run, learning included; `after_learning` is the final learned
    policy (no exploration) on prompts it never saw."""
    online = segment(stream, dataset, catalog, config.seed)
    after = segment(holdout, dataset, catalog, config.seed) if holdout else None
    learner = replayer.learner
    result: dict[str, Any] = {
        "dataset": dataset.name,
        "records": len(dataset.records),
        "models": list(dataset.models),
        "reference_model": dataset.reference_model,
        "config": dataclasses.asdict(config),
        "notes": dataset.notes,
        "quality_vs_best": online["quality_vs_best"],
        "cost_vs_best": online["cost_vs_best"],
        "online": online,
        "after_learning": after,
        "goal": _goal(online, after),
        "learning_curve": learning_curve(stream, dataset),
        "override_versions": replayer.versions,
        "final_overrides": [o.model_dump() for o in learner.overrides.values()],
        "final_trials": {k: list(v) for k, v in learner.trials.items()},
        "replay_catalog": {
            m.id: {"usd_per_mtok": round(m.input_per_mtok, 4), "tier": m.tier}
            for m in catalog.models
        },
        "single_models": _single_models(dataset, [s.record for s in stream]),
    }
    if dataset.published:
        result["published"] = dataset.published
    return result


def _goal(online: dict[str, Any], after: dict[str, Any] | None) -> dict[str, Any]:
    def met(part: dict[str, Any] | None) -> bool | None:
        if not part or part["quality_vs_best"] is None or part["cost_vs_best"] is None:
            return None
        return bool(part["quality_vs_best"] >= GOAL_QUALITY and part["cost_vs_best"] <= GOAL_COST)

    return {
        "quality_at_least": GOAL_QUALITY,
        "cost_at_most": GOAL_COST,
        "online": met(online),
        "after_learning": met(after),
    }


def _single_models(
    dataset: ReplayDataset, records: list[ReplayRecord]
) -> dict[str, dict[str, float]]:
    ref = dataset.reference_model
    ref_q = fmean(r.quality[ref] for r in records) if records else 0.0
    ref_c = fmean(r.cost_usd[ref] for r in records) if records else 0.0
    out = {}
    for m in dataset.models:
        q = fmean(r.quality[m] for r in records) if records else 0.0
        c = fmean(r.cost_usd[m] for r in records) if records else 0.0
        out[m] = {
            "quality": round(q, 5),
            "cost_usd": round(c, 8),
            "quality_vs_best": round(q / ref_q, 4) if ref_q else 0.0,
            "cost_vs_best": round(c / ref_c, 4) if ref_c else 0.0,
        }
    return out


def write_json(result: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def _points(result: dict[str, Any]) -> list[tuple[str, float, float, str, str]]:
    """(label, cost / best, quality / best, colour, marker) of every strategy worth plotting."""
    online, after = result["online"], result.get("after_learning")
    ref = online["reference"]
    points = [
        (name, online[name]["cost_usd"] / ref["cost_usd"], online[name]["quality"] / ref["quality"],
         colour, marker)
        for name, colour, marker in (("random", "tab:purple", "x"), ("oracle", "tab:green", "*"))
    ]  # fmt: skip
    points.append(("learned, online (whole run)", online["cost_vs_best"],
                   online["quality_vs_best"], "tab:blue", "o"))  # fmt: skip
    if after:
        points.append(("learned, after learning (holdout)", after["cost_vs_best"],
                       after["quality_vs_best"], "tab:red", "o"))  # fmt: skip
    published = result.get("published", {}).get("cost_reduction_at_95pct", {})
    if result["dataset"] in published:
        reduction = published[result["dataset"]]
        points.append(("RouteLLM best router (published)", 1 - reduction, 0.95, "black", "D"))
    return points


def plot(result: dict[str, Any], path: Path) -> None:
    """Cost vs quality (both relative to the best single model) and the learning curve."""
    import matplotlib  # an optional extra, imported only to plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2))
    for model, point in result["single_models"].items():
        xy = (point["cost_vs_best"], point["quality_vs_best"])
        left.scatter(*xy, color="grey", s=18)
        left.annotate(model.split("/")[-1], xy, fontsize=7)
    for label, x, y, colour, marker in _points(result):
        left.scatter(x, y, color=colour, marker=marker, s=70, label=label)
    left.axhline(GOAL_QUALITY, color="tab:red", lw=0.6, ls=":")
    left.axvline(GOAL_COST, color="tab:red", lw=0.6, ls=":")
    left.set_xscale("log")
    left.set_xlabel("cost / best single model's cost")
    left.set_ylabel("quality / best single model's quality")
    left.set_title(f"{result['dataset']}: cost vs quality")
    left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    curve = result["learning_curve"]
    xs = [p["end"] for p in curve]
    for key, label, style in (
        ("quality_vs_best", "quality / best (window)", "-"),
        ("cost_vs_best", "cost / best (window)", "-"),
        ("cumulative_quality_vs_best", "quality / best (cumulative)", "--"),
        ("cumulative_cost_vs_best", "cost / best (cumulative)", "--"),
    ):
        right.plot(xs, [p[key] for p in curve], ls=style, label=label)
    right.set_xlabel("requests streamed")
    right.set_title("learning curve")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
