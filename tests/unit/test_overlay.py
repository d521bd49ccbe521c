"""The catalog overlay: add, change and remove models without code (CATALOG_OVERLAY_PATH)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.routing.catalog import load_catalog

NEW_MODEL = """
remove = ["openrouter/qwen/qwen-2.5-72b-instruct"]

[[models]]
id = "openrouter/mistralai/mistral-small-3.2"
provider = "openrouter"
vendor_model = "mistralai/mistral-small-3.2-24b-instruct"
tier = "cheap"
input_per_mtok = 0.05
output_per_mtok = 0.10
context_window = 131072
quality = { default = 0.78 }
capabilities = { tools = true, json_object = true }

[[models]]
id = "claude-haiku-4-5"
input_per_mtok = 0.9
quality = { code = 0.88 }
"""


def test_an_overlay_adds_changes_and_removes_models(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay.toml"
    overlay.write_text(NEW_MODEL)
    base = load_catalog()
    catalog = load_catalog(overlay_path=overlay)
    added = catalog.get("openrouter/mistralai/mistral-small-3.2")
    assert added.input_per_mtok == 0.05 and added.capabilities.tools
    assert not added.capabilities.vision
    haiku = catalog.get("claude-haiku-4-5")
    assert haiku.input_per_mtok == 0.9 and haiku.output_per_mtok == 5.0
    assert haiku.quality["code"] == 0.88
    assert haiku.quality["math"] == base.get("claude-haiku-4-5").quality["math"]
    assert not catalog.has("openrouter/qwen/qwen-2.5-72b-instruct")
    llama = catalog.get("openrouter/meta-llama/llama-3.3-70b-instruct")
    assert "openrouter/qwen/qwen-2.5-72b-instruct" not in llama.fallbacks


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[[models]]\nid = "new-one"\nprovider = "openrouter"\n', "Field required"),
        ('[[models]]\nid = "x"\nprovider = "nowhere"\n', "unknown provider"),
        ('[[models]]\nid = "claude-haiku-4-5"\ninput_per_mtok = -1\n', "greater than or equal"),
        ('remove = ["claude-opus-4-5"]\n', "default_premium_model"),
        ("colour = 3\n", "unknown top-level keys"),
        ("[[models]\n", "Expected"),
    ],
)
def test_a_wrong_overlay_is_refused_with_the_reason(tmp_path: Path, text: str, words: str) -> None:
    overlay = tmp_path / "overlay.toml"
    overlay.write_text(text)
    with pytest.raises(ValueError, match=words):
        load_catalog(overlay_path=overlay)


def test_a_reload_installs_a_valid_catalog_and_keeps_the_old_one_otherwise(
    tmp_path: Path,
) -> None:
    from services.catalog_reload import reload_catalog
    from shared.settings import Settings

    overlay = tmp_path / "overlay.toml"
    settings = Settings(_env_file=None, environment="test", catalog_overlay_path=str(overlay))  # type: ignore[call-arg]
    installed: list[object] = []
    overlay.write_text("colour = 3\n")
    reason = reload_catalog(settings, installed.append)
    assert isinstance(reason, str) and "unknown top-level keys" in reason
    assert installed == []
    overlay.write_text(NEW_MODEL)
    catalog = reload_catalog(settings, installed.append)
    assert installed == [catalog]
