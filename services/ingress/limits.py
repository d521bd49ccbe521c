"""Limits checked before any model is called: input sizes, then the key's rate and budget.

Size limits come from settings and each error names the setting. A key's requests per minute
and daily budget are decided by the feedback service under a row lock on the key (see
services/ledger/access_store.py for the bound this gives), so they hold across every ingress
replica. The reservation is an upper bound of the request's cost: its prompt counted as one
token per UTF-8 byte (a BPE token is never shorter), all of `max_tokens` out, at the highest
price among the models that may answer (the forced model and its fallbacks, else any).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fastapi import Request

from schemas.messages import AdmitRequest, ChatMessage, RouteRequest
from services.ingress.bus_calls import ingress, rpc_json
from services.ingress.caller import caller
from services.ingress.errors import ApiError
from shared.messaging.topology import FEEDBACK_QUERIES
from shared.routing.catalog import Catalog, ModelSpec
from shared.routing.tokens import IMAGE_TOKENS
from shared.settings import Settings

_TOKENS_PER_MESSAGE = 8  # role markers and separators the vendors add around each message


def check_input(settings: Settings, messages: Sequence[ChatMessage], max_tokens: int) -> None:
    """413 for a prompt over MAX_PROMPT_CHARS, 422 for max_tokens over MAX_TOKENS_LIMIT."""
    chars = sum(len(m.content) for m in messages)
    if chars > settings.max_prompt_chars:
        raise ApiError(
            413,
            "prompt_too_long",
            f"the prompt has {chars} characters; the limit is "
            f"MAX_PROMPT_CHARS={settings.max_prompt_chars}",
            extra={"limit": "MAX_PROMPT_CHARS", "max": settings.max_prompt_chars},
        )
    if max_tokens > settings.max_tokens_limit:
        raise ApiError(
            422,
            "max_tokens_too_large",
            f"max_tokens is {max_tokens}; the limit is "
            f"MAX_TOKENS_LIMIT={settings.max_tokens_limit}",
            extra={"limit": "MAX_TOKENS_LIMIT", "max": settings.max_tokens_limit},
        )


def candidates(catalog: Catalog, forced: str | None) -> list[ModelSpec]:
    """Models that may answer: a forced model and its fallback chain, else the whole catalog."""
    current = catalog.resolve(forced) if forced else None
    if current is None:
        return list(catalog.models)
    seen: list[str] = []
    todo = [current]
    while todo:
        model_id = todo.pop()
        if model_id not in seen:
            seen.append(model_id)
            todo.extend(catalog.get(model_id).fallbacks)
    return [catalog.get(model_id) for model_id in seen]


def cost_bound(catalog: Catalog, request: RouteRequest) -> float:
    """USD this request cannot exceed at catalog prices (see the module docstring)."""
    tokens_in = sum(
        len(m.content.encode())
        + _TOKENS_PER_MESSAGE
        + IMAGE_TOKENS * len(m.images)
        + sum(len(call.arguments.encode()) + len(call.name) for call in m.tool_calls)
        for m in request.messages
    )
    # Tool definitions are sent with the prompt and billed as input.
    tokens_in += sum(len(tool.model_dump_json()) for tool in request.options.tools)
    models = candidates(catalog, request.constraints.model)
    return max(spec.cost(tokens_in, request.max_tokens) for spec in models)


async def admit(request: Request, command: RouteRequest) -> None:
    """Raise 429 (with Retry-After) when the caller's key is over its rate or budget."""
    key = caller(request).key
    if key is None or not key.limited:
        return
    state = ingress(request)
    # A preview calls no model: it counts against the rate, not the budget.
    estimate = None
    if key.daily_budget_usd is not None and not command.preview:
        estimate = cost_bound(state.catalog, command)
    if key.rpm_limit is None and estimate is None:
        return
    query = AdmitRequest(
        api_key_id=key.id,
        request_id=command.request_id,
        estimated_cost_usd=estimate,
    )
    await _ask_admission(request, query)


async def admit_rating(request: Request) -> None:
    """Raise 429 when the caller's key has sent its requests-per-minute of ratings.

    Ratings have a bucket of their own: a key rating its answers does not lose requests, and a
    key cannot post ratings without limit either (each unknown request_id is parked).
    """
    key = caller(request).key
    if key is None or key.rpm_limit is None:
        return
    await _ask_admission(request, AdmitRequest(api_key_id=key.id, purpose="feedback"))


async def _ask_admission(request: Request, query: AdmitRequest) -> None:
    """Ask the ledger; 401 for a key revoked meanwhile, 429 with Retry-After when over."""
    state = ingress(request)
    try:
        payload = await rpc_json(
            state, FEEDBACK_QUERIES, query, timeout=state.settings.auth_lookup_timeout_s
        )
    except ApiError as exc:
        raise ApiError(
            503, "limits_unavailable", "this key's limits cannot be checked now; retry shortly"
        ) from exc
    decision = payload.get("data", {})
    if decision.get("admitted"):
        return
    reason = str(decision.get("reason") or "rate_limited")
    message = str(decision.get("message") or "limit reached")
    if reason == "revoked":
        state.keys.forget()
        raise ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})
    retry_after = max(1, math.ceil(float(decision.get("retry_after_s") or 1)))
    raise ApiError(
        429,
        reason,
        message,
        headers={"Retry-After": str(retry_after)},
        extra={"retry_after_s": retry_after, "limit": decision.get("limit")},
    )
