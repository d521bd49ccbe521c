"""The fake vendors' streamed answers: each vendor's server-sent events, paced, breakable.

Anthropic (`stream: true` on /v1/messages): message_start (input usage), content_block_start,
content_block_delta per piece, content_block_stop, message_delta (stop reason, output usage),
message_stop. Gemini (`:streamGenerateContent?alt=sse`): one GenerateContentResponse per piece,
the last with finishReason and usageMetadata. OpenRouter (`stream: true`): chat.completion.chunk
deltas, a finish chunk, the usage chunk (what `stream_options.include_usage` asks for), [DONE].

`StreamedAnswer` sends them as an ASGI response that waits `piece_delay_s` before each piece,
can break the connection after `break_after` pieces (a vendor failing mid-stream), and notices
a client that closes the connection first (the router cancelling its call).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any, Literal

from starlette.types import Receive, Scope, Send

_EMPTY_TEXT = {"type": "text", "text": ""}
Vendor = Literal["anthropic", "google", "openrouter"]


def sse_events(
    vendor: Vendor, model: str, pieces: list[str], usage: tuple[int, int] | None
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(events before the text, one event per piece, events after the text)."""
    if vendor == "anthropic":
        return _anthropic(model, pieces, usage)
    if vendor == "google":
        return _google(model, pieces, usage)
    return _openrouter(model, pieces, usage)


def _event(data: dict[str, Any], name: str | None = None) -> bytes:
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def _anthropic(
    model: str, pieces: list[str], usage: tuple[int, int] | None
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    start: dict[str, Any] = {
        "id": "msg_fake_stream",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
    }
    if usage is not None:
        start["usage"] = {"input_tokens": usage[0], "output_tokens": 1}
    before = [
        _event({"type": "message_start", "message": start}, "message_start"),
        _event(
            {"type": "content_block_start", "index": 0, "content_block": _EMPTY_TEXT},
            "content_block_start",
        ),
    ]
    deltas = [
        _event(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
            "content_block_delta",
        )
        for p in pieces
    ]
    final: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
    }
    if usage is not None:
        final["usage"] = {"output_tokens": usage[1]}
    after = [
        _event({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _event(final, "message_delta"),
        _event({"type": "message_stop"}, "message_stop"),
    ]
    return before, deltas, after


def _google(
    model: str, pieces: list[str], usage: tuple[int, int] | None
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    def response(text: str, finish: str | None = None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}}
        if finish:
            candidate["finishReason"] = finish
        return {"candidates": [candidate], "modelVersion": model}

    deltas = [_event(response(p)) for p in pieces]
    last = response("", "STOP")
    if usage is not None:
        last["usageMetadata"] = {
            "promptTokenCount": usage[0],
            "candidatesTokenCount": usage[1],
            "totalTokenCount": usage[0] + usage[1],
        }
    return [], deltas, [_event(last)]


def _openrouter(
    model: str, pieces: list[str], usage: tuple[int, int] | None
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "gen-fake-stream",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    # OpenRouter keeps the connection alive with SSE comments while the model thinks.
    before = [b": OPENROUTER PROCESSING\n\n"]
    deltas = [
        _event(chunk({"role": "assistant", "content": p} if i == 0 else {"content": p}))
        for i, p in enumerate(pieces)
    ]
    after = [_event(chunk({}, "stop"))]
    if usage is not None:
        totals = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        }
        after.append(_event({**chunk({}), "choices": [], "usage": totals}))
    after.append(b"data: [DONE]\n\n")
    return before, deltas, after


class BrokenStream(Exception):
    """Raised inside the fake to drop the connection mid-answer, as a failing vendor does."""


class StreamedAnswer:
    """An ASGI response sending `before`, the paced `deltas`, then `after`."""

    def __init__(
        self,
        events: tuple[list[bytes], list[bytes], list[bytes]],
        piece_delay_s: float,
        break_after: int | None,
        on_disconnect: Callable[[], None],
    ) -> None:
        self.before, self.deltas, self.after = events
        self.piece_delay_s = piece_delay_s
        self.break_after = break_after
        self.on_disconnect = on_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")],
                }
            )
            for event in self.before:
                await send({"type": "http.response.body", "body": event, "more_body": True})
            for index, event in enumerate(self.deltas):
                if self.break_after is not None and index >= self.break_after:
                    raise BrokenStream("scripted failure mid-stream")
                if self.piece_delay_s > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(gone.wait(), self.piece_delay_s)
                if gone.is_set():
                    self.on_disconnect()
                    return
                await send({"type": "http.response.body", "body": event, "more_body": True})
            for event in self.after:
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client closed the connection while we wrote
            self.on_disconnect()
        finally:
            watcher.cancel()
