"""The model catalog: which models exist, what they cost, what they are good at. Data, not code.

The catalog lives in `catalog.toml` (or `CATALOG_PATH`). It is validated when loaded: an unknown
fallback, a missing price or a premium model that is not in the catalog stops the process at
start, so that no request is ever costed at $0 by mistake.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from shared.providers.table import PROVIDER_KEYS

PATTERNS = (
    "code",
    "math",
    "creative",
    "analysis",
    "factual",
    "summarization",
    "translation",
    "extraction",
    "general",
)
COMPLEXITIES = ("low", "medium", "high")


class ModelSpec(BaseModel):
    """One model as we can call it."""

    id: str = Field(min_length=1, description="our catalog id, also accepted as a forced model")
    provider: str = Field(description="a key of shared/providers/table.py")
    vendor_model: str = Field(min_length=1, description="the id sent to the vendor's API")
    tier: Literal["cheap", "middle", "premium"]
    input_per_mtok: float = Field(ge=0, description="USD per 1M input tokens")
    output_per_mtok: float = Field(ge=0, description="USD per 1M output tokens")
    context_window: int = Field(gt=0)
    max_output_tokens: int = Field(default=8192, gt=0)
    fallbacks: list[str] = Field(default_factory=list)
    quality: dict[str, float] = Field(description="prior expected quality 0-1 per pattern")
    source: str = Field(default="", description="where the price was read")
    replaces: list[str] = Field(
        default_factory=list,
        description="retired ids this model answers for when a client forces one of them",
    )

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, provider: str) -> str:
        if provider not in PROVIDER_KEYS:
            raise ValueError(f"unknown provider; one of {', '.join(PROVIDER_KEYS)}")
        return provider

    @model_validator(mode="after")
    def _check_quality(self) -> ModelSpec:
        if "default" not in self.quality:
            raise ValueError(f"model {self.id}: quality needs a 'default' entry")
        unknown = set(self.quality) - set(PATTERNS) - {"default"}
        if unknown:
            raise ValueError(f"model {self.id}: unknown patterns in quality: {sorted(unknown)}")
        if any(not 0 <= q <= 1 for q in self.quality.values()):
            raise ValueError(f"model {self.id}: quality values must be within 0..1")
        return self

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        """USD for this many tokens at catalog prices."""
        return (tokens_in * self.input_per_mtok + tokens_out * self.output_per_mtok) / 1_000_000

    def prior_quality(self, pattern: str) -> float:
        return self.quality.get(pattern, self.quality["default"])


class Catalog(BaseModel):
    """All models, indexed by id, with the baseline model used to compute savings."""

    default_premium_model: str
    models: list[ModelSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_references(self) -> Catalog:
        ids = [m.id for m in self.models]
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            raise ValueError(f"duplicate model ids in catalog: {sorted(duplicates)}")
        known = set(ids)
        if self.default_premium_model not in known:
            raise ValueError(f"default_premium_model {self.default_premium_model!r} is not listed")
        retired = [r for m in self.models for r in m.replaces]
        clashes = {r for r in retired if r in known or retired.count(r) > 1}
        if clashes:
            raise ValueError(f"retired ids that are listed or replaced twice: {sorted(clashes)}")
        for model in self.models:
            missing = [f for f in model.fallbacks if f not in known]
            if missing:
                raise ValueError(f"model {model.id}: unknown fallbacks {missing}")
            if model.id in model.fallbacks:
                raise ValueError(f"model {model.id}: falls back to itself")
        return self

    def get(self, model_id: str) -> ModelSpec:
        """The model with this id; KeyError names it when it is not in the catalog."""
        for model in self.models:
            if model.id == model_id:
                return model
        raise KeyError(f"model {model_id!r} is not in the catalog")

    def has(self, model_id: str) -> bool:
        return any(m.id == model_id for m in self.models)

    def resolve(self, model_id: str) -> str | None:
        """The catalog id a client's model id stands for: the id itself, the id of the model
        that replaces a retired one (clients that force an old id keep working), or None."""
        for model in self.models:
            if model.id == model_id or model_id in model.replaces:
                return model.id
        return None

    def baseline(self) -> ModelSpec:
        return self.get(self.default_premium_model)

    def available(self, providers: set[str]) -> list[ModelSpec]:
        """Models whose provider is configured in this process."""
        return [m for m in self.models if m.provider in providers]


def load_catalog(
    path: str | Path | None = None, default_premium_model: str | None = None
) -> Catalog:
    """Read and validate the catalog. Raises ValueError with the reason when it is wrong."""
    if path is None:
        raw = resources.files("shared.routing").joinpath("catalog.toml").read_text(encoding="utf-8")
    else:
        raw = Path(path).read_text(encoding="utf-8")
    data = tomllib.loads(raw)
    if default_premium_model:
        data["default_premium_model"] = default_premium_model
    return Catalog.model_validate(data)
