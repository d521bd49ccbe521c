"""Headless Debian Chromium driven by Playwright, for tests that look at a page.

The browser is the system's /usr/bin/chromium (installed by .ci/run), never one that Playwright
downloads: this machine reaches package registries only.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT_DIR = REPO_ROOT / "test-output"

# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# machine's closed network refuses; --no-sandbox because tests run as root.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """The Chromium binary, or a skip that says how to get one."""
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.skip(
            "Chromium is not installed: `apt-get install -y chromium` (.ci/run does this) "
            "or set CHROMIUM_PATH"
        )
    return path


@asynccontextmanager
async def browser_page(profile_dir: Path) -> AsyncIterator[Any]:
    """A page in a fresh Chromium profile (a new --user-data-dir per test)."""
    executable = chromium_path()
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("the playwright package is missing: pip install -e '.[dev]'")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            yield page
        finally:
            await context.close()


def output_path(name: str) -> Path:
    OUTPUT_DIR.mkdir(exist_ok=True)
    return OUTPUT_DIR / name
