#!/usr/bin/env bash
# ctest-labels: concurrent
# The core against the embedded default: previewd creates and seeds its own
# bare GitOps repository in the data dir and pushes to it over file://.
# Checks the API end to end and the Git side with the git CLI.
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

DATA=$T_TMP/data
REMOTE=$DATA/gitops.git
G=$REMOTE # g and head_commit (the harness) read it
# the file at the branch tip, or nothing
show() { g show "main:$1" 2>/dev/null; }
# ---------------------------------------------------------------- start-up
t_begin "first start creates and seeds the default repository"
# debug: the writer's backoff is logged at that level (rejection_path)
t_need "previewd starts" pv_start "$DATA" PREVIEWD_WAIT_MS=10000 PREVIEWD_REPACK_EVERY=8 PREVIEWD_LOG_LEVEL=debug
t_ok "gitops.git exists in the data dir" test -d "$REMOTE"
t_ok "previewd.db exists in the data dir" test -f "$DATA/previewd.db"
for f in Chart.yaml applicationset.yaml templates/frontend.yaml templates/ingress.yaml \
	env/dev/values.yaml env/test/values.yaml env/prod/values.yaml; do
	t_eq "$(cat "$T_ROOT/deploy/helm-env/$f")" "$(show "$f")" "seeded $f is the example chart's"
done
SEED=$(head_commit)
DEV_BEFORE=$(g rev-parse main:env/dev)
PROD_BEFORE=$(g rev-parse main:env/prod)
t_match 'env/\*/values.yaml' "$(show applicationset.yaml)" "the ApplicationSet's files glob matches env/*/values.yaml"

http GET /readyz
t_eq 200 "$HTTP_STATUS" "/readyz answers 200"
t_eventually 10 "/readyz reports ready once the remote was fetched" \
	bash -c "curl -s $PV_URL/readyz | jq -e '.status == \"ready\" and .checks.git.ok and .checks.db.ok' >/dev/null"

# ---------------------------------------------------------------- create
t_begin "create"
T_BEFORE=$(date +%s)
http POST /v1/environments '{"owner":"alice","ttl":"2h","values":{"image":{"tag":"pr-7"},"extra":{"motto":"yes"}}}'
T_AFTER=$(date +%s)
t_eq 201 "$HTTP_STATUS" "create answers 201 once pushed"
t_eq /v1/environments/alice "$(http_header Location)" "Location names the environment"
t_match '^application/json' "$HTTP_CTYPE" "JSON content type"
t_eq active "$(jqr .status)" "status active"
t_eq http://alice.env.my "$(jqr .url)" "url is http://<name>.<domain>"
t_eq alice "$(jqr .namespace)" "namespace is the name"
t_eq false "$(jqr .git.pending)" "nothing pending"
t_eq "$(head_commit)" "$(jqr .git.commit)" "git.commit is the branch head"
t_eq env/alice "$(jqr .git.path)" "git.path"
got=$(iso2s "$(jqr .expires_at)")
t_ok "expires_at is 2h after the request ($((T_BEFORE + 7200)) <= $got <= $((T_AFTER + 7200)))" \
	test "$got" -ge $((T_BEFORE + 7200)) -a "$got" -le $((T_AFTER + 7200))
t_eq "previewd: create alice" "$(g log -1 --format=%s main)" "commit subject"
t_eq "previewd" "$(g log -1 --format=%an main)" "commit author"
t_match 'requested by anonymous' "$(g log -1 --format=%b main)" "commit body names the requester"
yaml=$(show env/alice/values.yaml)
t_match '^# Managed by previewd' "$yaml" "values.yaml starts with the managed-by comment"
t_eq pr-7 "$(printf '%s' "$yaml" | yaml_get - image tag)" \
	"values.yaml carries the requested image tag"
t_eq nginx "$(printf '%s' "$yaml" | yaml_get - image repository)" \
	"values.yaml keeps the dev base's other keys"
t_eq "True" "$(printf '%s' "$yaml" | yaml_get - featureFlags enabled)" \
	"the base's YAML 1.1 'enabled: yes' stays a boolean"
