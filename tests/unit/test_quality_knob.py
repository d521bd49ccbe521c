"""The decision knob on the wire: `constraints.quality_target` (strict, 0-1), its key default,
and the stored-features field of RouteCompleted."""

from __future__ import annotations

import base64
import json

import jsonschema
import numpy as np
import pytest
from pydantic import ValidationError

from schemas.export import json_schema
from schemas.messages import MAX_FEATURES, RouteCompleted, RouteConstraints
from services.ingress.key_rules import constrain
from services.ingress.models import RouteBody
from services.learner.quality import retrain_arrays
from shared.routing.bandit.context import CONTEXT_SIZE
from shared.routing.bandit.outcomes import Outcome
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.catalog import load_catalog
from shared.routing.retrain import retrain_quality_model
from shared.routing.stored_features import (
    decode_features,
    encode_features,
    stored_bytes,
)
from shared.settings import Settings
from shared.storage.apikeys import ApiKeyInfo


@pytest.mark.parametrize("value", [0, 0.5, 0.95, 1])
def test_quality_target_accepts_numbers_within_zero_and_one(value: float) -> None:
    assert RouteConstraints.model_validate({"quality_target": value}).quality_target == value


@pytest.mark.parametrize("value", [-0.01, 1.01, "0.9", True, None])
def test_quality_target_refuses_strings_booleans_and_numbers_outside(value: object) -> None:
    if value is None:
        assert RouteConstraints.model_validate({"quality_target": None}).quality_target is None
        return
    with pytest.raises(ValidationError) as caught:
        RouteConstraints.model_validate({"quality_target": value})
    assert caught.value.errors()[0]["loc"] == ("quality_target",)


def test_an_http_body_with_a_bad_target_names_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        RouteBody.model_validate_json(
            json.dumps({"prompt": "hi", "constraints": {"quality_target": 2}})
        )
    assert caught.value.errors()[0]["loc"] == ("constraints", "quality_target")


def test_the_json_schema_bounds_the_target_like_the_model() -> None:
    validator = jsonschema.Draft202012Validator(json_schema("RouteRequest"))
    good = {"messages": [{"role": "user", "content": "hi"}], "constraints": {"quality_target": 0.9}}
    assert not list(validator.iter_errors(good))
    bad = {"messages": [{"role": "user", "content": "hi"}], "constraints": {"quality_target": 1.5}}
    assert list(validator.iter_errors(bad))


def test_the_setting_defaults_to_095() -> None:
    assert Settings(_env_file=None).quality_target == 0.95  # type: ignore[call-arg]


def test_a_key_target_is_the_default_and_the_request_wins() -> None:
    key = ApiKeyInfo(id="key_1", scope="client", quality_target=0.9)
    assert key.has_rules
    assert constrain(key, RouteConstraints()).quality_target == 0.9
    assert constrain(key, RouteConstraints(quality_target=0.7)).quality_target == 0.7
    assert constrain(None, RouteConstraints()).quality_target is None


def _event(**fields: object) -> RouteCompleted:
    return RouteCompleted.model_validate(
        {"request_id": "0" * 8 + "-0000-4000-8000-" + "0" * 12, "ok": True, "prompt_hash": "h",
         **fields}
    )  # fmt: skip


def test_features_round_trip_as_float16() -> None:
    vector = np.linspace(-4, 4, 33, dtype=np.float32)
    event = _event(features=encode_features(vector), context_version=1)
    assert event.features is not None
    raw = stored_bytes(event.features)
    assert len(raw) == 66
    np.testing.assert_allclose(decode_features(raw), vector, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize(
    "features",
    [
        "not base64!",
        base64.b64encode(b"abc").decode(),  # odd length: not float16
        base64.b64encode(bytes(2 * MAX_FEATURES + 2)).decode(),  # too many numbers
    ],
)
def test_features_that_are_not_a_bounded_float16_vector_are_refused(features: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _event(features=features, context_version=1)
    assert caught.value.errors()[0]["loc"] == ("features",)


def test_the_largest_vector_fits_the_schema_and_the_column() -> None:
    event = _event(features=encode_features(np.zeros(MAX_FEATURES)), context_version=1)
    assert event.features is not None
    assert len(stored_bytes(event.features)) == 2048  # the column's CHECK
    validator = jsonschema.Draft202012Validator(json_schema("RouteCompleted"))
    assert not list(validator.iter_errors(json.loads(event.model_dump_json())))


def test_the_learner_fits_arrays_exactly_as_the_retrain_step_fits_outcomes() -> None:
    catalog = load_catalog()
    prior = QualityModel.prior(catalog)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, CONTEXT_SIZE)).astype(np.float32)
    x[:, 0] = 1.0
    y = (rng.random(30) < 0.7).astype(np.float64)
    models = ["simulated-fast", "simulated-premium"]
    outcomes = [Outcome(models[i % 2], x[i], float(y[i])) for i in range(30)]
    batches = {m: (x[i::2].astype(np.float64), y[i::2]) for i, m in enumerate(models)}
    batches["not-in-the-catalog"] = (x[:2].astype(np.float64), y[:2])
    by_step = retrain_quality_model(prior, outcomes)
    by_arrays = retrain_arrays(prior, batches)
    ids = [m.id for m in catalog.models]
    for row in range(5):
        np.testing.assert_allclose(
            by_arrays.predict(ids, x[row])[0], by_step.predict(ids, x[row])[0], rtol=1e-9
        )
