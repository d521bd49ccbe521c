"""The classifier's hot path: `PromptModel.scores(prompt_features(...))` from sums kept per word.

The hashed part of the score is linear: a prompt's hashed token unigrams and character n-grams
are the union of those of its words, so each word's weight rows are summed once and kept, one
row per word: [its n-gram rows summed | their count | its token unigram rows summed | their
count]. A prompt is read as whitespace-separated chunks ("function," or "(x)"): `str.split`
costs about a tenth of the word regex, and since no word holds whitespace, a prompt's words
are its chunks' words in order (`embedder.words_of`). One table maps a chunk to its words' row
numbers and its token ids (int32 bytes, one object); a chunk of one word is that word's entry.

A prompt then costs a split, a dict look-up per chunk, one gather-and-sum of its words' rows,
and what does not decompose by word: token bigrams (they cross words), the embedding
(normalised over the whole prompt), the character shares. Each group's 1/sqrt(count) weight
multiplies the group's total, as in the reference. A chunk not seen yet costs its words'
look-ups; only words not seen yet go through the tokenizer and the n-gram hashing, all of a
prompt's new words in one pass of a few numpy calls (`features.spans_grams`, then one gather
and one segment sum).

A word's row is kept in float32 (its sum of a few dozen rows is computed in float64); a
prompt's sums are float64, so scores equal the reference's up to float32 rounding
(tests/unit/test_chunk_scores.py; the largest probability difference over 1,550 training
prompts, long ones included, is 7e-7 either way). Everything is computed from the loaded
model's weights on first sight of a word: a retrained artifact needs no change here.
"""

from __future__ import annotations

import itertools
import operator
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
    BUCKETS,
    bigram_buckets,
    group_weight,
    spans_grams,
    text_stats,
    token_buckets,
)
from shared.routing.heap import hand_back_freed_heap
from shared.routing.prompt_model import Matrix, PromptModel

# Entries remembered (chunks and words, about 150 bytes each) and word rows (88 bytes each);
# a fresh table past either, so memory stays bounded whatever the traffic.
ENTRY_LIMIT = 20_000
WORD_LIMIT = 16_384

Sums = npt.NDArray[np.float64]
_INT32 = np.dtype("<i4")  # row numbers and token ids, as bytes


@dataclass(frozen=True, slots=True)
class Scored:
    """One text's scores (as `PromptModel.scores`), embedding and token ids in order."""

    scores: Matrix
    embedding: FloatVector
    ids: IntVector


class _Table:
    """One generation: chunk or word -> its entry, and the words' rows. An entry is int32
    bytes: for each word in order, its row number r stored as ~r (negative, so told apart from
    token ids), then its token ids. One bytes object per entry: a tuple of two would take
    about 100 bytes more each."""

    def __init__(self, words: int, width: int, generation: int) -> None:
        self.generation = generation
        self.index: dict[str, bytes] = {}
        # Zeroed memory is mapped lazily: only the rows filled so far take resident pages.
        self.rows: Matrix = np.zeros((words, width), dtype=np.float32)
        self.filled = 0


