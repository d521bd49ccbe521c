# shellcheck shell=bash
# Helpers shared by scripts/*.sh. Sourced, never run.

# The repository root: scripts/ lives directly under it.
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT_DIR

info() { printf '%s\n' "$*"; }

# Where startup.sh keeps the local run's pid file and log, and shutdown.sh finds them.
# Call after load_env, so that OPTIMIZER_RUN_DIR from .env counts.
# shellcheck disable=SC2034  # set for the scripts that source this file
set_run_files() {
    RUN_DIR="${OPTIMIZER_RUN_DIR:-$ROOT_DIR/.run}"
    PID_FILE="$RUN_DIR/optimizer.pid"
    LOG_FILE="$RUN_DIR/optimizer.log"
}

# Prints the comment block at the top of script $1 (its usage).
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$1"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Export KEY=VALUE lines of .env that the environment does not already set: the same
# precedence as the services' settings (the environment wins over .env).
load_env() {
    local file="${1:-$ROOT_DIR/.env}" line key value
    [[ -f "$file" ]] || return 0
    while IFS= read -r line || [[ -n "$line" ]]; do
        line="${line#"${line%%[![:space:]]*}"}"
        [[ -z "$line" || "$line" == \#* ]] && continue
        line="${line#export }"
        [[ "$line" == *=* ]] || continue
        key="${line%%=*}"
        value="${line#*=}"
        [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
        if [[ "$value" == \"*\" && ${#value} -ge 2 ]]; then
            value="${value:1:${#value}-2}"
        elif [[ "$value" == \'*\' && ${#value} -ge 2 ]]; then
            value="${value:1:${#value}-2}"
        else
            value="${value%%[[:space:]]#*}"
            value="${value%"${value##*[![:space:]]}"}"
        fi
        if [[ -z "${!key+x}" ]]; then
            export "$key=$value"
        fi
    done <"$file"
}

# URL pieces: scheme://user:password@host:port/path?query
url_host() {
    local rest="${1#*://}"
    rest="${rest%%/*}"
    rest="${rest%%\?*}"
    rest="${rest##*@}"
    if [[ "$rest" == \[* ]]; then
        rest="${rest#\[}"
        printf '%s\n' "${rest%%\]*}"
    else
        printf '%s\n' "${rest%%:*}"
    fi
}

url_port() {
    local default="$2" rest="${1#*://}"
    rest="${rest%%/*}"
    rest="${rest%%\?*}"
    rest="${rest##*@}"
    rest="${rest##*\]}"
    if [[ "$rest" == *:* && -n "${rest##*:}" ]]; then
        printf '%s\n' "${rest##*:}"
    else
        printf '%s\n' "$default"
    fi
}

# The database name (path) of a PostgreSQL URL.
url_dbname() {
    local rest="${1#*://}"
    rest="${rest%%\?*}"
    if [[ "$rest" == */* ]]; then
        printf '%s\n' "${rest#*/}"
    else
        printf '\n'
    fi
}

# The same URL with another database name (path), query string kept.
url_with_dbname() {
    local url="$1" name="$2" base query=""
    base="${url%%\?*}"
    [[ "$url" == *\?* ]] && query="?${url#*\?}"
    local scheme="${base%%://*}" rest="${base#*://}"
    rest="${rest%%/*}"
    printf '%s://%s/%s%s\n' "$scheme" "$rest" "$name" "$query"
}

# A URL fit for printing: the password replaced by ***.
url_redacted() {
    local url="$1"
    if [[ "$url" =~ ^([a-zA-Z0-9+.-]+://[^:/@]+):[^@/]*@(.*)$ ]]; then
        printf '%s:***@%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    else
        printf '%s\n' "$url"
    fi
}

is_local_host() {
    case "$1" in
        "" | localhost | 127.* | ::1 | 0.0.0.0) return 0 ;;
        *) return 1 ;;
    esac
}

# True when something accepts TCP connections on host:port (within 2 seconds).
port_open() {
    local host="$1" port="$2"
    # shellcheck disable=SC2016 # $0 and $1 expand in the child shell
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null
}

# True when a Docker engine answers (the CLI alone is not enough).
docker_engine_up() {
    command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

# Runs Docker Compose (the v2 plugin, else the v1 binary) on the repository's compose file.
compose() {
    if docker compose version >/dev/null 2>&1; then
        docker compose --project-directory "$ROOT_DIR" -f "$ROOT_DIR/docker-compose.yml" "$@"
    elif command -v docker-compose >/dev/null 2>&1; then
        docker-compose --project-directory "$ROOT_DIR" -f "$ROOT_DIR/docker-compose.yml" "$@"
    else
        die "a Docker engine answers but Docker Compose is missing: install the compose plugin"
    fi
}

compose_available() {
    docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1
}

# True when the Compose project has a running container for service $1.
compose_service_running() {
    docker_engine_up && compose_available \
        && [[ -n "$(compose ps --status running -q "$1" 2>/dev/null)" ]]
}

# Asks "question [y/N]"; true on yes. Without a terminal it refuses (use the --yes flag).
confirm() {
    local answer
    if [[ ! -t 0 ]]; then
        die "no terminal to confirm on: pass --yes to proceed without asking"
    fi
    read -r -p "$1 [y/N] " answer
    [[ "$answer" == [yY] || "$answer" == [yY][eE][sS] ]]
}

# The HTTP status code of a GET (000 when nothing answers).
http_status() {
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1" 2>/dev/null || true
    else
        python3 - "$1" <<'PY' 2>/dev/null || printf '000\n'
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=3).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
except OSError:
    print("000")
PY
    fi
}

# The body of a GET, or nothing.
http_body() {
    if command -v curl >/dev/null 2>&1; then
        curl -s --max-time 3 "$1" 2>/dev/null || true
    else
        python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())' "$1" 2>/dev/null || true
    fi
}
