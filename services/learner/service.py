"""Learner worker: answers learner commands and retrains on a cron schedule."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from faststream.middlewares import AckPolicy
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError

from schemas.messages import ErrorReply, LearnerCommand, OverridesPublished, RpcReply
from services.learner.core import Learner
from services.runtime import Worker
from shared.messaging.bus import JSON, encode, make_broker
from shared.messaging.topology import LEARNER_COMMANDS
from shared.routing.catalog import Catalog
from shared.settings import Settings
from shared.storage.db import TRANSIENT_DB_ERRORS, create_pool

log = logging.getLogger(__name__)


def make_publisher(worker: Worker) -> Any:
    """Publish the full override set on the fanout exchange (confirmed, persistent)."""

    async def publish(event: OverridesPublished) -> None:
        await worker.broker.publish(
            encode(event), exchange=worker.topology.overrides(), content_type=JSON, persist=True
        )

    return publish


class LearnerService(Worker):
    name = "learner"

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        super().__init__(settings, make_broker(settings, prefetch=4))
        self.catalog = catalog
        self._pool: asyncpg.Pool | None = None
        self._learner: Learner | None = None
        self.trigger = CronTrigger.from_crontab(settings.learner_cron, timezone="UTC")
        self.scheduler: AsyncIOScheduler | None = None
        self._register()

    @property
    def learner(self) -> Learner:
        if self._learner is None:
            raise RuntimeError("learner service is not started")
        return self._learner

    async def on_start(self) -> None:
        self._pool = await create_pool(self.settings.database_url, max_size=5)
        self._learner = Learner(self._pool, self.settings, self.catalog, make_publisher(self))

    async def after_start(self) -> None:
        # APScheduler 3 must be started inside the running loop.
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.scheduler.add_job(
            self.scheduled_retrain,
            self.trigger,
            id="retrain",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
        )
        self.scheduler.start()

    async def on_stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._pool is not None:
            await self._pool.close()

    def watched_queues(self) -> list[str]:
        return [self.settings.name(LEARNER_COMMANDS)]

    def next_run(self) -> datetime | None:
        if self.scheduler is not None:
            job = self.scheduler.get_job("retrain")
            if job is not None and job.next_run_time is not None:
                return job.next_run_time  # type: ignore[no-any-return]
        return None

    async def scheduled_retrain(self, slot: datetime | None = None) -> dict[str, Any]:
        """Cron job. Every replica fires; the slot key lets exactly one of them run."""
        slot = slot or datetime.now(self.trigger.timezone).replace(second=0, microsecond=0)
        result = await self.learner.retrain(
            dry_run=False, trigger="schedule", schedule_slot=slot.isoformat()
        )
        log.info("scheduled retrain: %s", result.get("status"))
        return result

    def _register(self) -> None:
        @self.broker.subscriber(
            self.topology.work_queue(LEARNER_COMMANDS),
            no_reply=True,
            ack_policy=AckPolicy.NACK_ON_ERROR,
        )
        async def on_command(msg: RabbitMessage) -> None:
            try:
                command = LearnerCommand.model_validate_json(msg.body)
            except ValidationError as exc:
                await self.reject_malformed(msg, exc, LEARNER_COMMANDS)
                return
            try:
                data = await self.execute(command)
            except (*TRANSIENT_DB_ERRORS, asyncpg.PostgresError) as exc:
                error = ErrorReply(
                    error_kind="database_unavailable", error_message=type(exc).__name__
                )
                await self.answer(msg, error)
                return
            await self.answer(msg, RpcReply(data=data))

    async def execute(self, command: LearnerCommand) -> dict[str, Any]:
        learner = self.learner
        if command.action == "current_overrides":
            return (await learner.current()).model_dump(mode="json")
        if command.action == "status":
            return await learner.status(self.next_run())
        if command.action == "runs":
            return {"runs": await learner.runs()}
        if command.action == "restore":
            if command.version is None:
                return {"status": "invalid", "detail": "restore needs a version"}
            return await learner.restore(command.version)
        return await learner.retrain(
            dry_run=command.dry_run,
            min_samples=command.min_samples,
            confidence_threshold=command.confidence_threshold,
            trigger="api",
        )
