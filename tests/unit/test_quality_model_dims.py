"""The quality model's block size comes from its arrays: production models have the context's
size, and a scratch evaluation (bench/bandit_full_information.py) can widen one."""

import dataclasses

import numpy as np
import pytest

from shared.routing.bandit.context import CONTEXT_SIZE
from shared.routing.bandit.outcomes import Outcome
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.catalog import Catalog
from tests.unit.bandit_support import simulated_model

CATALOG = Catalog(
    default_premium_model="premium",
    models=[simulated_model("cheap", 1.0, 0.7), simulated_model("premium", 100.0, 0.9)],
)


def widened(model: QualityModel, extra: int) -> QualityModel:
    blocks = len(model.model_ids) + 1

    def grow(a: np.ndarray, fill: float) -> np.ndarray:
        pad = np.full((blocks, extra), fill)
        return np.concatenate([a.reshape(blocks, model.dims), pad], axis=1).ravel()

    prior_var = grow(model.prior_var, 1.0)
    mean = grow(model.prior_mean, 0.0)
    return dataclasses.replace(
        model, mean=mean, prior_mean=mean.copy(), prior_var=prior_var,
        precision=np.diag(1.0 / prior_var),
    )  # fmt: skip


def test_a_models_block_size_is_the_context_size() -> None:
    assert QualityModel.prior(CATALOG).dims == CONTEXT_SIZE


def test_arrays_that_are_not_whole_blocks_are_refused() -> None:
    model = QualityModel.prior(CATALOG)
    with pytest.raises(ValueError, match="do not match"):
        dataclasses.replace(model, mean=np.zeros(model.mean.size + 1))


def test_a_widened_model_learns_from_its_extra_number_and_refuses_short_vectors() -> None:
    model = widened(QualityModel.prior(CATALOG), 2)
    assert model.dims == CONTEXT_SIZE + 2

    def x(flag: int) -> np.ndarray:
        v = np.zeros(model.dims, dtype=np.float32)
        v[0] = 1.0
        v[CONTEXT_SIZE + flag] = 1.0
        return v

    # The cheap model is right exactly when the first extra number is set.
    outcomes = [Outcome("cheap", x(flag), float(flag == 0)) for flag in (0, 1) * 100]
    learned = model.updated(outcomes)
    good, _ = learned.predict(["cheap"], x(0))
    bad, _ = learned.predict(["cheap"], x(1))
    assert good[0] > 0.9 and bad[0] < 0.1
    with pytest.raises(ValueError, match="numbers"):
        model.updated([Outcome("cheap", np.ones(CONTEXT_SIZE, dtype=np.float32), 1.0)])
