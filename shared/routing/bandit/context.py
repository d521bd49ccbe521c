"""What the quality model sees of a prompt: one float32 vector of `CONTEXT_SIZE` numbers.

Layout (`CONTEXT_VERSION` changes whenever it does):
- [0] a bias of 1;
- [1 : 1 + PROJECTION_DIMS] the 256-d WordLlama embedding projected onto its leading principal
  directions and whitened (unit variance on the fitting prompts; `training.bandit_projection`),
  zeros when the classification carries no embedding;
- then the classifier's probability of each pattern, in `catalog.PATTERNS` order;
- the prompt's length: (log(1 + characters) - 6) / 2, about -1..1 for 50..8,000 chars;
- last, `lexical.LEXICAL_NAMES`: log(1 + count) / 2 of numbers, operators, steps, code marks and
  question marks in the text (fixed characters and substrings, nothing fitted).
The classifier's `failure_share` is left out on purpose: its model was fitted on RouteLLM's
per-prompt outcomes, so it would carry the answers of the very data the replay scores on.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Sequence
from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt

from shared.routing.bandit.lexical import LEXICAL_NAMES, lexical_features
from shared.routing.catalog import PATTERNS
from shared.routing.classifier import Classification
from shared.routing.prompt_model import decode_array

PROJECTION_DIMS = 32
PROJECTION_ARTIFACT = "bandit_projection.json.gz"
CONTEXT_VERSION = (
    f"ctx3-bias-pca{PROJECTION_DIMS}-patterns{len(PATTERNS)}-loglen-lexical{len(LEXICAL_NAMES)}"
)
EMBEDDING_SLICE = slice(1, 1 + PROJECTION_DIMS)
PATTERN_SLICE = slice(EMBEDDING_SLICE.stop, EMBEDDING_SLICE.stop + len(PATTERNS))
LENGTH_INDEX = PATTERN_SLICE.stop
LEXICAL_SLICE = slice(LENGTH_INDEX + 1, LENGTH_INDEX + 1 + len(LEXICAL_NAMES))
CONTEXT_SIZE = LEXICAL_SLICE.stop
_CLIP = 6.0  # whitened coordinates beyond 6 sd are outliers, not information

Vector = npt.NDArray[np.float32]


class Projection:
    """The embedding's mean and whitened principal directions, from the shipped artifact."""

    def __init__(self, document: dict[str, object]) -> None:
        if document.get("format") != 1 or document.get("dims") != PROJECTION_DIMS:
            raise ValueError("the bandit projection artifact does not match this code; rebuild it")
        mean = decode_array(document["mean"])  # type: ignore[arg-type]
        self.basis = decode_array(document["basis"])  # type: ignore[arg-type]
        self.offset = self.basis @ mean  # basis @ (e - mean) in one product on the hot path

    def __call__(self, embedding: npt.NDArray[np.float32]) -> Vector:
        projected: Vector = self.basis @ embedding - self.offset
        return np.minimum(np.maximum(projected, -_CLIP), _CLIP)


@cache
def load_projection() -> Projection:
    """The shipped projection, read once per process."""
    raw = resources.files("shared.routing").joinpath("models", PROJECTION_ARTIFACT).read_bytes()
    return Projection(json.loads(gzip.decompress(raw)))


def length_feature(prompt_chars: int) -> float:
    return (math.log1p(max(prompt_chars, 0)) - 6.0) / 2.0


def context_vector(classification: Classification, texts: Sequence[str]) -> Vector:
    """The quality model's input for one prompt, `texts` its messages' contents (layout in the
    module doc)."""
    x = np.zeros(CONTEXT_SIZE, dtype=np.float32)
    x[0] = 1.0
    if classification.embedding is not None:
        x[EMBEDDING_SLICE] = load_projection()(classification.embedding)
    probabilities = classification.probabilities
    if probabilities:
        x[PATTERN_SLICE] = [probabilities.get(pattern, 0.0) for pattern in PATTERNS]
    else:
        x[PATTERN_SLICE.start + PATTERNS.index(classification.pattern)] = 1.0
    x[LENGTH_INDEX] = length_feature(sum(len(text) for text in texts))
    x[LEXICAL_SLICE] = lexical_features(texts)
    return x