t_eq "yes" "$(printf '%s' "$yaml" | yaml_get - extra motto)" \
	"a JSON string \"yes\" stays a string in YAML"
meta=$(show env/alice/previewd.json)
t_eq previewd "$(jq_of "$meta" .managed_by)" "previewd.json marks the folder as previewd's"
t_eq alice "$(jq_of "$meta" .owner)" "previewd.json owner"
t_eq dev "$(jq_of "$meta" .base)" "previewd.json base"
t_eq "$(jqr .expires_at)" "$(jq_of "$meta" .expires_at)" "previewd.json expiry matches the API"
t_eq "env/alice/previewd.json
env/alice/values.yaml" "$(g diff --name-only "$SEED" main)" "the commit touches only env/alice/"

http POST /v1/environments '{"owner":"alice"}'
t_eq 409 "$HTTP_STATUS" "a second create of a live name is 409"
t_match '^application/problem\+json' "$HTTP_CTYPE" "problem+json"
t_eq name "$(jqr .field)" "the problem names the field"

t_begin "create from a base without a trailing newline"
http POST /v1/environments '{"owner":"bob","base":"prod","values":{"replicaCount":2}}'
t_eq 201 "$HTTP_STATUS" "create with base prod"
t_eq 2 "$(show env/bob/values.yaml | yaml_get - replicaCount)" \
	"values merged over prod's"

# ---------------------------------------------------------------- foreign folders, bad names
t_begin "people's folders and path tricks are never touched"
before=$(head_commit)
for body in '{"owner":"dev"}' '{"owner":"alice","name":"prod"}' '{"owner":"alice","name":"test"}'; do
	http POST /v1/environments "$body"
	t_eq 409 "$HTTP_STATUS" "409 for $body"
done
for body in '{"owner":"alice","name":"../x"}' '{"owner":"alice","name":"a/b"}' '{"owner":"alice","name":".git"}' \
	'{"owner":"alice","name":"%2e%2e"}' '{"owner":"alice","name":"kube-system"}' '{"owner":"argocd"}'; do
	http POST /v1/environments "$body"
	t_eq 422 "$HTTP_STATUS" "422 for $body"
done
for path in '/v1/environments/..%2f..%2fetc' '/v1/environments/%2e%2e' '/v1/environments/a%2Fb' \
	'/v1/environments/.git' '/v1/environments/dev%00'; do
	http DELETE "$path"
	t_eq 404 "$HTTP_STATUS" "DELETE $path is 404"
	http PATCH "$path" '{"ttl":"1h"}'
	t_eq 404 "$HTTP_STATUS" "PATCH $path is 404"
done
http DELETE /v1/environments/dev
t_eq 404 "$HTTP_STATUS" "DELETE of a people's folder is 404 (no such environment)"
sleep 0.3
t_eq "$before" "$(head_commit)" "nothing was pushed for any of them"
t_eq "$DEV_BEFORE" "$(g rev-parse main:env/dev)" "env/dev unchanged"
t_eq "$PROD_BEFORE" "$(g rev-parse main:env/prod)" "env/prod unchanged"

# ---------------------------------------------------------------- someone else's commit
t_begin "a commit pushed by someone else between two previewd commits survives"
other=$(t_mktemp other)
git clone -q "$REMOTE" "$other/w"
(cd "$other/w" && echo "notes" >NOTES.md && mkdir -p env/qa && printf 'replicaCount: 1\n' >env/qa/values.yaml &&
	git add . && git -c user.name=human -c user.email=h@x commit -qm "add qa env by hand" && git push -q origin HEAD:main)
theirs=$(head_commit)
REJ0=$(metric previewd_git_push_rejections_total) LOG0=$(($(wc -l <"$PV_LOG") + 1))
http PATCH /v1/environments/alice '{"values":{"replicaCount":3}}'
t_eq 200 "$HTTP_STATUS" "PATCH values answers 200 once pushed"
# previewd had not fetched their commit: its push must have been refused as
# non-fast-forward and rebuilt at once on theirs, not failed and retried later
t_eq $((${REJ0:-0} + 1)) "$(metric previewd_git_push_rejections_total)" \
	"previewd_git_push_rejections_total counted the one rejected push"
