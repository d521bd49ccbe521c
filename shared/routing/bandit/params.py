"""The bandit's hyperparameters and their defaults: the one place settings and replay read.

Chosen on a dev split carved from the streamed part of the replay (never on the held-out
split), the same for every dataset (docs/bandit.md, "How the defaults were chosen").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BanditParams:
    """Hyperparameters of the quality model and of the chooser.

    - `quality_target`: the knob. The cheapest candidate whose predicted quality is at least
      this share of the best candidate's is chosen.
    - `prior_sd_*`: prior standard deviation of the logistic weights: of the pattern weights
      around the catalog priors, of the whitened embedding coordinates and of the length around 0.
    - `memory`: outcomes per model after which old evidence weighs half as much again as new
      (a model that changes is followed); 0 keeps everything.
    - `exploration_share`: exploration may cost at most this share of what routing saved.
    """

    quality_target: float = 0.95
    prior_sd_pattern: float = 1.0
    prior_sd_embedding: float = 0.3
    prior_sd_length: float = 0.5
    memory: int = 20_000
    exploration_share: float = 0.3
