"""The trained prompt models: pattern probabilities and predicted difficulty, from one artifact.

The artifact (`shared/routing/models/prompt_model.json.gz`) is written by `python -m
training.train` and holds two linear models over `shared.routing.features`:
- a multinomial logistic regression over the patterns (softmax of a dense part over the
  embedding and character shares, plus a sparse part over hashed tokens and n-grams);
- a ridge regression of the share of models that fail a prompt (per-prompt outcomes of
  RouterBench and RouteLLM), cut into low / medium / high at thresholds stored with it.
Both are stored as one matrix (one gather per prompt). Arrays are base64 little-endian (hashed
weights as float16, the rest float32), so that a rebuild is byte-identical and the file small.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.routing.catalog import COMPLEXITIES
from shared.routing.embedder import IntVector
from shared.routing.features import (
    BUCKETS,
    DENSE_SIZE,
    HASHING,
    STAT_NAMES,
    PromptFeatures,
    token_buckets,
)

FORMAT = 2
ARTIFACT = "prompt_model.json.gz"
Matrix = npt.NDArray[np.float32]


class ArtifactError(ValueError):
    """The model artifact does not match the features this code computes."""


def encode_array(array: npt.NDArray[Any], dtype: str = "<f4") -> dict[str, Any]:
    """An array as JSON: float32 as {"shape", "f32"} (the form other artifacts share, e.g. the
    bandit's projection), any other dtype as {"shape", "dtype", "data"}."""
    data = np.ascontiguousarray(array, dtype=dtype)
    encoded = base64.b64encode(data.tobytes()).decode("ascii")
    if dtype == "<f4":
        return {"shape": list(data.shape), "f32": encoded}
    return {"shape": list(data.shape), "dtype": dtype, "data": encoded}


def decode_array(blob: dict[str, Any]) -> Matrix:
    """Either form of `encode_array`, as float32."""
    if "f32" in blob:
        raw, dtype = base64.b64decode(blob["f32"]), "<f4"
    else:
        raw, dtype = base64.b64decode(blob["data"]), blob["dtype"]
    return np.frombuffer(raw, dtype=dtype).reshape(blob["shape"]).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Prediction:
    """Per-pattern probabilities (in `PromptModel.patterns` order) and the predicted difficulty."""

    probabilities: Matrix
    failure_share: float
    complexity: str


class PromptModel:
    """Both linear models as one: column i < len(patterns) is pattern i's logit, the last column
    the predicted failure share."""

    def __init__(self, document: dict[str, Any]) -> None:
        if document.get("format") != FORMAT:
            raise ArtifactError("unknown artifact format")
        spec = document["features"]
        if spec["hashing"] != HASHING or tuple(spec["stats"]) != STAT_NAMES:
            raise ArtifactError("the artifact was trained on other features; rebuild it")
        # What the artifact says about itself (the weights are decoded below, not kept twice).
        self.document = {key: value for key, value in document.items() if key != "weights"}
        self.patterns: tuple[str, ...] = tuple(document["patterns"])
        weights = document["weights"]
        outputs = len(self.patterns) + 1
        self.dense = decode_array(weights["dense"])  # (patterns + 1, DENSE_SIZE)
        sparse = decode_array(weights["sparse"])  # (BUCKETS, patterns + 1)
        self.bias = decode_array(weights["bias"])  # (patterns + 1,)
        hard = document["complexity"]
        self.low_below = float(hard["low_below"])
        self.high_from = float(hard["high_from"])
        if self.dense.shape != (outputs, DENSE_SIZE):
            raise ArtifactError("the weights do not match the feature size")
        if sparse.shape != (BUCKETS, outputs):
            raise ArtifactError("the hashed weights do not match the bucket count")
        # Held once, for the hot path (shared.routing.chunk_scores): the hashed weights with a
        # count column of ones and a zero row at index BUCKETS, so that one gather and one sum
        # give a group's weights and its count, and an index of BUCKETS adds nothing.
        self.hashed = np.zeros((BUCKETS + 1, outputs + 1), dtype=np.float32)
        self.hashed[:BUCKETS, :outputs] = sparse
        self.hashed[:BUCKETS, outputs] = 1.0
        self.sparse = self.hashed[:BUCKETS, :outputs]  # the weights as stored

    @classmethod
    def from_bytes(cls, raw: bytes) -> PromptModel:
        return cls(json.loads(gzip.decompress(raw)))

    def scores(self, features: PromptFeatures) -> Matrix:
        """Pattern logits, then the unclipped failure share."""
        scores: Matrix = self.dense @ features.dense + self.bias
        if features.tokens.size:
            scores += self.sparse[features.tokens].sum(axis=0) * features.token_weight
        if features.grams.size:
            scores += self.sparse[features.grams].sum(axis=0) * features.gram_weight
        return scores

    def predict(self, features: PromptFeatures) -> Prediction:
        return self.prediction(self.scores(features))

    def prediction(self, scores: Matrix) -> Prediction:
        """The prediction from `scores` (pattern logits, then the unclipped failure share)."""
        logits = scores[:-1]
        exp = np.exp(logits - logits.max())
        probabilities = exp / exp.sum()
        share = min(max(float(scores[-1]), 0.0), 1.0)
        return Prediction(probabilities.astype(np.float32), share, self.level(share))

    def level(self, share: float) -> str:
        if share < self.low_below:
            return COMPLEXITIES[0]
        return COMPLEXITIES[2] if share >= self.high_from else COMPLEXITIES[1]

    def token_evidence(self, ids: IntVector, pattern_index: int) -> list[tuple[int, float]]:
        """The (at most three) distinct token ids whose hashed unigram pushes most toward
        `pattern_index`, strongest first (ties: the earlier in the prompt), with their push."""
        if ids.size == 0:
            return []
        distinct, first = np.unique(ids, return_index=True)
        rows = self.sparse[token_buckets(distinct), :-1]
        push = rows[:, pattern_index] - rows.mean(axis=1)
        strongest = np.lexsort((first, -push))[:3]
        return [(int(distinct[i]), float(push[i])) for i in strongest if push[i] > 0]


@cache
def load_model() -> PromptModel:
    """The shipped artifact, read once per process."""
    raw = resources.files("shared.routing").joinpath("models", ARTIFACT).read_bytes()
    return PromptModel.from_bytes(raw)
