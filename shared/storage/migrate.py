"""Apply the versioned SQL files in `migrations/` (run as `optimizer migrate` or `python -m`).

Each file runs once, in its own transaction, recorded in `schema_migrations`. A session-level
advisory lock serialises concurrent runs (two replicas starting at once). The target database
is created when it does not exist, so a fresh machine needs no manual step.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from shared.settings import get_settings

_MIGRATION_LOCK_KEY = 0x6F707431  # arbitrary, fixed: "opt1"
_FILE_PATTERN = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover() -> list[Migration]:
    """Every migration file, in version order."""
    found: list[Migration] = []
    for entry in resources.files("migrations").iterdir():
        match = _FILE_PATTERN.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError("two migration files share a version number")
    return found


async def ensure_database(database_url: str) -> bool:
    """Create the target database if missing. Returns True when it was created."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/") or "postgres"
    try:
        conn = await asyncpg.connect(database_url)
    except asyncpg.InvalidCatalogNameError:
        admin_url = urlunsplit(parts._replace(path="/postgres"))
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
            return False  # created by a concurrent run at the same moment
        finally:
            await admin.close()
        return True
    await conn.close()
    return False


async def _tables(conn: asyncpg.Connection) -> set[str]:
    # Monthly partitions (migrations/0010) are parts of their table, not tables to announce.
    rows = await conn.fetch(
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
             AND NOT c.relispartition"""
    )
    return {r["relname"] for r in rows}


async def migrate(
    database_url: str, out: list[str] | None = None, up_to: int | None = None
) -> list[str]:
    """Apply pending migrations. Returns the names of the tables created (and prints them).

    `up_to` stops after that version: tests build an older layout to migrate from.
    """

    def say(line: str) -> None:
        print(line, flush=True)
        if out is not None:
            out.append(line)

    if await ensure_database(database_url):
        say(f"Created database {urlsplit(database_url).path.lstrip('/')}")
    conn = await asyncpg.connect(database_url)
    created: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_KEY)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        applied = {
            r["version"]: r["checksum"]
            for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")
        }
        pending = []
        for migration in discover():
            if up_to is not None and migration.version > up_to:
                break
            if migration.version not in applied:
                pending.append(migration)
            elif applied[migration.version] != migration.checksum:
                say(f"Warning: {migration.name} changed after it was applied; not re-run")
        for migration in pending:
            before = await _tables(conn)
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            new_tables = sorted(await _tables(conn) - before)
            say(f"Applied {migration.name}")
            for table in new_tables:
                say(f"Created table {table}")
            created.extend(new_tables)
        if not pending:
            say("Database is up to date: no migration to apply, nothing changed.")
        say("Migration complete!")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_KEY)
        await conn.close()
    return created


def main() -> int:
    """Entry point for `optimizer migrate` and `python -m shared.storage.migrate`."""
    settings = get_settings()
    try:
        asyncio.run(migrate(settings.database_url))
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"Migration failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
