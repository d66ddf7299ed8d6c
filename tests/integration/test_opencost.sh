#!/usr/bin/env bash
# ctest-labels: concurrent
# test_opencost.sh - the real cost from OpenCost (issue 16, optional part):
# with PREVIEWD_OPENCOST_URL each environment's cost.per_day is what
# OpenCost's allocation API says its namespace cost, scaled to a day;
# fake_opencost.py stands in for OpenCost and records every request.
#   1  the request previewd sends (path and parameters); per_day and
#      source "opencost" in GET, the list and /metrics; a namespace
#      younger than the window scaled up; one OpenCost does not know
#      keeps the estimate (source "estimate")
#   2  a new figure is shown after the next read
#   3  the saving from sleep is the estimate's, not OpenCost's
#   4  the expiry warning gives OpenCost's figure
#   5  OpenCost failing: the log says so (once, not per read), the figures
#      stay until stale (three intervals), then the estimate is back
#   6  a wrong PREVIEWD_OPENCOST_URL stops previewd at start
#
# shellcheck disable=SC2317  # helpers run through t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

OLOG=$T_TMP/opencost.log
CTL=$T_TMP/opencost-control.json
HLOG=$T_TMP/hooks.log
ctl() { printf '%s\n' "$1" >"$CTL.tmp" && mv -f "$CTL.tmp" "$CTL"; }
ctl '{"costs": {"web": [1.2, 1440], "young": [0.1, 120], "kube-system": [5, 1440]}}'
: >"$OLOG"

eq_num() { [ "$(jq -n --argjson a "$1" --argjson b "$2" '$a == $b')" = true ]; }
cost_is() { # NAME PER_DAY SOURCE: GET NAME shows that cost
	local j
	j=$(curl -s -m 5 "$PV_URL/v1/environments/$1") || return 1
	eq_num "$2" "$(jq_of "$j" -c .cost.per_day)" && [ "$(jq_of "$j" .cost.source)" = "$3" ]
}
reads() { jq -s 'length' "$OLOG"; }
more_reads() { [ "$(reads)" -gt "$1" ]; }

t_begin "start-up: OpenCost's stand-in, a webhook receiver, previewd reading every second"
bg_start O "$T_TMP/opencost.out" python3 "$T_ROOT/tests/lib/fake_opencost.py" --log "$OLOG" --control "$CTL"
t_need "receiver starts" rcv_start R "$HLOG"
t_need "previewd starts" pv_start "$T_TMP/data" PREVIEWD_OPENCOST_URL="http://127.0.0.1:$O_PORT" \
	PREVIEWD_OPENCOST_INTERVAL=1s PREVIEWD_COST_RATES=cpu=0.04,memory=0.005 \
	PREVIEWD_WEBHOOK_URL="http://127.0.0.1:$R_PORT/hook" PREVIEWD_WARN_BEFORE=20s PREVIEWD_MIN_TTL=1
t_match "opencost: reading each namespace's cost from http://127.0.0.1:$O_PORT every 1s" "$(cat "$PV_LOG")" \
	"the log names OpenCost"

# ---------------------------------------------------------------- 1
t_begin "1. per_day is OpenCost's figure for the namespace"
REQ='{"replicaCount":2,"resources":{"requests":{"cpu":"250m","memory":"512Mi"}}}'
http POST /v1/environments "{\"owner\":\"o\",\"name\":\"web\",\"ttl\":\"1h\",\"values\":$REQ}"
t_eq 201 "$HTTP_STATUS" "web is created (its estimate: 0.6 a day)"
http POST /v1/environments "{\"owner\":\"o\",\"name\":\"young\",\"ttl\":\"1h\",\"values\":$REQ}"
http POST /v1/environments "{\"owner\":\"o\",\"name\":\"unknown\",\"ttl\":\"1h\",\"values\":$REQ}"
t_eventually 20 "web shows OpenCost's 1.2 a day" cost_is web 1.2 opencost
t_ok "young ran 120 of the window's minutes for 0.1: 1.2 a day" cost_is young 1.2 opencost
t_ok "unknown, which OpenCost has not seen, shows the estimate 0.6" cost_is unknown 0.6 estimate
t_eq 0 "$(jq -s '[.[] | select(.path != "/allocation/compute?window=1d&aggregate=namespace&accumulate=true" or .method != "GET")] | length' "$OLOG")" \
	"every read is GET /allocation/compute?window=1d&aggregate=namespace&accumulate=true"
