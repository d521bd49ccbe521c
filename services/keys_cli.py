"""`optimizer keys`: create, list and revoke API keys (talks to DATABASE_URL directly).

    optimizer keys create --scope client --name billing-app --rpm 60 --daily-budget-usd 5 \
        --allowed-models gemini-2.5-flash,claude-haiku-4-5 --min-quality 0.85 \
        --quality-target 0.9 --max-cost-per-request-usd 0.01
    optimizer keys update key_0123456789ab --allowed-providers anthropic,openrouter
    optimizer keys update key_0123456789ab --allowed-models none   # clears a rule
    optimizer keys list [--json]
    optimizer keys revoke key_0123456789ab

Model rules (allowed models and providers, quality floor, default quality target, cost ceiling
per request)
are enforced by the routing policy, fallbacks included. An update reaches every ingress within
AUTH_CACHE_TTL_S.

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
from shared.routing.catalog import catalog_for
from shared.settings import get_settings, settings_for


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="optimizer keys", description="Create, list and revoke API keys."
    )
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="create a key and print it once")
    create.add_argument("--scope", choices=["client", "admin"], required=True)
    create.add_argument("--name", default="", help="who or what uses the key")
    _add_settings(create)
    update = sub.add_parser("update", help="change a key's limits and model rules")
    update.add_argument("key_id")
    _add_settings(update)
    listing = sub.add_parser("list", help="every key with today's spend (never the key)")
    listing.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    revoke = sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    return parser


def _add_settings(parser: argparse.ArgumentParser) -> None:
    # Every setting defaults to "not given"; on update, "none" clears it.
    parser.add_argument(
        "--rpm", dest="rpm_limit", type=_optional(_positive_int), help="requests per minute"
    )
    parser.add_argument(
        "--daily-budget-usd", type=_optional(_positive_float), help="spend cap per UTC day"
    )
    parser.add_argument(
        "--allowed-models", type=_optional(_names), help="comma separated catalog model ids"
    )
    parser.add_argument(
        "--allowed-providers", type=_optional(_names), help="comma separated provider keys"
    )
    parser.add_argument(
        "--min-quality", type=_optional(_quality), help="absolute floor on expected quality 0-1"
    )
    parser.add_argument(
        "--quality-target",
        type=_optional(_quality),
        help="default decision knob 0-1: the cheapest model predicted to reach this share "
        "of the best one's quality (a request's constraints.quality_target wins)",
    )
    parser.add_argument(
        "--max-cost-per-request-usd",
        type=_optional(_positive_float),
        help="estimated cost ceiling of one request",
    )


_CLEAR = object()  # "none" on the command line: remove the rule


def _optional(parse: Any) -> Any:
    def parse_or_clear(text: str) -> object:
        return _CLEAR if text.strip().lower() == "none" else parse(text)

    return parse_or_clear


def _names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one name, or none")
    return names


def _quality(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be within 0..1")
    return value


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line, None for those cleared with "none"."""
    given = {name: getattr(args, name) for name in access_store.KEY_SETTINGS}
    return {
        name: None if value is _CLEAR else value
        for name, value in given.items()
        if value is not None
    }


def _unknown_names(settings: dict[str, Any]) -> list[str]:
    """Model ids and providers of the rules that nothing in the catalog carries."""
    try:
        catalog = catalog_for(get_settings())
    except (OSError, ValueError):
        return []
    models = {m.id for m in catalog.models}
    providers = {m.provider for m in catalog.models}
    return [m for m in settings.get("allowed_models") or [] if m not in models] + [
        p for p in settings.get("allowed_providers") or [] if p not in providers
    ]


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
        f"{row['name']}" + _rules_text(row)
    )


def _rules_text(row: dict[str, Any]) -> str:
    rules = [
        f"models={','.join(row['allowed_models'])}" if row["allowed_models"] else "",
        f"providers={','.join(row['allowed_providers'])}" if row["allowed_providers"] else "",
        f"min_quality={float(row['min_quality']):g}" if row["min_quality"] is not None else "",
        f"quality_target={float(row['quality_target']):g}"
        if row["quality_target"] is not None
        else "",
        f"max/request=${float(row['max_cost_per_request_usd']):g}"
        if row["max_cost_per_request_usd"] is not None
        else "",
    ]
    shown = " ".join(rule for rule in rules if rule)
    return f"  [{shown}]" if shown else ""


async def _run(args: argparse.Namespace, database_url: str) -> int:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        if args.action in ("create", "update"):
            settings = _settings(args)
            for name in _unknown_names(settings):
                print(f"warning: {name} is not in the catalog", file=sys.stderr)
        if args.action == "update":
            if await access_store.update_key(pool, args.key_id, **settings):
                print(f"Updated {args.key_id}: " + (", ".join(sorted(settings)) or "nothing"))
                return 0
            print(f"No key {args.key_id}", file=sys.stderr)
            return 1
        if args.action == "create":
            key_id, key = await access_store.create_key(pool, args.scope, args.name, **settings)
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
