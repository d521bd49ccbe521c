"""The bus fuzzer (issue 17): hostile messages on every queue, valid ones mixed in between.

For each work queue, every body its contract refuses (random bytes, broken JSON, wrong types,
huge fields, lone surrogates; seeded, a fixed budget per queue) must end in `<queue>.dead`,
and a caller that asked for a reply gets `invalid_message` without its input echoed. The valid
messages sent between them are all carried out (nothing lost), the fanout exchanges shrug
garbage off, and afterwards every consumer is still there and the system still answers.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from schemas.messages import (
    CancelRequest,
    ChatMessage,
    LearnerCommand,
    OverridesPublished,
    PingDatabase,
    QualityModelPublished,
    QueryCommand,
    ReloadCatalog,
    ReportLearningStatus,
    RouteCompletedBatch,
    RouteRequest,
    ServiceHeartbeat,
    SubmitFeedback,
)
from services.ledger.handlers import completions_of
from shared.messaging import topology as names
from shared.settings import Settings
from tests.fakes import hostile
from tests.integration.test_request_path import completed_event, wait_for_rows
from tests.system import RunningSystem

BUDGET = 40  # hostile bodies per queue
SEED = 17


class Bus:
    """A producer with its own reply queue, as any client of the bus has."""

    def __init__(self, settings: Settings, channel: aio_pika.abc.AbstractChannel) -> None:
        self.settings = settings
        self.channel = channel
        self.replies: dict[str, dict[str, Any]] = {}
        self.reply_queue: aio_pika.abc.AbstractQueue | None = None

    async def start(self) -> None:
        self.reply_queue = await self.channel.declare_queue(exclusive=True, auto_delete=True)

        async def on_reply(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                self.replies[str(message.correlation_id)] = json.loads(message.body)

        await self.reply_queue.consume(on_reply)

    async def send(
        self,
        body: bytes,
        queue: str | None = None,
        *,
        exchange: str = "",
        key: str = "",
        message_type: str | None = None,
    ) -> str:
        """Publish; to a work queue with our reply queue and a fresh correlation id."""
        correlation_id = uuid.uuid4().hex
        target = await self.channel.get_exchange(exchange) if exchange else None
        message = aio_pika.Message(
            body,
            correlation_id=correlation_id,
            reply_to=self.reply_queue.name if queue and self.reply_queue else None,
            content_type="application/json",
            type=message_type,
        )
        if target is None:
            await self.channel.default_exchange.publish(message, routing_key=queue or "")
        else:
            await target.publish(message, routing_key=key)
        return correlation_id

    async def depth(self, queue: str) -> tuple[int, int]:
        """(messages, consumers) of a queue, fresh from the broker."""
        declared = await self.channel.declare_queue(queue, passive=True)
        result = declared.declaration_result
        return result.message_count or 0, result.consumer_count or 0


@pytest.fixture
async def bus(settings: Settings) -> AsyncIterator[Bus]:
    connection = await aio_pika.connect(settings.rabbitmq_url)
    try:
        producer = Bus(settings, await connection.channel())
        await producer.start()
        yield producer
    finally:
        await connection.close()


def _refused(parse: Callable[[bytes], object], body: bytes) -> bool:
    try:
        parse(body)
    except ValidationError:
        return True
    return False


def _hostile(rng: random.Random, parse: Callable[[bytes], object], valid: bytes) -> list[bytes]:
    return [b for b in hostile.bodies(rng, json.loads(valid), BUDGET) if _refused(parse, b)]


def _route_request(text: str) -> bytes:
    request = RouteRequest(messages=[ChatMessage(role="user", content=text)], max_tokens=20)
    return request.model_dump_json().encode()


async def _wait(check: Callable[[], Any], timeout: float = 60.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)


async def test_hostile_messages_on_every_queue_are_dead_lettered_and_nothing_valid_is_lost(
    system: RunningSystem, settings: Settings, bus: Bus, db: asyncpg.Pool
) -> None:
    rng = random.Random(SEED)
    events = [completed_event() for _ in range(6)]
    batch = RouteCompletedBatch(events=[completed_event() for _ in range(3)])
    feedback = [SubmitFeedback(request_id=e.request_id, quality_score=4) for e in events]
    queues: dict[str, tuple[Callable[[bytes], object], list[bytes]]] = {
        names.ROUTE_REQUESTS: (
            RouteRequest.model_validate_json,
            [_route_request(f"valid question {i}") for i in range(3)],
        ),
        names.FEEDBACK_COMPLETIONS: (
            lambda b: completions_of(names.ROUTE_COMPLETED_KEY, b),
            [e.model_dump_json().encode() for e in events],
        ),
        names.FEEDBACK_SUBMISSIONS: (
            TypeAdapter(SubmitFeedback).validate_json,
            [f.model_dump_json().encode() for f in feedback],
        ),
        names.FEEDBACK_QUERIES: (
            TypeAdapter(QueryCommand).validate_json,
            [PingDatabase().model_dump_json().encode()],
        ),
        names.LEARNER_COMMANDS: (
            TypeAdapter(LearnerCommand).validate_json,
            [ReportLearningStatus().model_dump_json().encode()],
        ),
    }
    dead_before = {q: (await bus.depth(settings.name(f"{q}.dead")))[0] for q in queues}
    sent_hostile: dict[str, int] = {}
    hostile_ids: list[str] = []
    valid_ids: list[str] = []
    for queue, (parse, valid) in queues.items():
        bad = _hostile(rng, parse, valid[0])
        assert len(bad) >= BUDGET // 2, f"the fuzzer made too few refused bodies for {queue}"
        sent_hostile[queue] = len(bad)
        mixed = [(b, False) for b in bad] + [(v, True) for v in valid]
        rng.shuffle(mixed)
        for body, is_valid in mixed:
            if queue == names.FEEDBACK_COMPLETIONS:
                await bus.send(
                    body,
                    exchange=settings.name(names.EVENTS_EXCHANGE),
                    key=names.ROUTE_COMPLETED_KEY,
                )
                continue
            correlation_id = await bus.send(body, settings.name(queue))
            (valid_ids if is_valid else hostile_ids).append(correlation_id)
    await bus.send(
        batch.model_dump_json().encode(),
        exchange=settings.name(names.EVENTS_EXCHANGE),
        key=names.ROUTE_COMPLETED_BATCH_KEY,
    )

    async def all_dead() -> bool:
        for queue, count in sent_hostile.items():
            depth, _ = await bus.depth(settings.name(f"{queue}.dead"))
            if depth < dead_before[queue] + count:
                return False
        return True

    await _wait(all_dead)
    await _wait(lambda: _answered(bus, valid_ids + hostile_ids))
    await asyncio.sleep(0.5)  # time for anything wrongly dead-lettered to show
    for queue, count in sent_hostile.items():
        depth, consumers = await bus.depth(settings.name(f"{queue}.dead"))
        assert depth == dead_before[queue] + count, f"{queue}: every refused body, and only those"
        _, consumers = await bus.depth(settings.name(queue))
        assert consumers >= 1, f"{queue} lost its consumer"

    # Every caller heard back: the valid ones with an answer, the hostile ones with why not.
    for correlation_id in hostile_ids:
        reply = bus.replies[correlation_id]
        assert reply["ok"] is False and reply["error_kind"] == "invalid_message", reply
        assert hostile.MARKER not in json.dumps(reply), "an error reply echoed its input"
    for correlation_id in valid_ids:
        assert bus.replies[correlation_id].get("ok") is not False, bus.replies[correlation_id]

    # Nothing valid was lost: every event is a row, every rating is stored.
    recorded = [e.request_id for e in [*events, *batch.events]]
    rows = await wait_for_rows(
        db,
        "SELECT count(*) FROM routing_requests WHERE request_id = ANY($1)",
        recorded,
        expected=len(recorded),
    )
    assert rows == len(recorded)
    rated = await wait_for_rows(
        db,
        "SELECT count(*) FROM production_feedback WHERE request_id = ANY($1)",
        [f.request_id for f in feedback],
        expected=len(feedback),
    )
    assert rated == len(feedback)


async def _answered(bus: Bus, correlation_ids: list[str]) -> bool:
    return all(c in bus.replies for c in correlation_ids)


async def test_garbage_on_the_fanouts_and_heartbeats_breaks_nothing(
    system: RunningSystem, settings: Settings, bus: Bus
) -> None:
    rng = random.Random(SEED + 1)
    router = system.worker("router")
    version = router.engine.overrides.version  # type: ignore[attr-defined]
    model_version = router.engine.quality.version  # type: ignore[attr-defined]
    valid_shapes = {
        "version": 1,
        "overrides": [],
        "request_id": str(uuid.uuid4()),
        "context_version": 1,
        "model": "AAAA",
        "models": 3,
    }
    for exchange, key, contract, kind in (
        (names.OVERRIDES_EXCHANGE, "", OverridesPublished, None),
        (names.OVERRIDES_EXCHANGE, "", QualityModelPublished, names.QUALITY_MODEL_TYPE),
        (names.CANCELS_EXCHANGE, "", CancelRequest, None),
        (names.EVENTS_EXCHANGE, f"{names.HEARTBEAT_KEY}.router", ServiceHeartbeat, None),
        (names.EVENTS_EXCHANGE, names.CATALOG_RELOAD_KEY, ReloadCatalog, None),
    ):
        garbage = _hostile(rng, contract.model_validate_json, json.dumps(valid_shapes).encode())
        assert len(garbage) >= BUDGET // 2
        for body in garbage:
            await bus.send(body, exchange=settings.name(exchange), key=key, message_type=kind)
    await asyncio.sleep(1.0)
    assert router.engine.overrides.version == version  # type: ignore[attr-defined]
    assert router.engine.quality.version == model_version  # type: ignore[attr-defined]
    async with system.client() as client:
        answered = await client.post("/v1/route", json={"prompt": "Still there?"})
        health = await _health_when_all_ready(client)
    assert answered.status_code == 200, answered.text
    assert all(s["ready"] >= 1 for s in health["services"].values()), health["services"]


async def _health_when_all_ready(client: httpx.AsyncClient, wait_s: float = 10.0) -> Any:
    """/health once every worker service reports ready, or the last answer after `wait_s`.

    An instance counts as gone after 3 silent heartbeat intervals (1.5 s in tests); on a loaded
    machine one late heartbeat is not breakage, so the test waits for the next ones rather than
    judging from a single look."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        health = (await client.get("/health")).json()
        ready = all(s["ready"] >= 1 for s in health["services"].values())
        if ready or asyncio.get_running_loop().time() > deadline:
            return health
        await asyncio.sleep(0.25)
