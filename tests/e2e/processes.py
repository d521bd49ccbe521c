"""Start services as real OS processes (`optimizer serve ...`) for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.settings import Settings

OPTIMIZER = str(Path(sys.executable).with_name("optimizer"))


def service_env(settings: Settings, **overrides: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_API_KEY") and not k.startswith("AMQP_")
    }
    env.update(
        {
            "ENVIRONMENT": "test",
            "DATABASE_URL": settings.database_url,
            "RABBITMQ_URL": settings.rabbitmq_url,
            "AMQP_PREFIX": settings.amqp_prefix,
            "SIMULATED_LATENCY_MS": "0",
            "HEARTBEAT_INTERVAL_S": "0.5",
            "LOG_LEVEL": "INFO",
            # API keys have their own tests (tests/integration/test_auth.py); these call without.
            "AUTH_ENABLED": "false",
        }
    )
    env.update(overrides)
    return env


@dataclass
class ServiceProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def start(services: list[str], env: dict[str, str], log_path: Path) -> ServiceProcess:
    handle = log_path.open("wb")
    process = subprocess.Popen(
        [OPTIMIZER, "serve", *services], env=env, stdout=handle, stderr=subprocess.STDOUT
    )
    return ServiceProcess(process, log_path)


def wait_http(url: str, timeout: float = 30, expect: int = 200) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=2)
            if last.status_code == expect:
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer {expect} in {timeout}s (last: {last})")
