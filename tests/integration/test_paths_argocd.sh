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
#      creates still work; once Argo CD answers again, /readyz is ready;
#   4. the watch stream down: the poll still makes an environment ready;
#   5. a second previewd polling only every hour, before a fake Argo CD
#      holding 5,000 Applications of other teams: it asks with the label
#      selector and the fields it reads (list and stream), the others are
#      never sent; an Application Synced to an older commit is not ready;
#      Synced to the pushed commit, or to a later push of previewd's, and
#      Healthy is ready - through the stream alone (one read of the list
#      in the whole run).
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

# ---------------------------------------------------------------- 4. the stream down
t_begin "4. the watch stream down: the poll makes it ready"
ctl '{"stream": "down", "apps": {"fallback": {"health": "Progressing"}}}'
http POST /v1/environments '{"owner":"fallback"}'
t_eq 201 "$HTTP_STATUS" "create fallback"
stream_refused() { jq -se '[.[] | select(.path == "/api/v1/stream/applications" and .status == 503)] | length > 0' "$FLOG" >/dev/null; }
t_eventually 30 "previewd tries the stream again and Argo CD refuses it (503)" stream_refused
t_eventually 30 "the poll shows fallback Progressing" bash -c "[ \"\$(curl -s -m 5 '$PV_URL/v1/environments/fallback' | jq -r .argocd.health)\" = Progressing ]"
ctl '{"stream": "down", "apps": {"fallback": {}}}'
t_eventually 30 "fallback is ready once Argo CD says Healthy, by the poll" has_ready fallback
t_eq 0 "$(jq -s '[.[] | select(.stream_event and .name == "fallback")] | length' "$FLOG")" \
	"no stream event for fallback was ever sent: only the poll can have made it ready"

# ---------------------------------------------------------------- 5. selector, fields, revisions, stream
t_begin "5. 5,000 foreign Applications, the poll every hour: selector, fields, the revision rule, the stream"
BLOG=$T_TMP/argocd-b.jsonl BCTL=$T_TMP/argocd-b-control.json
: >"$BLOG"
bctl() { printf '%s\n' "$1" >"$BCTL.tmp" && mv -f "$BCTL.tmp" "$BCTL"; }
bctl '{"instance": "inst-b", "apps": {}}'
t_need "the second fake Argo CD starts with 5,000 foreign Applications" bg_start FB "$T_TMP/fake-b.out" \
	python3 "$T_ROOT/tests/lib/fake_argocd.py" --log "$BLOG" --control "$BCTL" --token "$TOKEN" \
	--repo-url https://git.example.com/team/gitops.git --foreign 5000
SEL='app.kubernetes.io/managed-by=previewd,previewd.io/instance=inst-b'
t_need "previewd B starts (poll every hour, webhooks to the fake)" pv_start "$T_TMP/data-b" \
	PREVIEWD_ARGOCD_URL="http://127.0.0.1:$FB_PORT" PREVIEWD_ARGOCD_TOKEN="$TOKEN" PREVIEWD_ARGOCD_POLL=1h \
	PREVIEWD_ARGOCD_WEBHOOK_URL="http://127.0.0.1:$FB_PORT/api/webhook" PREVIEWD_ARGOCD_SELECTOR="$SEL" \
	PREVIEWD_WAIT_MS=10000
B_URL=$PV_URL B_GIT=$T_TMP/data-b/gitops.git
reqs() { jq -sc --arg p "$1" '[.[] | select(.method == "GET" and .path == $p)]' "$BLOG"; }
lists() { reqs /api/v1/applications | jq length; }
streams_open() { [ "$(reqs /api/v1/stream/applications | jq length)" -ge 1 ]; }
t_eventually 10 "B opens the watch stream" streams_open
L=$(reqs /api/v1/applications | jq -c '.[0]') S=$(reqs /api/v1/stream/applications | jq -c '.[0]')
t_eq "$SEL" "$(jq_of "$L" .query.selector)" "the list asks with PREVIEWD_ARGOCD_SELECTOR"
t_eq "$SEL" "$(jq_of "$S" .query.selector)" "the stream too"
for f in metadata.resourceVersion items.metadata.name items.status.sync.status items.status.sync.revision \
	items.status.health.status items.status.operationState.finishedAt; do
	t_eq true "$(jq_of "$L" --arg f "$f" '.query.fields | split(",") | index($f) != null')" "the list asks for $f"
