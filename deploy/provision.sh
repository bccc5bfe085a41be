#!/usr/bin/env bash
# deploy/provision.sh — one database and two roles per Nagar service, then
# each service's migrations. Idempotent: run it after every deploy/pg.sh start.
#
# For every name <svc> in deploy/services.list:
#   role <svc>_owner  LOGIN; owns database nagar_<svc> and schema <svc>;
#                     used only by nagar-migrate
#   role <svc>_app    LOGIN; what the running service uses: USAGE on schema
#                     <svc> and, through default privileges, SELECT, INSERT,
#                     UPDATE, DELETE on the owner's tables, USAGE/SELECT on
#                     its sequences, EXECUTE on its functions — nothing else
#   role <svc>_reader LOGIN; only for the services whose chains nagarctl
#                     verifies and checkpoints (certificates, property_tax,
#                     water_tax): USAGE on schema <svc> and SELECT on its
#                     tables, granted after the migrations — nothing it can
#                     write or execute, so the checkpoint job's host holds no
#                     password that can change a record
# No role is superuser or may create roles or databases; PUBLIC keeps
# no privilege on any Nagar database, on their public schemas, or on the
# `postgres` and `template1` databases. Both roles' search_path is <svc>.
#
# Passwords are random (32 bytes), made once, kept in
# $NAGAR_VAR/secrets/<role>.pgpass (pgpass format "*:*:*:<role>:<password>",
# mode 0600) and set on the role at every run, so a re-created cluster takes
# the same passwords. They reach psql through its environment, never its
# command line, and are never printed.
#
# Then, for each service with services/<svc>/migrations/, runs
# $BUILD/nagar-migrate --service services/<svc> as <svc>_owner over
# 127.0.0.1: the shared modules of common/sql the service names in its
# sql/modules, its migrations, its rule functions (common/migrate.h).
#
# "provision.sh lock SVC" cuts a taken service's _app and _owner roles off
# the database: no new login, every open session ended (a later run of
# provision.sh lets them in again).
#
# "provision.sh database SVC DB" lays out one more database for service
# SVC's roles and stops there. "provision.sh provider-keys" makes (or, on an
# upgrade, splits) the payment provider keys, one per service, and stops
# there; it needs no database.
#
# Environment: NAGAR_VAR, NAGAR_PG_PORT (as deploy/pg.sh), BUILD (default
# build), NAGAR_SERVICES_LIST (default deploy/services.list).
# For a cluster that is not deploy/pg.sh's (the compose cluster's Patroni
# nodes): NAGAR_PROVISION_HOSTS (host names, comma-separated: libpq connects
# to whichever accepts writes), NAGAR_PROVISION_PORT (5432) and
# NAGAR_PROVISION_SUPERUSER_PASSWORD_FILE (the password of `postgres`).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -n ${NAGAR_PROVISION_HOSTS:-} ]]; then
    : "${NAGAR_VAR:?NAGAR_VAR must name the directory of the secrets}"
    NAGAR_PG_PORT=${NAGAR_PROVISION_PORT:-5432}
    NAGAR_PG_SUPERUSER=postgres
    DB_TARGET="host=$NAGAR_PROVISION_HOSTS port=$NAGAR_PG_PORT target_session_attrs=read-write"
else
    eval "$("$REPO/deploy/pg.sh" env)"
    DB_TARGET="host=127.0.0.1 port=$NAGAR_PG_PORT"
fi
SECRETS=$NAGAR_VAR/secrets
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
SERVICES_LIST=${NAGAR_SERVICES_LIST:-$REPO/deploy/services.list}

die() {
    echo "provision.sh: $*" >&2
    exit 1
}

