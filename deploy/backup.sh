#!/usr/bin/env bash
# deploy/backup.sh — continuous WAL archiving and point-in-time restore of
# the Nagar PostgreSQL cluster with pgBackRest 2.45, into a repository that
# neither PostgreSQL nor the services can delete.
#
#   deploy/backup.sh setup                  (root) user, certificates, servers, archiving,
#                                           stanza and the first full backup
#   deploy/backup.sh start|stop             (root) the two pgBackRest TLS servers
#   deploy/backup.sh backup [full|diff|incr]   a backup (default incr), run by the backup user
#   deploy/backup.sh verify                 pgbackrest verify of the whole repository
#   deploy/backup.sh info                   backups and WAL ranges held
#   deploy/backup.sh restore --to TIME [--target DIR] [--no-swap]
#                                           point-in-time restore into a NEW data directory,
#                                           then (unless --no-swap) stop the cluster, keep the
#                                           old data directory aside and start on the new one
#
# How the repository is protected. It belongs to the system user
# nagar-backup (mode 0700), a different OS user from `postgres` and from the
# services. PostgreSQL never touches it: its archive_command runs
# `pgbackrest archive-push`, which sends each WAL segment over mutually
# authenticated TLS to a `pgbackrest server` running as nagar-backup (the
# "repo" server); only that process writes the repository. Backups run as
# nagar-backup on the repository side and read the data directory through a
# second `pgbackrest server` running as postgres (the "pg" server), which
# accepts only the repository's client certificate. So `rm -rf` by the
# postgres user, a service, or someone holding a database password cannot
# remove a backup or an archived segment: file permissions forbid it. What
# remains possible for someone who is the postgres OS user is to speak
# pgBackRest's protocol to the repo server with the postgres side's client
# certificate; keep the repository on another host (only repo-host and the
# certificates change) and copy it off-site (repo2) for defence against that.
#
# Certificates: a private CA (key kept by root in $NAGAR_VAR/secrets/backup_ca,
# 0700) signs a server certificate for each server (SAN localhost, 127.0.0.1)
# and a client certificate for each side (CN nagar-pg, nagar-repo);
# tls-server-auth admits only the other side's CN, for the stanza "nagar".
#
# Environment: NAGAR_VAR, NAGAR_PG_PORT (as deploy/pg.sh),
#   NAGAR_BACKUP_DIR       repository side base (default $NAGAR_VAR/backup, or
#                          /var/tmp/nagar-backup-<hash> when nagar-backup cannot traverse NAGAR_VAR)
#   NAGAR_BACKUP_USER      default nagar-backup
#   NAGAR_BACKUP_REPO_PORT TLS port of the repo server (default NAGAR_PG_PORT + 1000)
#   NAGAR_BACKUP_PG_PORT   TLS port of the pg server   (default NAGAR_PG_PORT + 1001)
#   NAGAR_ARCHIVE_TIMEOUT  seconds before a partly filled WAL segment is archived (60)
#
# Exit codes: 0 ok, 1 error, 2 usage.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
eval "$("$REPO_ROOT/deploy/pg.sh" env)"
STANZA=nagar
BACKUP_USER=${NAGAR_BACKUP_USER:-nagar-backup}
REPO_PORT=${NAGAR_BACKUP_REPO_PORT:-$((NAGAR_PG_PORT + 1000))}
PGSIDE_PORT=${NAGAR_BACKUP_PG_PORT:-$((NAGAR_PG_PORT + 1001))}
ARCHIVE_TIMEOUT=${NAGAR_ARCHIVE_TIMEOUT:-60}
PG_BASE=$(dirname "$NAGAR_PG_DATA")
PGSIDE=$PG_BASE/pgbackrest           # owned by postgres: its config, certificates, logs
CA_DIR=$NAGAR_VAR/secrets/backup_ca  # root only
PG_OS_USER=$NAGAR_PG_SUPERUSER       # the OS user running the server (peer-mapped)