done
t_eq "" "$(jq_of "$L" '.query.fields | split(",") | map(select(startswith("items.spec") or . == "items.status" or . == "items")) | join(",")')" \
	"and not for the spec or the whole status"
for f in result.type result.application.metadata.name result.application.status.sync.revision \
	result.application.status.health.status; do
	t_eq true "$(jq_of "$S" --arg f "$f" '.query.fields | split(",") | index($f) != null')" "the stream asks for $f"
done
t_ok "the stream starts after the list (resourceVersion)" test -n "$(jq_of "$S" '.query.resourceVersion // ""')"
t_eq 0 "$(jq_of "$L" .items)" "none of the 5,000 foreign Applications was sent"
t_ok "the list's answer is small ($(jq_of "$L" .bytes) bytes)" test "$(jq_of "$L" .bytes)" -lt 1000

bargo() { curl -s -m 5 "$B_URL/v1/environments/$1" | jq -r '[.argocd.sync, .argocd.health] | join("/")'; }
bargo_is() { [ "$(bargo "$1")" = "$2" ]; }
breadies() { curl -s -m 5 "$B_URL/v1/environments/$1/events" | jq '[.items[] | select(.kind == "ready")] | length'; }
bready() { [ "$(breadies "$1")" -ge 1 ]; }
brev() { sqlite3 "$T_TMP/data-b/previewd.db" "SELECT argocd_revision FROM envs WHERE name = '$1' ORDER BY id DESC LIMIT 1"; }
OLD=$(git --git-dir "$B_GIT" rev-parse main)
bctl "{\"instance\": \"inst-b\", \"apps\": {\"rev\": {\"revision\": \"$OLD\"}}}"
http POST "$B_URL/v1/environments" '{"owner":"rev"}'
t_eq 201 "$HTTP_STATUS" "create rev on B"
C1=$(git --git-dir "$B_GIT" rev-parse main)
t_eventually 10 "the stream shows rev Synced/Healthy" bargo_is rev Synced/Healthy
t_eq "$OLD" "$(brev rev)" "at the older commit (the one before rev's push)"
t_eq 0 "$(breadies rev)" "Synced to an older commit is not ready"
bctl '{"instance": "inst-b", "apps": {"rev": {}}}'
t_eventually 10 "Synced to the pushed commit and Healthy: ready" bready rev
t_eq "$C1" "$(brev rev)" "at the pushed commit"
t_eq 1 "$(lists)" "through the stream alone: B read the list once, at start"

bctl '{"instance": "inst-b", "apps": {"rev": {}, "late": {"health": "Progressing"}}}'
http POST "$B_URL/v1/environments" '{"owner":"late"}'
t_eq 201 "$HTTP_STATUS" "create late on B"
C2=$(git --git-dir "$B_GIT" rev-parse main)
t_eventually 10 "late is Synced/Progressing" bargo_is late Synced/Progressing
http POST "$B_URL/v1/environments" '{"owner":"later"}'
C3=$(git --git-dir "$B_GIT" rev-parse main)
bctl "{\"instance\": \"inst-b\", \"apps\": {\"rev\": {}, \"late\": {\"revision\": \"$C3\"}}}"
t_eventually 10 "late, Synced to a later push of previewd's (later's) and Healthy, is ready" bready late
t_ok "late's own commit is not that one" test "$C2" != "$C3"
t_eq "$C3" "$(brev late)" "argocd_revision is the later commit"
t_eq 1 "$(lists)" "still one read of the list"
t_eq 0 "$(jq -s '[.[] | select(.stream_event and (.name | test("-svc-")))] | length' "$BLOG")" \
	"no foreign Application was ever streamed"

t_end
