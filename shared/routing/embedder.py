"""Text in, a fixed-size vector out: the prompt embedding the classifier and the bandit share.

The embedder is WordLlama's `l2_supercat` table (MIT): one 256-d vector per token of the Llama-2
vocabulary, shipped inside the `wordllama` wheel. A prompt's vector is the mean of its tokens'
vectors, L2-normalised. The weights and the tokenizer are read from the package folder; no code
path here can download anything, so it works with the network unreachable.

Speed: the Hugging Face BPE tokenizer costs about 0.4 µs per character (it merges the whole text
as one word), too slow for the hot path. Words are tokenized one at a time instead (its BPE
model called on each word directly, `tokenize`) and memoised: a word seen before costs one
dictionary look-up. Long prompts are read at their head and tail
only (the instruction is there; the middle is pasted material), which bounds the cost.
Choice and measurements: docs/classifier.md.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import os
import re
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from shared.routing.heap import hand_back_freed_heap

DIM = 256
HEAD_CHARS = 1500
TAIL_CHARS = 500
# Distinct words remembered by `word_ids` (about 150 bytes each); cleared past this, so memory
# stays bounded whatever the traffic. The classifier's hot path does not use this memo: its own
# table (shared.routing.chunk_scores) keeps each word's token ids with its summed weights.
_MEMO_LIMIT = 20_000
_ID_BYTES = np.dtype("<i4")
# Float32 rows kept for the tokens seen (1 KB each; 5,000 prompts of the training data use
# about 7,200 distinct tokens; past this the rows start afresh). With the hot path's chunk and
# word table (shared.routing.chunk_scores) the router's memos stay under about 11 MB whatever
# the traffic (22,000 distinct training prompts: bench/classifier_in_router.py,
# docs/classifier.md).
ROW_CACHE = 6144

# A word is a run of letters, a run of digits, a run of other symbols, or one CJK / kana /
# hangul character (those scripts put no spaces between words).
_PIECES = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
    r"|[^\W\d_\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+"
    r"|\d+|[^\w\s]+|_+"
)

_CJK_FIRST = "\u3040"  # the lowest code point of those `_PIECES` takes one at a time

FloatVector = npt.NDArray[np.float32]
IntVector = npt.NDArray[np.int64]


class EmbedderUnavailableError(RuntimeError):
    """The embedding weights are not installed (the `wordllama` package is missing)."""


def clip(text: str) -> str:
    """The part of a prompt that is read: all of it, or its head and tail when long."""
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    return text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]


def words(text: str) -> list[str]:
    """The words of the read part of `text`, in order (see `_PIECES`)."""
    return _PIECES.findall(clip(text))


def words_of(chunk: str) -> list[str]:
    """The words of a piece of text as it is (no clipping). No word contains whitespace, so the
    words of a text are those of its whitespace-separated chunks, in order."""
    # Most chunks are one run of letters (none of them CJK, which go one by one): found by
    # two string checks at a fifth of the regex's cost (`isascii` is a flag look-up).
    if chunk.isalpha() and (chunk.isascii() or max(chunk) < _CJK_FIRST):
        return [chunk]
    return _PIECES.findall(chunk)


def _read_tensor(path: Path, name: str) -> npt.NDArray[np.float16]:
    """One float16 tensor of a safetensors file, read straight into its array: the file is an
    8-byte header length, a JSON header (dtype, shape, byte offsets), then the data. The
    `safetensors` reader holds the file's bytes and the array at once (32 MB more at start)."""
    with path.open("rb") as handle:
        header_size = int.from_bytes(handle.read(8), "little")
        entry = json.loads(handle.read(header_size))[name]
        if entry["dtype"] != "F16":
            raise EmbedderUnavailableError(f"{path.name}: {name} is {entry['dtype']}, not F16")
        start, end = entry["data_offsets"]
        handle.seek(8 + header_size + start)
        data = np.fromfile(handle, dtype="<f2", count=(end - start) // 2)
    return data.reshape(entry["shape"]).astype(np.float16, copy=False)


_HALF_TO_SINGLE = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)


class _Kept:
    """One generation of kept rows: token -> slot (-1: none) and the float32 rows."""

    def __init__(self, tokens: int, capacity: int, dim: int) -> None:
        # Zeroed memory is mapped lazily: only the rows filled so far take resident pages.
        self.rows = np.zeros((capacity, dim), dtype=np.float32)
        self.slot = np.full(tokens, -1, dtype=np.int32)
        self.filled = 0


def _distinct(ids: IntVector) -> IntVector:
    """The distinct ids in order of first sight: for a prompt's few dozen new tokens a dict
    costs a fraction of `np.unique` (a sort and a dozen numpy calls)."""
    return np.fromiter(dict.fromkeys(ids.tolist()), np.int64)


