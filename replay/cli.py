"""`optimizer replay`: replay a public dataset through the routing and learning code.

    python -m replay.cli --dataset routerbench --out out/replay-routerbench
    python -m replay.cli --router overrides --dataset routerbench --out out/replay-overrides

`--router bandit` (default): the per-prompt bandit (replay/bandit_cli.py, docs/bandit.md);
`--router overrides`: the per-pattern overrides of docs/learning.md. Writes DIR/result.json and
DIR/cost_quality.png, prints a short summary. See docs/replay.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from replay import bandit_cli
from replay.datasets import LOADERS, load, load_jsonl
from replay.records import ReplayRecord, replay_catalog
from replay.report import build, plot, write_json
from replay.simulate import ReplayConfig, Replayer, split


def _default_evaldata() -> Path:
    """EVALDATA_DIR, else `shared/evaldata` beside the checkout (the team's layout)."""
    if os.environ.get("EVALDATA_DIR"):
        return Path(os.environ["EVALDATA_DIR"])
    beside = Path(__file__).resolve().parents[3] / "shared" / "evaldata"
    team = Path("/work/shared/evaldata")  # a clone made elsewhere on a team machine
    return beside if beside.exists() or not team.exists() else team


DEFAULT_EVALDATA = _default_evaldata()


def _parser() -> argparse.ArgumentParser:
    defaults = ReplayConfig()
    p = argparse.ArgumentParser(
        prog="optimizer replay", description=__doc__.splitlines()[0] if __doc__ else None
    )
    p.add_argument("--dataset", required=True, choices=[*sorted(LOADERS), "jsonl"])
    p.add_argument("--router", choices=("bandit", "overrides"), default="bandit")
    p.add_argument(
        "--records", type=Path, help="with --dataset jsonl: a file in the generic format"
    )
    p.add_argument("--out", required=True, type=Path, help="directory for result.json and the plot")
    p.add_argument("--evaldata", type=Path, default=DEFAULT_EVALDATA, help="evaldata folder")
    p.add_argument("--retrain-every", type=int, default=defaults.retrain_every, metavar="K")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument(
        "--limit", type=int, default=None, metavar="N", help="use the first N shuffled prompts"
    )
    p.add_argument("--exploration", type=float, default=defaults.exploration, metavar="R")
    p.add_argument(
        "--holdout",
        type=float,
        default=defaults.holdout,
        help="share never streamed, evaluated after learning",
    )
    p.add_argument(
        "--passes",
        type=int,
        default=defaults.passes,
        help="stream the non-holdout prompts this many times",
    )
    p.add_argument("--min-samples", type=int, default=defaults.min_samples)
    p.add_argument(
        "--threshold", type=float, default=defaults.threshold, help="floor rule's bound threshold"
    )
    p.add_argument(
        "--value-per-good",
        type=float,
        default=defaults.value_per_good_usd,
        metavar="USD",
        help="value rule: what a good answer is worth; 0 selects the floor rule",
    )
    p.add_argument("--granularity", choices=("pattern", "complexity"), default=defaults.granularity)
    p.add_argument(
        "--no-trials", action="store_true", help="explore uniformly among cheaper models"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    bandit_cli.add_arguments(p.add_argument_group("bandit router"))
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one replay; 0 on success, 2 on bad arguments or unreadable data."""
    args = _parser().parse_args(argv)
    missing = [name for name in ("matplotlib", "tqdm") if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f"optimizer replay needs {', '.join(missing)}: pip install -e '.[replay]'",
            file=sys.stderr,
        )
        return 2
    if args.router == "bandit":
        try:
            bandit_cli.dev_split(args)
        except ValueError as exc:
            print(f"optimizer replay: {exc}", file=sys.stderr)
            return 2
    config = ReplayConfig(
        seed=args.seed,
        retrain_every=max(1, args.retrain_every),
        exploration=args.exploration,
        holdout=args.holdout,
        passes=max(1, args.passes),
        limit=args.limit,
        min_samples=args.min_samples,
        threshold=args.threshold,
        value_per_good_usd=args.value_per_good or None,
        granularity=args.granularity,
        trials=not args.no_trials,
    )
    try:
        if args.dataset == "jsonl":
            if args.records is None:
                print("--dataset jsonl needs --records PATH", file=sys.stderr)
                return 2
            dataset = load_jsonl(args.records)
        else:
            dataset = load(args.dataset, args.evaldata)
    except (OSError, ValueError, KeyError) as exc:
        print(f"cannot read {args.dataset} under {args.evaldata}: {exc}", file=sys.stderr)
        return 2
    progress = None if args.quiet else _progress
    if args.router == "bandit":
        print(bandit_cli.write(bandit_cli.run(args, dataset, progress), args.out))
        return 0
    catalog = replay_catalog(dataset, config.max_tokens)
    stream, holdout = split(dataset, config)
    replayer = Replayer(dataset, catalog, config)
    steps = replayer.run(stream, progress=progress)
    evaluated = replayer.evaluate(holdout)
    result = build(dataset, catalog, config, replayer, steps, evaluated)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(result, args.out / "result.json")
    plot(result, args.out / "cost_quality.png")
    print(_summary(result, args.out))
    return 0


def _progress(records: Iterable[ReplayRecord]) -> Iterable[ReplayRecord]:
    from tqdm import tqdm  # an optional extra

    return tqdm(records, desc="replay", unit="req", leave=False)  # type: ignore[no-any-return]


def _summary(result: dict[str, Any], out: Path) -> str:
    online, after = result["online"], result["after_learning"]
    lines = [
        f"{result['dataset']}: {online['learned']['n']} requests streamed, "
        f"reference {result['reference_model']}",
        f"  online, whole run: quality {online['quality_vs_best']:.3f} x best, "
        f"cost {online['cost_vs_best']:.3f} x best, explored {online['explored_share']:.1%}",
    ]
    if after:
        lines.append(
            f"  after learning, {after['learned']['n']} held-out prompts: quality "
            f"{after['quality_vs_best']:.3f} x best, cost {after['cost_vs_best']:.3f} x best"
        )
    lines.append(f"  goal (>= 95% quality at <= 50% cost): {result['goal']}")
    lines.append(f"  wrote {out / 'result.json'} and {out / 'cost_quality.png'}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
