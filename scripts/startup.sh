#!/usr/bin/env bash
# Start the AI cost optimizer.
#
#   scripts/startup.sh                  # Compose when a Docker engine answers, else local processes
#   scripts/startup.sh --local          # always local: `optimizer up` from .venv, in the background
#   scripts/startup.sh --compose [ARGS] # always Compose; ARGS go to `docker compose up -d`
#                                       #   e.g. scripts/startup.sh --compose --scale router=4
#
# Local mode needs RabbitMQ and PostgreSQL on the URLs of RABBITMQ_URL / DATABASE_URL (.env or
# environment; defaults 127.0.0.1:5672 and 127.0.0.1:5432). It creates .venv and installs the
# project on first run, keeps a pid file and a log in OPTIMIZER_RUN_DIR (default .run/).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env

MODE="${OPTIMIZER_MODE:-auto}"
COMPOSE_ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --local) MODE=local ;;
        --compose) MODE=compose ;;
        -h | --help)
            usage "${BASH_SOURCE[0]}"
            exit 0
            ;;
        *) COMPOSE_ARGS+=("$1") ;;
    esac
    shift
done

INGRESS_PORT="${INGRESS_PORT:-8000}"
STARTUP_TIMEOUT_S="${STARTUP_TIMEOUT_S:-60}"
set_run_files
DEV_KEY_FILE="$RUN_DIR/dev-admin.key"
BASE_URL="http://127.0.0.1:${INGRESS_PORT}"

if [[ "$MODE" == auto ]]; then
    if docker_engine_up && compose_available; then
        MODE=compose
    else
        MODE=local
    fi
fi

# Waits until GET /health answers 200, while `alive` (a command) stays true.
wait_for_health() {
    local alive="$1" deadline=$((SECONDS + STARTUP_TIMEOUT_S))
    info "Waiting up to ${STARTUP_TIMEOUT_S}s for ${BASE_URL}/health ..."
    while ((SECONDS < deadline)); do
        if [[ "$(http_status "$BASE_URL/health")" == 200 ]]; then
            return 0
        fi
        "$alive" || return 1
        sleep 1
    done
    return 1
}

# The providers /health reports as configured, comma separated ("" when unknown).
live_providers() {
    command -v python3 >/dev/null 2>&1 || return 0
    printf '%s' "$1" | python3 -c '
import json, sys
try:
    report = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
names = [p.get("name", "?") for p in report.get("providers", []) if p.get("configured")]
print(", ".join(names))
' 2>/dev/null || true
}

# Prints the overall status from /health, waiting a little for the workers to report ready.
report_health() {
    local body="" status="" deadline=$((SECONDS + 15))
    while ((SECONDS < deadline)); do
        body="$(http_body "$BASE_URL/health")"
        status="$(printf '%s' "$body" | sed -n 's/^{"status":"\([a-z]*\)".*/\1/p')"
        [[ "$status" == healthy ]] && break
        sleep 1
    done
    info ""
    info "AI cost optimizer is up: ${BASE_URL} (health: ${status:-unknown})"
    local providers
    providers="$(live_providers "$body")"
    if [[ -n "$providers" ]]; then
        info "  providers:  ${providers}"
    fi
    info "  API docs:   ${BASE_URL}/docs"
    info "  health:     ${BASE_URL}/health"
    info "  metrics:    ${BASE_URL}/metrics"
    if [[ "$body" == *'"auth":{"enabled":true'* ]]; then
        if [[ -s "$DEV_KEY_FILE" ]]; then
            info "  API keys:   required; a local admin key is in ${DEV_KEY_FILE}"
            info "              KEY=\$(cat ${DEV_KEY_FILE})"
        else
            info "  API keys:   required; create one with: ${KEYS_COMMAND} keys create --scope client --name me"
        fi
        info "  try it:     curl -s ${BASE_URL}/v1/route -H \"authorization: Bearer \$KEY\" \\"
        info "                -H 'content-type: application/json' -d '{\"prompt\": \"What is the capital of France?\"}'"
    else
        info "  try it:     curl -s ${BASE_URL}/v1/route -H 'content-type: application/json' \\"
        info "                -d '{\"prompt\": \"What is the capital of France?\"}'"
    fi
    if [[ "$status" != healthy ]]; then
        warn "health is '${status:-unknown}': see ${BASE_URL}/health for which part is not ready"
    fi
}

start_compose() {
    KEYS_COMMAND="docker compose exec feedback optimizer"
    info "Docker engine found: starting the stack with Docker Compose."
    compose up -d --build "${COMPOSE_ARGS[@]}"
    compose_alive() {
        local running
        # Compose v1 has no --status: then only the timeout ends the wait.
        running="$(compose ps --status running -q ingress 2>/dev/null)" || return 0
        [[ -n "$running" ]]
    }
    if ! wait_for_health compose_alive; then
        compose ps >&2 || true
        compose logs --tail 40 ingress migrate >&2 || true
        die "the ingress did not answer on ${BASE_URL}/health within ${STARTUP_TIMEOUT_S}s (logs above; docker compose logs -f)"
    fi
    compose ps
    report_health
    info "  pgAdmin:    http://127.0.0.1:${PGADMIN_PORT:-5050}   RabbitMQ UI: http://127.0.0.1:${RABBITMQ_MANAGEMENT_PORT:-15672}"
    info "Stop with scripts/shutdown.sh (data stays in Docker volumes)."
}

