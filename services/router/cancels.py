"""Which provider calls this router is making, so that a caller who gave up can stop one.

A CancelRequest reaches every router (fanout). The router making the call cancels the task
awaiting it; the call's handler sees the CancelledError, takes it back (`Task.uncancel`) and
records the request as `cancelled`. A cancel for a request this router has not received yet
is remembered for a while, so that the request is not executed when it arrives.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

# A cancel waits this long for its request; longer than any caller's timeout, so a request
# still queued when its cancel came is never executed. Bounded in count as well.
REMEMBER_S = 600.0
REMEMBER_MAX = 100_000


class CallRegistry:
    def __init__(self) -> None:
        self._running: dict[UUID, asyncio.Task[object]] = {}
        self._requested: OrderedDict[UUID, float] = OrderedDict()

    @contextmanager
    def running(self, request_id: UUID) -> Iterator[None]:
        """Around the provider call of `request_id`, in the task making it."""
        task = asyncio.current_task()
        assert task is not None
        self._running[request_id] = task
        try:
            yield
        finally:
            self._running.pop(request_id, None)

    def cancel(self, request_id: UUID) -> bool:
        """Stop the call of `request_id` if it runs here (True), else remember the wish."""
        self._remember(request_id)
        task = self._running.get(request_id)
        if task is None:
            return False
        task.cancel()
        return True

    def was_cancelled(self, request_id: UUID) -> bool:
        """Whether the caller of `request_id` asked to cancel it (recently)."""
        self._forget_old()
        return request_id in self._requested

    def take_back(self, request_id: UUID) -> bool:
        """In a task that caught CancelledError: True (and the cancellation undone) when it
        came from a cancel of `request_id`; False when the task itself is being stopped."""
        task = asyncio.current_task()
        if task is None or request_id not in self._requested:
            return False
        if task.cancelling() > 1:
            return False  # also cancelled for another reason (shutdown): let that proceed
        task.uncancel()
        return True

    def _remember(self, request_id: UUID) -> None:
        self._requested[request_id] = time.monotonic()
        self._requested.move_to_end(request_id)
        self._forget_old()

    def _forget_old(self) -> None:
        horizon = time.monotonic() - REMEMBER_S
        while self._requested:
            at = next(iter(self._requested.values()))
            if at >= horizon and len(self._requested) <= REMEMBER_MAX:
                break
            self._requested.popitem(last=False)
