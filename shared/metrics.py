"""Prometheus metrics of every service (one registry per process, the client's default).

Latency histograms have buckets fine enough to derive p50 / p95 / p99 with
`histogram_quantile`. Labels never carry prompt text or key material.
"""

from __future__ import annotations

from functools import lru_cache

from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from prometheus_client import REGISTRY, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
)

HTTP_LATENCY = Histogram(
    "optimizer_http_request_duration_seconds",
    "HTTP requests served by the ingress, by route template and status",
    ["method", "path", "status"],
    buckets=_LATENCY_BUCKETS,
)
REQUESTS_ROUTED = Counter(
    "optimizer_requests_total",
    "Route requests answered or failed by routers",
    ["provider", "model", "outcome"],
)
ROUTE_LATENCY = Histogram(
    "optimizer_request_latency_seconds",
    "Router time per request, provider call included",
    ["provider", "model"],
    buckets=_LATENCY_BUCKETS,
)
PROVIDER_ERRORS = Counter(
    "optimizer_provider_errors_total",
    "Provider call failures by kind",
    ["provider", "model", "kind"],
)
FALLBACKS = Counter(
    "optimizer_fallbacks_total", "Models left for the next one in a chain", ["provider", "reason"]
)
COST = Counter("optimizer_cost_usd_total", "Spend at catalog prices", ["provider", "model"])
BASELINE_COST = Counter(
    "optimizer_baseline_cost_usd_total", "What the default premium model would have cost"
)
REQUESTS_REFUSED = Counter(
    "optimizer_requests_not_executed_total",
    "Requests no provider was called for because their caller had given up "
    "(reason: expired = past its deadline, cancelled = a CancelRequest came first)",
    ["reason"],
)
CANCELS = Counter(
    "optimizer_cancels_total",
    "CancelRequest messages by effect (stopped = a call in flight here was stopped)",
    ["effect"],
)
STREAM_FIRST_TOKEN = Histogram(
    "optimizer_stream_first_token_seconds",
    "Router time from a streamed request's arrival to its first piece of text",
    ["provider", "model"],
    buckets=_LATENCY_BUCKETS,
)
STREAM_CHUNKS = Histogram(
    "optimizer_stream_chunk_messages",
    "RouteChunk messages per streamed answer (after coalescing)",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
SAVINGS = Counter("optimizer_savings_usd_total", "Baseline cost minus actual cost")
EXPLORED = Counter("optimizer_explored_total", "Requests routed by the exploration share")
CIRCUIT_STATE = Gauge(
    "optimizer_circuit_state",
    "Circuit breaker per provider and model: 0 closed, 1 half-open, 2 open",
    ["provider", "model"],
)
FEEDBACK = Counter("optimizer_feedback_total", "Feedback submissions by outcome", ["status"])
COMPLETIONS_RECORDED = Counter(
    "optimizer_completions_recorded_total", "RouteCompleted events stored", ["result"]
)
COMPLETION_GROUP_SIZE = Histogram(
    "optimizer_completion_group_size",
    "RouteCompleted events per confirmed publish (the router's group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
POISON_MESSAGES = Counter(
    "optimizer_poison_messages_total", "Malformed messages dead-lettered", ["queue"]
)
OVERRIDES_ACTIVE = Gauge("optimizer_overrides_active", "Learned overrides in force")
OVERRIDES_VERSION = Gauge("optimizer_overrides_version", "Version of the overrides in force")
RETRAINS = Counter("optimizer_retrains_total", "Learner runs by status", ["status"])
QUALITY_MODEL_VERSION = Gauge(
    "optimizer_quality_model_version", "Version of the learned quality model in force (0: priors)"
)
MODEL_FITS = Counter("optimizer_model_fits_total", "Quality model fits by status", ["status"])
BANDIT_DECISIONS = Counter(
    "optimizer_bandit_decisions_total",
    "Decisions made by the learned quality model, explored (Thompson draw) or not",
    ["explored"],
)
IN_FLIGHT = Gauge("optimizer_messages_in_flight", "Messages being handled right now", ["service"])
QUEUE_DEPTH = Gauge("optimizer_queue_depth", "Messages ready in a queue", ["queue"])
QUEUE_CONSUMERS = Gauge("optimizer_queue_consumers", "Consumers of a queue", ["queue"])


@lru_cache(maxsize=1)
def broker_middleware() -> RabbitPrometheusMiddleware:
    """FastStream's own message metrics, shared by every broker of this process."""
    return RabbitPrometheusMiddleware(registry=REGISTRY, app_name="optimizer")
