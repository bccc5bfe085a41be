#!/usr/bin/env bash
# run.sh — brings the whole suite up on this machine (what `make run` does).
#
#  1. PostgreSQL: unless NAGAR_DB_HOST names an external server, an embedded
#     cluster under $NAGAR_VAR (default ./var) is created once and started;
#     databases, roles and migrations are brought up to date (provision.sh).
#  2. Keys: the broker's and every principal's CURVE keys (keys.sh); each
#     service that takes online payments its own payment provider key.
#  3. The broker (unless NAGAR_BUS_ENDPOINT names an external one), then
#     every service that exists, then the gateway when it exists; their
#     JSON-lines logs go to this terminal.
#  Ctrl-C (or SIGTERM) stops everything, services first, PostgreSQL last.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$repo/build}
export NAGAR_VAR=${NAGAR_VAR:-$repo/var}
export NAGAR_PG_PORT=${NAGAR_PG_PORT:-5544}
mkdir -p "$NAGAR_VAR"

pids=()
embedded_pg=0

stop_all() {
  trap - INT TERM EXIT
  echo "nagar: stopping" >&2
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  # Every wait has a deadline: 10 s, then SIGKILL.
  for _ in $(seq 100); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  [[ $embedded_pg == 1 ]] && "$repo/deploy/pg.sh" stop || true
}
trap stop_all INT TERM EXIT

# 1. Database.
if [[ -z ${NAGAR_DB_HOST:-} ]]; then
  "$repo/deploy/pg.sh" init
  "$repo/deploy/pg.sh" start
  embedded_pg=1
  export NAGAR_DB_HOST=127.0.0.1 NAGAR_DB_PORT=$NAGAR_PG_PORT
  BUILD=$build "$repo/deploy/provision.sh"
  # The first state admin: created once, its one-time password shown here
  # once. There is no default account; exit 3 means one exists already.
  if [[ -x $build/nagar-identity ]]; then
    set +e
    admin_password=$(NAGAR_DB_CONNINFO="host=127.0.0.1 port=$NAGAR_PG_PORT dbname=nagar_identity user=identity_app" \
      PGPASSFILE=$NAGAR_VAR/secrets/identity_app.pgpass "$build/nagar-identity" bootstrap-admin admin)
    rc=$?
    set -e
    case $rc in
      0) echo "nagar: first state admin 'admin', one-time password: $admin_password (shown once;" \
              "the first login answers a password-change token: POST it with a new password" \
              "to /api/v1/auth/staff/password)" >&2 ;;
      3) ;;
      *) echo "nagar: bootstrap-admin failed" >&2; exit 1 ;;
    esac
  fi
fi

# 2. Keys. With an external database provision.sh did not run: the payment
# provider keys (one per service) are made here all the same.
NAGAR_VAR=$NAGAR_VAR "$repo/deploy/keys.sh" "$build"
[[ $embedded_pg == 1 ]] || BUILD=$build "$repo/deploy/provision.sh" provider-keys
keys=$NAGAR_VAR/keys
export NAGAR_BUS_BROKER_KEY=$keys/broker.pub

start() {   # start NAME ARGV...
  local name=$1; shift
  "$@" &
  pids+=($!)
  echo "nagar: started $name (pid $!)" >&2
}

# 3. Broker.
if [[ -z ${NAGAR_BUS_ENDPOINT:-} ]]; then
  export NAGAR_BUS_ENDPOINT=tcp://127.0.0.1:${NAGAR_BROKER_PORT:-5555}
  mkdir -p "$NAGAR_VAR/broker"
  NAGAR_BROKER_BIND=$NAGAR_BUS_ENDPOINT NAGAR_BROKER_KEYS_DIR=$keys \
    NAGAR_BROKER_STATE_DIR=$NAGAR_VAR/broker start broker "$build/nagar-broker"
fi

# Identity signs tokens that the gateway and every service verify with the
# public key alone. Secret keys are not exported: each service is handed its
# own (service_secrets below), none another's.
secrets=$NAGAR_VAR/secrets
export NAGAR_TOKEN_PUBLIC_KEYS_DIR=$NAGAR_VAR/token_keys
export NAGAR_CERTIFICATES_PUBLIC_KEYS_DIR=$NAGAR_VAR/certificate_keys
unset NAGAR_IDENTITY_TOKEN_KEY NAGAR_IDENTITY_OTP_KEY_FILE NAGAR_CERTIFICATES_SEAL_KEY \
      NAGAR_NOTIFY_SEAL_KEY_FILE NAGAR_PAYMENT_PROVIDER_KEY_FILE
# One-time passwords go out through notifications like every other message.
export NAGAR_IDENTITY_OTP_VIA=${NAGAR_IDENTITY_OTP_VIA:-notifications}

