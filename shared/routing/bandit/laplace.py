"""One Laplace step of the quality model's joint Bayesian logistic regression. Pure numpy.

Weights are laid out in blocks of D = `context.CONTEXT_SIZE`: block 0 is shared by every model
(what makes a prompt easy or hard for all of them), block 1 + i is model i's own deviation, and
model i scores a context x as sigmoid((w_0 + w_i) . x). An outcome of model i therefore teaches
both its own block and the shared one, so that ratings of the model routed most often also tell
the others which prompts are hard (the idea of an item-response or matrix-factorisation model,
kept linear so that its posterior is one Gaussian).

`fit` takes the prior N(mean0, precision0^-1), maximises prior x likelihood of the batches by
Newton's method, and returns the MAP and the Hessian there (the new precision). Each Newton step
is halved until the objective falls (backtracking): a full step can overshoot when new outcomes
contradict a confident posterior, and undamped Newton then swings between two points for ever.
Soft labels (outcomes in 0..1) are Bernoulli likelihoods with a fractional target.

A fit runs on one BLAS thread: OpenBLAS's worker threads spin while they wait for work, and on a
host whose cores are busy (the learner shares them) that made a fit of 100,000 rated rows take
41 s of wall and 21 s of CPU instead of 0.6 s and 0.4 s (bench/model_fit_at_scale.py, load 10).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

Array = npt.NDArray[np.float64]
Batches = dict[int, tuple[Array, Array]]  # model row -> (X (n, D), y (n,))

NEWTON_STEPS = 30
NEWTON_TOLERANCE = 1e-7
HALVINGS = 40
ARMIJO = 1e-4  # the share of the predicted decrease a step must achieve


def sigmoid(z: npt.NDArray[np.floating]) -> Array:
    """The logistic function, overflow-free."""
    return np.asarray(0.5 + 0.5 * np.tanh(0.5 * z), dtype=np.float64)


def block(row: int, d: int) -> slice:
    """The weights of model `row` (block 1 + row)."""
    return slice((row + 1) * d, (row + 2) * d)


Logits = dict[int, Array]  # model row -> x @ (w_0 + w_row) for its batch


def _curvature(logits: Logits, batches: Batches, d: int, precision0: Array) -> tuple[Array, Array]:
    """Gradient of the negative log likelihood at the weights that gave `logits`, and the
    Hessian with the prior's added."""
    size = precision0.shape[0]
    gradient = np.zeros(size)
    hessian = precision0.copy()
    shared = slice(0, d)
    for row, (x, y) in batches.items():
        own = block(row, d)
        p = sigmoid(logits[row])
        g = x.T @ (p - y)
        # X' diag(p (1 - p)) X as (sX)'(sX): numpy hands a product with its own transpose to
        # BLAS's symmetric rank-k update, half the work of a general product.
        scaled = x * np.sqrt(p * (1.0 - p))[:, None]
        h = scaled.T @ scaled
        gradient[shared] += g
        gradient[own] += g
        hessian[shared, shared] += h
        hessian[shared, own] += h
        hessian[own, shared] += h
        hessian[own, own] += h
    return gradient, hessian


def objective(
    w: Array, mean0: Array, precision0: Array, batches: Batches, d: int
) -> tuple[float, Logits]:
    """Negative log posterior (up to a constant), the prior's quadratic plus cross-entropies,
    and the logits it computed (the next Newton step starts from them)."""
    delta = w - mean0
    total = 0.5 * float(delta @ precision0 @ delta)
    logits: Logits = {}
    for row, (x, y) in batches.items():
        z = logits[row] = x @ (w[:d] + w[block(row, d)])
        total += float(np.sum(np.logaddexp(0.0, z) - y * z))
    return total, logits


def fit(mean0: Array, precision0: Array, batches: Batches, d: int) -> tuple[Array, Array]:
    """(MAP weights, precision at the MAP) of prior x the batches' likelihood."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _newton(mean0, precision0, batches, d)


def _newton(mean0: Array, precision0: Array, batches: Batches, d: int) -> tuple[Array, Array]:
    w = mean0.copy()
    current, logits = objective(w, mean0, precision0, batches, d)
    for _ in range(NEWTON_STEPS):
        gradient, hessian = _curvature(logits, batches, d, precision0)
        gradient += precision0 @ (w - mean0)
        step = np.linalg.solve(hessian, gradient)
        decrease = float(gradient @ step)  # > 0: the Hessian is positive definite
        size = 1.0
        for _ in range(HALVINGS):
            trial = w - size * step
            value, trial_logits = objective(trial, mean0, precision0, batches, d)
            if value <= current - ARMIJO * size * decrease:
                break
            size *= 0.5
        else:
            break  # no step lowers the objective: at the optimum to numerical precision
        w, current, logits = trial, value, trial_logits
        if float(np.max(np.abs(size * step))) < NEWTON_TOLERANCE:
            break
    _, hessian = _curvature(logits, batches, d, precision0)
    return w, 0.5 * (hessian + hessian.T)
