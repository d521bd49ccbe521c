"""The bandit's quality model: P(good answer | prompt context, model), with its uncertainty.

A Bayesian logistic regression over every model at once (`laplace`): model i scores a context x
as sigmoid((w_0 + w_i) . x), w_0 shared by all models (prompt difficulty), w_i its own. The
posterior is one Gaussian over all blocks (Laplace approximation, full precision matrix; D is
`context.CONTEXT_SIZE`, small). `updated` takes the current posterior as the prior and adds the
new outcomes. Before it does, old precision decays toward the prior's, per block, by how many
outcomes that block receives (`BanditParams.memory`): a model that changes is followed, and
directions never observed keep the prior's uncertainty.

Cold start (`prior`): each model's pattern weights are the logits of the catalog's prior quality
for each pattern, so a one-hot pattern predicts exactly the catalog prior; the rest start at 0.

A published model is never mutated: `updated` returns a new object. `to_bytes` is a small,
deterministic binary (a JSON header and little-endian float64 arrays, zlib), no pickle.
"""

from __future__ import annotations

import json
import math
import random
import struct
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from shared.routing.bandit import laplace
from shared.routing.bandit.context import (
    CONTEXT_SIZE,
    CONTEXT_VERSION,
    EMBEDDING_SLICE,
    LENGTH_INDEX,
    LEXICAL_SLICE,
    PATTERN_SLICE,
)
from shared.routing.bandit.logits import LogitPosterior
from shared.routing.bandit.outcomes import Outcome
from shared.routing.bandit.params import BanditParams
from shared.routing.catalog import PATTERNS, Catalog, ModelSpec

FORMAT = b"QMODEL2\n"
_PRIOR_CLIP = 0.02  # catalog priors of 0 or 1 would be infinite logits
D = CONTEXT_SIZE
_ROW_CACHE = 1024  # distinct candidate lists remembered per model (cleared past this)

Array = npt.NDArray[np.float64]
Floats = npt.NDArray[np.floating]
sigmoid = laplace.sigmoid


class ModelFormatError(ValueError):
    """Bytes that are not a quality model of this format."""


def _logit(q: float) -> float:
    q = min(max(q, _PRIOR_CLIP), 1 - _PRIOR_CLIP)
    return math.log(q / (1 - q))


def _variances(
    sd_intercept: float, sd_embedding: float, sd_length: float, sd_lexical: float
) -> Array:
    var = np.empty(D)
    var[0] = var[PATTERN_SLICE] = sd_intercept**2
    var[EMBEDDING_SLICE] = sd_embedding**2
    var[LENGTH_INDEX] = sd_length**2
    var[LEXICAL_SLICE] = sd_lexical**2
    return var


def shared_prior(params: BanditParams) -> tuple[Array, Array]:
    """(mean, variance) of the shared block: centred on 0."""
    var = _variances(
        params.prior_sd_shared,
        params.prior_sd_embedding,
        params.prior_sd_length,
        params.prior_sd_lexical,
    )
    return np.zeros(D), var


def model_prior(spec: ModelSpec, params: BanditParams) -> tuple[Array, Array]:
    """(mean, variance) of one model's block: its catalog priors per pattern (module doc)."""
    mean = np.zeros(D)
    mean[PATTERN_SLICE] = [_logit(spec.prior_quality(p)) for p in PATTERNS]
    var = _variances(
        params.prior_sd_pattern,
        params.prior_sd_embedding_model,
        params.prior_sd_length,
        params.prior_sd_lexical,
    )
    return mean, var


def quality_moments(mu: Floats, sd: Floats) -> tuple[Array, Array]:
    """(sigmoid(mu), sigmoid'(mu) x sd): a logit's posterior as quality and its uncertainty."""
    quality = sigmoid(mu)
    return quality, quality * (1.0 - quality) * sd


