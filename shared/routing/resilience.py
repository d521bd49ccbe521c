"""Circuit breakers per (provider, model) and the retry backoff, both pure and clock-injectable.

Everything here runs on one event loop and never awaits, so no locking is needed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from shared.settings import Settings

Clock = Callable[[], float]


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed: calls pass, consecutive failures are counted. After `failure_threshold` of them
    it opens: calls are refused for `reset_s`. Then it is half-open: ONE probe call is let
    through; its success closes the circuit, its failure opens it again for `reset_s`.
    """

    def __init__(self, failure_threshold: int, reset_s: float, clock: Clock = time.monotonic):
        self._threshold = failure_threshold
        self._reset_s = reset_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_started_at: float | None = None

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock() - self._opened_at < self._reset_s:
            return CircuitState.OPEN
        return CircuitState.HALF_OPEN

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def allow(self) -> bool:
        """May a call go ahead now? In half-open state this hands out the single probe."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.OPEN:
            return False
        now = self._clock()
        # A probe whose caller never reported (cancelled mid-call) must not wedge the circuit
        # half-open forever: after another reset period a new probe is allowed.
        if self._probe_started_at is None or now - self._probe_started_at >= self._reset_s:
            self._probe_started_at = now
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probe_started_at = None

    def record_failure(self) -> None:
        self._failures += 1
        # A failed probe reopens at once; in closed state the threshold decides.
        if self._opened_at is not None or self._failures >= self._threshold:
            self._opened_at = self._clock()
            self._probe_started_at = None

    def retry_in_s(self) -> float:
        """Seconds until the next probe is allowed (0 unless open)."""
        if self.state is not CircuitState.OPEN or self._opened_at is None:
            return 0.0
        return max(0.0, self._reset_s - (self._clock() - self._opened_at))


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """One breaker's state, for /health and metrics."""

    provider: str
    model: str
    state: CircuitState
    consecutive_failures: int
    retry_in_s: float


class BreakerRegistry:
    """The breakers of one process, created on first use for each (provider, catalog model id)."""

    def __init__(self, failure_threshold: int, reset_s: float, clock: Clock = time.monotonic):
        self._threshold = failure_threshold
        self._reset_s = reset_s
        self._clock = clock
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = time.monotonic) -> BreakerRegistry:
        return cls(settings.circuit_failure_threshold, settings.circuit_reset_s, clock)

    def get(self, provider: str, model: str) -> CircuitBreaker:
        key = (provider, model)
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = CircuitBreaker(self._threshold, self._reset_s, self._clock)
            self._breakers[key] = breaker
        return breaker

    def snapshot(self) -> list[BreakerStatus]:
        """Every breaker seen so far, sorted by provider and model."""
        return [
            BreakerStatus(p, m, b.state, b.consecutive_failures, round(b.retry_in_s(), 3))
            for (p, m), b in sorted(self._breakers.items())
        ]


def backoff_delay(
    attempt: int,
    *,
    base_s: float,
    remaining_s: float,
    retry_after_s: float | None = None,
    cap_s: float = 8.0,
    rng: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait before retry number `attempt` (1 = the first retry), or None to give up.

    Full jitter (a random delay up to base * 2^(attempt-1), capped) spreads the retries of many
    requests that failed together. A vendor's retry-after is a floor: retrying sooner is known
    to fail. None when the wait would end past the deadline: the caller should move on to
    another model rather than sleep through its budget.
    """
    ceiling = min(cap_s, base_s * 2.0 ** max(0, attempt - 1))
    delay = rng() * ceiling
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    if delay >= remaining_s:
        return None
    return delay
