"""What every worker sends or receives whatever its role: the catalog reload command, the
heartbeat, and the generic replies to a command (data, or the kind of error instead of
silence).

ErrorKind lists every error a worker may reply with, so that the ingress maps each one to an
HTTP status; the request path's own kinds come from `schemas.messages.routing`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from schemas.messages.base import Message, utcnow
from schemas.messages.routing import RouteErrorKind


class ReloadCatalog(Message):
    """Command (topic `optimizer.events`, key `catalog.reload`, to every router and ingress):
    re-read the catalog and its overlay (CATALOG_OVERLAY_PATH). A process whose file does not
    validate keeps the catalog it has and logs why."""

    models: int = Field(default=0, ge=0, description="models the sender's reload validated")
    requested_at: datetime = Field(default_factory=utcnow, strict=False)


class ServiceHeartbeat(Message):
    """Event: a worker is alive; what it depends on and whether that answers."""

    service: str
    instance: str
    ready: bool
    details: dict[str, Any] = Field(default_factory=dict)
    sent_at: datetime = Field(default_factory=utcnow, strict=False)


# Every error kind a worker replies with; the ingress maps each one to an HTTP status.
ErrorKind = Literal[
    RouteErrorKind,
    "invalid_message",  # the command did not validate; it was dead-lettered
    "database_unavailable",  # the worker could not reach PostgreSQL; retry later
]


class ErrorReply(Message):
    """Reply sent instead of silence when a command cannot be carried out."""

    ok: Literal[False] = False
    error_kind: ErrorKind
    error_message: str


class RpcReply(Message):
    """Generic successful reply carrying a JSON payload."""

    ok: Literal[True] = True
    data: dict[str, Any] = Field(default_factory=dict)
