#!/usr/bin/env bash
# ctest-labels: integration
# test_stream_git_error.sh — issue 14: a Git error of an environment is an
# event in GET /v1/environments/stream and in its history, against the real
# binary and a real Git server (tests/lib/gitserver) whose pre-receive hook
# declines with the words in a file:
#
#   1. a declined push: the stream sends one `git_error` event for the
#      environment with the hook's words in data.detail.error, however many
#      times the writer retries (the history holds one row too); the
#      environment's events list it
#   2. another error's words while still declined: one more git_error
#   3. the hook gone: the push lands, the stream sends `git_recovered`
#      (detail.error is the last error) and then the push's own event; the
#      record's git.error is empty again
#
#   bash tests/integration/test_stream_git_error.sh   (KEEP_TMP=1 keeps the logs)
#
# shellcheck disable=SC2317  # helpers below are run through t_ok/t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

for tool in jq sqlite3 curl python3; do
	command -v "$tool" >/dev/null || t_bail "$tool not installed (scripts/deps.sh test installs it)"
done

t_need "the Git server starts" gitserver_start "$T_TMP/git"
t_need "the GitOps repository is seeded" gitserver_new_repo gitops "$T_ROOT/deploy/helm-env"
G=$GITSERVER_DIR/repos/gitops.git
HOOKLOG=$T_TMP/hook.log
DECLINE=$T_TMP/decline
: >"$HOOKLOG"
cat >"$G/hooks/pre-receive" <<HOOK
#!/bin/sh
cat >/dev/null
echo push >>'$HOOKLOG'
if [ -e '$DECLINE' ]; then
	cat '$DECLINE' >&2
	exit 1
fi
exit 0
HOOK
chmod +x "$G/hooks/pre-receive"
pushes() { wc -l <"$HOOKLOG"; }

STREAM=$T_TMP/stream.txt
# events KIND NAME: the stream's events of KIND about NAME, one JSON line
# each ({"id", "data"}), from what curl has written so far
events() {
	python3 - "$STREAM" "$1" "$2" <<'PY'
import json, sys
path, kind, name = sys.argv[1:]
text = open(path, encoding="utf-8", errors="replace").read()
for block in text.split("\n\n")[:-1]:  # the last one may be half written
    ev = {}
    for line in block.split("\n"):
        k, _, v = line.partition(": ")
        ev[k] = v
    if ev.get("event") != kind or "data" not in ev:
        continue
    data = json.loads(ev["data"])
    if data.get("name") == name:
        print(json.dumps({"id": int(ev["id"]), "data": data}))
PY
}
count() { events "$1" "$2" | wc -l; }
has() { [ "$(count "$1" "$2")" -ge "${3:-1}" ]; }

t_need "previewd starts" pv_start "$T_TMP/data" PREVIEWD_GIT_URL="$GITSERVER_URL/gitops.git" \
	PREVIEWD_GIT_USERNAME="$GITSERVER_USER" PREVIEWD_GIT_PASSWORD="$GITSERVER_PASS" PREVIEWD_PUSH_BACKOFF_MAX_MS=300
curl -sN "$PV_URL/v1/environments/stream" >"$STREAM" 2>/dev/null &
T_BG_PIDS+=("$!")
stream_open() { [ -s "$STREAM" ] || http GET /v1/environments/stream "" -m 1 -N; }
t_eventually 10 "the stream is open" stream_open

# ------------------------------------------------------------------ 1. declined
t_begin "1. a declined push is one git_error event"
echo 'branch main is protected' >"$DECLINE"
http POST /v1/environments '{"owner":"bob"}' -H 'Prefer: respond-async'
t_eq 202 "$HTTP_STATUS" "bob is accepted"
t_eventually 20 "the stream sends a git_error event for bob" has git_error bob
e=$(events git_error bob | head -n 1)
t_match 'branch main is protected' "$(jq_of "$e" .data.detail.error)" "its detail.error has the hook's words"
t_match 'branch main is protected' "$(jq_of "$e" .data.git.error)" "and so has the environment's git.error"
t_eq pending "$(jq_of "$e" .data.status)" "bob is pending"
n0=$(pushes)
more_pushes() { [ "$(pushes)" -ge $((n0 + 4)) ]; }
t_eventually 30 "the writer retries (4 more declined pushes)" more_pushes
t_eq 1 "$(count git_error bob)" "still one git_error event across $(pushes) declined pushes"
DB=$T_TMP/data/previewd.db
t_eq 1 "$(sql "select count(*) from events where name = 'bob' and kind = 'git_error'")" "and one history row"
http GET /v1/environments/bob/events
t_match 'branch main is protected' "$(jqr '[.items[] | select(.kind == "git_error")][0].detail.error')" \
	"the environment's events list it with the hook's words"
t_eq previewd "$(jqr '[.items[] | select(.kind == "git_error")][0].actor')" "recorded by previewd"

# ------------------------------------------------------------------ 2. another error
t_begin "2. another error's words are one more event"
echo 'the repository is over its quota' >"$DECLINE"
t_eventually 20 "a second git_error event for bob" has git_error bob 2
t_match 'over its quota' "$(events git_error bob | sed -n 2p | jq -r .data.detail.error)" "with the new words"
n0=$(pushes)
t_eventually 30 "the writer retries (4 more declined pushes)" more_pushes
t_eq 2 "$(count git_error bob)" "two in all across the retries"

# ------------------------------------------------------------------ 3. recovered
t_begin "3. the push lands: git_recovered"
rm -f "$DECLINE"
t_eventually 30 "the stream sends git_recovered for bob" has git_recovered bob
r=$(events git_recovered bob | head -n 1)
t_match 'over its quota' "$(jq_of "$r" .data.detail.error)" "naming the error it recovered from"
t_match '^[0-9a-f]{40}$' "$(jq_of "$r" .data.detail.commit)" "and the commit that landed"
t_eq "" "$(jq_of "$r" '.data.git.error // ""')" "git.error is empty again"
t_eventually 10 "bob's push is an active event" has active bob
t_ok "git_recovered follows the errors" test "$(jq_of "$r" .id)" -gt "$(events git_error bob | tail -n 1 | jq .id)"
t_eq 1 "$(count git_recovered bob)" "one git_recovered"
t_eq 2 "$(count git_error bob)" "and no more git_error"
t_ok "previewd stops" pv_stop
t_end
