"""infra/prometheus and infra/grafana: scrape targets, and every dashboard query parses."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import promql_parser
import pytest
import yaml

from tests.unit.deploy_support import ROOT, compose

GRAFANA = ROOT / "infra" / "grafana"

# The metrics the services and RabbitMQ export (shared/metrics.py, rabbitmq_prometheus).
KNOWN_METRICS = {
    "optimizer_requests_total",
    "optimizer_request_latency_seconds_bucket",
    "optimizer_cost_usd_total",
    "optimizer_savings_usd_total",
    "optimizer_fallbacks_total",
    "optimizer_feedback_total",
    "optimizer_overrides_active",
    "optimizer_http_request_duration_seconds_bucket",
    "optimizer_http_request_duration_seconds_count",
    "rabbitmq_queue_messages_ready",
}
# Grafana's variables, replaced the way Grafana would before sending the query.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__range": "6h",
    "$model": ".*",
    "$path": ".*",
}


@cache
def dashboard() -> dict[str, Any]:
    data = json.loads((GRAFANA / "dashboard.json").read_text())
    assert isinstance(data, dict)
    return data


def queries() -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b((?:optimizer|rabbitmq)_[a-z_]+)\b", expr))


@pytest.mark.parametrize(("title", "expr"), queries(), ids=[t for t, _ in queries()])
def test_every_query_is_valid_promql_on_known_metrics(title: str, expr: str) -> None:
    concrete = expr
    for variable, value in GRAFANA_VARIABLES.items():
        concrete = concrete.replace(variable, value)
    assert "$" not in concrete, f"{title}: unknown variable in {expr}"
    try:
        promql_parser.parse(concrete)
    except ValueError as exc:
        pytest.fail(f"{title}: {exc}: {concrete}")
    unknown = _metric_names(expr) - KNOWN_METRICS
    assert not unknown, f"{title}: unknown metrics {unknown}"


def test_dashboard_covers_what_operators_watch() -> None:
    titles = " | ".join(p["title"].lower() for p in dashboard()["panels"])
    for topic in (
        "savings",
        "cost per model",
        "p50 / p95 / p99",
        "error rate",
        "feedback",
        "overrides",
        "queue depth",
        "dead-letter",
    ):
        assert topic in titles, topic
    used = set().union(*(_metric_names(e) for _, e in queries()))
    assert KNOWN_METRICS - {"optimizer_http_request_duration_seconds_count"} <= used


def test_dashboard_layout_is_sound() -> None:
    panels = dashboard()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    variables = {v["name"] for v in dashboard()["templating"]["list"]}
    assert {"datasource", "model", "path"} <= variables
    assert dashboard()["uid"]


def test_grafana_provisioning_points_at_the_mounted_dashboard() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/optimizer.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    mounts = compose()["services"]["grafana"]["volumes"]
    assert any(m.startswith("./infra/grafana/dashboard.json:" + path + "/") for m in mounts)
    datasource = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


def test_prometheus_scrapes_ingress_workers_and_rabbitmq() -> None:
    config = yaml.safe_load((ROOT / "infra/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    ports = {"ingress": 8000, "router": 9000, "feedback": 9000, "learner": 9000}
    for name, port in ports.items():
        (sd,) = jobs[name]["dns_sd_configs"]
        assert sd["names"] == [name] and sd["port"] == port and sd["type"] == "A"
        assert jobs[name]["metrics_path"] == "/metrics"
    # Per-queue series (rabbitmq_queue_messages_ready{queue=...}) live on /metrics/per-object.
    assert jobs["rabbitmq"]["metrics_path"] == "/metrics/per-object"
    assert jobs["rabbitmq"]["static_configs"][0]["targets"] == ["rabbitmq:15692"]