t_eq "rejected, fetching and rebuilding
pushed" "$(rejection_path "$PV_LOG" "$LOG0")" "the log shows the rejection, the fetch and rebuild, then the push: no backoff"
t_eq 3 "$(jqr .values.replicaCount)" "values merged"
t_ok "the other commit is an ancestor of the new head" g merge-base --is-ancestor "$theirs" main
t_eq notes "$(show NOTES.md)" "their file is intact"
t_eq "replicaCount: 1" "$(show env/qa/values.yaml)" "their env folder is intact"
t_eq 3 "$(show env/alice/values.yaml | yaml_get - replicaCount)" \
	"alice's values updated"
t_eq "previewd: update alice" "$(g log -1 --format=%s main)" "update commit subject"
http POST /v1/environments '{"owner":"alice","name":"qa"}'
t_eq 409 "$HTTP_STATUS" "the hand-made qa folder is foreign: 409"

# ---------------------------------------------------------------- extend
t_begin "extend"
T_BEFORE=$(date +%s)
http PATCH /v1/environments/alice '{"ttl":"3d"}'
T_AFTER=$(date +%s)
t_eq 200 "$HTTP_STATUS" "extend answers 200"
got=$(iso2s "$(jqr .expires_at)")
t_ok "expires_at is 3d after the request ($((T_BEFORE + 3 * 86400)) <= $got <= $((T_AFTER + 3 * 86400)))" \
	test "$got" -ge $((T_BEFORE + 3 * 86400)) -a "$got" -le $((T_AFTER + 3 * 86400))
t_eq "$(jqr .expires_at)" "$(show env/alice/previewd.json | jq -r .expires_at)" "previewd.json carries the new expiry"
http PATCH /v1/environments/alice '{"ttl":"30d"}'
t_eq 422 "$HTTP_STATUS" "beyond the maximum TTL is 422"
t_match 'maximum' "$(jqr .detail)" "the detail names the maximum"

# ---------------------------------------------------------------- list
t_begin "list"
http GET '/v1/environments?owner=alice'
t_eq 200 "$HTTP_STATUS" "list answers 200"
t_eq alice "$(jqr '.items | map(.name) | join(",")')" "filter by owner"
http GET '/v1/environments?limit=1'
t_eq 1 "$(jqr '.items | length')" "limit"
cursor=$(jqr .next_cursor)
http GET "/v1/environments?limit=1&cursor=$cursor"
t_eq 1 "$(jqr '.items | length')" "the next page"
t_eq alice "$(jqr '.items[0].name')" "pages are newest first (bob, then alice)"
http GET '/v1/environments?status=bogus'
t_eq 422 "$HTTP_STATUS" "unknown status filter is 422"

# ---------------------------------------------------------------- 50 concurrent creates
t_begin "50 concurrent creates are coalesced into fewer commits"
before=$(head_commit)
pids=()
for i in $(seq -w 0 49); do
	curl -s -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' -H 'Prefer: wait=60' \
		-d "{\"owner\":\"load$i\"}" "$PV_URL/v1/environments" >"$T_TMP/code.$i" &
	pids+=($!)
done
wait "${pids[@]}"
t_eq 50 "$(cat "$T_TMP"/code.* | grep -c '^201$')" "all 50 creates answered 201"
n=$(g ls-tree --name-only main:env | grep -c '^load')
t_eq 50 "$n" "all 50 folders are in Git"
commits=$(g rev-list --count "$before..main")
echo "# 50 concurrent creates landed in $commits commits"
t_ok "fewer than 50 commits ($commits)" test "$commits" -lt 50

