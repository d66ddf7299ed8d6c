#!/usr/bin/env bash
# ctest-labels: concurrent
# test_retention.sh — bounded growth (issue 13): what ended longer ago than
# PREVIEWD_RETENTION is pruned and its pages go back.
#
# previewd on its embedded default repository with a webhook receiver (so
# that there are outbox rows) and PREVIEWD_RETENTION=3s:
#   1  a batch of create/delete cycles, each request with an
#      Idempotency-Key, and one environment that fails (a folder people made
#      took its name): once past the window their records, events, outbox
#      rows and keys are gone, GET answers 404, the metrics count them, the
#      free pages are reclaimed; a live environment and its events stay
#   2  two more batches: the database (its pages, and its file after a
#      restart) is no bigger than after the first one
#   3  a database made before (auto_vacuum off) is rebuilt once at start;
#      PREVIEWD_RETENTION=0 keeps everything
# Waits are generous bounds, never timing assertions.
#
# shellcheck disable=SC2317  # helpers run through t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

WAIT=30
N=30

# cycles PREFIX: create and delete PREFIX01..PREFIX$N, each with its own
# Idempotency-Key, each answered once pushed
cycles() {
	local i name
	for i in $(seq -w 1 "$N"); do
		name="$1$i"
		http POST /v1/environments "{\"owner\":\"o\",\"name\":\"$name\",\"ttl\":\"1h\"}" \
			-H "Idempotency-Key: c-$name"
		[ "$HTTP_STATUS" = 201 ] || { echo "create $name: $HTTP_STATUS $HTTP_BODY" >&2; return 1; }
		http DELETE "/v1/environments/$name" '' -H "Idempotency-Key: d-$name"
		[ "$HTTP_STATUS" = 200 ] || { echo "delete $name: $HTTP_STATUS $HTTP_BODY" >&2; return 1; }
	done
}

count() { sql "select count(*) from $1"; }
pages() { sql "pragma page_count"; }
freelist() { sql "pragma freelist_count"; }
pruned() { metric "previewd_retention_pruned_total{kind=\"$1\"}"; }
# nothing_ended: no ended record, no event of one, no done outbox row, no key
nothing_ended() {
	[ "$(count "envs where status in ('deleted','failed')")" = 0 ] &&
		[ "$(count "events where env_id not in (select id from envs)")" = 0 ] &&
		[ "$(count "outbox where delivered_at is not null")" = 0 ] &&
		[ "$(count idempotency)" = 0 ]
}
deleted_are() { [ "$(count "envs where status = 'deleted'")" = "$1" ]; }
delivered() { [ "$(count "outbox where delivered_at is null")" = 0 ]; }
reclaimed() { [ "$(freelist)" -le 2 ]; }

# ---------------------------------------------------------------- 1
t_begin "1: ended records, their events, done outbox rows and keys go after the window"
LOG=$T_TMP/hooks.log
t_need "receiver starts" rcv_start R "$LOG"
COMMON=(PREVIEWD_RETENTION=3s PREVIEWD_WARN_BEFORE= PREVIEWD_WEBHOOK_URL="http://127.0.0.1:$R_PORT/hook")
D1=$T_TMP/d1
t_need "previewd starts" pv_start "$D1" "${COMMON[@]}"
G=$PV_DATA/gitops.git
t_eq 2 "$(sql 'pragma auto_vacuum')" "a new database reclaims incrementally"
http POST /v1/environments '{"owner":"o","name":"live1","ttl":"1h"}' -H "Idempotency-Key: live1"
t_eq 201 "$HTTP_STATUS" "a live environment is created"
LIVE_EVENTS=$(count "events where name = 'live1'")
t_ok "it has a history" test "$LIVE_EVENTS" -ge 2

# a folder made by people takes a name: previewd's create of it fails for
# good without ever being pushed, and its record is prunable
mkdir -p "$T_TMP/wc" && git clone -q "$G" "$T_TMP/wc/r" && mkdir -p "$T_TMP/wc/r/env/theirs" &&
	echo 'replicas: 1' >"$T_TMP/wc/r/env/theirs/values.yaml" &&
	git -C "$T_TMP/wc/r" add -A && git -C "$T_TMP/wc/r" -c user.name=t -c user.email=t@t commit -qm theirs &&
	git -C "$T_TMP/wc/r" push -q origin HEAD:main
http POST /v1/environments '{"owner":"o","name":"theirs","ttl":"1h"}'
t_eventually "$WAIT" "the create over people's folder fails" env_status_is theirs failed

