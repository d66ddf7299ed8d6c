#!/usr/bin/env bash
# ctest-labels: concurrent
# test_cost.sh — the cost in sight (issue 16): with PREVIEWD_COST_RATES each
# environment shows cost {per_day, saved_by_sleep_last_7d}, estimated from
# the requests in its values, in GET, the list, /metrics and the expiry
# warning.
#
# previewd on its embedded default repository, a webhook receiver:
#   1  per_day from replicaCount x (resources.requests.cpu|memory) exactly,
#      in GET and the list; a values PATCH changes it; the dev base's own
#      requests count when a create sets none
#   2  saved_by_sleep_last_7d from the "slept"/"woke" history (rows written
#      here with sqlite3 as the sleep operations record them): the hours
#      asleep inside the last 7 days only
#   3  /metrics: previewd_environment_cost_per_day per live environment; a
#      deleted one leaves the scrape
#   4  the expiry warning says what the environment costs a day
#   5  components: PREVIEWD_COST_COMPONENTS adds up the chart's parts, and
#      PREVIEWD_COST_PATHS moves where they are read
#   6  no rates: no cost member; a wrong setting stops previewd at start
#
# shellcheck disable=SC2317  # helpers run through t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

RATES=(PREVIEWD_COST_RATES=cpu=0.04,memory=0.005)
LOG=$T_TMP/hooks.log
t_need "receiver starts" rcv_start R "$LOG"

# eq_num WANT GOT: the same number (jq reads both)
eq_num() { [ "$(jq -n --argjson a "$1" --argjson b "$2" '$a == $b')" = true ]; }
cost_of() { http GET "/v1/environments/$1" && jqr -c ".cost.$2"; }

# ---------------------------------------------------------------- 1
t_begin "1: per_day from the requests in the values"
t_need "previewd starts with cost rates" pv_start "$T_TMP/d1" "${RATES[@]}" \
	PREVIEWD_WEBHOOK_URL="http://127.0.0.1:$R_PORT/hook" PREVIEWD_WARN_BEFORE=20s PREVIEWD_MIN_TTL=1
http POST /v1/environments '{"owner":"o","name":"web","ttl":"1h","values":{"replicaCount":2,
	"resources":{"requests":{"cpu":"250m","memory":"512Mi"}}}}'
t_eq 201 "$HTTP_STATUS" "web is created"
# 2 x (0.25 CPU x 0.04 + 0.5 GiB x 0.005) x 24 = 0.6
t_ok "its JSON has cost.per_day 0.6" eq_num 0.6 "$(jqr -c .cost.per_day)"
t_ok "and nothing saved yet" eq_num 0 "$(jqr -c .cost.saved_by_sleep_last_7d)"
http GET /v1/environments/web
t_ok "GET shows per_day 0.6" eq_num 0.6 "$(jqr -c .cost.per_day)"
http POST /v1/environments '{"owner":"o","name":"plain","ttl":"1h"}'
t_eq 201 "$HTTP_STATUS" "plain is created from the dev base"
# dev: 1 x (50m x 0.04 + 64Mi x 0.005) x 24 = (0.002 + 0.0003125) x 24 = 0.0555
t_ok "the base's own requests count: per_day 0.0555" eq_num 0.0555 "$(jqr -c .cost.per_day)"
http GET '/v1/environments?owner=o'
t_eq "plain=0.0555 web=0.6" "$(jqr '[.items[] | "\(.name)=\(.cost.per_day)"] | sort | join(" ")')" \
	"the list shows each one's per_day"
http GET '/v1/environments?owner=o&fields=name,cost'
t_eq '{"cost":{"per_day":0.6,"saved_by_sleep_last_7d":0,"source":"estimate"},"name":"web"}' \
	"$(jqr -cS '.items[] | select(.name == "web") | .cost.per_day |= (. * 10000 | round / 10000)')" "fields=name,cost keeps the cost"
http PATCH /v1/environments/web '{"values":{"replicaCount":4,"resources":{"requests":{"memory":"1Gi"}}}}'
t_eq 200 "$HTTP_STATUS" "a values PATCH is taken"
# 4 x (0.25 x 0.04 + 1 x 0.005) x 24 = 1.44
t_ok "per_day follows the new values: 1.44" eq_num 1.44 "$(jqr -c .cost.per_day)"

# ---------------------------------------------------------------- 2
t_begin "2: saved_by_sleep_last_7d from the slept/woke history"
NOW=$(date +%s)
ID=$(sql "select id from envs where name = 'web' and status in ('pending','active')")
ev() { sql "insert into events (env_id, name, kind, actor, at) values ($ID, 'web', '$1', 'sleep', $2)"; }
# asleep 8 days ago until 2 h inside the window: only those 2 h count
ev slept $((NOW - 8 * 86400))
ev woke $((NOW - 7 * 86400 + 7200))
# 10 h two days ago, with a repeated "slept" that changes nothing
ev slept $((NOW - 2 * 86400))
ev slept $((NOW - 2 * 86400 + 3600))
ev woke $((NOW - 2 * 86400 + 36000))
ev woke $((NOW - 86400))
# 12 h x 1.44 / 24 = 0.72
t_ok "12 h asleep in the window at 1.44/day saved 0.72" eq_num 0.72 "$(cost_of web saved_by_sleep_last_7d)"
http GET '/v1/environments?owner=o'
t_ok "the list shows the same" eq_num 0.72 "$(jqr -c '.items[] | select(.name == "web") | .cost.saved_by_sleep_last_7d')"
t_ok "another environment's history is its own" eq_num 0 "$(cost_of plain saved_by_sleep_last_7d)"

