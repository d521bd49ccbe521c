"""Circuit breaker states and backoff arithmetic, on a fake clock (no sleeping)."""

from __future__ import annotations

import pytest

from shared.routing.resilience import BreakerRegistry, CircuitBreaker, CircuitState, backoff_delay


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_opens_after_threshold_consecutive_failures(clock):
    breaker = CircuitBreaker(failure_threshold=3, reset_s=10, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert not breaker.allow()
    assert breaker.retry_in_s() == 10


def test_a_success_resets_the_failure_count(clock):
    breaker = CircuitBreaker(failure_threshold=2, reset_s=10, clock=clock)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED


def test_half_open_lets_exactly_one_probe_through(clock):
    breaker = CircuitBreaker(failure_threshold=1, reset_s=10, clock=clock)
    breaker.record_failure()
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # everyone else waits for its outcome


def test_probe_success_closes(clock):
    breaker = CircuitBreaker(failure_threshold=1, reset_s=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow() and breaker.allow()


def test_probe_failure_reopens_for_a_full_period(clock):
    breaker = CircuitBreaker(failure_threshold=3, reset_s=10, clock=clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    breaker.record_failure()  # one failure is enough in half-open state
    assert breaker.state is CircuitState.OPEN
    clock.now += 9
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()


def test_a_probe_that_never_reports_does_not_wedge_the_circuit(clock):
    breaker = CircuitBreaker(failure_threshold=1, reset_s=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow()  # probe handed out, then its caller is cancelled
    clock.now += 5
    assert not breaker.allow()
    clock.now += 5
    assert breaker.allow()


def test_registry_keeps_one_breaker_per_provider_and_model(clock):
    registry = BreakerRegistry(failure_threshold=1, reset_s=30, clock=clock)
    registry.get("anthropic", "claude-haiku-4-5").record_failure()
    registry.get("google", "gemini-2.5-flash").record_success()
    assert registry.get("anthropic", "claude-haiku-4-5") is registry.get(
        "anthropic", "claude-haiku-4-5"
    )
    assert registry.get("anthropic", "claude-sonnet-5-5").state is CircuitState.CLOSED
    snapshot = {(s.provider, s.model): s for s in registry.snapshot()}
    opened = snapshot[("anthropic", "claude-haiku-4-5")]
    assert opened.state == "open" and opened.consecutive_failures == 1
    assert opened.retry_in_s == 30
    assert snapshot[("google", "gemini-2.5-flash")].state == "closed"
    assert [s.provider for s in registry.snapshot()] == ["anthropic", "anthropic", "google"]


def test_backoff_grows_exponentially_with_full_jitter():
    def top(attempt):
        return backoff_delay(attempt, base_s=0.5, remaining_s=100, rng=lambda: 0.999999)

    assert top(1) == pytest.approx(0.5, rel=1e-3)
    assert top(2) == pytest.approx(1.0, rel=1e-3)
    assert top(3) == pytest.approx(2.0, rel=1e-3)
    assert top(10) == pytest.approx(8.0, rel=1e-3)  # capped
    assert backoff_delay(3, base_s=0.5, remaining_s=100, rng=lambda: 0.0) == 0.0


def test_backoff_honours_retry_after_as_a_floor():
    delay = backoff_delay(1, base_s=0.1, remaining_s=10, retry_after_s=2.5, rng=lambda: 0.5)
    assert delay == 2.5


def test_backoff_never_waits_past_the_deadline():
    assert backoff_delay(1, base_s=0.1, remaining_s=1.0, retry_after_s=5.0) is None
    assert backoff_delay(4, base_s=1, remaining_s=0.5, rng=lambda: 0.9) is None
    assert backoff_delay(1, base_s=0.1, remaining_s=1.0, rng=lambda: 0.9) == pytest.approx(0.09)
