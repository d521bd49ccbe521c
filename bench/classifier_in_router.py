"""What the trained classifier costs the router: CPU per request and peak RSS, against baselines.

Starts a fake upstream and one stack in its own AMQP namespace and database (ingress,
ledger + learner), then, for each round and each variant, a fresh router, and measures it with
bench/cpu_per_request.py (wrk, `-c` connections, `-d` seconds per body):
- `trained`: the router as shipped (embedder + trained classifier);
- `lexicon`, `constant`: bench/router_baseline.py (the former rules; a fixed classification).
Bodies: the short default prompt, and with `--long` one of 2,000 characters of prose. Then,
with `--distinct N`, N different prompts (the training set's texts, about 290 characters on
average), each sent once by an in-process client: every one brings words and chunks the
router has not seen, which is what fills its memos (RSS) and costs it first-sight work.
Variants alternate within each round, so that a change in the machine's speed hits all of them.
Prints each run's router line (CPU ms per request, RSS now and peak) and a summary per variant.
Nothing asserts. Needs wrk and ../shared/bench/{load.py,fake_upstream.py}.

    PYTHONPATH=. .venv/bin/python bench/classifier_in_router.py --rounds 3 -c 16 -d 10 --long \
        --distinct 5000
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = ROOT.parent / "shared" / "bench"
OPTIMIZER = [str(Path(sys.executable).parent / "optimizer")]  # the venv's entry point
VARIANTS = ("trained", "lexicon", "constant")
TICK = os.sysconf("SC_CLK_TCK")
SHORT = "Say hello in one short sentence."
LONG = (
    "Read the following notes from our planning meeting and tell me which decisions were "
    "made, who owns each follow-up, and what is still open. "
    + "The team reviewed the quarterly roadmap, discussed the hiring plan for the platform "
    "group, and agreed to move the data migration to the second half of the month. " * 12
)[:2000]
ROUTER_LINE = re.compile(r"^\s+router\s+([\d.]+) ms CPU/request.*\(peak ([\d.]+)")


def _router_command(variant: str) -> list[str]:
    if variant == "trained":
        return [*OPTIMIZER, "serve", "router"]
    script = str(ROOT / "bench" / "router_baseline.py")
    return [sys.executable, script, variant, "optimizer", "serve", "router"]


def _body(prompt: str) -> str:
    messages = [{"role": "user", "content": prompt}]
    return json.dumps({"model": "auto", "messages": messages, "max_tokens": 16})


def _ready(url: str, body: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request = urllib.request.Request(
            url, body.encode(), {"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("the stack did not answer")


def _measure(url: str, body: str, prefix: str, concurrency: int, duration: int) -> str:
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "cpu_per_request.py"),
            "--url",
            url,
            "--prefix",
            prefix,
            "-c",
            str(concurrency),
            "-d",
            str(duration),
            "--body",
            body,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _router_usage(pid: int) -> tuple[int, float, float]:
    """CPU ticks so far, RSS now and at its peak (MB) of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    memory = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            memory[line[:5]] = int(line.split()[1]) / 1024
    return int(fields[11]) + int(fields[12]), memory["VmRSS"], memory["VmHWM"]


async def _send_each(url: str, prompts: list[str], concurrency: int) -> int:
    """Send every prompt once over `concurrency` connections; how many were answered."""
    queue = iter(prompts)
    answered = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal answered
        for prompt in queue:
            response = await client.post(url, content=_body(prompt))
            answered += response.status_code == 200

    limits = httpx.Limits(max_connections=concurrency)
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=60, limits=limits, headers=headers) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return answered


def _distinct(url: str, pid: int, prompts: list[str], concurrency: int) -> tuple[float, float]:
    """Router CPU ms per request and peak RSS over one pass of distinct prompts."""
    before, _, _ = _router_usage(pid)
    answered = asyncio.run(_send_each(url, prompts, concurrency))
    after, rss, peak = _router_usage(pid)
    ms = (after - before) * 1000 / TICK / max(answered, 1)
    print(
        f"  {answered}/{len(prompts)} distinct prompts answered: router {ms:.2f} ms CPU/request"
        f"   RSS {rss:.1f} MB (peak {peak:.1f})",
        flush=True,
    )
    return ms, peak


def _training_texts(count: int) -> list[str]:
    with gzip.open(ROOT / "training" / "data" / "train.jsonl.gz", "rt", encoding="utf-8") as f:
        texts = dict.fromkeys(str(json.loads(line)["text"]) for line in f)
    return list(texts)[:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("-d", "--duration", type=int, default=10)
    parser.add_argument("--long", action="store_true", help="also a 2,000-character prompt")
    parser.add_argument("--port", type=int, default=18191, help="ingress; upstream on port - 1")
    parser.add_argument("--prefix", default="clfbench.")
    parser.add_argument("--distinct", type=int, default=0, help="distinct prompts sent once")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = parser.parse_args()
    prompts = _training_texts(args.distinct) if args.distinct else []
    url = f"http://127.0.0.1:{args.port}/v1/chat/completions"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ENVIRONMENT": "development",
        "AUTH_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "OPENROUTER_API_KEY": "bench-key",
        "OPENROUTER_BASE_URL": f"http://127.0.0.1:{args.port - 1}/v1",
        "DATABASE_URL": os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/optimizer_bench_clf"
        ),
        "AMQP_PREFIX": args.prefix,
        "INGRESS_PORT": str(args.port),
        "EXPLORATION_RATE": "0",
    }
    bodies = {"short": _body(SHORT), **({"2000 chars": _body(LONG)} if args.long else {})}
    started: list[subprocess.Popen[bytes]] = []

    def start(command: list[str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        started.append(process)
        return process

    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        upstream = SHARED_BENCH / "fake_upstream.py"
        start([sys.executable, str(upstream), "--port", str(args.port - 1)])
        subprocess.run([*OPTIMIZER, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        start([*OPTIMIZER, "serve", "ledger", "learner"])
        start([*OPTIMIZER, "serve", "ingress"])
        for round_number in range(1, args.rounds + 1):
            for variant in args.variants:
                router = start(_router_command(variant))
                _ready(url, bodies["short"])
                for label, body in bodies.items():
                    out = _measure(url, body, args.prefix, args.concurrency, args.duration)
                    found = next(filter(None, map(ROUTER_LINE.match, out.splitlines())), None)
                    load = os.getloadavg()[0]
                    print(f"round {round_number} {variant:<9} {label:<11} load {load:.1f}")
                    print("  " + out.strip().replace("\n", "\n  "), flush=True)
                    if found:
                        ms, peak = float(found.group(1)), float(found.group(2))
                        results.setdefault((variant, label), []).append((ms, peak))
                if prompts:
                    load = os.getloadavg()[0]
                    print(f"round {round_number} {variant:<9} distinct    load {load:.1f}")
                    found_run = _distinct(url, router.pid, prompts, args.concurrency)
                    results.setdefault((variant, "distinct"), []).append(found_run)
                router.terminate()
                router.wait(timeout=30)
                started.remove(router)
    finally:
        for process in reversed(started):
            process.terminate()
        for process in started:
            process.wait(timeout=30)
    print("\nrouter, median over rounds: CPU ms per request, peak RSS MB")
    for (variant, label), runs in sorted(results.items()):
        ms = statistics.median(r[0] for r in runs)
        peak = max(r[1] for r in runs)
        print(
            f"  {variant:<9} {label:<11} {ms:.3f} ms ({', '.join(f'{r[0]:.2f}' for r in runs)})"
            f"  peak RSS {peak:.1f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
