"""scripts/startup.sh and scripts/shutdown.sh in local mode, end to end.

The scripts need RabbitMQ and PostgreSQL to answer (they check before starting anything). The
process they start is a small stand-in for `optimizer up` (OPTIMIZER_BIN): it serves /health and
drains on SIGTERM, so the test exercises the scripts themselves, not the services.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]

STAND_IN = textwrap.dedent(
    """\
    #!{python}
    import json, os, signal, sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({{"status": "healthy"}}, separators=(",", ":")).encode()
            self.send_response(200 if self.path == "/health" else 404)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    def drain(*_):
        print("draining in-flight messages", flush=True)
        time.sleep(0.3)
        print("drained", flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, drain)
    time.sleep(float(os.environ.get("STAND_IN_DELAY", "0")))
    print("started:", " ".join(sys.argv[1:]), flush=True)
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["INGRESS_PORT"])), Health).serve_forever()
    """
)


def _answers(url: str, port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or port), 2):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def script_env(tmp_path: Path) -> dict[str, str]:
    rabbit = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    database = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/optimizer")
    if not (_answers(rabbit, 5672) and _answers(database, 5432)):
        pytest.skip("startup.sh checks RabbitMQ and PostgreSQL first: neither may be down")
    stand_in = tmp_path / "optimizer"
    stand_in.write_text(STAND_IN.format(python=sys.executable))
    stand_in.chmod(0o755)
    return {
        **os.environ,
        "RABBITMQ_URL": rabbit,
        "DATABASE_URL": database,
        "OPTIMIZER_BIN": str(stand_in),
        "OPTIMIZER_RUN_DIR": str(tmp_path / "run"),
        "INGRESS_PORT": str(_free_port()),
        "STARTUP_TIMEOUT_S": "20",
        "SHUTDOWN_TIMEOUT_S": "10",
    }


def run(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / script), "--local", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def test_startup_waits_for_health_and_shutdown_drains(script_env: dict[str, str]) -> None:
    script_env["STAND_IN_DELAY"] = "1.5"  # health answers only after a while
    run_dir = Path(script_env["OPTIMIZER_RUN_DIR"])
    started = run("startup.sh", script_env)
    try:
        assert started.returncode == 0, started.stderr
        pid = int((run_dir / "optimizer.pid").read_text())
        os.kill(pid, 0)  # alive
        port = script_env["INGRESS_PORT"]
        assert f"http://127.0.0.1:{port}/docs" in started.stdout
        assert "health: healthy" in started.stdout
        assert "started: up" in (run_dir / "optimizer.log").read_text()

        again = run("startup.sh", script_env)
        assert again.returncode == 0 and "Already running" in again.stdout

        stopped = run("shutdown.sh", script_env)
        assert stopped.returncode == 0, stopped.stderr
        assert "SIGTERM" in stopped.stdout
        assert "drained" in (run_dir / "optimizer.log").read_text()
        assert not (run_dir / "optimizer.pid").exists()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)

        idle = run("shutdown.sh", script_env)
        assert idle.returncode == 0 and "Nothing to stop" in idle.stdout
    finally:
        pid_file = run_dir / "optimizer.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_startup_gives_up_and_shows_the_log_when_health_never_answers(
    script_env: dict[str, str],
) -> None:
    script_env["STAND_IN_DELAY"] = "30"
    script_env["STARTUP_TIMEOUT_S"] = "2"
    begun = time.monotonic()
    result = run("startup.sh", script_env)
    assert result.returncode == 1
    assert "did not come up" in result.stderr
    assert "last lines of" in result.stderr
    assert time.monotonic() - begun < 20
    assert not (Path(script_env["OPTIMIZER_RUN_DIR"]) / "optimizer.pid").exists()
