#!/usr/bin/env bash
# Sleep and wake through Git (env.h, pv_env_sleep) against a real previewd on
# a real Git server: the sleeping values committed (the overlay of
# PREVIEWD_SLEEP_VALUES, or of a base's previewd.yaml), the awake values.yaml
# restored byte for byte, a values PATCH while asleep, repeats and
# Idempotency-Keys, the reader refused, the TTL running on or paused, a
# restart while asleep, 200 sleeps landing in few commits, and the slept and
# woke notifications as a real receiver gets them.
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

t_need "the Git server starts" gitserver_start "$T_TMP/git"
# the seed chart plus a base whose chart names its replicas otherwise, with
# its own sleep overlay beside its values
SEED=$T_TMP/seed
cp -r "$T_ROOT/deploy/helm-env" "$SEED"
mkdir -p "$SEED/env/multi"
cat >"$SEED/env/multi/values.yaml" <<'YAML'
frontend:
  replicas: 2
backend:
  replicas: 3
YAML
cat >"$SEED/env/multi/previewd.yaml" <<'YAML'
# previewd's settings for environments made from this base
sleep_values:
  frontend: {replicas: 0}
  backend: {replicas: 0}
YAML
t_need "the GitOps repository is seeded" gitserver_new_repo gitops "$SEED"
G=$GITSERVER_DIR/repos/gitops.git
DECLINE=$T_TMP/decline
cat >"$G/hooks/pre-receive" <<HOOK
#!/bin/sh
cat >/dev/null
if [ -e '$DECLINE' ]; then
	echo 'branch main is frozen' >&2
	exit 1