t_need "$N create/delete cycles" cycles a
t_eventually "$WAIT" "every notification is delivered" delivered
t_eventually "$WAIT" "past the window, nothing ended is left" nothing_ended
t_eq $((N + 1)) "$(pruned environments)" "previewd_retention_pruned_total{kind=environments} counts them"
t_eq 1 "$(count "envs where status = 'active'")" "the live environment stays"
t_eq "$LIVE_EVENTS" "$(count "events where name = 'live1'")" "with every event of its history"
http GET /v1/environments/live1
t_eq 200 "$HTTP_STATUS" "GET of the live environment answers"
http GET /v1/environments/a01
t_eq 404 "$HTTP_STATUS" "GET of a pruned environment answers 404"
http GET /v1/environments/theirs
t_eq 404 "$HTTP_STATUS" "and of the pruned failed one"
t_ok "the folder people made is untouched" has_folder theirs
t_ok "events were pruned" test "$(pruned events)" -ge $((N * 3))
t_ok "outbox rows were pruned" test "$(pruned outbox)" -ge "$N"
t_ok "idempotency keys were pruned" test "$(pruned idempotency_keys)" -ge $((N * 2))
# the ids of webhook deliveries acted on (a forge's redelivery acts once)
sql "insert into hook_deliveries (forge, delivery, at) values ('github', 'old-1', 1000), ('gitlab', 'old-2', 1000)"
no_deliveries() { [ "$(count hook_deliveries)" = 0 ]; }
t_eventually "$WAIT" "webhook delivery ids older than the window are pruned" no_deliveries
# the counter moves just after the batch commits: read it until it does
deliveries_counted() { [ "$(pruned hook_deliveries)" = 2 ]; }
t_eventually "$WAIT" "previewd_retention_pruned_total{kind=hook_deliveries} counts them" deliveries_counted
t_eventually "$WAIT" "the free pages go back (freelist_count <= 2)" reclaimed
t_ok "previewd_retention_reclaimed_pages_total counts them" test "$(metric previewd_retention_reclaimed_pages_total)" -gt 0

# ---------------------------------------------------------------- 2
t_begin "2: two more batches leave the database no bigger"
P1=$(pages)
t_need "a second batch" cycles b
t_need "a third batch" cycles c
t_eventually "$WAIT" "every notification is delivered" delivered
t_eventually "$WAIT" "past the window, nothing ended is left" nothing_ended
t_eventually "$WAIT" "the free pages go back" reclaimed
P3=$(pages)
echo "# pages after batch 1: $P1, after batch 3: $P3"
t_ok "no more pages than after the first batch (+2)" test "$P3" -le $((P1 + 2))
t_eq 1 "$(count "envs where status = 'active'")" "the live environment stays"
t_eq "$LIVE_EVENTS" "$(count "events where name = 'live1'")" "with its whole history"
pv_stop
SIZE=$(stat -c %s "$PV_DATA/previewd.db")
PAGE=$(sql 'pragma page_size')
t_ok "after a stop the file is its pages: $SIZE bytes <= $(((P1 + 2) * PAGE))" test "$SIZE" -le $(((P1 + 2) * PAGE))

# ---------------------------------------------------------------- 3
t_begin "3: an older database is rebuilt once; PREVIEWD_RETENTION=0 keeps everything"
D3=$T_TMP/d3
t_need "previewd starts with retention off" pv_start "$D3" PREVIEWD_RETENTION=0
http POST /v1/environments '{"owner":"o","name":"k1","ttl":"1h"}'
t_eq 201 "$HTTP_STATUS" "created"
http DELETE /v1/environments/k1
t_eq 200 "$HTTP_STATUS" "deleted"
pv_stop
sql 'pragma auto_vacuum = none; vacuum'
t_eq 0 "$(sql 'pragma auto_vacuum')" "the database is as an older previewd made it"
sleep 4
pv_start "$D3" PREVIEWD_RETENTION=0
sleep 2
t_eq 1 "$(count "envs where status = 'deleted'")" "with retention off the ended record stays"
t_eq "" "$(metric previewd_retention_passes_total)" "and no retention pass runs"
pv_stop
pv_start "$D3" PREVIEWD_RETENTION=3s
t_eq 2 "$(sql 'pragma auto_vacuum')" "the first start with retention rebuilds it for incremental vacuum"
t_ok "and says so" grep -q 'rebuilt once' "$PV_LOG"
t_eventually "$WAIT" "the ended record goes" deleted_are 0
pv_stop

t_end
