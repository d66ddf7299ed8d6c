#!/usr/bin/env bash
# ctest-labels: integration concurrent
# test_git_trouble.sh — when the Git server says no, or says nothing fast
# enough, previewd names the trouble and every Git operation ends:
#   1. wrong credentials from a fresh start: writes answer 503 problem+json
#      whose detail says the server refused previewd's credentials, /readyz
#      names it, the log has one warn line per failed round (the backoff),
#      not a flood;
#   2. a pre-receive hook that declines ("branch main is protected"): the
#      hook's words in git.error, /readyz (degraded) and a warn line; the
#      writer backs off; once the hook is gone the write lands by itself;
#   3. PREVIEWD_GIT_TIMEOUT: a server that drips one byte a second
#      (tests/lib/gitdrip.py) ends the push and then the fetch with an error
#      naming the deadline; /readyz is degraded while the push is stuck;
#   4. `previewd check` against the real server: success, wrong password,
#      missing branch, env dir, base, an unreachable server; the alias
#      `--check-config --online`;
#   5. start-up warnings for a PREVIEWD_ENV_DIR or PREVIEWD_BASE_ENV the
#      branch does not hold.
# shellcheck disable=SC2317  # helpers run through t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

t_need "the Git server starts" gitserver_start "$T_TMP/git"
t_need "the GitOps repository is seeded" gitserver_new_repo gitops "$T_ROOT/deploy/helm-env"
G=$GITSERVER_DIR/repos/gitops.git
URL=$GITSERVER_URL/gitops.git
HOOKLOG=$T_TMP/hook.log
DECLINE=$T_TMP/decline
: >"$HOOKLOG"
cat >"$G/hooks/pre-receive" <<HOOK
#!/bin/sh
cat >/dev/null
echo push >>'$HOOKLOG'
if [ -e '$DECLINE' ]; then
	echo 'branch main is protected' >&2
	exit 1
fi
exit 0
HOOK
chmod +x "$G/hooks/pre-receive"
pushes() { wc -l <"$HOOKLOG"; }
GOOD=(PREVIEWD_GIT_URL="$URL" PREVIEWD_GIT_USERNAME="$GITSERVER_USER" PREVIEWD_GIT_PASSWORD="$GITSERVER_PASS")

# how many of the Git writer's warn lines in the log match a regex
warn_lines() { grep -E 'warn' "$PV_LOG" | grep -E 'gitops' | grep -cE "$1"; }

# ---------------------------------------------------------------- 1. credentials
t_begin "1. wrong credentials from a fresh start"
PV_START_READY=0 t_need "previewd starts with a wrong password" pv_start "$T_TMP/d1" \
	PREVIEWD_GIT_URL="$URL" PREVIEWD_GIT_USERNAME="$GITSERVER_USER" PREVIEWD_GIT_PASSWORD="not-$GITSERVER_PASS"