@dataclass(frozen=True, slots=True, eq=False)
class QualityModel:
    """The joint posterior of every known model; arrays are read-only.

    `mean` / `precision` cover (1 + M) blocks of D weights (shared, then `model_ids` in order);
    `prior_mean` / `prior_var` are the cold start (forgetting decays toward it); `counts` the
    outcomes learned per model; `version` is set by the caller that publishes it.
    """

    model_ids: tuple[str, ...]
    mean: Array
    precision: Array
    prior_mean: Array
    prior_var: Array
    counts: npt.NDArray[np.int64]
    memory: int = BanditParams().memory
    version: int = 0
    context_version: str = CONTEXT_VERSION
    _index: dict[str, int] = field(init=False, repr=False)
    _logits: LogitPosterior = field(init=False, repr=False)
    _rows: dict[tuple[str, ...], npt.NDArray[np.intp]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        m = len(self.model_ids)
        size = self.mean.size
        if size % (m + 1) or self.mean.shape != (size,) or self.precision.shape != (size, size):
            raise ValueError("quality model arrays do not match its models")
        object.__setattr__(self, "_index", {mid: i for i, mid in enumerate(self.model_ids)})
        # Candidate lists repeat (the same catalog, the same constraints): their row indices
        # are remembered (at most _ROW_CACHE lists).
        object.__setattr__(self, "_rows", {})
        object.__setattr__(
            self, "_logits", LogitPosterior.of(self.mean, self.precision, m, self.dims)
        )

    @property
    def dims(self) -> int:
        """Numbers per context vector: `context.CONTEXT_SIZE` for every model this code builds
        or reads; derived from the arrays so that a scratch evaluation (bench/) can widen a
        model's context without a second code path."""
        return self.mean.size // (len(self.model_ids) + 1)

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
        blocks = [shared_prior(params), *(model_prior(s, params) for s in specs)]
        mean = np.concatenate([b[0] for b in blocks])
        var = np.concatenate([b[1] for b in blocks])
        return cls(
            model_ids=tuple(s.id for s in specs),
            mean=mean,
            precision=np.diag(1.0 / var),
            prior_mean=mean.copy(),
            prior_var=var,
            counts=np.zeros(len(specs), dtype=np.int64),
            memory=params.memory,
        )

    def covering(
        self, catalog: Catalog | Iterable[ModelSpec], params: BanditParams | None = None
    ) -> QualityModel:
        """This model plus a cold-start block for each listed model it does not know yet."""
        params = params or BanditParams()
        specs = list(catalog.models if isinstance(catalog, Catalog) else catalog)
        missing = [s for s in specs if s.id not in self._index]
        if not missing:
            return self
        blocks = [model_prior(s, params) for s in missing]
        extra_var = np.concatenate([b[1] for b in blocks])
        size = self.mean.size + extra_var.size
        precision = np.zeros((size, size))
        precision[: self.mean.size, : self.mean.size] = self.precision
        precision[self.mean.size :, self.mean.size :] = np.diag(1.0 / extra_var)
        extra_mean = np.concatenate([b[0] for b in blocks])
        return replace(
            self,
            model_ids=self.model_ids + tuple(s.id for s in missing),
            mean=np.concatenate((self.mean, extra_mean)),
            precision=precision,
            prior_mean=np.concatenate((self.prior_mean, extra_mean)),
            prior_var=np.concatenate((self.prior_var, extra_var)),
            counts=np.concatenate((self.counts, np.zeros(len(missing), dtype=np.int64))),
        )

    def with_version(self, version: int) -> QualityModel:
        return replace(self, version=version)

    # ---- scoring ------------------------------------------------------------------------
    def knows(self, model_id: str) -> bool:
        return model_id in self._index

    def _rows_of(self, model_ids: Sequence[str]) -> npt.NDArray[np.intp]:
        key = tuple(model_ids)
        rows = self._rows.get(key)
        if rows is None:
            if len(self._rows) >= _ROW_CACHE:
                self._rows.clear()
            rows = self._rows[key] = np.array([self._index[m] for m in key], dtype=np.intp)
        return rows

    def logit_moments(self, model_ids: Sequence[str], x: Floats) -> tuple[Floats, Floats]:
        """Mean and standard deviation of each model's logit at x (KeyError: unknown model)."""
        mu, var = self._logits.moments(self._rows_of(model_ids), x)
        return mu, np.sqrt(var)

    def logit_spread(self, model_ids: Sequence[str], x: Floats) -> tuple[Floats, Floats, Floats]:
        """(mean, sd, own sd) of each model's logit at x; the own sd is the part of the
        uncertainty not shared with the other models (`logits.LogitPosterior.spread`), the part
        that matters when two models are compared on the same prompt."""
        mu, var, own = self._logits.spread(self._rows_of(model_ids), x)
        return mu, np.sqrt(var), np.sqrt(own)

    def predict(self, model_ids: Sequence[str], x: Floats) -> tuple[Array, Array]:
        """(predicted quality, its uncertainty) per model, both in 0..1.

        The prediction is sigmoid of the posterior mean logit (the posterior median of the
        quality: at cold start exactly the catalog prior for a one-hot pattern); the
        uncertainty is the logit's standard deviation carried through the sigmoid's slope.
        """
        return quality_moments(*self.logit_moments(model_ids, x))

    def draw(
        self, model_ids: Sequence[str], x: Floats, rng: random.Random
    ) -> tuple[Floats, Floats, Floats]:
        """(mean logits, their sd, one posterior draw of the logits) for Thompson sampling.

        Each logit's marginal is its posterior; the shared block's part is drawn once and moves
        every model together (drawing each model on its own would overstate how much they differ
        while the shared part is uncertain, and explore too much). The exact distribution is in
        the `logits` module doc.
        """
        mu, var, drawn = self._logits.draw(self._rows_of(model_ids), x, rng)
        return mu, np.sqrt(var), drawn

    # ---- learning -----------------------------------------------------------------------
    def updated(self, outcomes: Iterable[Outcome]) -> QualityModel:
        """A new model: this posterior as the prior, the outcomes added (unknown models skipped)."""
        grouped: dict[int, tuple[list[Floats], list[float]]] = defaultdict(lambda: ([], []))
        for outcome in outcomes:
            row = self._index.get(outcome.model_id)
            if row is not None:
                grouped[row][0].append(outcome.x)
                grouped[row][1].append(outcome.y)
        return self.updated_arrays(
            {
                row: (np.asarray(xs, dtype=np.float64), np.asarray(ys))
                for row, (xs, ys) in grouped.items()
            }
        )

    def updated_arrays(self, batches: laplace.Batches) -> QualityModel:
        """`updated` over arrays: model row -> (X (n, D), y (n,))."""
        batches = {row: b for row, b in batches.items() if len(b[1])}
        if not batches:
            return self
        for x, _ in batches.values():
            if x.shape[1] != self.dims:
                raise ValueError(f"context vectors have {x.shape[1]} numbers, not {self.dims}")
        new = np.zeros(len(self.model_ids), dtype=np.int64)
        for row, (_, y) in batches.items():
            new[row] = len(y)
        mean, precision = laplace.fit(self.mean, self._decayed(new), batches, self.dims)
        return replace(self, mean=mean, precision=precision, counts=self.counts + new)

    def _decayed(self, new: npt.NDArray[np.int64]) -> Array:
        """The precision with old evidence faded by the outcomes each block is about to get."""
        if self.memory <= 0:
            return self.precision
        keep = (1.0 - 1.0 / self.memory) ** np.concatenate(([new.sum()], new))
        scale = np.repeat(np.sqrt(keep), self.dims)
        faded: Array = self.precision * scale[:, None] * scale[None, :]
        return faded + np.diag((1.0 - scale**2) / self.prior_var)

    # ---- serialisation ------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        header = {
            "context_version": self.context_version,
            "counts": [int(c) for c in self.counts],
            "dims": self.dims,
            "memory": self.memory,
            "models": list(self.model_ids),
            "version": self.version,
        }
        head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
        upper = self.precision[np.triu_indices(self.mean.size)]
        arrays = (self.mean, upper, self.prior_mean, self.prior_var)
        body = b"".join(np.ascontiguousarray(a, dtype="<f8").tobytes() for a in arrays)
        return FORMAT + zlib.compress(struct.pack("<I", len(head)) + head + body, 6)

    @classmethod
    def from_bytes(cls, raw: bytes) -> QualityModel:
        """Read `to_bytes` output; ModelFormatError when it is not one or its layout differs."""
        if not raw.startswith(FORMAT):
            raise ModelFormatError("not a quality model of this format")
        try:
            data = zlib.decompress(raw[len(FORMAT) :])
            (size,) = struct.unpack_from("<I", data)
            header = json.loads(data[4 : 4 + size])
        except (zlib.error, struct.error, ValueError) as exc:
            raise ModelFormatError(f"unreadable quality model: {exc}") from None
        if header["dims"] != D or header["context_version"] != CONTEXT_VERSION:
            raise ModelFormatError(
                f"model for context {header['context_version']}, this code uses {CONTEXT_VERSION}"
            )
        p = (len(header["models"]) + 1) * D
        tri = p * (p + 1) // 2
        flat = np.frombuffer(data, dtype="<f8", offset=4 + size).astype(np.float64)
        if flat.size != 3 * p + tri:
            raise ModelFormatError("quality model arrays are truncated")
        mean, upper, prior_mean, prior_var = np.split(flat, np.cumsum([p, tri, p]))
        precision = np.zeros((p, p))
        precision[np.triu_indices(p)] = upper
        precision = precision + np.triu(precision, 1).T
        return cls(
            model_ids=tuple(header["models"]),
            mean=mean,
            precision=precision,
            prior_mean=prior_mean,
            prior_var=prior_var,
            counts=np.asarray(header["counts"], dtype=np.int64),
            memory=int(header["memory"]),
            version=int(header["version"]),
            context_version=str(header["context_version"]),
        )
