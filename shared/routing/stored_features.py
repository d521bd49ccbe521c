"""How a prompt's context vector travels and is stored: float16, little endian, base64 on the bus.

The router encodes the vector it decided with into `RouteCompleted.features`; the ledger stores
the bytes (`request_features`); the learner reads them back to fit the quality model
(`services.learner.copy_rows`, many at once; `decode_features` one at a time). Half
precision keeps a row small (2 bytes a number) and loses nothing the model can use: its inputs
are probabilities, shares and log lengths, all well inside float16's range and ~3 digits.
"""

from __future__ import annotations

import base64
import zlib

import numpy as np
import numpy.typing as npt

from shared.routing.bandit.context import CONTEXT_VERSION

_WIRE = np.dtype("<f2")

# The context layout (`bandit.context.CONTEXT_VERSION`, a name) as the number stored beside each
# vector and each model version: 2 bytes a row instead of ~33. A stable digest of the name, so
# every process that runs the same layout computes the same number; a learner only learns from
# vectors of its own layout, and a router only installs a model of its own layout.
CONTEXT_NUMBER = zlib.crc32(CONTEXT_VERSION.encode("utf-8")) & 0x7FFF


def encode_features(vector: npt.ArrayLike) -> str:
    """The vector as base64 of little-endian float16 (what `RouteCompleted.features` holds)."""
    return base64.b64encode(np.asarray(vector, dtype=_WIRE).tobytes()).decode("ascii")


def stored_bytes(encoded: str) -> bytes:
    """The bytes the ledger stores for an encoded vector."""
    return base64.b64decode(encoded, validate=True)


def decode_features(stored: bytes) -> npt.NDArray[np.float32]:
    """A stored vector back as float32, ready for the quality model."""
    return np.frombuffer(stored, dtype=_WIRE).astype(np.float32)
