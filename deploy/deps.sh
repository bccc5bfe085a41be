#!/usr/bin/env bash
# deps.sh — makes sure the Debian 12 packages Nagar builds, runs and tests
# with are installed. As root it installs what is missing; otherwise it
# prints the exact apt-get line to run and fails.
set -euo pipefail

packages=(
  # build
  build-essential pkg-config
  libzmq3-dev libczmq-dev
  libprotobuf-c-dev protobuf-c-compiler
  libpq-dev libjansson-dev libsodium-dev
  libmicrohttpd-dev libcurl4-openssl-dev
  libcmocka-dev
  # documents: certificates, receipts and bills as PDF with a QR code
  libpango1.0-dev libcairo2-dev libqrencode-dev fonts-noto-core
  # database server and backups
  postgresql-15 postgresql-client-15 pgbackrest
  # audit log of DDL and of every write by owner roles and the superuser
  postgresql-15-pgaudit
  # tests and tools
  python3 python3-protobuf python3-pytest python3-pytest-timeout python3-requests python3-zmq python3-aiosmtpd python3-cryptography python3-yaml
  valgrind clang libfuzzer-14-dev wrk
  poppler-utils zbar-tools
  # the web apps' acceptance tests drive Debian's Chromium (playwright-core from npm)
  chromium
  openssl curl jq
  # the compose cluster and its drills (deploy/cluster.sh, make drills): podman
  # with runc and netavark, docker-compose against podman's API (it has
  # --scale), debootstrap for the base image
  podman runc netavark aardvark-dns iptables catatonit docker-compose debootstrap
  # the brokers' shared state in the system tests (one etcd member on loopback)
  etcd-server
)
# The OpenAPI validator in the tests runs on Node.js; keep a Node.js the
# machine already has (it may not be Debian's), else install Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "nagar: missing Debian packages. Install them with:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "nagar: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# An apt cache from an old image may not know the packages: update first,
# with a bound on how long a stuck mirror can hold us.
timeout 600 apt-get update -q >&2
timeout 1200 apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
