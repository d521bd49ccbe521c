"""The classifier's hot path: `PromptModel.scores(prompt_features(...))` from sums kept per chunk.

The hashed part of the score is linear: a prompt's hashed token unigrams and character n-grams
are the union of those of its words, so their weight rows can be summed once per piece of text
and remembered. The piece is a whitespace-separated chunk ("function," or "(x)"), not a word:
`str.split` costs about a tenth of the word regex, and since no word contains whitespace, a
prompt's words are its chunks' words in order (`embedder.words_of`).

Per chunk it keeps the token ids (int32 bytes) and one row [character n-gram rows summed |
unigram rows summed | n-gram count]. A prompt then costs a split, a dict look-up per chunk, one
gather-and-sum of those rows, and what does not decompose by chunk: token bigrams (they cross
chunk boundaries), the embedding (normalised over the whole prompt), the character shares.
Each group's 1/sqrt(count) weight multiplies the group's total, as in the reference.

Sums are float64, so scores equal the reference's up to float32 rounding
(tests/unit/test_chunk_scores.py). Everything is computed from the loaded model's weights on
first sight of a chunk: a retrained artifact needs no change here.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shared.routing.embedder import (
    FloatVector,
    IntVector,
    WordLlamaEmbedder,
    clip,
    get_embedder,
    words_of,
)
from shared.routing.features import (
    bigram_buckets,
    group_weight,
    text_stats,
    token_buckets,
    words_grams,
)
from shared.routing.heap import hand_back_freed_heap
from shared.routing.prompt_model import Matrix, PromptModel

# Chunks remembered (about 400 bytes each, row included); a fresh table past this, so memory
# stays bounded whatever the traffic.
CHUNK_LIMIT = 10_000

Sums = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Scored:
    """One text's scores (as `PromptModel.scores`), embedding and token ids in order."""

    scores: Matrix
    embedding: FloatVector
    ids: IntVector


class _Table:
    """One generation of remembered chunks: chunk -> (row, token ids as int32 bytes)."""

    def __init__(self, limit: int, width: int) -> None:
        self.index: dict[str, tuple[int, bytes]] = {}
        # Zeroed memory is mapped lazily: only the rows filled so far take resident pages.
        self.rows: Sums = np.zeros((limit, width))


def _segment_sums(rows: Matrix, lengths: IntVector) -> Sums:
    """Sums of consecutive runs of `rows` of the given lengths (a length may be 0)."""
    running = np.zeros((rows.shape[0] + 1, rows.shape[1]))
    np.cumsum(rows, axis=0, dtype=np.float64, out=running[1:])
    ends = np.cumsum(lengths)
    sums: Sums = running[ends] - running[ends - lengths]
    return sums


class ChunkScorer:
    """Scores texts with one model; thread-safe (learning new chunks takes a lock)."""

    def __init__(
        self, model: PromptModel, embedder: WordLlamaEmbedder, limit: int = CHUNK_LIMIT
    ) -> None:
        self._model = model
        self._embedder = embedder
        self._outputs = len(model.patterns) + 1
        self._limit = limit
        self._no_table = _Table(0, 2 * self._outputs + 1)  # in between two tables
        self._table = self._fresh_table()
        self._lock = threading.Lock()

    def _fresh_table(self, at_least: int = 0) -> _Table:
        return _Table(max(self._limit, at_least), 2 * self._outputs + 1)

    def score(self, text: str) -> Scored:
        chunks = clip(text).split()
        table, entries = self._entries(chunks)
        outputs = self._outputs
        if entries:
            rows, blobs = zip(*entries, strict=True)
            summed = table.rows.take(rows, axis=0).sum(axis=0)
            ids = np.frombuffer(b"".join(blobs), dtype=np.int32).astype(np.int64)
        else:
            summed, ids = np.zeros(2 * outputs + 1), np.zeros(0, dtype=np.int64)
        grams, tokens, gram_count = summed[:outputs], summed[outputs:-1], int(summed[-1])
        if ids.size > 1:
            grams = grams + self._model.sparse[bigram_buckets(ids)].sum(axis=0, dtype=np.float64)
            gram_count += ids.size - 1
        embedding = self._embedder.embed_ids(ids)
        dense = np.concatenate((embedding, text_stats(text))).astype(np.float32, copy=False)
        scores = (
            (self._model.dense @ dense + self._model.bias)
            + tokens * group_weight(ids.size)
            + grams * group_weight(gram_count)
        )
        return Scored(scores.astype(np.float32), embedding, ids)

    def _entries(self, chunks: list[str]) -> tuple[_Table, list[tuple[int, bytes]]]:
        """The table and each chunk's entry, learning the chunks not seen yet."""
        table = self._table
        index = table.index
        entries = [index.get(chunk) for chunk in chunks]
        if None not in entries:
            return table, entries  # type: ignore[return-value]  # no None in it
        del index  # a full table must be gone before the next is made (peak RSS)
        with self._lock:
            table = self._table
            missing = [c for c in dict.fromkeys(chunks) if c not in table.index]
            if len(table.index) + len(missing) > len(table.rows):
                # A reader holding the old table still sees consistent rows.
                missing = list(dict.fromkeys(chunks))
                table = self._table = self._no_table  # the full one goes before the next
                table = self._table = self._fresh_table(len(missing))
                hand_back_freed_heap()  # the old table's entries, once nobody reads it
            self._learn(table, missing)
        return table, [table.index[chunk] for chunk in chunks]

    def _learn(self, table: _Table, chunks: list[str]) -> None:
        """Sum the hashed rows of each chunk's words into the table's next free rows."""
        per_chunk = [words_of(chunk) for chunk in chunks]
        found = list(itertools.chain.from_iterable(per_chunk))
        word_ends = np.cumsum([len(words) for words in per_chunk], dtype=np.int64)
        blobs = self._embedder.word_id_bytes(found)  # each word's token ids, int32 bytes
        ids = np.frombuffer(b"".join(blobs), dtype=np.int32).astype(np.int64)
        id_counts = np.fromiter(map(len, blobs), np.int64, len(blobs)) // 4
        token_counts = _per_chunk(id_counts, word_ends)
        grams, gram_counts = words_grams(found)
        gram_counts = _per_chunk(gram_counts, word_ends)
        sparse, outputs, start = self._model.sparse, self._outputs, len(table.index)
        block = table.rows[start : start + len(chunks)]
        block[:, :outputs] = _segment_sums(sparse[grams], gram_counts)
        block[:, outputs:-1] = _segment_sums(sparse[token_buckets(ids)], token_counts)
        block[:, -1] = gram_counts
        bounds = np.concatenate(([0], word_ends)).tolist()
        for i, chunk in enumerate(chunks):
            table.index[chunk] = (start + i, b"".join(blobs[bounds[i] : bounds[i + 1]]))


def _per_chunk(per_word: IntVector, word_ends: IntVector) -> IntVector:
    """Per-word counts added up per chunk (chunks end after `word_ends` words)."""
    running = np.concatenate(([0], np.cumsum(per_word)))
    totals: IntVector = np.diff(running[np.concatenate(([0], word_ends))])
    return totals


_SCORERS: weakref.WeakKeyDictionary[PromptModel, ChunkScorer] = weakref.WeakKeyDictionary()


def chunk_scorer(model: PromptModel) -> ChunkScorer:
    """The scorer of `model` (one per loaded model, with the process's embedder)."""
    scorer = _SCORERS.get(model)
    if scorer is None:
        scorer = _SCORERS[model] = ChunkScorer(model, get_embedder())
    return scorer
