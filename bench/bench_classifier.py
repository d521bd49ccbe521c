"""CPU time per prompt of embed + classify (`shared.routing.classifier.classify`); nothing asserts.

Each call is timed with the process CPU clock (not wall time: the machine is shared), and the
median (p50) and p90 over all calls are printed, for:
- real prompts: MT-Bench and Vicuna-Bench first turns (about 200 characters), RouterBench's
  ARC prompts (about 2,000) when the evaldata folder has them;
- prompts cut to exactly 200 and 8,000 characters (the goals: <= 0.2 ms and <= 1 ms at p50);
- and, apart, each prompt's first call (memos filling: tokenizer calls, per-chunk sums), and
  calls without the token evidence (`classify(..., evidence=False)`, the router's hot path);
- prompts the router has never seen, as it meets them in real traffic (`--never-seen N`): the
  training set's distinct texts in a fixed shuffled order, the first N classified once to warm
  the memos as earlier traffic would, then each of the next ones once, cut to 200 characters
  or joined to 8,000, as the router calls it (no token evidence).

    .venv/bin/python bench/bench_classifier.py [--evaldata DIR] [--repeat ROUNDS] [--never-seen N]
"""

from __future__ import annotations

import argparse
import ast
import csv
import gzip
import json
import random
import statistics
import time
from pathlib import Path

from shared.routing.classifier import classify

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EVALDATA = ROOT.parent / "shared" / "evaldata"
TRAINING_TEXTS = ROOT / "training" / "data" / "train.jsonl.gz"


def prompts(evaldata: Path) -> dict[str, list[str]]:
    short = []
    for name in ("question.jsonl", "vicuna_bench_question.jsonl"):
        for line in (evaldata / "mt_bench" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                short.append(json.loads(line)["turns"][0])
    long = []
    path = evaldata / "routerbench_subset" / "arc_challenge_test.csv"
    if path.exists():
        csv.field_size_limit(1 << 30)
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                long.append(str(ast.literal_eval(row["prompt"])[-1]))
    # Exact lengths: each short prompt padded with the next ones, cut at the length.
    joined = "\n".join(short)
    at_200 = [(joined[i * 211 :] + joined)[:200] for i in range(len(short))]
    at_8000 = [(joined[i * 997 :] + joined)[:8000] for i in range(40)]
    return {
        "mt-bench + vicuna": short,
        "routerbench arc (long)": long[:200],
        "200 chars": at_200,
        "8000 chars": at_8000,
    }


def measure(texts: list[str], rounds: int, *, evidence: bool = True) -> list[float]:
    """CPU microseconds of each call (every prompt, `rounds` times)."""
    timings = []
    for _ in range(rounds):
        for text in texts:
            started = time.process_time_ns()
            classify(text, evidence=evidence)
            timings.append((time.process_time_ns() - started) / 1000)
    return timings


def never_seen(warm_up: int) -> None:
    """CPU per call of prompts met once each, after `warm_up` other prompts filled the memos."""
    with gzip.open(TRAINING_TEXTS, "rt", encoding="utf-8") as handle:
        texts = list(dict.fromkeys(str(json.loads(line)["text"]) for line in handle))
    random.Random(14).shuffle(texts)
    for text in texts[:warm_up]:
        classify(text, evidence=False)
    unseen = texts[warm_up:]
    at_200 = [text[:200] for text in unseen[:2000] if len(text) >= 200]
    at_8000, joined = [], ""
    for text in unseen[2000:]:
        joined += text + "\n"
        if len(joined) >= 8000:
            at_8000.append(joined[:8000])
            joined = ""
            if len(at_8000) == 200:
                break
    for label, cut in (("200 chars", at_200), ("8000 chars", at_8000)):
        timings = sorted(measure(cut, 1, evidence=False))
        p90 = timings[int(len(timings) * 0.9)]
        print(
            f"never seen, {label} (after {warm_up} other prompts): {len(cut)} prompts, "
            f"router path p50 {statistics.median(timings):.0f} us, p90 {p90:.0f} us"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaldata", type=Path, default=DEFAULT_EVALDATA)
    parser.add_argument("--repeat", type=int, default=20, help="rounds over all prompts")
    parser.add_argument(
        "--never-seen",
        type=int,
        default=0,
        metavar="N",
        help="also time prompts never seen, after N others warmed the memos (e.g. 3000)",
    )
    args = parser.parse_args(argv)
    if args.never_seen:
        never_seen(args.never_seen)  # before the sets below fill the memos
    for label, texts in prompts(args.evaldata).items():
        if not texts:
            continue
        # First sight of a chunk of text costs a tokenizer call and its sums: time that round
        # apart (the sets share words, so only the first set starts from nothing), then the rest.
        first = measure(texts, 1)
        timings = sorted(measure(texts, args.repeat))
        hot = measure(texts, args.repeat, evidence=False)
        chars = statistics.mean(len(t) for t in texts)
        p90 = timings[int(len(timings) * 0.9)]
        print(
            f"{label}: {len(texts)} prompts, mean {chars:.0f} chars: CPU per prompt "
            f"p50 {statistics.median(timings):.0f} us, p90 {p90:.0f} us ({len(timings)} calls); "
            f"first call p50 {statistics.median(first):.0f} us; "
            f"without token evidence (the router) p50 {statistics.median(hot):.0f} us"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
