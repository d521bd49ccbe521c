"""Anthropic through the official SDK, with its own retries off so that the dispatcher owns them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import anthropic
from anthropic.types import (
    AssistantMessageParam,
    Message,
    MessageParam,
    TextBlock,
    UserMessageParam,
)

from schemas.messages import ChatMessage
from shared.providers.base import Completion, ProviderError, RetryableProviderError
from shared.providers.common import (
    connection_error,
    error_for_status,
    looks_like_context_overflow,
    malformed,
    parse_retry_after,
    timeout_error,
    unexpected,
    usage_or_estimate,
)

# Anthropic stop reasons in the OpenAI-style vocabulary the rest of the system uses.
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
    "tool_use": "tool_calls",
}


class AnthropicProvider:
    """`complete()` against the Messages API. One instance per process (it pools connections)."""

    name = "anthropic"

    def __init__(self, api_key: str, base_url: str, timeout_s: float) -> None:
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s
        )

    async def complete(
        self, model: str, messages: list[ChatMessage], max_tokens: int, timeout_s: float
    ) -> Completion:
        system, turns = _split_system(messages)
        try:
            async with asyncio.timeout(timeout_s):
                response = await self._client.messages.create(
                    model=model,
                    max_tokens=max_tokens,
                    messages=turns,
                    system=system if system else anthropic.omit,
                    timeout=timeout_s,
                )
        except TimeoutError:
            raise timeout_error(self.name, timeout_s) from None
        except anthropic.APIError as exc:
            raise _map_error(exc) from None
        except ValueError:
            # The SDK lets json.JSONDecodeError through when a 200 body is not JSON.
            raise malformed(self.name, "body is not JSON") from None
        except Exception as exc:
            raise unexpected(self.name, exc) from None
        return _to_completion(response, model, messages)

    async def aclose(self) -> None:
        await self._client.close()


def _split_system(messages: Sequence[ChatMessage]) -> tuple[str, list[MessageParam]]:
    """System text goes to the `system` parameter, which every Messages API version accepts."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[MessageParam] = []
    for m in messages:
        if m.role == "user":
            turns.append(UserMessageParam(role="user", content=m.content))
        elif m.role == "assistant":
            turns.append(AssistantMessageParam(role="assistant", content=m.content))
    return system, turns


def _map_error(exc: anthropic.APIError) -> ProviderError:
    if isinstance(exc, anthropic.APITimeoutError):
        return RetryableProviderError("anthropic request timed out", kind="timeout")
    if isinstance(exc, anthropic.APIConnectionError):
        return connection_error("anthropic", exc)
    if isinstance(exc, anthropic.APIStatusError):
        return error_for_status(
            "anthropic",
            exc.status_code,
            vendor_code=exc.type,
            retry_after_s=parse_retry_after(exc.response.headers),
            context_too_long=exc.status_code == 400
            and looks_like_context_overflow(exc.api_message),
        )
    if isinstance(exc, anthropic.APIResponseValidationError):
        return malformed("anthropic", "unexpected schema")
    return unexpected("anthropic", exc)


def _to_completion(response: object, model: str, messages: Sequence[ChatMessage]) -> Completion:
    # Without strict validation the SDK hands back a str for a non-JSON content type, and a
    # Message whose fields are None for JSON of the wrong shape: both are malformed answers.
    if not isinstance(response, Message) or not isinstance(response.content, list):
        raise malformed("anthropic", "no content list")
    text = "".join(block.text for block in response.content if isinstance(block, TextBlock))
    usage = response.usage
    tokens_in: object = None
    tokens_out: object = None
    if usage is not None and isinstance(usage.input_tokens, int):
        # Cache writes and reads are input tokens too (billed at other rates; we use none).
        tokens_in = (
            usage.input_tokens
            + (usage.cache_creation_input_tokens or 0)
            + (usage.cache_read_input_tokens or 0)
        )
        tokens_out = usage.output_tokens
    tokens_in, tokens_out = usage_or_estimate("anthropic", tokens_in, tokens_out, messages, text)
    stop = response.stop_reason or "unknown"
    return Completion(
        text=text,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        model=response.model if isinstance(response.model, str) and response.model else model,
        finish_reason=_FINISH.get(stop, stop),
    )