class ChunkScorer:
    """Scores texts with one model; thread-safe (learning new words takes a lock)."""

    def __init__(
        self,
        model: PromptModel,
        embedder: WordLlamaEmbedder,
        limit: int = ENTRY_LIMIT,
        word_limit: int = WORD_LIMIT,
    ) -> None:
        self._model = model
        self._embedder = embedder
        outputs = self._outputs = len(model.patterns) + 1
        # Rows with a count column; index BUCKETS is a zero row, for the n-grams that cross a
        # word's edge (`spans_grams`) and the padding of empty token lists.
        self._hashed = model.hashed
        vocabulary = len(embedder.table)
        self._empty_ids = np.asarray([vocabulary], dtype=_INT32).tobytes()
        unigram = np.append(token_buckets(np.arange(vocabulary)), BUCKETS)
        self._unigram: npt.NDArray[np.int32] = unigram.astype(np.int32)  # each token's bucket
        self._limit, self._word_limit = limit, word_limit
        self._generations = itertools.count()
        self._no_table = _Table(0, 2 * (outputs + 1), -1)  # in between two tables
        self._table = self._fresh_table()
        self._lock = threading.Lock()

    def _fresh_table(self, at_least: int = 0) -> _Table:
        width = 2 * (self._outputs + 1)
        return _Table(max(self._word_limit, at_least), width, next(self._generations))

    def score(self, text: str) -> Scored:
        chunks = clip(text).split()
        table = self._table
        found = list(map(table.index.get, chunks))
        if None in found:
            generation = table.generation
            del table  # a full table must be gone before the next is made (peak RSS)
            table, entries = self._learn(chunks, found, generation)
        else:
            entries = found  # type: ignore[assignment]  # no None in it
        packed = np.frombuffer(b"".join(entries), dtype=_INT32)
        is_row = packed < 0
        summed = _column_sums(table.rows.take(~packed[is_row], axis=0))
        ids = packed[~is_row].astype(np.int64)
        outputs = self._outputs
        grams, tokens = summed[: outputs + 1], summed[outputs + 1 : -1]
        if ids.size > 1:
            grams = grams + _column_sums(self._hashed.take(bigram_buckets(ids), axis=0))
        embedding = self._embedder.embed_ids(ids)
        dense = np.concatenate((embedding, text_stats(text))).astype(np.float32, copy=False)
        scores = (
            (self._model.dense @ dense + self._model.bias)
            + tokens * group_weight(ids.size)
            + grams[:-1] * group_weight(int(grams[-1]))
        )
        return Scored(scores.astype(np.float32), embedding, ids)

    def _learn(
        self, chunks: list[str], found: list[bytes | None], generation: int
    ) -> tuple[_Table, list[bytes]]:
        """The table and each chunk's entry, learning the chunks and words not seen yet
        (`found`: the chunks' entries in the table of that generation, None where missing)."""
        with self._lock:
            table = self._table
            if table.generation != generation:  # another thread started a fresh one meanwhile
                found = list(map(table.index.get, chunks))
            index = table.index
            missing = list(dict.fromkeys(itertools.compress(chunks, map(operator.not_, found))))
            per_chunk = list(map(words_of, missing))
            new = list(
                itertools.filterfalse(
                    index.__contains__, dict.fromkeys(itertools.chain.from_iterable(per_chunk))
                )
            )
            if len(index) + len(missing) + len(new) > self._limit or table.filled + len(new) > len(
                table.rows
            ):
                # A reader holding the old table still sees consistent rows.
                missing = list(dict.fromkeys(chunks))
                per_chunk = list(map(words_of, missing))
                new = list(dict.fromkeys(itertools.chain.from_iterable(per_chunk)))
                table = self._table = self._no_table  # the full one goes before the next
                table = self._table = self._fresh_table(len(new))
                index = table.index
                hand_back_freed_heap()  # the old table's entries, once nobody reads it
            if new:
                self._learn_words(table, new)
            index.update(
                (chunk, b"".join(map(index.__getitem__, chunk_words)))
                for chunk, chunk_words in zip(missing, per_chunk, strict=True)
                if len(chunk_words) > 1  # a chunk of one word is that word (and its entry)
            )
            return table, list(map(index.__getitem__, chunks))

    def _learn_words(self, table: _Table, new: list[str]) -> None:
        """Sum each new word's hashed rows into the table's next free rows; index the words."""
        blobs = self._embedder.tokenize(new)
        grams, starts = spans_grams(new, BUCKETS)
        # Each word's token ids, a padding id (zero row) standing in for an empty list, so
        # that no segment is empty (a segment sum of nothing would read the next row).
        padded = [blob or self._empty_ids for blob in blobs]
        ids = np.frombuffer(b"".join(padded), dtype=_INT32)
        token_ends = itertools.accumulate(len(blob) // 4 for blob in padded[:-1])
        count, per_position = len(new), grams.shape[1]
        segments = np.concatenate(
            (
                starts * per_position,  # each word's n-grams
                np.fromiter(itertools.chain((0,), token_ends), np.int64, count) + grams.size,
            )
        )
        indices = np.concatenate((grams.ravel(), self._unigram.take(ids)), dtype=np.int64)
        rows = self._hashed.take(indices, axis=0)
        sums = np.add.reduceat(rows, segments, axis=0, dtype=np.float64)
        width = self._outputs + 1
        start, end = table.filled, table.filled + count
        block = table.rows[start:end]
        block[:, :width] = sums[:count]
        block[:, width:] = sums[count:]
        table.filled = end
        numbers = (~np.arange(start, end, dtype=_INT32)).tobytes()
        table.index.update(
            (word, numbers[4 * i : 4 * i + 4] + blob)
            for i, (word, blob) in enumerate(zip(new, blobs, strict=True))
        )


_ONES = np.ones(4096)


def _column_sums(rows: Matrix) -> Sums:
    """The float64 sum of each column of a few narrow rows. As a product with ones (one BLAS
    call): `sum(axis=0)` runs numpy's inner loop once per row, about 250 instructions for
    each row of 11 or 22 numbers, four times the product's."""
    if len(rows) > len(_ONES):
        return rows.sum(axis=0, dtype=np.float64)  # type: ignore[no-any-return]
    sums: Sums = _ONES[: len(rows)] @ rows
    return sums


_SCORERS: weakref.WeakKeyDictionary[PromptModel, ChunkScorer] = weakref.WeakKeyDictionary()


def chunk_scorer(model: PromptModel) -> ChunkScorer:
    """The scorer of `model` (one per loaded model, with the process's embedder)."""
    scorer = _SCORERS.get(model)
    if scorer is None:
        scorer = _SCORERS[model] = ChunkScorer(model, get_embedder())
    return scorer
