"""How a fit reads its ratings: binary COPY rows parsed by numpy, ratings mapped to outcomes in
arrays by the same rules as one at a time."""

import asyncio
import itertools
import struct

import numpy as np
import pytest

from services.learner.copy_rows import SIGNATURE, TRAILER, RatingReader
from shared.routing.bandit.outcomes import NO_SCORE, NO_VERDICT, outcome_value, outcome_values

WIDTH = 3


def copy_row(model: int, vector: list[float], score: int, correct: int) -> bytes:
    """One row as PostgreSQL's binary COPY writes it (big-endian sizes and integers)."""
    stored = np.asarray(vector, dtype="<f2").tobytes()
    sent = stored if len(stored) == 2 * WIDTH else bytes(2 * WIDTH)
    fields = [
        struct.pack(">h", model),
        sent,
        struct.pack(">h", len(stored)),
        struct.pack(">h", score),
        struct.pack(">h", correct),
    ]
    return struct.pack(">h", len(fields)) + b"".join(struct.pack(">i", len(f)) + f for f in fields)


def copy_stream(rows: list[bytes]) -> bytes:
    return SIGNATURE + struct.pack(">II", 0, 0) + b"".join(rows) + TRAILER


def read(stream: bytes, cuts: list[int]) -> RatingReader:
    reader = RatingReader(WIDTH)
    edges = [0, *sorted(cuts), len(stream)]

    async def feed() -> None:
        for start, end in itertools.pairwise(edges):
            await reader(stream[start:end])

    asyncio.run(feed())
    return reader


def test_rows_split_anywhere_are_read_whole_and_a_wrong_size_vector_is_left_out() -> None:
    rows = [
        copy_row(1, [0.5, -1.0, 2.0], 5, NO_VERDICT),
        copy_row(2, [0.25, 0.0, 1.0], NO_SCORE, 1),
        copy_row(1, [1.0, 1.0], 3, NO_VERDICT),  # a vector of another size
        copy_row(3, [-0.5, 4.0, 8.0], 2, 0),
    ]
    stream = copy_stream(rows)
    rng = np.random.default_rng(0)
    for cuts in ([], [5], [25, 26, 27], rng.integers(0, len(stream), 12).tolist()):
        parsed = read(stream, cuts).rows()
        assert parsed.model.tolist() == [1, 2, 3]
        assert parsed.score.tolist() == [5, NO_SCORE, 2]
        assert parsed.correct.tolist() == [NO_VERDICT, 1, 0]
        np.testing.assert_array_equal(
            parsed.features, np.array([[0.5, -1.0, 2.0], [0.25, 0.0, 1.0], [-0.5, 4.0, 8.0]])
        )


def test_no_rows_and_a_cut_stream() -> None:
    assert len(read(copy_stream([]), [3]).rows()) == 0
    stream = copy_stream([copy_row(1, [0.5, -1.0, 2.0], 5, NO_VERDICT)])
    with pytest.raises(ValueError, match="ended inside a row"):
        read(stream[:-7], []).rows()
    with pytest.raises(ValueError, match="not PostgreSQL binary COPY"):
        read(b"x" * 40, [])


def test_a_row_of_other_columns_is_refused() -> None:
    good = copy_row(1, [0.5, -1.0, 2.0], 5, NO_VERDICT)
    other = good[:2] + struct.pack(">i", 4) + b"\x00\x00\x00\x01" + good[8:]  # an int4 model
    with pytest.raises(ValueError, match="these sizes"):
        read(copy_stream([other]), [])


def test_outcomes_in_arrays_follow_the_rules_one_at_a_time() -> None:
    scores = [None, 1, 2, 3, 4, 5]
    verdicts = [None, True, False]
    pairs = [(s, c) for s in scores for c in verdicts]
    values = outcome_values(
        np.array([NO_SCORE if s is None else s for s, _ in pairs], dtype=np.int16),
        np.array([NO_VERDICT if c is None else int(c) for _, c in pairs], dtype=np.int16),
    )
    for (score, correct), value in zip(pairs, values, strict=True):
        expected = outcome_value(score, correct)
        assert (np.isnan(value) and expected is None) or value == expected
    with pytest.raises(ValueError, match=r"1\.\.5"):
        outcome_values(np.array([6]), np.array([NO_VERDICT]))
    # A verdict wins: the score beside it is not read.
    assert outcome_values(np.array([9]), np.array([1])).tolist() == [1.0]
