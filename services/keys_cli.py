"""`optimizer keys`: create, list and revoke API keys (talks to DATABASE_URL directly).

    optimizer keys create --scope client --name billing-app --rpm 60 --daily-budget-usd 5
    optimizer keys list [--json]
    optimizer keys revoke key_0123456789ab

The new key is printed once, at creation; only its SHA-256 is stored. A revoked key stops
working within AUTH_CACHE_TTL_S on every ingress (at once for keys with limits).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import asyncpg

from services.ledger import access_store
from shared.settings import settings_for


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="optimizer keys", description="Create, list and revoke API keys."
    )
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="create a key and print it once")
    create.add_argument("--scope", choices=["client", "admin"], required=True)
    create.add_argument("--name", default="", help="who or what uses the key")
    create.add_argument("--rpm", type=_positive_int, help="requests per minute (default: none)")
    create.add_argument(
        "--daily-budget-usd", type=_positive_float, help="spend cap per UTC day (default: none)"
    )
    listing = sub.add_parser("list", help="every key with today's spend (never the key)")
    listing.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    revoke = sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def _row_text(row: dict[str, Any]) -> str:
    rpm = row["rpm_limit"] or "-"
    budget = f"${float(row['daily_budget_usd']):g}" if row["daily_budget_usd"] else "-"
    state = "revoked" if row["revoked_at"] else "active"
    return (
        f"{row['id']:<17} {row['scope']:<6} {state:<7} rpm={rpm!s:<6} budget/day={budget:<9} "
        f"today=${float(row['spent_today_usd']):.6f} ({row['requests_today']} req)  "
        f"{row['name']}"
    )


async def _run(args: argparse.Namespace, database_url: str) -> int:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        if args.action == "create":
            key_id, key = await access_store.create_key(
                pool, args.scope, args.name, args.rpm, args.daily_budget_usd
            )
            print(f"Created {args.scope} key {key_id}" + (f" ({args.name})" if args.name else ""))
            print(key)
            print(
                "This is the only time the key is shown: store it now. "
                "Send it as 'Authorization: Bearer <key>'.",
                file=sys.stderr,
            )
            return 0
        if args.action == "list":
            rows = await access_store.list_keys(pool)
            for row in rows:
                print(json.dumps(row, default=str) if args.json else _row_text(row))
            if not rows and not args.json:
                print("No API keys yet: optimizer keys create --scope admin --name me")
            return 0
        if await access_store.revoke_key(pool, args.key_id):
            print(f"Revoked {args.key_id}")
            return 0
        print(f"No active key {args.key_id} (unknown or already revoked)", file=sys.stderr)
        return 1
    finally:
        await pool.close()


def main(argv: list[str]) -> int:
    """Entry point of `optimizer keys ...`."""
    args = _parser().parse_args(argv)
    settings = settings_for(("migrate",))  # the same database access as migrations
    if settings is None:
        return 2
    try:
        return asyncio.run(_run(args, settings.database_url))
    except asyncpg.UndefinedTableError:
        print("The api_keys table does not exist: run `optimizer migrate` first.", file=sys.stderr)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"Database error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1
