"""The bandit's decision: the cheapest model good enough, and Thompson-sampled exploration.

Greedy rule (the knob), two forms:
- aggregate (with `weights`, once calibrated): the candidate maximising predicted quality -
  weight x cost / baseline cost, the weight solved per target on the router's recent decisions
  so that they keep the target's share of the best predicted quality on the whole
  (`cost_weight`);
- per prompt (without, or before the window has filled): the cheapest candidate whose
  predicted quality is at least a bar x the best candidate's; the bar is the quality target,
  widened by `target_slack` (`BanditParams.bar`: 1 - (1 - target) x slack).

Exploration (Thompson sampling): each candidate's logit is drawn from its posterior (the shared
block's part once for all of them; the distribution is in the `logits` module doc) and the same
rule is applied to the drawn qualities. When the drawn choice is cheaper than the greedy one, it
is tried instead and the choice is marked `explored`: models whose quality is still uncertain
are drawn high now and then, and less so as evidence narrows them, so exploration fades by
itself. A drawn choice dearer than the greedy one is never taken.

Budget: an explored answer may be bad; its charge is the expected cost of redoing it with the
greedy choice, (1 - predicted quality of the explored model) x greedy cost. Exploration happens
only while charges so far stay within `share` x the money routing saved against the baseline
(this decision's saving included). `ExplorationBudget` keeps both sums.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from shared.routing.bandit.cost_weight import CostWeights, best_value, normalised
from shared.routing.bandit.params import BanditParams, per_prompt_bar
from shared.routing.bandit.quality_model import QualityModel, sigmoid
from shared.routing.catalog import ModelSpec
from shared.routing.learning import expected_cost


@dataclass(slots=True)
class ExplorationBudget:
    """What routing saved against the baseline and what exploration was charged, in USD."""

    share: float = BanditParams().exploration_share
    saved_usd: float = 0.0
    spent_usd: float = 0.0

    def allows(self, charge_usd: float, saving_usd: float) -> bool:
        """Whether an exploration charged `charge_usd`, on a decision saving `saving_usd`,
        keeps the spend within the share of the savings."""
        return self.spent_usd + charge_usd <= self.share * (self.saved_usd + saving_usd)

    def record(self, saving_usd: float, charge_usd: float = 0.0) -> None:
        self.saved_usd += saving_usd
        self.spent_usd += charge_usd


@dataclass(frozen=True, slots=True)
class CandidateEstimate:
    """One candidate as the bandit saw it: predicted quality (0-1), its standard deviation, and
    the expected cost of this request in USD."""

    model_id: str
    predicted_quality: float
    uncertainty: float
    expected_cost: float


@dataclass(frozen=True, slots=True)
class BanditChoice:
    """The model to use, whether it was an exploration, and every candidate's estimate."""

    model_id: str
    explored: bool
    greedy_model_id: str
    # Per candidate, cheapest first: (ids, predicted quality, logit sd, cost). Kept as plain
    # sequences: `estimates` builds the objects only when a caller reads them.
    columns: tuple[Sequence[str], Sequence[float], Sequence[float], Sequence[float]]
    exploration_charge_usd: float = 0.0
    cost_weight: float | None = None  # the aggregate rule's weight; None: the per-prompt rule

    @property
    def estimates(self) -> tuple[CandidateEstimate, ...]:
        """Every candidate's estimate, cheapest first; the uncertainty is the logit's standard
        deviation through the sigmoid's slope, as `QualityModel.predict` gives it."""
        return tuple(
            CandidateEstimate(m, q, q * (1.0 - q) * sd, c)
            for m, q, sd, c in zip(*self.columns, strict=True)
        )

    def estimate(self, model_id: str) -> CandidateEstimate:
        return next(e for e in self.estimates if e.model_id == model_id)


def _rule(qualities: Sequence[float], order: Sequence[int], bar: float) -> int:
    """Index of the cheapest (first in `order`) candidate reaching `bar` x the best (a bar above
    1 counts as 1: the best itself then)."""
    bar = min(bar, 1.0) * max(qualities)
    return next(i for i in order if qualities[i] >= bar)


def choose(
    candidates: Sequence[ModelSpec],
    model: QualityModel,
    x: np.ndarray,
    quality_target: float,
    rng: random.Random,
    budget: ExplorationBudget | None,
    *,
    costs: Mapping[str, float] | None = None,
    baseline_cost: float | None = None,
    target_slack: float = BanditParams().target_slack,
    weights: CostWeights | None = None,
    record: bool = False,
) -> BanditChoice:
    """Choose among `candidates` for the prompt whose context vector is `x` (module doc).

    `costs`: expected USD of this request per candidate (default: a typical request at list
    price). `baseline_cost`: what the baseline model would cost (default: the dearest
    candidate). `budget` None: no exploration (the final greedy policy); otherwise the decision's
    saving and any exploration charge are recorded in it. `target_slack`: see `BanditParams`
    (the per-prompt bar is `BanditParams.bar`). `weights`: the router's calibrated cost weights
    (the aggregate rule once they give one for `quality_target`); `record` adds this decision
    to their window (routed requests only: not previews, not the replay's final policy).
    """
    if not candidates:
        raise ValueError("no candidate to choose from")
    ids = [c.id for c in candidates]
    cost = [costs[i] for i in ids] if costs is not None else [expected_cost(c) for c in candidates]
    order = sorted(range(len(ids)), key=lambda i: (cost[i], ids[i]))
    baseline = baseline_cost if baseline_cost is not None else max(cost)
    shares = normalised(cost, baseline) if weights is not None else cost
    weight = weights.weight(quality_target) if weights is not None else None
    bar = per_prompt_bar(quality_target, target_slack)
    prices = [weight * s for s in shares] if weight is not None else []

    def rule(qs: Sequence[float]) -> int:
        return _rule(qs, order, bar) if weight is None else best_value(qs, prices, order)

    if budget is None:
        mu, sd = model.logit_moments(ids, x)
    else:
        mu, sd, drawn = model.draw(ids, x, rng)
    qualities = sigmoid(mu).tolist()
    greedy = rule(qualities)
    chosen, charge = greedy, 0.0
    if budget is not None:
        sampled = rule(sigmoid(drawn).tolist())
        if cost[sampled] < cost[greedy]:
            charge = (1.0 - qualities[sampled]) * cost[greedy]
            if budget.allows(charge, baseline - cost[sampled]):
                chosen = sampled
            else:
                charge = 0.0
        budget.record(baseline - cost[chosen], charge)
    if record and weights is not None:
        weights.record([qualities[i] for i in order], [shares[i] for i in order])
    sds = sd.tolist()
    columns = (
        [ids[i] for i in order],
        [qualities[i] for i in order],
        [sds[i] for i in order],
        [cost[i] for i in order],
    )
    return BanditChoice(ids[chosen], chosen != greedy, ids[greedy], columns, charge, weight)
