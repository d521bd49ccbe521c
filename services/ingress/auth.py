"""API key authentication for the ingress, which holds no database credentials.

A presented key's record is asked of the feedback service over the bus (`LookUpApiKey`) and
cached by the ingress state's `KeyVerifier` (key_cache.py). Authentication leaves one typed
`Caller` on the request (caller.py); handlers read it with `caller(request)`.

Routers declare who may call them: `Depends(require_client)` or `Depends(require_admin)`;
tests/unit/test_ingress_access.py fails for a route that declares neither and is not public.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Annotated, Any

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from schemas.messages import LookUpApiKey
from services.ingress.bus_calls import ingress, rpc_json
from services.ingress.caller import ANONYMOUS, Caller
from services.ingress.errors import ApiError
from services.ingress.state import IngressState
from shared.messaging.topology import FEEDBACK_QUERIES
from shared.storage.apikeys import ApiKeyInfo, well_formed

_HOW = (
    "as `Authorization: Bearer <key>` or `x-api-key: <key>` (browsers may send it as the "
    "password of HTTP Basic auth, with any user name)."
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


async def _lookup(state: IngressState, digest: str) -> ApiKeyInfo | None:
    try:
        payload = await rpc_json(
            state,
            FEEDBACK_QUERIES,
            LookUpApiKey(key_hash=digest),
            timeout=state.settings.auth_lookup_timeout_s,
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
    # Anthropic's SDK (and tools built on it) send the key as `x-api-key`.
    api_key = request.headers.get("x-api-key", "").strip()
    if api_key:
        return api_key
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
) -> Caller:
    """The caller, also left on the request for the handlers (`caller(request)`)."""
    state = ingress(request)
    if not state.settings.auth_enabled:
        request.state.caller = ANONYMOUS
        return ANONYMOUS
    key = _presented_key(request, credentials)
    if not key:
        raise _unauthorized(
            request, "an API key is required: send 'Authorization: Bearer <key>' or 'x-api-key'"
        )
    info = None
    if well_formed(key):
        info = await state.keys.verify(key, functools.partial(_lookup, state))
    if info is None:
        raise _unauthorized(request, "the API key is not valid")
    if info.revoked:
        raise _unauthorized(request, "the API key is revoked")
    found = Caller(info)
    request.state.caller = found
    return found


async def require_client(request: Request, credentials: ClientCredentials) -> None:
    """Any valid key (client or admin)."""
    await authenticate(request, credentials)


async def require_admin(request: Request, credentials: AdminCredentials) -> None:
    """A valid key with the admin scope."""
    found = await authenticate(request, credentials)
    if found.key is not None and found.key.scope != "admin":
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
