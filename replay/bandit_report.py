"""The bandit replay's outputs: one JSON document and one PNG (cost-quality curves, and PGR or
the learning curve)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

GOAL_QUALITY, GOAL_COST = 0.95, 0.40  # issue 15's held-out goal on RouterBench


def _median_curve(runs: list[dict[str, Any]], baseline: str) -> list[tuple[float, float]]:
    count = len(runs[0]["baselines"][baseline])
    return [
        (
            statistics.median(r["baselines"][baseline][i]["cost_vs_best"] for r in runs),
            statistics.median(r["baselines"][baseline][i]["quality_vs_best"] for r in runs),
        )
        for i in range(count)
    ]


def _cost_quality(ax: Any, result: dict[str, Any]) -> None:
    rates = result["by_feedback_rate"]
    first = next(iter(rates.values()))
    runs = first["seeds"]
    mix = _median_curve(runs, "random_mix")
    ax.plot(
        *zip(*mix, strict=True),
        color="tab:purple",
        ls="--",
        label="random mix (reference / cheapest)",
    )
    for name, colour in (
        ("best_fixed_per_pattern", "tab:orange"),
        ("best_fixed_per_category", "tab:brown"),
    ):
        points = sorted(_median_curve(runs, name))
        ax.plot(
            *zip(*points, strict=True),
            color=colour,
            marker=".",
            label=name.replace("_", " ") + " (full info)",
        )
    oracle = [
        (r["baselines"]["oracle"]["cost_vs_best"], r["baselines"]["oracle"]["quality_vs_best"])
        for r in runs
    ]
    ax.scatter(statistics.median(c for c, _ in oracle), statistics.median(q for _, q in oracle),
               color="tab:green", marker="*", s=120, label="oracle (hindsight)")  # fmt: skip
    for (rate, part), colour in zip(rates.items(), ("tab:blue", "tab:cyan"), strict=False):
        knob = part["summary"]["knob"]
        xs, ys = [k["cost_vs_best"] for k in knob], [k["quality_vs_best"] for k in knob]
        label = f"bandit, knob swept (held-out, feedback {rate})"
        ax.plot(xs, ys, color=colour, marker="o", ms=3, label=label)
        for key, marker in (("final", "s"), ("online", "^")):
            summary = part["summary"][key]
            ax.scatter(summary["cost_vs_best"]["median"], summary["quality_vs_best"]["median"],
                       color=colour, marker=marker, s=80, edgecolor="black",
                       label=f"{key} at defaults (feedback {rate})")  # fmt: skip
    ax.axhline(GOAL_QUALITY, color="tab:red", lw=0.6, ls=":")
    ax.axvline(GOAL_COST, color="tab:red", lw=0.6, ls=":")
    ax.set_xlabel("cost / reference's cost")
    ax.set_ylabel("quality / reference's quality")
    ax.set_title(f"{result['dataset']}: held-out cost vs quality (median of {len(runs)} seeds)")
    ax.legend(fontsize=6, loc="lower right")


def _pgr(ax: Any, result: dict[str, Any]) -> None:
    part = next(iter(result["by_feedback_rate"].values()))
    for run in part["seeds"]:
        curve = run["two_models"]["curve"]
        ax.plot([p["strong_share"] for p in curve], [p["pgr"] for p in curve], lw=0.8,
                label=f"seed {run['seed']}: APGR {run['two_models']['apgr']:.3f}")  # fmt: skip
    ax.plot([0, 1], [0, 1], color="tab:purple", ls="--", label="random (APGR 0.5)")
    published = result.get("published", {}).get("apgr_cpt", {}).get(result["dataset"])
    if published:
        ax.scatter([published["cpt50"], published["cpt80"]], [0.5, 0.8], color="black", marker="D",
                   label="RouteLLM published CPT(50%), CPT(80%)")  # fmt: skip
    ax.set_xlabel("share of calls to the strong model")
    ax.set_ylabel("performance gap recovered")
    ax.set_title("PGR along the knob (held-out, feedback 1.0)")
    ax.legend(fontsize=6)


def _learning(ax: Any, result: dict[str, Any]) -> None:
    part = next(iter(result["by_feedback_rate"].values()))
    for run in part["seeds"]:
        curve = run["learning_curve"]
        xs = [p["end"] for p in curve]
        ax.plot(
            xs, [p["explored_share"] for p in curve], lw=0.8, label=f"explored, seed {run['seed']}"
        )
        ax.plot(xs, [p["cost_vs_best"] for p in curve], lw=0.8, ls=":", color="grey")
    ax.set_xlabel("requests streamed")
    ax.set_title("online: explored share per window (dotted: cost / reference)")
    ax.legend(fontsize=6)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib  # an optional extra, imported only to plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.6))
    _cost_quality(left, result)
    if len(result["models"]) == 2:
        _pgr(right, result)
    else:
        _learning(right, result)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
