"""The bandit's decision: the cheapest model good enough, and Thompson-sampled exploration.

Greedy rule (the knob), two forms:
- aggregate (with `weights`, once calibrated): the candidate maximising predicted quality -
  weight x cost / baseline cost, the weight solved per target on the router's recent decisions
  so that they keep the target's share of the best predicted quality on the whole
  (`cost_weight`); with `aggregate_z` > 0 it trades on the best candidate's upper bound and
  the cheaper ones' lower bounds instead of the means (`_confident_aggregate`, off by default);
- per prompt (without, or before the window has filled): the cheapest candidate whose
  predicted quality is at least a bar x the best candidate's; the bar is the quality target,
  widened by `target_slack` (`BanditParams.bar`: 1 - (1 - target) x slack). With
  `confidence_z` > 0 the comparison is made with confidence: a cheaper candidate counts at its
  mean logit minus z of its own standard deviations, the best (by mean) at its mean plus z of
  its own. "Own" is the part of a logit's uncertainty not shared with the other models (what
  the shared block adds moves every model together and cancels in a comparison). So a cheaper
  model is taken only when it clears the bar for sure, and where the best model itself is
  poorly known, the traffic stays on it, which is how it gets rated (exploration never tries a
  dearer model).

With `comparison_sd` "difference" the sd used is that of each candidate's logit minus the
best one's (`difference_sd`, under the draw's approximation), and the best counts at its mean:
the uncertainty that decides a comparison. A model rated often enough that its logit varies
less than the shared block's part has an own sd of 0 although its difference from the best can
still be uncertain (MMLU's cheap model, after a few hundred ratings); on the own sd it is never
explored again.

Exploration (Thompson sampling). Per-prompt rule: each candidate other than the best is drawn
from its own uncertainty (or its difference's), mean logit + own sd x e, with one standard
normal e for all of them, and compared with the same reference as the greedy rule; the cheapest
clearing it is the drawn choice. Only the cheaper candidates' uncertainty is sampled: what is
learned by trying one is about that one (the best one's is resolved by routing to it). Each
draw's marginal is the candidate's own posterior; one e for all means that ten uncertain
candidates are not ten chances to explore (with a normal each, the chance that any one is drawn
high grows with their number, and a cold start explored a third of the traffic). Aggregate rule:
every logit is drawn jointly from the posterior (the shared block's part once for all of them;
the distribution is in the `logits` module doc) and the rule applied to the draws. When the
drawn choice is cheaper than the greedy one, it is tried instead and the choice is marked
`explored`: models whose quality is still uncertain are drawn high now and then, and less so as
evidence narrows them, so exploration fades by itself. A drawn choice dearer than the greedy one
is never taken.

Budget: an explored answer may be bad; its charge is the expected cost of redoing it with the
greedy choice, (1 - predicted quality of the explored model) x greedy cost. Exploration happens
only while charges so far stay within `share` x the money routing saved against the baseline
(this decision's saving included) plus `endowment` x what the baseline would have cost. The
endowment is there so that a router whose greedy choice is the baseline everywhere (nothing
saved) can still try a cheaper model now and then: funded by savings alone, it never would and
never learns that it could save (a lock-out). `ExplorationBudget` keeps the sums.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from shared.routing.bandit.cost_weight import CostWeights, best_value, normalised
from shared.routing.bandit.logits import Floats, standard_normals
from shared.routing.bandit.params import BanditParams, per_prompt_bar
from shared.routing.bandit.quality_model import QualityModel, sigmoid
from shared.routing.catalog import ModelSpec
from shared.routing.learning import expected_cost

_DEFAULTS = BanditParams()


@dataclass(slots=True)
class ExplorationBudget:
    """What routing saved against the baseline and what exploration was charged, in USD, and
    what the baseline would have cost (the endowment's base)."""

    share: float = _DEFAULTS.exploration_share
    saved_usd: float = 0.0
    spent_usd: float = 0.0
    endowment: float = _DEFAULTS.exploration_endowment
    baseline_usd: float = 0.0

    def allows(self, charge_usd: float, saving_usd: float, baseline_usd: float = 0.0) -> bool:
        """Whether an exploration charged `charge_usd`, on a decision saving `saving_usd` whose
        baseline costs `baseline_usd`, keeps the spend within the share of the savings plus the
        endowment's share of the baseline."""
        allowed = self.share * (self.saved_usd + saving_usd)
        allowed += self.endowment * (self.baseline_usd + baseline_usd)
        return self.spent_usd + charge_usd <= allowed

    def record(self, saving_usd: float, charge_usd: float = 0.0, baseline_usd: float = 0.0) -> None:
        self.saved_usd += saving_usd
        self.spent_usd += charge_usd
        self.baseline_usd += baseline_usd


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


def difference_sd(sd: Floats, own: Floats, best: int) -> Floats:
    """Standard deviation of each logit minus the best one's under the draw's approximation
    (`logits` module doc: common parts c_i = v_i - own_i^2, covariance sqrt(c_i c_best)); 0 for
    the best itself."""
    var = sd * sd
    common = np.maximum(var - own * own, 0.0)
    spread = var + var[best] - 2.0 * np.sqrt(common * common[best])
    spread[best] = 0.0
    return np.asarray(np.sqrt(np.maximum(spread, 0.0)))


def _clearing(qualities: Sequence[float], order: Sequence[int], best: int, floor: float) -> int:
    """Index of the cheapest (first in `order`) candidate whose quality reaches `floor`, the
    best one counting as reaching it."""
    return next(i for i in order if i == best or qualities[i] >= floor)


def confident_values(logits: Floats, best: int, best_logit: float) -> list[float]:
    """The qualities the aggregate rule trades on with confidence (`BanditParams.aggregate_z`):
    each candidate's quality at `logits` (the cheaper ones' lower bounds, or their draws), the
    best candidate's at `best_logit` (its upper bound): where the best model is poorly known,
    leaving it looks dear, so traffic stays on it and it gets rated."""
    bounded = np.array(logits, dtype=np.float64)
    bounded[best] = best_logit
    values: list[float] = sigmoid(bounded).tolist()
    return values


def _comparison(
    mu: Floats, sd: Floats, own: Floats, best: int, z: float, p: BanditParams
) -> tuple[Floats, np.floating]:
    """(the sd by which each cheaper candidate is discounted and drawn, the best candidate's
    reference logit) for confidence `z` (`BanditParams.comparison_sd`): the own sd with the
    best at mean + z own sd, or the difference's sd with the best at its mean. The reference
    stays in the logits' precision (float32), as the per-prompt rule's floor is computed."""
    if p.comparison_sd == "difference":
        return difference_sd(sd, own, best), mu[best]
    return own, mu[best] + z * own[best]


def _aggregate_values(
    mu: Floats, sd: Floats, own: Floats, best: int, p: BanditParams
) -> tuple[Floats, float, list[float]]:
    """The aggregate rule with confidence (`BanditParams.aggregate_z`): (the comparison's sd,
    the best's reference logit, the qualities traded on): the best candidate (by mean) at its
    upper bound, the cheaper ones at their lower bounds, as the per-prompt rule compares them."""
    spread, logit = _comparison(mu, sd, own, best, p.aggregate_z, p)
    reference = float(logit)
    return spread, reference, confident_values(mu - p.aggregate_z * spread, best, reference)


def _per_prompt(
    mu: Floats,
    sd: Floats,
    own: Floats,
    best: int,
    quality_target: float,
    p: BanditParams,
    rng: random.Random | None,
    order: Sequence[int],
) -> tuple[int, int]:
    """The per-prompt rule with confidence (module doc): (greedy index, drawn index; the
    greedy one again without `rng`)."""
    z = p.confidence_z
    spread, reference = _comparison(mu, sd, own, best, z, p)
    bar = min(per_prompt_bar(quality_target, p.target_slack), 1.0)
    floor = bar * float(sigmoid(np.asarray(reference)))
    lower = sigmoid(mu - z * spread).tolist() if z else sigmoid(mu).tolist()
    greedy = sampled = _clearing(lower, order, best, floor)
    if rng is not None:
        drawn = mu + spread * float(standard_normals(rng, 1)[0])
        sampled = _clearing(sigmoid(drawn).tolist(), order, best, floor)
    return greedy, sampled


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
    params: BanditParams | None = None,
    weights: CostWeights | None = None,
    record: bool = False,
) -> BanditChoice:
    """Choose among `candidates` for the prompt whose context vector is `x` (module doc).

    `costs`: expected USD of this request per candidate (default: a typical request at list
    price). `baseline_cost`: what the baseline model would cost (default: the dearest
    candidate). `budget` None: no exploration (the final greedy policy); otherwise the
    decision's saving and any exploration charge are recorded in it. `params`: the per-prompt
    rule's `target_slack` (its bar is `BanditParams.bar`) and `confidence_z` (None: the
    defaults). `weights`: the router's calibrated cost weights (the aggregate rule once they
    give one for `quality_target`); `record` adds this decision to their window (routed requests
    only: not previews, not the replay's final policy).
    """
    if not candidates:
        raise ValueError("no candidate to choose from")
    ids = [c.id for c in candidates]
    cost = [costs[i] for i in ids] if costs is not None else [expected_cost(c) for c in candidates]
    order = sorted(range(len(ids)), key=lambda i: (cost[i], ids[i]))
    baseline = baseline_cost if baseline_cost is not None else max(cost)
    shares = normalised(cost, baseline) if weights is not None else cost
    weight = weights.weight(quality_target) if weights is not None else None
    prices = [weight * s for s in shares] if weight is not None else []
    p = params or _DEFAULTS
    if weight is None or p.aggregate_z > 0:
        mu, sd, own = model.logit_spread(ids, x)
        qualities = sigmoid(mu).tolist()
        best = max(range(len(ids)), key=qualities.__getitem__)
    if weight is None:
        greedy, sampled = _per_prompt(
            mu, sd, own, best, quality_target, p, rng if budget is not None else None, order
        )
        # Before its first weight the aggregate rule's window learns from per-prompt decisions
        # the values it will trade on.
        valued = qualities
        if weights is not None and p.aggregate_z > 0:
            valued = _aggregate_values(mu, sd, own, best, p)[2]
    elif p.aggregate_z > 0:
        # The draw varies only the cheaper candidates, by one normal, the best kept at its
        # bound, as the per-prompt rule's does.
        spread, reference, valued = _aggregate_values(mu, sd, own, best, p)
        greedy = sampled = best_value(valued, prices, order)
        if budget is not None:
            drawn = mu + spread * float(standard_normals(rng, 1)[0])
            sampled = best_value(confident_values(drawn, best, reference), prices, order)
    else:
        if budget is None:
            mu, sd = model.logit_moments(ids, x)
        else:
            mu, sd, drawn = model.draw(ids, x, rng)
        qualities = valued = sigmoid(mu).tolist()
        greedy = best_value(qualities, prices, order)
        if budget is not None:
            sampled = best_value(sigmoid(drawn).tolist(), prices, order)
    chosen, charge = greedy, 0.0
    if budget is not None:
        if cost[sampled] < cost[greedy]:
            charge = (1.0 - qualities[sampled]) * cost[greedy]
            if budget.allows(charge, baseline - cost[sampled], baseline):
                chosen = sampled
            else:
                charge = 0.0
        budget.record(baseline - cost[chosen], charge, baseline)
    if record and weights is not None:
        weights.record([valued[i] for i in order], [shares[i] for i in order])
    sds = sd.tolist()
    columns = (
        [ids[i] for i in order],
        [qualities[i] for i in order],
        [sds[i] for i in order],
        [cost[i] for i in order],
    )
    return BanditChoice(ids[chosen], chosen != greedy, ids[greedy], columns, charge, weight)
