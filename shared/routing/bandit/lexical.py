"""Cheap counts from a prompt's text that hint at how much work an answer takes.

Each feature is log(1 + count) / 2 of fixed characters or substrings: nothing here is fitted, on
outcomes or otherwise, so the features carry no evaluation data. They are what the embedding
averages away: a mean of token vectors barely moves with how many numbers, operators, steps or
code marks a prompt holds, while a model's chance of getting the answer wrong does.

- numbers: runs of ASCII digits ("3.5" is two);
- operators: `+ * / ^ = < > %`, a minus between digits or spaced (" - "), `\u00d7 \u00f7`, any
  character of Unicode's Mathematical Operators block (U+2200-U+22FF: roots, sums, integrals,
  inequalities...), LaTeX `\\frac` and `\\sqrt`;
- steps: sentence ends (`. ? !` before a space, a line break or the end; CJK `\u3002 \uff1f`) and
  bullet items (a line starting "- ", "* " or "\u2022"); a numbered item ("2. ") ends a sentence;
- code: `{ } ;`, code fences, "def ", "return ", "import ";
- questions: `?` and the full-width `\uff1f`.

Counted on the UTF-8 bytes with `bytes.count` and `bytes.translate` (C loops): regular
expressions cost about 0.1 us per character for these. A text longer than `WINDOW` is read at
its start and its end, the counts scaled up by the share of the text that covers (an estimate),
so the whole stays a few microseconds whatever the prompt's length (docs/bandit.md, "Scoring").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

LEXICAL_NAMES = ("numbers", "operators", "steps", "code", "questions")
WINDOW = 1000  # characters read at most: half from the start, half from the end


def _byte_map(groups: dict[bytes, int], other: int) -> bytes:
    """A `bytes.translate` table sending each byte of a group to its code, the rest to `other`."""
    table = bytearray([other]) * 256
    for members, code in groups.items():
        for byte in members:
            table[byte] = code
    return bytes(table)


# Digits -> "1", minus kept, the rest "0": a digit run starts at each "01" or "-1" (or the start).
_DIGIT_MAP = _byte_map({b"0123456789": ord("1"), b"-": ord("-")}, ord("0"))
# Sentence ends -> ".", whitespace -> " " (line breaks kept), bullets -> "-", the rest "x".
_SHAPE_MAP = _byte_map({b".?!": ord("."), b" \t\r": ord(" "), b"\n": 10, b"-*": ord("-")}, 120)
_OPERATOR_BYTES = b"+*/^=<>%"
_CODE_BYTES = b"{};"
_TIMES, _DIVIDE, _BULLET = ("\u00d7".encode(), "\u00f7".encode(), "\u2022".encode())
_MATH_BLOCK = (b"\xe2\x88", b"\xe2\x89", b"\xe2\x8a", b"\xe2\x8b")  # U+2200-U+22FF
_CJK_FULL_STOP, _WIDE_QUESTION = ("\u3002".encode(), "\uff1f".encode())
_CODE_WORDS = (b"```", b"def ", b"return ", b"import ")


def _matching(data: bytes, members: bytes) -> int:
    """How many bytes of `data` are in `members` (one C pass)."""
    return len(data) - len(data.translate(None, members))


def _counts(data: bytes) -> list[int]:
    digits = data.translate(_DIGIT_MAP)
    shape = b"\n" + data.translate(_SHAPE_MAP)
    numbers = digits.count(b"01") + digits.count(b"-1") + digits.startswith(b"1")
    operators = (
        _matching(data, _OPERATOR_BYTES)
        + digits.count(b"1-1")
        + data.count(b" - ")
        + data.count(_TIMES)
        + data.count(_DIVIDE)
        + sum(data.count(prefix) for prefix in _MATH_BLOCK)
        + data.count(b"\\frac")
        + data.count(b"\\sqrt")
    )
    questions = data.count(b"?") + data.count(_WIDE_QUESTION)
    steps = (
        shape.count(b". ")
        + shape.count(b".\n")
        + shape.endswith(b".")
        + shape.count(b"\n- ")
        + data.count(_BULLET)
        + data.count(_CJK_FULL_STOP)
        + data.count(_WIDE_QUESTION)
    )
    code = _matching(data, _CODE_BYTES) + sum(data.count(word) for word in _CODE_WORDS)
    return [numbers, operators, steps, code, questions]


def lexical_features(texts: Sequence[str]) -> list[float]:
    """log(1 + count) / 2 of each count over the request's texts, in `LEXICAL_NAMES` order."""
    text = "\n".join(texts)
    scale = 1.0
    if len(text) > WINDOW:
        scale = len(text) / WINDOW
        text = text[: WINDOW // 2] + "\n" + text[-WINDOW // 2 :]
    data = text.rstrip().encode("utf-8", "replace")
    return [math.log1p(count * scale) / 2.0 for count in _counts(data)]
