"""Who sent a request: the one thing authentication leaves on it, typed."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from shared.storage.apikeys import ApiKeyInfo


@dataclass(frozen=True, slots=True)
class Caller:
    """The caller's key; None when AUTH_ENABLED=false (local development)."""

    key: ApiKeyInfo | None

    @property
    def api_key_id(self) -> str | None:
        """Attributed to the caller's requests."""
        return self.key.id if self.key else None

    @property
    def feedback_key_id(self) -> str | None:
        """The key whose requests this caller may rate: an admin rates any (None)."""
        if self.key is None or self.key.scope == "admin":
            return None
        return self.key.id


ANONYMOUS = Caller(None)


def caller(request: Request) -> Caller:
    """The caller authentication left on the request; a route that reads it without requiring
    a key is a programming error, not an anonymous caller."""
    found = getattr(request.state, "caller", None)
    if not isinstance(found, Caller):
        raise RuntimeError("this route reads the caller but does not require a key")
    return found
