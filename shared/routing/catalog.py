"""The model catalog: which models exist, what they cost, what they are good at. Data, not code.

The catalog lives in `catalog.toml` (or `CATALOG_PATH`). It is validated when loaded: an unknown
fallback, a missing price or a premium model that is not in the catalog stops the process at
start, so that no request is ever costed at $0 by mistake.
"""

from __future__ import annotations

import tomllib
from collections.abc import Set as AbstractSet
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from shared.providers.table import PROVIDER_KEYS
from shared.routing.overlay import apply_overlay

if TYPE_CHECKING:
    from shared.settings import Settings

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


Sampling = Literal["temperature", "top_p", "stop", "seed"]


class Capabilities(BaseModel):
    """What a model can honour besides plain text in and out. A request that needs more than
    these is never sent to it (the policy and the fallback chain skip it and say why)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tools: bool = False
    vision: bool = False
    json_object: bool = False
    json_schema: bool = False
    sampling: frozenset[Sampling] = frozenset({"temperature", "top_p", "stop"})


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
    capabilities: Capabilities = Field(default_factory=Capabilities)
    same_as: str | None = Field(
        default=None,
        description="the catalog id of the same model on another provider; fallback tries "
        "it first, and a forced model falls over only to it",
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
    _by_id: dict[str, ModelSpec] = PrivateAttr(default_factory=dict)
    _twins: dict[str, tuple[ModelSpec, ...]] = PrivateAttr(default_factory=dict)
    _indexed: list[ModelSpec] | None = PrivateAttr(default=None)

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
            twin = model.same_as
            if twin is not None and (twin not in known or twin == model.id):
                raise ValueError(f"model {model.id}: same_as {twin!r} is not another listed id")
            missing = [f for f in model.fallbacks if f not in known]
            if missing:
                raise ValueError(f"model {model.id}: unknown fallbacks {missing}")
            if model.id in model.fallbacks:
                raise ValueError(f"model {model.id}: falls back to itself")
        self._index()
        return self

    def _index(self) -> None:
        # Looked up for every candidate of every decision: dictionaries, built once per list
        # of models (`model_copy(update=...)` skips validation, hence the check in `_lookup`).
        self._indexed = self.models
        self._by_id = {m.id: m for m in self.models}
        groups: dict[str, list[ModelSpec]] = {}
        for model in self.models:
            root = self._root(model)
            groups.setdefault(root, []).append(model)
        self._twins = {
            m.id: tuple(t for t in groups[self._root(m)] if t.id != m.id) for m in self.models
        }

    def _root(self, model: ModelSpec) -> str:
        seen = {model.id}
        while model.same_as is not None and model.same_as not in seen:
            seen.add(model.same_as)
            model = self._by_id[model.same_as]
        return model.id

    def get(self, model_id: str) -> ModelSpec:
        """The model with this id; KeyError names it when it is not in the catalog."""
        try:
            return self._lookup()[model_id]
        except KeyError:
            raise KeyError(f"model {model_id!r} is not in the catalog") from None

    def has(self, model_id: str) -> bool:
        return model_id in self._lookup()

    def twins(self, model_id: str) -> tuple[ModelSpec, ...]:
        """The same model on other providers (linked by `same_as`), in catalog order."""
        self._lookup()
        return self._twins.get(model_id, ())

    def _lookup(self) -> dict[str, ModelSpec]:
        # The private dict itself: attribute access to private fields goes through pydantic's
        # __getattr__, which costs more than the lookup.
        private = self.__pydantic_private__ or {}
        if private.get("_indexed") is not self.models:
            self._index()
            private = self.__pydantic_private__ or {}
        by_id: dict[str, ModelSpec] = private["_by_id"]
        return by_id

    def resolve(self, model_id: str) -> str | None:
        """The catalog id a client's model id stands for: the id itself, the id of the model
        that replaces a retired one (clients that force an old id keep working), or None."""
        for model in self.models:
            if model.id == model_id or model_id in model.replaces:
                return model.id
        return None

    def baseline(self) -> ModelSpec:
        return self.get(self.default_premium_model)

    def available(self, providers: AbstractSet[str]) -> list[ModelSpec]:
        """Models whose provider is configured in this process."""
        return [m for m in self.models if m.provider in providers]


def load_catalog(
    path: str | Path | None = None,
    default_premium_model: str | None = None,
    overlay_path: str | Path | None = None,
) -> Catalog:
    """Read and validate the catalog, with the overlay applied when one is named (see
    overlay.py). Raises ValueError with the reason when it is wrong, OSError when unreadable."""
    if path is None:
        raw = resources.files("shared.routing").joinpath("catalog.toml").read_text(encoding="utf-8")
    else:
        raw = Path(path).read_text(encoding="utf-8")
    data = tomllib.loads(raw)
    if default_premium_model:
        data["default_premium_model"] = default_premium_model
    if overlay_path:
        data = apply_overlay(data, tomllib.loads(Path(overlay_path).read_text(encoding="utf-8")))
    return Catalog.model_validate(data)


def catalog_for(settings: Settings) -> Catalog:
    """The catalog these settings name: CATALOG_PATH, DEFAULT_PREMIUM_MODEL and
    CATALOG_OVERLAY_PATH (which may change the premium model too)."""
    return load_catalog(
        settings.catalog_path, settings.default_premium_model, settings.catalog_overlay_path
    )
