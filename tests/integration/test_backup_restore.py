"""scripts/backup.sh and scripts/restore.sh against the real PostgreSQL.

A scratch database gets the project's migrations plus a table of rows, is backed up, damaged
(rows deleted, then the whole database dropped) and restored; every table must come back with
every row. The server is the one of DATABASE_URL (default postgresql://postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ROWS = 37


def _server_url() -> str:
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 2):
            pass
    except OSError:
        pytest.skip(f"PostgreSQL is not answering at {parts.hostname}:{parts.port or 5432}")
    for tool in ("pg_dump", "psql", "gzip"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (the scripts need the PostgreSQL client)")
    return url


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def psql(url: str, sql: str) -> str:
    result = subprocess.run(
        ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "--dbname", url, "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


@pytest.fixture
def scratch_url() -> Iterator[str]:
    server = _server_url()
    name = f"optimizer_backup_{uuid.uuid4().hex[:10]}"
    admin = with_database(server, "postgres")
    url = with_database(server, name)
    try:
        yield url
    finally:
        psql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_script(name: str, *args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "OPTIMIZER_MODE": "local"}
    return subprocess.run(
        [str(ROOT / "scripts" / name), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def snapshot(url: str) -> dict[str, int]:
    """Row count of every table in the public schema."""
    tables = psql(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").split()
    return {t: int(psql(url, f'SELECT count(*) FROM "{t}"')) for t in sorted(tables)}


def prepare(url: str) -> None:
    """The project's schema (when its migrations run here) plus rows of our own."""
    migrated = subprocess.run(
        [sys.executable, "-m", "shared.storage.migrate"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        timeout=120,
    )
    if migrated.returncode != 0:
        # Fall back to an empty database: the scripts' behaviour does not depend on the schema.
        name = urlsplit(url).path.lstrip("/")
        psql(with_database(url, "postgres"), f'CREATE DATABASE "{name}"')
    psql(
        url,
        "CREATE TABLE backup_probe (id integer PRIMARY KEY, note text NOT NULL, "
        "payload jsonb, created_at timestamptz NOT NULL DEFAULT now());"
        f"INSERT INTO backup_probe (id, note, payload) SELECT g, 'row ' || g, "
        f"jsonb_build_object('n', g) FROM generate_series(1, {ROWS}) AS g;",
    )


def test_backup_then_restore_over_damage_and_after_a_drop(scratch_url: str, tmp_path: Path) -> None:
    prepare(scratch_url)
    before = snapshot(scratch_url)
    assert before["backup_probe"] == ROWS

    backup = run_script("backup.sh", "-o", str(tmp_path), database_url=scratch_url)
    assert backup.returncode == 0, backup.stderr
    (dump,) = tmp_path.glob("*.sql.gz")
    assert re.fullmatch(r"optimizer-\d{8}-\d{6}\.sql\.gz", dump.name)
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600, "backups hold personal data"
    assert str(dump) in backup.stdout

    # Damage: rows gone and a table dropped; restore over the existing database.
    psql(scratch_url, "DELETE FROM backup_probe WHERE id % 2 = 0")
    victim = next((t for t in before if t != "backup_probe"), None)
    if victim:  # a table of the project's schema
        psql(scratch_url, f'DROP TABLE "{victim}" CASCADE')
    restored = run_script("restore.sh", "--yes", str(dump), database_url=scratch_url)
    assert restored.returncode == 0, restored.stderr
    assert snapshot(scratch_url) == before
    assert psql(scratch_url, "SELECT note FROM backup_probe WHERE id = 2") == "row 2"

    # Disaster: the database itself is gone; the restore creates it again.
    name = urlsplit(scratch_url).path.lstrip("/")
    psql(with_database(scratch_url, "postgres"), f'DROP DATABASE "{name}" WITH (FORCE)')
    restored = run_script("restore.sh", "--yes", str(dump), database_url=scratch_url)
    assert restored.returncode == 0, restored.stderr
    assert "Creating database" in restored.stdout
    assert snapshot(scratch_url) == before

    # A clean slate on request: objects that are not in the backup disappear.
    psql(scratch_url, "CREATE TABLE not_in_backup (id integer)")
    restored = run_script("restore.sh", "--yes", "--recreate", str(dump), database_url=scratch_url)
    assert restored.returncode == 0, restored.stderr
    assert snapshot(scratch_url) == before


def test_a_failed_restore_changes_nothing(scratch_url: str, tmp_path: Path) -> None:
    prepare(scratch_url)
    before = snapshot(scratch_url)
    broken = tmp_path / "optimizer-20260101-000000.sql.gz"
    sql = b"DELETE FROM backup_probe;\nSELECT no_such_function();\n"
    broken.write_bytes(gzip.compress(sql))
    result = run_script("restore.sh", "--yes", str(broken), database_url=scratch_url)
    assert result.returncode == 1
    assert "rolled back" in result.stderr
    assert snapshot(scratch_url) == before


def test_backup_reports_an_unreachable_database(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    url = f"postgresql://postgres:hunter2@127.0.0.1:{port}/optimizer"
    result = run_script("backup.sh", "-o", str(tmp_path), database_url=url)
    assert result.returncode == 1
    assert "pg_dump failed" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    assert not list(tmp_path.iterdir()), "no partial backup is left behind"
