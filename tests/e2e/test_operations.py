"""Operations end to end with real processes: health, metrics, JSON logs without secrets,
worker probes and graceful shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from shared.settings import Settings
from tests.conftest import free_port
from tests.e2e.processes import ServiceProcess, service_env, start, wait_http
from tests.fakes.vendor_server import running_vendor_server

FAKE_KEY = "sk-or-v1-" + "f" * 20 + "SECRETKEYMATERIAL"


@pytest.fixture(scope="module")
def vendor():
    with running_vendor_server() as fake:
        yield fake


@pytest.fixture(scope="module")
def cluster(settings: Settings, vendor, tmp_path_factory: pytest.TempPathFactory):
    logs = tmp_path_factory.mktemp("ops-logs")
    ingress_port, probe_port = free_port(), free_port()
    # The real OpenRouter adapter against a local fake: the key travels in a header and must
    # never reach a log line.
    env = service_env(
        settings,
        OPENROUTER_API_KEY=FAKE_KEY,
        OPENROUTER_BASE_URL=f"{vendor.url}/api/v1",
        PROBE_PORT=str(probe_port),
        INGRESS_PORT=str(ingress_port),
    )
    workers = start(["router", "feedback", "learner"], env, logs / "workers.log")
    ingress = start(["ingress"], env, logs / "ingress.log")
    base = f"http://127.0.0.1:{ingress_port}"
    try:
        wait_http(f"http://127.0.0.1:{probe_port}/readyz")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if httpx.get(f"{base}/health").json()["status"] == "healthy":
                break
            time.sleep(0.3)
        yield {
            "base": base,
            "probe": f"http://127.0.0.1:{probe_port}",
            "workers": workers,
            "ingress": ingress,
        }
    finally:
        for process in (ingress, workers):
            process.kill()


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_health_reports_broker_database_workers_and_providers(cluster) -> None:
    health = httpx.get(f"{cluster['base']}/health").json()
    assert health["status"] == "healthy", health
    assert health["broker"]["connected"] is True
    assert health["database"]["status"] == "ok"
    for name in ("router", "feedback", "learner"):
        assert health["services"][name]["ready"] >= 1
    providers = {p["name"]: p for p in health["providers"]}
    assert providers["openrouter"]["configured"] is True
    assert providers["anthropic"]["configured"] is False
    assert providers["simulated"]["configured"] is True
    assert "auth" in health


def test_metrics_move_after_traffic_and_logs_hold_no_prompt_or_key(cluster, vendor) -> None:
    base, probe = cluster["base"], cluster["probe"]
    before_http = _metric(
        httpx.get(f"{base}/metrics").text,
        "optimizer_http_request_duration_seconds_count",
        path="/v1/route",
    )
    before_router = _metric(httpx.get(f"{probe}/metrics").text, "optimizer_requests_total")
    secret_prompt = f"my password is hunter2-{uuid.uuid4().hex}, keep it"
    response = httpx.post(f"{base}/v1/route", json={"prompt": secret_prompt}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["provider"] == "openrouter"
    sent = vendor.requests_to("openrouter")[-1]
    assert sent.headers["authorization"] == f"Bearer {FAKE_KEY}"
    # A failing call too: its error path must not leak either.
    vendor.fail("openrouter", 500, times=20)
    failed = httpx.post(f"{base}/v1/route", json={"prompt": secret_prompt}, timeout=60)
    assert failed.status_code == 502
    assert secret_prompt not in failed.text and FAKE_KEY not in failed.text
    vendor.reset()
    request_id = response.json()["request_id"]
    assert secret_prompt not in response.text
    time.sleep(1.0)
    after_http = _metric(
        httpx.get(f"{base}/metrics").text,
        "optimizer_http_request_duration_seconds_count",
        path="/v1/route",
    )
    worker_metrics = httpx.get(f"{probe}/metrics").text
    assert after_http == before_http + 2
    assert _metric(worker_metrics, "optimizer_requests_total") == before_router + 2
    assert _metric(worker_metrics, "optimizer_fallbacks_total") > 0
    assert "optimizer_queue_depth" in worker_metrics
    assert "faststream_received_messages_total" in worker_metrics

    logs = cluster["workers"].logs() + cluster["ingress"].logs()
    assert "hunter2" not in logs
    assert "SECRETKEYMATERIAL" not in logs
    lines = [line for line in logs.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines if line.startswith("{")]
    assert parsed and len(parsed) == len(lines), "every log line is one JSON object"
    assert any(entry.get("request_id") == request_id for entry in parsed)


def test_worker_probes(cluster) -> None:
    assert httpx.get(f"{cluster['probe']}/livez").status_code == 200
    ready = httpx.get(f"{cluster['probe']}/readyz").json()
    assert ready["ready"] is True
    assert set(ready["services"]) == {"router", "feedback", "learner"}


async def test_sigterm_drains_in_flight_requests(settings: Settings, tmp_path: Path) -> None:
    """A router asked to stop mid-request finishes it, replies, and exits 0."""
    ingress_port = free_port()
    env = service_env(
        settings,
        SIMULATED_LATENCY_MS="1500",
        INGRESS_PORT=str(ingress_port),
        AMQP_PREFIX=settings.amqp_prefix + "drain.",
    )
    router: ServiceProcess = start(["router", "ledger"], env, tmp_path / "router.log")
    ingress = start(["ingress"], env, tmp_path / "ingress.log")
    try:
        wait_http(f"http://127.0.0.1:{ingress_port}/health")
        await asyncio.sleep(1.0)
        async with httpx.AsyncClient(timeout=30) as client:
            calls = [
                asyncio.create_task(
                    client.post(
                        f"http://127.0.0.1:{ingress_port}/v1/route",
                        json={"prompt": f"drain me {i}"},
                    )
                )
                for i in range(5)
            ]
            await asyncio.sleep(0.6)  # the router now holds all five
            started = time.monotonic()
            code = await asyncio.to_thread(router.terminate, 30)
            stopped_after = time.monotonic() - started
            responses = await asyncio.gather(*calls)
        print(f"router exited {code} after {stopped_after:.2f}s with 5 requests in flight")
        assert code == 0
        assert [r.status_code for r in responses] == [200] * 5
        assert "shutting down" in router.logs()
    finally:
        router.kill()
        ingress.kill()
        from tests.conftest import delete_namespace

        await delete_namespace(settings.rabbitmq_url, settings.amqp_prefix + "drain.")
