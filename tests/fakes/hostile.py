"""Hostile message bodies for the bus fuzzer: random bytes, broken JSON, wrong types, huge fields.

Seeded, so a failure replays. `mutations` start from a valid message and break one field at a
time; the caller keeps only the bodies its queue's contract refuses (a mutation may still be
valid, e.g. null for an optional field).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

MARKER = "FUZZ-MARKER-7f3a"  # planted in string values: no error reply may repeat it
HUGE = MARKER + "x" * 1_000_000

FIXED: tuple[bytes, ...] = (
    b"",
    b"\x00\xff\xfe\xfd",
    b"null",
    b"[]",
    b"42",
    b'"just a string"',
    b"{",
    b'{"a": NaN}',
    b"[" * 100_000,  # deeper than any parser should recurse
    ('{"k": "' + MARKER + '\\ud800"}').encode(),  # a lone surrogate
)
WRONG_VALUES: tuple[Any, ...] = (
    None,
    True,
    "5",
    5,
    -1,
    5.5,
    10**30,
    [],
    {},
    [MARKER],
    {"nested": MARKER},
    MARKER + "\\ud800",
    HUGE,
)


def random_bytes(rng: random.Random, count: int) -> Iterator[bytes]:
    for _ in range(count):
        yield rng.randbytes(rng.randint(1, 600))


def mutations(rng: random.Random, valid: dict[str, Any], count: int) -> Iterator[bytes]:
    """`valid` with one field (at any depth) replaced, removed, or a field added."""
    for _ in range(count):
        broken = json.loads(json.dumps(valid))
        _mutate(rng, broken)
        text = json.dumps(broken)
        # A lone surrogate must reach the wire as its JSON escape, not as text json.dumps escapes.
        yield text.replace("\\\\ud800", "\\ud800").encode()


def _mutate(rng: random.Random, node: Any) -> None:
    if isinstance(node, dict) and node:
        key = rng.choice(sorted(node))
        child = node[key]
        if isinstance(child, dict | list) and child and rng.random() < 0.5:
            _mutate(rng, child)
        elif rng.random() < 0.15:
            del node[key]
        else:
            node[key] = rng.choice(WRONG_VALUES)
    elif isinstance(node, list) and node:
        index = rng.randrange(len(node))
        if isinstance(node[index], dict | list) and rng.random() < 0.5:
            _mutate(rng, node[index])
        else:
            node[index] = rng.choice(WRONG_VALUES)


def bodies(rng: random.Random, valid: dict[str, Any], budget: int) -> list[bytes]:
    """About `budget` hostile bodies: the fixed ones, random bytes, then mutations of `valid`."""
    out = list(FIXED)
    out += random_bytes(rng, budget // 4)
    out += mutations(rng, valid, max(0, budget - len(out)))
    return out
