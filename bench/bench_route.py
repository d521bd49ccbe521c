"""Benchmark: drive POST /v1/route over HTTP at several concurrencies; print req/s and p50/p99.

Starts `optimizer up` (simulated provider at 0 ms) in its own database and AMQP namespace unless
--url is given, then runs a closed-loop load: wrk (via ../shared/bench/load.py) when installed,
else a small asyncio/httpx generator (which itself costs CPU on the same machine: read its numbers
as a lower bound).

    .venv/bin/python bench/bench_route.py --concurrency 1 16 64 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT.parent / "shared" / "bench" / "load.py"
BODY = {"prompt": "Say hello in one short sentence.", "max_tokens": 16}


async def _httpx_load(url: str, concurrency: int, duration: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + duration

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            response = await client.post(url, json=BODY)
            if response.status_code == 200:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"rps": len(latencies) / elapsed, "p50": pct(0.5), "p99": pct(0.99), "errors": errors}


def _wrk_load(url: str, concurrency: int, duration: float) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            "--url",
            url,
            "--body",
            json.dumps(BODY),
            "-c",
            str(concurrency),
            "-d",
            str(int(duration)),
            "--jsonl",
            "/dev/stdout",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    record = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    return {
        "rps": record.get("rps", 0.0),
        "p50": record.get("p50_ms", 0.0),
        "p99": record.get("p99_ms", 0.0),
        "errors": record.get("non2xx", 0) + record.get("socket_errors", 0),
    }


def _start_system(port: int) -> subprocess.Popen[bytes]:
    tag = uuid.uuid4().hex[:6]
    env = {
        **os.environ,
        "INGRESS_PORT": str(port),
        "SIMULATED_LATENCY_MS": "0",
        "AMQP_PREFIX": f"bench{tag}.",
        "DATABASE_URL": os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/optimizer_bench"
        ),
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "optimizer"), "up"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(300):
        try:
            if httpx.post(f"http://127.0.0.1:{port}/v1/route", json=BODY).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit("the system did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="an already running ingress, e.g. http://127.0.0.1:8000")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    process = None if args.url else _start_system(args.port)
    base = args.url or f"http://127.0.0.1:{args.port}"
    use_wrk = shutil.which("wrk") is not None and HARNESS.exists()
    print(f"load generator: {'wrk' if use_wrk else 'httpx (in-process)'}; target {base}/v1/route")
    print(f"{'conc':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    try:
        for concurrency in args.concurrency:
            url = f"{base}/v1/route"
            if use_wrk:
                result = _wrk_load(url, concurrency, args.duration)
            else:
                result = asyncio.run(_httpx_load(url, concurrency, args.duration))
            print(
                f"{concurrency:>5} {result['rps']:>9.1f} {result['p50']:>8.2f} "
                f"{result['p99']:>8.2f} {int(result['errors']):>7}",
                flush=True,
            )
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
