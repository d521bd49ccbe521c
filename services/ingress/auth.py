"""API key authentication for the ingress, which holds no database credentials.

A presented key is hashed here and its record is asked of the feedback service over the bus
(`LookUpApiKey`), then cached for `AUTH_CACHE_TTL_S`: a revoked key keeps
working on a replica for at most that long (a key with limits is re-checked on each admission,
so for it revocation is immediate). Unknown keys are cached too, so a flood of wrong keys costs
one lookup per distinct key and TTL, and the cache is bounded.

Routers declare who may call them: `Depends(require_client)` or `Depends(require_admin)`;
tests/unit/test_ingress_access.py fails for a route that declares neither and is not public.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections import OrderedDict
from typing import Annotated, Any

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from schemas.messages import LookUpApiKey
from services.ingress.bus_calls import ingress, rpc_json
from services.ingress.errors import ApiError
from services.ingress.state import IngressState
from shared.messaging.topology import FEEDBACK_QUERIES
from shared.storage.apikeys import ApiKeyInfo, hash_key, well_formed

_CACHE_SIZE = 10_000

_HOW = (
    "as `Authorization: Bearer <key>` (browsers may send it as the password of HTTP Basic "
    "auth, with any user name)."
)
# Two names for one scheme, so that the OpenAPI document shows which endpoints need an admin.
client_scheme = HTTPBearer(
    scheme_name="ApiKey",
    auto_error=False,
    description="An API key from `optimizer keys create` (client or admin scope), " + _HOW,
)
admin_scheme = HTTPBearer(
    scheme_name="AdminApiKey",
    auto_error=False,
    description="An API key with the admin scope (`optimizer keys create --scope admin`), " + _HOW,
)
ClientCredentials = Annotated[HTTPAuthorizationCredentials | None, Security(client_scheme)]
AdminCredentials = Annotated[HTTPAuthorizationCredentials | None, Security(admin_scheme)]


class KeyVerifier:
    """Key records by hash, cached briefly; concurrent misses for one key share one lookup."""

    def __init__(self, state: IngressState) -> None:
        self._state = state
        self._ttl = state.settings.auth_cache_ttl_s
        self._cache: OrderedDict[str, tuple[float, ApiKeyInfo | None]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[ApiKeyInfo | None]] = {}

    async def verify(self, key: str) -> ApiKeyInfo | None:
        """The key's record, or None when no such key exists."""
        digest = hash_key(key)
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            self._cache.move_to_end(digest)
            return cached[1]
        pending = self._inflight.get(digest)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if pending.cancelled() and task is not None and not task.cancelling():
                    return await self.verify(key)  # the caller that looked it up went away
                raise
        future: asyncio.Future[ApiKeyInfo | None] = asyncio.get_running_loop().create_future()
        self._inflight[digest] = future
        try:
            info = await self._lookup(digest)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: waiters, if any, re-raise it themselves
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            self._inflight.pop(digest, None)
        future.set_result(info)
        self._remember(digest, info)
        return info

    def forget(self) -> None:
        self._cache.clear()

    def _remember(self, digest: str, info: ApiKeyInfo | None) -> None:
        if self._ttl <= 0:
            return
        self._cache[digest] = (time.monotonic() + self._ttl, info)
        self._cache.move_to_end(digest)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)

    async def _lookup(self, digest: str) -> ApiKeyInfo | None:
        try:
            payload = await rpc_json(
                self._state,
                FEEDBACK_QUERIES,
                LookUpApiKey(key_hash=digest),
                timeout=self._state.settings.auth_lookup_timeout_s,
            )
        except ApiError as exc:
            raise ApiError(
                503, "auth_unavailable", "API keys cannot be checked right now; retry shortly"
            ) from exc
        record = payload.get("data", {}).get("key")
        return ApiKeyInfo.model_validate(record) if record else None


def _presented_key(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is not None:
        return credentials.credentials.strip()
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2].strip()
    return ""


def _unauthorized(request: Request, message: str) -> ApiError:
    # A browser asks for credentials itself on Basic; API clients expect Bearer.
    html = "text/html" in request.headers.get("accept", "")
    challenge = 'Basic realm="AI cost optimizer"' if html else 'Bearer realm="AI cost optimizer"'
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})


async def authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> ApiKeyInfo | None:
    """The caller's key (None when auth is off). Sets request.state for the handlers."""
    state = ingress(request)
    if not state.settings.auth_enabled:
        request.state.api_key = None
        request.state.api_key_id = None
        request.state.feedback_key_id = None
        return None
    key = _presented_key(request, credentials)
    if not key:
        raise _unauthorized(request, "an API key is required: send 'Authorization: Bearer <key>'")
    verifier: KeyVerifier = request.app.state.key_verifier
    info = await verifier.verify(key) if well_formed(key) else None
    if info is None:
        raise _unauthorized(request, "the API key is not valid")
    if info.revoked:
        raise _unauthorized(request, "the API key is revoked")
    request.state.api_key = info
    request.state.api_key_id = info.id
    # An admin may rate any request; a client key only the requests made with it.
    request.state.feedback_key_id = None if info.scope == "admin" else info.id
    return info


async def require_client(request: Request, credentials: ClientCredentials) -> None:
    """Any valid key (client or admin)."""
    await authenticate(request, credentials)


async def require_admin(request: Request, credentials: AdminCredentials) -> None:
    """A valid key with the admin scope."""
    info = await authenticate(request, credentials)
    if info is not None and info.scope != "admin":
        raise ApiError(403, "forbidden", "this endpoint needs a key with the admin scope")


def auth_status(state: IngressState) -> dict[str, Any]:
    """The `auth` block of /health."""
    settings = state.settings
    if not settings.auth_enabled:
        return {
            "enabled": False,
            "detail": "AUTH_ENABLED=false: every endpoint is open (local development only)",
        }
    return {
        "enabled": True,
        "scheme": "bearer API keys",
        "cache_ttl_s": settings.auth_cache_ttl_s,
    }