class _FloatRows:
    """Rows of a float16 table as float32, the rows of tokens seen kept converted: at most
    `capacity`; when full it starts afresh with the prompt at hand, so the tokens in use are
    the ones kept. The values are the table's exactly, so sums over them are the same to the bit
    as over a float32 copy."""

    def __init__(self, table: npt.NDArray[np.float16], capacity: int) -> None:
        self._table = table
        self._capacity = min(capacity, len(table))
        self._none = _Kept(len(table), 0, table.shape[1])  # in between two generations
        self._kept = self._fresh()
        self._lock = threading.Lock()

    def _fresh(self) -> _Kept:
        return _Kept(len(self._table), self._capacity, self._table.shape[1])

    def __call__(self, ids: IntVector) -> npt.NDArray[np.float32]:
        kept = self._kept  # one generation throughout: a reader never mixes two
        slots = kept.slot[ids]
        if (slots < 0).any():
            del kept  # a full generation must be gone before the next is made (peak RSS)
            kept = self._keep(ids)
            slots = kept.slot[ids]
            absent = slots < 0
            if absent.any():  # more distinct tokens than room: convert these on the fly
                rows = np.empty((ids.size, self._table.shape[1]), dtype=np.float32)
                rows[~absent] = kept.rows[slots[~absent]]
                # Through a table of every float16 bit pattern: 3 times numpy's own cast.
                rows[absent] = _HALF_TO_SINGLE.take(self._table.view(np.uint16)[ids[absent]])
                return rows
        found: npt.NDArray[np.float32] = kept.rows.take(slots, axis=0)
        return found

    def _keep(self, ids: IntVector) -> _Kept:
        """Keep the rows of `ids` not kept yet (afresh when they do not fit); the generation."""
        with self._lock:
            kept = self._kept
            new = _distinct(ids[kept.slot[ids] < 0])
            if kept.filled + new.size > self._capacity:
                kept = self._kept = self._none  # the full one goes first, then the next
                kept = self._kept = self._fresh()
                new = _distinct(ids)
            new = new[: self._capacity - kept.filled]
            end = kept.filled + new.size
            kept.rows[kept.filled : end] = _HALF_TO_SINGLE.take(self._table.view(np.uint16)[new])
            kept.slot[new] = np.arange(kept.filled, end)  # after the rows: readers see them
            kept.filled = end
            return kept


@dataclass(frozen=True, slots=True)
class Embedded:
    """One prompt's token ids (in order) and its normalised mean embedding."""

    ids: IntVector
    vector: FloatVector


