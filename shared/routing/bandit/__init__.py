"""Per-prompt routing learned from ratings: a contextual bandit over a per-model quality model.

- `context`: a prompt's classification as a fixed-size vector (`context_vector`);
- `outcomes`: the one place where a rating becomes an outcome in [0, 1];
- `quality_model`: per-model Bayesian logistic regression (Laplace), versioned and serialised;
- `chooser`: the decision rule (quality target) and Thompson-sampling exploration under a budget;
- `params`: the hyperparameters' defaults, the one place settings read them from.
See docs/bandit.md.
"""
