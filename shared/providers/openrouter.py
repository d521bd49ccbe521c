"""OpenRouter through aiohttp, speaking the OpenAI chat-completions format.

`OpenAICompatibleProvider` is the adapter for any server of that format; `selfhosted.py` uses it
for vLLM or Ollama under another provider key.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

import aiohttp
import certifi
from yarl import URL

from schemas.messages import ChatMessage, GenerationOptions
from shared.providers import openai_wire
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
_MAX_CONNECTIONS = 512
_KEEPALIVE_S = 30.0


class OpenAICompatibleProvider:
    """`complete()` against {base}/chat/completions. One instance per process."""

    name = "openai-compatible"

    def __init__(self, api_key: str, base_url: str, timeout_s: float) -> None:
        # aiohttp directly, without httpx's API on top: httpx's request building, URL merging,
        # cookie handling and response streaming cost about 20% of the router's CPU in a py-spy
        # profile under load, twice what aiohttp itself cost.
        self._url = URL(base_url.rstrip("/") + "/chat/completions")
        self._headers = {
            **({"Authorization": f"Bearer {api_key}"} if api_key else {}),
            "Content-Type": "application/json",
            # What httpx offered; aiohttp would add br/zstd whenever those codecs are installed.
            "Accept-Encoding": "gzip, deflate",
        }
        self._timeout = _client_timeout(timeout_s)
        # Created on first call: a session binds to the running loop.
        self._session: aiohttp.ClientSession | None = None

    async def complete(
        self,
        model: str,
        messages: list[ChatMessage],
        max_tokens: int,
        timeout_s: float,
        options: GenerationOptions | None = None,
    ) -> Completion:
        data = _body(openai_wire.payload(model, messages, max_tokens, options))
        session = self._session if self._session is not None else self._open_session()
        try:
            async with (
                asyncio.timeout(timeout_s),
                session.post(
                    self._url,
                    data=data,
                    timeout=_client_timeout(timeout_s),
                    allow_redirects=False,
                ) as response,
            ):
                raw = await response.read()
        except TimeoutError:  # aiohttp's own timeouts (ServerTimeoutError...) are TimeoutErrors
            raise timeout_error(self.name, timeout_s) from None
        except aiohttp.ClientError as exc:
            # Refused, reset or dropped connections, a truncated body, an unreadable HTTP answer.
            raise connection_error(self.name, exc) from None
        if 400 <= response.status <= 599:
            raise _map_status(self.name, response.status, _json_or_none(raw), response.headers)
        body = _json_or_none(raw)
        if not isinstance(body, dict):
            raise malformed(self.name, "body is not a JSON object")
        if "error" in body and "choices" not in body:
            # OpenRouter sometimes reports an upstream failure inside a 200 answer.
            error = body["error"] if isinstance(body["error"], dict) else {}
            code = error.get("code")
            status = code if isinstance(code, int) else 502
            raise _map_status(self.name, status, body, response.headers)
        return _to_completion(self.name, body, model, messages, max_tokens)

    async def stream(
        self,
        model: str,
        messages: list[ChatMessage],
        max_tokens: int,
        timeout_s: float,
        options: GenerationOptions | None = None,
    ) -> AsyncGenerator[str | Completion, None]:
        """Server-sent chat.completion.chunk events, usage asked for with `include_usage`."""
        payload = openai_wire.payload(model, messages, max_tokens, options)
        payload.update(stream=True, stream_options={"include_usage": True})
        session = self._session if self._session is not None else self._open_session()
        reader = openai_wire.StreamReader()
        try:
            async with asyncio.timeout(timeout_s):
                response = await session.post(
                    self._url,
                    data=_body(payload),
                    timeout=_client_timeout(timeout_s),
                    allow_redirects=False,
                )
            async with response:
                if 400 <= response.status <= 599:
                    body = _json_or_none(await response.read())
                    raise _map_status(self.name, response.status, body, response.headers)
                async for line in response.content:
                    try:
                        event = reader.feed(line)
                    except ValueError:
                        raise malformed(self.name, "an event is not JSON") from None
                    if event is None:
                        continue
                    if "error" in event and not event.get("choices"):
                        # An upstream failure reported inside the stream.
                        error = event["error"] if isinstance(event["error"], dict) else {}
                        code = error.get("code")
                        status = code if isinstance(code, int) else 502
                        raise _map_status(self.name, status, event, response.headers)
                    piece = reader.take(event)
                    if piece:
                        yield piece
        except TimeoutError:
            raise timeout_error(self.name, timeout_s) from None
        except aiohttp.ClientError as exc:
            raise connection_error(self.name, exc) from None
        if not reader.done:
            raise malformed(self.name, "the stream ended without [DONE]")
        text = reader.text
        tokens_in, tokens_out = usage_or_estimate(
            self.name,
            reader.usage.get("prompt_tokens"),
            reader.usage.get("completion_tokens"),
            messages,
            text,
            max_tokens,
        )
        yield Completion(text, tokens_in, tokens_out, reader.model or model, reader.finish)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _open_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=_MAX_CONNECTIONS, keepalive_timeout=_KEEPALIVE_S, ssl=_ssl_context()
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            timeout=self._timeout,
            cookie_jar=aiohttp.DummyCookieJar(),  # an API key authenticates; cookies only cost
        )
        return self._session


def _body(payload: dict[str, Any]) -> bytes:
    # The same bytes httpx sent for `json=`.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _client_timeout(seconds: float) -> aiohttp.ClientTimeout:
    # What httpx's timeout=seconds meant: each of connect (with waiting for a pooled
    # connection) and every socket read may take that long; asyncio.timeout bounds the whole call.
    return aiohttp.ClientTimeout(
        total=None, connect=seconds, sock_connect=seconds, sock_read=seconds
    )


def _ssl_context() -> ssl.SSLContext:
    # The trust store httpx used: SSL_CERT_FILE or SSL_CERT_DIR when set, else certifi's bundle.
    if cafile := os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=cafile)
    if capath := os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=capath)
    return ssl.create_default_context(cafile=certifi.where())


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:  # also UnicodeDecodeError
        return None


def _map_status(provider: str, status: int, body: Any, headers: Mapping[str, str]) -> ProviderError:
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    retry_after = parse_retry_after(headers)
    metadata = error.get("metadata")
    if retry_after is None and isinstance(metadata, dict):
        # An upstream provider's 429 arrives with its retry hint in error.metadata.
        hint = metadata.get("retry_after_seconds")
        retry_after = float(hint) if isinstance(hint, int | float) and hint >= 0 else None
    return error_for_status(
        provider,
        status,
        retry_after_s=retry_after,
        context_too_long=status == 400 and looks_like_context_overflow(error.get("message")),
    )


def _to_completion(
    provider: str,
    body: dict[str, Any],
    model: str,
    messages: Sequence[ChatMessage],
    max_tokens: int,
) -> Completion:
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(choice, dict) or not isinstance(message, dict):
        raise malformed(provider, "no choices[0].message")
    content = message.get("content")
    text = content if isinstance(content, str) else ""  # None when the model only called tools
    calls = openai_wire.tool_calls(message.get("tool_calls"))
    if calls is None:
        raise malformed(provider, "unreadable tool_calls")
    usage = body.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    tokens_in, tokens_out = usage_or_estimate(
        provider,
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        messages,
        text,
        max_tokens,
    )
    finish = choice.get("finish_reason")
    answered_by = body.get("model")
    return Completion(
        text=text,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        model=answered_by if isinstance(answered_by, str) and answered_by else model,
        finish_reason=finish if isinstance(finish, str) else "unknown",
        tool_calls=calls,
    )


class OpenRouterProvider(OpenAICompatibleProvider):
    """OpenRouter (https://openrouter.ai/api/v1)."""

    name = "openrouter"
