#!/usr/bin/env bash
# Back up the optimizer's PostgreSQL database to backups/optimizer-YYYYmmdd-HHMMSS.sql.gz.
#
#   scripts/backup.sh                 # the database of DATABASE_URL (.env or environment)
#   scripts/backup.sh -o /mnt/backups # another directory (or BACKUP_DIR)
#   scripts/backup.sh --compose       # run pg_dump inside the Compose `postgres` container
#   scripts/backup.sh --local         # run the host's pg_dump against DATABASE_URL
#
# Default: --compose when the Compose `postgres` service is running, else --local. The dump is
# plain SQL with DROP ... IF EXISTS before each object, so scripts/restore.sh can replay it
# over an existing database. It contains prompt hashes and feedback: keep it private (0600).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env

MODE="${OPTIMIZER_MODE:-auto}"
OUT_DIR="${BACKUP_DIR:-$ROOT_DIR/backups}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        -o | --output-dir)
            [[ $# -ge 2 ]] || die "$1 needs a directory"
            OUT_DIR="$2"
            shift
            ;;
        --local) MODE=local ;;
        --compose) MODE=compose ;;
        -h | --help)
            usage "${BASH_SOURCE[0]}"
            exit 0
            ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

if [[ "$MODE" == auto ]]; then
    if compose_service_running postgres; then MODE=compose; else MODE=local; fi
fi

DATABASE_URL="${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/optimizer}"
PG_DUMP_OPTIONS=(--format=plain --no-owner --no-privileges --clean --if-exists)

umask 077
mkdir -p "$OUT_DIR"
stamp="$(date +%Y%m%d-%H%M%S)"
target="$OUT_DIR/optimizer-$stamp.sql.gz"
n=1
while [[ -e "$target" ]]; do # two backups within one second
    target="$OUT_DIR/optimizer-$stamp-$n.sql.gz"
    n=$((n + 1))
done
partial="$target.partial"
trap 'rm -f "$partial"' EXIT

case "$MODE" in
    local)
        command -v pg_dump >/dev/null 2>&1 \
            || die "pg_dump not found: install the PostgreSQL client (apt-get install postgresql-client) or use --compose"
        info "Backing up $(url_redacted "$DATABASE_URL") with $(pg_dump --version) ..."
        if ! pg_dump --dbname="$DATABASE_URL" "${PG_DUMP_OPTIONS[@]}" | gzip -c >"$partial"; then
            die "pg_dump failed (is PostgreSQL running, and is pg_dump at least as new as the server? see above)"
        fi
        ;;
    compose)
        info "Backing up the Compose database (pg_dump inside the postgres container) ..."
        # $POSTGRES_USER and $POSTGRES_DB expand inside the container.
        # shellcheck disable=SC2016
        if ! compose exec -T postgres sh -c \
            'exec pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" "$@"' pg_dump "${PG_DUMP_OPTIONS[@]}" \
            | gzip -c >"$partial"; then
            die "pg_dump in the postgres container failed (see above)"
        fi
        ;;
    *) die "unknown mode '$MODE' (compose, local or auto)" ;;
esac

gzip -t "$partial" || die "the backup is not a valid gzip file"
mv "$partial" "$target"
trap - EXIT
info "Backup written: $target ($(du -h "$target" | cut -f1))"
info "Restore with:   scripts/restore.sh $target"
