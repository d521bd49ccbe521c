"""Time per prompt of `shared.routing.classifier.classify` (a benchmark: nothing asserts).

Prompts: MT-Bench and Vicuna-Bench first turns (short), plus RouterBench's few-shot prompts
(1,400-2,700 characters) when the evaldata folder has them.

    .venv/bin/python bench/bench_classifier.py [--evaldata DIR] [--repeat ROUNDS]
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import statistics
import time
from pathlib import Path

from shared.routing.classifier import classify

DEFAULT_EVALDATA = Path(__file__).resolve().parents[2] / "shared" / "evaldata"


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
    return {"mt-bench + vicuna (short)": short, "routerbench arc few-shot (long)": long[:200]}


def measure(texts: list[str], rounds: int) -> list[float]:
    """Mean microseconds per prompt of each round over all prompts (one call per prompt)."""
    per_round = []
    for _ in range(rounds):
        started = time.perf_counter()
        for text in texts:
            classify(text)
        per_round.append((time.perf_counter() - started) / len(texts) * 1e6)
    return per_round


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaldata", type=Path, default=DEFAULT_EVALDATA)
    parser.add_argument("--repeat", type=int, default=20, help="rounds over all prompts")
    args = parser.parse_args(argv)
    classify("warm up the regex caches")
    for label, texts in prompts(args.evaldata).items():
        if not texts:
            continue
        rounds = measure(texts, args.repeat)
        chars = statistics.mean(len(t) for t in texts)
        print(
            f"{label}: {len(texts)} prompts, mean {chars:.0f} chars: "
            f"{statistics.median(rounds):.0f} us per prompt (median of {len(rounds)} rounds; "
            f"best {min(rounds):.0f}, worst {max(rounds):.0f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
