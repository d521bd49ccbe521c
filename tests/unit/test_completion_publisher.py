"""The router's group commit of RouteCompleted events (services/router/completions.py)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from schemas.messages import RouteCompleted, RouteCompletedBatch
from services.router.completions import CompletionPublisher
from shared.messaging.topology import ROUTE_COMPLETED_BATCH_KEY, ROUTE_COMPLETED_KEY


def event() -> RouteCompleted:
    return RouteCompleted(request_id=uuid.uuid4(), ok=True, prompt_hash="h" * 64)


class FakeBroker:
    """Records publishes; each confirm waits until the test releases it."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, str, str]] = []
        self.confirm = asyncio.Event()
        self.fail_next: Exception | None = None

    async def publish(self, body: bytes, routing_key: str, message_id: str) -> None:
        self.sent.append((body, routing_key, message_id))
        await self.confirm.wait()
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error


async def test_a_lone_event_goes_out_alone_as_route_completed() -> None:
    broker = FakeBroker()
    broker.confirm.set()
    publisher = CompletionPublisher(broker.publish)
    lone = event()
    await publisher.publish(lone)
    [(body, key, message_id)] = broker.sent
    assert key == ROUTE_COMPLETED_KEY
    assert message_id == str(lone.request_id)
    assert RouteCompleted.model_validate_json(body).request_id == lone.request_id


async def test_events_arriving_during_a_publish_go_out_together_after_it() -> None:
    broker = FakeBroker()
    publisher = CompletionPublisher(broker.publish)
    first, *rest = [event() for _ in range(6)]
    waiting = [asyncio.create_task(publisher.publish(first))]
    await asyncio.sleep(0)
    waiting += [asyncio.create_task(publisher.publish(e)) for e in rest]
    await asyncio.sleep(0.01)
    assert len(broker.sent) == 1, "the others wait for the confirm in flight"
    assert not any(task.done() for task in waiting), "nobody returns before its confirm"
    broker.confirm.set()
    await asyncio.gather(*waiting)
    assert [key for _, key, _ in broker.sent] == [ROUTE_COMPLETED_KEY, ROUTE_COMPLETED_BATCH_KEY]
    batch = RouteCompletedBatch.model_validate_json(broker.sent[1][0])
    assert [e.request_id for e in batch.events] == [e.request_id for e in rest]


async def test_groups_are_capped_at_max_batch() -> None:
    broker = FakeBroker()
    publisher = CompletionPublisher(broker.publish, max_batch=3)
    events = [event() for _ in range(8)]
    tasks = [asyncio.create_task(publisher.publish(e)) for e in events]
    await asyncio.sleep(0)
    broker.confirm.set()
    await asyncio.gather(*tasks)
    sizes = []
    for body, key, _ in broker.sent:
        sizes.append(
            1
            if key == ROUTE_COMPLETED_KEY
            else len(RouteCompletedBatch.model_validate_json(body).events)
        )
    assert sizes == [3, 3, 2]
    seen = [
        e.request_id
        for body, key, _ in broker.sent
        for e in (
            [RouteCompleted.model_validate_json(body)]
            if key == ROUTE_COMPLETED_KEY
            else RouteCompletedBatch.model_validate_json(body).events
        )
    ]
    assert seen == [e.request_id for e in events], "every event once, in arrival order"


async def test_a_failed_publish_fails_its_whole_group_and_the_next_one_works() -> None:
    broker = FakeBroker()
    broker.fail_next = ConnectionError("channel closed")
    publisher = CompletionPublisher(broker.publish)
    group = [asyncio.create_task(publisher.publish(event())) for _ in range(4)]
    await asyncio.sleep(0)
    broker.confirm.set()
    results = await asyncio.gather(*group, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results), results
    await publisher.publish(event())  # the publisher is usable again
    assert len(broker.sent) == 2


async def test_cancelling_the_sender_fails_the_waiting_events_instead_of_hanging() -> None:
    broker = FakeBroker()  # never confirms
    publisher = CompletionPublisher(broker.publish)
    tasks = [asyncio.create_task(publisher.publish(event())) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert publisher._sender is not None
    publisher._sender.cancel()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 1)
    assert all(isinstance(r, ConnectionError) for r in results), results


@pytest.mark.parametrize("count", [2, 50])
async def test_batch_body_is_a_valid_route_completed_batch(count: int) -> None:
    from services.router.completions import batch_body

    events = [event() for _ in range(count)]
    body = batch_body([e.model_dump_json().encode() for e in events])
    parsed = RouteCompletedBatch.model_validate_json(body)
    assert [e.request_id for e in parsed.events] == [e.request_id for e in events]


async def test_a_busy_router_lingers_so_near_finishers_share_a_publish() -> None:
    broker = FakeBroker()
    broker.confirm.set()
    in_flight = 3
    publisher = CompletionPublisher(broker.publish, linger_s=0.05, in_flight=lambda: in_flight)
    first = asyncio.create_task(publisher.publish(event()))
    await asyncio.sleep(0.01)  # the others finish within the linger
    rest = [asyncio.create_task(publisher.publish(event())) for _ in range(2)]
    await asyncio.gather(first, *rest)
    assert [key for _, key, _ in broker.sent] == [ROUTE_COMPLETED_BATCH_KEY]


async def test_a_router_with_nothing_else_in_flight_never_lingers() -> None:
    broker = FakeBroker()
    broker.confirm.set()
    publisher = CompletionPublisher(broker.publish, linger_s=10.0, in_flight=lambda: 1)
    await asyncio.wait_for(publisher.publish(event()), 1.0)
    assert [key for _, key, _ in broker.sent] == [ROUTE_COMPLETED_KEY]
