"""The bandit's hyperparameters and their defaults: the one place settings and replay read.

Chosen on a dev split carved from the streamed part of the replay (never on the held-out
split), the same for every dataset (docs/bandit.md, "How the defaults were chosen").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.routing.bandit.cost_weight import CostWeights


@dataclass(frozen=True, slots=True)
class BanditParams:
    """Hyperparameters of the quality model and of the chooser.

    - `quality_target`: the knob. The cheapest candidate whose predicted quality is at least
      this share of the best candidate's is chosen.
    - `target_slack`: how much further below the best a single prompt may fall than the target
      asks: the per-prompt bar is 1 - (1 - quality_target) x target_slack. Most prompts' choice
      sits well above its bar, so a bar at the target itself keeps more quality than asked for
      (and spends for it); the slack is calibrated on the dev split so that the traffic as a
      whole keeps about `quality_target` of the best quality.
    - `confidence_z`: how sure the per-prompt rule must be before leaving the best predicted
      model for a cheaper one: a cheaper candidate counts at its mean logit minus this many of
      its own standard deviations, the best at its mean plus this many of its own (0: both at
      their means, the plain rule). The own sd is the part not shared with the other models.
    - `comparison_sd`: which uncertainty the per-prompt rule's confidence and its exploration
      draw use. "own": each cheaper candidate's own sd, the best at mean + z own sd. "difference":
      the sd of each candidate's logit minus the best one's (under the draw's approximation,
      `chooser.difference_sd`), the best at its mean: a rated model whose own sd has fallen to 0
      while its difference from the best is still uncertain keeps being explored.
    - `prior_sd_pattern`: prior standard deviation of each model's intercept and pattern weights
      around the catalog priors; `prior_sd_shared` the same for the weights all models share.
    - `prior_sd_embedding` (shared) and `prior_sd_embedding_model` (each model's own): of the
      whitened embedding coordinates' weights; `prior_sd_length`: of the length's;
      `prior_sd_lexical`: of each lexical count's (`lexical`), in the shared and own blocks.
    - `memory`: outcomes after which old evidence weighs 1/e of new (a model that changes is
      followed); 0 keeps everything.
    - `exploration_share`: exploration may cost at most this share of what routing saved,
      plus `exploration_endowment` x what the baseline model would have cost (so that a router
      that has saved nothing yet can still explore a little: no lock-out).
    - `weight_window`: the routed decisions the aggregate rule's cost weight is calibrated on
      (`cost_weight`); 0 keeps the per-prompt rule. `aggregate_z`: the aggregate rule's
      confidence, as `confidence_z` is the per-prompt rule's (the best candidate valued at mean +
      z sd, the cheaper ones at mean - z sd, with `comparison_sd`'s sd; the draw then varies only
      the cheaper candidates); 0 values every candidate at its mean and draws them jointly.
      `weight_every`: decisions between two
      solves of a target's weight (and before the first).
    """

    quality_target: float = 0.95
    target_slack: float = 1.6
    confidence_z: float = 0.25
    comparison_sd: Literal["own", "difference"] = "own"
    prior_sd_pattern: float = 1.0
    prior_sd_shared: float = 1.0
    prior_sd_embedding: float = 0.3
    prior_sd_embedding_model: float = 0.2
    prior_sd_length: float = 0.5
    prior_sd_lexical: float = 0.5
    memory: int = 20_000
    exploration_share: float = 0.5
    exploration_endowment: float = 0.02
    weight_window: int = 0
    aggregate_z: float = 0.0
    weight_every: int = 50

    def bar(self, quality_target: float | None = None) -> float:
        """The per-prompt share of the best predicted quality a choice must reach."""
        target = self.quality_target if quality_target is None else quality_target
        return per_prompt_bar(target, self.target_slack)

    def cost_weights(self) -> CostWeights | None:
        """A router's fresh calibration of the aggregate rule, or None for the per-prompt rule."""
        if self.weight_window <= 0:
            return None
        return CostWeights(self.weight_window, self.weight_every)


def per_prompt_bar(quality_target: float, target_slack: float) -> float:
    """1 - (1 - quality_target) x target_slack, at least 0 (see `BanditParams.target_slack`)."""
    return max(0.0, 1.0 - (1.0 - quality_target) * target_slack)
