"""Per-model Bayesian logistic regression: P(good answer | prompt context), with its uncertainty.

Each model has a Gaussian posterior N(mean, cov) over weights w, and predicts a prompt x as
sigmoid(w . x). The posterior is a Laplace approximation: `updated` takes the current posterior
as the prior, finds the MAP of prior x likelihood of the new outcomes by Newton's method, and
takes the Hessian there as the new precision (full D x D; D is `context.CONTEXT_SIZE`, small).
Before new evidence is added, old precision decays toward the catalog prior's
("stabilised forgetting", `BanditParams.memory`), so a model that changes is followed and
directions never observed keep the prior's uncertainty.

Cold start (`prior`): the pattern weights are the logits of the catalog's prior quality per
pattern, so a one-hot pattern predicts exactly the catalog prior; the rest start at 0.

A published model is never mutated: `updated` returns a new object. `to_bytes` is a small,
deterministic binary (a JSON header and little-endian float64 arrays, zlib), no pickle.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from shared.routing.bandit.context import (
    CONTEXT_SIZE,
    CONTEXT_VERSION,
    EMBEDDING_SLICE,
    LENGTH_INDEX,
    PATTERN_SLICE,
)
from shared.routing.bandit.outcomes import Outcome
from shared.routing.bandit.params import BanditParams
from shared.routing.catalog import PATTERNS, Catalog, ModelSpec

FORMAT = b"QMODEL1\n"
_NEWTON_STEPS = 12
_NEWTON_TOLERANCE = 1e-7
_PRIOR_CLIP = 0.02  # catalog priors of 0 or 1 would be infinite logits

Array = npt.NDArray[np.float64]
Floats = npt.NDArray[np.floating]


class ModelFormatError(ValueError):
    """Bytes that are not a quality model of this format."""


def _logit(q: float) -> float:
    q = min(max(q, _PRIOR_CLIP), 1 - _PRIOR_CLIP)
    return math.log(q / (1 - q))


def sigmoid(z: Floats) -> Array:
    """The logistic function, overflow-free."""
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)


def prior_of(spec: ModelSpec, params: BanditParams) -> tuple[Array, Array]:
    """(mean, variance per weight) of one model's cold-start prior (see the module doc)."""
    mean = np.zeros(CONTEXT_SIZE)
    mean[PATTERN_SLICE] = [_logit(spec.prior_quality(p)) for p in PATTERNS]
    var = np.empty(CONTEXT_SIZE)
    var[0] = params.prior_sd_pattern**2
    var[PATTERN_SLICE] = params.prior_sd_pattern**2
    var[EMBEDDING_SLICE] = params.prior_sd_embedding**2
    var[LENGTH_INDEX] = params.prior_sd_length**2
    return mean, var


