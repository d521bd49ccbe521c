"""Google Gemini through the google-genai SDK, with its own retries off."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import mimetypes
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import aiohttp
import httpx2  # google-genai's transport; its exceptions are what a network failure raises
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from schemas.messages import ChatMessage, GenerationOptions, ImagePart, ToolCall
from shared.providers.base import Completion, ProviderError
from shared.providers.common import (
    connection_error,
    error_for_status,
    looks_like_context_overflow,
    malformed,
    parse_duration,
    parse_retry_after,
    timeout_error,
    unexpected,
    usage_or_estimate,
)

_STREAM_HTTP_TIMEOUT_S = 3600.0
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
}


class GeminiProvider:
    """`complete()` against generateContent. One instance per process (it pools connections)."""

    name = "google"

    def __init__(self, api_key: str, base_url: str, timeout_s: float) -> None:
        self._client = genai.Client(
            api_key=api_key,
            http_options=types.HttpOptions(
                base_url=base_url,
                timeout=_millis(timeout_s),
                # One attempt: the SDK would otherwise retry behind the dispatcher's back.
                retry_options=types.HttpRetryOptions(attempts=1),
            ),
        )

    async def complete(
        self,
        model: str,
        messages: list[ChatMessage],
        max_tokens: int,
        timeout_s: float,
        options: GenerationOptions | None = None,
    ) -> Completion:
        contents, config = _request(messages, max_tokens, timeout_s, options)
        try:
            async with asyncio.timeout(timeout_s):
                response = await self._client.aio.models.generate_content(
                    model=model, contents=contents, config=config
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
        """streamGenerateContent: each response's text as it comes; the last one carries the
        finish reason and the usage of the whole answer."""
        # With aiohttp the SDK's timeout bounds the whole response, not each read: it must not
        # cut a long answer short. asyncio.timeout bounds the opening here, the dispatcher the
        # wait for each piece and the request's deadline the whole.
        contents, config = _request(messages, max_tokens, _STREAM_HTTP_TIMEOUT_S, options)
        text: list[str] = []
        last: types.GenerateContentResponse | None = None
        try:
            async with asyncio.timeout(timeout_s):
                responses = await self._client.aio.models.generate_content_stream(
                    model=model, contents=contents, config=config
                )
            async for response in responses:
                last = response
                for candidate in (response.candidates or [])[:1]:
                    parts = candidate.content.parts if candidate.content else None
                    for part in parts or []:
                        if part.text and not part.thought:
                            text.append(part.text)
                            yield part.text
        except Exception as exc:
            raise _provider_error(exc, timeout_s) from None
        if last is None:
            raise malformed(self.name, "the stream ended without a response")
        whole = "".join(text)
        # The last response stands for the whole answer: its usage counts all of it.
        parts = [types.Part(text=whole)] if whole else []
        candidate = (last.candidates or [types.Candidate()])[0]
        merged = last.model_copy(
            update={
                "candidates": [
                    candidate.model_copy(
                        update={"content": types.Content(role="model", parts=parts)}
                    )
                ]
            }
        )
        yield _to_completion(merged, model, messages, max_tokens)

    async def aclose(self) -> None:
        await self._client.aio.aclose()


def _provider_error(exc: Exception, timeout_s: float) -> ProviderError:
    """Our error for whatever a call or a stream raised."""
    if isinstance(exc, TimeoutError | httpx2.TimeoutException):
        return timeout_error("google", timeout_s)
    if isinstance(exc, httpx2.TransportError | aiohttp.ClientError):
        # google-genai switches to aiohttp when it is installed (the OpenRouter adapter
        # uses it), so a network failure arrives as either library's error.
        return connection_error("google", exc)
    if isinstance(exc, genai_errors.APIError):
        return _map_error(exc)
    if isinstance(exc, ValueError):
        # json.JSONDecodeError from the SDK when a 200 body (or an event) is not JSON.
        return malformed("google", "body is not JSON")
    return unexpected("google", exc)


def _request(
    messages: Sequence[ChatMessage],
    max_tokens: int,
    http_timeout_s: float,
    options: GenerationOptions | None,
) -> tuple[list[types.Content], types.GenerateContentConfig]:
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    config = types.GenerateContentConfig(
        system_instruction=system or None,
        max_output_tokens=max_tokens,
        http_options=types.HttpOptions(timeout=_millis(http_timeout_s)),
        **_options(options),
    )
    return _contents(messages), config


def _contents(messages: Sequence[ChatMessage]) -> list[types.Content]:
    """The turns as Gemini contents: images as inline data or file URIs, tool calls as
    function calls, and tool results as function responses named after the call they answer."""
    names = {call.id: call.name for m in messages for call in m.tool_calls}
    contents: list[types.Content] = []
    for m in messages:
        if m.role == "system":
            continue
        parts = [types.Part(text=m.content)] if m.content and m.role != "tool" else []
        parts += [_image(image) for image in m.images]
        parts += [
            types.Part(function_call=types.FunctionCall(id=c.id, name=c.name, args=_arguments(c)))
            for c in m.tool_calls
        ]
        if m.role == "tool":
            call_id = m.tool_call_id or ""
            response = types.FunctionResponse(
                id=call_id, name=names.get(call_id, call_id), response={"result": m.content}
            )
            parts.append(types.Part(function_response=response))
        role = "model" if m.role == "assistant" else "user"
        if m.role == "tool" and contents and contents[-1].role == "user" and _answers(contents[-1]):
            contents[-1].parts = [*(contents[-1].parts or []), *parts]
        else:
            contents.append(types.Content(role=role, parts=parts))
    return contents


def _answers(content: types.Content) -> bool:
    return all(p.function_response is not None for p in content.parts or [])


def _image(image: ImagePart) -> types.Part:
    inline = image.inline()
    if inline is None:
        mime, _ = mimetypes.guess_type(image.url.split("?", 1)[0])
        return types.Part(
            file_data=types.FileData(file_uri=image.url, mime_type=mime or "image/jpeg")
        )
    media_type, data = inline
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error:
        raw = b""
    return types.Part(inline_data=types.Blob(mime_type=media_type, data=raw))


def _arguments(call: ToolCall) -> dict[str, Any]:
    try:
        value = json.loads(call.arguments)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def _options(options: GenerationOptions | None) -> dict[str, Any]:
    """GenerateContentConfig fields for what the caller set."""
    if options is None:
        return {}
    fields: dict[str, Any] = {}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"), ("seed", "seed")):
        value = getattr(options, ours)
        if value is not None:
            fields[theirs] = value
    if options.stop:
        fields["stop_sequences"] = list(options.stop)
    fmt = options.response_format
    if fmt is not None and fmt.type != "text":
        fields["response_mime_type"] = "application/json"
        if fmt.type == "json_schema":
            fields["response_json_schema"] = fmt.json_schema
    if options.tools:
        declarations = [
            types.FunctionDeclaration(
                name=t.name, description=t.description, parameters_json_schema=t.parameters
            )
            for t in options.tools
        ]
        fields["tools"] = [types.Tool(function_declarations=declarations)]
    choice = options.tool_choice
    if choice is not None:
        modes = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
        calling = types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode(modes.get(choice, "ANY")),
            allowed_function_names=None if choice in modes else [choice],
        )
        fields["tool_config"] = types.ToolConfig(function_calling_config=calling)
    return fields


def _millis(seconds: float) -> int:
    # HttpOptions.timeout is in milliseconds.
    return max(1, round(seconds * 1000))


def _map_error(exc: genai_errors.APIError) -> ProviderError:
    error = exc.details.get("error", exc.details) if isinstance(exc.details, dict) else {}
    retry_after = _retry_delay(error)
    if retry_after is None and exc.response is not None:
        retry_after = parse_retry_after(getattr(exc.response, "headers", {}) or {})
    return error_for_status(
        "google",
        exc.code,
        vendor_code=exc.status,
        retry_after_s=retry_after,
        context_too_long=exc.code == 400 and looks_like_context_overflow(exc.message),
    )


def _retry_delay(error: Any) -> float | None:
    """Gemini puts its retry hint in a google.rpc.RetryInfo detail, not in a header."""
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and detail.get("@type") == _RETRY_INFO:
            return parse_duration(detail.get("retryDelay"))
    return None


def _to_completion(
    response: types.GenerateContentResponse,
    model: str,
    messages: Sequence[ChatMessage],
    max_tokens: int,
) -> Completion:
    usage = response.usage_metadata
    candidates = response.candidates or []
    if not candidates:
        # A prompt blocked by safety filters has no candidate but says why; anything else
        # without a candidate is an answer we cannot read.
        feedback = response.prompt_feedback
        if feedback is None or feedback.block_reason is None:
            raise malformed("google", "no candidates")
        tokens_in = usage.prompt_token_count if usage else None
        tokens_in, _ = usage_or_estimate("google", tokens_in, 0, messages, "")
        return Completion("", tokens_in, 0, response.model_version or model, "content_filter")
    candidate = candidates[0]
    parts = candidate.content.parts if candidate.content and candidate.content.parts else []
    # Thought summaries are parts too; only the answer's text is returned.
    text = "".join(p.text for p in parts if p.text and not p.thought)
    calls = tuple(
        ToolCall(
            id=p.function_call.id or f"call_{index}",
            name=p.function_call.name or "",
            arguments=json.dumps(p.function_call.args or {}),
        )
        for index, p in enumerate(parts)
        if p.function_call is not None
    )
    tokens_in_raw: object = None
    tokens_out_raw: object = None
    if usage is not None and isinstance(usage.prompt_token_count, int):
        tokens_in_raw = usage.prompt_token_count
        # Gemini 2.5 bills thinking tokens as output tokens.
        tokens_out_raw = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
    tokens_in, tokens_out = usage_or_estimate(
        "google", tokens_in_raw, tokens_out_raw, messages, text, max_tokens
    )
    reason = candidate.finish_reason.value if candidate.finish_reason else "unknown"
    # Gemini ends a turn that calls functions with STOP; callers expect OpenAI's tool_calls.
    finish = "tool_calls" if calls else _FINISH.get(reason, reason.lower())
    return Completion(
        text=text,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        model=response.model_version or model,
        finish_reason=finish,
        tool_calls=calls,
    )
