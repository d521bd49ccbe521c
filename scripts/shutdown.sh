#!/usr/bin/env bash
# Stop the AI cost optimizer started by scripts/startup.sh.
#
#   scripts/shutdown.sh                 # stop local processes and/or the Compose stack
#   scripts/shutdown.sh --local         # only the local `optimizer up` process
#   scripts/shutdown.sh --compose       # only the Compose stack (data volumes are kept)
#   scripts/shutdown.sh --compose --volumes [--yes]   # and delete its data volumes
#
# Local processes get SIGTERM and SHUTDOWN_TIMEOUT_S (default 45) seconds to drain in-flight
# messages; only then SIGKILL (unacknowledged messages are redelivered by RabbitMQ).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env

MODE="${OPTIMIZER_MODE:-auto}"
VOLUMES=0
YES=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --local) MODE=local ;;
        --compose) MODE=compose ;;
        --volumes) VOLUMES=1 ;;
        -y | --yes) YES=1 ;;
        -h | --help)
            usage "${BASH_SOURCE[0]}"
            exit 0
            ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

SHUTDOWN_TIMEOUT_S="${SHUTDOWN_TIMEOUT_S:-45}"
set_run_files

# Returns 0 when it stopped a process, 1 when none was running.
stop_local() {
    local pid deadline
    if [[ ! -f "$PID_FILE" ]]; then
        return 1
    fi
    pid="$(cat "$PID_FILE")"
    if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
        info "Not running (removing the stale pid file $PID_FILE)."
        rm -f "$PID_FILE"
        return 1
    fi
    info "Sending SIGTERM to pid $pid; waiting up to ${SHUTDOWN_TIMEOUT_S}s for it to drain and exit ..."
    kill -TERM "$pid"
    deadline=$((SECONDS + SHUTDOWN_TIMEOUT_S))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "pid $pid did not exit within ${SHUTDOWN_TIMEOUT_S}s: sending SIGKILL (unacknowledged messages will be redelivered)"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
    fi
    rm -f "$PID_FILE"
    info "Stopped (pid $pid)."
    return 0
}

stop_compose() {
    local args=(down)
    if ((VOLUMES)); then
        if ((!YES)) && ! confirm "Delete the Compose volumes (database, broker, pgAdmin data)? Back up first: scripts/backup.sh."; then
            die "aborted; nothing was deleted"
        fi
        args+=(--volumes)
    fi
    info "Stopping the Compose stack (docker compose ${args[*]}) ..."
    compose "${args[@]}"
}

case "$MODE" in
    local)
        stop_local || info "Nothing to stop: no local optimizer process is running."
        ;;
    compose)
        docker_engine_up || die "no Docker engine answers: nothing to stop with Compose"
        stop_compose
        ;;
    auto)
        stopped=0
        if stop_local; then
            stopped=1
        fi
        if docker_engine_up && compose_available && [[ -n "$(compose ps -q 2>/dev/null)" ]]; then
            stop_compose
            stopped=1
        fi
        if ((!stopped)); then
            info "Nothing to stop: no local optimizer process and no running Compose stack."
        fi
        ;;
    *) die "unknown mode '$MODE' (OPTIMIZER_MODE is compose, local or auto)" ;;
esac
