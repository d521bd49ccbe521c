"""`optimizer replay --router bandit` (the default): seeds x feedback rates, JSON and PNG out.

    python -m replay.cli --dataset routerbench --out out/replay/routerbench
    python -m replay.cli --dataset mmlu --seeds 0 1 2 3 4 --feedback-rates 1.0 0.1 --out out/mmlu
    python -m replay.cli --dataset routerbench --dev --out out/dev   # the tuning split only
    python -m replay.cli --dataset routerbench --dev --dev-folds 10 --out out/dev  # fold rotation

Hyperparameters are `BanditParams()` defaults (the settings defaults); only the knob
(`--quality-target`) can be moved here, so that a reported run is a run at the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from replay.bandit_eval import aggregate, run_seed
from replay.bandit_loop import BanditReplayConfig, Contexts, Progress
from replay.bandit_report import GOAL_COST, GOAL_QUALITY, plot
from replay.dev_split import DevSplit
from replay.records import ReplayDataset, replay_catalog
from replay.report import write_json
from shared.routing.bandit.params import BanditParams


def add_arguments(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--feedback-rates", type=float, nargs="+", default=[1.0, 0.1], metavar="R")
    p.add_argument("--quality-target", type=float, default=BanditParams().quality_target)
    p.add_argument(
        "--dev", action="store_true", help="score on the dev split of the streamed part instead"
    )
    p.add_argument(
        "--dev-folds", type=int, default=0, metavar="K",
        help="with --dev: the streamed part in K folds, one scored, the rest streamed (0: one cut)",
    )  # fmt: skip
    p.add_argument(
        "--dev-folds-per-seed", type=int, default=1, metavar="J",
        help="with --dev-folds: folds scored per seed, each after its own stream (pooled)",
    )  # fmt: skip


def dev_split(args: argparse.Namespace) -> DevSplit | None:
    """The dev protocol the arguments ask for; None: the held-out split."""
    if not args.dev:
        if args.dev_folds:
            raise ValueError("--dev-folds needs --dev (the held-out split has no folds)")
        return None
    return DevSplit(folds=args.dev_folds, per_seed=args.dev_folds_per_seed)


def run(
    args: argparse.Namespace, dataset: ReplayDataset, progress: Progress | None
) -> dict[str, Any]:
    """Every (feedback rate, seed) run, their aggregates, and the config that made them."""
    params = dataclasses.replace(BanditParams(), quality_target=args.quality_target)
    dev = dev_split(args)
    base = BanditReplayConfig(
        holdout=args.holdout, retrain_every=max(1, args.retrain_every), limit=args.limit,
        params=params,
    )  # fmt: skip
    catalog = replay_catalog(dataset, base.max_tokens)
    contexts = Contexts()
    by_rate: dict[str, Any] = {}
    for rate in args.feedback_rates:
        runs = []
        for seed in args.seeds:
            config = dataclasses.replace(base, seed=seed, feedback_rate=rate)
            runs.append(run_seed(dataset, catalog, config, contexts, dev, progress))
        by_rate[str(rate)] = {
            "summary": aggregate(runs, (GOAL_QUALITY, GOAL_COST)),
            "seeds": runs,
        }
    result: dict[str, Any] = {
        "dataset": dataset.name,
        "router": "bandit",
        "records": len(dataset.records),
        "models": list(dataset.models),
        "reference_model": dataset.reference_model,
        "scored_on": dev.describe() if dev else "held-out split",
        "config": {
            **{k: v for k, v in dataclasses.asdict(base).items() if k not in ("seed", "params")},
            "seeds": args.seeds,
            "feedback_rates": args.feedback_rates,
            "dev": dataclasses.asdict(dev) if dev else None,
            "params": dataclasses.asdict(params),
        },
        "goal": {"quality_at_least": GOAL_QUALITY, "cost_at_most": GOAL_COST},
        "notes": dataset.notes,
        "by_feedback_rate": by_rate,
    }
    if dataset.published:
        result["published"] = dataset.published
    return result


def write(result: dict[str, Any], out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    write_json(result, out / "result.json")
    plot(result, out / "cost_quality.png")
    return summary(result, out)


def summary(result: dict[str, Any], out: Path) -> str:
    lines = [f"{result['dataset']}: bandit, scored on the {result['scored_on']}"]
    for rate, part in result["by_feedback_rate"].items():
        s = part["summary"]

        def fmt(key: str, s: dict[str, Any] = s) -> str:
            q, c = s[key]["quality_vs_best"], s[key]["cost_vs_best"]
            return (
                f"quality {q['median']:.3f} [{q['min']:.3f}-{q['max']:.3f}], "
                f"cost {c['median']:.3f} [{c['min']:.3f}-{c['max']:.3f}]"
            )

        met = s["final_goal_met"]
        lines.append(f"  feedback {rate}: final {fmt('final')}; goal met {sum(met)}/{len(met)}")
        lines.append(
            f"  feedback {rate}: online {fmt('online')}; explored "
            f"{s['online']['explored_share']['median']:.1%}"
        )
        if "two_models" in s:
            t = s["two_models"]
            lines.append(
                f"  feedback {rate}: APGR {t['apgr']['median']:.3f} "
                f"[{t['apgr']['min']:.3f}-{t['apgr']['max']:.3f}], CPT(50%) "
                f"{t['cpt50']['median']:.3f}, CPT(80%) {t['cpt80']['median']:.3f}"
            )
    lines.append(f"  wrote {out / 'result.json'} and {out / 'cost_quality.png'}")
    return "\n".join(lines)
