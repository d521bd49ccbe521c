"""Tune the bandit on the dev split only: the replay's dev protocol with `BanditParams` fields
overridden, one table row per variant and feedback rate (docs/bandit.md, tuning log).

    PYTHONPATH=. .venv/bin/python bench/bandit_dev_grid.py --dataset routerbench \\
        --seeds 0-19 --dev-folds 10 --variant defaults: --variant slack2:target_slack=2.0 \\
        --jobs 2 --out /tmp/grid

Each (variant, feedback rate, seed) is one `replay.bandit_eval.run_seed` on the dev protocol
(`--dev-folds K --dev-folds-per-seed J`, or `--dev-folds 0` for the one cut): the same figures
as `python -m replay.cli --dev`, which runs at the defaults only. There is no way to score the
held-out split from here. A row: median [interquartile range] of the final quality and cost,
the online median, the explored share, the seeds meeting the final (>= 0.95 / <= 0.40) and the
online (>= 0.93 / <= 0.50) goals, and for two models the APGR median [min-max].
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from replay.bandit_eval import run_seed
from replay.bandit_loop import BanditReplayConfig, Contexts
from replay.cli import DEFAULT_EVALDATA
from replay.datasets import load
from replay.dev_split import DevSplit
from replay.records import ReplayDataset, replay_catalog
from shared.routing.bandit.params import BanditParams

FINAL_GOAL, ONLINE_GOAL = (0.95, 0.40), (0.93, 0.50)

# Filled before the worker processes fork, read by them (a bench script, not a library).
_SHARED: dict[str, Any] = {}


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """`name:field=value,field=value` -> (name, overrides), values typed as the field is."""
    name, _, fields = text.partition(":")
    defaults = BanditParams()
    types = {f.name: type(getattr(defaults, f.name)) for f in dataclasses.fields(BanditParams)}
    overrides: dict[str, Any] = {}
    for item in filter(None, fields.split(",")):
        key, _, value = item.partition("=")
        if key not in types:
            raise SystemExit(f"unknown BanditParams field {key!r}")
        overrides[key] = types[key](value)
    return name, overrides


def parse_seeds(items: list[str]) -> list[int]:
    seeds: list[int] = []
    for item in items:
        lo, _, hi = item.partition("-")
        seeds.extend(range(int(lo), int(hi or lo) + 1))
    return seeds


def one(task: tuple[str, dict[str, Any], float, int]) -> tuple[str, float, dict[str, Any]]:
    name, overrides, rate, seed = task
    os.nice(5)
    dataset, catalog = _SHARED["dataset"], _SHARED["catalog"]
    contexts, dev = _SHARED["contexts"], _SHARED["dev"]
    config = BanditReplayConfig(
        seed=seed, feedback_rate=rate, params=dataclasses.replace(BanditParams(), **overrides)
    )
    run = run_seed(dataset, catalog, config, contexts, dev)
    keep = {
        "seed": seed,
        "final": {k: run["final"][k] for k in ("quality_vs_best", "cost_vs_best")},
        "online": {
            k: run["online"][k] for k in ("quality_vs_best", "cost_vs_best", "explored_share")
        },
        "final_per_group": {
            g: {k: v[k] for k in ("quality_vs_best", "cost_vs_best")}
            for g, v in run["final"]["per_group"].items()
        },
    }
    if "two_models" in run:
        keep["two_models"] = {k: run["two_models"][k] for k in ("apgr", "cpt50", "cpt80")}
    return name, rate, keep


def _quartiles(values: list[float]) -> str:
    if len(values) < 4:
        return f"{statistics.median(values):.3f}"
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return f"{q2:.3f} [{q1:.3f}-{q3:.3f}]"


def row(name: str, rate: float, runs: list[dict[str, Any]]) -> str:
    def values(part: str, key: str) -> list[float]:
        return [r[part][key] for r in runs]

    def met(part: str, goal: tuple[float, float]) -> int:
        return sum(
            r[part]["quality_vs_best"] >= goal[0] and r[part]["cost_vs_best"] <= goal[1]
            for r in runs
        )

    cells = [
        f"{name} @{rate}",
        f"{_quartiles(values('final', 'quality_vs_best'))} / "
        f"{_quartiles(values('final', 'cost_vs_best'))}",
        f"{statistics.median(values('online', 'quality_vs_best')):.3f} / "
        f"{statistics.median(values('online', 'cost_vs_best')):.3f}",
        f"{statistics.median(values('online', 'explored_share')):.3f}",
        f"{met('final', FINAL_GOAL)}/{len(runs)}, {met('online', ONLINE_GOAL)}/{len(runs)}",
    ]
    if all("two_models" in r for r in runs):
        apgr = [r["two_models"]["apgr"] for r in runs]
        cpt = [r["two_models"]["cpt50"] for r in runs]
        cells.append(
            f"APGR {statistics.median(apgr):.3f} [{min(apgr):.3f}-{max(apgr):.3f}], "
            f"CPT(50%) {statistics.median(cpt):.3f}"
        )
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--dataset", required=True)
    p.add_argument("--seeds", nargs="+", default=["0-19"], help="e.g. 0-19 or 0 1 2")
    p.add_argument("--feedback-rates", type=float, nargs="+", default=[1.0, 0.1])
    p.add_argument("--dev-folds", type=int, default=10, metavar="K", help="0: the one cut")
    p.add_argument("--dev-folds-per-seed", type=int, default=1, metavar="J")
    p.add_argument("--variant", action="append", required=True, help="name:field=value,...")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    variants = [parse_variant(v) for v in args.variant]
    seeds = parse_seeds(args.seeds)
    dataset: ReplayDataset = load(args.dataset, DEFAULT_EVALDATA)
    contexts = Contexts()
    for record in dataset.records:  # classified once, before the workers fork
        contexts.get(record)
    _SHARED.update(
        dataset=dataset,
        catalog=replay_catalog(dataset, BanditReplayConfig().max_tokens),
        contexts=contexts,
        dev=DevSplit(folds=args.dev_folds, per_seed=args.dev_folds_per_seed),
    )
    # Seed by seed across the variants, so that a run stopped early still compares them on
    # the same seeds; every result is appended to runs.jsonl as it arrives.
    tasks = [(n, o, r, s) for r in args.feedback_rates for s in seeds for n, o in variants]
    started, load_start = time.monotonic(), os.getloadavg()[0]
    results: dict[tuple[str, float], list[dict[str, Any]]] = {}
    args.out.mkdir(parents=True, exist_ok=True)
    with get_context("fork").Pool(args.jobs) as pool, (args.out / "runs.jsonl").open("a") as log:
        for name, rate, keep in pool.imap_unordered(one, tasks):
            results.setdefault((name, rate), []).append(keep)
            log.write(json.dumps({"variant": name, "rate": rate, **keep}) + "\n")
            log.flush()
    minutes, load_end = (time.monotonic() - started) / 60, os.getloadavg()[0]
    print(
        f"{args.dataset}, dev folds {args.dev_folds} (x{args.dev_folds_per_seed} per seed), "
        f"seeds {seeds[0]}-{seeds[-1]}: {minutes:.1f} min, load {load_start:.1f} -> {load_end:.1f}"
    )
    print("| variant | final q / c | online q / c | explored | final, online goal | two models |")
    for name, overrides in variants:
        for rate in args.feedback_rates:
            runs = sorted(results[(name, rate)], key=lambda r: r["seed"])
            print(row(name, rate, runs))
            path = args.out / f"{args.dataset}-{name}-{rate}.json"
            path.write_text(json.dumps({"overrides": overrides, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
