"""Cheap counts from a prompt's text that hint at how much work an answer takes.

Each is log(1 + count) / 2 of a fixed pattern: nothing here is fitted, on outcomes or otherwise,
so the features carry no evaluation data. They are what the embedding averages away: a mean
of token vectors barely moves with how many numbers, operators, steps or code lines a prompt
holds, while a model's chance of getting the answer wrong does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

# One pattern per feature, in the context vector's order (`LEXICAL_NAMES`).
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("numbers", re.compile(r"\d+(?:[.,]\d+)*")),
    # "-" only between digits or spaced ("3 - x"), so that hyphenated words do not count.
    (
        "operators",
        re.compile(
            "[+*/^=<>%\u00d7\u00f7\u221a\u2211\u222b]"  # also times, divide, root, sum, integral
            r"|\d\s*-\s*\d| - |\\(?:frac|sqrt|sum|int|cdot|times)"
        ),
    ),
    # Sentence ends (also CJK full stops) and list items: the steps a prompt states or asks for.
    (
        "steps",
        re.compile(
            "[.!?\u3002\uff01\uff1f]" r"(?=\s|$)|^\s*(?:\d+[.)]|[-*\u2022])\s", re.MULTILINE
        ),
    ),
    ("code", re.compile(r"```|[{};]|=>|::|\b(?:def|return|import|class|function|#include)\b")),
    ("questions", re.compile("[?\uff1f]")),  # also the full-width question mark
)
LEXICAL_NAMES = tuple(name for name, _ in _PATTERNS)


def lexical_features(texts: Sequence[str]) -> list[float]:
    """log(1 + count) / 2 of each pattern over the request's texts, in `LEXICAL_NAMES` order."""
    return [
        math.log1p(sum(len(pattern.findall(text)) for text in texts)) / 2.0
        for _, pattern in _PATTERNS
    ]