class WordLlamaEmbedder:
    """WordLlama `l2_supercat` 256-d token table, loaded from the installed package."""

    name = "wordllama-l2_supercat-256"

    def __init__(
        self, table: npt.NDArray[np.float16], tokenizer: object, row_cache: int = ROW_CACHE
    ) -> None:
        # Kept as shipped (float16, 16 MB): a float32 copy would double it. Converting rows
        # is slow (about 0.8 us a row), so the rows of tokens seen are kept converted.
        self.table = table
        self._rows = _FloatRows(table, row_cache)
        self._tokenizer = tokenizer
        added = tokenizer.get_added_tokens_decoder().values()  # type: ignore[attr-defined]
        self._special = frozenset(str(token.content) for token in added)
        # The tokens that start with "▁": in the tokens of "▁word" only the first one does.
        # Token by token (about 30 ms once): `get_vocab()` would build a 3 MB dict at start,
        # which raised the router's peak RSS by as much.
        to_text = tokenizer.id_to_token  # type: ignore[attr-defined]
        self._opens_word = np.fromiter(
            (str(to_text(i) or "").startswith("\u2581") for i in range(len(table))),
            bool,
            len(table),
        )
        self._memo: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_package(cls) -> WordLlamaEmbedder:
        # The package's files are read without importing it: its import pulls in its hub
        # download helpers, which the router has no use for.
        spec = importlib.util.find_spec("wordllama")
        if spec is None or not spec.submodule_search_locations:
            raise EmbedderUnavailableError("the wordllama package is not installed")
        # Words come a few at a time: the tokenizer's thread pool costs more CPU than it saves
        # (about 200 instead of 310 us for a prompt's 50 new words) and per-thread heaps keep
        # several MB of RSS. An explicit setting of the variable is left alone.
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from tokenizers import Tokenizer

        root = Path(next(iter(spec.submodule_search_locations)))
        tokenizer = Tokenizer.from_file(
            str(root / "tokenizers" / "l2_supercat_tokenizer_config.json")
        )
        # Its own word cache (10,000 words, ~4 MB) would hold what the word memo holds.
        with contextlib.suppress(AttributeError):
            tokenizer.model._resize_cache(0)
        table = _read_tensor(root / "weights" / "l2_supercat_256.safetensors", "embedding.weight")
        return cls(table, tokenizer)

    def token_ids(self, text: str) -> IntVector:
        """Token ids of the read part of `text`, word by word (memoised per word)."""
        return self.word_ids(words(text))

    def word_ids(self, found: list[str]) -> IntVector:
        """Token ids of a list of words (see `words`), in order."""
        blob = b"".join(self.word_id_bytes(found))
        return np.frombuffer(blob, dtype=_ID_BYTES).astype(np.int64)

    def word_id_bytes(self, found: list[str]) -> list[bytes]:
        """Each word's token ids as little-endian int32 bytes, in order (memoised per word:
        bytes take a fifth of the memory of a tuple of ints)."""
        memo = self._memo
        missing = [w for w in set(found) if w not in memo]
        if missing:
            self._learn(missing)
        return [memo.get(word, b"") for word in found]

    def _learn(self, missing: list[str]) -> None:
        encoded = self.tokenize(missing)
        with self._lock:
            if len(self._memo) + len(missing) > _MEMO_LIMIT:
                self._memo.clear()
                hand_back_freed_heap()
            self._memo.update(zip(missing, encoded, strict=True))

    def tokenize(self, found: list[str]) -> list[bytes]:
        """Each word's token ids as little-endian int32 bytes, in order (not memoised).

        For a word (no whitespace, see `words`) `encode` runs the normaliser, which prepends
        "▁", then the BPE model on the result; calling the model on "▁word" gives the same ids
        (checked on the 126,000 distinct words of the training and held-out data) for less
        CPU: about 2.5 instead of 4 us a word of that data, 0.7 instead of 3.5 for short
        English words. A special token's text ("<s>") can never be a word, as "<" and "s" are
        different pieces; were one given, it goes through `encode`.

        Two words or more go to the model as one text, "▁word1▁word2..." (about a third fewer
        instructions than a call per word, measured with cachegrind on 3 to 200 words of the
        training data). BPE merges adjacent pieces by rank, so a word gets the tokens it gets
        alone unless a merge joins a piece of it to the next word's "▁" piece; no merge of
        this vocabulary does (only all-"▁" pieces end before a "▁"), and every call checks it:
        then a word's first token, and only it, starts with "▁". If the tokens do not start
        exactly once per word (a word holding "▁", say), the words go one by one."""
        text = "\u2581".join(found)
        if (
            len(found) > 1
            and text.count("\u2581") == len(found) - 1  # no word holds "▁"
            and self._special.isdisjoint(found)
        ):
            bpe = self._tokenizer.model.tokenize  # type: ignore[attr-defined]
            ids = np.fromiter([token.id for token in bpe("\u2581" + text)], _ID_BYTES)
            starts = np.flatnonzero(self._opens_word.take(ids))
            if starts.size == len(found) and starts[0] == 0:
                flat = ids.tobytes()
                bounds = [*(4 * starts).tolist(), len(flat)]
                return [flat[start:end] for start, end in itertools.pairwise(bounds)]
        return self._tokenize_each(found)

    def _tokenize_each(self, found: list[str]) -> list[bytes]:
        """`tokenize` one word at a time."""
        bpe = self._tokenizer.model.tokenize  # type: ignore[attr-defined]
        special = self._special
        ids = [
            [token.id for token in bpe("\u2581" + word)]
            if word not in special
            else self._tokenizer.encode(word, add_special_tokens=False).ids  # type: ignore[attr-defined]
            for word in found
        ]
        flat = np.fromiter(itertools.chain.from_iterable(ids), _ID_BYTES).tobytes()
        ends = list(itertools.accumulate(4 * len(word_ids) for word_ids in ids))
        return [flat[start:end] for start, end in zip([0, *ends], ends, strict=False)]

    def token_text(self, token_id: int) -> str:
        """A token as text, for explanations ("▁poem" -> "poem")."""
        text = self._tokenizer.id_to_token(token_id)  # type: ignore[attr-defined]
        return str(text or "").replace("\u2581", " ")

    def embed_ids(self, ids: IntVector) -> FloatVector:
        if ids.size == 0:
            return np.zeros(DIM, dtype=np.float32)
        vector: FloatVector = self._rows(ids).sum(axis=0)  # = table[ids] as float32, summed
        norm = float(
            np.sqrt(vector.dot(vector))
        )  # what np.linalg.norm computes, without its checks
        return vector / np.float32(norm) if norm > 0 else vector

    def encode(self, text: str) -> Embedded:
        return self.encode_words(words(text))

    def encode_words(self, found: list[str]) -> Embedded:
        ids = self.word_ids(found)
        return Embedded(ids, self.embed_ids(ids))

    def embed(self, text: str) -> FloatVector:
        return self.encode(text).vector


@cache
def get_embedder() -> WordLlamaEmbedder:
    """The process's embedder, loaded on first use (about 0.2 s; 16 MB of table and 16 MB of
    tokenizer)."""
    return WordLlamaEmbedder.from_package()


def embed(text: str) -> FloatVector:
    """A prompt's 256-d L2-normalised embedding (float32); zeros for a text without words."""
    return get_embedder().embed(text)