# The secret settings of service $1, as NAME=VALUE words in the array
# service_env: identity's token and OTP keys, certificates' seal, the
# notifications seal, and to each service that takes online payments its own
# payment provider key (provision.sh: one per service, so one service's host
# cannot sign the provider's callback for another's order).
service_secrets() {
  service_env=()
  case $1 in
    identity) service_env=("NAGAR_IDENTITY_TOKEN_KEY=$secrets/token/k1.key"
                           "NAGAR_IDENTITY_OTP_KEY_FILE=$secrets/identity_otp.key") ;;
    certificates) service_env=("NAGAR_CERTIFICATES_SEAL_KEY=$secrets/certificate_seal/c1.key") ;;
    notifications) service_env=("NAGAR_NOTIFY_SEAL_KEY_FILE=$secrets/notify_seal.key") ;;
  esac
  case $1 in
    property_tax | water_tax | certificates)
      # Absent (no service binary could make it): online payments are
      # refused, and the service says so.
      [[ -f $secrets/payment_provider/$1.key ]] &&
        service_env+=("NAGAR_PAYMENT_PROVIDER_KEY_FILE=$secrets/payment_provider/$1.key") ;;
  esac
  return 0
}
# With no SMS provider or SMTP server configured (NAGAR_NOTIFY_SMS_URL,
# NAGAR_NOTIFY_SMTP_URL), messages are written to this file for development.
if [[ -z ${NAGAR_NOTIFY_SMS_URL:-} && -z ${NAGAR_NOTIFY_SMTP_URL:-} ]]; then
  export NAGAR_NOTIFY_FILE_SINK=${NAGAR_NOTIFY_FILE_SINK:-$NAGAR_VAR/notify_sink.jsonl}
fi

# The portal's address, as demand notices print it (their QR code opens the
# payment page there) and as messages link to it.
export NAGAR_PORTAL_URL=${NAGAR_PORTAL_URL:-http://${NAGAR_GATEWAY_LISTEN:-127.0.0.1:8080}}

# Signed checkpoints of every chain (nagarctl checkpoint): the key is made
# once; nagar-witness publishes them with its public half.
export NAGAR_CHECKPOINT_PUBLIC_KEY=$NAGAR_VAR/checkpoint_key/checkpoint.pub
if [[ ! -f $NAGAR_VAR/checkpoint_key/checkpoint.key && -x $build/nagar-ctl ]]; then
  NAGAR_VAR=$NAGAR_VAR "$build/nagar-ctl" checkpoint-keygen >&2
fi

# Services: every services/<name>/ but the broker, each with its own key,
# database role and password file, and its own secrets.
for dir in "$repo"/services/*/; do
  svc=$(basename "$dir")
  [[ $svc == broker ]] && continue
  [[ -x $build/nagar-$svc ]] || { echo "nagar: $svc is not built, skipped" >&2; continue; }
  service_secrets "$svc"
  NAGAR_BUS_CERT=$keys/secret/$svc.cert \
  NAGAR_DB_CONNINFO="host=$NAGAR_DB_HOST port=$NAGAR_DB_PORT dbname=nagar_$svc user=${svc}_app connect_timeout=5" \
  PGPASSFILE=$NAGAR_VAR/secrets/${svc}_app.pgpass \
    start "$svc" env "${service_env[@]}" "$build/nagar-$svc"
done

# The web apps (build/web) at / and /staff/, with their settings as
# /config.json: the payment provider's page, when NAGAR_WEB_PAYMENT_PAGE_URL
# names one. (The verify page fetches the certificate keys from
# GET /api/v1/certificates/keys.)
if [[ -f $build/web/index.html && -z ${NAGAR_GATEWAY_WEB_DIR:-} ]]; then
  export NAGAR_GATEWAY_WEB_DIR=$build/web
  printf '{%s}\n' \
    "${NAGAR_WEB_PAYMENT_PAGE_URL:+\"paymentPageUrl\":\"$NAGAR_WEB_PAYMENT_PAGE_URL\"}" \
    > "$NAGAR_VAR/web-config.json"
  export NAGAR_GATEWAY_WEB_CONFIG=$NAGAR_VAR/web-config.json
fi
if [[ -x $build/nagar-gateway ]]; then
  NAGAR_BUS_CERT=$keys/secret/gateway.cert start gateway "$build/nagar-gateway"
  [[ -n ${NAGAR_GATEWAY_WEB_DIR:-} ]] && echo "nagar: portal at http://${NAGAR_GATEWAY_LISTEN:-127.0.0.1:8080}/ (citizens) and /staff/ (staff)" >&2
fi

# Every NAGAR_CHECKPOINT_INTERVAL_S (60) the checkpointer verifies what every
# chain appended since the last checkpoint and signs the heads into
# $NAGAR_VAR/checkpoints and the witness store; a failed verification (exit
# 3) signs nothing and is printed here. Its tables go to checkpoint.log.
if [[ -x $build/nagar-ctl && ${NAGAR_CHECKPOINT_INTERVAL_S:-60} != 0 ]]; then
  start checkpointer bash -c "while sleep ${NAGAR_CHECKPOINT_INTERVAL_S:-60}; do
      '$build/nagar-ctl' checkpoint >>'$NAGAR_VAR/checkpoint.log' ||
        echo 'nagar: checkpoint failed (exit '\$?'): see $NAGAR_VAR/checkpoint.log' >&2
    done"
fi

echo "nagar: up; Ctrl-C stops everything" >&2
# Exit (and stop the rest) as soon as any process dies, so a crash is seen.
wait -n "${pids[@]}" || true
echo "nagar: a process exited; stopping the suite" >&2
