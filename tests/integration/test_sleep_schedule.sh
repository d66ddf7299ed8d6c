#!/usr/bin/env bash
# Sleeping on a schedule and when idle (sleeper.h) against a real previewd on
# a real Git server.  The schedule's clock is shifted with the test-only
# PREVIEWD_NOW_OFFSET (schedule.h) so that each phase starts a few seconds
# before the instant it is about: a Friday evening, a weekend, the night
# Europe/Berlin moves its clocks forward, a Monday morning.  Covered: the
# weekend window, per-environment "none" and an own schedule, a wake by hand
# in a window held until the next boundary (whose time is DST-aware), a
# create in a window, restarts in the middle of windows, 500 environments
# put to sleep at one boundary in a few commits, idle sleep from API
# inactivity, idle sleep from a Prometheus stand-in (the query checked), and
# a failing Prometheus that puts nothing to sleep.
# ctest-labels: concurrent
# shellcheck source=tests/lib/harness.sh disable=SC1091,SC2317  # checks run through t_eventually
. "$(dirname "$0")/../lib/harness.sh"

t_need "the Git server starts" gitserver_start "$T_TMP/git"
t_need "the GitOps repository is seeded" gitserver_new_repo gitops "$T_ROOT/deploy/helm-env"
G=$GITSERVER_DIR/repos/gitops.git
BASE=(PREVIEWD_GIT_URL="$GITSERVER_URL/gitops.git" PREVIEWD_GIT_USERNAME="$GITSERVER_USER"
	PREVIEWD_GIT_PASSWORD="$GITSERVER_PASS" PREVIEWD_WAIT_MS=10000 PREVIEWD_PUSH_BACKOFF_MAX_MS=300
	PREVIEWD_WARN_BEFORE= PREVIEWD_DEFAULT_TTL=7d PREVIEWD_TIMEZONE=Europe/Berlin)
SCHED=(PREVIEWD_SLEEP_SCHEDULE="Mon-Fri 19:00-08:00; Sat-Sun")
# shellcheck disable=SC2034  # pv_start_on reads and sets it by name
PORT=

# offset_to UTC_TIME: the PREVIEWD_NOW_OFFSET that makes the schedule's
# clock read UTC_TIME now
offset_to() { echo $(($(date -u -d "$1" +%s) - $(date +%s))); }
# start_at UTC_TIME [VAR=value...]: (re)start previewd with its schedule's clock at UTC_TIME
start_at() {
	local at=$1
	shift
	pv_start_on PORT "$T_TMP/data" "${BASE[@]}" PREVIEWD_NOW_OFFSET="$(offset_to "$at")" "$@"
}
env_json() { curl -s -m 5 "$PV_URL/v1/environments/$1"; }
status_of() { env_json "$1" | jq -r .status; }
is_status() { [ "$(status_of "$1")" = "$2" ]; }
slept_by() { env_json "$1" | jq -r '.sleep.by // "awake"'; }
is_slept_by() { [ "$(slept_by "$1")" = "$2" ]; }
held_until() { env_json "$1" | jq -r .schedule_held_until; }
git_replicas() { g show "main:env/$1/values.yaml" 2>/dev/null | yaml_get /dev/stdin replicaCount; }
replicas_are() { [ "$(git_replicas "$1")" = "$2" ]; }
passes() { metric previewd_sleeper_passes_total; }
# a_pass_after N: the sleeper has finished a pass since the count was N
a_pass_after() { [ "$(passes)" -gt "$1" ]; }
# kick_and_pass: one more pass of the sleeper after now (a write kicks it)
kick_and_pass() {
	local n
	n=$(passes)
	http POST /v1/environments '{"owner":"kicker","name":"kick-'"$RANDOM$RANDOM"'"}' >/dev/null
	t_eventually 20 "${1:-the sleeper has looked again}" a_pass_after "$n"
}
create() { http POST /v1/environments "$1"; t_match '^20[12]$' "$HTTP_STATUS" "create ${2:-}"; }

# ------------------------------------------------------- Friday evening
t_begin "Friday 18:59:45 CET: the weekday evening window starts at 19:00"
t_need "previewd starts" start_at "2027-03-26T17:59:45Z" "${SCHED[@]}"
create '{"owner":"alice","name":"wk"}' wk
create '{"owner":"alice","name":"hand"}' hand
create '{"owner":"alice","name":"nosched","schedule":"none"}' nosched
t_eq none "$(jqr .schedule)" "the environment JSON shows its own schedule"
create '{"owner":"alice","name":"own","schedule":"Sun 03:00-05:00"}' own
http POST /v1/environments '{"owner":"alice","name":"badsched","schedule":"Mon-Fry 19:00"}'
t_eq "422 schedule" "$HTTP_STATUS $(jqr .field)" "a schedule that does not read is refused (422, field schedule)"
t_eq null "$(env_json wk | jq -r .schedule)" "wk follows PREVIEWD_SLEEP_SCHEDULE (schedule null)"
t_eq active "$(status_of wk)" "wk is awake before 19:00"
t_eventually 40 "wk falls asleep at 19:00 by the schedule" is_slept_by wk schedule
t_eventually 20 "hand falls asleep too" is_slept_by hand schedule
t_eventually 20 "the sleep is in Git: replicaCount 0" replicas_are wk 0
t_eq active "$(status_of nosched)" "schedule none: awake at 19:00"
t_eq active "$(status_of own)" "an own schedule (Sundays): awake on Friday evening"
pv_stop

