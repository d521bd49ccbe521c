#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh into the optimizer's database.
#
#   scripts/restore.sh backups/optimizer-20260101-030000.sql.gz
#   scripts/restore.sh --yes FILE        # no question asked (scripts, CI)
#   scripts/restore.sh --recreate FILE   # drop and re-create the database first (clean slate)
#   scripts/restore.sh --compose FILE    # psql inside the Compose `postgres` container
#   scripts/restore.sh --local FILE      # the host's psql against DATABASE_URL
#
# The database named in DATABASE_URL is created when it does not exist. Objects in the backup
# replace their current versions; stop the services first (scripts/shutdown.sh) so that nothing
# writes during the restore. The restore runs in one transaction: on error nothing changes.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env

MODE="${OPTIMIZER_MODE:-auto}"
YES=0
RECREATE=0
FILE=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        -y | --yes) YES=1 ;;
        --recreate) RECREATE=1 ;;
        --local) MODE=local ;;
        --compose) MODE=compose ;;
        -h | --help)
            usage "${BASH_SOURCE[0]}"
            exit 0
            ;;
        -*) die "unknown option: $1 (see --help)" ;;
        *)
            [[ -z "$FILE" ]] || die "one backup file at a time"
            FILE="$1"
            ;;
    esac
    shift
done

[[ -n "$FILE" ]] || die "which backup? usage: scripts/restore.sh [--yes] [--recreate] FILE (see --help)"
[[ -f "$FILE" ]] || die "no such file: $FILE"
gzip -t "$FILE" 2>/dev/null || die "$FILE is not a gzip file (expected a .sql.gz from scripts/backup.sh)"

if [[ "$MODE" == auto ]]; then
    if compose_service_running postgres; then MODE=compose; else MODE=local; fi
fi

DATABASE_URL="${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/optimizer}"

# psql against the maintenance database `postgres`, reading SQL on stdin. In compose mode
# $POSTGRES_USER and $POSTGRES_DB expand inside the container, hence the single quotes.
# shellcheck disable=SC2016
admin_psql() {
    case "$MODE" in
        local) psql --no-psqlrc -q -X -v ON_ERROR_STOP=1 --dbname="$(url_with_dbname "$DATABASE_URL" postgres)" "$@" ;;
        compose) compose exec -T postgres sh -c 'exec psql -X -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres "$@"' psql "$@" ;;
    esac
}

# psql against the target database, reading SQL on stdin.
# shellcheck disable=SC2016
target_psql() {
    case "$MODE" in
        local) psql --no-psqlrc -q -X -v ON_ERROR_STOP=1 --dbname="$DATABASE_URL" "$@" ;;
        compose) compose exec -T postgres sh -c 'exec psql -X -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" "$@"' psql "$@" ;;
    esac
}

case "$MODE" in
    local)
        command -v psql >/dev/null 2>&1 \
            || die "psql not found: install the PostgreSQL client (apt-get install postgresql-client) or use --compose"
        DB_NAME="$(url_dbname "$DATABASE_URL")"
        WHERE="$(url_redacted "$DATABASE_URL")"
        ;;
    compose)
        DB_NAME="${POSTGRES_DB:-optimizer}"
        WHERE="the Compose postgres container"
        ;;
    *) die "unknown mode '$MODE' (compose, local or auto)" ;;
esac
[[ -n "$DB_NAME" ]] || die "DATABASE_URL names no database"

if ((RECREATE)); then
    action="DROP database '$DB_NAME' ($WHERE), re-create it and load $FILE"
else
    action="load $FILE into database '$DB_NAME' ($WHERE), replacing the tables it contains"
fi
if ((!YES)) && ! confirm "About to $action. Continue?"; then
    die "aborted; nothing was changed"
fi

exists="$(printf "SELECT 1 FROM pg_database WHERE datname = :'db';\n" | admin_psql -tA -v db="$DB_NAME")" \
    || die "cannot reach PostgreSQL ($WHERE): is it running? (scripts/startup.sh prints how to start it)"
if ((RECREATE)) && [[ "$exists" == 1 ]]; then
    info "Dropping database $DB_NAME ..."
    printf 'DROP DATABASE :"db" WITH (FORCE);\n' | admin_psql -v db="$DB_NAME"
    exists=""
fi
if [[ "$exists" != 1 ]]; then
    info "Creating database $DB_NAME ..."
    printf 'CREATE DATABASE :"db";\n' | admin_psql -v db="$DB_NAME"
fi

# pg_dump --clean drops each partition's primary key on its own, which PostgreSQL refuses (the
# key is the parent's); dropping the partitioned tables first, in the same transaction, leaves
# the dump nothing to drop there. The dump holds the whole database and re-creates them.
DROP_PARTITIONED="DO \$\$ DECLARE t record; BEGIN
  FOR t IN SELECT oid::regclass AS name FROM pg_class
           WHERE relkind = 'p' AND NOT relispartition AND relnamespace = 'public'::regnamespace
  LOOP EXECUTE format('DROP TABLE IF EXISTS %s CASCADE', t.name); END LOOP;
END \$\$;"

info "Restoring $FILE into $DB_NAME ..."
if ! { printf '%s\n' "$DROP_PARTITIONED"; gzip -dc "$FILE"; } | target_psql --single-transaction >/dev/null; then
    die "the restore failed and was rolled back (see the error above)"
fi
info "Restore complete: database $DB_NAME now holds $FILE."
info "If the backup is older than the code, run the migrations: optimizer migrate"
