#!/usr/bin/env bash
# Run the whole test suite against the local PostgreSQL and RabbitMQ (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pytest ] || { python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]'; }
export DATABASE_URL="${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/optimizer}"
export RABBITMQ_URL="${RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/}"
exec .venv/bin/pytest -q "$@"
