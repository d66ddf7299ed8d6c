#!/usr/bin/env bash
# ctest-labels: integration concurrent
# The notifier against a receiver that refuses some notifications for good
# (tests/lib/receiver.py --refuse-env: 422 to every notification about one
# environment, 200 or the status file's answer to the rest):
#   1. a refused notification is tried a bounded number of times (5), then
#      dead-lettered (outbox.dead_at, last_error, the counter in /metrics),
#      and the notifications queued behind it are delivered;
#   2. a 5xx is not a refusal: it is retried past that bound, with backoff,
#      and delivered once the receiver takes it.
# shellcheck disable=SC2317  # helpers run through t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

REFUSED_ATTEMPTS=5 # notify.c's bound
LOG=$T_TMP/hooks.jsonl
STATUS=$T_TMP/status
: >"$LOG"
echo 200 >"$STATUS"

# tries NAME: how many POSTs about environment NAME reached the receiver
tries() {
	jq -s --arg n "$1" '[.[] | select((.body | fromjson? | .environment.name) == $n)] | length' "$LOG"
}
# per_delivery NAME: how many times each notification about NAME was POSTed, by delivery id
per_delivery() {
	jq -s -c --arg n "$1" '[.[] | select((.body | fromjson? | .environment.name) == $n)
		| .headers["x-previewd-delivery"]] | group_by(.) | map(length)' "$LOG"
}
rows_of() { sql "select count(*) from outbox where json_extract(payload, '\$.name') = '$1' $2"; }
live_rows_of() { [ "$(rows_of "$1" 'and delivered_at is null and dead_at is null')" = 0 ]; }
delivered_all() { [ "$(rows_of "$1" 'and delivered_at is null')" = 0 ] && [ "$(rows_of "$1")" -gt 0 ]; }

t_begin "start-up"
t_need "the receiver starts" rcv_start R "$LOG" --status-file "$STATUS" --refuse-env bad
t_need "previewd starts" pv_start "$T_TMP/data" PREVIEWD_WEBHOOK_URL="http://127.0.0.1:$R_PORT/hook" \
	PREVIEWD_WEBHOOK_BACKOFF_MAX=1s PREVIEWD_WAIT_MS=10000

# ---------------------------------------------------------------- 1. refused
t_begin "1. a refused notification is dead-lettered after a bound; the rest flow"
http POST /v1/environments '{"owner":"bad"}'
t_eq 201 "$HTTP_STATUS" "create bad (its notifications are refused)"
http POST /v1/environments '{"owner":"good"}'
t_eq 201 "$HTTP_STATUS" "create good (queued behind bad's)"
t_eventually 60 "good's notifications are all delivered" delivered_all good
t_eventually 30 "bad's notifications are no longer due" live_rows_of bad
sleep 3 # a retry after the bound would come within the 1 s backoff cap
BAD_ROWS=$(rows_of bad)
t_ok "bad has notifications in the outbox ($BAD_ROWS)" test "$BAD_ROWS" -gt 0
t_eq "$BAD_ROWS" "$(rows_of bad 'and dead_at is not null and delivered_at is null')" \
	"every notification about bad is dead, none delivered"
t_eq "$(jq -n -c --argjson k "$BAD_ROWS" --argjson a $REFUSED_ATTEMPTS '[range($k)] | map($a)')" "$(per_delivery bad)" \
	"each was tried exactly $REFUSED_ATTEMPTS times, then no more"
t_eq "$BAD_ROWS" "$(rows_of bad "and attempts = $REFUSED_ATTEMPTS and last_error like '%answered 422%'")" \
	"the outbox keeps the attempts and the receiver's answer"
t_eq "$BAD_ROWS" "$(metric previewd_notify_dead_letters_total)" "previewd_notify_dead_letters_total counts them"
t_match 'giving created #[0-9]+ up after 5 attempts: the receiver answered 422' "$(cat "$PV_LOG")" \
	"the log says which one was given up and why"
t_eq "$(rows_of good)" "$(per_delivery good | jq 'length')" "each of good's notifications reached the receiver"

# ---------------------------------------------------------------- 2. 5xx
t_begin "2. a 5xx is retried past the bound, with backoff, then delivered"
echo 503 >"$STATUS"
dead_before=$(metric previewd_notify_dead_letters_total)
http POST /v1/environments '{"owner":"later"}'
t_eq 201 "$HTTP_STATUS" "create later while the receiver answers 503"
more_than_bound() { [ "$(tries later)" -gt $((REFUSED_ATTEMPTS + 1)) ]; }
t_eventually 60 "later's first notification is tried more than $((REFUSED_ATTEMPTS + 1)) times" more_than_bound
t_eq 0 "$(rows_of later 'and dead_at is not null')" "none of later's notifications is dead"
t_eq "$dead_before" "$(metric previewd_notify_dead_letters_total)" "no dead letter for a 5xx"
# backoff, not a tight loop: 1 s apart at the cap, so a 3 s window holds few
n0=$(tries later)
sleep 3
n1=$(tries later)
t_ok "retries back off ($((n1 - n0)) tries in 3 s, at most 6)" test $((n1 - n0)) -le 6
echo 200 >"$STATUS"
t_eventually 30 "later's notifications are delivered once the receiver takes them" delivered_all later

t_end
