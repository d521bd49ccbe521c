"""Feedback: a caller's rating of an answer, and its acknowledgement.

Ratings are what the learner turns into overrides and quality models. They come over HTTP or
straight on the bus, which want different answers for an unknown request: the command says
which.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from schemas.messages.base import Message


class SubmitFeedback(Message):
    """Command: rate an answer. A re-submission for the same request updates the rating."""

    request_id: UUID = Field(strict=False)
    quality_score: int = Field(ge=1, le=5)
    is_correct: bool | None = None
    comment: str | None = Field(default=None, max_length=2000)
    api_key_id: str | None = None
    # HTTP callers want a 404 for an unknown id; bus producers want it parked until it appears.
    require_known_request: bool = False


class FeedbackAck(Message):
    request_id: UUID = Field(strict=False)
    status: Literal["created", "updated", "pending", "not_found", "forbidden"]
    detail: str
