"""Choose training settings on a dev split of the training data (never on the held-out set).

    python -m training.dev [--c 4 --cap 2000 ...]

Two dev splits of train.jsonl.gz, each fitted on the rest:
- `random`: one row in five, by a hash of its text;
- `unseen sources`: every row of a few whole sources (languages and templates the fit never
  saw), which is closer to what the held-out set asks: prompts from elsewhere.
Prints accuracy per pattern and for non-English rows.
"""

from __future__ import annotations

import argparse
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from shared.routing.embedder import get_embedder
from training.assemble import DATA, read_jsonl_gz
from training.train import Settings, design, featurize, fit_patterns, pattern_rows

# Whole sources held out by the second split (a language of each multilingual source, one
# template or set per English-only pattern).
UNSEEN = (
    "msvamp-th",
    "msvamp-de",
    "humaneval-xl-python-Vietnamese",
    "humaneval-xl-python-Greek",
    "t0-cnn_dailymail_3_0_0_generate_story",
    "t0-xsum_DOC_tldr",
    "t0-kilt_tasks_hotpotqa_combining_facts",
    "t0-ropes_prompt_bottom_no_hint",
    "t0-quoref_Find_Answer",
)


def _in_random_dev(text: str) -> bool:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % 5 == 0


def score(
    train: Sequence[dict[str, Any]], dev: Sequence[dict[str, Any]], settings: Settings
) -> None:
    embedder = get_embedder()
    fit_rows = pattern_rows(list(train), settings)
    x = design(featurize(embedder, [str(r["text"]) for r in fit_rows]))
    patterns, model = fit_patterns(x, [str(r["pattern"]) for r in fit_rows], settings)
    known = [r for r in dev if str(r["pattern"]) in patterns]
    dev_x = design(featurize(embedder, [str(r["text"]) for r in known]))
    got = [patterns[i] for i in model.predict(dev_x)]
    right = [g == str(r["pattern"]) for g, r in zip(got, known, strict=True)]
    non_en = [ok for ok, r in zip(right, known, strict=True) if r["lang"] != "en"]
    print(f"   accuracy {np.mean(right):.3f} on {len(right)}", end="")
    print(f"; non-English {np.mean(non_en):.3f} on {len(non_en)}" if non_en else "")
    by_pattern: dict[str, list[bool]] = {}
    for ok, r in zip(right, known, strict=True):
        by_pattern.setdefault(str(r["pattern"]), []).append(ok)
    print("   per pattern:", {p: round(float(np.mean(v)), 3) for p, v in by_pattern.items()})
    misses = Counter(
        (str(r["pattern"]), g) for g, r in zip(got, known, strict=True) if g != r["pattern"]
    )
    print("   top confusions (expected, got):", misses.most_common(5))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--c", type=float, default=None)
    parser.add_argument("--cap", type=int, default=None)
    args = parser.parse_args(argv)
    settings = Settings()
    if args.c is not None:
        settings = replace(settings, c=args.c)
    if args.cap is not None:
        settings = replace(settings, per_class_cap=args.cap)
    rows = read_jsonl_gz(DATA / "train.jsonl.gz")
    print(f"settings: {settings}")
    print("== random split (1 in 5)")
    dev = [r for r in rows if _in_random_dev(str(r["text"]))]
    score([r for r in rows if not _in_random_dev(str(r["text"]))], dev, settings)
    print("== unseen sources")
    unseen = [r for r in rows if r["source"] in UNSEEN]
    score([r for r in rows if r["source"] not in UNSEEN], unseen, settings)


if __name__ == "__main__":
    main()
