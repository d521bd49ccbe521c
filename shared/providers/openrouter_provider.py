"""OpenRouter through plain httpx, speaking the OpenAI chat-completions format."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
from httpx_aiohttp import AiohttpTransport

from schemas.messages import ChatMessage
from shared.providers.base import Completion, ProviderError
from shared.providers.common import (
    connection_error,
    error_for_status,
    looks_like_context_overflow,
    malformed,
    parse_retry_after,
    timeout_error,
    usage_or_estimate,
)

# Enough kept-alive connections for a router's whole prefetch window.
_LIMITS = httpx.Limits(max_connections=512, max_keepalive_connections=256, keepalive_expiry=30)


class OpenRouterProvider:
    """`complete()` against {base}/chat/completions. One instance per process."""

    name = "openrouter"

    def __init__(self, api_key: str, base_url: str, timeout_s: float) -> None:
        # A trailing slash makes httpx append "chat/completions" to the /api/v1 path.
        # httpx's API over aiohttp's connection handling: httpx's own pool (httpcore) spent
        # about 4 ms of CPU per call under load in a py-spy profile of the router.
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout_s,
            transport=AiohttpTransport(limits=_LIMITS),
        )

    async def complete(
        self, model: str, messages: list[ChatMessage], max_tokens: int, timeout_s: float
    ) -> Completion:
        payload = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
        }
        try:
            async with asyncio.timeout(timeout_s):
                response = await self._client.post(
                    "chat/completions", json=payload, timeout=timeout_s
                )
        except (TimeoutError, httpx.TimeoutException):
            raise timeout_error(self.name, timeout_s) from None
        except httpx.TransportError as exc:
            raise connection_error(self.name, exc) from None
        if response.is_error:
            raise _map_status(response.status_code, _json_or_none(response), response.headers)
        body = _json_or_none(response)
        if not isinstance(body, dict):
            raise malformed(self.name, "body is not a JSON object")
        if "error" in body and "choices" not in body:
            # OpenRouter sometimes reports an upstream failure inside a 200 answer.
            error = body["error"] if isinstance(body["error"], dict) else {}
            code = error.get("code")
            raise _map_status(code if isinstance(code, int) else 502, body, response.headers)
        return _to_completion(body, model, messages)

    async def aclose(self) -> None:
        await self._client.aclose()


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _map_status(status: int, body: Any, headers: httpx.Headers) -> ProviderError:
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    retry_after = parse_retry_after(headers)
    metadata = error.get("metadata")
    if retry_after is None and isinstance(metadata, dict):
        # An upstream provider's 429 arrives with its retry hint in error.metadata.
        hint = metadata.get("retry_after_seconds")
        retry_after = float(hint) if isinstance(hint, int | float) and hint >= 0 else None
    return error_for_status(
        "openrouter",
        status,
        retry_after_s=retry_after,
        context_too_long=status == 400 and looks_like_context_overflow(error.get("message")),
    )


def _to_completion(body: dict[str, Any], model: str, messages: Sequence[ChatMessage]) -> Completion:
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(choice, dict) or not isinstance(message, dict):
        raise malformed("openrouter", "no choices[0].message")
    content = message.get("content")
    text = content if isinstance(content, str) else ""  # None when the model only called tools
    usage = body.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    tokens_in, tokens_out = usage_or_estimate(
        "openrouter", usage.get("prompt_tokens"), usage.get("completion_tokens"), messages, text
    )
    finish = choice.get("finish_reason")
    answered_by = body.get("model")
    return Completion(
        text=text,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        model=answered_by if isinstance(answered_by, str) and answered_by else model,
        finish_reason=finish if isinstance(finish, str) else "unknown",
    )
