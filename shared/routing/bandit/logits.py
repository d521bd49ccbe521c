"""Each model's logit at a context, its posterior spread, and the Thompson draw, for the hot path.

The quality model's posterior is one Gaussian N(m, S) over the weights w = (w_0, w_1 .. w_M),
blocks of D numbers: w_0 shared, w_i model i's own; model i's logit at x is x . (w_0 + w_i), so

    mu_i = x . (m_0 + m_i),   v_i = Var(logit_i) = x'(S_00 + S_0i + S_i0 + S_ii)x,
    s = x'S_00 x   (the shared block's part).

**The draw** (Thompson sampling), with z_0, z_1 .. z_M independent standard normals:

    logit_i = mu_i + sqrt(c_i) z_0 + sqrt(v_i - c_i) z_i,   c_i = min(s, v_i).

Each logit's marginal is exact, N(mu_i, v_i). The models move together through z_0, the shared
block's noise drawn once: Cov(logit_i, logit_j) = sqrt(c_i c_j), which is s wherever s <= v_i, v_j,
in place of the exact x'(S_00 + S_0j + S_i0 + S_ij)x: the cross-covariances of the shared and
own blocks (S_0i, negative once ratings pin down w_0 + w_i) are left out of the correlation.
(The exact joint draw was tried: over 5 seeds of the RouterBench replay it explored 29% of
requests instead of 22%, online quality 0.895 instead of 0.925; docs/bandit.md.)

**Precomputation.** The posterior precision P has an arrow shape (no rating touches two own
blocks and the prior is diagonal: P_ij = 0 for i != j >= 1), so S's blocks come from D x D
algebra instead of inverting the whole (M + 1) D matrix: with K_i = -P_ii^-1 P_i0,
S_00 = (P_00 + sum_i P_0i K_i)^-1, S_i0 = K_i S_00, S_ii = P_ii^-1 + K_i S_00 K_i'. Built once per
model (routers build a published version in a thread); scoring one request is then one
(M + M D + D, D) float32 matrix-vector product, one batched quadratic form and, for a draw,
M + 1 normal numbers.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
Floats = npt.NDArray[np.floating]
Rows = npt.NDArray[np.intp]


def standard_normals(rng: random.Random, n: int) -> Array:
    """n standard normal draws from `rng` in one call (Box-Muller over its random bits): a
    Python-level draw per candidate costs more than the whole scoring."""
    bits = np.frombuffer(rng.getrandbits(128 * n).to_bytes(16 * n, "little"), dtype="<u8")
    uniform = ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    u, v = uniform[:n], uniform[n:]
    return np.asarray(np.sqrt(-2.0 * np.log(u)) * np.cos(2.0 * math.pi * v), dtype=np.float64)


def marginal_blocks(precision: Array, models: int, dims: int) -> tuple[Array, Array]:
    """(S_00, the M blocks S_00 + S_0i + S_i0 + S_ii) of the inverse of an arrow-shaped
    precision (module doc). ValueError when two own blocks are coupled."""
    d, m = dims, models
    p = precision.reshape(m + 1, d, m + 1, d)
    own = np.arange(1, m + 1)
    coupled = p[1:, :, 1:, :].copy()
    coupled[own - 1, :, own - 1, :] = 0.0
    if coupled.any():
        raise ValueError("the precision couples two models' own blocks")
    p_ii = p[own, :, own, :]  # (m, d, d)
    k = -np.linalg.solve(p_ii, p[own, :, 0, :])  # K_i = -P_ii^-1 P_i0
    schur = p[0, :, 0, :] + np.einsum("iba,ibc->ac", p[own, :, 0, :], k)
    s00 = np.linalg.inv(0.5 * (schur + schur.T))
    s_i0 = k @ s00
    s_ii = np.linalg.inv(p_ii) + s_i0 @ k.transpose(0, 2, 1)
    marginal = s00 + s_i0 + s_i0.transpose(0, 2, 1) + s_ii
    return 0.5 * (s00 + s00.T), 0.5 * (marginal + marginal.transpose(0, 2, 1))


@dataclass(frozen=True, slots=True)
class LogitPosterior:
    """The precomputed scoring matrix of one quality model (module doc); read-only."""

    models: int
    dims: int
    # Rows: M posterior mean weights (m_0 + m_i), the M marginal blocks, then S_00.
    matrix: npt.NDArray[np.float32]

    @classmethod
    def of(cls, mean: Array, precision: Array, models: int, dims: int) -> LogitPosterior:
        """From the posterior mean and precision of (1 + models) blocks of `dims` numbers."""
        d, m = dims, models
        shared, marginal = marginal_blocks(precision, m, d)
        means = mean[:d] + mean[d:].reshape(m, d)
        matrix = np.concatenate((means, marginal.reshape(m * d, d), shared))
        return cls(m, d, np.ascontiguousarray(matrix, dtype=np.float32))

    def _parts(self, x: Floats) -> tuple[Floats, Floats]:
        """(mean logits of every model, variances: every model's v_i, then s) at x."""
        x32 = np.asarray(x, dtype=np.float32)
        product = self.matrix @ x32
        m = self.models
        var = np.maximum(product[m:].reshape(m + 1, self.dims) @ x32, 0.0)
        return product[:m], var

    def moments(self, rows: Rows, x: Floats) -> tuple[Floats, Floats]:
        """Mean and variance of the logits of the models at `rows`."""
        mu, var = self._parts(x)
        return mu[rows], var[rows]

    def _split(self, rows: Rows, x: Floats) -> tuple[Floats, Floats, Floats]:
        """(mean, variance, common part c_i = min(s, v_i)) of the logits of the models at
        `rows`: c_i moves with the other models through the shared block, v_i - c_i is their
        own (module doc)."""
        mu, var = self._parts(x)
        v = var[rows]
        return mu[rows], v, np.minimum(var[self.models], v)

    def spread(self, rows: Rows, x: Floats) -> tuple[Floats, Floats, Floats]:
        """(mean, variance, own variance v_i - c_i) of the logits of the models at `rows`: the
        part the draw gives each model's own noise."""
        mu, v, common = self._split(rows, x)
        return mu, v, v - common

    def draw(self, rows: Rows, x: Floats, rng: random.Random) -> tuple[Floats, Floats, Array]:
        """(mean, variance, one Thompson draw) of the logits of the models at `rows`."""
        mu, v, common = self._split(rows, x)
        noise = standard_normals(rng, len(rows) + 1)
        drawn = mu + np.sqrt(common) * noise[-1] + np.sqrt(v - common) * noise[:-1]
        return mu, v, drawn