# ---------------------------------------------------------------- 3
t_begin "3: /metrics has previewd_environment_cost_per_day of live environments"
t_ok "web's series is 1.44" eq_num 1.44 "$(metric 'previewd_environment_cost_per_day{name="web",source="estimate"}')"
t_ok "plain's series is 0.0555" eq_num 0.0555 "$(metric 'previewd_environment_cost_per_day{name="plain",source="estimate"}')"
t_ok "the family is typed a gauge" bash -c "curl -s '$PV_URL/metrics' | grep -qx '# TYPE previewd_environment_cost_per_day gauge'"
http DELETE /v1/environments/plain
t_eq 200 "$HTTP_STATUS" "plain is deleted"
t_eq "" "$(metric 'previewd_environment_cost_per_day{name="plain",source="estimate"}')" "its series leaves the scrape"
t_eq 1 "$(curl -s "$PV_URL/metrics" | grep -c '^previewd_environment_cost_per_day{')" "one series: the live environment"

# ---------------------------------------------------------------- 4
t_begin "4: the expiry warning says what a day costs"
http POST /v1/environments '{"owner":"o","name":"warn","ttl":"30s","values":{"resources":{"requests":{"cpu":"1","memory":"0"}}}}'
t_eq 201 "$HTTP_STATUS" "warn is created with a 30 s TTL"
warned() { jq -s '[.[] | select(.headers["x-previewd-event"] == "expiring")] | length > 0' "$LOG" | grep -q true; }
t_eventually 30 "the expiring warning reaches the webhook" warned
w=$(jq -s '[.[] | select(.headers["x-previewd-event"] == "expiring") | .body | fromjson][0]' "$LOG")
# 1 CPU x 0.04 x 24 = 0.96
t_match 'expires in .* and costs ~0\.96/day; extend it with' "$(jq_of "$w" .text)" "its text gives the cost per day"
pv_stop

# ---------------------------------------------------------------- 5
t_begin "5: components and paths"
t_need "previewd starts with components" pv_start "$T_TMP/d5" "${RATES[@]}" \
	PREVIEWD_COST_COMPONENTS=frontend.,backend. PREVIEWD_COST_PATHS=replicas=replicas,cpu=cpu
http POST /v1/environments '{"owner":"o","name":"multi","ttl":"1h","values":{"frontend":{"replicas":2,"cpu":"500m"},
	"backend":{"cpu":"1","resources":{"requests":{"memory":"2Gi"}}},"cpu":"8"}}'
t_eq 201 "$HTTP_STATUS" "multi is created"
# 24 x (2 x 0.5 x 0.04 + 1 x (1 x 0.04 + 2 x 0.005)) = 2.16; the root's cpu 8 is no component's
t_ok "per_day adds up the components: 2.16" eq_num 2.16 "$(jqr -c .cost.per_day)"
http POST /v1/environments '{"owner":"o","name":"odd","ttl":"1h","values":{"frontend":{"cpu":"lots"}}}'
t_eq 201 "$HTTP_STATUS" "values with an unreadable request are still taken"
t_eq null "$(jqr -c .cost.per_day)" "their per_day is null, not a guess"
t_eq "" "$(metric 'previewd_environment_cost_per_day{name="odd",source="estimate"}')" "and they have no series"
pv_stop

# ---------------------------------------------------------------- 6
t_begin "6: no rates, no cost; a wrong setting is refused"
t_need "previewd starts without rates" pv_start "$T_TMP/d6"
http POST /v1/environments '{"owner":"o","name":"free","ttl":"1h"}'
t_eq 201 "$HTTP_STATUS" "free is created"
t_eq false "$(jqr 'has("cost")')" "its JSON has no cost member"
t_eq "" "$(curl -s "$PV_URL/metrics" | grep '^previewd_environment_cost_per_day')" "and /metrics no series"
pv_stop
t_not "PREVIEWD_COST_RATES=gpu=1 is refused" pv_start "$T_TMP/d6" PREVIEWD_COST_RATES=gpu=1
t_ok "naming the setting" grep -q 'PREVIEWD_COST_RATES' "$PV_LOG"
t_not "a bad path is refused" pv_start "$T_TMP/d6" "${RATES[@]}" PREVIEWD_COST_PATHS=cpu=a..b
t_ok "naming the setting" grep -q 'PREVIEWD_COST_PATHS' "$PV_LOG"

t_end
