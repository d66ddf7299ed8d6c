#!/usr/bin/env bash
# ctest-labels: concurrent
# test_reaper_guard.sh — a guard on mass deletion (issue 13, point 1).
#
# previewd on its embedded default repository with a webhook receiver.
# Environments are made with a long TTL; with previewd stopped their expiry
# is moved ten minutes into the past in SQLite (what downtime, a clock step
# or a restored database leaves behind), and previewd starts again with
# PREVIEWD_REAP_HOLD=25 and PREVIEWD_REAP_HOLD_AFTER=30s:
#   1  31 overdue: nothing leaves Git, /readyz is degraded naming the count,
#      previewd_reaper_held says it, one expiry_held notification is sent;
#      a timely expiry is still carried out, an explicit DELETE still works;
#      a writer may not release, an admin may (POST /v1/admin/reaper/release)
#      and then every held folder goes
#   2  26 overdue, released with `previewd reaper release` while previewd
#      runs; 25 overdue (not more than the limit) are never held
# Waits are generous bounds, never timing assertions.
#
# shellcheck disable=SC2317,SC2016  # helpers run through t_eventually; jq programs in single quotes
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

WAIT=30

# make PREFIX N: create PREFIX01..PREFIXN with a TTL of 1h, each pushed.
make() {
	local i name
	for i in $(seq -w 1 "$2"); do  # -w: 01..30, a single one is "1"
		name="$1$i"
		http POST /v1/environments "{\"owner\":\"o\",\"name\":\"$name\",\"ttl\":\"1h\"}"
		[ "$HTTP_STATUS" = 201 ] || { echo "create $name: $HTTP_STATUS $HTTP_BODY" >&2; return 1; }
	done
}

# folders PREFIX: how many env/PREFIX* folders main holds in $G.
folders() { g ls-tree --name-only main env/ | grep -c "^env/$1" ; }

# overdue PREFIX: move the expiry of PREFIX* ten minutes into the past.
overdue() { sql "update envs set expires_at = strftime('%s','now') - 600 where name like '$1%' and status = 'active'"; }

# folders_are PREFIX N, status_is NAME STATUS, notes_are KIND N: for t_eventually
folders_are() { [ "$(folders "$1")" = "$2" ]; }
status_is() { [ "$(sql "select status from envs where name = '$1'")" = "$2" ]; }
notes_are() { [ "$(notes "$1")" = "$2" ]; }
held_is() { [ "$(metric previewd_reaper_held)" = "$1" ]; }
readyz_held() {
	local b
	b=$(curl -s "$PV_URL/readyz")
	[ "$(jq_of "$b" .status)" = "$1" ] && [ "$(jq_of "$b" .checks.reaper.held)" = "$2" ]
}
# notes KIND: how many notifications of KIND the receiver got
notes() { jq -s --arg k "$1" '[.[] | select(.headers["x-previewd-event"] == $k)] | length' "$LOG"; }

COMMON=(PREVIEWD_MIN_TTL=1 PREVIEWD_WARN_BEFORE= PREVIEWD_REAP_HOLD=25 PREVIEWD_REAP_HOLD_AFTER=30s)

# ---------------------------------------------------------------- 1
t_begin "1: 31 overdue at once are held; a timely expiry and a DELETE are not"
LOG=$T_TMP/hooks.log
t_need "receiver starts" rcv_start R "$LOG"
HOOK=(PREVIEWD_WEBHOOK_URL="http://127.0.0.1:$R_PORT/hook")
D1=$T_TMP/d1
t_need "previewd starts" pv_start "$D1" "${COMMON[@]}" "${HOOK[@]}"
G=$PV_DATA/gitops.git
t_need "30 environments and two more are created" make e 30
t_need "timely one created" make t 1 && t_need "to-delete one created" make d 1
t_eq 30 "$(folders e)" "the 30 folders are in Git"
pv_stop
overdue e
overdue d
sql "update envs set expires_at = strftime('%s','now') + 4 where name = 't1'"

