#!/bin/bash
# pg-node.sh — a PostgreSQL node of the compose cluster: Patroni runs
# PostgreSQL 15 and holds the leader lock in etcd; beside it the node's
# pgBackRest TLS agent, through which the backup repository reads the data
# directory (for backups from a standby) and nothing else.
#
# Runs as postgres on a read-only root: the configuration is written to
# /tmp (a tmpfs), with the passwords read from the compose secrets; the data
# directory is the node's volume.
#
# Why these Patroni settings:
#   synchronous_mode + synchronous_mode_strict  a commit returns only once a
#       synchronous standby has it, and with no standby left commits wait
#       rather than being acknowledged on one node (three nodes, so one can
#       be lost and commits still go on); only the synchronous standby may
#       be promoted, so a failover loses nothing acknowledged (RPO 0).
#   ttl 10, loop_wait 2, retry_timeout 4  a primary that cannot renew its
#       lock for 4 s demotes itself, before the lock (10 s) can pass to
#       another node: there is never a moment with two primaries; a lost
#       primary is replaced in 10-14 s.
#   use_pg_rewind  an old primary comes back as a standby of the new one,
#       its unacknowledged tail rewound away.
#   no restore_command for standbys  they stream from the primary, whose
#       slots and wal_keep_size keep what they need. An old primary cut off
#       by a partition restarts as a standby of nobody; given the archive it
#       fetches the new primary's timeline, cannot read its own last
#       checkpoint there ("contrecord is requested"), never opens, and
#       Patroni, which asks the running server its timeline before it
#       rewinds, waits for ever. Without it, the server opens on its own
#       WAL, Patroni sees the timelines diverge and runs pg_rewind. The
#       archive serves point-in-time restores (pgbackrest restore writes
#       its own restore_command).
#
# Environment: NAGAR_PG_NODE (this node's name, which is also its host
# name), NAGAR_PG_NODES (default pg1,pg2,pg3), NAGAR_ETCD_HOSTS (default
# etcd1:2379,etcd2:2379,etcd3:2379).
set -euo pipefail

node=${NAGAR_PG_NODE:?NAGAR_PG_NODE names this node}
etcd_hosts=${NAGAR_ETCD_HOSTS:-etcd1:2379,etcd2:2379,etcd3:2379}
secrets=/run/secrets
here=/usr/share/nagar/deploy/cluster
conf_dir=/tmp/patroni
data=/var/lib/postgresql/data/pg

secret() {
    local value
    value=$(tr -d '\r\n' <"$secrets/$1")
    [[ $value =~ ^[A-Za-z0-9._-]{16,}$ ]] || {
        echo "pg-node.sh: $secrets/$1 is not a password of 16 or more of [A-Za-z0-9._-]" >&2
        exit 1
    }
    printf '%s' "$value"
}

umask 077
mkdir -p "$conf_dir" /tmp/pgbackrest
etcd_list=$(printf '%s' "$etcd_hosts" | sed 's/,/, /g')

cat >"$conf_dir/patroni.yml" <<EOF
scope: nagar
namespace: /nagar/patroni/
name: $node
log:
  level: WARNING
restapi:
  listen: 0.0.0.0:8008
  connect_address: $node:8008
etcd3:
  hosts: [$etcd_list]
  protocol: http
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_mode_strict: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        synchronous_commit: "on"
        max_connections: 200
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 256MB
        password_encryption: scram-sha-256
        archive_mode: "on"
        archive_timeout: 60
        archive_command: "$here/pgbackrest-archive-push.sh %p"
        log_min_messages: warning
        log_connections: "off"
        # pgAudit (issue 13): DDL and role changes by anyone; writes and
        # function calls by owner roles and superusers (ALTER ROLE ... SET
        # pgaudit.log, deploy/provision.sh).
        shared_preload_libraries: pgaudit
        pgaudit.log: "ddl, role"
        pgaudit.log_relation: "on"
  initdb:
    - data-checksums
    - encoding: UTF8
    - locale: C.UTF-8
postgresql:
  listen: 0.0.0.0:5432
  connect_address: $node:5432
  data_dir: $data
  bin_dir: /usr/lib/postgresql/15/bin
  pgpass: $conf_dir/pgpass
  authentication:
    superuser:
      username: postgres
      password: "$(secret pg_superuser)"
    replication:
      username: replicator
      password: "$(secret pg_replication)"
    rewind:
      username: rewind
      password: "$(secret pg_rewind)"
  parameters:
    unix_socket_directories: /tmp
  pg_hba:
    - local all postgres peer
    - local all all scram-sha-256
    - host replication replicator all scram-sha-256
    - host all all all scram-sha-256
EOF

# The agent the repository reads backups through (TLS, only the repository's
# certificate is admitted).
pgbackrest --config="$here/pgbackrest-pg.conf" server &

exec patroni "$conf_dir/patroni.yml"
