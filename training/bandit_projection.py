"""Build the bandit's embedding projection: `python -m training.bandit_projection`.

The bandit's quality model (shared/routing/bandit/) reads a prompt's 256-d embedding through a
projection onto its leading principal directions, whitened, so that a full-covariance posterior
per model stays small (docs/bandit.md). The directions are fitted on the prompt texts of
`training/data/train.jsonl.gz` only: no outcome of any model, and none of the evaluation data
(RouterBench, RouteLLM) is read. Written as float32 base64 in JSON, so a rebuild is
byte-identical.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np

from shared.routing.bandit.context import PROJECTION_ARTIFACT, PROJECTION_DIMS
from shared.routing.embedder import get_embedder
from shared.routing.prompt_model import encode_array

DATA = Path(__file__).parent / "data" / "train.jsonl.gz"
OUT = Path(__file__).parents[1] / "shared" / "routing" / "models" / PROJECTION_ARTIFACT


def build(texts: list[str], dims: int) -> dict[str, object]:
    """Mean, the leading `dims` principal directions, and their scales (1 / sd)."""
    embedder = get_embedder()
    vectors = np.stack([embedder.encode(t).vector for t in texts]).astype(np.float64)
    mean = vectors.mean(axis=0)
    _, singular, directions = np.linalg.svd(vectors - mean, full_matrices=False)
    sd = singular[:dims] / np.sqrt(len(texts) - 1)
    # A direction's sign is arbitrary in SVD: fix it so that a rebuild gives the same artifact.
    signs = np.sign(directions[:dims, np.argmax(np.abs(directions[:dims]), axis=1)].diagonal())
    basis = directions[:dims] * signs[:, None]
    return {
        "format": 1,
        "source": "training/data/train.jsonl.gz prompt texts (no outcomes)",
        "rows": len(texts),
        "dims": dims,
        "explained_variance": round(float((sd**2).sum() / vectors.var(axis=0, ddof=1).sum()), 4),
        "mean": encode_array(mean),
        "basis": encode_array(basis / sd[:, None]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dims", type=int, default=PROJECTION_DIMS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    with gzip.open(DATA, "rt", encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle if line.strip()]
    document = build(texts, args.dims)
    raw = json.dumps(document, sort_keys=True).encode("utf-8")
    args.out.write_bytes(gzip.compress(raw, mtime=0))
    print(f"wrote {args.out}: {args.dims} dims, {document['explained_variance']:.1%} of variance")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
