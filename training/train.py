"""Fit the prompt models and write the artifact the router loads. Deterministic and offline.

    python -m training.train    # training/data -> shared/routing/models/prompt_model.json.gz

Same data, same code and same library versions give the same bytes (fixed row order, seeded
subsampling, deterministic solvers, weights rounded to float32, gzip without a timestamp).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.linear_model import LogisticRegression, Ridge

from shared.routing.catalog import PATTERNS
from shared.routing.embedder import WordLlamaEmbedder, get_embedder
from shared.routing.features import (
    BUCKETS,
    DENSE_SIZE,
    STAT_NAMES,
    PromptFeatures,
    bucket_weight,
    prompt_features,
)
from shared.routing.prompt_model import FORMAT, encode_array
from training.assemble import DATA, read_jsonl_gz

ARTIFACT = Path(__file__).parents[1] / "shared" / "routing" / "models" / "prompt_model.json.gz"


@dataclass(frozen=True)
class Settings:
    """Choices made on a dev split of the training data (see docs/classifier.md)."""

    c: float = 4.0  # inverse regularisation of the pattern model
    per_class_cap: int = 1500  # rows per pattern at most: no pattern drowns the others
    ridge_alpha: float = 3.0
    difficulty_cap: int = 8000
    seed: int = 14


def featurize(embedder: WordLlamaEmbedder, texts: Sequence[str]) -> list[PromptFeatures]:
    return [prompt_features(embedder, text) for text in texts]


def design(features: Sequence[PromptFeatures]) -> sparse.csr_matrix:
    """Rows of [dense | weighted hashed buckets], as the models score them."""
    dense = np.vstack([f.dense for f in features])
    indptr = [0]
    indices: list[npt.NDArray[np.int64]] = []
    values: list[npt.NDArray[np.float32]] = []
    for f in features:
        indices.append(f.buckets)
        values.append(np.full(f.buckets.size, bucket_weight(f.buckets.size), dtype=np.float32))
        indptr.append(indptr[-1] + f.buckets.size)
    buckets = sparse.csr_matrix(
        (np.concatenate(values), np.concatenate(indices), np.asarray(indptr)),
        shape=(len(features), BUCKETS),
    )
    return sparse.hstack([sparse.csr_matrix(dense), buckets], format="csr")


def balanced(rows: list[dict[str, Any]], cap: int, seed: int) -> list[dict[str, Any]]:
    """At most `cap` rows per pattern, chosen by a seeded shuffle; original order kept."""
    rng = random.Random(seed)
    by_pattern: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        by_pattern.setdefault(str(row["pattern"]), []).append(index)
    keep: list[int] = []
    for indices in by_pattern.values():
        rng.shuffle(indices)
        keep.extend(indices[:cap])
    return [rows[i] for i in sorted(keep)]


def fit_patterns(
    x: sparse.csr_matrix, labels: Sequence[str], settings: Settings
) -> tuple[list[str], LogisticRegression]:
    patterns = [p for p in PATTERNS if p in set(labels)]
    y = np.asarray([patterns.index(label) for label in labels])
    model = LogisticRegression(
        C=settings.c, max_iter=3000, class_weight="balanced", solver="lbfgs", tol=1e-6
    )
    model.fit(x, y)
    return patterns, model


def fit_difficulty(
    x: sparse.csr_matrix, shares: npt.NDArray[np.float64], settings: Settings
) -> tuple[Ridge, float, float]:
    model = Ridge(alpha=settings.ridge_alpha, solver="sparse_cg", tol=1e-8, max_iter=5000)
    model.fit(x, shares)
    predicted = np.clip(model.predict(x), 0.0, 1.0)
    low_below, high_from = np.quantile(predicted, [1 / 3, 2 / 3])
    return model, float(low_below), float(high_from)


def artifact(
    patterns: list[str],
    classifier: LogisticRegression,
    difficulty: tuple[Ridge, float, float],
    meta: dict[str, Any],
) -> bytes:
    dense_size = DENSE_SIZE
    coef = classifier.coef_.astype(np.float32)
    ridge, low_below, high_from = difficulty
    ridge_coef = ridge.coef_.astype(np.float32)
    document = {
        "format": FORMAT,
        "embedder": get_embedder().name,
        "features": {"buckets": BUCKETS, "stats": list(STAT_NAMES)},
        "patterns": patterns,
        "pattern_model": {
            "dense": encode_array(coef[:, :dense_size]),
            "sparse": encode_array(coef[:, dense_size:].T),
            "bias": encode_array(classifier.intercept_),
        },
        "complexity_model": {
            "target": "share of RouteLLM's two models (GPT-4-1106, Mixtral-8x7B) failing",
            "dense": encode_array(ridge_coef[:dense_size]),
            "sparse": encode_array(ridge_coef[dense_size:]),
            "bias": round(float(ridge.intercept_), 6),
            "low_below": round(low_below, 6),
            "high_from": round(high_from, 6),
        },
        "training": meta,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return gzip.compress(text, compresslevel=9, mtime=0)


def build(data: Path, settings: Settings) -> bytes:
    embedder = get_embedder()
    rows = balanced(read_jsonl_gz(data / "train.jsonl.gz"), settings.per_class_cap, settings.seed)
    x = design(featurize(embedder, [str(r["text"]) for r in rows]))
    patterns, classifier = fit_patterns(x, [str(r["pattern"]) for r in rows], settings)
    hard_rows = read_jsonl_gz(data / "difficulty.jsonl.gz")
    random.Random(settings.seed).shuffle(hard_rows)
    hard_rows = hard_rows[: settings.difficulty_cap]
    hard_x = design(featurize(embedder, [str(r["text"]) for r in hard_rows]))
    shares = np.asarray([float(r["failure_share"]) for r in hard_rows])  # type: ignore[arg-type]
    difficulty = fit_difficulty(hard_x, shares, settings)
    digest = hashlib.sha256()
    for name in ("train.jsonl.gz", "difficulty.jsonl.gz"):
        digest.update((data / name).read_bytes())
    meta = {
        "rows_per_pattern": dict(sorted(Counter(str(r["pattern"]) for r in rows).items())),
        "difficulty_rows": len(hard_rows),
        "data_sha256": digest.hexdigest(),
        "settings": asdict(settings),
    }
    return artifact(patterns, classifier, difficulty, meta)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ARTIFACT)
    args = parser.parse_args(argv)
    raw = build(args.data, Settings())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(raw)
    print(f"wrote {args.out} ({len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()[:16]})")


if __name__ == "__main__":
    main()
