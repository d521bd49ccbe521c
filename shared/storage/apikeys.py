"""API keys: their format, how they are stored, and the rate limit arithmetic. Pure functions.

A key is 256 random bits (`aco_` + 43 url-safe characters), shown once at creation. Only its
SHA-256 is stored. A slow password hash (bcrypt, argon2) protects low-entropy secrets against
offline guessing; a 256-bit random key cannot be guessed from its SHA-256, and a fast hash lets
every request look its key up by an index instead of spending ~100 ms of CPU on a verification.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

KEY_PREFIX = "aco_"
_KEY_PATTERN = re.compile(r"^aco_[A-Za-z0-9_-]{43}$")
HASH_PATTERN = r"^[0-9a-f]{64}$"

Scope = Literal["client", "admin"]


class ApiKeyInfo(BaseModel):
    """What the ingress needs to know about a key (never the key or its hash)."""

    id: str
    name: str = ""
    scope: Scope
    rpm_limit: int | None = Field(default=None, gt=0)
    daily_budget_usd: float | None = Field(default=None, gt=0)
    revoked: bool = False
    # Model rules, enforced by the policy (services/ingress/key_rules.py); None = no rule.
    allowed_models: list[str] | None = None
    allowed_providers: list[str] | None = None
    min_quality: float | None = Field(default=None, ge=0, le=1)
    # The key's default for constraints.quality_target (the decision knob).
    quality_target: float | None = Field(default=None, ge=0, le=1)
    max_cost_per_request_usd: float | None = Field(default=None, gt=0)

    @property
    def limited(self) -> bool:
        return self.rpm_limit is not None or self.daily_budget_usd is not None

    @property
    def has_rules(self) -> bool:
        return (
            self.allowed_models is not None
            or self.allowed_providers is not None
            or self.min_quality is not None
            or self.quality_target is not None
            or self.max_cost_per_request_usd is not None
        )


def new_key() -> tuple[str, str]:
    """A fresh (key id, secret key). The id is public: it names the key in rows and listings."""
    return f"key_{secrets.token_hex(6)}", KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def well_formed(key: str) -> bool:
    """Cheap check that spares a database lookup for anything that cannot be one of our keys."""
    return bool(_KEY_PATTERN.match(key))


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    next_tat: datetime
    retry_after_s: float


def gcra(now: datetime, tat: datetime | None, rpm: int) -> RateDecision:
    """Generic cell rate algorithm: `rpm` requests per minute, up to `rpm` of them at once.

    Equivalent to a token bucket holding `rpm` tokens refilled at `rpm` per minute, but its
    whole state is one timestamp (the theoretical arrival time), updated under a row lock.
    """
    interval = timedelta(seconds=60 / rpm)
    base = max(tat or now, now)
    candidate = base + interval
    allowed_at = candidate - timedelta(seconds=60)
    if allowed_at > now:
        return RateDecision(False, tat or now, (allowed_at - now).total_seconds())
    return RateDecision(True, candidate, 0.0)


def seconds_until_next_utc_day(now: datetime) -> float:
    """When a daily budget starts again."""
    utc = now.astimezone(UTC)
    tomorrow = datetime(utc.year, utc.month, utc.day, tzinfo=UTC) + timedelta(days=1)
    return (tomorrow - utc).total_seconds()