# ------------------------------------------------------------ Saturday
t_begin "Saturday noon, restarted in the middle of the weekend window"
t_need "previewd restarts" start_at "2027-03-27T11:00:00Z" "${SCHED[@]}"
kick_and_pass "a pass after the restart"
t_eq sleeping "$(status_of wk)" "wk is still asleep after the restart"
t_eq active "$(status_of own)" "own is awake on Saturday"
http POST /v1/environments/hand/wake ''
t_eq active "$(jqr .status)" "hand is woken by hand in the window"
# Monday 00:00 in Berlin is 22:00 UTC on Sunday: summer time since 03:00
t_eq "2027-03-28T22:00:00Z" "$(jqr .schedule_held_until)" \
	"held until the next boundary, Monday 00:00 CEST (the DST change counted)"
kick_and_pass
t_eq active "$(status_of hand)" "a pass later hand is still awake: the wake holds until the boundary"
create '{"owner":"bob","name":"late"}' "in the window"
t_eq "active 2027-03-28T22:00:00Z" "$(status_of late) $(held_until late)" "a create in a window is awake, held to the boundary"
http PATCH /v1/environments/nosched '{"schedule":null}'
t_eq "200 null" "$HTTP_STATUS $(jqr .schedule)" "PATCH schedule null: back to PREVIEWD_SLEEP_SCHEDULE"
t_eventually 20 "the new schedule applies at once: nosched sleeps on Saturday" is_slept_by nosched schedule
http PATCH /v1/environments/nosched '{"schedule":"Mon 09:00-10:00"}'
t_eq "200 Mon 09:00-10:00" "$HTTP_STATUS $(jqr .schedule)" "PATCH to an own schedule"
t_eventually 20 "its own schedule says awake: the schedule wakes what it put to sleep" is_status nosched active
pv_stop

# ---------------------------------------------- the night clocks go forward
t_begin "Sunday 01:59:45 CET: at 02:00 the clocks jump to 03:00 CEST"
t_need "previewd restarts" start_at "2027-03-28T00:59:45Z" "${SCHED[@]}"
kick_and_pass
t_eq active "$(status_of own)" "own (Sun 03:00-05:00) is awake at 01:59 CET"
# 03:00 CEST comes 15 seconds later, not an hour (03:00 CET would be 02:00 UTC)
t_eventually 40 "own falls asleep when the clocks jump to 03:00" is_slept_by own schedule
t_eq active "$(status_of hand)" "hand, woken by hand, is still held awake"
pv_stop

# ------------------------------------------------------- Monday morning
t_begin "Sunday 23:59:45 CEST: the weekend ends at Monday 00:00"
t_need "previewd restarts" start_at "2027-03-28T21:59:45Z" "${SCHED[@]}"
kick_and_pass
t_eq sleeping "$(status_of wk)" "wk is asleep before midnight"
t_eventually 40 "wk wakes at Monday 00:00" is_status wk active
t_eventually 20 "own is awake: its window ended at 05:00 on Sunday" is_status own active
t_eq active "$(status_of hand)" "hand is awake: the boundary it was held to agrees"
t_eventually 20 "the wake is in Git: replicaCount back to 1" replicas_are wk 1
http GET /v1/environments/wk/events
t_eq "slept:schedule woke:schedule" "$(jqr '[.items[] | select(.kind == "slept" or .kind == "woke") | "\(.kind):\(.detail.by)"] | join(" ")')" \
	"wk's history: slept and woke by the schedule"
pv_stop

# ---------------------------------------------- 500 at one boundary
t_begin "500 environments fall asleep at one boundary in a few commits"
rm -rf "$T_TMP/data"
t_need "previewd starts" start_at "2027-04-07T10:00:00Z" PREVIEWD_SLEEP_SCHEDULE="Wed 19:00-20:00" PREVIEWD_WAIT_MS=0
for i in $(seq 1 500); do
	printf '{"owner":"o%d","name":"m%03d"}\n' $((i % 50)) "$i"
done | while read -r body; do
	curl -s -o /dev/null -m 10 -H 'Content-Type: application/json' -d "$body" "$PV_URL/v1/environments"
