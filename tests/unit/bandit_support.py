"""Catalog entries for the bandit's unit tests: simulated models at a given price and quality."""

from __future__ import annotations

from collections.abc import Mapping

from shared.routing.catalog import ModelSpec


def simulated_model(
    model_id: str, price: float, quality: float, by_pattern: Mapping[str, float] | None = None
) -> ModelSpec:
    """A simulated model priced `price` USD per million tokens in and out, whose catalog
    prior quality is `quality` for every pattern except those in `by_pattern`."""
    return ModelSpec(
        id=model_id,
        provider="simulated",
        vendor_model=model_id,
        tier="cheap",
        input_per_mtok=price,
        output_per_mtok=price,
        context_window=100_000,
        quality={"default": quality, **(by_pattern or {})},
    )