fi
exit 0
HOOK
chmod +x "$G/hooks/pre-receive"
LOG=$T_TMP/hooks.jsonl
: >"$LOG"
t_need "the receiver starts" rcv_start R1 "$LOG"
ENVS=(PREVIEWD_GIT_URL="$GITSERVER_URL/gitops.git" PREVIEWD_GIT_USERNAME="$GITSERVER_USER"
	PREVIEWD_GIT_PASSWORD="$GITSERVER_PASS" PREVIEWD_WAIT_MS=10000 PREVIEWD_PUSH_BACKOFF_MAX_MS=300
	PREVIEWD_MIN_TTL=1 PREVIEWD_WARN_BEFORE= PREVIEWD_WEBHOOK_URL="http://127.0.0.1:$R1_PORT/hook"
	PREVIEWD_WEBHOOK_BACKOFF_MAX=1s PREVIEWD_PUBLIC_URL=http://previewd.test)
t_need "previewd starts" pv_start "$T_TMP/data" "${ENVS[@]}"
pv_token create dev --role writer
WRITER=$PV_OUT
pv_token create viewer --role reader
READER=$PV_OUT
W=(-H "Authorization: Bearer $WRITER")

# the harness's env_status and env_status_is with the writer's token
env_status() { curl -s -m 5 -H "Authorization: Bearer $WRITER" "$PV_URL/v1/environments/$1" | jq -r .status; }
env_status_is() { [ "$(env_status "$1")" = "$2" ]; }
# git_values NAME: env/NAME/values.yaml at the server's main
git_values() { g show "main:env/$1/values.yaml"; }

# ---------------------------------------------------------------- sleep
t_begin "sleep commits the overlay"
http POST /v1/environments '{"owner":"alice","name":"alpha","ttl":"2h","values":{"image":{"tag":"1.28"}}}' "${W[@]}"
t_eq 201 "$HTTP_STATUS" "alpha created and pushed"
EXPIRES=$(jqr .expires_at)
git_values alpha >"$T_TMP/awake.yaml"
t_eq 1 "$(yaml_get "$T_TMP/awake.yaml" replicaCount)" "awake: replicaCount 1 in Git"
http POST /v1/environments/alpha/sleep '' "${W[@]}"
t_eq 200 "$HTTP_STATUS" "sleep answers 200 once pushed"
t_eq sleeping "$(jqr .status)" "status sleeping"
t_eq 1 "$(jqr .values.replicaCount)" "the JSON keeps the awake values"
t_eq "$EXPIRES" "$(jqr .expires_at)" "the TTL runs on (expires_at unchanged)"
t_ok "sleep.since is set" [ "$(jqr .sleep.since)" != null ]
git_values alpha >"$T_TMP/asleep.yaml"
t_eq 0 "$(yaml_get "$T_TMP/asleep.yaml" replicaCount)" "asleep: replicaCount 0 in Git"
t_eq "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["replicaCount"]=0; print(json.dumps(d, sort_keys=True))' \
	"$(yaml_json "$T_TMP/awake.yaml")")" "$(yaml_json "$T_TMP/asleep.yaml")" "only the overlay's keys changed"
HEAD1=$(g rev-parse main)
http POST /v1/environments/alpha/sleep '{}' "${W[@]}"
t_eq "200 sleeping" "$HTTP_STATUS $(jqr .status)" "a repeat answers 200, still sleeping"
t_eq "$HEAD1" "$(g rev-parse main)" "a repeat makes no commit"
http GET /v1/environments/alpha/events "" "${W[@]}"
t_eq 1 "$(jqr '[.items[] | select(.kind == "slept")] | length')" "one slept event"

t_begin "the list filter"
http POST /v1/environments '{"owner":"bob","name":"bravo"}' "${W[@]}"
t_eq 201 "$HTTP_STATUS" "bravo created"
http GET '/v1/environments?status=sleeping' "" "${W[@]}"
t_eq alpha "$(jqr '[.items[].name] | join(",")')" "status=sleeping lists alpha only"
t_eq sleeping "$(jqr '.items[0].status')" "its status is sleeping in the list"
http GET '/v1/environments?status=active' "" "${W[@]}"
t_eq bravo "$(jqr '[.items[].name] | join(",")')" "status=active leaves the sleeping one out"

t_begin "a reader may not sleep or wake"
http POST /v1/environments/bravo/sleep '' -H "Authorization: Bearer $READER"
t_eq 403 "$HTTP_STATUS" "a reader's sleep: 403"
t_eq application/problem+json "$HTTP_CTYPE" "as problem+json"
http POST /v1/environments/alpha/wake '' -H "Authorization: Bearer $READER"
t_eq 403 "$HTTP_STATUS" "a reader's wake: 403"
t_eq sleeping "$(env_status alpha)" "alpha still sleeping"
http POST /v1/environments/nope/sleep '' "${W[@]}"
t_eq 404 "$HTTP_STATUS" "sleeping an unknown environment: 404"
http GET /v1/environments/alpha/sleep "" "${W[@]}"
t_eq 405 "$HTTP_STATUS" "GET .../sleep: 405"

# ---------------------------------------------------------------- PATCH while asleep
t_begin "a values PATCH while asleep changes the awake values and stays asleep"
http PATCH /v1/environments/alpha '{"values":{"image":{"tag":"1.29"}}}' "${W[@]}"
t_eq 200 "$HTTP_STATUS" "PATCH answers 200"
t_eq "sleeping 1.29 1" "$(jqr .status) $(jqr .values.image.tag) $(jqr .values.replicaCount)" \
	"still sleeping; the awake values carry the new tag"
git_values alpha >"$T_TMP/asleep2.yaml"
t_eq "0 1.29" "$(yaml_get "$T_TMP/asleep2.yaml" replicaCount) $(yaml_get "$T_TMP/asleep2.yaml" image tag)" \
	"Git: asleep with the new tag"

# ---------------------------------------------------------------- wake
t_begin "wake restores the awake values byte for byte"
http POST /v1/environments/alpha/wake '' "${W[@]}"
t_eq "200 active" "$HTTP_STATUS $(jqr .status)" "wake answers 200, active"
t_eq null "$(jqr .sleep)" "no sleep member when awake"
git_values alpha >"$T_TMP/woke.yaml"
t_eq "1 1.29" "$(yaml_get "$T_TMP/woke.yaml" replicaCount) $(yaml_get "$T_TMP/woke.yaml" image tag)" \
	"Git: awake again, with the patched tag"
# back to the first tag: the file is then the very one of before the sleep
http PATCH /v1/environments/alpha '{"values":{"image":{"tag":"1.28"}}}' "${W[@]}"
t_ok "the values.yaml is byte for byte the one before the sleep" cmp -s "$T_TMP/awake.yaml" <(git_values alpha)
http POST /v1/environments/alpha/sleep '' "${W[@]}"
http POST /v1/environments/alpha/wake '' "${W[@]}"
t_eq 200 "$HTTP_STATUS" "a second sleep and wake"
t_ok "after sleep and wake values.yaml is byte for byte the awake one (cmp)" cmp "$T_TMP/awake.yaml" <(git_values alpha)

t_begin "Idempotency-Key"
http POST /v1/environments/bravo/sleep '' "${W[@]}" -H 'Idempotency-Key: k-sleep-1'
t_eq "200 sleeping" "$HTTP_STATUS $(jqr .status)" "bravo sleeps"
http POST /v1/environments/bravo/wake '' "${W[@]}"
t_eq active "$(jqr .status)" "bravo woken without a key"
http POST /v1/environments/bravo/sleep '' "${W[@]}" -H 'Idempotency-Key: k-sleep-1'
t_eq 200 "$HTTP_STATUS" "the retry with the same key answers 200"
t_eq active "$(env_status bravo)" "the retry is answered from the key: bravo is not put to sleep again"
http GET /v1/environments/bravo/events "" "${W[@]}"
t_eq 1 "$(jqr '[.items[] | select(.kind == "slept")] | length')" "one slept event for bravo"

# ---------------------------------------------------------------- a base's overlay
t_begin "a base's previewd.yaml overlay"
http POST /v1/environments '{"owner":"carol","name":"mone","base":"multi"}' "${W[@]}"
t_eq 201 "$HTTP_STATUS" "mone created from base multi"
http POST /v1/environments/mone/sleep '' "${W[@]}"
t_eq 200 "$HTTP_STATUS" "mone sleeps"
git_values mone >"$T_TMP/mone.yaml"
t_eq '{"backend": {"replicas": 0}, "frontend": {"replicas": 0}}' "$(yaml_json "$T_TMP/mone.yaml")" \
	"Git: the base's overlay, not the default (no replicaCount added)"

# ---------------------------------------------------------------- TTL runs on
t_begin "the TTL keeps running while asleep"
http POST /v1/environments '{"owner":"dan","name":"short","ttl":3}' "${W[@]}"
t_eq 201 "$HTTP_STATUS" "short (ttl 3 s) created"
http POST /v1/environments/short/sleep '' "${W[@]}"
t_eq sleeping "$(jqr .status)" "short sleeps"
t_eventually 20 "the reaper removes the sleeping environment at its expiry" env_status_is short deleted
t_not "its folder is gone from Git" g cat-file -e main:env/short

# ---------------------------------------------------------------- notifications
t_begin "slept and woke notifications"
t_eventually 20 "the outbox drains" outbox_drained "$PV_DATA/previewd.db"
hooklog previewd none "$LOG" >"$T_TMP/hooks.json"
t_eq slept "$(jq -r '[.[] | select(.body.event == "slept" and .body.environment.name == "alpha")][0].body.event' "$T_TMP/hooks.json")" \
	"a slept notification about alpha"
t_eq woke "$(jq -r '[.[] | select(.body.event == "woke" and .body.environment.name == "alpha")][0].event' "$T_TMP/hooks.json")" \
	"a woke notification (X-Previewd-Event woke)"
t_match 'wake it with: curl -X POST http://previewd.test/v1/environments/alpha/wake' \
	"$(jq -r '[.[] | select(.body.event == "slept" and .body.environment.name == "alpha")][0].body.text' "$T_TMP/hooks.json")" \
	"the slept text says how to wake it"
t_match 'woken by dev' \
	"$(jq -r '[.[] | select(.body.event == "woke" and .body.environment.name == "alpha")][0].body.text' "$T_TMP/hooks.json")" \
	"the woke text names who woke it"

# ---------------------------------------------------------------- restart, paused TTL
t_begin "a restart while asleep keeps it asleep; PREVIEWD_SLEEP_PAUSES_TTL"
http POST /v1/environments/alpha/sleep '' "${W[@]}"
t_eq sleeping "$(jqr .status)" "alpha asleep before the restart"
pv_stop
PV_WANT_PORT=$PV_PORT t_need "previewd restarts with a paused TTL" pv_start "$T_TMP/data" "${ENVS[@]}" PREVIEWD_SLEEP_PAUSES_TTL=true
http GET /v1/environments/alpha "" "${W[@]}"
t_eq sleeping "$(jqr .status)" "alpha is still sleeping after the restart"
t_eq 0 "$(git_values alpha | yaml_get - replicaCount)" "Git still holds its sleeping values"
http POST /v1/environments '{"owner":"erin","name":"paused","ttl":3}' "${W[@]}"
t_eq 201 "$HTTP_STATUS" "paused (ttl 3 s) created"
http POST /v1/environments/paused/sleep '' "${W[@]}"
t_eq "sleeping null" "$(jqr .status) $(jqr .expires_at)" "asleep, no expiry while the TTL stands still"
t_ok "the seconds left are kept" [ "$(jqr .sleep.ttl_left_seconds)" -ge 1 ] 2>/dev/null
sleep 4
t_eq sleeping "$(env_status paused)" "past its old expiry it is still there, asleep"
http POST /v1/environments/paused/wake '' "${W[@]}"
t_eq active "$(jqr .status)" "woken"
t_ok "the expiry resumes in the future" [ "$(iso2s "$(jqr .expires_at)")" -gt "$(date +%s)" ]
t_eventually 20 "then the reaper removes it" env_status_is paused deleted

# ---------------------------------------------------------------- the other doors
t_begin "sleep and wake from the CLI and from chat"
C=(PREVIEWD_URL="$PV_URL" PREVIEWD_TOKEN="$WRITER")
pv_cli "${C[@]}" env sleep bravo
t_eq sleeping "$(env_status bravo)" "previewd env sleep bravo: sleeping"
t_eq 0 "$(git_values bravo | yaml_get - replicaCount)" "and asleep in Git"
pv_cli "${C[@]}" env wake bravo -o json
t_eq active "$(jq_of "$PV_OUT" .status)" "previewd env wake bravo -o json: the API's answer, active"
pv_cli -x 2 "${C[@]}" env sleep
http POST /v1/chatops '{"user":"bob","text":"sleep bravo"}' "${W[@]}"
t_eq 200 "$HTTP_STATUS" "chat: sleep bravo answers"
t_match 'asleep.*wake bravo' "$(jqr .text)" "chat: the reply says how to wake it"
t_eq sleeping "$(env_status bravo)" "chat: bravo sleeping"
http POST /v1/chatops '{"user":"bob","text":"list"}' "${W[@]}"
t_match 'bravo [^ ]+ \(sleeping' "$(jqr .text)" "chat: the list shows it sleeping"
http POST /v1/chatops '{"user":"bob","text":"wake bravo"}' "${W[@]}"
t_match 'awake' "$(jqr .text)" "chat: wake bravo"
t_eq active "$(env_status bravo)" "chat: bravo awake"

# ---------------------------------------------------------------- many at once
t_begin "200 sleeps land in few commits"
for i in $(seq 1 200); do
	printf '{"owner":"many","name":"many-%s"}\n' "$i"
done >"$T_TMP/many.jsonl"
while read -r body; do
	curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -H 'Prefer: respond-async' \
		-H "Authorization: Bearer $WRITER" --data-binary "$body" "$PV_URL/v1/environments"
done <"$T_TMP/many.jsonl"
all_pushed() { [ "$(sql "select count(*) from envs where name like 'many-%' and status = 'active' and gen = pushed_gen")" = 200 ]; }
t_eventually 60 "the 200 environments are in Git" all_pushed
BEFORE=$(g rev-parse main)
# Git declines pushes while the sleeps come in, so the writer's next round
# after the freeze takes all of them, as it would 200 sleeps of one boundary
touch "$DECLINE"
for i in $(seq 1 200); do
	printf 'many-%s\n' "$i"
done | xargs -P 8 -I{} curl -s -o /dev/null -w '%{http_code}\n' -X POST -H 'Prefer: respond-async' \
	-H "Authorization: Bearer $WRITER" "$PV_URL/v1/environments/{}/sleep" >"$T_TMP/codes"
t_eq 200 "$(grep -c '^202$\|^200$' "$T_TMP/codes")" "every sleep was taken"
rm -f "$DECLINE"
many_asleep() { [ "$(sql "select count(*) from envs where name like 'many-%' and sleep_values_json is not null and gen = pushed_gen")" = 200 ]; }
t_eventually 60 "the 200 sleeps are in Git" many_asleep
COMMITS=$(g rev-list --count "$BEFORE..main")
t_ok "200 sleeps in at most 3 commits (got $COMMITS)" [ "$COMMITS" -ge 1 -a "$COMMITS" -le 3 ]
t_eq 0 "$(git_values many-137 | yaml_get - replicaCount)" "many-137 is asleep in Git"
http GET '/v1/environments?status=sleeping&owner=many&limit=500' "" "${W[@]}"
t_eq 200 "$(jqr '.items | length')" "the list shows 200 sleeping"

t_end
