"""Key format, hashing and the rate limit arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.storage.apikeys import gcra, hash_key, new_key, seconds_until_next_utc_day, well_formed


def test_new_keys_are_well_formed_unique_and_stored_only_as_a_hash() -> None:
    keys = [new_key() for _ in range(100)]
    assert len({k for _, k in keys}) == 100 and len({i for i, _ in keys}) == 100
    key_id, key = keys[0]
    assert well_formed(key) and key.startswith("aco_") and key_id.startswith("key_")
    digest = hash_key(key)
    assert len(digest) == 64 and digest == hash_key(key) and key not in digest
    assert not well_formed("aco_short") and not well_formed("Bearer " + key)


def test_gcra_allows_a_burst_of_rpm_then_one_request_per_interval() -> None:
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    tat = None
    for _ in range(3):
        decision = gcra(now, tat, rpm=3)
        assert decision.allowed
        tat = decision.next_tat
    refused = gcra(now, tat, rpm=3)
    assert not refused.allowed
    assert refused.retry_after_s == 20.0  # 60 s / 3 requests
    later = gcra(now + timedelta(seconds=20), tat, rpm=3)
    assert later.allowed
    assert not gcra(now + timedelta(seconds=20), later.next_tat, rpm=3).allowed


def test_gcra_state_does_not_bank_idle_time_beyond_one_burst() -> None:
    start = datetime(2026, 11, 28, 12, tzinfo=UTC)
    long_ago = start - timedelta(hours=5)
    tat = gcra(long_ago, None, rpm=2).next_tat
    allowed = 0
    for _ in range(10):
        decision = gcra(start, tat, rpm=2)
        if decision.allowed:
            allowed += 1
            tat = decision.next_tat
    assert allowed == 2


def test_daily_budget_restarts_at_utc_midnight() -> None:
    now = datetime(2026, 11, 28, 23, 59, 30, tzinfo=UTC)
    assert seconds_until_next_utc_day(now) == 30
