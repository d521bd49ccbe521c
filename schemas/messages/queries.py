"""Queries to the feedback service (RPC on feedback.queries), one message type per intent.

Reports over the stored data, and the API key checks of the ingress, which holds no database
credentials: whatever needs the database goes through the one service that has it.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from schemas.messages.base import Intent


class SummarizeFeedback(Intent):
    """Query: feedback counts and averages over the last `days`."""

    action: Literal["feedback_summary"] = "feedback_summary"
    days: int = Field(default=30, ge=1, le=365)


class BuildDashboard(Intent):
    """Query: the dashboard's traffic and feedback figures over the last `days`."""

    action: Literal["dashboard"] = "dashboard"
    days: int = Field(default=30, ge=1, le=365)


class PingDatabase(Intent):
    """Query: does the feedback service reach its database."""

    action: Literal["ping"] = "ping"


class FindRequestOwner(Intent):
    """Query: is `request_id` recorded, and with which API key."""

    action: Literal["request_owner"] = "request_owner"
    request_id: UUID = Field(strict=False)


class LookUpApiKey(Intent):
    """Query: the record of the key whose sha256 is `key_hash` (None when unknown)."""

    action: Literal["api_key"] = "api_key"
    key_hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class AdmitRequest(Intent):
    """Query: may `api_key_id` send one more request (rate limit, daily budget)? Reserves
    `estimated_cost_usd` for `request_id` until its cost is recorded. `purpose` "feedback":
    one more rating, limited by the key's rate in a bucket of its own (no budget)."""

    action: Literal["admit"] = "admit"
    api_key_id: str = Field(max_length=64)
    purpose: Literal["request", "feedback"] = "request"
    request_id: UUID | None = Field(default=None, strict=False)
    estimated_cost_usd: float | None = Field(default=None, ge=0)


QueryCommand = Annotated[
    SummarizeFeedback
    | BuildDashboard
    | PingDatabase
    | FindRequestOwner
    | LookUpApiKey
    | AdmitRequest,
    Field(discriminator="action"),
]
