"""The one place where a rating becomes a learning outcome in [0, 1] (docs/bandit.md).

- `is_correct` given: 1.0 when correct, 0.0 when not (it wins over a score, as in
  `learning.is_good`);
- else a `quality_score` of 1-5: (score - 1) / 4, so 1 -> 0.0, 3 -> 0.5, 5 -> 1.0;
- neither: None, no signal (the request is not learned from).
The quality model treats the value as the probability of a good answer (a soft label).
`outcome_values` applies the same rules to arrays (a fit's million ratings).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MIN_SCORE, MAX_SCORE = 1, 5
NO_SCORE, NO_VERDICT = 0, -1  # "not given" in `outcome_values`' integer arrays


def outcome_value(quality_score: int | None, is_correct: bool | None) -> float | None:
    """The outcome of one rating, or None when it says nothing (rules in the module doc)."""
    if is_correct is not None:
        return 1.0 if is_correct else 0.0
    if quality_score is None:
        return None
    if not MIN_SCORE <= quality_score <= MAX_SCORE:
        raise ValueError(f"quality_score must be within {MIN_SCORE}..{MAX_SCORE}")
    return (quality_score - MIN_SCORE) / (MAX_SCORE - MIN_SCORE)


def outcome_values(
    quality_scores: npt.NDArray[np.integer], is_correct: npt.NDArray[np.integer]
) -> npt.NDArray[np.float64]:
    """`outcome_value` over arrays: scores with NO_SCORE for none, is_correct 1 / 0 / NO_VERDICT;
    NaN where a rating says nothing. ValueError for a score outside 1-5 that would be used."""
    scores = np.asarray(quality_scores)
    verdict = np.asarray(is_correct)
    by_score = (verdict == NO_VERDICT) & (scores != NO_SCORE)
    if np.any(by_score & ((scores < MIN_SCORE) | (scores > MAX_SCORE))):
        raise ValueError(f"quality_score must be within {MIN_SCORE}..{MAX_SCORE}")
    values = np.where(by_score, (scores - MIN_SCORE) / (MAX_SCORE - MIN_SCORE), np.nan)
    return np.where(verdict == NO_VERDICT, values, (verdict == 1).astype(np.float64))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one rated request teaches: the model that answered, its context vector, the outcome."""

    model_id: str
    x: npt.NDArray[np.float32]
    y: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.y <= 1.0:
            raise ValueError(f"an outcome is within 0..1, got {self.y}")
