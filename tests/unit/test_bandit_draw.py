"""The precomputed scoring of the quality model (`bandit.logits`): the moments of the full
posterior, the same greedy choice as the plain formula, and Thompson draws with the mean and
covariance the module documents."""

import dataclasses
import random

import numpy as np
import pytest

from shared.routing.bandit.chooser import choose
from shared.routing.bandit.context import CONTEXT_SIZE, EMBEDDING_SLICE, PATTERN_SLICE
from shared.routing.bandit.logits import LogitPosterior
from shared.routing.bandit.outcomes import Outcome
from shared.routing.bandit.params import BanditParams
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.catalog import Catalog, ModelSpec
from tests.unit.bandit_support import simulated_model

D = CONTEXT_SIZE
PLAIN = dataclasses.replace(BanditParams(), confidence_z=0.0)  # the rule on the means alone
PRICES = {"a": 0.1, "b": 0.3, "c": 1.0, "d": 3.0, "e": 10.0}


def spec(model_id: str, quality: float) -> ModelSpec:
    return simulated_model(model_id, PRICES[model_id], quality)


CATALOG = Catalog(
    default_premium_model="e",
    models=[spec(m, q) for m, q in zip(PRICES, (0.6, 0.7, 0.8, 0.85, 0.9), strict=True)],
)


def contexts(rng: np.random.Generator, n: int) -> np.ndarray:
    x = np.zeros((n, D), dtype=np.float32)
    x[:, 0] = 1.0
    x[:, EMBEDDING_SLICE] = rng.normal(0.0, 1.0, (n, EMBEDDING_SLICE.stop - 1))
    x[:, PATTERN_SLICE] = rng.dirichlet(np.full(PATTERN_SLICE.stop - PATTERN_SLICE.start, 0.3), n)
    x[:, -1] = rng.uniform(-1.0, 1.0, n)
    return x


@pytest.fixture(scope="module")
def learned() -> QualityModel:
    """A model fitted on ratings of every model (unequal amounts), so that the shared and own
    blocks are correlated in its posterior."""
    rng = np.random.default_rng(0)
    xs = contexts(rng, 1500)
    which = rng.choice(len(PRICES), 1500, p=[0.5, 0.25, 0.15, 0.07, 0.03])
    hidden = rng.normal(0.0, 0.5, (len(PRICES), D))
    chance = 1 / (1 + np.exp(-(np.einsum("nd,nd->n", xs, hidden[which]) + 1.0)))
    ids = list(PRICES)
    outcomes = [
        Outcome(ids[w], xs[i], float(rng.random() < chance[i])) for i, w in enumerate(which)
    ]
    return QualityModel.prior(CATALOG).updated(outcomes)


