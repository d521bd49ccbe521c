"""What the trained prompt models see: the embedding, hashed tokens and character n-grams, shares.

Three groups, all cheap:
- the prompt embedding (`shared.routing.embedder`, 256 numbers);
- hashed sparse indicators (`BUCKETS` of them) of the embedder's token unigrams and bigrams and
  of the character 2-, 3- and 4-grams of each word (lower-cased, with a space either side).
  Character n-grams need no vocabulary, so they carry any language and script ("poema" shares
  " poe" with "poem", "Gedicht" shares "dicht" with "Dichter"); a word's n-grams are computed
  once and remembered (the router's hot path keeps summed weights per chunk of text instead:
  `shared.routing.chunk_scores`, with `spans_grams` for text it has not seen);
- shares of character classes (digits, operators, code symbols, line structure, non-Latin
  scripts) and the length: code and math look different from prose in any language.
Each hashed group is weighted 1/sqrt(its count), so that long prompts do not shout.
The training script (`training/train.py`) and the router compute features with this one module,
so a model never sees features made another way than those it was trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shared.routing.embedder import (
    DIM,
    FloatVector,
    IntVector,
    WordLlamaEmbedder,
    clip,
    words,
)

BUCKET_BITS = 16
BUCKETS = 1 << BUCKET_BITS
CHAR_NGRAMS = (2, 3, 4)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits are well mixed
_SHIFT = np.uint64(64 - BUCKET_BITS)
_SALT = {  # each kind of gram lands on its own hash sequence
    "token": np.uint64(0x1),
    "bigram": np.uint64(0x2),
    **{f"char{n}": np.uint64(0x10 + n) for n in CHAR_NGRAMS},
}
_BASE = np.uint64(0x100007)  # radix of the polynomial over code points / token ids
# The n-gram at a position, from the window of the next max(CHAR_NGRAMS) code points: column
# k weighs the window's first n = CHAR_NGRAMS[k] code points by the radix powers (n-1 ... 0).
_RADIX_POWERS = np.zeros((max(CHAR_NGRAMS), len(CHAR_NGRAMS)), dtype=np.uint64)
with np.errstate(over="ignore"):
    for _k, _n in enumerate(CHAR_NGRAMS):
        for _i in range(_n):
            _RADIX_POWERS[_i, _k] = _BASE ** np.uint64(_n - 1 - _i)

_GRAM_SALTS = np.asarray([_SALT[f"char{n}"] for n in CHAR_NGRAMS], dtype=np.uint64)

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

# Every code point up to the CJK block's end, by class: the ASCII ones as above, then other
# non-ASCII, then CJK (U+3040-U+9FFF); anything past it counts as one more non-ASCII.
_PAST_CJK = 0xA000
_CLASS_OF = np.full(_PAST_CJK + 1, len(_CLASSES), dtype=np.uint8)
_CLASS_OF[:128] = _LUT
_CLASS_OF[0x3040:_PAST_CJK] = len(_CLASSES) + 1

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
HASHING = {  # recorded in the artifact: a model trained on other hashing is refused
    "buckets": BUCKETS,
    "char_ngrams": list(CHAR_NGRAMS),
    "salts": {k: int(v) for k, v in _SALT.items()},
    "base": int(_BASE),
}


@dataclass(frozen=True, slots=True)
class PromptFeatures:
    """`dense` (embedding then stats); hashed `tokens` (unigrams, same order as `ids`) and
    `grams` (token bigrams and character n-grams) with their weights; the token `ids`."""

    dense: FloatVector
    tokens: IntVector
    token_weight: float
    grams: IntVector
    gram_weight: float
    ids: IntVector

    @property
    def embedding(self) -> FloatVector:
        return self.dense[:DIM]


def group_weight(count: int) -> float:
    """The value of each present hashed index of a group: 1/sqrt(count)."""
    return 1.0 / math.sqrt(count) if count else 0.0


def _bucket(values: npt.NDArray[np.uint64], salt: np.uint64) -> IntVector:
    return _bucket_in_place(values.copy(), salt)


def _bucket_in_place(
    values: npt.NDArray[np.uint64], salt: np.uint64 | npt.NDArray[np.uint64]
) -> IntVector:
    """`_bucket` overwriting `values` (no temporaries: the router hashes every prompt); `salt`
    may be one per column. Unsigned array arithmetic wraps around silently."""
    with np.errstate(over="ignore"):
        values += salt
        values *= _GOLDEN
    values >>= _SHIFT
    buckets: IntVector = values.view(np.int64)  # below 2**BUCKET_BITS: the same numbers
    return buckets


def token_buckets(ids: IntVector) -> IntVector:
    """The bucket of each token id (same order)."""
    return _bucket_in_place(ids.astype(np.uint64), _SALT["token"])


_GRAM_MEMO: dict[str, IntVector] = {}
_GRAM_MEMO_LIMIT = 100_000  # distinct words remembered; cleared past this (bounded memory)


def word_grams(word: str) -> IntVector:
    """Buckets of the character n-grams of " word " (lower-cased); remembered per word."""
    found = _GRAM_MEMO.get(word)
    if found is not None:
        return found
    codes = np.frombuffer(f" {word.lower()} ".encode("utf-32-le"), np.uint32)
    gram = codes.astype(np.uint64)
    parts = []
    with np.errstate(over="ignore"):
        for n in range(2, max(CHAR_NGRAMS) + 1):
            if gram.size < 2:
                break
            gram = gram[:-1] * _BASE + codes[n - 1 :].astype(np.uint64)
            if n in CHAR_NGRAMS:
                parts.append(_bucket(gram, _SALT[f"char{n}"]))
    found = np.concatenate(parts)
    if len(_GRAM_MEMO) >= _GRAM_MEMO_LIMIT:
        _GRAM_MEMO.clear()
    _GRAM_MEMO[word] = found
    return found


def spans_grams(found: list[str], nowhere: int) -> tuple[IntVector, IntVector]:
    """`word_grams` of many words at once, unmemoised, laid out by position for segment sums.

    The words are padded and joined (" w1  w2  ... wn "); row p of the first array holds the
    buckets of the character n-grams (`CHAR_NGRAMS`) that start at position p of that text,
    or `nowhere` for those that leave their padded word (they then hold two adjacent spaces,
    which a padded word never does: words hold no whitespace). The second array is where each
    word's rows start, so word i's n-grams are its rows' entries (in another order than
    `word_grams`, with `nowhere` between). A few numpy calls for all the words: each n-gram
    is a window of code points times the radix powers (one integer matrix product)."""
    # Lower-cased as one text: the spaces between words end a word's casing context as the
    # ends of the word alone do (Greek final sigma), and lowering may lengthen a word (İ).
    text = (" " + "  ".join(found) + " ").lower()
    size, longest = len(text), max(CHAR_NGRAMS)
    tail = " " * (longest - 1)  # so that a window starts at every position
    codes = np.frombuffer((text + tail).encode("utf-32-le"), np.uint32).astype(np.uint64)
    space = codes == 32
    doubled = space[:-1] & space[1:]  # a word's end then the next one's start (or the end)
    starts = np.flatnonzero(doubled[: size - 1]) + 1
    windows = np.ndarray((size, longest), np.uint64, codes, strides=(8, 8))
    buckets = _bucket_in_place(windows @ _RADIX_POWERS, _GRAM_SALTS)
    pairs = np.ndarray((size, longest - 1), bool, doubled, strides=(1, 1))
    crossing = np.logical_or.accumulate(pairs, axis=1)[:, np.asarray(CHAR_NGRAMS) - 2]
    buckets[crossing] = nowhere
    return buckets, np.concatenate(([0], starts))


def bigram_buckets(ids: IntVector) -> IntVector:
    """The bucket of each pair of adjacent token ids."""
    wide = ids.astype(np.uint64)
    pairs = wide[:-1] * _BASE
    pairs += wide[1:]
    return _bucket_in_place(pairs, _SALT["bigram"])


def gram_buckets(ids: IntVector, found: list[str]) -> IntVector:
    """Buckets of adjacent token pairs and of the character n-grams of each word."""
    parts = [word_grams(word) for word in found]
    if ids.size > 1:
        parts.append(bigram_buckets(ids))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def text_stats(text: str) -> FloatVector:
    """Character-class shares and shape of the read part of `text` (see `STAT_NAMES`)."""
    read = clip(text)
    codes = np.frombuffer(read.encode("utf-32-le"), dtype=np.uint32)
    size = max(codes.size, 1)
    # One count per class: the ASCII classes, then other non-ASCII, then CJK (non-ASCII too).
    found = np.bincount(_CLASS_OF.take(np.minimum(codes, _PAST_CJK)), minlength=len(_CLASSES) + 2)
    *ascii_counts, non_cjk, cjk = found.tolist()
    lines = read.count("\n") + 1
    indented = (read.count("\n    ") + read.count("\n\t")) / lines
    # In float64, then rounded to float32: for a quotient that is the float32 quotient itself
    # (double rounding is exact for division), so these equal the float32 shares to the bit.
    return np.asarray(
        (
            *(count / size for count in ascii_counts),
            (non_cjk + cjk) / size,
            cjk / size,
            1.0 if "```" in read else 0.0,
            min(indented, 1.0),
            1.0 if "?" in read or "\uff1f" in read else 0.0,
            math.log1p(len(text)) / 8.0,
        ),
        dtype=np.float32,
    )


def prompt_features(embedder: WordLlamaEmbedder, text: str) -> PromptFeatures:
    found = words(text)
    encoded = embedder.encode_words(found)
    dense = np.concatenate((encoded.vector, text_stats(text))).astype(np.float32, copy=False)
    tokens = token_buckets(encoded.ids)
    grams = gram_buckets(encoded.ids, found)
    return PromptFeatures(
        dense,
        tokens,
        group_weight(tokens.size),
        grams,
        group_weight(grams.size),
        encoded.ids,
    )
