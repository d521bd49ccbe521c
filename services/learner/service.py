"""Learner worker: answers learner commands and retrains on a cron schedule."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from faststream.rabbit import RabbitBroker
from pydantic import TypeAdapter

from schemas.messages import LearnerCommand, OverridesPublished, QualityModelPublished
from services.handlers import body_as, dispatch, subscribe
from services.learner import commands
from services.learner.core import Learner, Publisher
from services.learner.quality import ModelPublisher, QualityLearner
from services.runtime import Worker, periodic
from shared.messaging.bus import JSON, encode, make_broker
from shared.messaging.topology import LEARNER_COMMANDS, QUALITY_MODEL_TYPE, Topology
from shared.routing.catalog import Catalog
from shared.settings import Settings
from shared.storage.db import create_pool

log = logging.getLogger(__name__)


def make_publisher(broker: RabbitBroker, topology: Topology) -> Publisher:
    """Publish the full override set on the fanout exchange (confirmed, persistent)."""

    async def publish(event: OverridesPublished) -> None:
        await broker.publish(
            encode(event), exchange=topology.overrides(), content_type=JSON, persist=True
        )

    return publish


def make_model_publisher(broker: RabbitBroker, topology: Topology) -> ModelPublisher:
    """Publish a quality model on the same fanout; routers tell it apart by its AMQP type."""

    async def publish(event: QualityModelPublished) -> None:
        await broker.publish(
            encode(event),
            exchange=topology.overrides(),
            content_type=JSON,
            message_type=QUALITY_MODEL_TYPE,
            persist=True,
        )

    return publish


def retrain_trigger(settings: Settings) -> CronTrigger:
    """When scheduled retrains run (`LEARNER_CRON`, UTC)."""
    return CronTrigger.from_crontab(settings.learner_cron, timezone="UTC")


def next_scheduled_run(settings: Settings, now: datetime | None = None) -> datetime | None:
    """The next scheduled retrain after `now`, as the learner's scheduler computes it."""
    fire: datetime | None = retrain_trigger(settings).get_next_fire_time(
        None, now or datetime.now(UTC)
    )
    return fire


class LearnerService(Worker):
    name = "learner"

    def use_catalog(self, catalog: Catalog) -> None:
        self.catalog = catalog
        if self._learner is not None:
            self._learner.catalog = catalog
        if self._quality is not None:
            self._quality.catalog = catalog

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        super().__init__(settings, make_broker(settings, prefetch=4))
        self.catalog = catalog
        self._pool: asyncpg.Pool | None = None
        self._learner: Learner | None = None
        self._quality: QualityLearner | None = None
        self.trigger = retrain_trigger(settings)
        self.scheduler: AsyncIOScheduler | None = None
        self._register()

    @property
    def learner(self) -> Learner:
        if self._learner is None:
            raise RuntimeError("learner service is not started")
        return self._learner

    async def on_start(self) -> None:
        self._pool = await create_pool(self.settings.database_url, max_size=5)
        broker, topology = self.broker, self.topology
        self._learner = Learner(
            self._pool, self.settings, self.catalog, make_publisher(broker, topology)
        )
        self._quality = QualityLearner(
            self._pool, self.settings, self.catalog, make_model_publisher(broker, topology)
        )

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
        interval = self.settings.learner_model_fit_interval_s
        if interval > 0:
            self.spawn(periodic(interval, self.scheduled_fit, first_delay_s=interval))

    async def scheduled_fit(self) -> dict[str, Any]:
        """Every LEARNER_MODEL_FIT_INTERVAL_S: the ratings since the last fit, as a new version
        (none when nothing new came). Every replica runs it; the lock and the watermark make
        the replicas that come second find nothing left to add."""
        result = await self.quality.fit(dry_run=False, trigger="schedule")
        if result["status"] == "applied":
            log.info("scheduled fit: quality model version %s", result["version"])
        return result

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

    @property
    def quality(self) -> QualityLearner:
        if self._quality is None:
            raise RuntimeError("learner service is not started")
        return self._quality

    @property
    def deps(self) -> commands.Deps:
        return commands.Deps(self.learner, self.quality, self.next_run)

    def _register(self) -> None:
        subscribe(
            self,
            self.topology.work_queue(LEARNER_COMMANDS),
            LEARNER_COMMANDS,
            body_as(TypeAdapter(LearnerCommand)),
            lambda command: dispatch(commands.COMMANDS, command, self.deps),
            answer_database_errors=True,
        )