def exact_logit_moments(
    model: QualityModel, cov: np.ndarray, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean vector and covariance matrix of every model's logit, and x'S_00 x, from `cov`, the
    full inverse of the model's precision."""
    m = len(model.model_ids)
    pick = np.zeros((m, (m + 1) * D))  # logit_i = pick_i . w = x . (w_0 + w_i)
    for i in range(m):
        pick[i, :D] = x
        pick[i, (i + 1) * D : (i + 2) * D] = x
    return pick @ model.mean, pick @ cov @ pick.T, float(x @ cov[:D, :D] @ x)


def test_moments_are_those_of_the_full_posterior(learned: QualityModel) -> None:
    ids = list(learned.model_ids)
    full = np.linalg.inv(learned.precision)
    for x in contexts(np.random.default_rng(1), 20):
        mean, cov, _ = exact_logit_moments(learned, full, x.astype(np.float64))
        mu, sd = learned.logit_moments(ids, x)
        assert mu == pytest.approx(mean, rel=1e-4, abs=1e-4)
        assert sd == pytest.approx(np.sqrt(np.diag(cov)), rel=1e-3)


def test_own_sd_is_what_the_draw_gives_each_model_apart_from_the_shared_block(
    learned: QualityModel,
) -> None:
    """`logit_spread`'s own sd is sqrt(v_i - min(s, v_i)), v_i and s = x'S_00 x from the full
    inverse of the precision; its sd is `logit_moments`' sd."""
    ids = list(learned.model_ids)
    full = np.linalg.inv(learned.precision)
    owns = []
    for x in contexts(np.random.default_rng(5), 20):
        _, cov, shared = exact_logit_moments(learned, full, x.astype(np.float64))
        v = np.diag(cov)
        mu, sd, own = learned.logit_spread(ids, x)
        assert mu == pytest.approx(learned.logit_moments(ids, x)[0])
        assert sd == pytest.approx(np.sqrt(v), rel=1e-3)
        assert own == pytest.approx(np.sqrt(v - np.minimum(shared, v)), rel=1e-2, abs=1e-3)
        owns.extend(own.tolist())
    # Both cases occur: models known better than the shared block (own 0) and models not.
    assert min(owns) < 1e-3 < max(owns)


def test_greedy_choice_is_the_plain_rule_on_the_mean_logits(learned: QualityModel) -> None:
    """The cheapest candidate whose sigmoid(mean logit) reaches the target's per-prompt bar x the
    best, computed in float64 from the stored mean: the same model on random contexts,
    candidates and targets."""
    rng = np.random.default_rng(2)
    ids = list(learned.model_ids)
    for i, x in enumerate(contexts(rng, 400)):
        target = (0.7, 0.85, 0.9, 0.95, 0.99)[i % 5]
        costs = dict(zip(ids, rng.lognormal(0.0, 2.0, len(ids)).tolist(), strict=True))
        mean = (
            np.asarray(x, dtype=np.float64) @ (learned.mean[:D] + learned.mean[D:].reshape(-1, D)).T
        )
        quality = 1 / (1 + np.exp(-mean))
        best = quality.max()
        expected = min(
            (costs[m], m)
            for m, q in zip(ids, quality, strict=True)
            if q >= PLAIN.bar(target) * best
        )[1]
        chosen = choose(
            CATALOG.models, learned, x, target, random.Random(0), None, costs=costs, params=PLAIN
        )
        assert chosen.model_id == expected


def test_thompson_draws_have_the_documented_mean_and_covariance(learned: QualityModel) -> None:
    """20,000 draws at one context: each logit's mean within 4 standard errors of its posterior
    mean, its variance the posterior's, and every pair moving together through the shared
    block: Cov(i, j) = sqrt(c_i c_j), c_i = min(x'S_00 x, v_i) (`logits` module doc)."""
    x = contexts(np.random.default_rng(3), 1)[0]
    full = np.linalg.inv(learned.precision)
    mean, cov, shared = exact_logit_moments(learned, full, x.astype(np.float64))
    variance = np.diag(cov)
    common = np.minimum(shared, variance)
    expected = np.sqrt(np.outer(common, common))
    np.fill_diagonal(expected, variance)
    rng = random.Random(4)
    ids = list(learned.model_ids)
    n = 20_000
    draws = np.array([learned.draw(ids, x, rng)[2] for _ in range(n)])
    sd = np.sqrt(variance)
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 4 * sd / np.sqrt(n))
    # On the correlation scale each entry's sampling sd is below 1 / sqrt(n) = 0.007.
    scale = np.outer(sd, sd)
    assert np.abs(np.cov(draws, rowvar=False) / scale - expected / scale).max() < 0.04
    assert (expected / scale)[~np.eye(len(ids), dtype=bool)].min() > 0.1  # not independent


def test_a_precision_coupling_two_models_is_refused(learned: QualityModel) -> None:
    precision = learned.precision.copy()
    precision[D, 2 * D] = precision[2 * D, D] = 1e-3  # models 0 and 1 coupled
    with pytest.raises(ValueError, match="couples"):
        LogitPosterior.of(learned.mean, precision, len(learned.model_ids), D)
