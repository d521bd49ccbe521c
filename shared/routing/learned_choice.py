"""The learned quality model's part in a routing decision: the one knob, the bandit's choice.

`RoutingPolicy.decide` hands the candidates it computed (capabilities, constraints, key rules
already applied) to `learned_choice` when a learned model version is installed. The choice is
the cheapest candidate whose predicted quality reaches `quality_target` x the best candidate's
(`bandit.chooser.choose`); Thompson sampling may try a cheaper one within the exploration
budget. A request's `min_quality` keeps its meaning: candidates predicted below it are left out
(when none reaches it, the best predicted stays) and such a request is never explored.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shared.routing.bandit.chooser import BanditChoice, ExplorationBudget, choose
from shared.routing.bandit.cost_weight import CostWeights
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.catalog import ModelSpec


@dataclass(frozen=True, slots=True)
class Scoring:
    """What the router brings to a decision about the quality model.

    `version` None: the model is the catalog priors; it then only explains (the preview shows
    its estimates) and today's rules decide. `budget` None: no exploration (previews).
    `weights`: the router's calibration of the aggregate rule (None: the per-prompt rule);
    `record`: this decision joins its window (a routed request, not a preview).
    """

    model: QualityModel
    x: npt.NDArray[np.float32]
    version: int | None = None
    budget: ExplorationBudget | None = None
    weights: CostWeights | None = None
    record: bool = False


def predicted(choice: BanditChoice, model_id: str) -> tuple[float, float]:
    """(predicted quality, uncertainty) of one candidate, without building every estimate (the
    hot path needs two of them; `BanditChoice.estimates` is for the preview)."""
    ids, qualities, sds, _ = choice.columns
    i = list(ids).index(model_id)
    q = qualities[i]
    return q, q * (1.0 - q) * sds[i]


def learned_choice(
    candidates: Sequence[ModelSpec],
    scoring: Scoring,
    quality_target: float,
    min_quality: float | None,
    costs: dict[str, float],
    baseline_cost: float,
    rng: random.Random,
) -> tuple[BanditChoice, list[str]]:
    """The bandit's choice among `candidates` and the reasons to show for it."""
    pool = list(candidates)
    reasons: list[str] = []
    budget = scoring.budget
    if min_quality is not None:
        qualities, _ = scoring.model.predict([c.id for c in pool], scoring.x)
        reaching = [c for c, q in zip(pool, qualities, strict=True) if q >= min_quality]
        if reaching:
            pool = reaching
        else:
            pool = [pool[int(np.argmax(qualities))]]
            reasons.append(f"none predicted to reach min_quality {min_quality:.2f}")
        budget = None  # a caller's floor is never explored
    choice = choose(
        pool, scoring.model, scoring.x, quality_target, rng, budget,
        costs=costs, baseline_cost=baseline_cost, weights=scoring.weights, record=scoring.record,
    )  # fmt: skip
    quality, uncertainty = predicted(choice, choice.greedy_model_id)
    if choice.cost_weight is None:
        rule = f"cheapest predicted within {quality_target:.2f} of the best"
    else:
        rule = (
            f"best predicted quality - {choice.cost_weight:.3g} x cost share (keeps "
            f"{quality_target:.2f} of the best over recent traffic)"
        )
    reasons.append(
        f"quality model v{scoring.version}: {rule}: {choice.greedy_model_id} "
        f"({quality:.3f} +/- {uncertainty:.3f})"
    )
    if choice.explored:
        reasons.append(f"exploring cheaper {choice.model_id} (Thompson draw, within budget)")
    return choice, reasons
