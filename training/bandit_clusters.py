"""K-means clusters of the prompt embedding, tried as bandit context features (not shipped).

    python -m training.bandit_clusters --k 16 [--space embedding] --out /tmp/clusters16.npz

Fitted on the prompt texts of `training/data/train.jsonl.gz` only (as `training.bandit_projection`
fits the projection): no model outcome and none of the evaluation data is read. Points are the
context's whitened projection (`context.EMBEDDING_SLICE`) or the raw 256-d embedding; k-means++
seeding and Lloyd steps in float64 numpy with a fixed seed. `bench/bandit_full_information.py
--extra clusters --clusters FILE` scores them; none was adopted (docs/bandit.md, tuning log,
session "bclust"), so nothing here reaches the router.

A prompt's memberships: hard (one-hot of the nearest centroid) or soft, softmax of
-(squared distance) / (temperature x the training points' mean squared distance to their own
centroid).
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt

from shared.routing.bandit.context import EMBEDDING_SLICE, load_projection
from shared.routing.embedder import get_embedder

DATA = Path(__file__).parent / "data" / "train.jsonl.gz"
Array = npt.NDArray[np.float64]


def training_points(space: str, cache: Path | None = None) -> Array:
    """Every training prompt text's projected embedding (`space` "projection") or its raw
    256-d embedding ("embedding")."""
    if cache is not None and cache.exists():
        saved = np.load(cache)
        raw = saved["embedding"]
    else:
        with gzip.open(DATA, "rt", encoding="utf-8") as handle:
            texts = [json.loads(line)["text"] for line in handle if line.strip()]
        embedder = get_embedder()
        raw = np.stack([embedder.encode(t).vector for t in texts]).astype(np.float32)
        if cache is not None:
            np.savez(cache, embedding=raw)
    if space == "embedding":
        return np.asarray(raw, dtype=np.float64)
    projection = load_projection()
    return np.asarray(np.stack([projection(e) for e in raw]), dtype=np.float64)


def _squared_distances(points: Array, centroids: Array) -> Array:
    cross = points @ centroids.T
    squared = (points**2).sum(axis=1)[:, None] - 2.0 * cross + (centroids**2).sum(axis=1)[None, :]
    return np.asarray(np.maximum(squared, 0.0), dtype=np.float64)


def kmeans(points: Array, k: int, seed: int = 0, steps: int = 100) -> Array:
    """Centroids by k-means++ seeding then Lloyd steps (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    centroids = [points[rng.integers(len(points))]]
    nearest = _squared_distances(points, np.array(centroids))[:, 0]
    for _ in range(1, k):
        centroids.append(points[rng.choice(len(points), p=nearest / nearest.sum())])
        nearest = np.minimum(nearest, _squared_distances(points, centroids[-1][None, :])[:, 0])
    c = np.array(centroids)
    for _ in range(steps):
        assign = np.argmin(_squared_distances(points, c), axis=1)
        moved = np.array(
            [points[assign == j].mean(axis=0) if np.any(assign == j) else c[j] for j in range(k)]
        )
        if np.allclose(moved, c):
            break
        c = moved
    return c


def spread(points: Array, centroids: Array) -> float:
    """Mean squared distance of the points to their nearest centroid."""
    return float(_squared_distances(points, centroids).min(axis=1).mean())


def memberships(projected: Array, centroids: Array, scale: float, temperature: float) -> Array:
    """Each row's memberships: one-hot of the nearest centroid at temperature 0, else a softmax
    of -squared distance / (temperature x scale)."""
    d2 = _squared_distances(projected, centroids)
    if temperature <= 0:
        out = np.zeros_like(d2)
        out[np.arange(len(d2)), np.argmin(d2, axis=1)] = 1.0
        return out
    logits = -(d2 - d2.min(axis=1, keepdims=True)) / (temperature * scale)
    e = np.exp(logits)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def memberships_from_file(
    path: Path, x: npt.NDArray[np.float32], embedding: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Memberships of context vectors `x` in the clusters saved by `main` (bench use)."""
    saved = np.load(path)
    space = str(saved["space"]) if "space" in saved else "projection"
    projected = (embedding if space == "embedding" else x[:, EMBEDDING_SLICE]).astype(np.float64)
    # A prompt without an embedding has zeros there: no cluster, all memberships 0.
    out = memberships(
        projected, saved["centroids"], float(saved["scale"]), float(saved["temperature"])
    )
    out[~np.any(embedding != 0, axis=1)] = 0.0
    return out.astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--space", choices=("projection", "embedding"), default="projection")
    parser.add_argument("--points-cache", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    points = training_points(args.space, args.points_cache)
    centroids = kmeans(points, args.k, args.seed)
    scale = spread(points, centroids)
    sizes = np.bincount(np.argmin(_squared_distances(points, centroids), axis=1), minlength=args.k)
    np.savez(
        args.out, centroids=centroids, scale=scale, temperature=args.temperature, space=args.space
    )
    print(f"wrote {args.out}: k {args.k}, {len(points)} points, spread {scale:.2f}, "
          f"sizes {sorted(sizes.tolist())}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