readyz_names_credentials() {
	http GET /readyz && [[ $(jqr '.checks.git.error // ""') =~ refused\ previewd\'s\ credentials ]]
}
t_eventually 10 "/readyz's git.error says the server refused the credentials" readyz_names_credentials
t_eq 503 "$HTTP_STATUS" "/readyz answers 503 (the branch was never seen)"
t_eq starting "$(jqr .status)" "its status is starting"
http POST /v1/environments '{"owner":"alice"}'
t_eq 503 "$HTTP_STATUS" "a create answers 503"
t_match '^application/problem\+json' "$HTTP_CTYPE" "as problem+json"
t_match "refused previewd's credentials" "$(jqr .detail)" "its detail says the Git server refused previewd's credentials"
t_not "its detail is not the generic 'has not been reached yet'" grep -q 'has not been reached yet' <<<"$(jqr .detail)"
sleep 4
w=$(warn_lines "refused previewd's credentials")
f=$(metric previewd_git_push_failures_total)
echo "# after ~5 s: $w warn lines, $f failed rounds"
t_ok "the log names the refusal at warn level ($w lines)" test "$w" -ge 1
# one line per round; the counter and the log are read a moment apart
t_ok "one warn line per failed round ($w lines, $f rounds)" test "$w" -le $((f + 1)) -a "$w" -ge $((f - 1))
t_ok "the backoff keeps it to a handful in ~5 s ($w)" test "$w" -le 10
t_not "the wrong password is not logged" grep -qF "not-$GITSERVER_PASS" "$PV_LOG"
t_ok "previewd stops" pv_stop

# ---------------------------------------------------------------- 2. declined
t_begin "2. a pre-receive hook declines the push"
t_need "previewd starts" pv_start "$T_TMP/d2" "${GOOD[@]}"
touch "$DECLINE"
tip0=$(head_commit)
http POST /v1/environments '{"owner":"bob"}' -H 'Prefer: respond-async'
t_eq 202 "$HTTP_STATUS" "the create is accepted"
has_git_error() { http GET /v1/environments/bob && [ "$(jqr '.git.error // empty')" != "" ]; }
t_eventually 10 "bob's git.error is set" has_git_error
t_match 'branch main is protected' "$(jqr .git.error)" "git.error has the hook's words"
t_eq pending "$(jqr .status)" "bob stays pending"
# a fetch that works between two declined pushes does not make Git ok
degraded_n=0
for _ in $(seq 1 20); do
	http GET /readyz
	[ "$(jqr .status)" = degraded ] && [[ $(jqr '.checks.git.error // ""') =~ branch\ main\ is\ protected ]] &&
		degraded_n=$((degraded_n + 1))
	sleep 0.1
done
t_eq 20 "$degraded_n" "/readyz is degraded and names the hook's words at every look (20 over 2 s)"
t_ok "a warn line carries the hook's words" test "$(warn_lines 'branch main is protected')" -ge 1
five_pushes() { [ "$(pushes)" -ge 5 ]; }
t_eventually 20 "the writer keeps trying" five_pushes
p0=$(pushes)
sleep 5
p1=$(pushes)
# from the fifth try on, the waits are at least 0.8, 1.6, 3.2 s: a writer
# that rebuilt and pushed at once would try hundreds of times
t_ok "it backs off: $((p1 - p0)) pushes in 5 s (at most 4)" test $((p1 - p0)) -le 4
t_eq "$tip0" "$(head_commit)" "the branch did not move"
rm -f "$DECLINE"
t_eventually 40 "with the hook gone, bob lands by itself" env_status_is bob active
t_ok "bob is on the server" has_folder bob
t_eventually 10 "/readyz is ready again" readyz_is ready
t_ok "previewd stops" pv_stop

# ---------------------------------------------------------------- 3. deadline
t_begin "3. PREVIEWD_GIT_TIMEOUT against a server that drips"
DRIP=$T_TMP/drip
DRIPLOG=$T_TMP/drip.log
: >"$DRIPLOG"
t_need "the dripping stand-in starts" bg_start DRIPSRV "$T_TMP/drip.out" \
	python3 "$T_ROOT/tests/lib/gitdrip.py" "$GITSERVER_PORT" "$DRIP" "$DRIPLOG"
t_need "previewd starts behind it" pv_start "$T_TMP/d3" PREVIEWD_GIT_URL="http://127.0.0.1:$DRIPSRV_PORT/git/gitops.git" \
	PREVIEWD_GIT_USERNAME="$GITSERVER_USER" PREVIEWD_GIT_PASSWORD="$GITSERVER_PASS" \
	PREVIEWD_GIT_TIMEOUT=5s PREVIEWD_PUSH_BACKOFF_MAX_MS=1000 PREVIEWD_GIT_POLL=0
http POST /v1/environments '{"owner":"carol"}'
t_eq 201 "$HTTP_STATUS" "through the stand-in a create lands (201)"
echo receive-pack >"$DRIP" # pushes drip, fetches go through
http POST /v1/environments '{"owner":"dave"}' -H 'Prefer: respond-async'
t_eq 202 "$HTTP_STATUS" "with pushes dripping, a create is accepted"
readyz_stuck() {
	readyz_is degraded && [[ $(jqr '.checks.git.error // ""') =~ push\ to\ the\ Git\ server\ has\ been\ in\ flight ]]
}
t_eventually 10 "/readyz turns degraded while the push is stuck, and says so" readyz_stuck
echo "# readyz: $(jqr .checks.git.error)"
dave_timed_out() {
	http GET /v1/environments/dave && [[ $(jqr '.git.error // ""') =~ the\ push\ took\ longer\ than\ PREVIEWD_GIT_TIMEOUT ]]
}
t_eventually 20 "the push ends with an error naming PREVIEWD_GIT_TIMEOUT" dave_timed_out
echo "# dave's git.error: $(jqr .git.error)"
t_ok "previewd hung up on the dripping answer" grep -q '^drip-closed' "$DRIPLOG"
t_eq pending "$(env_status dave)" "dave is still pending"
echo all >"$DRIP" # now fetches drip too
fetch_timed_out() { grep -E 'warn' "$PV_LOG" | grep -q 'fetch: the fetch took longer than PREVIEWD_GIT_TIMEOUT'; }
t_eventually 20 "a fetch ends the same way (warn line)" fetch_timed_out
rm -f "$DRIP"
t_eventually 30 "once the server answers again, dave lands" env_status_is dave active
t_eventually 10 "/readyz is ready again" readyz_is ready
t_ok "previewd stops" pv_stop
bg_stop "$DRIPSRV_PID"

# ---------------------------------------------------------------- 4. check
t_begin "4. previewd check"
NL=$'\n'
CK=(PREVIEWD_DATA_DIR="$T_TMP/dcheck")
pv_cli -m "check against the real server exits 0" "${CK[@]}" "${GOOD[@]}" check
echo "$PV_OUT" | sed 's/^/#   /'
t_match "(^|$NL)ok +reachable" "$PV_OUT" "reachable: ok"
t_match "(^|$NL)ok +credentials" "$PV_OUT" "credentials: ok"
t_match "(^|$NL)ok +branch +main exists" "$PV_OUT" "branch: main exists"
t_match "(^|$NL)ok +env dir +env/ exists" "$PV_OUT" "env dir: env/ exists"
t_match "(^|$NL)ok +base env +env/dev/values.yaml exists" "$PV_OUT" "base env: env/dev exists"
t_not "nothing failed" grep -q FAIL <<<"$PV_OUT"
t_ok "it left no clone in the data dir" test ! -e "$T_TMP/dcheck/clone.git"

pv_cli -x 1 -m "a wrong password exits 1" "${CK[@]}" PREVIEWD_GIT_URL="$URL" PREVIEWD_GIT_USERNAME="$GITSERVER_USER" \
	PREVIEWD_GIT_PASSWORD="not-$GITSERVER_PASS" check
t_match "(^|$NL)ok +reachable" "$PV_OUT" "wrong password: the server was reached"
t_match "FAIL +credentials .*refused previewd's credentials" "$PV_OUT" "wrong password: the credentials line says refused"
t_not "wrong password: the password is not printed" grep -qF "not-$GITSERVER_PASS" <<<"$PV_OUT$PV_ERR"

pv_cli -x 1 -m "a missing branch exits 1" "${CK[@]}" "${GOOD[@]}" PREVIEWD_GIT_BRANCH=nosuchbranch check
t_match 'FAIL +branch +nosuchbranch does not exist' "$PV_OUT" "missing branch: named"

pv_cli -x 1 -m "a missing env dir exits 1" "${CK[@]}" "${GOOD[@]}" PREVIEWD_ENV_DIR=nothere check
t_match 'FAIL +env dir +nothere/ does not exist' "$PV_OUT" "missing env dir: named"

pv_cli -x 1 -m "a missing base exits 1" "${CK[@]}" "${GOOD[@]}" PREVIEWD_BASE_ENV=nobase check
t_match 'FAIL +base env +env/nobase/ does not exist' "$PV_OUT" "missing base: named"
t_match "(^|$NL)ok +env dir" "$PV_OUT" "missing base: the env dir is fine"

DEAD=$(pick_port)
pv_cli -x 1 -m "an unreachable server exits 1" "${CK[@]}" PREVIEWD_GIT_URL="http://127.0.0.1:$DEAD/git/gitops.git" check
t_match 'FAIL +reachable +.*(connect|refused)' "$PV_OUT" "unreachable: the reachable line says why"
t_match '-- +credentials +not checked' "$PV_OUT" "unreachable: credentials not checked"

pv_cli -m "--check-config --online is the same check" "${CK[@]}" "${GOOD[@]}" --check-config --online
t_match "(^|$NL)ok +base env" "$PV_OUT" "the alias reports the same lines"

# ---------------------------------------------------------------- 5. start-up
t_begin "5. start-up warnings"
t_need "previewd starts with PREVIEWD_ENV_DIR=nothere" pv_start "$T_TMP/d5a" "${GOOD[@]}" PREVIEWD_ENV_DIR=nothere
envdir_warned() { warn_lines 'PREVIEWD_ENV_DIR nothere/ does not exist on the branch main' >/dev/null; }
t_eventually 10 "the log warns that PREVIEWD_ENV_DIR is not on the branch" envdir_warned
t_ok "previewd stops" pv_stop
t_need "previewd starts with PREVIEWD_BASE_ENV=nobase" pv_start "$T_TMP/d5b" "${GOOD[@]}" PREVIEWD_BASE_ENV=nobase
base_warned() { warn_lines 'PREVIEWD_BASE_ENV nobase: env/nobase/ does not exist' >/dev/null; }
t_eventually 10 "the log warns that PREVIEWD_BASE_ENV is not on the branch" base_warned
t_ok "previewd stops" pv_stop
t_need "previewd starts with both right" pv_start "$T_TMP/d5c" "${GOOD[@]}"
t_ok "the first fetch is done" readyz_is ready
t_eq 0 "$(grep -cE 'PREVIEWD_(ENV_DIR|BASE_ENV)' "$PV_LOG")" "no such warning when both exist"

t_end