# ---------------------------------------------------------------- delete
t_begin "delete"
http DELETE /v1/environments/bob
t_eq 200 "$HTTP_STATUS" "delete answers 200 once pushed"
t_eq deleted "$(jqr .status)" "status deleted"
t_not "the folder is gone from Git" g rev-parse --verify -q main:env/bob
t_eq "previewd: delete bob" "$(g log -1 --format=%s main)" "delete commit subject"
http GET /v1/environments/bob
t_eq deleted "$(jqr .status)" "the record stays for history"
http DELETE /v1/environments/bob
t_eq 404 "$HTTP_STATUS" "deleting again is 404"
http POST /v1/environments '{"owner":"bob"}'
t_eq 201 "$HTTP_STATUS" "the name can be used again"

# ---------------------------------------------------------------- crash with pending work
t_begin "acknowledged while Git is away, then kill -9: lands after restart"
mv "$REMOTE" "$REMOTE.away"
http POST /v1/environments '{"owner":"carol"}' -H 'Prefer: wait=1'
t_eq 202 "$HTTP_STATUS" "accepted as pending while Git is unreachable"
t_eq pending "$(jqr .status)" "status pending"
t_eq true "$(jqr .git.pending)" "git.pending"
t_eventually 10 "/readyz says degraded" \
	bash -c "curl -s $PV_URL/readyz | jq -e '.status == \"degraded\" and (.checks.git.error | length > 0)' >/dev/null"
pv_kill9
mv "$REMOTE.away" "$REMOTE"
pv_start "$DATA" PREVIEWD_WAIT_MS=10000 PREVIEWD_REPACK_EVERY=8 || t_ok "previewd restarts" false
t_eventually 20 "carol reaches Git after the restart" g rev-parse --verify -q main:env/carol/values.yaml
http GET /v1/environments/carol
t_eq active "$(jqr .status)" "carol is active"
t_eq "ok" "$(sqlite3 "$DATA/previewd.db" 'PRAGMA integrity_check')" "SQLite integrity_check"
t_ok "git fsck of the remote" g fsck --no-progress

# ---------------------------------------------------------------- bounded clone
t_begin "the local clone is repacked and stays bounded"
t_match 'repacked the local clone' "$(cat "$T_TMP"/previewd.*.log)" "previewd repacked its clone"
loose=$(git --git-dir "$DATA/clone.git" count-objects -v | awk '/^count:/ {print $2}')
packs=$(git --git-dir "$DATA/clone.git" count-objects -v | awk '/^packs:/ {print $2}')
echo "# clone.git: $loose loose objects, $packs packs"
# at most PREVIEWD_REPACK_EVERY commits' worth of loose objects (a handful each) plus fetches
t_ok "few loose objects ($loose)" test "$loose" -lt 80
t_ok "few packs ($packs)" test "$packs" -le 4

# ---------------------------------------------------------------- metrics, shutdown
t_begin "metrics and a clean shutdown"
# a push by this process (carol may have been pushed by the one before,
# if its push won the race with the repository being moved away)
http POST /v1/environments '{"owner":"dave"}'
t_eq 201 "$HTTP_STATUS" "a create after the restart"
http GET /metrics
t_eq 200 "$HTTP_STATUS" "/metrics answers 200"
t_match '^text/plain' "$HTTP_CTYPE" "Prometheus text"
t_match 'previewd_environments\{status="active"\} [1-9]' "$HTTP_BODY" "environments by status"
t_match 'previewd_git_pushes_total [1-9]' "$HTTP_BODY" "push counter"
t_match 'previewd_git_push_duration_seconds_count [1-9]' "$HTTP_BODY" "push duration histogram"
t_match 'previewd_reaper_passes_total [1-9]' "$HTTP_BODY" "reaper counters"
pv_stop
t_eq 0 "$PV_EXIT" "SIGTERM stops previewd with status 0"
# New objects wait in memory and are written as a pack every few rounds and
# at shutdown; after the kill -9 above, the restart fetched what was lost.
# Once stopped, the clone is whole.
t_ok "git fsck of previewd's clone after the stop" git --git-dir "$DATA/clone.git" fsck --no-progress
t_eq "$(g rev-parse main)" "$(git --git-dir "$DATA/clone.git" rev-parse refs/remotes/origin/main)" \
    "the clone's tracking ref is the remote's head"
t_end