http GET '/v1/environments?owner=o&fields=name,cost'
t_eq "unknown=0.6/estimate web=1.2/opencost young=1.2/opencost" \
	"$(jqr '[.items[] | "\(.name)=\(.cost.per_day)/\(.cost.source)"] | sort | join(" ")')" "the list shows the same"
t_ok "/metrics: web's series is 1.2 from opencost" \
	eq_num 1.2 "$(metric 'previewd_environment_cost_per_day{name="web",source="opencost"}')"
t_ok "/metrics: unknown's series is the estimate" \
	eq_num 0.6 "$(metric 'previewd_environment_cost_per_day{name="unknown",source="estimate"}')"
t_eq "" "$(metric 'previewd_environment_cost_per_day{name="kube-system",source="opencost"}')" \
	"a namespace that is no environment of previewd's has no series"

# ---------------------------------------------------------------- 2
t_begin "2. the next read brings the new figure"
ctl '{"costs": {"web": [2.4, 1440], "young": [0.1, 120]}}'
t_eventually 20 "web shows 2.4" cost_is web 2.4 opencost

# ---------------------------------------------------------------- 3
t_begin "3. what sleep saved is the estimate's"
ID=$(sql "SELECT id FROM envs WHERE name = 'web' AND deleted_at IS NULL")
now=$(date +%s)
sql "INSERT INTO events (env_id, name, kind, actor, at) VALUES ($ID, 'web', 'slept', 't', $((now - 36000)))"
sql "INSERT INTO events (env_id, name, kind, actor, at) VALUES ($ID, 'web', 'woke', 't', $now)"
# 10 h asleep at the estimate's 0.6 a day: 0.25 (OpenCost's 2.4 would say 1)
t_ok "10 h asleep saved 0.25" eq_num 0.25 "$(curl -s -m 5 "$PV_URL/v1/environments/web" | jq -c .cost.saved_by_sleep_last_7d)"

# ---------------------------------------------------------------- 4
t_begin "4. the expiry warning gives OpenCost's figure"
ctl '{"costs": {"web": [2.4, 1440], "young": [0.1, 120], "warn": [0.96, 1440]}}'
http POST /v1/environments '{"owner":"o","name":"warn","ttl":"40s"}'
t_eq 201 "$HTTP_STATUS" "warn is created with a 40 s TTL"
t_eventually 20 "warn shows OpenCost's 0.96" cost_is warn 0.96 opencost
warned() { jq -s '[.[] | select(.headers["x-previewd-event"] == "expiring")] | length > 0' "$HLOG" | grep -q true; }
t_eventually 40 "the expiring warning reaches the webhook" warned
w=$(jq -s '[.[] | select(.headers["x-previewd-event"] == "expiring") | .body | fromjson][0]' "$HLOG")
t_match 'costs ~0\.96/day' "$(jq_of "$w" .text)" "its text gives OpenCost's cost per day"

# ---------------------------------------------------------------- 5
t_begin "5. OpenCost failing: the figures stay until stale, then the estimate"
ctl '{"fail": 500, "costs": {}}'
N=$(reads)
t_eventually 20 "previewd reads OpenCost three more times" more_reads $((N + 3))
t_match 'opencost: OpenCost answered HTTP 500' "$(cat "$PV_LOG")" "the log says OpenCost failed"
t_eq 1 "$(grep -c 'opencost: OpenCost answered HTTP 500' "$PV_LOG")" "... once, not at every read"
t_eventually 20 "once stale, web shows its estimate again" cost_is web 0.6 estimate
ctl '{"costs": {"web": [1.2, 1440]}}'
t_eventually 20 "OpenCost back: web shows its figure again" cost_is web 1.2 opencost
pv_stop

# ---------------------------------------------------------------- 6
t_begin "6. a wrong setting stops previewd at start"
pv_cli -x 2 -m "an OpenCost URL that is not http(s) is refused" PREVIEWD_DATA_DIR="$T_TMP/d6" \
	PREVIEWD_OPENCOST_URL=ftp://opencost --check-config
t_match "PREVIEWD_OPENCOST_URL 'ftp://opencost' must be an http:// or https:// URL" "$PV_OUT$PV_ERR" "... saying why"
bg_stop "$O_PID"
t_end
