#!/usr/bin/env bash
# deploy/pg.sh — the embedded PostgreSQL 15 cluster of a Nagar checkout.
#
#   deploy/pg.sh init|start|stop|status|psql [psql args...]|env
#
# Used when no external database is configured (make run, system tests).
# The cluster lives under NAGAR_VAR (default <repo>/var):
#
#   $NAGAR_VAR/pg/data          PGDATA (data checksums, UTF8)
#   $NAGAR_VAR/pg/postgres.log  server log
#   $NAGAR_VAR/run/pg/          unix socket directory (.s.PGSQL.<port>)
#
# It listens on 127.0.0.1:$NAGAR_PG_PORT (default 5544) and that socket.
# Authentication: the superuser only over the socket by OS identity (peer),
# every other role by SCRAM password (host and socket).
#
# initdb refuses to run as root, so as root the cluster belongs to the
# `postgres` system user and every server command runs via runuser. If that
# user cannot traverse NAGAR_VAR (e.g. a checkout under /root), the cluster
# goes to /var/tmp/nagar-<uid>-<hash of NAGAR_VAR> instead and this script
# says so; `deploy/pg.sh env` always prints where things are.
#
# Environment: NAGAR_VAR, NAGAR_PG_PORT, NAGAR_PG_BINDIR (server binaries;
# default /usr/lib/postgresql/15/bin).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAGAR_VAR=${NAGAR_VAR:-$REPO/var}
NAGAR_PG_PORT=${NAGAR_PG_PORT:-5544}

die() {
    echo "pg.sh: $*" >&2
    exit 1
}

[[ $NAGAR_PG_PORT =~ ^[0-9]{1,5}$ ]] && ((NAGAR_PG_PORT >= 1024 && NAGAR_PG_PORT <= 65535)) ||
    die "NAGAR_PG_PORT=\"$NAGAR_PG_PORT\" is not a port number from 1024 to 65535"

