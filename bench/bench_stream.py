"""Benchmark: streamed answers through us and through the LiteLLM proxy, on one paced fake model.

Starts bench/stream_upstream.py (OpenAI-compatible, `--rate` tokens a second, token i = `t<i>`),
our ingress, router and ledger+learner as separate processes (the OpenRouter adapter pointed
at the fake), and the LiteLLM proxy (../shared/bench/run_litellm.sh, when installed). Then:

1. time to first token at concurrency 1, p50/p90 over `--ttft-requests` streams of 5 tokens:
   direct to the fake, through us, through LiteLLM; "added" is each minus direct;
2. `--streams` concurrent streams of `--tokens` tokens each: whether every stream got every
   token once and in order, content events per stream (through us each is one RouteChunk
   message: coalescing shows as fewer events than tokens), and CPU per streamed token and per
   stream for each process (/proc utime+stime over the phase, child processes included).

    PYTHONPATH=. .venv/bin/python bench/bench_stream.py             # 64 x 500 tokens at 50/s
    PYTHONPATH=. .venv/bin/python bench/bench_stream.py --streams 8 --tokens 100 --no-litellm
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from shared.messaging.topology import delete_namespace

ROOT = Path(__file__).resolve().parents[1]
LITELLM = ROOT.parent / "shared" / "bench" / "run_litellm.sh"
MODEL = "openrouter/deepseek/deepseek-chat-v3.1"  # forced: one OpenAI-format upstream call
PREFIX = "benchstream."
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    name: str
    url: str
    model: str
    headers: dict[str, str] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)  # process name -> pid, for CPU


@dataclass
class Stream:
    ttft_s: float
    total_s: float
    tokens: list[str]
    events: int


async def stream_once(session: aiohttp.ClientSession, target: Target, tokens: int) -> Stream:
    body = {
        "model": target.model,
        "messages": [{"role": "user", "content": "Count for me."}],
        "max_tokens": tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    first: float | None = None
    text: list[str] = []
    events = 0
    async with session.post(target.url, json=body, headers=target.headers) as response:
        if response.status != 200:
            raise RuntimeError(f"{target.name}: HTTP {response.status}")
        async for line in response.content:
            if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                continue
            event = json.loads(line[6:])
            for choice in event.get("choices") or []:
                content = (choice.get("delta") or {}).get("content")
                if content:
                    first = first or time.perf_counter()
                    text.append(content)
                    events += 1
    done = time.perf_counter()
    return Stream((first or done) - started, done - started, "".join(text).split(), events)


def cpu_seconds(root: int) -> float:
    """utime + stime of `root` and every process below it."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / TICKS
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(times.get(pid, 0.0) for pid in tree)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def ttft(target: Target, requests: int) -> list[float]:
    async with aiohttp.ClientSession() as session:
        for _ in range(5):  # warm-up: connections, lazy imports
            await stream_once(session, target, 5)
        return [(await stream_once(session, target, 5)).ttft_s for _ in range(requests)]


async def concurrent(target: Target, streams: int, tokens: int) -> dict[str, object]:
    expected = [f"t{i}" for i in range(tokens)]
    connector = aiohttp.TCPConnector(limit=streams)
    before = {name: cpu_seconds(pid) for name, pid in target.pids.items()}
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(300)) as s:
        outcomes = await asyncio.gather(
            *(stream_once(s, target, tokens) for _ in range(streams)), return_exceptions=True
        )
    used = {name: cpu_seconds(pid) - before[name] for name, pid in target.pids.items()}
    results = [r for r in outcomes if isinstance(r, Stream)]
    failed = [type(r).__name__ for r in outcomes if not isinstance(r, Stream)]
    if not results:
        return {"failed_streams": failed}
    whole = sum(r.tokens == expected for r in results)
    delivered = sum(len(r.tokens) for r in results)
    duplicated = sum(len(r.tokens) - len(set(r.tokens)) for r in results)
    return {
        "failed_streams": len(failed),
        "streams_complete_in_order": f"{whole}/{streams}",
        "tokens_delivered": f"{delivered}/{streams * tokens}",
        "duplicated_tokens": duplicated,
        "events_per_stream": statistics.mean(r.events for r in results),
        "ttft_p50_ms": pct([r.ttft_s for r in results], 0.5) * 1000,
        "stream_p50_s": pct([r.total_s for r in results], 0.5),
        "cpu_ms_per_token": {n: used[n] * 1000 / max(1, delivered) for n in used},
        "cpu_ms_per_stream": {n: used[n] * 1000 / streams for n in used},
    }


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=out, start_new_session=True, cwd=ROOT
        )


def wait_ready(target: Target, seconds: float = 120) -> None:
    async def probe() -> None:
        async with aiohttp.ClientSession() as session:
            await stream_once(session, target, 1)

    deadline = time.monotonic() + seconds
    while True:
        try:
            asyncio.run(probe())
            return
        except Exception:
            if time.monotonic() > deadline:
                raise SystemExit(f"{target.name} did not answer within {seconds:.0f} s") from None
            time.sleep(0.5)


