"""The quality model travels whole on the overrides fanout (and in the learner's RPC reply to
a starting router): its largest message stays far below the broker's message size limit."""

from __future__ import annotations

import base64

import numpy as np

from schemas.messages import QualityModelPublished
from shared.routing.bandit.context import CONTEXT_SIZE
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.catalog import Catalog, load_catalog
from shared.routing.stored_features import CONTEXT_NUMBER

# RabbitMQ's default max_message_size from 4.0 on (128 MiB before); docker-compose runs 4.1.
# A larger message is refused by the broker (the publisher's channel is closed).
BROKER_LIMIT = 16 * 1024 * 1024


def largest_event(catalog: Catalog, version: int = 1) -> QualityModelPublished:
    """A model in which every catalog model has learned (every precision block filled, the
    values random: what compresses least), as the learner publishes it."""
    rng = np.random.default_rng(0)
    model = QualityModel.prior(catalog)
    batches = {}
    for row in range(len(model.model_ids)):
        x = rng.standard_normal((400, CONTEXT_SIZE))
        x[:, 0] = 1.0
        batches[row] = (x, (rng.random(400) < 0.7).astype(np.float64))
    learned = model.updated_arrays(batches)
    return QualityModelPublished(
        version=version,
        context_version=CONTEXT_NUMBER,
        model=base64.b64encode(learned.to_bytes()).decode("ascii"),
        rows_used=400 * len(model.model_ids),
        parent_version=None,
        restored_from=None,
    )


def test_the_largest_model_message_leaves_room_for_a_catalog_eight_times_larger() -> None:
    catalog = load_catalog()
    body = len(largest_event(catalog).model_dump_json().encode())
    # Measured: 18 models, about 0.67 MB (37 KB a model: its own 48x48 block and its block
    # against the shared weights, float64, zlib, base64).
    assert body / len(catalog.models) < 40_000
    assert body * 8 < BROKER_LIMIT
