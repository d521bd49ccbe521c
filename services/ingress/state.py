"""The ingress's process state: its broker, its RPC client, its key cache and what workers last
said."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from faststream.middlewares import AckPolicy
from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError

from schemas.messages import ServiceHeartbeat
from services.catalog_reload import subscribe_reloads
from services.ingress.key_cache import KeyVerifier
from services.runtime import instance_id
from shared.messaging.bus import make_broker
from shared.messaging.direct import RpcClient
from shared.messaging.topology import HEARTBEAT_KEY, Topology
from shared.routing.catalog import Catalog
from shared.settings import Settings

WORKER_SERVICES = ("router", "feedback", "learner")


@dataclass
class HeartbeatBoard:
    """Last heartbeat per worker instance; an instance silent for 3 intervals counts as gone."""

    interval_s: float
    beats: dict[str, tuple[float, ServiceHeartbeat]] = field(default_factory=dict)

    def record(self, beat: ServiceHeartbeat) -> None:
        self.beats[beat.instance] = (time.monotonic(), beat)

    def alive(self) -> list[ServiceHeartbeat]:
        horizon = time.monotonic() - 3 * self.interval_s
        return [beat for seen, beat in self.beats.values() if seen >= horizon]

    def by_service(self) -> dict[str, dict[str, Any]]:
        summary: dict[str, dict[str, Any]] = {
            name: {"instances": 0, "ready": 0} for name in WORKER_SERVICES
        }
        for beat in self.alive():
            entry = summary.setdefault(beat.service, {"instances": 0, "ready": 0})
            entry["instances"] += 1
            entry["ready"] += int(beat.ready)
        return summary


class IngressState:
    """Created in the app's lifespan; route handlers reach it through `request.app.state`."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self.topology = Topology(settings)
        self.instance = instance_id("ingress")
        self.broker: RabbitBroker = make_broker(settings, prefetch=256)
        self.rpc = RpcClient(
            settings.rabbitmq_url, settings.name(f"ingress.replies.{self.instance}")
        )
        self.heartbeats = HeartbeatBoard(settings.heartbeat_interval_s)
        self.keys = KeyVerifier(settings.auth_cache_ttl_s)
        # Fire-and-forget publishes (cancels) kept referenced until they finish.
        self.background: set[asyncio.Task[None]] = set()
        self._watch_heartbeats()
        subscribe_reloads(
            self.broker, settings, f"ingress.catalog.{self.instance}", self.use_catalog
        )

    def use_catalog(self, catalog: Catalog) -> None:
        """Install a reloaded catalog; the handlers read `self.catalog` per request."""
        self.catalog = catalog

    def _watch_heartbeats(self) -> None:
        queue = RabbitQueue(
            self.settings.name(f"ingress.heartbeats.{self.instance}"),
            exclusive=True,
            auto_delete=True,
            durable=False,
            routing_key=f"{HEARTBEAT_KEY}.#",
        )

        @self.broker.subscriber(
            queue, self.topology.events(), no_reply=True, ack_policy=AckPolicy.ACK_FIRST
        )
        async def on_heartbeat(msg: RabbitMessage) -> None:
            try:
                self.heartbeats.record(ServiceHeartbeat.model_validate_json(msg.body))
            except ValidationError:
                return

    async def broker_connected(self) -> bool:
        try:
            return bool(await self.broker.ping(timeout=1.0)) and self.rpc.connected
        except Exception:
            return False
