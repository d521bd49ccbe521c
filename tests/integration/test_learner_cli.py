"""The learner from the shell: `optimizer retrain --dry-run`, `status`, `restore`."""

from __future__ import annotations

import json
import subprocess

from shared.settings import Settings
from tests.e2e.processes import OPTIMIZER, service_env


def _cli(settings: Settings, *args: str) -> tuple[int, dict]:
    done = subprocess.run(
        [OPTIMIZER, *args],
        check=False,
        env=service_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, json.loads(done.stdout)


def test_cli_dry_run_status_and_restore(settings: Settings, system) -> None:
    code, dry = _cli(settings, "retrain", "--dry-run", "--min-samples", "1")
    assert code == 0 and dry["status"] == "dry_run" and dry["written"] is False
    code, status = _cli(settings, "status")
    assert code == 0
    assert {
        "total_overrides",
        "confidence_distribution",
        "last_retrain",
        "recommendation_coverage",
    } <= set(status)
    code, missing = _cli(settings, "restore", "999999")
    assert code == 1 and missing["status"] == "not_found"


async def test_cli_status_shows_the_next_scheduled_run_as_the_api_does(
    settings: Settings, system
) -> None:
    import asyncio

    async with system.client() as client:
        api = (await client.get("/admin/learning/status")).json()
    code, cli = await asyncio.to_thread(_cli, settings, "status")
    assert code == 0
    assert api["next_scheduled_run"] is not None
    assert cli["next_scheduled_run"] == api["next_scheduled_run"]
