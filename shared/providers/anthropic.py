"""Anthropic through the official SDK, with its own retries off so that the dispatcher owns them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import anthropic
import httpx2
from anthropic.types import Message, TextBlock, ToolUseBlock

from schemas.messages import ChatMessage, GenerationOptions, ImagePart, ToolCall
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
        self,
        model: str,
        messages: list[ChatMessage],
        max_tokens: int,
        timeout_s: float,
        options: GenerationOptions | None = None,
    ) -> Completion:
        try:
            async with asyncio.timeout(timeout_s):
                response = await self._client.messages.create(
                    **_arguments_for(model, messages, max_tokens, timeout_s, options)
                )
        except Exception as exc:
            raise _provider_error(exc, timeout_s) from None
        return _to_completion(response, model, messages, max_tokens)

    async def stream(
        self,
        model: str,
        messages: list[ChatMessage],
        max_tokens: int,
        timeout_s: float,
        options: GenerationOptions | None = None,
    ) -> AsyncGenerator[str | Completion, None]:
        """The Messages API's event stream: text deltas, then usage from message_start (input)
        and message_delta (output), as the API reports them."""
        text: list[str] = []
        usage: dict[str, object] = {}
        stop = "unknown"
        answered_by = model
        try:
            async with asyncio.timeout(timeout_s):
                events = await self._client.messages.create(
                    **_arguments_for(model, messages, max_tokens, timeout_s, options),
                    stream=True,
                )
            async with events:
                async for event in events:
                    if event.type == "content_block_delta" and event.delta.type == "text_delta":
                        text.append(event.delta.text)
                        yield event.delta.text
                    elif event.type == "message_start":
                        # A vendor may leave usage out: absent fields are missing attributes.
                        answered_by = getattr(event.message, "model", None) or model
                        usage["in"] = _input_tokens(getattr(event.message, "usage", None))
                    elif event.type == "message_delta":
                        stop = event.delta.stop_reason or stop
                        delta_usage = getattr(event, "usage", None)
                        if delta_usage is not None:
                            usage["out"] = delta_usage.output_tokens
        except Exception as exc:
            raise _provider_error(exc, timeout_s) from None
        joined = "".join(text)
        tokens_in, tokens_out = usage_or_estimate(
            self.name, usage.get("in"), usage.get("out"), messages, joined, max_tokens
        )
        yield Completion(joined, tokens_in, tokens_out, answered_by, _FINISH.get(stop, stop))

    async def aclose(self) -> None:
        await self._client.close()


def _arguments_for(
    model: str,
    messages: list[ChatMessage],
    max_tokens: int,
    timeout_s: float,
    options: GenerationOptions | None,
) -> dict[str, Any]:
    """The keyword arguments of `messages.create` for this chat."""
    system, turns = _split_system(messages)
    return {
        "model": model,
        "max_tokens": max_tokens,
        "messages": turns,
        "system": system if system else anthropic.omit,
        "timeout": timeout_s,
        **_options(options),
    }


def _provider_error(exc: Exception, timeout_s: float) -> ProviderError:
    """Our error for whatever a call or a stream raised."""
    if isinstance(exc, TimeoutError):
        return timeout_error("anthropic", timeout_s)
    if isinstance(exc, anthropic.APIError):
        return _map_error(exc)
    if isinstance(exc, httpx2.TransportError):  # the connection broke while a stream was read
        return connection_error("anthropic", exc)
    if isinstance(exc, ValueError):
        # The SDK lets json.JSONDecodeError through when a 200 body is not JSON.
        return malformed("anthropic", "body is not JSON")
    return unexpected("anthropic", exc)


def _input_tokens(usage: Any) -> object:
    """Input tokens of a usage block, cache writes and reads included; None when absent."""
    if usage is None or not isinstance(getattr(usage, "input_tokens", None), int):
        return None
    return int(
        usage.input_tokens
        + (usage.cache_creation_input_tokens or 0)
        + (usage.cache_read_input_tokens or 0)
    )


def _split_system(messages: Sequence[ChatMessage]) -> tuple[str, list[Any]]:
    """System text goes to the `system` parameter, which every Messages API version accepts.

    Tool results are user turns of `tool_result` blocks; consecutive ones share one turn, as
    the Messages API wants every result of one assistant turn in the next user turn.
    """
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            result = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}
            if turns and turns[-1]["role"] == "user" and _all_results(turns[-1]["content"]):
                turns[-1]["content"].append(result)
            else:
                turns.append({"role": "user", "content": [result]})
        elif m.role == "user":
            blocks = [_image(image) for image in m.images]
            if not blocks:
                turns.append({"role": "user", "content": m.content})
                continue
            text = [{"type": "text", "text": m.content}] if m.content else []
            turns.append({"role": "user", "content": text + blocks})
        elif m.role == "assistant":
            if not m.tool_calls:
                turns.append({"role": "assistant", "content": m.content})
                continue
            calls = [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": _arguments(c)}
                for c in m.tool_calls
            ]
            text = [{"type": "text", "text": m.content}] if m.content else []
            turns.append({"role": "assistant", "content": text + calls})
    return system, turns


def _all_results(content: object) -> bool:
    return isinstance(content, list) and all(b.get("type") == "tool_result" for b in content)


def _image(image: ImagePart) -> dict[str, Any]:
    inline = image.inline()
    if inline is None:
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    media_type, data = inline
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _arguments(call: ToolCall) -> Any:
    try:
        return json.loads(call.arguments)
    except ValueError:
        return {}


def _options(options: GenerationOptions | None) -> dict[str, Any]:
    """Keyword arguments of `messages.create` for what the caller set. Temperature, top_p and
    seed have no place here: API version 2026-10-21 refuses the first two on every model and
    has no seed, so the catalog gives Claude only `stop` and such requests never come here."""
    if options is None:
        return {}
    kwargs: dict[str, Any] = {}
    if options.stop:
        kwargs["stop_sequences"] = list(options.stop)
    if options.user:
        kwargs["metadata"] = {"user_id": options.user}
    fmt = options.response_format
    if fmt is not None and fmt.type != "text":
        schema = fmt.json_schema if fmt.type == "json_schema" else {"type": "object"}
        kwargs["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    if options.tools:
        kwargs["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in options.tools
        ]
    choice = options.tool_choice
    if choice is not None:
        kinds = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}
        kwargs["tool_choice"] = kinds.get(choice, {"type": "tool", "name": choice})
    return kwargs


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


def _to_completion(
    response: object, model: str, messages: Sequence[ChatMessage], max_tokens: int
) -> Completion:
    # Without strict validation the SDK hands back a str for a non-JSON content type, and a
    # Message whose fields are None for JSON of the wrong shape: both are malformed answers.
    if not isinstance(response, Message) or not isinstance(response.content, list):
        raise malformed("anthropic", "no content list")
    text = "".join(block.text for block in response.content if isinstance(block, TextBlock))
    calls = tuple(
        ToolCall(id=block.id, name=block.name, arguments=json.dumps(block.input))
        for block in response.content
        if isinstance(block, ToolUseBlock)
    )
    usage = response.usage
    # Cache writes and reads are input tokens too (billed at other rates; we use none).
    tokens_in = _input_tokens(usage)
    tokens_out = usage.output_tokens if tokens_in is not None else None
    tokens_in, tokens_out = usage_or_estimate(
        "anthropic", tokens_in, tokens_out, messages, text, max_tokens
    )
    stop = response.stop_reason or "unknown"
    return Completion(
        text=text,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        model=response.model if isinstance(response.model, str) and response.model else model,
        finish_reason=_FINISH.get(stop, stop),
        tool_calls=calls,
    )
