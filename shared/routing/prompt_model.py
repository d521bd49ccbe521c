"""The trained prompt models: pattern probabilities and predicted difficulty, from one artifact.

The artifact (`shared/routing/models/prompt_model.json.gz`) is written by `python -m
training.train` and holds two linear models over `shared.routing.features`:
- a multinomial logistic regression over the patterns (softmax of a dense part over the
  embedding and character shares, plus a sparse part over hashed tokens);
- a ridge regression of the share of models that fail a prompt (RouteLLM's per-prompt outcomes),
  cut into low / medium / high at thresholds stored with it.
Arrays are stored as base64 little-endian float32 so that a rebuild is byte-identical.
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
from shared.routing.features import (
    BUCKETS,
    DENSE_SIZE,
    STAT_NAMES,
    PromptFeatures,
    unigram_buckets,
)

FORMAT = 1
ARTIFACT = "prompt_model.json.gz"
Matrix = npt.NDArray[np.float32]


class ArtifactError(ValueError):
    """The model artifact does not match the features this code computes."""


def encode_array(array: npt.NDArray[Any]) -> dict[str, Any]:
    data = np.ascontiguousarray(array, dtype="<f4")
    return {"shape": list(data.shape), "f32": base64.b64encode(data.tobytes()).decode("ascii")}


def decode_array(blob: dict[str, Any]) -> Matrix:
    raw = base64.b64decode(blob["f32"])
    return np.frombuffer(raw, dtype="<f4").reshape(blob["shape"]).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Prediction:
    """Per-pattern probabilities (in `PromptModel.patterns` order) and the predicted difficulty."""

    probabilities: Matrix
    failure_share: float
    complexity: str


class PromptModel:
    """Both linear models, ready to score `PromptFeatures`."""

    def __init__(self, document: dict[str, Any]) -> None:
        if document.get("format") != FORMAT:
            raise ArtifactError("unknown artifact format")
        spec = document["features"]
        if spec["buckets"] != BUCKETS or tuple(spec["stats"]) != STAT_NAMES:
            raise ArtifactError("the artifact was trained on other features; rebuild it")
        self.document = document
        self.patterns: tuple[str, ...] = tuple(document["patterns"])
        pattern = document["pattern_model"]
        self.dense = decode_array(pattern["dense"])  # (patterns, DENSE_SIZE)
        self.sparse = decode_array(pattern["sparse"])  # (BUCKETS, patterns)
        self.bias = decode_array(pattern["bias"])
        hard = document["complexity_model"]
        self.hard_dense = decode_array(hard["dense"])  # (DENSE_SIZE,)
        self.hard_sparse = decode_array(hard["sparse"])  # (BUCKETS,)
        self.hard_bias = float(hard["bias"])
        self.low_below = float(hard["low_below"])
        self.high_from = float(hard["high_from"])
        if self.dense.shape != (len(self.patterns), DENSE_SIZE):
            raise ArtifactError("pattern weights do not match the feature size")

    @classmethod
    def from_bytes(cls, raw: bytes) -> PromptModel:
        return cls(json.loads(gzip.decompress(raw)))

    def logits(self, features: PromptFeatures) -> Matrix:
        sparse = self.sparse[features.buckets].sum(axis=0) * features.bucket_weight
        logits: Matrix = self.dense @ features.dense + sparse + self.bias
        return logits

    def predict(self, features: PromptFeatures) -> Prediction:
        logits = self.logits(features)
        exp = np.exp(logits - logits.max())
        probabilities = exp / exp.sum()
        share = float(
            self.hard_dense @ features.dense
            + self.hard_sparse[features.buckets].sum() * features.bucket_weight
            + self.hard_bias
        )
        share = min(max(share, 0.0), 1.0)
        level = (
            COMPLEXITIES[0]
            if share < self.low_below
            else COMPLEXITIES[2]
            if share >= self.high_from
            else COMPLEXITIES[1]
        )
        return Prediction(probabilities.astype(np.float32), share, level)

    def token_evidence(
        self, features: PromptFeatures, pattern_index: int
    ) -> list[tuple[int, float]]:
        """Token ids whose hashed unigram pushes most toward `pattern_index`, strongest first."""
        if features.ids.size == 0:
            return []
        ids = np.unique(features.ids)
        rows = self.sparse[unigram_buckets(ids)]
        push = rows[:, pattern_index] - rows.mean(axis=1)
        order = np.argsort(-push, kind="stable")[:3]
        return [(int(ids[i]), float(push[i])) for i in order if push[i] > 0]


@cache
def load_model() -> PromptModel:
    """The shipped artifact, read once per process."""
    raw = resources.files("shared.routing").joinpath("models", ARTIFACT).read_bytes()
    return PromptModel.from_bytes(raw)
