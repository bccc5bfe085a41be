#!/bin/bash
# pgbackrest-archive-push.sh — PostgreSQL's archive_command on a node of the compose
# cluster (deploy/cluster/pg-node.sh): pgbackrest archive-push of %p, run
# in the data directory.
#
# One case is taken as done rather than failed: a WAL segment of an OLDER
# timeline than this node's latest, which the archive already holds in
# another version (pgBackRest error 45). Such a segment is what a node
# that was primary, was lost, and was rewound (Patroni, pg_rewind) keeps in
# pg_wal marked .ready: either its own unacknowledged tail or the copy
# pg_rewind brought from the new primary. The current timeline does not
# read it (its history takes the segment where it branched from the new
# timeline's file, and up to the branch point both versions are the same),
# and the archive already has the version that was archived first. Left
# failing, PostgreSQL's archiver retries that one file for ever and
# archives nothing after it — seen in the cluster drills when a node became
# primary a second time: backups then fail ("WAL segment ... was not
# archived") and point-in-time restore stops at the last archived segment.
# Every other failure is a failure (PostgreSQL retries it). The name holds
# "pgbackrest": pgBackRest checks that archive_command runs it.
set -uo pipefail

wal=${1:?usage: pgbackrest-archive-push.sh pg_wal/SEGMENT}
conf=/usr/share/nagar/deploy/cluster/pgbackrest-pg.conf

out=$(pgbackrest --config="$conf" --stanza=nagar archive-push "$wal" 2>&1)
rc=$?
[[ -n $out ]] && printf '%s\n' "$out" >&2
((rc == 0)) && exit 0

name=$(basename "$wal")
if ((rc == 45)) && [[ $name =~ ^[0-9A-F]{24}$ ]]; then
    latest=$(find pg_wal -maxdepth 1 -name '*.history' -printf '%f\n' 2>/dev/null | sort | tail -1)
    latest=${latest%.history}
    if [[ $latest =~ ^[0-9A-F]{8}$ ]] && ((16#${name:0:8} < 16#$latest)); then
        echo "pgbackrest-archive-push.sh: $name (timeline $((16#${name:0:8}))) is already archived in" \
             "another version and this node is on timeline $((16#$latest)): left as it is" \
             "in the archive" >&2
        exit 0
    fi
fi
exit "$rc"
