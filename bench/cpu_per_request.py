"""CPU milliseconds per request of each service process (and RabbitMQ, PostgreSQL) under load.

Counts CPU time (user + system, from /proc) consumed during a wrk run and divides it by the
requests answered: unlike req/s this is stable on a noisy machine.

    bench/start_stack.sh &   # or any running stack
    .venv/bin/python bench/cpu_per_request.py --url http://127.0.0.1:8080/v1/chat/completions -c 16
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "shared" / "bench" / "load.py"
BODY = {
    "model": "auto",
    "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
    "max_tokens": 16,
}
TICK = os.sysconf("SC_CLK_TCK")


def _amqp_prefix(pid: str) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(b"AMQP_PREFIX="):
            return entry.split(b"=", 1)[1].decode()
    return ""


def _processes(prefix: str | None) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "optimizer serve" in cmd:
            if prefix is not None and _amqp_prefix(pid) != prefix:
                continue  # another stack on this machine
            name = cmd.split("optimizer serve", 1)[1].strip()
            groups.setdefault(name, []).append(int(pid))
        elif "beam.smp" in cmd:
            groups.setdefault("rabbitmq", []).append(int(pid))
        elif cmd.startswith("postgres") or "/postgres " in cmd:
            groups.setdefault("postgresql", []).append(int(pid))
    return groups


def _ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def _memory_mb(pids: list[int]) -> tuple[float, float]:
    """Resident memory of the processes now and at its peak (VmHWM), in MB."""
    now = peak = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    now += int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    peak += int(line.split()[1])
        except OSError:
            continue
    return now / 1024, peak / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8080/v1/chat/completions")
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("-d", "--duration", type=int, default=10)
    parser.add_argument("--body", default=json.dumps(BODY))
    parser.add_argument(
        "--prefix", help="count only services with this AMQP_PREFIX (e.g. bench.): other stacks"
    )
    args = parser.parse_args()
    groups = _processes(args.prefix)
    # Postgres forks a backend per connection: re-read its pids after the run too.
    before = {name: _ticks(pids) for name, pids in groups.items()}
    out = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            "--url",
            args.url,
            "--body",
            args.body,
            "-c",
            str(args.concurrency),
            "-d",
            str(args.duration),
            "--jsonl",
            "/dev/stdout",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = {name: _ticks(pids) for name, pids in groups.items()}
    record = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    ok = max(1, record["ok"])
    print(
        f"c={args.concurrency}: {record['rps']:.1f} req/s, p50 {record['p50_ms']:.1f} ms, "
        f"p99 {record['p99_ms']:.1f} ms, {record['non2xx'] + record['socket_errors']} errors"
    )
    total = 0.0
    for name in sorted(groups):
        ms = (after[name] - before[name]) * 1000 / TICK / ok
        total += ms
        rss, peak = _memory_mb(groups[name])
        print(f"  {name:<28} {ms:6.2f} ms CPU/request   RSS {rss:7.1f} MB (peak {peak:.1f})")
    print(f"  {'all of the above':<28} {total:6.2f} ms CPU/request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
