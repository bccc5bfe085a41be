#!/usr/bin/env bash
# deploy/cluster.sh — the compose cluster (docker-compose.yml) on this
# machine, with podman, in one command:
#
#   deploy/cluster.sh up [--scale SERVICE=N ...]   build what is missing, start, wait until
#                                                  https://127.0.0.1:8443/readyz answers 200
#   deploy/cluster.sh down [--volumes]             stop and remove the containers (and data)
#   deploy/cluster.sh ps | status                  containers; Patroni's view of PostgreSQL
#   deploy/cluster.sh compose ARGS...              docker-compose with this project's settings
#   deploy/cluster.sh image                        (re)build the image only
#   deploy/cluster.sh env                          the settings, as shell assignments
#   deploy/cluster.sh dns                          restart aardvark-dns if it died (see ensure_dns)
#   deploy/cluster.sh probe                        whether containers run here (exit 3: they do not)
#
# What `up` does, each step skipped when already done:
#   1. Debian packages (deploy/deps.sh: podman, runc, netavark, docker-compose,
#      debootstrap); a containers.conf of its own (runc; ulimits within
#      this machine's limits), so nothing under /etc/containers is changed.
#   2. The base image localhost/debian:12, made with debootstrap from the
#      Debian mirror apt uses (no registry), then localhost/nagar:latest
#      from deploy/Dockerfile (cached layers: a rebuild after a code change
#      recompiles only).
#   3. Secrets under $NAGAR_CLUSTER_DIR (0700): PostgreSQL passwords, a
#      development CA with certificates for HAProxy and pgBackRest, CURVE
#      keys; each file owned by the one container user that reads it.
#   4. podman's Docker-compatible API (podman system service, on a socket in
#      $NAGAR_CLUSTER_DIR) for docker-compose, which supports --scale.
#   5. etcd, the PostgreSQL nodes and the backup repository; waits until
#      Patroni has a primary and a synchronous standby; provisions the
#      databases; creates the pgBackRest stanza and takes the first full
#      backup (from a standby).
#   6. Brokers, services, gateways and HAProxy; waits for /readyz over TLS.
#
# Settings (environment):
#   NAGAR_CLUSTER_PROJECT     compose project name (default nagar)
#   NAGAR_CLUSTER_DIR         keys, secrets, CA, socket (default ./var/cluster)
#   NAGAR_CLUSTER_HTTPS_PORT  published HTTPS port (default 8443)
#   NAGAR_CLUSTER_BIND        address it is published on (default 127.0.0.1)
#   NAGAR_CLUSTER_COMPOSE_FILE  compose file (default docker-compose.yml of the repository)
#
# Exit codes: 0 ok, 1 error, 2 usage, 3 containers do not run here (probe).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROJECT=${NAGAR_CLUSTER_PROJECT:-nagar}
DIR=${NAGAR_CLUSTER_DIR:-$REPO/var/cluster}
case $DIR in /*) ;; *) DIR=$REPO/$DIR ;; esac
export NAGAR_CLUSTER_DIR=$DIR
export NAGAR_CLUSTER_HTTPS_PORT=${NAGAR_CLUSTER_HTTPS_PORT:-8443}
export NAGAR_CLUSTER_BIND=${NAGAR_CLUSTER_BIND:-127.0.0.1}
COMPOSE_FILE=${NAGAR_CLUSTER_COMPOSE_FILE:-$REPO/docker-compose.yml}
BASE_IMAGE=localhost/debian:12
IMAGE=localhost/nagar:latest
SOCKET=$DIR/podman.sock
export CONTAINERS_CONF=$DIR/containers.conf
export DOCKER_HOST=unix://$SOCKET
export COMPOSE_HTTP_TIMEOUT=300
# Container users (deploy/Dockerfile).
UID_POSTGRES=999 UID_BACKUP=998 UID_NAGAR=997 UID_HAPROXY=995
PG_NODES=(pg1 pg2 pg3)

log() { echo "cluster: $*" >&2; }
die() { echo "cluster: $*" >&2; exit 1; }

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

compose() {
    bus_net
    docker-compose -p "$PROJECT" -f "$COMPOSE_FILE" --project-directory "$REPO" "$@"
}

# The bus network's /24 (NAGAR_CLUSTER_BUS_NET, e.g. 10.90.7): the brokers
# sit at .11 and .12 of it, and every peer reaches them by address
# (docker-compose.yml says why). Chosen once per cluster directory, among
# 10.90.0-255 not used by another podman network, starting from a number
# drawn from the project's name so that two projects rarely try the same.
bus_net() {
    [[ -n ${NAGAR_CLUSTER_BUS_NET:-} ]] && return 0
    if [[ -s $DIR/bus-net ]]; then
        NAGAR_CLUSTER_BUS_NET=$(cat "$DIR/bus-net")
    else
        local used start n i
        used=" $(podman network ls --format '{{range .Subnets}}{{.Subnet}} {{end}}' 2>/dev/null | tr '\n' ' ') "
        start=$(( $(printf '%s' "$PROJECT" | cksum | cut -d' ' -f1) % 256 ))
        for ((i = 0; i < 256; i++)); do
            n=$(( (start + i) % 256 ))
            [[ $used == *" 10.90.$n.0/24 "* ]] || break
        done
        ((i < 256)) || die "no free 10.90.N.0/24 for the bus network"
        NAGAR_CLUSTER_BUS_NET=10.90.$n
        mkdir -p "$DIR"
        echo "$NAGAR_CLUSTER_BUS_NET" >"$DIR/bus-net"
    fi
    export NAGAR_CLUSTER_BUS_NET
}

container() {   # container SERVICE [N] -> the container's name
    echo "${PROJECT}_${1}_${2:-1}"
}

# ---- 1. packages and podman's configuration -----------------------------------
ensure_packages() {
    "$REPO/deploy/deps.sh"
    local n
    n=$(ulimit -Hn)
    [[ $n == unlimited ]] && n=1048576
    mkdir -p "$DIR"
    chmod 0700 "$DIR"
    cat >"$CONTAINERS_CONF.tmp" <<EOF
# Written by deploy/cluster.sh: crun and podman's default ulimits fail on a
# machine whose root lacks CAP_SYS_RESOURCE; runc with the machine's own
# open-files limit works.
[containers]
default_ulimits = ["nofile=$n:$n", "nproc=32768:32768"]
[engine]
runtime = "runc"
[network]
network_backend = "netavark"
EOF
    mv "$CONTAINERS_CONF.tmp" "$CONTAINERS_CONF"
}

# ---- 2. images --------------------------------------------------------------
debian_mirror() {
    local uri
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [[ -n $uri ]] || uri=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' \
                             /etc/apt/sources.list 2>/dev/null || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

ensure_base_image() {
    podman image exists "$BASE_IMAGE" && return 0
    local rootfs mirror
    mirror=$(debian_mirror)
    rootfs=$(mktemp -d /var/tmp/nagar-rootfs.XXXXXX)
    log "making $BASE_IMAGE with debootstrap from $mirror (about a minute, once)"
    if ! timeout 900 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" \
            >"$DIR/debootstrap.log" 2>&1; then
        rm -rf "$rootfs"
        die "debootstrap failed; see $DIR/debootstrap.log"
    fi
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | podman import -q - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
}

build_image() {
    # The web apps are bundled here, where npm is, into build/web, which is
    # where deploy/Dockerfile copies them from. BUILD is named on the command
    # line because a caller's BUILD (make drills exports BUILD=build/asan)
    # would otherwise send the bundle elsewhere and the image would not build.
    log "bundling the web apps (make web)"
    make -C "$REPO" -s BUILD=build web >"$DIR/web-build.log" 2>&1 ||
        { tail -20 "$DIR/web-build.log" >&2; die "make web failed (log: $DIR/web-build.log)"; }
    log "building $IMAGE (deploy/Dockerfile)"
    (cd "$REPO" && timeout 1800 podman build -q --pull=never --target runtime \
        -f deploy/Dockerfile -t "$IMAGE" .) >/dev/null ||
        die "the image did not build; run: cd $REPO && CONTAINERS_CONF=$CONTAINERS_CONF podman build --pull=never -f deploy/Dockerfile ."
}

# ---- 3. secrets -----------------------------------------------------------------
password_file() {   # password_file FILE
    [[ -s $1 ]] && return 0
    (umask 077 && head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40 >"$1")
}

issue_cert() {   # issue_cert NAME CN SAN...
    local name=$1 cn=$2 tls=$DIR/tls
    shift 2
    [[ -s $tls/$name.crt ]] && return 0
    local san="" host
    for host in "$@"; do san="${san:+$san,}DNS:$host"; done
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$tls/$name.key" -out "$tls/$name.csr" -subj "/CN=$cn" 2>/dev/null
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "${san:-DNS:$cn}" \
        >"$tls/$name.ext"
    openssl x509 -req -in "$tls/$name.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
        -CAcreateserial -days 825 -sha256 -extfile "$tls/$name.ext" -out "$tls/$name.crt" 2>/dev/null
    rm -f "$tls/$name.csr" "$tls/$name.ext"
}

ensure_secrets() {
    mkdir -p "$DIR/secrets" "$DIR/tls" "$DIR/keys"
    chmod 0700 "$DIR" "$DIR/tls"
    password_file "$DIR/secrets/pg_superuser"
    password_file "$DIR/secrets/pg_replication"
    password_file "$DIR/secrets/pg_rewind"
    local tls=$DIR/tls
    if [[ ! -s $tls/ca.crt ]]; then
        log "making a development CA in $tls (not for production: use your own)"
        openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -keyout "$tls/ca.key" -out "$tls/ca.crt" -days 3650 -subj "/CN=Nagar development CA" \
            2>/dev/null
    fi
    issue_cert haproxy localhost localhost nagar.localhost haproxy
    cat "$tls/haproxy.crt" "$tls/haproxy.key" >"$tls/haproxy.pem.tmp"
    mv "$tls/haproxy.pem.tmp" "$tls/haproxy.pem"
    # pgBackRest's TLS: tls-server-auth admits a client by its CN.
    issue_cert pg-server pg-server "${PG_NODES[@]}"
    issue_cert pg-client nagar-pg nagar-pg
    issue_cert repo-server repo-server backup-repo
    issue_cert repo-client nagar-repo nagar-repo
    if [[ ! -s $DIR/keys/secret/broker.cert ]]; then
        log "making CURVE keys (deploy/keys.sh)"
        setup_job keys
    fi
    own_secrets
}

# Each file to the one container user that reads it; the directory stays
# root's (0700), so nobody else on the host reaches them. Which container
# reads which file is docker-compose.yml's secrets: each service its own bus
# key, password and keys (one payment provider key per service), nagarctl and
# the checkpointer the <role>.pgpass files they name, nothing else. An old
# shared secrets/payment_provider.key (before one per service) is left to
# root: deploy/provision.sh copied it once, and no container mounts it.
own_secrets() {
    local f
    chmod 0700 "$DIR"
    chown -R root:root "$DIR/tls"
    chmod 0600 "$DIR"/tls/*
    chmod 0644 "$DIR/tls/ca.crt"
    chown "$UID_HAPROXY" "$DIR/tls/haproxy.pem"
    chown "$UID_POSTGRES" "$DIR/tls/pg-server.key" "$DIR/tls/pg-client.key" \
        "$DIR/secrets/pg_superuser" "$DIR/secrets/pg_replication" "$DIR/secrets/pg_rewind"
    chown "$UID_BACKUP" "$DIR/tls/repo-server.key" "$DIR/tls/repo-client.key"
    chmod 0644 "$DIR"/tls/*.crt
    for f in "$DIR"/keys/secret/*.cert "$DIR"/secrets/*_app.pgpass "$DIR"/secrets/*_reader.pgpass \
             "$DIR"/secrets/token/*.key "$DIR"/secrets/identity_otp.key \
             "$DIR"/secrets/certificate_seal/*.key "$DIR"/secrets/payment_provider/*.key \
             "$DIR"/secrets/notify_seal.key "$DIR"/secrets/witness_writer.pgpass \
             "$DIR"/checkpoint_key/checkpoint.key; do
        [[ -e $f ]] || continue
        chown "$UID_NAGAR" "$f"
        chmod 0600 "$f"
    done
    find "$DIR/keys" "$DIR/secrets" -type d -exec chmod 0755 {} +
    [[ -d $DIR/checkpoint_key ]] && chmod 0755 "$DIR/checkpoint_key" &&
        chmod 0644 "$DIR/checkpoint_key/checkpoint.pub"
    [[ -d $DIR/keys/public ]] && chmod 0644 "$DIR"/keys/public/* "$DIR/keys/broker.pub"
    return 0
}

# The web apps' settings (/config.json, as deploy/run.sh writes them): the
# payment provider's page, when NAGAR_WEB_PAYMENT_PAGE_URL names one.
web_config() {
    printf '{%s}\n' \
        "${NAGAR_WEB_PAYMENT_PAGE_URL:+\"paymentPageUrl\":\"$NAGAR_WEB_PAYMENT_PAGE_URL\"}" \
        >"$DIR/web-config.json"
    chmod 0644 "$DIR/web-config.json"
}

setup_job() {   # setup_job keys|provision: deploy/cluster/setup.sh in a container
    local network=()
    # Provisioning talks to the primary alone: libpq gives up on a multi-host
    # list at the first node that refuses (a standby that has not replayed
    # a new database or role yet), instead of trying the next.
    [[ $1 == provision ]] && network=(--network "${PROJECT}_data" -e "NAGAR_DB_HOSTS=$PRIMARY")
    podman run --rm --user root "${network[@]}" -v "$DIR:/var/lib/nagar" \
        --entrypoint /usr/share/nagar/deploy/cluster/setup.sh "$IMAGE" "$1"
}

# ---- 4. podman's API for docker-compose ----------------------------------------
api_up() {
    [[ -S $SOCKET ]] && curl -sf --max-time 2 --unix-socket "$SOCKET" http://d/_ping >/dev/null &&
        return 0
    rm -f "$SOCKET"
    podman system service --time=0 "unix://$SOCKET" >"$DIR/podman-service.log" 2>&1 &
    echo $! >"$DIR/podman-service.pid"
    local deadline=$((SECONDS + 30))
    until curl -sf --max-time 2 --unix-socket "$SOCKET" http://d/_ping >/dev/null; do
        ((SECONDS < deadline)) || die "podman system service did not answer within 30 s; see $DIR/podman-service.log"
        sleep 0.2
    done
}

api_down() {
    local pid
    pid=$(cat "$DIR/podman-service.pid" 2>/dev/null || true)
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null &&
       [[ $(tr '\0' ' ' </proc/"$pid"/cmdline) == *"system service"*"$SOCKET"* ]]; then
        kill -TERM "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$DIR/podman-service.pid" "$SOCKET"
}

# ---- 5. waiting ---------------------------------------------------------------------
patroni() {   # patroni NODE PATH -> the REST answer (JSON), "" when none
    podman exec "$(container "$1")" curl -s --max-time 2 "http://127.0.0.1:8008$2" 2>/dev/null || true
}

patroni_code() {   # patroni_code NODE PATH -> the HTTP status of its REST API
    podman exec "$(container "$1")" curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
        "http://127.0.0.1:8008$2" 2>/dev/null || true
}

# Waits until a node answers /primary (it runs PostgreSQL read-write and
# holds the leader lock) and another answers /sync (a streaming synchronous
# standby): then a commit can be acknowledged.
wait_primary() {
    local deadline=$((SECONDS + ${1:-180})) node primary sync
    while ((SECONDS < deadline)); do
        ensure_dns
        primary="" sync=""
        for node in "${PG_NODES[@]}"; do
            [[ $(patroni_code "$node" /primary) == 200 ]] && primary=$node
            [[ $(patroni_code "$node" /sync) == 200 ]] && sync=$node
        done
        if [[ -n $primary && -n $sync ]]; then
            PRIMARY=$primary
            return 0
        fi
        sleep 1
    done
    die "Patroni has no primary with a synchronous standby after ${1:-180} s; see: deploy/cluster.sh compose logs pg1"
}

wait_https() {
    local deadline=$((SECONDS + ${1:-180}))
    until ensure_dns && curl -sf --max-time 2 --cacert "$DIR/tls/ca.crt" \
            --resolve "localhost:$NAGAR_CLUSTER_HTTPS_PORT:$NAGAR_CLUSTER_BIND" \
            "https://localhost:$NAGAR_CLUSTER_HTTPS_PORT/readyz" >/dev/null; do
        ((SECONDS < deadline)) || die "https://localhost:$NAGAR_CLUSTER_HTTPS_PORT/readyz is not 200 after ${1:-180} s; see: deploy/cluster.sh compose logs gateway1"
        sleep 1
    done
}

backup_repo() {   # pgbackrest on the repository side
    podman exec "$(container backup-repo)" pgbackrest \
        --config=/usr/share/nagar/deploy/cluster/pgbackrest-repo.conf --stanza=nagar "$@"
}

# Containers find each other by name through aardvark-dns, which netavark
# starts with the first container of a network and stops with the last. When
# compose replaces every container at once, netavark 1.4 can signal an
# aardvark-dns that is just exiting, and names stop resolving; a container
# started on the network makes netavark start it again, with every network's
# names (they are in its configuration directory).
ensure_dns() {
    local pidfile=/run/containers/networks/aardvark-dns/aardvark.pid pid
    pid=$(cat "$pidfile" 2>/dev/null || true)
    [[ -n $pid ]] && [[ $(cat /proc/"$pid"/comm 2>/dev/null) == aardvark-dns ]] && return 0
    podman network exists "${PROJECT}_control" || return 0
    log "restarting aardvark-dns (container names did not resolve)"
    podman run --rm --network "${PROJECT}_control" "$IMAGE" true >/dev/null 2>&1 || true
}

# compose up, tried again when podman refuses to replace a container caught
# between two restarts ("container state improper").
compose_up() {
    local try
    for try in 1 2 3; do
        if compose up -d --no-build "$@" >>"$DIR/compose.log" 2>&1; then
            ensure_dns
            return 0
        fi
        ensure_dns
        ((try < 3)) && sleep 2
    done
    tail -20 "$DIR/compose.log" >&2
    die "compose up failed (log: $DIR/compose.log)"
}

# ---- commands ---------------------------------------------------------------------
cmd_up() {
    : >"$DIR/compose.log" 2>/dev/null || true
    ensure_packages
    ensure_base_image
    build_image
    ensure_secrets
    api_up
    log "starting etcd, PostgreSQL (Patroni) and the backup repository"
    compose_up etcd1 etcd2 etcd3 pg1 pg2 pg3 backup-repo
    wait_primary 240
    log "provisioning databases and roles (log: $DIR/provision.log)"
    local try
    for try in 1 2 3; do
        setup_job provision >"$DIR/provision.log" 2>&1 && break
        ((try == 3)) && { tail -20 "$DIR/provision.log" >&2; die "provisioning failed"; }
        sleep 5
        wait_primary 120
    done
    grep -h '^nagar: first state admin' "$DIR/provision.log" >&2 || true
    own_secrets
    web_config
    if ! backup_repo info 2>/dev/null | grep -q 'full backup'; then
        log "pgBackRest: stanza and the first full backup (from a standby)"
        backup_repo stanza-create >/dev/null
        backup_repo backup --type=full >/dev/null
    fi
    log "starting brokers, services, gateways and HAProxy"
    compose_up "$@"
    wait_https 240
    log "up: https://localhost:$NAGAR_CLUSTER_HTTPS_PORT/ (CA: $DIR/tls/ca.crt)"
}

# Whatever compose down leaves (a container caught restarting), by the
# project's label: only this project's containers, networks and volumes.
remove_leftovers() {   # remove_leftovers [--volumes]
    local label=com.docker.compose.project=$PROJECT ids
    for _ in 1 2 3 4 5; do
        ids=$(podman ps -aq --filter "label=$label")
        [[ -z $ids ]] && break
        podman rm -f $ids >/dev/null 2>&1 || sleep 1
    done
    ids=$(podman network ls -q --filter "label=$label")
    [[ -n $ids ]] && podman network rm $ids >/dev/null
    if [[ ${1:-} == --volumes ]]; then
        ids=$(podman volume ls -q --filter "label=$label")
        [[ -n $ids ]] && podman volume rm $ids >/dev/null
    fi
    return 0
}

cmd_down() {
    local volumes=()
    [[ ${1:-} == --volumes ]] && volumes=(--volumes)
    [[ -f $CONTAINERS_CONF ]] || return 0
    api_up
    compose --profile setup --profile ops down -t 30 "${volumes[@]}" >"$DIR/compose-down.log" 2>&1 || true
    remove_leftovers "${volumes[@]}"
    api_down
}

cmd_status() {
    podman ps -a --filter "label=com.docker.compose.project=$PROJECT" \
        --format '{{.Names}}\t{{.Status}}'
    local node
    for node in "${PG_NODES[@]}"; do
        local answer
        answer=$(patroni "$node" /cluster)
        if [[ -n $answer ]]; then
            python3 -c '
import json, sys
for m in json.load(sys.stdin)["members"]:
    print("patroni: %-4s %-13s %-10s timeline %s lag %s" % (m["name"], m["role"], m["state"],
          m.get("timeline", "?"), m.get("lag", 0)))' <<<"$answer"
            return 0
        fi
    done
    echo "patroni: no node answers"
}

# Whether containers run on this machine at all (exit 3 when not): the
# packages, the base image, and one container started and gone.
cmd_probe() {
    local out
    ensure_packages
    ensure_base_image
    if ! out=$(timeout 120 podman run --rm --network none "$BASE_IMAGE" true 2>&1); then
        echo "cluster: containers do not run on this machine: ${out//$'\n'/ }" >&2
        exit 3
    fi
}

cmd_env() {
    echo "CONTAINERS_CONF=$CONTAINERS_CONF"
    echo "DOCKER_HOST=$DOCKER_HOST"
    echo "NAGAR_CLUSTER_PROJECT=$PROJECT"
    echo "NAGAR_CLUSTER_DIR=$DIR"
    echo "NAGAR_CLUSTER_HTTPS_PORT=$NAGAR_CLUSTER_HTTPS_PORT"
    bus_net
    echo "NAGAR_CLUSTER_BUS_NET=$NAGAR_CLUSTER_BUS_NET"
}

[[ $(id -u) -eq 0 ]] || die "run as root (podman with runc, as this machine allows it)"
case ${1:-} in
up) shift; cmd_up "$@" ;;
down) shift; cmd_down "$@" ;;
ps | status) cmd_status ;;
compose) shift; api_up; compose "$@" ;;
dns) ensure_dns ;;
probe) cmd_probe ;;
image) ensure_packages; ensure_base_image; build_image ;;
env) cmd_env ;;
*) usage ;;
esac
