"""The learning math: from feedback counts per (routing key, model) to overrides. Pure functions.

Both the learner service (over a SQL aggregate) and the replay evaluator (over simulated
feedback) reach them through one retrain step, `shared.routing.retrain.retrain`, so that what
the replay measures is what production runs. See docs/learning.md.

Vocabulary:
- *key*: what an override applies to. A pattern ("code") or a pattern and a complexity
  ("code/high", see `route_key`). `ModelStats.pattern` and `Override.pattern` hold the key.
- *good* outcome: the answer was marked correct; or, when correctness was not given, it was
  scored 4 or 5 out of 5 (`is_good`). The learner's SQL counts the same.
- *bound*: the Wilson lower bound of the share of good outcomes: with 95% confidence (z = 1.96)
  the true share is at least this. A bound, not a raw mean, so that 3 good answers out of 3 do
  not outrank 180 out of 200.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from schemas.messages import Override
from shared.routing.catalog import Catalog, ModelSpec

ConfidenceLevel = Literal["high", "medium", "low"]
LEVEL_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2}

GOOD_QUALITY_SCORE = 4  # 4 and 5 of 5 are good when correctness was not given
# confidence_level(): evidence needed for each level (see its docstring).
HIGH_MIN_SAMPLES, HIGH_MIN_BOUND = 100, 0.75
MEDIUM_MIN_SAMPLES, MEDIUM_MIN_BOUND = 20, 0.5
# Output tokens are usually fewer than input tokens; 3:1 is the usual chat mix, and the ratio
# only matters to rank models whose input and output prices differ in proportion.
INPUT_SHARE = 0.75
# A request of this size (input + output) prices a model when no observed cost is known.
TYPICAL_REQUEST_TOKENS = 1000
KEY_SEPARATOR = "/"


def route_key(pattern: str, complexity: str | None = None) -> str:
    """The override key for a pattern, or for a pattern at one complexity ("code/high")."""
    return f"{pattern}{KEY_SEPARATOR}{complexity}" if complexity else pattern


def is_good(quality_score: int | None, is_correct: bool | None) -> bool:
    """A good outcome: correct, or (correctness unknown) a score of at least 4 of 5."""
    if is_correct is not None:
        return is_correct
    return quality_score is not None and quality_score >= GOOD_QUALITY_SCORE


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) when there is no observation."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..{n}, got {successes}")
    p = successes / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    denominator = 1 + z2 / n
    return max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator)


def wilson_lower_bound(successes: float, n: int, z: float = 1.96) -> float:
    """Lower end of the Wilson score interval: 0 without observations."""
    return wilson_interval(successes, n, z)[0]


def wilson_upper_bound(successes: float, n: int, z: float = 1.96) -> float:
    """Upper end of the Wilson score interval: 1 without observations."""
    return wilson_interval(successes, n, z)[1]


def confidence_level(bound: float, samples: int) -> ConfidenceLevel:
    """How much evidence backs a rule, from its lower bound and its sample count.

    - high: at least 100 samples and a bound of at least 0.75;
    - medium: at least 20 samples and a bound of at least 0.5 (good more often than not, even
      at the pessimistic end);
    - low: anything less. Routers apply overrides from `override_min_confidence` up (medium by
      default); low ones are at most tried by exploration.
    """
    if samples >= HIGH_MIN_SAMPLES and bound >= HIGH_MIN_BOUND:
        return "high"
    if samples >= MEDIUM_MIN_SAMPLES and bound >= MEDIUM_MIN_BOUND:
        return "medium"
    return "low"


@dataclass(frozen=True, slots=True)
class ModelStats:
    """Feedback on one model for one key. `avg_quality` is the mean 1-5 score."""

    pattern: str
    model: str
    samples: int
    good: int
    avg_quality: float | None = None
    correct_rate: float | None = None
    avg_cost_usd: float | None = None  # observed; prices the model for this key when known

    @property
    def rate(self) -> float:
        return self.good / self.samples if self.samples else 0.0

    def bound(self, z: float = 1.96) -> float:
        return wilson_lower_bound(self.good, self.samples, z)


def blended_price_per_mtok(spec: ModelSpec) -> float:
    """USD per 1M tokens at a 3:1 input:output mix: the catalog order of "cheaper"."""
    return INPUT_SHARE * spec.input_per_mtok + (1 - INPUT_SHARE) * spec.output_per_mtok


def expected_cost(spec: ModelSpec, stats: ModelStats | None = None) -> float:
    """USD per request: the observed average when known, else a typical request at list price."""
    if stats is not None and stats.avg_cost_usd is not None:
        return stats.avg_cost_usd
    return blended_price_per_mtok(spec) * TYPICAL_REQUEST_TOKENS / 1_000_000


@dataclass(frozen=True, slots=True)
class SelectionRule:
    """How a key's override is chosen among models with enough samples.

    floor (default, `value_per_good_usd` None): the cheapest model whose bound clears
    `confidence_threshold`. value: the model with the best pessimistic net value per request,
    `bound * value_per_good_usd - expected cost`: a good answer is worth that many dollars, so a
    dearer model must buy enough extra good answers to pay for itself (docs/learning.md).
    """

    min_samples: int
    confidence_threshold: float
    value_per_good_usd: float | None = None
    z: float = 1.96

    def score(self, spec: ModelSpec, stats: ModelStats | None) -> float:
        """Pessimistic: what the evidence guarantees (lower bound), net of cost in value mode."""
        samples, good = (stats.samples, stats.good) if stats else (0, 0)
        lower = wilson_lower_bound(good, samples, self.z)
        if self.value_per_good_usd is None:
            return lower
        return lower * self.value_per_good_usd - expected_cost(spec, stats)

    def optimistic(self, spec: ModelSpec, stats: ModelStats | None, z: float) -> float:
        """What the evidence still allows (upper bound at `z`), net of cost in value mode."""
        samples, good = (stats.samples, stats.good) if stats else (0, 0)
        upper = wilson_upper_bound(good, samples, z)
        if self.value_per_good_usd is None:
            return upper
        return upper * self.value_per_good_usd - expected_cost(spec, stats)


def _by_key(stats: Iterable[ModelStats], catalog: Catalog) -> dict[str, dict[str, ModelStats]]:
    grouped: dict[str, dict[str, ModelStats]] = defaultdict(dict)
    for row in stats:
        if catalog.has(row.model) and row.samples > 0:
            grouped[row.pattern][row.model] = row
    return grouped


def _override(key: str, spec: ModelSpec, row: ModelStats, z: float) -> Override:
    bound = row.bound(z)
    return Override(
        pattern=key,
        model=spec.id,
        provider=spec.provider,
        confidence_level=confidence_level(bound, row.samples),
        confidence_bound=round(bound, 4),
        sample_count=row.samples,
        avg_quality=row.avg_quality,
        correct_rate=row.correct_rate,
    )


def select_overrides(
    stats: Iterable[ModelStats],
    catalog: Catalog,
    min_samples: int,
    confidence_threshold: float,
    *,
    value_per_good_usd: float | None = None,
    z: float = 1.96,
) -> list[Override]:
    """One override per key: the cheapest model whose Wilson bound clears the threshold.

    Only models with at least `min_samples` count. "Cheapest" is the observed cost per request
    when the stats carry it, else the catalog's blended list price (3:1 input:output). With
    `value_per_good_usd`, the rule is value instead of floor (see `SelectionRule`). Keys where
    no model qualifies get no override: the router's priors decide there.
    """
    rule = SelectionRule(min_samples, confidence_threshold, value_per_good_usd, z)
    chosen: list[Override] = []
    for key, rows in sorted(_by_key(stats, catalog).items()):
        eligible = [(catalog.get(m), r) for m, r in rows.items() if r.samples >= min_samples]
        pick = _pick(rule, eligible)
        if pick is not None:
            chosen.append(_override(key, pick[0], pick[1], z))
    return chosen


def _pick(
    rule: SelectionRule, eligible: Sequence[tuple[ModelSpec, ModelStats]]
) -> tuple[ModelSpec, ModelStats] | None:
    if rule.value_per_good_usd is not None:
        if not eligible:
            return None
        # Ties (equal value) go to the better-evidenced model.
        return max(eligible, key=lambda e: (rule.score(e[0], e[1]), e[1].samples))
    passing = [e for e in eligible if rule.score(e[0], e[1]) >= rule.confidence_threshold]
    if not passing:
        return None
    return min(passing, key=lambda e: (expected_cost(e[0], e[1]), -rule.score(e[0], e[1])))


def select_trials(
    stats: Iterable[ModelStats],
    catalog: Catalog,
    overrides: Iterable[Override],
    min_samples: int,
    confidence_threshold: float,
    *,
    value_per_good_usd: float | None = None,
    candidates: Iterable[str] | None = None,
    min_trial_samples: int = 10,
    max_trials: int | None = 3,
    z: float = 1.96,
    z_explore: float = 1.0,
) -> dict[str, tuple[str, ...]]:
    """Per key, the cheaper models still worth trying: what exploration should spend on.

    The incumbent of a key is its override's model, else its most-used model. A cheaper model is
    a trial while it has fewer than `min_trial_samples` outcomes, or while its optimistic score
    (Wilson upper bound at `z_explore`) could still beat the best pessimistic one; it
    drops out once the evidence says it cannot. This is successive elimination: exploration
    stops paying for models that have shown they are not good enough.
    """
    rule = SelectionRule(min_samples, confidence_threshold, value_per_good_usd, z)
    allowed = [catalog.get(m) for m in candidates] if candidates is not None else catalog.models
    applied = {o.pattern: o.model for o in overrides}
    trials: dict[str, tuple[str, ...]] = {}
    for key, rows in sorted(_by_key(stats, catalog).items()):
        incumbent_id = applied.get(key) or max(rows.values(), key=lambda r: r.samples).model
        incumbent = catalog.get(incumbent_id)
        # Value rule: a trial must be able to beat the best model proven so far, not only the
        # incumbent, or weak-but-cheap models would keep their share of exploration forever.
        to_beat = max(
            [rule.score(incumbent, rows.get(incumbent_id))]
            + [rule.score(catalog.get(m), r) for m, r in rows.items() if r.samples >= min_samples]
        )
        cost_to_beat = expected_cost(incumbent, rows.get(incumbent_id))
        picked = []
        for spec in allowed:
            row = rows.get(spec.id)
            if spec.id == incumbent_id or expected_cost(spec, row) >= cost_to_beat:
                continue
            thin = row is None or row.samples < min_trial_samples
            if rule.value_per_good_usd is None:
                promising = rule.optimistic(spec, row, z_explore) >= confidence_threshold
            else:
                promising = rule.optimistic(spec, row, z_explore) > to_beat
            if thin or promising:
                picked.append((rule.optimistic(spec, row, z_explore), spec.id))
        # The most promising first (thin evidence counts as promise): a few trials at a time
        # gather evidence faster than exploration spread thinly over every cheaper model.
        picked.sort(key=lambda p: (-p[0], p[1]))
        if picked:
            trials[key] = tuple(m for _, m in picked[:max_trials])
    return trials


@dataclass(frozen=True, slots=True)
class OverrideChange:
    """One key whose model (or evidence) changed: before and after, each with its evidence."""

    pattern: str
    before: Override
    after: Override


@dataclass(frozen=True, slots=True)
class OverrideDiff:
    """What a retrain would change. Each entry carries its evidence (bound, samples, rates)."""

    added: list[Override] = field(default_factory=list)
    changed: list[OverrideChange] = field(default_factory=list)
    removed: list[Override] = field(default_factory=list)
    unchanged: int = 0

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


def diff_overrides(old: Sequence[Override], new: Sequence[Override]) -> OverrideDiff:
    """Compare two override sets key by key.

    A key whose model or confidence level moved is `changed`; fresh evidence for the same
    decision (new counts, same model and level) is `unchanged`, so that a retrain which learns
    nothing new does not publish a new version.
    """
    before = {o.pattern: o for o in old}
    after = {o.pattern: o for o in new}
    changed = []
    for key in sorted(before.keys() & after.keys()):
        a, b = before[key], after[key]
        if (a.model, a.provider, a.confidence_level) != (b.model, b.provider, b.confidence_level):
            changed.append(OverrideChange(key, a, b))
    return OverrideDiff(
        added=[after[k] for k in sorted(after.keys() - before.keys())],
        changed=changed,
        removed=[before[k] for k in sorted(before.keys() - after.keys())],
        unchanged=len(before.keys() & after.keys()) - len(changed),
    )
