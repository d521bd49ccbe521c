"""What the trained prompt models see: the embedding, hashed tokens, and a few character shares.

Three groups, all cheap and none tied to English:
- the prompt embedding (`shared.routing.embedder`, 256 numbers);
- hashed token unigrams and bigrams (`BUCKETS` sparse indicators): a learned word list that also
  covers the scripts and phrasings the embedding knows little about ("写", "poema", "def");
- shares of character classes (digits, operators, code symbols, line structure, non-Latin
  scripts) and the length: code and math look different from prose in any language.
The training script (`training/train.py`) and the router compute features with this one module,
so a model never sees features made another way than those it was trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from shared.routing.embedder import DIM, FloatVector, IntVector, WordLlamaEmbedder, clip

BUCKETS = 1 << 14
_MIX = 0x9E3779B1  # Knuth's multiplicative hash: token ids are dense, buckets must not be
_BIGRAM = 1_000_003

# Character classes of ASCII code points; everything else is counted as non-ASCII (and CJK).
_CLASSES = ("digit", "operator", "code_symbol", "newline", "indent", "letter", "space", "other")
_LUT = np.full(128, _CLASSES.index("other"), dtype=np.int64)
for _chars, _name in (
    ("0123456789", "digit"),
    ("+-*/=^<>%", "operator"),
    ("{}[]();`_#$\\|&~@", "code_symbol"),
    ("\n", "newline"),
    ("\t", "indent"),
    ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "letter"),
    (" ", "space"),
):
    for _c in _chars:
        _LUT[ord(_c)] = _CLASSES.index(_name)

STAT_NAMES = (
    *(f"share:{c}" for c in _CLASSES),
    "share:non_ascii",
    "share:cjk",
    "code_fence",
    "indented_lines",
    "question",
    "log_length",
)
DENSE_SIZE = DIM + len(STAT_NAMES)


@dataclass(frozen=True, slots=True)
class PromptFeatures:
    """`dense` (embedding then stats), `buckets` (sorted distinct hashed token indices), `ids`."""

    dense: FloatVector
    buckets: IntVector
    ids: IntVector

    @property
    def embedding(self) -> FloatVector:
        return self.dense[:DIM]

    @property
    def bucket_weight(self) -> float:
        return bucket_weight(self.buckets.size)


def bucket_weight(count: int) -> float:
    """The value of each present bucket: 1/sqrt(count), so long prompts do not shout."""
    return 1.0 / math.sqrt(count) if count else 0.0


def unigram_buckets(ids: IntVector) -> IntVector:
    """The bucket of each token id (same order)."""
    return (ids * _MIX) % BUCKETS


def hashed_buckets(ids: IntVector) -> IntVector:
    """Distinct buckets of the token unigrams and adjacent bigrams."""
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64)
    unigrams = unigram_buckets(ids)
    bigrams = ((ids[:-1] * _BIGRAM + ids[1:] + 1) * _MIX) % BUCKETS
    return np.unique(np.concatenate((unigrams, bigrams)))


def text_stats(text: str) -> FloatVector:
    """Character-class shares and shape of the read part of `text` (see `STAT_NAMES`)."""
    read = clip(text)
    codes = np.frombuffer(read.encode("utf-32-le"), dtype=np.uint32)
    size = max(codes.size, 1)
    ascii_codes = codes[codes < 128].astype(np.int64)
    counts = np.bincount(_LUT[ascii_codes], minlength=len(_CLASSES)).astype(np.float32) / size
    non_ascii = (codes.size - ascii_codes.size) / size
    cjk = float(np.count_nonzero((codes >= 0x3040) & (codes <= 0x9FFF))) / size
    lines = read.count("\n") + 1
    indented = (read.count("\n    ") + read.count("\n\t")) / lines
    extra = (
        non_ascii,
        cjk,
        1.0 if "```" in read else 0.0,
        min(indented, 1.0),
        1.0 if "?" in read or "\uff1f" in read else 0.0,
        math.log1p(len(text)) / 8.0,
    )
    return np.concatenate((counts, np.asarray(extra, dtype=np.float32)))


def prompt_features(embedder: WordLlamaEmbedder, text: str) -> PromptFeatures:
    encoded = embedder.encode(text)
    dense = np.concatenate((encoded.vector, text_stats(text))).astype(np.float32, copy=False)
    return PromptFeatures(dense, hashed_buckets(encoded.ids), encoded.ids)
