"""What authentication leaves on a request, the key cache in the ingress state, the lane's path."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from services.ingress.caller import ANONYMOUS, Caller, caller
from services.ingress.fast_lane import _route_path
from services.ingress.key_cache import KeyVerifier
from shared.storage.apikeys import ApiKeyInfo

CLIENT = ApiKeyInfo(id="key_client", scope="client")
ADMIN = ApiKeyInfo(id="key_admin", scope="admin")


def test_a_client_rates_only_its_own_requests_and_an_admin_any() -> None:
    assert (Caller(CLIENT).api_key_id, Caller(CLIENT).feedback_key_id) == (
        "key_client",
        "key_client",
    )
    assert (Caller(ADMIN).api_key_id, Caller(ADMIN).feedback_key_id) == ("key_admin", None)
    assert (ANONYMOUS.api_key_id, ANONYMOUS.feedback_key_id) == (None, None)


def test_reading_a_caller_that_was_never_authenticated_is_an_error() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    with pytest.raises(RuntimeError, match="does not require a key"):
        caller(request)
    request.state.caller = Caller(CLIENT)
    assert caller(request).key == CLIENT


async def test_the_key_cache_looks_each_key_up_once_per_ttl() -> None:
    asked: list[str] = []

    async def lookup(digest: str) -> ApiKeyInfo | None:
        asked.append(digest)
        return CLIENT if len(asked) == 1 else None

    keys = KeyVerifier(ttl_s=60.0)
    assert await keys.verify("aco_one", lookup) == CLIENT
    assert await keys.verify("aco_one", lookup) == CLIENT  # cached
    assert len(asked) == 1
    keys.forget()
    assert await keys.verify("aco_one", lookup) is None
    assert len(asked) == 2


@pytest.mark.parametrize(
    ("path", "root", "expected"),
    [
        ("/v1/chat/completions", "", "/v1/chat/completions"),
        ("/api/v1/chat/completions", "/api", "/v1/chat/completions"),
        ("/apiv1/chat/completions", "/api", "/apiv1/chat/completions"),
    ],
)
def test_the_lane_routes_on_the_path_without_the_root_path(path, root, expected) -> None:
    assert _route_path({"path": path, "root_path": root}) == expected
