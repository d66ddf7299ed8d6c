#!/usr/bin/env bash
# ctest-labels: integration concurrent
# The Argo CD ready rule and Argo CD's bad answers, against the fake Argo CD
# (tests/lib/fake_argocd.py, polled every second):
#   1. a Healthy Application whose last sync finished before previewd's push
#      (the same name re-created: Argo CD still shows the old environment's
#      app) is not ready until a sync after the push;
#   2. OutOfSync + Healthy is shown as such and is not ready until Synced;
#   3. Argo CD answering 5xx, then something that is not JSON: /readyz is
#      degraded with the reason, the environments keep their last status and
#      creates still work; once Argo CD answers again, /readyz is ready.
# shellcheck disable=SC2317  # helpers run through t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

TOKEN='argocd-api-token.paths'
FLOG=$T_TMP/argocd.jsonl
CTL=$T_TMP/argocd-control.json
: >"$FLOG"
ctl() { printf '%s\n' "$1" >"$CTL.tmp" && mv -f "$CTL.tmp" "$CTL"; }
ctl '{"apps": {}}'

# current NAME: the events of the latest environment named NAME (those
# since its last "created": the events of a name span its incarnations)
current() {
	curl -s -m 5 "$PV_URL/v1/environments/$1/events" |
		jq -c '.items | (map(.kind == "created") | rindex(true)) as $i | .[$i:]'
}
# history NAME: its events as kind:actor; readies NAME: how many are ready
history() { current "$1" | jq -r 'map("\(.kind):\(.actor)") | join(" ")'; }
readies() { current "$1" | jq 'map(select(.kind == "ready")) | length'; }
has_ready() { [ "$(readies "$1")" -ge "${2:-1}" ]; }
# polls_after T: how many times previewd read the Application list since T
polls_after() { jq -s --argjson t "$1" '[.[] | select(.path == "/api/v1/applications" and .received_at > $t)] | length' "$FLOG"; }
# settle: let previewd read the list three more times (each read applies the rule)
settle() {
	local t
	t=$(date +%s.%N)
	three_polls() { [ "$(polls_after "$t")" -ge 3 ]; }
	t_eventually 30 "previewd polled Argo CD three more times" three_polls
}
argo() { curl -s -m 5 "$PV_URL/v1/environments/$1" | jq -r "[.argocd.sync, .argocd.health] | join(\"/\")"; }

t_begin "start-up"
t_need "the fake Argo CD starts" bg_start F "$T_TMP/fake.out" python3 "$T_ROOT/tests/lib/fake_argocd.py" \
	--log "$FLOG" --control "$CTL" --token "$TOKEN" --repo-url https://git.example.com/team/gitops.git
t_need "previewd starts" pv_start "$T_TMP/data" PREVIEWD_ARGOCD_URL="http://127.0.0.1:$F_PORT" \
	PREVIEWD_ARGOCD_TOKEN="$TOKEN" PREVIEWD_ARGOCD_POLL=1s PREVIEWD_WAIT_MS=10000

# ---------------------------------------------------------------- 1. stale Healthy
t_begin "1. a Healthy app from before the push is not this environment's"
ctl '{"apps": {"reborn": {}}}'
http POST /v1/environments '{"owner":"reborn"}'
t_eq 201 "$HTTP_STATUS" "create reborn"
t_eventually 30 "the first reborn is ready once Argo CD syncs after its push" has_ready reborn
# Argo CD keeps the old app, Healthy, its last sync now fixed in the past
ctl "{\"apps\": {\"reborn\": {\"finished_at\": $(($(date +%s) - 2))}}}"
http DELETE /v1/environments/reborn
t_eq 200 "$HTTP_STATUS" "delete reborn"
sleep 1
http POST /v1/environments '{"owner":"reborn"}'
t_eq 201 "$HTTP_STATUS" "create reborn again (same name)"
settle
t_eq Synced/Healthy "$(argo reborn)" "previewd shows what Argo CD says (Synced/Healthy)"
t_eq 0 "$(readies reborn)" "but the new reborn is not ready: that sync finished before its push"
ctl '{"apps": {"reborn": {}}}'
t_eventually 30 "it is ready once Argo CD syncs after the push" has_ready reborn
t_eq "created:anonymous pushed:previewd ready:argocd" "$(history reborn)" "history of the new reborn: one ready, by argocd"

# ---------------------------------------------------------------- 2. OutOfSync
t_begin "2. OutOfSync and Healthy is not ready"
ctl '{"apps": {"drift": {"sync": "OutOfSync", "health": "Healthy"}}}'
http POST /v1/environments '{"owner":"drift"}'
t_eq 201 "$HTTP_STATUS" "create drift"
settle
t_eq OutOfSync/Healthy "$(argo drift)" "previewd shows OutOfSync/Healthy"
t_eq 0 "$(readies drift)" "no ready while OutOfSync"
ctl '{"apps": {"drift": {"sync": "Synced", "health": "Healthy"}}}'
t_eventually 30 "ready once Synced" has_ready drift

# ---------------------------------------------------------------- 3. bad answers
argocd_down_with() {
	readyz_is degraded && [ "$(jqr .checks.argocd.ok)" = false ] && [[ $(jqr .checks.argocd.error) =~ $1 ]]
}
# each case: the bad answer | what /readyz says | drift's health once Argo
# CD answers again (a new one each time, so the last known one can be told apart)
n=0 known=Healthy
for bad in '{"status": 503}|answered 503|Degraded' '{"body": "<html>upstream</html>"}|not JSON|Progressing'; do
	IFS='|' read -r ctl_body why next <<<"$bad"
	n=$((n + 1))
	t_begin "3. Argo CD answers $ctl_body"
	ctl "{\"apps\": {\"drift\": {\"health\": \"$next\"}}, ${ctl_body#\{}"
	t_eventually 30 "/readyz is degraded, checks.argocd.ok false, error says '$why'" argocd_down_with "$why"
	t_eq true "$(jqr .checks.git.ok)" "Git is fine meanwhile"
	t_eq "Synced/$known" "$(argo drift)" "drift keeps its last known status (not $next: that was never read)"
	http POST /v1/environments "{\"owner\":\"during$n\"}"
	t_eq 201 "$HTTP_STATUS" "a create still lands"
	ctl "{\"apps\": {\"drift\": {\"health\": \"$next\"}}}"
	t_eventually 30 "/readyz is ready once Argo CD answers again" readyz_is ready
	t_eq null "$(jqr .checks.argocd.error)" "and the error is gone"
	t_eq "Synced/$next" "$(argo drift)" "drift shows the new status"
	known=$next
done

t_end
