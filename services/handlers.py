"""The one shape of a handler on the bus.

`subscribe` registers a consumer that
1. validates the delivery into its message type; a malformed one is dead-lettered at once
   (retrying cannot fix it) and the caller, if it waits, hears why (`invalid_message`);
2. calls a plain handler function, which receives the message and its dependencies;
3. answers the caller with what the handler returned, or with an `ErrorReply`
   (`database_unavailable`) when the database is away and the caller is waiting for an answer.
Any other exception propagates: NACK_ON_ERROR requeues the message, and the quorum queue's
delivery limit dead-letters it if it keeps failing (at-least-once; handlers are idempotent).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import asyncpg
from faststream.middlewares import AckPolicy
from faststream.rabbit import RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas.messages import ErrorReply, RpcReply
from services.runtime import Worker
from shared.storage.db import TRANSIENT_DB_ERRORS

M = TypeVar("M")
D = TypeVar("D")
# One plain function per message type of a queue: (message, dependencies) -> reply data.
Table = Mapping[type, Callable[[Any, D], Awaitable[dict[str, Any]]]]

# The database is away or refused: the caller gets `database_unavailable` and may retry.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (*TRANSIENT_DB_ERRORS, asyncpg.PostgresError)


def body_as(adapter: TypeAdapter[M]) -> Callable[[RabbitMessage], M]:
    """A parser of the delivery's body, e.g. `body_as(TypeAdapter(QueryCommand))`."""

    def parse(msg: RabbitMessage) -> M:
        return adapter.validate_json(msg.body)

    return parse


def subscribe(
    worker: Worker,
    queue: RabbitQueue,
    queue_base: str,
    parse: Callable[[RabbitMessage], M],
    handle: Callable[[M], Awaitable[BaseModel | None]],
    *,
    answer_database_errors: bool = False,
) -> None:
    """Consume `queue` with the shape above. `answer_database_errors`: for RPC queues whose
    caller waits (a report, a key check); elsewhere an outage requeues the message instead."""
    answered: tuple[type[BaseException], ...] = (
        DATABASE_ERRORS if answer_database_errors else ()
    )

    @worker.broker.subscriber(queue, no_reply=True, ack_policy=AckPolicy.NACK_ON_ERROR)
    async def on_message(msg: RabbitMessage) -> None:
        try:
            message = parse(msg)
        except ValidationError as exc:
            await worker.reject_malformed(msg, exc, queue_base)
            return
        reply: BaseModel | None
        try:
            reply = await handle(message)
        except answered as exc:
            reply = ErrorReply(error_kind="database_unavailable", error_message=type(exc).__name__)
        if reply is not None:
            await worker.answer(msg, reply)


async def dispatch(table: Table[D], message: BaseModel, deps: D) -> RpcReply:
    """Run the function of `table` for the message's type; its data is the reply."""
    return RpcReply(data=await table[type(message)](message, deps))
