"""`optimizer`: migrate, up, serve, retrain, status, restore, model, replay, keys."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

from services.names import ALIASES, SERVICES, canonical
from shared.settings import settings_for


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optimizer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("up", help="migrate, then run every service in this process")
    serve = sub.add_parser("serve", help="run one or more services")
    serve.add_argument("services", nargs="+", choices=[*SERVICES, *ALIASES])
    retrain = sub.add_parser("retrain", help="recompute learned overrides from feedback")
    retrain.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    retrain.add_argument("--min-samples", type=int)
    retrain.add_argument("--confidence-threshold", type=float)
    sub.add_parser("status", help="learning status: overrides, last and next retrain")
    restore = sub.add_parser("restore", help="make an earlier overrides version current")
    restore.add_argument("version", type=int)
    model = sub.add_parser("model", help="the learned quality model: dry-run, apply, restore")
    actions = model.add_subparsers(dest="model_command", required=True)
    for name, text in (
        ("dry-run", "rows a fit would add and the traffic it would move"),
        ("apply", "fit the ratings since the active version: a new version"),
    ):
        fit = actions.add_parser(name, help=text)
        fit.add_argument(
            "--full", action="store_true",
            help="refit from the priors on every stored rating, each at its latest value",
        )  # fmt: skip
    model_restore = actions.add_parser("restore", help="make an earlier version current")
    model_restore.add_argument("version", type=int)
    actions.add_parser("list", help="the versions, newest first")
    sub.add_parser("replay", help="replay evaluation on public data (see --help)", add_help=False)
    sub.add_parser("keys", help="manage API keys (see --help)", add_help=False)
    return parser


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed: a faster loop for every service."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "replay":
        from replay.cli import main as replay_main

        return replay_main(argv[1:])
    if argv and argv[0] == "keys":
        from services.keys_cli import main as keys_main

        return keys_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "serve":
        args.services = canonical(args.services)
    wanted = {"up": SERVICES, "serve": getattr(args, "services", ())}.get(
        args.command, ("migrate",)
    )
    settings = settings_for(wanted)
    if settings is None:
        return 2
    if args.command == "migrate":
        from shared.storage.migrate import main as migrate_main

        return migrate_main()
    if args.command in ("up", "serve"):
        from services.runner import run_services

        if args.command == "up":
            from shared.storage.migrate import main as migrate_main

            if migrate_main() != 0:
                return 1
        names = SERVICES if args.command == "up" else args.services
        _run(run_services(names, settings, banner=args.command == "up"))
        return 0
    from services.learner_cli import run_learner_command

    return asyncio.run(run_learner_command(args, settings))


if __name__ == "__main__":
    sys.exit(main())
