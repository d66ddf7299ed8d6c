#!/usr/bin/env bash
# ctest-labels: concurrent
# test_backup.sh — a backup that restores (issue 13, point 2).
#
# previewd on its embedded default repository, fetching every second.
#   1  `previewd backup FILE` while previewd runs: FILE opens with sqlite3
#      and holds the rows; taken while clients create environments, it
#      passes PRAGMA integrity_check and is one moment (every row with its
#      "created" event)
#   2  the older backup (taken before b* and c* existed) is restored and
#      previewd starts on it, with the old copy's environments overdue and
#      PREVIEWD_REAP_HOLD=2: the guard holds them, and the folders the old
#      copy does not know stay in Git through several fetches
# Waits are generous bounds, never timing assertions.
#
# shellcheck disable=SC2317,SC2016  # helpers run through t_eventually; jq programs in single quotes
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

WAIT=30

# make PREFIX N: create PREFIX1..PREFIXN with a TTL of 1h, each pushed.
make() {
	local i
	for i in $(seq 1 "$2"); do
		http POST /v1/environments "{\"owner\":\"o\",\"name\":\"$1$i\",\"ttl\":\"1h\"}"
		[ "$HTTP_STATUS" = 201 ] || { echo "create $1$i: $HTTP_STATUS $HTTP_BODY" >&2; return 1; }
	done
}
folders() { g ls-tree --name-only main env/ | grep -c "^env/$1"; }
folders_are() { [ "$(folders "$1")" = "$2" ]; }
held_is() { [ "$(metric previewd_reaper_held)" = "$1" ]; }

SET=(PREVIEWD_GIT_POLL=1s PREVIEWD_WARN_BEFORE=)
D=$T_TMP/data

# ---------------------------------------------------------------- 1
t_begin "1: a backup of a running previewd"
t_need "previewd starts" pv_start "$D" "${SET[@]}"
G=$PV_DATA/gitops.git
t_need "three environments are created" make a 3
pv_cli PREVIEWD_DATA_DIR="$PV_DATA" backup "$T_TMP/old.db"
t_match "backed up" "$PV_OUT" "previewd backup says what it did"
t_eq 3 "$(sqlite3 "$T_TMP/old.db" "select count(*) from envs where status = 'active'")" "the backup opens and holds the three"
t_eq ok "$(sqlite3 "$T_TMP/old.db" 'pragma integrity_check')" "it passes the integrity check"
t_not "it needs no WAL beside it" test -e "$T_TMP/old.db-wal"
t_need "three more after the backup" make b 3

# writers in the background while backups are taken
(for i in $(seq 1 40); do
	curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -H 'Prefer: respond-async' \
		-d "{\"owner\":\"o\",\"name\":\"c$i\",\"ttl\":\"1h\"}" "$PV_URL/v1/environments"
done) &
LOAD=$!
for k in 1 2 3; do
	pv_cli -m "backup $k under write load" PREVIEWD_DATA_DIR="$PV_DATA" backup "$T_TMP/load$k.db"
	t_eq ok "$(sqlite3 "$T_TMP/load$k.db" 'pragma integrity_check')" "backup $k under load passes the integrity check"
	t_eq "$(sqlite3 "$T_TMP/load$k.db" 'select count(*) from envs')" \
		"$(sqlite3 "$T_TMP/load$k.db" "select count(*) from events where kind = 'created'")" \
		"backup $k is one moment: every row with its created event"
done
wait "$LOAD"
pv_cli -x 1 -m "a backup into a missing folder fails" PREVIEWD_DATA_DIR="$PV_DATA" backup "$T_TMP/no/such/dir/x.db"
t_eventually "$WAIT" "the 40 written under load reach Git" folders_are c 40
pv_stop

# ---------------------------------------------------------------- 2
t_begin "2: restoring the older backup keeps Git intact"
rm -f "$PV_DATA/previewd.db" "$PV_DATA/previewd.db-wal" "$PV_DATA/previewd.db-shm"
cp "$T_TMP/old.db" "$PV_DATA/previewd.db"
DB=$PV_DATA/previewd.db sql "update envs set expires_at = strftime('%s','now') - 3600 where status = 'active'"
t_need "previewd starts on the restored copy" pv_start "$D" "${SET[@]}" PREVIEWD_REAP_HOLD=2 PREVIEWD_REAP_HOLD_AFTER=1m
t_eventually "$WAIT" "the guard holds the old copy's three overdue environments" held_is 3
t_eq degraded "$(curl -s "$PV_URL/readyz" | jq -r .status)" "/readyz is degraded"
sleep 8 # several fetches (PREVIEWD_GIT_POLL=1s) and reaper passes go by
t_eq 3 "$(folders a)" "the held folders are in Git"
t_eq 3 "$(folders b)" "the folders the old copy never knew stay in Git"
t_eq 40 "$(folders c)" "so do the 40 written under load"
t_eq 0 "$(sql "select count(*) from envs where name like 'b%' or name like 'c%'")" "the restored record does not know them"
pv_stop
t_end
