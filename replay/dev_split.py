"""Which prompts a bandit replay streams and which it scores, per seed.

- The held-out run: the seeded shuffle's 30% is scored and never streamed; the 70% streamed.
- `--dev` (one cut): the streamed part is split again, its first 70% streamed and its last 30%
  scored. Its stream is 49% of the dataset, the held-out run's 70%: the models are less well
  known at the end of a dev stream, and a rule whose choices depend on how well a model is
  known (the confidence rule) behaved differently on the held-out split (docs/replay.md).
- `--dev --dev-folds K` (fold rotation): the streamed part, in its seeded order, is cut into K
  contiguous folds; fold k is scored and the other K - 1 are streamed, in that same order. The
  stream is (K - 1) / K of the streamed part, 63% of the dataset at K = 10, so the end of the
  stream is close to the held-out run's. Seed s scores folds s, s + 1, ..., s + J - 1 (mod K),
  J = `per_seed`, each after its own stream; their figures are pooled (`bandit_eval`).

In every case the scored prompts of a stream are never in that stream, and the dev protocols
never read a prompt of the held-out 30%.
"""

from __future__ import annotations

from dataclasses import dataclass

from replay.records import ReplayDataset, ReplayRecord
from replay.simulate import ReplayConfig, split

DEV_SHARE = 0.3  # the one-cut dev split's scored share of the streamed part

Records = list[ReplayRecord]


@dataclass(frozen=True, slots=True)
class DevSplit:
    """A dev protocol: `folds` 0 is the one cut; else K folds, `per_seed` of them scored."""

    folds: int = 0
    per_seed: int = 1

    def __post_init__(self) -> None:
        if self.folds == 1 or self.folds < 0:
            raise ValueError("dev folds: 0 (the one cut) or at least 2")
        if not 1 <= self.per_seed <= max(1, self.folds):
            raise ValueError("folds scored per seed: from 1 to the number of folds")

    def scored_folds(self, seed: int) -> list[int]:
        """The folds seed `seed` scores: consecutive seeds rotate through all of them."""
        return [(seed + i) % self.folds for i in range(self.per_seed)]

    def describe(self) -> str:
        if not self.folds:
            return "dev split of the streamed part"
        return f"dev folds of the streamed part ({self.per_seed} of {self.folds} per seed)"


def fold(streamed: Records, folds: int, index: int) -> tuple[Records, Records]:
    """(stream, scored): fold `index` of `folds` contiguous near-equal folds is scored, the rest
    streamed in the order given."""
    lo, hi = (round(len(streamed) * i / folds) for i in (index, index + 1))
    return streamed[:lo] + streamed[hi:], streamed[lo:hi]


def splits(
    dataset: ReplayDataset,
    seed: int,
    holdout: float,
    limit: int | None,
    dev: DevSplit | None,
) -> list[tuple[Records, Records]]:
    """Per stream of this seed, (streamed, scored) (module doc); `dev` None: the held-out run."""
    streamed, held_out = split(dataset, ReplayConfig(seed=seed, holdout=holdout, limit=limit))
    if dev is None:
        return [(streamed, held_out)]
    if not dev.folds:
        cut = round(len(streamed) * (1 - DEV_SHARE))
        return [(streamed[:cut], streamed[cut:])]
    return [fold(streamed, dev.folds, k) for k in dev.scored_folds(seed)]
