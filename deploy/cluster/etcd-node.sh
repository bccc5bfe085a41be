#!/bin/sh
# etcd-node.sh NAME — one member of the compose cluster's three-member etcd
# (Patroni's leader lock; the brokers' quarantines and revocations). Members
# find each other by container name. Heartbeat 100 ms and election 1 s: a
# lost member is replaced as leader within about a second.
set -eu
name=${1:?usage: etcd-node.sh NAME}
peers=${NAGAR_ETCD_PEERS:-etcd1,etcd2,etcd3}
initial=
for peer in $(echo "$peers" | tr ',' ' '); do
    initial="${initial:+$initial,}$peer=http://$peer:2380"
done
exec etcd --name "$name" --data-dir /var/lib/etcd/data \
    --listen-client-urls http://0.0.0.0:2379 --advertise-client-urls "http://$name:2379" \
    --listen-peer-urls http://0.0.0.0:2380 --initial-advertise-peer-urls "http://$name:2380" \
    --initial-cluster "$initial" --initial-cluster-state new --initial-cluster-token nagar \
    --heartbeat-interval 100 --election-timeout 1000 \
    --auto-compaction-mode revision --auto-compaction-retention 1000 \
    --log-level warn
