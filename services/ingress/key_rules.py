"""A key's model rules, applied to every request it sends (`optimizer keys create/update`).

The rules become route constraints, so the policy enforces them while it chooses and while it
builds the fallback chain (never by a check after the choice): a key limited to two models is
never answered by a third, even when both fail. A request may narrow its key's rules but not
widen them; its own `min_quality` replaces the key's quality floor, its own `quality_target`
the key's default target.
"""

from __future__ import annotations

from schemas.messages import RouteConstraints
from shared.routing.catalog import ModelSpec
from shared.storage.apikeys import ApiKeyInfo


def constrain(key: ApiKeyInfo | None, constraints: RouteConstraints) -> RouteConstraints:
    """The request's constraints within its key's rules."""
    if key is None or not key.has_rules:
        return constraints
    return constraints.model_copy(
        update={
            "allowed_models": _narrowest(constraints.allowed_models, key.allowed_models),
            "allowed_providers": _narrowest(constraints.allowed_providers, key.allowed_providers),
            "min_quality": constraints.min_quality
            if constraints.min_quality is not None
            else key.min_quality,
            "quality_target": constraints.quality_target
            if constraints.quality_target is not None
            else key.quality_target,
            "max_cost_usd": min(
                (c for c in (constraints.max_cost_usd, key.max_cost_per_request_usd) if c),
                default=None,
            ),
        }
    )


def may_use(key: ApiKeyInfo | None, model: ModelSpec) -> bool:
    """Whether the key's rules let it use this model (GET /v1/models lists only those)."""
    if key is None:
        return True
    if key.allowed_models is not None and model.id not in key.allowed_models:
        return False
    return key.allowed_providers is None or model.provider in key.allowed_providers


def _narrowest(asked: list[str] | None, allowed: list[str] | None) -> list[str] | None:
    if allowed is None:
        return asked
    if asked is None:
        return list(allowed)
    return [item for item in asked if item in allowed]
