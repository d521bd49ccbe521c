"""A fake OpenAI-compatible model that streams at a set pace, for bench/bench_stream.py.

POST /v1/chat/completions with `"stream": true` answers `max_tokens` tokens as server-sent
`chat.completion.chunk` events, one token per event, `--rate` tokens a second (0: at once),
each token `t<i> ` so that a client can check order and completeness; then the finish chunk,
the usage chunk (always: both LiteLLM and our router read it) and `[DONE]`. Without `stream`
it answers the same text whole. GET /__stats counts model calls.

    python bench/stream_upstream.py --port 18100 --rate 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from aiohttp import web


def token(i: int) -> str:
    return f"t{i} "


def _chunk(model: str, delta: dict[str, object], finish: str | None = None) -> bytes:
    event = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(event).encode() + b"\n\n"


class Upstream:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.calls = 0

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.calls += 1
        model = str(body.get("model", "fake"))
        count = int(body.get("max_tokens") or 16)
        usage = {"prompt_tokens": 10, "completion_tokens": count, "total_tokens": 10 + count}
        if not body.get("stream"):
            text = "".join(token(i) for i in range(count))
            return web.json_response(
                {
                    "id": "chatcmpl-bench",
                    "object": "chat.completion",
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        started = time.perf_counter()
        for i in range(count):
            if self.rate > 0:
                # On a fixed schedule from the start, so that pacing does not drift.
                wait = started + i / self.rate - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
            delta: dict[str, object] = {"content": token(i)}
            if i == 0:
                delta["role"] = "assistant"
            await response.write(_chunk(model, delta))
        await response.write(_chunk(model, {}, "stop"))
        tail = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "model": model}
        await response.write(
            b"data: " + json.dumps({**tail, "choices": [], "usage": usage}).encode() + b"\n\n"
        )
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def stats(self, _: web.Request) -> web.Response:
        return web.json_response({"calls": self.calls})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=18100)
    parser.add_argument("--rate", type=float, default=50.0, help="tokens a second; 0: at once")
    args = parser.parse_args()
    upstream = Upstream(args.rate)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", upstream.chat)
    app.router.add_get("/__stats", upstream.stats)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