def start_ours(
    port: int, upstream: int, logs: Path
) -> tuple[Target, list[subprocess.Popen[bytes]]]:
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "AUTH_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "OPENROUTER_API_KEY": "bench-key",
        "OPENROUTER_BASE_URL": f"http://127.0.0.1:{upstream}/v1",
        "DATABASE_URL": os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/optimizer_bench_stream"
        ),
        "AMQP_PREFIX": PREFIX,
        "INGRESS_PORT": str(port),
        "EXPLORATION_RATE": "0",
    }
    cli = [sys.executable, "-m", "services.cli"]
    subprocess.run([*cli, "migrate"], env=env, check=True, capture_output=True)
    processes = {
        "ledger+learner": start([*cli, "serve", "ledger", "learner"], env, logs / "ledger.log"),
        "router": start([*cli, "serve", "router"], env, logs / "router.log"),
        "ingress": start([*cli, "serve", "ingress"], env, logs / "ingress.log"),
    }
    target = Target(
        "ours",
        f"http://127.0.0.1:{port}/v1/chat/completions",
        MODEL,
        pids={name: p.pid for name, p in processes.items()},
    )
    return target, list(processes.values())


def start_litellm(upstream: int, port: int) -> Target | None:
    if not Path("/tmp/litellm-venv/bin/litellm").exists():
        print("LiteLLM is not installed (bash ../shared/bench/run_litellm.sh install): skipped")
        return None
    env = {**os.environ, "UPSTREAM_PORT": str(upstream), "LITELLM_PORT": str(port)}
    out = subprocess.run(
        ["bash", str(LITELLM), "start"], env=env, check=True, capture_output=True, text=True
    )
    pid = int(out.stdout.strip().splitlines()[-1])
    key = Path(f"/tmp/bench-litellm-{port}/master_key").read_text().strip()
    return Target(
        "litellm",
        f"http://127.0.0.1:{port}/v1/chat/completions",
        "cheap",
        headers={"Authorization": f"Bearer {key}"},
        pids={"litellm": pid},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ttft-requests", type=int, default=50)
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--upstream-port", type=int, default=18100)
    parser.add_argument("--port", type=int, default=8098)
    parser.add_argument("--litellm-port", type=int, default=4100)
    args = parser.parse_args()
    logs = Path(f"/tmp/bench-stream-{os.getpid()}")
    logs.mkdir()
    upstream = start(
        [sys.executable, str(ROOT / "bench" / "stream_upstream.py"), "--port",
         str(args.upstream_port), "--rate", str(args.rate)],
        dict(os.environ), logs / "upstream.log",
    )  # fmt: skip
    direct = Target("direct", f"http://127.0.0.1:{args.upstream_port}/v1/chat/completions", "x")
    direct.pids = {"fake": upstream.pid}
    ours, processes = start_ours(args.port, args.upstream_port, logs)
    litellm = None
    try:
        wait_ready(direct)
        wait_ready(ours)
        litellm = None if args.no_litellm else start_litellm(args.upstream_port, args.litellm_port)
        targets = [t for t in (direct, ours, litellm) if t is not None]
        print(f"logs in {logs}; upstream {args.rate:g} tokens/s")
        print(f"\n1. time to first token, c=1, {args.ttft_requests} streams of 5 tokens")
        floor = 0.0
        for target in targets:
            values = asyncio.run(ttft(target, args.ttft_requests))
            p50 = pct(values, 0.5) * 1000
            floor = floor or p50
            print(
                f"  {target.name:8} p50 {p50:7.2f} ms  p90 {pct(values, 0.9) * 1000:7.2f} ms"
                f"  added p50 {p50 - floor:+7.2f} ms"
            )
        print(f"\n2. {args.streams} concurrent streams x {args.tokens} tokens at {args.rate:g}/s")
        for target in targets:
            result = asyncio.run(concurrent(target, args.streams, args.tokens))
            print(f"  {target.name}: {json.dumps(_rounded(result))}")
    finally:
        for process in [*processes, upstream]:
            os.killpg(process.pid, signal.SIGTERM)
        for process in [*processes, upstream]:
            process.wait(timeout=60)
        if litellm is not None:
            env = {**os.environ, "LITELLM_PORT": str(args.litellm_port)}
            stop = ["bash", str(LITELLM), "stop"]
            subprocess.run(stop, env=env, capture_output=True, check=False)
        asyncio.run(delete_namespace(os.environ.get("RABBITMQ_URL", _AMQP), PREFIX))
    return 0


_AMQP = "amqp://guest:guest@127.0.0.1:5672/"


def _rounded(value: object) -> object:
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return round(value, 3) if isinstance(value, float) else value


if __name__ == "__main__":
    sys.exit(main())
