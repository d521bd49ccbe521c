"""The FastStream broker every service uses, and the small helpers around it (encode, reply).

Where we go beneath FastStream, and why: direct.py."""

from __future__ import annotations

import logging
from typing import Any

from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.schemas import Channel
from pydantic import BaseModel, ValidationError

from schemas import errors
from shared.messaging.cluster import rabbit_broker
from shared.metrics import broker_middleware
from shared.settings import Settings

log = logging.getLogger(__name__)

JSON = "application/json"


async def _pass_message_through(message: RabbitMessage) -> RabbitMessage:
    return message


def make_broker(settings: Settings, prefetch: int | None = None) -> RabbitBroker:
    """A broker whose channel bounds in-flight deliveries (aiormq is unbounded without it).

    Handlers receive the RabbitMessage itself and validate its body with pydantic. Dependency
    injection is off (`apply_types=False`): fast_depends resolves the message argument in a
    worker thread, a thread hop per delivery that cost most of the router's time (py-spy).
    Per-message logging is off (`logger=None`): handlers log what matters, never prompt text.
    """
    return rabbit_broker(
        settings.rabbitmq_url,
        apply_types=False,
        decoder=_pass_message_through,
        middlewares=[broker_middleware()],
        default_channel=Channel(prefetch_count=prefetch or settings.router_prefetch),
        logger=None,
        graceful_timeout=max(5.0, settings.request_deadline_s),
        reconnect_interval=1.0,
    )


def validation_summary(exc: ValidationError) -> str:
    """Field paths and reasons only: the input values may hold prompt text."""
    return errors.summary(exc.errors(include_url=False))


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json().encode()


async def reply(
    broker: RabbitBroker,
    reply_to: str | None,
    correlation_id: str | None,
    message: BaseModel,
) -> None:
    """Send `message` to a caller's reply queue; a caller without reply_to gets nothing."""
    if not reply_to:
        return
    await broker.publish(
        encode(message),
        queue=reply_to,
        correlation_id=correlation_id,
        content_type=JSON,
        # A reply queue that vanished (caller gone) is not our failure.
        mandatory=False,
    )


def incoming_correlation_id(raw: Any) -> str | None:
    """The caller's own correlation id (FastStream invents one when it is absent)."""
    value = getattr(raw, "correlation_id", None)
    return str(value) if value else None
