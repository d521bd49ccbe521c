"""Replay one dataset over several seeds and values of a good answer; print a table.

Each cell is one full replay (`replay`): the learned policy's quality and cost as
fractions of the best single model's, online over the whole stream and after learning on the
held-out prompts. Used for the tables in docs/replay.md.

    .venv/bin/python bench/replay_sweep.py --dataset routerbench --seeds 0 1 2 3 4 --passes 1 10
    .venv/bin/python bench/replay_sweep.py --dataset mmlu --values 0.005 0.01 0.02 0.05
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from replay.datasets import LOADERS, load
from replay.metrics import segment
from replay.records import replay_catalog
from replay.simulate import ReplayConfig, Replayer, split

DEFAULT_EVALDATA = Path(__file__).resolve().parents[2] / "shared" / "evaldata"


def one(dataset, config: ReplayConfig) -> dict[str, dict]:
    catalog = replay_catalog(dataset, config.max_tokens)
    stream, holdout = split(dataset, config)
    replayer = Replayer(dataset, catalog, config)
    steps = replayer.run(stream)
    return {
        "online": segment(steps, dataset, catalog, config.seed),
        "after": segment(replayer.evaluate(holdout), dataset, catalog, config.seed),
    }


def _row(value: float, passes: int, runs: list[dict[str, dict]]) -> str:
    def mean(part: str, key: str) -> float:
        return statistics.fmean(r[part][key] for r in runs)

    met = sum(
        r["after"]["quality_vs_best"] >= 0.95 and r["after"]["cost_vs_best"] <= 0.5 for r in runs
    )
    return (
        f"{value:<6} {passes:<7} {mean('online', 'quality_vs_best'):<14.3f} "
        f"{mean('online', 'cost_vs_best'):<14.3f} {mean('after', 'quality_vs_best'):<13.3f} "
        f"{mean('after', 'cost_vs_best'):<13.3f} {met}/{len(runs)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, choices=sorted(LOADERS))
    parser.add_argument("--evaldata", type=Path, default=DEFAULT_EVALDATA)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--values", type=float, nargs="+", default=[0.05])
    parser.add_argument("--passes", type=int, nargs="+", default=[1])
    parser.add_argument("--exploration", type=float, default=ReplayConfig().exploration)
    parser.add_argument("--granularity", choices=("pattern", "complexity"), default="pattern")
    args = parser.parse_args(argv)
    dataset = load(args.dataset, args.evaldata)
    print(f"{args.dataset}: {len(dataset.records)} records, reference {dataset.reference_model}")
    print(
        "value  passes  online q/best  online c/best  after q/best  after c/best  goal met (after)"
    )
    for value in args.values:
        for passes in args.passes:
            runs = []
            for seed in args.seeds:
                config = ReplayConfig(
                    seed=seed, passes=passes, value_per_good_usd=value or None,
                    exploration=args.exploration, granularity=args.granularity,
                )  # fmt: skip
                runs.append(one(dataset, config))

            print(_row(value, passes, runs))
            if len(dataset.models) == 2:
                pgr = statistics.fmean(r["after"]["performance_gap_recovered"] for r in runs)
                strong = statistics.fmean(r["after"]["strong_call_share"] for r in runs)
                print(f"       after learning: gap recovered {pgr:.3f}, strong calls {strong:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
