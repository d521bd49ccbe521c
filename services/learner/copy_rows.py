"""Rated requests read by PostgreSQL's binary COPY, parsed by numpy as the bytes arrive.

A million ratings as asyncpg records cost seconds of Python (a record, four values and a loop
turn per row); as binary COPY rows of one fixed size they are one `np.frombuffer` per chunk.
The query (`quality_store._NEW_RATINGS`) returns five columns and never NULL: the answering
model's 1-based position in the fit's model list (int2), the stored float16 vector (bytea of a
fixed size: zeros when the stored one has another), the stored vector's real size (int2), the
score (int2, 0: none) and is_correct (int2, 1 / 0 / -1: none). Rows whose vector had another
size are left out.

Binary COPY format (PostgreSQL docs, "COPY", binary format): an 11-byte signature, a 32-bit
flags word and a 32-bit header-extension length (then that many bytes); each row is a 16-bit
field count and, per field, a 32-bit length and the bytes; a 16-bit -1 ends the data. Integers
are big-endian; the vector's bytes are ours (little-endian float16).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_HEADER = struct.Struct(">II")  # flags, header-extension length
TRAILER = b"\xff\xff"
FIELDS = 5


@dataclass(frozen=True, slots=True)
class RatedRows:
    """One entry per rating: model position (1-based), vector, score (0: none), is_correct
    (1 / 0 / -1: none)."""

    model: npt.NDArray[np.int16]
    features: npt.NDArray[np.float16]  # (n, width)
    score: npt.NDArray[np.int16]
    correct: npt.NDArray[np.int16]

    def __len__(self) -> int:
        return len(self.model)


def row_dtype(width: int) -> np.dtype:
    """One COPY row of the rating query, byte for byte."""
    return np.dtype(
        [
            ("fields", ">i2"),
            ("model_size", ">i4"),
            ("model", ">i2"),
            ("features_size", ">i4"),
            ("features", "<f2", (width,)),
            ("stored_size", ">i4"),
            ("stored", ">i2"),
            ("score_size", ">i4"),
            ("score", ">i2"),
            ("correct_size", ">i4"),
            ("correct", ">i2"),
        ]
    )


class RatingReader:
    """The `output` of `copy_from_query(..., format="binary")`: keeps the parsed columns."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.dtype = row_dtype(width)
        self.pending = b""
        self.started = False
        self.parts: list[RatedRows] = []

    async def __call__(self, chunk: bytes) -> None:
        data = self.pending + chunk
        if not self.started:
            size = len(SIGNATURE) + _HEADER.size
            if len(data) < size:
                self.pending = data
                return
            if not data.startswith(SIGNATURE):
                raise ValueError("not PostgreSQL binary COPY output")
            _, extension = _HEADER.unpack_from(data, len(SIGNATURE))
            if len(data) < size + extension:
                self.pending = data
                return
            data = data[size + extension :]
            self.started = True
        count = len(data) // self.dtype.itemsize
        if count:
            self._parse(np.frombuffer(data, dtype=self.dtype, count=count))
        self.pending = data[count * self.dtype.itemsize :]

    def _parse(self, rows: npt.NDArray[np.void]) -> None:
        wrong = (
            (rows["fields"] != FIELDS)
            | (rows["model_size"] != 2)
            | (rows["features_size"] != 2 * self.width)
            | (rows["stored_size"] != 2)
            | (rows["score_size"] != 2)
            | (rows["correct_size"] != 2)
        )
        if wrong.any():
            raise ValueError("a COPY row is not (int2, vector, int2, int2, int2) of these sizes")
        rows = rows[rows["stored"] == 2 * self.width]
        self.parts.append(
            RatedRows(
                rows["model"].astype(np.int16),
                rows["features"].astype(np.float16),
                rows["score"].astype(np.int16),
                rows["correct"].astype(np.int16),
            )
        )

    def rows(self) -> RatedRows:
        """Every row read. ValueError unless the data ended exactly (trailer, nothing after)."""
        if self.started and self.pending != TRAILER:
            raise ValueError("binary COPY output ended inside a row")
        parts = self.parts or [self._empty()]
        return RatedRows(
            np.concatenate([p.model for p in parts]),
            np.concatenate([p.features for p in parts]),
            np.concatenate([p.score for p in parts]),
            np.concatenate([p.correct for p in parts]),
        )

    def _empty(self) -> RatedRows:
        none = np.zeros(0, dtype=np.int16)
        return RatedRows(none, np.zeros((0, self.width), dtype=np.float16), none, none)