pv_start "$D1" "${COMMON[@]}" "${HOOK[@]}"
t_eventually "$WAIT" "previewd_reaper_held shows the 31 held" held_is 31
t_ok "/readyz is degraded naming 31" readyz_held degraded 31
t_match "held" "$(curl -s "$PV_URL/readyz" | jq -r .checks.reaper.error)" "/readyz says why"
t_eq 30 "$(folders e)" "nothing held left Git"
t_eq active "$(env_status e07)" "a held environment stays active"
t_eventually "$WAIT" "one expiry_held notification arrives" notes_are expiry_held 1
t_eq 31 "$(jq -s '[.[] | select(.headers["x-previewd-event"] == "expiry_held")][0].body | fromjson | .held.count' "$LOG")" \
	"it names the count"
t_eventually "$WAIT" "a timely expiry is carried out while the hold is on" status_is t1 deleted
t_not "its folder left Git" has_folder t1
http DELETE /v1/environments/d1
t_match '^20[02]$' "$HTTP_STATUS" "an explicit DELETE of a held environment is accepted"
t_eventually "$WAIT" "and its folder leaves Git" no_folder d1
t_eventually "$WAIT" "the held count drops to 30" held_is 30
t_eq 1 "$(notes expiry_held)" "one notification per hold, not one per pass"
t_eq 30 "$(folders e)" "still nothing held left Git"

pv_token create ops --role writer
WRITER=$(tail -n1 <<<"$PV_OUT")
pv_token create boss --role admin
ADMIN=$(tail -n1 <<<"$PV_OUT")
http POST /v1/admin/reaper/release '' -H "Authorization: Bearer $WRITER"
t_eq 403 "$HTTP_STATUS" "a writer may not release"
t_eq 30 "$(folders e)" "the refused release changed nothing"
http POST /v1/admin/reaper/release '' -H "Authorization: Bearer $ADMIN"
t_eq 200 "$HTTP_STATUS" "an admin releases"
t_eq 30 "$(jqr .released)" "the 30 held are released"
t_eventually "$WAIT" "every released folder leaves Git" folders_are e 0
t_eventually "$WAIT" "nothing is held any more" held_is 0
t_ok "/readyz is ready again" readyz_held ready 0
t_eq 30 "$(sql "select count(*) from envs where name like 'e%' and status = 'deleted'")" "the 30 records are deleted"
t_eq 1 "$(notes expiry_held)" "the release raised no second hold"
pv_stop

# ---------------------------------------------------------------- 2
t_begin "2: the CLI releases; the limit itself is not held"
D2=$T_TMP/d2
t_need "previewd starts" pv_start "$D2" "${COMMON[@]}"
G=$PV_DATA/gitops.git
t_need "26 environments are created" make f 26
pv_stop
overdue f
pv_start "$D2" "${COMMON[@]}"
t_eventually "$WAIT" "26 overdue are held" held_is 26
t_eq 26 "$(folders f)" "nothing left Git"
pv_stop
pv_start "$D2" "${COMMON[@]}"
t_eventually "$WAIT" "the hold survives a restart" held_is 26
t_eq 26 "$(folders f)" "still nothing left Git"
pv_cli PREVIEWD_DATA_DIR="$PV_DATA" reaper release
t_eq "released 26 held expiries" "$PV_OUT" "the CLI releases the 26"
t_eventually "$WAIT" "the running reaper carries them out" folders_are f 0
t_eventually "$WAIT" "nothing is held" held_is 0
t_need "25 more are created" make g 25
pv_stop
overdue g
pv_start "$D2" "${COMMON[@]}"
t_eventually "$WAIT" "25 overdue (not more than PREVIEWD_REAP_HOLD) are carried out" folders_are g 0
t_eq 0 "$(metric previewd_reaper_held)" "none was held"
t_eq 0 "$(metric previewd_reaper_holds_total)" "no hold began"
pv_stop
t_end