done
all_pushed() { [ "$(sql "select count(*) from envs where name like 'm%' and status = 'active' and gen = pushed_gen")" = 500 ]; }
t_eventually 120 "the 500 creates are pushed" all_pushed
pv_stop
BEFORE=$(head_commit)
t_need "previewd restarts 5 s before Wednesday 19:00" start_at "2027-04-07T16:59:55Z" \
	PREVIEWD_SLEEP_SCHEDULE="Wed 19:00-20:00"
asleep_in_git() {
	[ "$(g grep -l '^replicaCount: 0' main -- 'env/m*/values.yaml' | wc -l)" = 500 ] &&
		[ "$(sql "select count(*) from envs where name like 'm%' and slept_at is not null and gen = pushed_gen")" = 500 ]
}
t_eventually 120 "all 500 are asleep in Git" asleep_in_git
COMMITS=$(g rev-list --count "$BEFORE..main")
few() { [ "$1" -ge 1 ] && [ "$1" -le 5 ]; }
t_ok "in a handful of commits ($COMMITS)" few "$COMMITS"
pv_stop

# ------------------------------------------------- idle, API activity
t_begin "idle sleep: what nobody touches sleeps, what is touched stays awake"
rm -rf "$T_TMP/data"
t_need "previewd starts" pv_start_on PORT "$T_TMP/data" "${BASE[@]}" PREVIEWD_IDLE_SLEEP=4s
create '{"owner":"carol","name":"quiet"}' quiet
create '{"owner":"carol","name":"busy"}' busy
touch_busy_until_quiet_sleeps() {
	http PATCH /v1/environments/busy '{"ttl":"2d"}' >/dev/null
	is_slept_by quiet idle
}
t_eventually 40 "quiet sleeps for idleness (busy extended every 0.1 s meanwhile)" touch_busy_until_quiet_sleeps
t_eq active "$(status_of busy)" "busy, extended all along, is awake"
t_eventually 40 "left alone, busy sleeps too" is_slept_by busy idle
http POST /v1/environments/quiet/wake ''
t_eq active "$(jqr .status)" "a wake by hand wakes it"
t_eventually 40 "and, untouched again, it sleeps again" is_slept_by quiet idle
pv_stop

# ------------------------------------------------- idle, Prometheus
t_begin "idle sleep from the ingress's requests as Prometheus tells them"
rm -rf "$T_TMP/data"
PLOG=$T_TMP/prom.jsonl
PSTATE=$T_TMP/prom.json
: >"$PLOG"
echo '{"mode":"ok","rates":{"p2":0.5}}' >"$PSTATE"
t_need "the Prometheus stand-in starts" bg_start PROM "$T_TMP/prom.out" python3 "$T_ROOT/tests/lib/prom_standin.py" "$PLOG" "$PSTATE"
t_need "previewd starts" pv_start_on PORT "$T_TMP/data" "${BASE[@]}" PREVIEWD_IDLE_SLEEP=4s \
	PREVIEWD_PROMETHEUS_URL="http://127.0.0.1:$PROM_PORT/" PREVIEWD_ACTIVITY_POLL=1s
create '{"owner":"dave","name":"p1"}' p1
create '{"owner":"dave","name":"p2"}' p2
t_eventually 40 "p1, with no requests, sleeps for idleness" is_slept_by p1 idle
t_eq active "$(status_of p2)" "p2, with requests, stays awake"
asked_both() { grep -q 'exported_namespace=~\\"p1|p2\\"' "$PLOG"; }
t_eventually 10 "the query names both namespaces" asked_both
t_eq 'sum by (exported_namespace) (rate(nginx_ingress_controller_requests{exported_namespace=~"p1|p2"}[300s]))' \
	"$(grep 'p1|p2' "$PLOG" | head -n 1 | jq -r .query)" "the query is the default template, filled in"
t_eq /api/v1/query "$(head -n 1 "$PLOG" | jq -r .path)" "at /api/v1/query (the URL's trailing / dropped)"
echo '{"mode":"ok","rates":{"p2":0}}' >"$PSTATE"
t_eventually 40 "p2's requests stop: it sleeps" is_slept_by p2 idle

t_begin "a failing Prometheus puts nothing to sleep"
errors() { metric previewd_sleeper_activity_errors_total; }
errors_past() { [ "$(errors)" -ge "$1" ]; }
create '{"owner":"erin","name":"f1"}' f1
for mode in 500 error badjson matrix; do
	echo "{\"mode\":\"$mode\"}" >"$PSTATE"
	n=$(errors)
	t_eventually 20 "Prometheus answering $mode is counted as a failure" errors_past $((n + 3))
done
t_eq active "$(status_of f1)" "f1 is awake: idle for longer than 4 s, but the activity was unknown"
t_ok "the failure is logged" grep -q 'activity unknown, nothing sleeps for idleness' "$PV_LOG"
echo '{"mode":"ok","rates":{}}' >"$PSTATE"
t_eventually 40 "Prometheus answers again (no requests): f1 sleeps" is_slept_by f1 idle
pv_stop
t_end