# Prints what is missing and how to start it; returns 1 when RabbitMQ or PostgreSQL is down.
check_dependencies() {
    local ok=0 rabbit_url db_url host port
    rabbit_url="${RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/}"
    db_url="${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/optimizer}"

    host="$(url_host "$rabbit_url")"
    port="$(url_port "$rabbit_url" 5672)"
    if ! port_open "${host:-127.0.0.1}" "$port"; then
        ok=1
        printf 'RabbitMQ is not answering on %s:%s (RABBITMQ_URL=%s).\n' \
            "${host:-127.0.0.1}" "$port" "$(url_redacted "$rabbit_url")" >&2
        if is_local_host "$host"; then
            printf '  Start it:  rabbitmq-server -detached\n' >&2
            printf '  (or only the broker in Docker: docker compose up -d rabbitmq)\n' >&2
        else
            printf '  Check that the broker is running and reachable, or fix RABBITMQ_URL in .env.\n' >&2
        fi
    fi

    host="$(url_host "$db_url")"
    port="$(url_port "$db_url" 5432)"
    local db_up=1
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "${host:-127.0.0.1}" -p "$port" -t 2 || db_up=0
    else
        port_open "${host:-127.0.0.1}" "$port" || db_up=0
    fi
    if ((db_up == 0)); then
        ok=1
        printf 'PostgreSQL is not answering on %s:%s (DATABASE_URL=%s).\n' \
            "${host:-127.0.0.1}" "$port" "$(url_redacted "$db_url")" >&2
        if is_local_host "$host"; then
            # shellcheck disable=SC2016 # printed for the user to run, not expanded here
            printf '  Start it:  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n' >&2
            printf '  (or only the database in Docker: docker compose up -d postgres)\n' >&2
        else
            printf '  Check that the server is running and reachable, or fix DATABASE_URL in .env.\n' >&2
        fi
    fi
    return "$ok"
}

# Creates .venv and installs the project into it (first run).
install_venv() {
    local python=""
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            python="$candidate"
            break
        fi
    done
    [[ -n "$python" ]] || die "Python 3.11 or newer is needed to create .venv"
    info "First run: creating .venv with $python and installing the project (about a minute) ..."
    "$python" -m venv "$ROOT_DIR/.venv"
    "$ROOT_DIR/.venv/bin/python" -m pip install --quiet --upgrade pip
    "$ROOT_DIR/.venv/bin/python" -m pip install --quiet -e "$ROOT_DIR"
}

# On a developer's machine, one admin key made on first start (kept 0600 under .run/), so the
# curl line printed below works at once with auth on. Not done for the compose stack.
ensure_dev_key() {
    local bin="$1" out
    [[ -s "$DEV_KEY_FILE" ]] && return 0
    [[ "$(http_body "$BASE_URL/health")" == *'"auth":{"enabled":true'* ]] || return 0
    out="$("$bin" keys create --scope admin --name local-dev 2>/dev/null)" || {
        warn "could not create a local admin key; create one with: $bin keys create --scope admin"
        return 0
    }
    (umask 077 && printf '%s\n' "$out" | tail -n 1 >"$DEV_KEY_FILE")
}

start_local() {
    local bin="${OPTIMIZER_BIN:-$ROOT_DIR/.venv/bin/optimizer}" pid
    KEYS_COMMAND="$bin"
    info "No Docker engine answers (or --local): running local processes."
    if [[ ! -x "$bin" && -z "${OPTIMIZER_BIN:-}" ]]; then
        check_dependencies || die "cannot start: the broker or the database above is not answering"
        install_venv
    fi
    if [[ ! -x "$bin" ]]; then
        die "$bin not found. Install the project first:
  python3.11 -m venv .venv && .venv/bin/pip install -e '.[dev]'"
    fi
    mkdir -p "$RUN_DIR"
    if [[ -f "$PID_FILE" ]]; then
        pid="$(cat "$PID_FILE")"
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            info "Already running (pid $pid, log $LOG_FILE)."
            report_health
            return 0
        fi
        rm -f "$PID_FILE"
    fi
    if ! check_dependencies; then
        die "cannot start: the broker or the database above is not answering"
    fi
    if [[ "$(http_status "$BASE_URL/health")" != 000 ]]; then
        die "something already answers on port ${INGRESS_PORT}: stop it or set INGRESS_PORT"
    fi

    info "Starting: $bin up  (log: $LOG_FILE)"
    (
        cd "$ROOT_DIR"
        exec nohup "$bin" up >>"$LOG_FILE" 2>&1 </dev/null
    ) &
    pid=$!
    printf '%s\n' "$pid" >"$PID_FILE"

    local_alive() { kill -0 "$pid" 2>/dev/null; }
    if ! wait_for_health local_alive; then
        if local_alive; then
            kill -TERM "$pid" 2>/dev/null || true
            warn "stopped pid $pid after ${STARTUP_TIMEOUT_S}s without an answer on ${BASE_URL}/health"
        fi
        rm -f "$PID_FILE"
        printf -- '--- last lines of %s ---\n' "$LOG_FILE" >&2
        tail -n 40 "$LOG_FILE" >&2 || true
        die "the optimizer did not come up (log above)"
    fi
    info "Started (pid $pid)."
    ensure_dev_key "$bin"
    report_health
    info "  log:        $LOG_FILE"
    info "Stop with scripts/shutdown.sh."
}

if [[ "$MODE" == local && ${#COMPOSE_ARGS[@]} -gt 0 ]]; then
    die "unknown arguments for local mode: ${COMPOSE_ARGS[*]} (see --help)"
fi

case "$MODE" in
    compose) start_compose ;;
    local) start_local ;;
    *) die "unknown mode '$MODE' (OPTIMIZER_MODE is compose, local or auto)" ;;
esac
