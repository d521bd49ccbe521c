#!/usr/bin/env bash
# Start our full path as separate processes for benchmarks: ingress, router(s), ledger+learner.
# The OpenRouter adapter points at $UPSTREAM_OPENAI_BASE (the harness's fake upstream).
#   ROUTERS=2 UPSTREAM_OPENAI_BASE=http://127.0.0.1:18000/v1 bench/start_stack.sh
# Runs in the foreground until killed (the harness stops its process group).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin/optimizer
export ENVIRONMENT=development AUTH_ENABLED="${AUTH_ENABLED:-false}" LOG_LEVEL="${LOG_LEVEL:-WARNING}"
export OPENROUTER_API_KEY="${OPENROUTER_API_KEY:-bench-key}"
export OPENROUTER_BASE_URL="${UPSTREAM_OPENAI_BASE:-http://127.0.0.1:18000/v1}"
export DATABASE_URL="${BENCH_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/optimizer_bench}"
export AMQP_PREFIX="${AMQP_PREFIX:-bench.}" INGRESS_PORT="${INGRESS_PORT:-8080}"
export EXPLORATION_RATE=0 ROUTER_PREFETCH="${ROUTER_PREFETCH:-256}"
"$BIN" migrate >/dev/null
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
"$BIN" serve ledger learner & pids+=($!)
for _ in $(seq 1 "${ROUTERS:-1}"); do "$BIN" serve router & pids+=($!); done
for _ in $(seq 1 "${INGRESSES:-1}"); do "$BIN" serve ingress & pids+=($!); done
wait
