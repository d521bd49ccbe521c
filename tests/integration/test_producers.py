"""Producers on the bus: the Python client, its example script and the Node.js example."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from schemas.messages import ChatMessage
from shared.messaging.client import OptimizerClient, OptimizerError
from tests.integration.test_request_path import wait_for_rows
from tests.system import RunningSystem

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "examples" / "node"


async def test_python_client_routes_concurrently_and_rates(
    system: RunningSystem, db: asyncpg.Pool
) -> None:
    settings = system.settings
    async with OptimizerClient(settings.rabbitmq_url, settings.amqp_prefix, timeout_s=15) as bus:
        results = await asyncio.gather(
            *(bus.route(f"Question {i}: what is {i} times two?", max_tokens=40) for i in range(20))
        )
        assert all(r.ok and r.answer for r in results)
        assert len({r.request_id for r in results}) == 20
        chat = [
            ChatMessage(role="system", content="Answer briefly."),
            ChatMessage(role="user", content="Capital of Italy?"),
        ]
        answered = await bus.route(chat, max_tokens=30, api_key_id="key_producer")
        ack = await bus.submit_feedback(answered.request_id, 5, is_correct=True)
        assert ack.status in ("created", "pending")
        early = await bus.submit_feedback(uuid.uuid4(), 3)
        assert early.status == "pending", "feedback before its request is kept, not dropped"
    await wait_for_rows(
        db,
        "SELECT count(*) FROM routing_requests WHERE request_id = $1 AND api_key_id = $2",
        answered.request_id,
        "key_producer",
        expected=1,
    )


async def test_python_client_raises_on_an_error_reply(system: RunningSystem) -> None:
    settings = system.settings
    async with OptimizerClient(settings.rabbitmq_url, settings.amqp_prefix, timeout_s=15) as bus:
        with pytest.raises(OptimizerError) as caught:
            await bus.call("route.requests", b'{"messages": "not a list"}')
    assert caught.value.kind == "invalid_message"


async def _run(*command: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 180)
    return process.returncode or 0, out.decode(), err.decode()


def _bus_env(system: RunningSystem) -> dict[str, str]:
    return {
        **os.environ,
        "RABBITMQ_URL": system.settings.rabbitmq_url,
        "AMQP_PREFIX": system.settings.amqp_prefix,
        "TIMEOUT_MS": "15000",
    }


async def test_python_example_script(system: RunningSystem) -> None:
    code, out, err = await _run(
        sys.executable,
        "examples/python/producer.py",
        "What is the capital of Spain?",
        "--rate",
        "4",
        cwd=ROOT,
        env=_bus_env(system),
    )
    assert code == 0, err
    result = json.loads(out)
    assert (
        result["ok"] and result["answer"] and result["feedback"]["status"] in ("created", "pending")
    )


async def test_node_example_producer(system: RunningSystem, db: asyncpg.Pool) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("Node.js and npm are needed for examples/node (install Node.js 18+)")
    if not (NODE_DIR / "node_modules" / "amqplib").is_dir():
        code, out, err = await _run(
            npm, "ci", "--no-audit", "--no-fund", cwd=NODE_DIR, env={**os.environ}
        )
        if code != 0:
            pytest.skip(f"`npm ci` in examples/node failed (no registry access?): {err[-500:]}")
    code, out, err = await _run(
        node,
        "producer.js",
        "What is the capital of Portugal?",
        "--rate",
        "5",
        cwd=NODE_DIR,
        env=_bus_env(system),
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["ok"] is True and result["answer"].startswith("[simulated answer")
    assert result["feedback"]["status"] in ("created", "pending")
    request_id = uuid.UUID(result["request_id"])
    await wait_for_rows(
        db, "SELECT count(*) FROM production_feedback WHERE request_id = $1", request_id, expected=1
    )
