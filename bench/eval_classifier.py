"""Accuracy and confusion matrix of `shared.routing.classifier` on category-labelled prompts.

MT-Bench (80) and Vicuna-Bench (80) label each question with a category; the mapping below says
which of our patterns a person would file that category under. It was fixed from the category
definitions before measuring, one pattern per category, and is not tuned per question.
Only the first turn is classified (the second turns are follow-ups of the first).

    .venv/bin/python bench/eval_classifier.py [--evaldata DIR] [--show-errors]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from shared.routing.catalog import PATTERNS
from shared.routing.classifier import classify

DEFAULT_EVALDATA = Path(__file__).resolve().parents[2] / "shared" / "evaldata"

CATEGORY_TO_PATTERN = {
    # MT-Bench
    "writing": "creative",
    "roleplay": "creative",
    "reasoning": "analysis",
    "math": "math",
    "coding": "code",
    "extraction": "extraction",
    "stem": "factual",
    "humanities": "analysis",
    # Vicuna-Bench (adds these)
    "generic": "general",
    "knowledge": "factual",
    "common-sense": "analysis",
    "fermi": "math",
    "counterfactual": "analysis",
}
FILES = ("mt_bench/question.jsonl", "mt_bench/vicuna_bench_question.jsonl")


def load(evaldata: Path) -> list[tuple[str, str, str]]:
    """(file, category, first turn) for every labelled question."""
    rows = []
    for name in FILES:
        for line in (evaldata / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                rows.append((name, item["category"], item["turns"][0]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaldata", type=Path, default=DEFAULT_EVALDATA)
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args(argv)
    rows = load(args.evaldata)
    confusion: Counter[tuple[str, str]] = Counter()
    per_file: Counter[tuple[str, bool]] = Counter()
    per_category: Counter[tuple[str, bool]] = Counter()
    for name, category, prompt in rows:
        expected = CATEGORY_TO_PATTERN[category]
        got = classify(prompt)
        confusion[(expected, got.pattern)] += 1
        per_file[(name, got.pattern == expected)] += 1
        per_category[(category, got.pattern == expected)] += 1
        if args.show_errors and got.pattern != expected:
            print(
                f"[{category} -> {expected}] got {got.pattern} {got.signals[:3]}: {prompt[:90]!r}"
            )
    total = sum(confusion.values())
    right = sum(n for (e, g), n in confusion.items() if e == g)
    print(f"accuracy: {right}/{total} = {right / total:.1%}")
    for name in FILES:
        ok, bad = per_file[(name, True)], per_file[(name, False)]
        print(f"  {name}: {ok}/{ok + bad} = {ok / (ok + bad):.1%}")
    print("\nper category (category -> pattern: correct/total)")
    for category, pattern in CATEGORY_TO_PATTERN.items():
        ok, bad = per_category[(category, True)], per_category[(category, False)]
        print(f"  {category:15s} -> {pattern:13s} {ok:2d}/{ok + bad}")
    used = [p for p in PATTERNS if any(confusion[(p, g)] or confusion[(g, p)] for g in PATTERNS)]
    short = {p: p[:6] for p in used}
    print("\nconfusion matrix (rows: expected, columns: predicted)")
    print(" " * 14 + " ".join(f"{short[p]:>6s}" for p in used))
    for expected in used:
        cells = " ".join(f"{confusion[(expected, p)]:6d}" for p in used)
        print(f"{expected:13s} {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
