#!/usr/bin/env bash
# keys.sh — creates the broker's key pair and one per principal listed in
# deploy/principals.conf, unless they already exist; an existing key keeps
# its pair and gets the rights principals.conf gives it now (so a change to
# that file reaches an installation made before it). Keys never leave
# $NAGAR_VAR/keys: secret/ is 0700, each secret certificate 0600.
#
#   deploy/keys.sh [BUILD_DIR]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$repo/build}
var=${NAGAR_VAR:-$repo/var}
keys=$var/keys
keygen=$build/nagar-keygen

[[ -x $keygen ]] || { echo "keys.sh: $keygen is not built; run make" >&2; exit 1; }
mkdir -p "$keys"

if [[ ! -f $keys/secret/broker.cert ]]; then
  "$keygen" --keys "$keys" --principal broker
fi

while read -r principal serves calls; do
  [[ -z ${principal:-} || $principal == \#* ]] && continue
  args=(--keys "$keys" --principal "$principal")
  [[ $serves != "-" ]] && args+=(--serve "$serves")
  [[ $calls != "-" ]] && args+=(--call "$calls")
  [[ -f $keys/secret/$principal.cert ]] && args+=(--rights)
  "$keygen" "${args[@]}"
done < "$repo/deploy/principals.conf"