find_bindir() {
    if [[ -n ${NAGAR_PG_BINDIR:-} ]]; then
        [[ -x $NAGAR_PG_BINDIR/initdb ]] || die "NAGAR_PG_BINDIR=$NAGAR_PG_BINDIR has no initdb"
        echo "$NAGAR_PG_BINDIR"
        return
    fi
    if [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then
        echo /usr/lib/postgresql/15/bin
        return
    fi
    die "PostgreSQL 15 server not found; install it with: apt-get install -y postgresql-15" \
        "(or point NAGAR_PG_BINDIR at its bin directory)"
}
BINDIR=$(find_bindir)

mkdir -p "$NAGAR_VAR"
VAR=$(cd "$NAGAR_VAR" && pwd -P)

# Who runs the server, and where it lives.
RELOCATED=0
if ((EUID == 0)); then
    id postgres >/dev/null 2>&1 ||
        die "as root the cluster runs as the 'postgres' system user, which does not exist;" \
            "apt-get install -y postgresql-15 creates it"
    RUN_AS=(runuser -u postgres --)
    SUPERUSER=postgres
    if (cd / && runuser -u postgres -- test -x "$VAR") 2>/dev/null; then
        PG_BASE=$VAR/pg
        SOCKET_DIR=$VAR/run/pg
    else
        hash=$(printf '%s' "$VAR" | sha256sum | cut -c1-12)
        PG_BASE=/var/tmp/nagar-$EUID-$hash
        SOCKET_DIR=$PG_BASE/run
        RELOCATED=1
    fi
else
    RUN_AS=()
    SUPERUSER=$(id -un)
    PG_BASE=$VAR/pg
    SOCKET_DIR=$VAR/run/pg
fi
PGDATA_DIR=$PG_BASE/data
LOG_FILE=$PG_BASE/postgres.log

# sun_path holds 107 bytes.
socket_path="$SOCKET_DIR/.s.PGSQL.$NAGAR_PG_PORT"
((${#socket_path} <= 107)) ||
    die "socket path $socket_path is longer than 107 bytes; use a shorter NAGAR_VAR"

as_pg() {
    (cd / && "${RUN_AS[@]}" "$@")
}

# Writes stdin to a file owned by the server's user.
write_as_pg() {
    as_pg sh -c 'umask 077 && cat > "$1"' write_as_pg "$1"
}

is_initialised() {
    [[ -f $PGDATA_DIR/PG_VERSION ]]
}

# pg_ctl status trusts postmaster.pid while its process exists; right after
# a SIGKILL that process can linger as a zombie for a moment, so a zombie
# counts as stopped (otherwise "start" would do nothing).
postmaster_is_zombie() {
    local pid
    pid=$(head -n 1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ $(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null) == Z ]]
}

is_running() {
    is_initialised && ! postmaster_is_zombie &&
        as_pg "$BINDIR/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1
}

pick_locale() {
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then echo C.UTF-8; else echo C; fi
}

note_relocation() {
    if ((RELOCATED)); then
        echo "pg.sh: the postgres user cannot traverse $VAR, so the cluster is at $PG_BASE" >&2
    fi
}

make_dirs() {
    mkdir -p "$PG_BASE" "$SOCKET_DIR"
    chmod 0700 "$PG_BASE" "$SOCKET_DIR"
    if ((EUID == 0)); then
        chown postgres:postgres "$PG_BASE" "$SOCKET_DIR"
    fi
}

# Settings Nagar depends on; rewritten at every start so NAGAR_PG_PORT wins.
write_settings() {
    write_as_pg "$PGDATA_DIR/nagar.conf" <<EOF
# Written by deploy/pg.sh at every start; edit that script, not this file.
listen_addresses = '127.0.0.1'
port = $NAGAR_PG_PORT
unix_socket_directories = '$SOCKET_DIR'
password_encryption = 'scram-sha-256'
# Nothing acknowledged is ever lost.
fsync = on
synchronous_commit = on
full_page_writes = on
wal_level = replica
# SQLSTATE in every line so failures can be matched to their cause.
log_line_prefix = '%m [%p] %q%u@%d %e '
# pgAudit (postgresql-15-pgaudit): every role's DDL — ALTER TABLE ... DISABLE
# TRIGGER included — and role and privilege changes; provision.sh adds every
# write (and function call) by the owner roles and the superuser. A refused
# statement is in the log as the ERROR it caused.
shared_preload_libraries = 'pgaudit'
pgaudit.log = 'ddl, role'
pgaudit.log_relation = on
pgaudit.log_parameter = off
EOF
}

write_auth() {
    write_as_pg "$PGDATA_DIR/pg_hba.conf" <<EOF
# Written by deploy/pg.sh. The superuser only over the unix socket, by OS
# identity; every service role only with its SCRAM password.
# TYPE  DATABASE  USER          ADDRESS        METHOD
local   all       $SUPERUSER    peer map=nagar
local   all       all                          scram-sha-256
host    all       all           127.0.0.1/32   scram-sha-256
EOF
    {
        echo "# Written by deploy/pg.sh: OS users allowed to act as the superuser."
        echo "nagar $SUPERUSER $SUPERUSER"
        if ((EUID == 0)); then
            echo "nagar root $SUPERUSER"
        fi
    } | write_as_pg "$PGDATA_DIR/pg_ident.conf"
}

cmd_init() {
    note_relocation
    if is_initialised; then
        echo "pg.sh: cluster already initialised at $PGDATA_DIR"
        return 0
    fi
    make_dirs
    as_pg "$BINDIR/initdb" -D "$PGDATA_DIR" --data-checksums -E UTF8 --locale="$(pick_locale)" \
        -U "$SUPERUSER" --auth-local=peer --auth-host=scram-sha-256 >"$PG_BASE/initdb.log" 2>&1 || {
        tail -n 20 "$PG_BASE/initdb.log" >&2
        die "initdb failed for $PGDATA_DIR; full output in $PG_BASE/initdb.log"
    }
    write_auth
    echo "include_if_exists = 'nagar.conf'" | as_pg sh -c 'cat >> "$1"' append "$PGDATA_DIR/postgresql.conf"
    write_settings
    echo "pg.sh: initialised $PGDATA_DIR (superuser $SUPERUSER)"
}

cmd_start() {
    note_relocation
    is_initialised || die "no cluster at $PGDATA_DIR; run deploy/pg.sh init first"
    if is_running; then
        echo "pg.sh: already running ($PGDATA_DIR)"
        return 0
    fi
    make_dirs
    write_settings
    as_pg "$BINDIR/pg_ctl" -D "$PGDATA_DIR" -l "$LOG_FILE" -w -t 30 start >/dev/null || {
        tail -n 20 "$LOG_FILE" >&2 || true
        die "PostgreSQL did not start within 30 s on port $NAGAR_PG_PORT; the log above is" \
            "$LOG_FILE (is the port in use? set NAGAR_PG_PORT)"
    }
    echo "pg.sh: running on 127.0.0.1:$NAGAR_PG_PORT and $SOCKET_DIR (log $LOG_FILE)"
}

cmd_stop() {
    if ! is_running; then
        echo "pg.sh: not running"
        return 0
    fi
    as_pg "$BINDIR/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 30 stop >/dev/null ||
        die "PostgreSQL did not stop within 30 s; see $LOG_FILE"
    echo "pg.sh: stopped"
}

cmd_status() {
    note_relocation
    if is_running; then
        echo "pg.sh: running on 127.0.0.1:$NAGAR_PG_PORT and $SOCKET_DIR; data $PGDATA_DIR"
        return 0
    fi
    if is_initialised; then
        echo "pg.sh: stopped; data $PGDATA_DIR"
    else
        echo "pg.sh: not initialised (would be $PGDATA_DIR)"
    fi
    return 3
}

cmd_psql() {
    PGHOST=$SOCKET_DIR PGPORT=$NAGAR_PG_PORT PGUSER=$SUPERUSER PGDATABASE=${PGDATABASE:-postgres} \
        exec psql -X "$@"
}

cmd_env() {
    printf 'NAGAR_VAR=%q\n' "$VAR"
    printf 'NAGAR_PG_PORT=%q\n' "$NAGAR_PG_PORT"
    printf 'NAGAR_PG_SOCKET_DIR=%q\n' "$SOCKET_DIR"
    printf 'NAGAR_PG_SUPERUSER=%q\n' "$SUPERUSER"
    printf 'NAGAR_PG_DATA=%q\n' "$PGDATA_DIR"
    printf 'NAGAR_PG_LOG=%q\n' "$LOG_FILE"
    printf 'NAGAR_PG_BINDIR=%q\n' "$BINDIR"
}

case ${1:-} in
init) cmd_init ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
psql)
    shift
    cmd_psql "$@"
    ;;
env) cmd_env ;;
*)
    echo "usage: deploy/pg.sh init|start|stop|status|psql [args]|env" >&2
    exit 2
    ;;
esac
