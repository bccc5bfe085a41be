#!/bin/bash
# setup.sh keys|provision — the compose cluster's one-shot set-up jobs, run
# by deploy/cluster.sh in a container of the image (as root, with the
# cluster's directory mounted at /var/lib/nagar), so the host needs no build
# of its own.
#
#   keys       the broker's and every principal's CURVE keys (deploy/keys.sh)
#              and the checkpoint signing key (nagarctl checkpoint-keygen)
#   provision  databases, roles and migrations on the Patroni primary
#              (deploy/provision.sh with NAGAR_PROVISION_HOSTS), the keys the
#              services hold (token, OTP, seals, payment provider), and the
#              first state admin, whose one-time password is printed once
#
# deploy/cluster.sh then gives each file to the one container user that
# reads it (fixed uids in deploy/Dockerfile).
set -euo pipefail
export NAGAR_VAR=/var/lib/nagar
deploy=/usr/share/nagar/deploy

case ${1:-} in
keys)
    "$deploy/keys.sh" /usr/local/bin
    # The checkpoint signing key: only the checkpointer container mounts it.
    [[ -f $NAGAR_VAR/checkpoint_key/checkpoint.key ]] || nagarctl checkpoint-keygen >&2
    ;;
provision)
    NAGAR_PROVISION_HOSTS=${NAGAR_DB_HOSTS:-pg1,pg2,pg3} \
    NAGAR_PROVISION_SUPERUSER_PASSWORD_FILE=$NAGAR_VAR/secrets/pg_superuser \
    BUILD=/usr/local/bin "$deploy/provision.sh"
    # provision.sh takes CONNECT on the maintenance database from PUBLIC;
    # Patroni's rewind user needs it to bring an old primary back (pg_rewind).
    PGPASSWORD=$(tr -d '\n' <"$NAGAR_VAR/secrets/pg_superuser") \
        psql -X -q -v ON_ERROR_STOP=1 -h "${NAGAR_DB_HOSTS:-pg1,pg2,pg3}" -U postgres -d postgres \
        -c 'GRANT CONNECT ON DATABASE postgres TO rewind'
    set +e
    password=$(NAGAR_DB_CONNINFO="host=${NAGAR_DB_HOSTS:-pg1,pg2,pg3} port=5432 target_session_attrs=read-write dbname=nagar_identity user=identity_app" \
        PGPASSFILE=$NAGAR_VAR/secrets/identity_app.pgpass nagar-identity bootstrap-admin admin)
    rc=$?
    set -e
    case $rc in
    0) echo "nagar: first state admin 'admin', one-time password: $password (shown once)" >&2 ;;
    3) ;;
    *) echo "setup.sh: bootstrap-admin failed" >&2; exit 1 ;;
    esac
    ;;
*)
    echo "usage: setup.sh keys|provision" >&2
    exit 2
    ;;
esac
