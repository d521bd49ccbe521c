"""CLI side of the learner: runs the same logic in process, under the same advisory lock."""

from __future__ import annotations

import argparse
import json
from typing import Any

from services.learner.core import Learner
from services.learner.quality import QualityLearner
from services.learner.service import make_model_publisher, make_publisher, next_scheduled_run
from shared.messaging.cluster import rabbit_broker
from shared.messaging.topology import Topology, declare_all
from shared.routing.catalog import catalog_for
from shared.settings import Settings
from shared.storage.db import create_pool


async def _model_command(args: argparse.Namespace, quality: QualityLearner) -> dict[str, Any]:
    if args.model_command == "restore":
        return await quality.restore(args.version)
    if args.model_command == "list":
        return {"versions": await quality.versions()}
    return await quality.fit(dry_run=args.model_command == "dry-run", trigger="cli", full=args.full)


async def run_learner_command(args: argparse.Namespace, settings: Settings) -> int:
    catalog = catalog_for(settings)
    topology = Topology(settings)
    broker = rabbit_broker(settings.rabbitmq_url, logger=None)
    pool = await create_pool(settings.database_url, max_size=2)
    try:
        await broker.connect()
        await declare_all(broker, topology)
        learner = Learner(pool, settings, catalog, make_publisher(broker, topology))
        quality = QualityLearner(pool, settings, catalog, make_model_publisher(broker, topology))
        if args.command == "model":
            result = await _model_command(args, quality)
        elif args.command == "retrain":
            result = await learner.retrain(
                dry_run=args.dry_run,
                min_samples=args.min_samples,
                confidence_threshold=args.confidence_threshold,
                trigger="cli",
            )
        elif args.command == "status":
            # What the learner service reports: the next run of the same schedule.
            result = {
                **await learner.status(next_run=next_scheduled_run(settings)),
                **await quality.status(),
            }
        else:
            result = await learner.restore(args.version)
    finally:
        await pool.close()
        await broker.stop()
    print(json.dumps(result, indent=2, default=str))
    return 0 if result.get("status") not in ("busy", "not_found") else 1
