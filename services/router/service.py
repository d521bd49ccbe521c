"""Router worker: consumes `route.requests`, answers through a provider, emits RouteCompleted."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from faststream.middlewares import AckPolicy
from faststream.rabbit import RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from pydantic import BaseModel, ValidationError

from schemas.messages import (
    CancelRequest,
    ErrorReply,
    OverridesPublished,
    QualityModelPublished,
    RouteRequest,
    RouteStreamEnd,
    RpcReply,
    SendCurrentOverrides,
    SendCurrentQualityModel,
)
from services.catalog_reload import subscribe_reloads
from services.router.chunks import ChunkSender, StreamWindow
from services.router.completions import CompletionPublisher
from services.router.engine import OverrideSet, QualitySet, RoutingEngine, decision_view
from services.runtime import Worker, malformed
from shared.messaging.bus import encode, make_broker, validation_summary
from shared.messaging.direct import DirectConsumer, RpcClient, RpcTimeoutError
from shared.messaging.topology import LEARNER_COMMANDS, QUALITY_MODEL_TYPE, ROUTE_REQUESTS
from shared.metrics import CANCELS, IN_FLIGHT, STREAM_CHUNKS
from shared.providers.registry import build_providers, close_providers
from shared.routing.bandit.quality_model import ModelFormatError, QualityModel
from shared.routing.catalog import Catalog
from shared.routing.classifier import classify, preload
from shared.routing.policy import NoCandidateError
from shared.routing.stored_features import CONTEXT_NUMBER
from shared.settings import Settings

log = logging.getLogger(__name__)


class RouterService(Worker):
    name = "router"

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        super().__init__(settings, make_broker(settings, settings.router_prefetch))
        self.catalog = catalog
        self.engine = RoutingEngine(settings, catalog, {})
        self.rpc = RpcClient(
            settings.rabbitmq_url, settings.name(f"router.replies.{self.instance}")
        )
        self.overrides_loaded = asyncio.Event()
        self.stream_window = StreamWindow(
            settings.stream_coalesce_ms / 1000, settings.stream_max_chunks_per_s
        )
        self.model_loaded = asyncio.Event()
        self.consumer = DirectConsumer(settings, ROUTE_REQUESTS, settings.router_prefetch)
        self.completions = CompletionPublisher(
            self.consumer.publish_event,
            linger_s=settings.completion_linger_ms / 1000,
            in_flight=lambda: self.consumer.in_flight,
        )
        self._register()
        subscribe_reloads(
            self.broker, settings, f"router.catalog.{self.instance}", self.use_catalog
        )

    def use_catalog(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.engine.use_catalog(catalog)

    async def on_start(self) -> None:
        self.engine.use_providers(build_providers(self.settings))
        await asyncio.to_thread(preload)  # the classifier's weights, before the first request
        await self.rpc.start()

    async def before_stop(self) -> None:
        await self.consumer.stop(self.settings.request_deadline_s + 5)

    def ready(self) -> bool:
        return super().ready() and self.consumer.consuming

    async def on_stop(self) -> None:
        await self.rpc.stop()
        await close_providers(self.engine.providers)

    async def after_start(self) -> None:
        await self.consumer.start(self.on_route_request)
        self.spawn(
            self._load_current(SendCurrentOverrides(), self._install_data, self.overrides_loaded)
        )
        self.spawn(
            self._load_current(
                SendCurrentQualityModel(), self._install_model_data, self.model_loaded
            )
        )

    def health_details(self) -> dict[str, Any]:
        return {
            "provider_status": self.engine.provider_status(),
            "overrides_version": self.engine.overrides.version,
            "model_version": self.engine.quality.version,
            "in_flight": self.consumer.in_flight,
        }

    def watched_queues(self) -> list[str]:
        return [self.settings.name(ROUTE_REQUESTS)]

    async def on_route_request(self, message: AbstractIncomingMessage) -> None:
        """One delivery of `route.requests`: answer it, record it, reply, ack."""
        out = self.consumer
        reply_to, correlation_id = message.reply_to, message.correlation_id
        try:
            request = RouteRequest.model_validate_json(message.body)
        except ValidationError as exc:
            # The same answer as services/handlers.py gives, on this direct consumer.
            await out.reply(reply_to, correlation_id, encode(malformed(exc, ROUTE_REQUESTS)))
            await message.reject(requeue=False)
            return
        if request.preview:
            await out.reply(reply_to, correlation_id, encode(self._preview(request)))
            await message.ack()
            return
        sink = None
        if request.stream:

            async def send(body: bytes, kind: str) -> None:
                await out.reply(reply_to, correlation_id, body, kind)

            sink = ChunkSender(send, request.request_id, self.stream_window)
            self.stream_window.active += 1
        IN_FLIGHT.labels("router").inc()
        try:
            result, completed = await self.engine.handle(request, sink)
            if sink is not None:
                await sink.finish()
        finally:
            IN_FLIGHT.labels("router").dec()
            if sink is not None:
                self.stream_window.active -= 1
        # The event is confirmed by the broker before the caller hears the end, so an
        # answered request is always recorded.
        await self.completions.publish(completed)
        if sink is None:
            await out.reply(reply_to, correlation_id, encode(result))
        else:
            STREAM_CHUNKS.observe(sink.chunks)
            end = RouteStreamEnd.model_validate(
                {**result.model_dump(exclude={"answer"}), "chunks": sink.chunks}
            )
            await out.reply(reply_to, correlation_id, encode(end), "end")
        await message.ack()
        log.info(
            "request %s",
            "answered" if result.ok else "failed",
            extra={
                "request_id": request.request_id,
                "correlation_id": correlation_id,
                "provider": result.provider,
                "model": result.model,
                "error_kind": result.error_kind,
            },
        )

    def _register(self) -> None:
        broker = self.broker

        overrides_queue = RabbitQueue(
            self.settings.name(f"router.overrides.{self.instance}"),
            exclusive=True,
            auto_delete=True,
            durable=False,
        )

        @broker.subscriber(
            overrides_queue,
            self.topology.overrides(),
            no_reply=True,
            ack_policy=AckPolicy.ACK,
        )
        async def on_overrides(msg: RabbitMessage) -> None:
            kind = msg.raw_message.type
            try:
                if kind == QUALITY_MODEL_TYPE:
                    await self._install_model(QualityModelPublished.model_validate_json(msg.body))
                else:
                    self._install(OverridesPublished.model_validate_json(msg.body))
            except ValidationError as exc:
                name = kind if kind == QUALITY_MODEL_TYPE else "OverridesPublished"
                log.warning("ignored malformed %s: %s", name, validation_summary(exc))

        cancels_queue = RabbitQueue(
            self.settings.name(f"router.cancels.{self.instance}"),
            exclusive=True,
            auto_delete=True,
            durable=False,
        )

        @broker.subscriber(
            cancels_queue, self.topology.cancels(), no_reply=True, ack_policy=AckPolicy.ACK
        )
        async def on_cancel(msg: RabbitMessage) -> None:
            try:
                cancel = CancelRequest.model_validate_json(msg.body)
            except ValidationError as exc:
                log.warning("ignored malformed CancelRequest: %s", validation_summary(exc))
                return
            stopped = self.engine.calls.cancel(cancel.request_id)
            CANCELS.labels("stopped" if stopped else "remembered").inc()
            if stopped:
                log.info("request %s: call stopped (%s)", cancel.request_id, cancel.reason)

    def _preview(self, request: RouteRequest) -> RpcReply | ErrorReply:
        classification = classify(request.messages)
        try:
            decision = self.engine.decide(request, classification, explain=True)
        except NoCandidateError as exc:
            return ErrorReply(error_kind="no_candidate", error_message=str(exc))
        return RpcReply(data=decision_view(decision, str(request.request_id), classification))

    def _install(self, published: OverridesPublished) -> None:
        new = OverrideSet(
            version=published.version,
            by_pattern={o.pattern: o for o in published.overrides},
            trials=published.trials,
        )
        if self.engine.swap_overrides(new):
            log.info("overrides version %s installed (%d)", new.version, len(new.by_pattern))
        self.overrides_loaded.set()

    async def _install_data(self, data: dict[str, Any]) -> None:
        self._install(OverridesPublished.model_validate(data))

    async def _install_model(self, published: QualityModelPublished) -> None:
        """Build the published model whole, then swap it in (one reference). Building it
        (reading the bytes, inverting its precision) takes a fraction of a second of numpy,
        which releases the GIL: it runs in a thread while requests go on being answered."""
        held = self.engine.quality.version
        if held is not None and published.version <= held:
            self.model_loaded.set()
            return  # a redelivery or the start-up load behind a publish: nothing to build
        try:
            if published.context_version != CONTEXT_NUMBER:
                raise ModelFormatError("fitted on another context layout than this router's")
            raw = base64.b64decode(published.model, validate=True)
            catalog = self.catalog
            model = await asyncio.to_thread(
                lambda: QualityModel.from_bytes(raw).covering(catalog)
            )
        except (ModelFormatError, binascii.Error) as exc:
            # Keep the model in force: a router of another release must not route blind.
            log.warning("quality model version %s not installed: %s", published.version, exc)
        else:
            if self.engine.swap_quality(QualitySet(model, published.version)):
                log.info("quality model version %s installed", published.version)
        self.model_loaded.set()

    async def _install_model_data(self, data: dict[str, Any]) -> None:
        if data:
            await self._install_model(QualityModelPublished.model_validate(data))
        else:  # nothing learned yet: the catalog priors stay
            self.model_loaded.set()

    async def _load_current(
        self,
        command: BaseModel,
        install: Callable[[dict[str, Any]], Awaitable[None]],
        loaded: asyncio.Event,
    ) -> None:
        """Ask the learner for what is current until it answers (or a publish installed a
        version meanwhile: the newer version wins either way)."""
        delay = 0.5
        while not loaded.is_set():
            try:
                raw = await self.rpc.call(self.settings.name(LEARNER_COMMANDS), command, timeout=5)
                payload = json.loads(raw)
                if payload.get("ok"):
                    await install(payload["data"])
                    return
            except (RpcTimeoutError, ValidationError, ValueError, KeyError) as exc:
                log.info("current overrides not loaded yet (%s)", type(exc).__name__)
            except Exception as exc:  # broker reconnecting
                log.warning("current overrides not loaded yet (%s)", type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)