die() {
    echo "backup.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

((EUID == 0)) || die "run as root: it acts as $BACKUP_USER and as $PG_OS_USER (runuser)"
command -v pgbackrest >/dev/null || die "pgBackRest is not installed; run: apt-get install -y pgbackrest"
id "$PG_OS_USER" >/dev/null 2>&1 || die "the PostgreSQL OS user $PG_OS_USER does not exist"

backup_base() {
    if [[ -n ${NAGAR_BACKUP_DIR:-} ]]; then
        echo "$NAGAR_BACKUP_DIR"
    elif id "$BACKUP_USER" >/dev/null 2>&1 &&
        (cd / && runuser -u "$BACKUP_USER" -- test -x "$NAGAR_VAR") 2>/dev/null; then
        echo "$NAGAR_VAR/backup"
    else
        echo "/var/tmp/nagar-backup-$(printf '%s' "$NAGAR_VAR" | sha256sum | cut -c1-12)"
    fi
}

as_backup() { (cd / && runuser -u "$BACKUP_USER" -- "$@"); }
as_pg() { (cd / && runuser -u "$PG_OS_USER" -- "$@"); }

ensure_user() {
    if ! id "$BACKUP_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
            "$BACKUP_USER"
        echo "backup.sh: created system user $BACKUP_USER"
    fi
}

# issue NAME CN DIR OWNER: a key and a certificate signed by the CA.
issue() {
    local name=$1 cn=$2 dir=$3 owner=$4
    [[ -f $dir/$name.crt ]] && return 0
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$dir/$name.key" -out "$CA_DIR/$name.csr" -subj "/CN=$cn" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' \
        >"$CA_DIR/$name.ext"
    openssl x509 -req -in "$CA_DIR/$name.csr" -CA "$CA_DIR/ca.crt" -CAkey "$CA_DIR/ca.key" \
        -CAcreateserial -days 3650 -extfile "$CA_DIR/$name.ext" -out "$dir/$name.crt" 2>/dev/null
    chown "$owner" "$dir/$name.key" "$dir/$name.crt"
    chmod 0600 "$dir/$name.key"
}

# tls_server_conf DIR PORT CERT PEER: the [global] lines both sides share:
# logs and lock in DIR, and pgBackRest's TLS server on PORT with DIR/tls's CA
# and CERT, accepting only the client certificate named PEER for the stanza.
tls_server_conf() {
    local dir=$1 port=$2 cert=$3 peer=$4
    cat <<EOF
log-path=$dir/log
lock-path=$dir/lock
log-level-console=warn
log-level-file=info
tls-server-address=127.0.0.1
tls-server-port=$port
tls-server-ca-file=$dir/tls/ca.crt
tls-server-cert-file=$dir/tls/$cert.crt
tls-server-key-file=$dir/tls/$cert.key
tls-server-auth=$peer=$STANZA
EOF
}

# tls_client_conf KEY PORT DIR CERT CONFIG: how one side reaches the other's
# TLS server: KEY-host* lines (KEY is repo1 or pg1) for localhost:PORT with
# DIR/tls's CA and client CERT, and the other side's config file CONFIG.
tls_client_conf() {
    local key=$1 port=$2 dir=$3 cert=$4 config=$5
    cat <<EOF
$key-host=localhost
$key-host-type=tls
$key-host-port=$port
$key-host-ca-file=$dir/tls/ca.crt
$key-host-cert-file=$dir/tls/$cert.crt
$key-host-key-file=$dir/tls/$cert.key
$key-host-config=$config
EOF
}

# pg_conf: the stanza's lines that name the cluster (both sides reach it).
pg_conf() {
    cat <<EOF
pg1-path=$NAGAR_PG_DATA
pg1-port=$NAGAR_PG_PORT
pg1-socket-path=$NAGAR_PG_SOCKET_DIR
pg1-user=$PG_OS_USER
EOF
}

write_configs() {
    local base=$1
    cat >"$base/pgbackrest.conf" <<EOF
# Written by deploy/backup.sh: the repository side (runs as $BACKUP_USER).
[global]
repo1-path=$base/repo
repo1-retention-full=4
start-fast=y
compress-level=3
$(tls_server_conf "$base" "$REPO_PORT" repo-server nagar-pg)

[$STANZA]
$(tls_client_conf pg1 "$PGSIDE_PORT" "$base" repo-client "$PGSIDE/pgbackrest.conf")
$(pg_conf)
EOF
    # Each side names the other's config file: remotes started by a server
    # would otherwise read /etc/pgbackrest.conf.
    cat >"$PGSIDE/pgbackrest.conf" <<EOF
# Written by deploy/backup.sh: the PostgreSQL side (runs as $PG_OS_USER).
[global]
$(tls_client_conf repo1 "$REPO_PORT" "$PGSIDE" pg-client "$base/pgbackrest.conf")
spool-path=$PGSIDE/spool
$(tls_server_conf "$PGSIDE" "$PGSIDE_PORT" pg-server nagar-repo)

[$STANZA]
$(pg_conf)
EOF
    chown "$BACKUP_USER:" "$base/pgbackrest.conf"
    chown "$PG_OS_USER:" "$PGSIDE/pgbackrest.conf"
    chmod 0600 "$base/pgbackrest.conf" "$PGSIDE/pgbackrest.conf"
}

server_running() {   # server_running PIDFILE
    [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

cmd_start() {
    local base
    base=$(backup_base)
    [[ -f $base/pgbackrest.conf ]] || die "not set up; run deploy/backup.sh setup first"
    if ! server_running "$base/repo-server.pid"; then
        # setsid: the server leads its own session, so stop can end it whole.
        (cd / && exec setsid runuser -u "$BACKUP_USER" -- pgbackrest \
            --config="$base/pgbackrest.conf" server </dev/null >>"$base/log/server.out" 2>&1) &
        echo $! >"$base/repo-server.pid"
    fi
    if ! server_running "$PGSIDE/pg-server.pid"; then
        (cd / && exec setsid runuser -u "$PG_OS_USER" -- pgbackrest \
            --config="$PGSIDE/pgbackrest.conf" server </dev/null >>"$PGSIDE/log/server.out" 2>&1) &
        echo $! >"$PGSIDE/pg-server.pid"
    fi
    wait_port "$REPO_PORT" || die "the repository's pgBackRest server did not listen on $REPO_PORT; see $base/log"
    wait_port "$PGSIDE_PORT" || die "the PostgreSQL side's pgBackRest server did not listen on $PGSIDE_PORT; see $PGSIDE/log"
}

cmd_stop() {
    local base pid
    base=$(backup_base)
    for file in "$base/repo-server.pid" "$PGSIDE/pg-server.pid"; do
        if server_running "$file"; then
            pid=$(cat "$file")
            # runuser's child is the server: stop the whole session.
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
        rm -f "$file"
    done
}

psql_super() {
    PGHOST=$NAGAR_PG_SOCKET_DIR PGPORT=$NAGAR_PG_PORT PGUSER=$NAGAR_PG_SUPERUSER \
        psql -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"
}

repo_cmd() {   # pgbackrest on the repository side
    local base
    base=$(backup_base)
    as_backup pgbackrest --config="$base/pgbackrest.conf" --stanza=$STANZA "$@"
}

pg_cmd() {     # pgbackrest on the PostgreSQL side
    as_pg pgbackrest --config="$PGSIDE/pgbackrest.conf" --stanza=$STANZA "$@"
}

cmd_setup() {
    ensure_user
    local base
    base=$(backup_base)
    mkdir -p "$base"/{repo,tls,log,lock} "$PGSIDE"/{tls,log,lock,spool}
    chown -R "$BACKUP_USER:" "$base"
    chmod 0700 "$base" "$base/repo" "$base/tls"
    chown -R "$PG_OS_USER:" "$PGSIDE"
    chmod 0700 "$PGSIDE"
    mkdir -p "$CA_DIR"
    chmod 0700 "$CA_DIR"
    if [[ ! -f $CA_DIR/ca.crt ]]; then
        openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -keyout "$CA_DIR/ca.key" -out "$CA_DIR/ca.crt" -days 3650 \
            -subj "/CN=nagar-backup-ca" 2>/dev/null
        chmod 0600 "$CA_DIR/ca.key"
    fi
    install -m 0644 -o "$BACKUP_USER" "$CA_DIR/ca.crt" "$base/tls/ca.crt"
    install -m 0644 -o "$PG_OS_USER" "$CA_DIR/ca.crt" "$PGSIDE/tls/ca.crt"
    issue repo-server localhost "$base/tls" "$BACKUP_USER"
    issue repo-client nagar-repo "$base/tls" "$BACKUP_USER"
    issue pg-server localhost "$PGSIDE/tls" "$PG_OS_USER"
    issue pg-client nagar-pg "$PGSIDE/tls" "$PG_OS_USER"
    write_configs "$base"
    cmd_start

    # Archiving: ALTER SYSTEM (postgresql.auto.conf) outlives pg.sh's nagar.conf.
    local command="pgbackrest --config=$PGSIDE/pgbackrest.conf --stanza=$STANZA archive-push %p"
    local before
    before=$(psql_super -c "SHOW archive_mode")
    psql_super -c "ALTER SYSTEM SET archive_mode = 'on'" \
        -c "ALTER SYSTEM SET archive_command = '$command'" \
        -c "ALTER SYSTEM SET archive_timeout = '$ARCHIVE_TIMEOUT'" \
        -c "SELECT pg_reload_conf()" >/dev/null
    if [[ $before != on ]]; then
        echo "backup.sh: restarting PostgreSQL to turn archive_mode on"
        "$REPO_ROOT/deploy/pg.sh" stop >/dev/null
        "$REPO_ROOT/deploy/pg.sh" start >/dev/null
    fi
    repo_cmd stanza-create >/dev/null 2>&1 || repo_cmd stanza-upgrade >/dev/null
    # The archiver may be pushing at this moment (the repository's archive
    # lock): try a few times.
    local tries=0
    until pg_cmd check; do
        ((++tries < 10)) || die "pgbackrest check failed: WAL is not reaching the repository (logs in $PGSIDE/log and $base/log)"
        sleep 2
    done
    repo_cmd backup --type=full
    echo "backup.sh: archiving to $base/repo (owner $BACKUP_USER, 0700); first full backup taken"
}

cmd_backup() {
    local type=${1:-incr}
    [[ $type =~ ^(full|diff|incr)$ ]] || usage
    cmd_start
    repo_cmd backup --type="$type"
    echo "backup.sh: $type backup done"
}

cmd_verify() {
    cmd_start
    repo_cmd verify
    echo "backup.sh: the repository verified"
}

cmd_info() {
    cmd_start
    repo_cmd info
}

cmd_restore() {
    local to="" target="" swap=1
    while (($#)); do
        case $1 in
        --to) to=${2:-}; shift 2 || usage ;;
        --target) target=${2:-}; shift 2 || usage ;;
        --no-swap) swap=0; shift ;;
        *) usage ;;
        esac
    done
    [[ -n $to ]] || usage
    # The time must parse as a PostgreSQL timestamp with time zone.
    # psql quotes the value itself (:'to'), so TIME is never spliced into SQL.
    # (With the cluster down, recovery itself checks it.)
    local parsed=$to
    if "$REPO_ROOT/deploy/pg.sh" status >/dev/null 2>&1; then
        parsed=$(printf '%s\n' "SELECT :'to'::timestamptz" | psql_super -v to="$to" 2>/dev/null) ||
            die "--to \"$to\" is not a time PostgreSQL understands (e.g. '2026-11-28 10:41:07+05:30')"
    fi
    cmd_start
    local start_ns
    start_ns=$(date +%s%N)
    [[ -n $target ]] || target=$PG_BASE/data-restored-$(date +%Y%m%d%H%M%S)
    [[ ! -e $target ]] || die "$target exists; restore goes into a new data directory"
    # Whatever the running cluster wrote up to now must be in the repository.
    if "$REPO_ROOT/deploy/pg.sh" status >/dev/null 2>&1; then
        pg_cmd check >/dev/null || echo "backup.sh: warning: could not archive the current WAL segment" >&2
    fi
    mkdir -p "$target"
    chown "$PG_OS_USER:" "$target"
    chmod 0700 "$target"
    # archive-get resolves %p against pg1-path: once swapped into place the
    # data directory is NAGAR_PG_DATA again, which the config names.
    local recovery=()
    ((swap)) && recovery=("--recovery-option=restore_command=pgbackrest --config=$PGSIDE/pgbackrest.conf --stanza=$STANZA archive-get %f \"%p\"")
    pg_cmd --pg1-path="$target" --type=time "--target=$parsed" --target-action=promote \
        --target-timeline=current "${recovery[@]}" restore
    echo "backup.sh: restored into $target (to $parsed)"
    if ((swap)); then
        "$REPO_ROOT/deploy/pg.sh" stop >/dev/null || true
        local aside=$NAGAR_PG_DATA.before-restore-$(date +%Y%m%d%H%M%S)
        mv "$NAGAR_PG_DATA" "$aside"
        mv "$target" "$NAGAR_PG_DATA"
        echo "backup.sh: the previous data directory is kept at $aside"
        "$REPO_ROOT/deploy/pg.sh" start >/dev/null
        for _ in $(seq 600); do
            [[ $(psql_super -c "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]] && break
            sleep 0.1
        done
        [[ $(psql_super -c "SELECT pg_is_in_recovery()") == f ]] ||
            die "PostgreSQL is still recovering after 60 s; see $NAGAR_PG_LOG"
    fi
    local ms=$((($(date +%s%N) - start_ns) / 1000000))
    echo "backup.sh: restore took $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
    if ((swap)); then
        # The new timeline starts a new backup chain.
        repo_cmd backup --type=full >/dev/null ||
            echo "backup.sh: warning: the post-restore full backup failed; run deploy/backup.sh backup full" >&2
    fi
}

case ${1:-} in
setup) cmd_setup ;;
start) cmd_start ;;
stop) cmd_stop ;;
backup) shift; cmd_backup "$@" ;;
verify) cmd_verify ;;
info) cmd_info ;;
restore) shift; cmd_restore "$@" ;;
*) usage ;;
esac
