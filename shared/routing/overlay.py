"""The catalog overlay: models an operator adds or changes without code (CATALOG_OVERLAY_PATH).

A TOML file read over the shipped catalog (or CATALOG_PATH), validated with it, at start and
again on SIGHUP or `POST /admin/catalog/reload` (which tells every router and ingress):

    default_premium_model = "claude-opus-4-5"   # optional
    remove = ["openrouter/qwen/qwen-2.5-72b-instruct"]

    [[models]]                                   # a new model: every field of a catalog entry
    id = "openrouter/mistralai/mistral-small-3.2"
    provider = "openrouter"
    vendor_model = "mistralai/mistral-small-3.2-24b-instruct"
    tier = "cheap"
    input_per_mtok = 0.05
    output_per_mtok = 0.10
    context_window = 131072
    quality = { default = 0.78 }
    capabilities = { tools = true, json_object = true }

    [[models]]                                   # an existing model: only the fields given
    id = "claude-haiku-4-5"
    input_per_mtok = 0.9
    quality = { code = 0.88 }                    # tables merge key by key

A self-hosted model is a new entry with `provider = "selfhosted"` (SELFHOSTED_BASE_URL).
"""

from __future__ import annotations

from typing import Any

_MERGED_TABLES = ("quality", "capabilities")


def apply_overlay(catalog: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """The catalog's raw data with the overlay applied (validation is the caller's: the result
    goes through `Catalog.model_validate`). Raises ValueError for an overlay of a wrong shape."""
    unknown = set(overlay) - {"models", "remove", "default_premium_model"}
    if unknown:
        raise ValueError(f"catalog overlay: unknown top-level keys {sorted(unknown)}")
    removed = set(_strings(overlay.get("remove", []), "remove"))
    models = [dict(m) for m in catalog.get("models", []) if m.get("id") not in removed]
    by_id = {m["id"]: m for m in models}
    for entry in _tables(overlay.get("models", [])):
        model_id = entry.get("id")
        if not isinstance(model_id, str) or not model_id:
            raise ValueError("catalog overlay: every [[models]] entry needs an id")
        if model_id in by_id:
            base = by_id[model_id]
            for key, value in entry.items():
                if key in _MERGED_TABLES and isinstance(value, dict):
                    base[key] = {**base.get(key, {}), **value}
                else:
                    base[key] = value
        else:
            by_id[model_id] = dict(entry)
            models.append(by_id[model_id])
    for model in models:
        # A removed model leaves no dangling reference behind it.
        model["fallbacks"] = [f for f in model.get("fallbacks", []) if f not in removed]
        if model.get("same_as") in removed:
            model.pop("same_as")
    merged = {**catalog, "models": models}
    if "default_premium_model" in overlay:
        merged["default_premium_model"] = overlay["default_premium_model"]
    return merged


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"catalog overlay: {where} must be a list of model ids")
    return value


def _tables(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError("catalog overlay: models must be [[models]] tables")
    return value