[[ -r $SERVICES_LIST ]] || die "cannot read the service list $SERVICES_LIST"
services=()
while IFS= read -r line || [[ -n $line ]]; do
    line=${line%%#*}
    line=${line//[[:space:]]/}
    [[ -z $line ]] && continue
    [[ $line =~ ^[a-z_]{1,40}$ ]] ||
        die "$SERVICES_LIST: \"$line\" is not a service name (1 to 40 of [a-z_])"
    services+=("$line")
done <"$SERVICES_LIST"
((${#services[@]} > 0)) || die "$SERVICES_LIST names no service"

# ---- payment provider keys ------------------------------------------------------
# Each service that takes online payments has its own HMAC key with the
# payment provider, as a merchant account has its own webhook secret:
#   $SECRETS/payment_provider/<svc>.key   (64 hex digits, 0600; directory 0700)
# so whoever holds one service's host can sign callbacks for that service's
# orders only, never mark another service's order paid. Missing keys are made.
#
# An install from before this split has one $SECRETS/payment_provider.key,
# under which the provider signs every service's callbacks. The first run
# after the upgrade copies it to each service's file (online payments go on
# working with the provider as it is configured), says so once, and leaves
# payment_provider/.from-shared-key so that it never copies it again (a key
# deleted later is made anew). While two services' keys are the same, every
# run warns: get one webhook secret per service from the provider and put
# each in its file (deploy/OPERATIONS.md, "Payment provider keys").
#
# "provision.sh provider-keys" does this step alone (no database needed).
PROVIDER_SERVICES=(property_tax water_tax certificates)
provider_keys() {
    local dir=$SECRETS/payment_provider legacy=$SECRETS/payment_provider.key
    local keygen="" bin svc wanted=() copied=() made=() a b i j
    for svc in "${PROVIDER_SERVICES[@]}"; do
        [[ " ${services[*]} " == *" $svc "* ]] && wanted+=("$svc")
    done
    ((${#wanted[@]} > 0)) || return 0
    # Any service binary that writes provider keys will do: a key is 32 random bytes.
    for bin in "$BUILD/nagar-property_tax" "$BUILD/nagar-water_tax"; do
        [[ -x $bin ]] && { keygen=$bin; break; }
    done
    mkdir -p "$dir"
    chmod 0700 "$SECRETS" "$dir"
    for svc in "${wanted[@]}"; do
        [[ -f $dir/$svc.key ]] && continue
        if [[ -s $legacy && ! -e $dir/.from-shared-key ]]; then
            (umask 077 && cp "$legacy" "$dir/$svc.key.tmp")
            mv "$dir/$svc.key.tmp" "$dir/$svc.key"
            copied+=("$svc")
        elif [[ -n $keygen ]]; then
            "$keygen" provider-keygen "$dir/$svc.key" 2>/dev/null ||
                die "could not write the payment provider key $dir/$svc.key"
            made+=("$svc")
        else
            echo "provision.sh: no payment provider key for $svc: build nagar-property_tax" \
                 "(it writes them) and run provision.sh again" >&2
            continue
        fi
        chmod 0600 "$dir/$svc.key"
    done
    if ((${#copied[@]} > 0)); then
        (umask 077 && : >"$dir/.from-shared-key")
        echo "provision.sh: upgrade: the one payment provider key $legacy, shared by every" \
             "service, copied to payment_provider/{$(IFS=,; echo "${copied[*]}")}.key so online" \
             "payments go on working; $legacy is no longer read and may be deleted once no" \
             "configuration names it. Until each service has a key of its own, a service's" \
             "host can sign another service's callbacks: see deploy/OPERATIONS.md," \
             "\"Payment provider keys\"" >&2
    fi
    ((${#made[@]} > 0)) &&
        echo "provision.sh: payment provider keys made for ${made[*]} in $dir (give each to" \
             "the provider as that service's merchant webhook secret)"
    local shared=()
    for ((i = 0; i < ${#wanted[@]}; i++)); do
        for ((j = i + 1; j < ${#wanted[@]}; j++)); do
            a=$dir/${wanted[i]}.key b=$dir/${wanted[j]}.key
            if [[ -f $a && -f $b ]] && cmp -s "$a" "$b"; then
                shared+=("${wanted[i]}=${wanted[j]}")
            fi
        done
    done
    if ((${#shared[@]} > 0)); then
        echo "provision.sh: warning: services with the same payment provider key" \
             "(${shared[*]}): either one's host can mark the other's orders paid; give each" \
             "its own (deploy/OPERATIONS.md, \"Payment provider keys\")" >&2
    fi
    return 0
}

if [[ ${1:-} == provider-keys ]]; then
    provider_keys
    exit 0
fi

if [[ -n ${NAGAR_PROVISION_HOSTS:-} ]]; then
    psql_super() {
        PGHOST=$NAGAR_PROVISION_HOSTS PGPORT=$NAGAR_PG_PORT PGUSER=postgres \
        PGTARGETSESSIONATTRS=read-write \
        PGPASSWORD=$(tr -d '\n' <"${NAGAR_PROVISION_SUPERUSER_PASSWORD_FILE:?}") \
            psql -X -q -v ON_ERROR_STOP=1 "$@"
    }
    psql_super -d postgres -c 'SELECT 1' >/dev/null 2>&1 ||
        die "cannot reach a writable PostgreSQL as postgres on $NAGAR_PROVISION_HOSTS" \
            "port $NAGAR_PG_PORT"
else
    psql_super() {
        PGHOST=$NAGAR_PG_SOCKET_DIR PGPORT=$NAGAR_PG_PORT PGUSER=$NAGAR_PG_SUPERUSER \
            psql -X -q -v ON_ERROR_STOP=1 "$@"
    }
    psql_super -d postgres -c 'SELECT 1' >/dev/null 2>&1 ||
        die "cannot reach PostgreSQL as $NAGAR_PG_SUPERUSER on $NAGAR_PG_SOCKET_DIR port" \
            "$NAGAR_PG_PORT; start it with deploy/pg.sh start"
fi

mkdir -p "$SECRETS"
chmod 0700 "$SECRETS"

# Creates <role>.pgpass once; an existing file is never replaced.
ensure_secret() {
    local role=$1 file=$SECRETS/$1.pgpass password
    if [[ ! -s $file ]]; then
        password=$(head -c 32 /dev/urandom | base64 | tr -d '\n/+=')
        ((${#password} >= 32)) || die "could not read random bytes for $role"
        (umask 077 && printf '*:*:*:%s:%s\n' "$role" "$password" >"$file.tmp")
        mv "$file.tmp" "$file"
    fi
    chmod 0600 "$file"
}

read_secret() {
    local file=$SECRETS/$1.pgpass password
    IFS=: read -r _ _ _ _ password <"$file" || true
    [[ -n $password ]] || die "$file has no password; delete it and run provision.sh again"
    printf '%s' "$password"
}

# Once per cluster: PUBLIC may not connect to the maintenance databases, and
# pgAudit logs every write and DDL of the superuser.
psql_super -d postgres -v superuser="$NAGAR_PG_SUPERUSER" <<'SQL'
SET client_min_messages = warning;
ALTER ROLE :"superuser" SET pgaudit.log = 'ddl, write, role, function';
REVOKE ALL ON DATABASE postgres FROM PUBLIC;
REVOKE ALL ON DATABASE template1 FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
SQL

# The roles of service $1 and its database $2, configured.
provision_service() {
    local svc=$1 db=$2
    ensure_secret "${svc}_owner"
    ensure_secret "${svc}_app"
    NAGAR_PROVISION_OWNER_PASSWORD=$(read_secret "${svc}_owner") \
    NAGAR_PROVISION_APP_PASSWORD=$(read_secret "${svc}_app") \
        psql_super -d postgres -v owner="${svc}_owner" -v app="${svc}_app" \
        -v db="$db" -v schema="$svc" <<'SQL'
SET client_min_messages = warning;
-- A failing statement below would otherwise be logged with its password,
-- and pgAudit would log the ALTER ROLE ... PASSWORD itself.
SET log_min_error_statement = panic;
SET pgaudit.log = 'none';
\getenv owner_password NAGAR_PROVISION_OWNER_PASSWORD
\getenv app_password NAGAR_PROVISION_APP_PASSWORD
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') AS create_owner,
       NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') AS create_app,
       NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') AS create_db \gset
\if :create_owner
CREATE ROLE :"owner";
\endif
\if :create_app
CREATE ROLE :"app";
\endif
ALTER ROLE :"owner" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'owner_password';
ALTER ROLE :"app" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'app_password';
ALTER ROLE :"owner" SET search_path = :"schema";
ALTER ROLE :"app" SET search_path = :"schema";
-- pgAudit: the owner role's every write and DDL is logged (deploy/pg.sh).
ALTER ROLE :"owner" SET pgaudit.log = 'ddl, write, role, function';
\if :create_db
CREATE DATABASE :"db" OWNER :"owner" TEMPLATE template0 ENCODING 'UTF8';
\endif
ALTER DATABASE :"db" OWNER TO :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"owner", :"app";

\connect :"db"
SET client_min_messages = warning;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA IF NOT EXISTS :"schema" AUTHORIZATION :"owner";
ALTER SCHEMA :"schema" OWNER TO :"owner";
REVOKE ALL ON SCHEMA :"schema" FROM PUBLIC;
GRANT USAGE ON SCHEMA :"schema" TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" REVOKE USAGE ON TYPES FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA :"schema"
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA :"schema"
    GRANT USAGE, SELECT ON SEQUENCES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA :"schema"
    GRANT EXECUTE ON FUNCTIONS TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA :"schema"
    GRANT USAGE ON TYPES TO :"app";
SQL
    echo "provision.sh: $db: roles ${svc}_owner, ${svc}_app (passwords in $SECRETS)"
}

# "provision.sh database SVC DB": one more database DB laid out for service
# SVC's roles exactly as its own, without migrations (a restore target, the
# upgrade test's older databases).
# "provision.sh lock SVC": a taken service's database roles cut off at once
# (deploy/OPERATIONS.md, "Quarantine a compromised service"). nagarctl
# quarantine cuts its bus key off; its database passwords, and any session
# opened with them, would still work, and changing a password ends no
# session. So: <svc>_app and <svc>_owner may no longer log in, and every
# session they hold is ended. Delete their pgpass files and run provision.sh
# again to give them new passwords and let them in.
if [[ ${1:-} == lock ]]; then
    [[ $# == 2 && " ${services[*]} " == *" $2 "* ]] ||
        die "usage: provision.sh lock SERVICE (a service of $SERVICES_LIST)"
    ended=$(psql_super -d postgres -At -v owner="$2_owner" -v app="$2_app" <<'SQL'
SET client_min_messages = warning;
SET log_min_error_statement = panic;
ALTER ROLE :"owner" NOLOGIN;
ALTER ROLE :"app" NOLOGIN;
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE usename IN (:'owner', :'app') AND pid <> pg_backend_pid();
SQL
)
    echo "provision.sh: $2_app and $2_owner may not log in; ${ended:-0} of their sessions ended." \
         "To let them in again with new passwords: rm $SECRETS/$2_app.pgpass" \
         "$SECRETS/$2_owner.pgpass && deploy/provision.sh"
    exit 0
fi

if [[ ${1:-} == database ]]; then
    [[ $# == 3 && " ${services[*]} " == *" $2 "* && $3 =~ ^[a-z_][a-z0-9_]{0,62}$ ]] ||
        die "usage: provision.sh database SERVICE DBNAME (a service of $SERVICES_LIST)"
    provision_service "$2" "$3"
    exit 0
fi

for svc in "${services[@]}"; do
    provision_service "$svc" "nagar_$svc"
done

# The witness store has a third role: witness_writer, with which nagarctl
# checkpoint (and only it: its password is in no service's environment)
# adds signed checkpoints. nagar-witness reads them as witness_app.
if [[ " ${services[*]} " == *" witness "* ]]; then
    ensure_secret witness_writer
    NAGAR_PROVISION_WRITER_PASSWORD=$(read_secret witness_writer) \
        psql_super -d postgres <<'SQL'
SET client_min_messages = warning;
SET log_min_error_statement = panic;
SET pgaudit.log = 'none';
\getenv writer_password NAGAR_PROVISION_WRITER_PASSWORD
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'witness_writer') AS create_writer \gset
\if :create_writer
CREATE ROLE witness_writer;
\endif
ALTER ROLE witness_writer WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'writer_password';
ALTER ROLE witness_writer SET search_path = witness;
GRANT CONNECT ON DATABASE nagar_witness TO witness_writer;
SQL
fi

# The read-only role of each service nagarctl verifies (deploy/tools/ctl/verify.c).
VERIFIED_SERVICES=(certificates property_tax water_tax)
for svc in "${VERIFIED_SERVICES[@]}"; do
    [[ " ${services[*]} " == *" $svc "* ]] || continue
    ensure_secret "${svc}_reader"
    NAGAR_PROVISION_READER_PASSWORD=$(read_secret "${svc}_reader") \
        psql_super -d postgres -v reader="${svc}_reader" -v owner="${svc}_owner" \
        -v db="nagar_$svc" -v schema="$svc" <<'SQL'
SET client_min_messages = warning;
SET log_min_error_statement = panic;
SET pgaudit.log = 'none';
\getenv reader_password NAGAR_PROVISION_READER_PASSWORD
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'reader') AS create_reader \gset
\if :create_reader
CREATE ROLE :"reader";
\endif
ALTER ROLE :"reader" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'reader_password';
ALTER ROLE :"reader" SET search_path = :"schema";
-- Not default_transaction_read_only: libpq's target_session_attrs=read-write
-- (how every Nagar client finds the primary) would take it for a standby.
ALTER ROLE :"reader" RESET default_transaction_read_only;
GRANT CONNECT ON DATABASE :"db" TO :"reader";
\connect :"db"
GRANT USAGE ON SCHEMA :"schema" TO :"reader";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA :"schema"
    GRANT SELECT ON TABLES TO :"reader";
SQL
done

MIGRATE=$BUILD/nagar-migrate
for svc in "${services[@]}"; do
    dir=$REPO/services/$svc/migrations
    [[ -d $dir ]] || continue
    [[ -x $MIGRATE ]] || die "$MIGRATE is not built; run make (or set BUILD)"
    NAGAR_DB_CONNINFO="$DB_TARGET dbname=nagar_$svc user=${svc}_owner" \
    PGPASSFILE=$SECRETS/${svc}_owner.pgpass \
        "$MIGRATE" --service "$REPO/services/$svc" --modules "$REPO/common/sql" ||
        die "migrations of $svc failed (see the log line above)"
done

# What the migrations made, readable by the reader role (tables only: no
# sequence, function or type is granted, so it can neither write nor run a
# rule); the default privileges above cover tables made after this.
for svc in "${VERIFIED_SERVICES[@]}"; do
    [[ " ${services[*]} " == *" $svc "* ]] || continue
    psql_super -d "nagar_$svc" -v reader="${svc}_reader" -v schema="$svc" <<'SQL'
SET client_min_messages = warning;
GRANT SELECT ON ALL TABLES IN SCHEMA :"schema" TO :"reader";
SQL
done

# Identity's one-time set-up: ULB master data, the OTP hash key and the
# token signing key (its public half copied where the gateway reads it).
# Each step is idempotent. The first state admin is created by run.sh.
IDENTITY=$BUILD/nagar-identity
if [[ -x $IDENTITY && " ${services[*]} " == *" identity "* ]]; then
    identity_env=(env "NAGAR_DB_CONNINFO=$DB_TARGET dbname=nagar_identity user=identity_app"
                      "PGPASSFILE=$SECRETS/identity_app.pgpass")
    "${identity_env[@]}" "$IDENTITY" seed-ulbs "$REPO/services/identity/data/mp_ulbs_lgd_2022.csv" \
        || die "loading the ULB master data failed"
    [[ -f $SECRETS/identity_otp.key ]] || "$IDENTITY" otp-keygen "$SECRETS/identity_otp.key"
    if [[ ! -f $SECRETS/token/k1.key ]]; then
        mkdir -p -m 0700 "$SECRETS/token"
        "$IDENTITY" keygen "$SECRETS/token" k1
    fi
    mkdir -p "$NAGAR_VAR/token_keys"
    cp "$SECRETS/token/k1.pub" "$NAGAR_VAR/token_keys/k1.pub"
fi

# Notifications seals OTP bodies with a key every notifications process shares.
NOTIFICATIONS=$BUILD/nagar-notifications
if [[ -x $NOTIFICATIONS && " ${services[*]} " == *" notifications "* ]]; then
    [[ -f $SECRETS/notify_seal.key ]] || "$NOTIFICATIONS" seal-keygen "$SECRETS/notify_seal.key"
fi

# Certificates are sealed (Ed25519) under a key id; the public half is what
# verifiers — the public route and the offline phone check — need.
CERTIFICATES=$BUILD/nagar-certificates
if [[ -x $CERTIFICATES && " ${services[*]} " == *" certificates "* ]]; then
    if [[ ! -f $SECRETS/certificate_seal/c1.key ]]; then
        mkdir -p -m 0700 "$SECRETS/certificate_seal"
        "$CERTIFICATES" keygen "$SECRETS/certificate_seal" c1
    fi
    mkdir -p "$NAGAR_VAR/certificate_keys"
    cp "$SECRETS/certificate_seal/c1.pub" "$NAGAR_VAR/certificate_keys/c1.pub"
fi

# Online payments: one provider key per service (provider_keys above).
provider_keys