@dataclass(frozen=True, slots=True, eq=False)
class QualityModel:
    """Posteriors of every known model. Arrays are indexed like `model_ids`; treat as read-only.

    `prior_means` / `prior_vars` are the cold-start prior (forgetting decays toward it);
    `counts` the outcomes learned per model; `version` is set by the caller that publishes it.
    """

    model_ids: tuple[str, ...]
    means: Array  # (M, D)
    covs: Array  # (M, D, D)
    prior_means: Array  # (M, D)
    prior_vars: Array  # (M, D)
    counts: npt.NDArray[np.int64]  # (M,)
    memory: int = BanditParams().memory
    version: int = 0
    context_version: str = CONTEXT_VERSION
    _index: dict[str, int] = field(init=False, repr=False)
    _scoring: npt.NDArray[np.float32] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {m: i for i, m in enumerate(self.model_ids)})
        # Scoring is one product with the means stacked over the covariance rows (float32):
        # each numpy call costs microseconds of overhead on the hot path, so few calls.
        m, d = len(self.model_ids), CONTEXT_SIZE
        stacked = np.concatenate((self.means, self.covs.reshape(m * d, d)))
        object.__setattr__(self, "_scoring", stacked.astype(np.float32))

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def prior(
        cls, catalog: Catalog | Iterable[ModelSpec], params: BanditParams | None = None
    ) -> QualityModel:
        """The cold start: every model at its catalog prior quality (module doc)."""
        params = params or BanditParams()
        specs = list(catalog.models if isinstance(catalog, Catalog) else catalog)
        if not specs:
            raise ValueError("a quality model needs at least one model")
        priors = [prior_of(s, params) for s in specs]
        means = np.stack([p[0] for p in priors])
        variances = np.stack([p[1] for p in priors])
        return cls(
            model_ids=tuple(s.id for s in specs),
            means=means.copy(),
            covs=np.stack([np.diag(v) for v in variances]),
            prior_means=means,
            prior_vars=variances,
            counts=np.zeros(len(specs), dtype=np.int64),
            memory=params.memory,
        )

    def covering(
        self, catalog: Catalog | Iterable[ModelSpec], params: BanditParams | None = None
    ) -> QualityModel:
        """This model plus a cold-start prior for each listed model it does not know yet."""
        specs = list(catalog.models if isinstance(catalog, Catalog) else catalog)
        missing = [s for s in specs if s.id not in self._index]
        if not missing:
            return self
        extra = QualityModel.prior(missing, params)
        return replace(
            self,
            model_ids=self.model_ids + extra.model_ids,
            means=np.concatenate((self.means, extra.means)),
            covs=np.concatenate((self.covs, extra.covs)),
            prior_means=np.concatenate((self.prior_means, extra.prior_means)),
            prior_vars=np.concatenate((self.prior_vars, extra.prior_vars)),
            counts=np.concatenate((self.counts, extra.counts)),
        )

    def with_version(self, version: int) -> QualityModel:
        return replace(self, version=version)

    # ---- scoring ------------------------------------------------------------------------
    def knows(self, model_id: str) -> bool:
        return model_id in self._index

    def logit_moments(self, model_ids: Sequence[str], x: Floats) -> tuple[Array, Array]:
        """Mean and standard deviation of w . x for each model (KeyError for an unknown one)."""
        index = self._index
        rows = [index[m] for m in model_ids]
        x32 = np.asarray(x, dtype=np.float32)
        m = len(self.model_ids)
        # All models at once, then pick: cheaper than gathering covariance blocks.
        product = self._scoring @ x32
        var = np.maximum(product[m:].reshape(m, -1) @ x32, 0.0)
        return product[:m][rows].astype(np.float64), np.sqrt(var[rows], dtype=np.float64)

    def predict(self, model_ids: Sequence[str], x: Floats) -> tuple[Array, Array]:
        """(predicted quality, its uncertainty) per model, both in 0..1.

        The prediction is sigmoid of the posterior mean logit (the posterior median of the
        quality: at cold start exactly the catalog prior for a one-hot pattern); the
        uncertainty is the logit's standard deviation carried through the sigmoid's slope.
        """
        mu, sd = self.logit_moments(model_ids, x)
        return quality_moments(mu, sd)

    # ---- learning -----------------------------------------------------------------------
    def updated(self, outcomes: Iterable[Outcome]) -> QualityModel:
        """A new model: this posterior as the prior, the outcomes added (unknown models skipped)."""
        index: dict[str, int] = self._index
        grouped: dict[int, tuple[list[npt.NDArray[np.float32]], list[float]]] = defaultdict(
            lambda: ([], [])
        )
        for outcome in outcomes:
            row = index.get(outcome.model_id)
            if row is not None:
                grouped[row][0].append(outcome.x)
                grouped[row][1].append(outcome.y)
        batches = {
            row: (np.asarray(xs, dtype=np.float64), np.asarray(ys))
            for row, (xs, ys) in grouped.items()
        }
        return self.updated_arrays(batches)

    def updated_arrays(self, batches: dict[int, tuple[Array, Array]]) -> QualityModel:
        """`updated` over arrays: row of `model_ids` -> (X (n, D), y (n,))."""
        if not batches:
            return self
        means, covs, counts = self.means.copy(), self.covs.copy(), self.counts.copy()
        for row, (x, y) in sorted(batches.items()):
            if x.shape[1] != CONTEXT_SIZE:
                raise ValueError(f"context vectors have {x.shape[1]} numbers, not {CONTEXT_SIZE}")
            precision = self._decayed_precision(row, len(y))
            means[row], covs[row] = _laplace(means[row], precision, x, y)
            counts[row] += len(y)
        return replace(self, means=means, covs=covs, counts=counts)

    def _decayed_precision(self, row: int, new: int) -> Array:
        precision = np.linalg.inv(self.covs[row])
        if self.memory <= 0:
            return precision
        kept = (1.0 - 1.0 / self.memory) ** new
        return kept * precision + (1.0 - kept) * np.diag(1.0 / self.prior_vars[row])

    # ---- serialisation ------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        header = {
            "context_version": self.context_version,
            "counts": [int(c) for c in self.counts],
            "dims": CONTEXT_SIZE,
            "memory": self.memory,
            "models": list(self.model_ids),
            "version": self.version,
        }
        head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
        arrays = (self.means, self.covs, self.prior_means, self.prior_vars)
        body = b"".join(np.ascontiguousarray(a, dtype="<f8").tobytes() for a in arrays)
        return FORMAT + zlib.compress(struct.pack("<I", len(head)) + head + body, 6)

    @classmethod
    def from_bytes(cls, raw: bytes) -> QualityModel:
        """Read `to_bytes` output; ModelFormatError when it is not one or its layout differs."""
        if not raw.startswith(FORMAT):
            raise ModelFormatError("not a quality model")
        try:
            data = zlib.decompress(raw[len(FORMAT) :])
            (size,) = struct.unpack_from("<I", data)
            header = json.loads(data[4 : 4 + size])
        except (zlib.error, struct.error, ValueError) as exc:
            raise ModelFormatError(f"unreadable quality model: {exc}") from None
        if header["dims"] != CONTEXT_SIZE or header["context_version"] != CONTEXT_VERSION:
            raise ModelFormatError(
                f"model for context {header['context_version']}, this code uses {CONTEXT_VERSION}"
            )
        m, d = len(header["models"]), CONTEXT_SIZE
        flat = np.frombuffer(data, dtype="<f8", offset=4 + size)
        if flat.size != m * d * (3 + d):
            raise ModelFormatError("quality model arrays are truncated")
        cut = np.cumsum([m * d, m * d * d, m * d])
        means, covs, prior_means, prior_vars = np.split(flat.astype(np.float64), cut)
        return cls(
            model_ids=tuple(header["models"]),
            means=means.reshape(m, d),
            covs=covs.reshape(m, d, d),
            prior_means=prior_means.reshape(m, d),
            prior_vars=prior_vars.reshape(m, d),
            counts=np.asarray(header["counts"], dtype=np.int64),
            memory=int(header["memory"]),
            version=int(header["version"]),
            context_version=str(header["context_version"]),
        )


def quality_moments(mu: Array, sd: Array) -> tuple[Array, Array]:
    """(sigmoid(mu), sigmoid'(mu) x sd): a logit's posterior as quality and its uncertainty."""
    quality = sigmoid(mu)
    return quality, quality * (1.0 - quality) * sd


def _laplace(mean0: Array, precision0: Array, x: Array, y: Array) -> tuple[Array, Array]:
    """MAP of N(mean0, precision0^-1) x Bernoulli likelihood (soft labels), and the covariance
    at the MAP (inverse Hessian): one Laplace step of Bayesian logistic regression."""
    w = mean0.copy()
    hessian = precision0
    for _ in range(_NEWTON_STEPS):
        p = sigmoid(x @ w)
        gradient = precision0 @ (w - mean0) + x.T @ (p - y)
        hessian = precision0 + (x.T * (p * (1.0 - p))) @ x
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.max(np.abs(step))) < _NEWTON_TOLERANCE:
            break
    p = sigmoid(x @ w)
    hessian = precision0 + (x.T * (p * (1.0 - p))) @ x
    cov = np.linalg.inv(hessian)
    return w, 0.5 * (cov + cov.T)
