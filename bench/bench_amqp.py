"""Benchmark: a producer on the bus (no HTTP): closed-loop RouteRequests through
shared/messaging/client.py.

Against a running stack (bench/start_stack.sh uses AMQP_PREFIX=bench.):

    .venv/bin/python bench/bench_amqp.py --prefix bench. --concurrency 1 16 64 --duration 10

Prints requests per second and p50 / p99 latency per concurrency. The load generator runs in
this Python process and costs CPU on the same two cores: read the numbers as a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from shared.messaging.client import OptimizerClient

PROMPT = "Say hello in one short sentence."


async def _run(url: str, prefix: str, concurrency: int, duration: float) -> tuple[float, ...]:
    latencies: list[float] = []
    errors = 0
    async with OptimizerClient(url, prefix=prefix, timeout_s=30) as client:
        await client.route(PROMPT, max_tokens=16)  # warm the path
        stop_at = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                try:
                    await client.route(PROMPT, max_tokens=16)
                except Exception:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return len(latencies) / elapsed, pct(0.5), pct(0.99), float(errors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--prefix", default="bench.")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    print(f"{'conc':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for concurrency in args.concurrency:
        rps, p50, p99, errors = asyncio.run(_run(args.url, args.prefix, concurrency, args.duration))
        print(f"{concurrency:>5} {rps:>9.1f} {p50:>8.2f} {p99:>8.2f} {int(errors):>7}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
