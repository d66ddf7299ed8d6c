#!/usr/bin/env bash
# ctest-labels: integration
# test_secrets.sh — credentials go only to the configured server, and no
# secret shows in any output (issue 12, points 2 and 3).
#
#   bash tests/integration/test_secrets.sh      (KEEP_TMP=1 keeps the logs)
#
# A real smart-HTTP Git server (tests/lib/gitserver.sh) sits behind a front
# (tests/lib/redirector.py front) that answers some requests with a 302 to a
# trap (redirector.py trap), which challenges every request for Basic
# credentials and records the Authorization it gets.  The trap is "another
# server" twice over: another host name (localhost) and, on the same
# address, another port.  Credentials are given both ways previewd takes
# them: in PREVIEWD_GIT_URL (http://user:PASS@...) and as
# PREVIEWD_GIT_USERNAME/PREVIEWD_GIT_PASSWORD.
# shellcheck disable=SC2317,SC2153  # helpers run through t_eventually; *_PID/*_PORT set by bg_start
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

REDIRECTOR=$T_ROOT/tests/lib/redirector.py
TRAPLOG=$T_TMP/trap.log
FRONTLOG=$T_TMP/front.log

# ---------------------------------------------------------------- helpers

# requests in LOG [with an Authorization header: auth]
requests() {
    [ -s "$1" ] || { echo 0; return; }
    if [ "${2:-}" = auth ]; then
        jq -s '[.[] | select(.authorization != null)] | length' "$1"
    else
        jq -s 'length' "$1"
    fi
}

# front_asked N: the front got at least N requests
front_asked() { [ "$(requests "$FRONTLOG")" -ge "$1" ]; }

# front_start REDIRECT TO: a front before the Git server, redirecting
# REDIRECT (all|push) requests to TO; sets F_PID, F_PORT
front_start() {
    : >"$FRONTLOG"
    bg_start F "$(mktemp "$T_TMP/front.XXXXXX")" python3 "$REDIRECTOR" "$FRONTLOG" front \
        --upstream "http://127.0.0.1:$GITSERVER_PORT" --redirect "$1" --to "$2"
}

# /readyz shows a Git error (whatever its status); it stays in HTTP_*
readyz_git_error() {
    http GET /readyz && [ -n "$(jqr '.checks.git.error // ""')" ]
}

# environment NAME carries a git.error; the answer stays in HTTP_*
env_git_error() {
    http GET "/v1/environments/$1" && [ -n "$(jqr '.git.error // ""')" ]
}

# no_secret WHAT TEXT SECRET...: TEXT holds none of the SECRETs
no_secret() {
    local what=$1 text=$2 s
    shift 2
    for s in "$@"; do
        if [[ $text == *"$s"* ]]; then
            _t_fail "$what holds no secret" "found: $s" "in: ${text:0:300}"
            return 1
        fi
    done
    _t_pass "$what holds no secret"
}

# the credentials for the two ways previewd takes them: CREDS url|env
git_args() {
    local port=$1 creds=$2
    if [ "$creds" = url ]; then
        echo "PREVIEWD_GIT_URL=http://$GITSERVER_USER:$GITSERVER_PASS@127.0.0.1:$port/git/gitops.git"
    else
        echo "PREVIEWD_GIT_URL=http://127.0.0.1:$port/git/gitops.git"
        echo "PREVIEWD_GIT_USERNAME=$GITSERVER_USER"
        echo "PREVIEWD_GIT_PASSWORD=$GITSERVER_PASS"
    fi
}

# ---------------------------------------------------------------- setup
if ! gitserver_start "$T_TMP/git" || ! gitserver_new_repo gitops "$T_ROOT/deploy/helm-env"; then
    t_bail "cannot start the Git server"
fi
t_need "the trap starts" bg_start TRAP "$T_TMP/trap.out" python3 "$REDIRECTOR" "$TRAPLOG" trap
PASS=$GITSERVER_PASS
N=0

# ---------------------------------------------------------------- 1
# The fetch at start-up is redirected elsewhere: nothing there gets a
# credential, on the first try or any retry, and /readyz says why previewd
# cannot reach Git, without the password.
for creds in url env; do
    for other in "localhost:$TRAP_PORT" "127.0.0.1:$TRAP_PORT"; do
        N=$((N + 1))
        t_begin "1.$N fetch redirected to $other, credentials in the $creds"
        : >"$TRAPLOG"
        t_need "the front starts" front_start all "http://$other"
        mapfile -t args < <(git_args "$F_PORT" "$creds")
        PV_START_READY=0 pv_start "$T_TMP/data-fetch-$N" "${args[@]}" PREVIEWD_PUSH_BACKOFF_MAX_MS=200 ||
            t_bail "previewd did not start"
        t_eventually 15 "/readyz shows the Git error" readyz_git_error
        t_eq starting "$(jqr .status)" "previewd never reached its branch: starting"
        no_secret "/readyz" "$HTTP_BODY" "$PASS"
        # a few retries (backoff at most 200 ms)
        t_eventually 10 "the front was asked again (retries)" front_asked 3
        t_eq 0 "$(requests "$TRAPLOG" auth)" "the other server got no Authorization"
        pv_stop >/dev/null
        no_secret "previewd's log" "$(cat "$PV_LOG")" "$PASS"
        bg_stop "$F_PID"
    done
done

# ---------------------------------------------------------------- 2
# The fetch goes through, the push is redirected: the push fails, the
# environment and /readyz say so without the password, and the other
# server never sees a credential.
for creds in url env; do
    N=$((N + 1))
    t_begin "2.$N push redirected to localhost, credentials in the $creds"
    : >"$TRAPLOG"
    t_need "the front starts" front_start push "http://localhost:$TRAP_PORT"
    mapfile -t args < <(git_args "$F_PORT" "$creds")
    pv_start "$T_TMP/data-push-$N" "${args[@]}" PREVIEWD_WAIT_MS=2000 PREVIEWD_PUSH_BACKOFF_MAX_MS=200 ||
        t_bail "previewd did not start"
    t_ok "the fetch through the front worked (ready)" readyz_is ready
    http POST /v1/environments '{"owner":"alice"}'
    t_eq 202 "$HTTP_STATUS" "the create is accepted, not pushed"
    t_eventually 15 "alice's git.error says the push failed" env_git_error alice
    t_eq pending "$(jqr .status)" "alice stays pending"
    no_secret "alice's git.error" "$(jqr .git.error)" "$PASS"
    t_eventually 10 "/readyz shows the push error" readyz_git_error
    t_match 'push' "$(jqr .checks.git.error)" "the error is the push's"
    no_secret "/readyz" "$HTTP_BODY" "$PASS"
    t_eq 0 "$(requests "$TRAPLOG" auth)" "the other server got no Authorization"
    t_ok "the front saw the push" grep -q git-receive-pack "$FRONTLOG"
    pv_stop >/dev/null
    no_secret "previewd's log" "$(cat "$PV_LOG")" "$PASS"
    bg_stop "$F_PID"
done

# ---------------------------------------------------------------- 3
# Start-up log, /readyz and a working push with the password in the URL.
t_begin "3. a working previewd with http://user:PASS@ shows no password"
pv_start "$T_TMP/data-ok" PREVIEWD_GIT_URL="$(gitserver_url gitops)" || t_bail "previewd did not start"
http POST /v1/environments '{"owner":"bob"}'
t_eq 201 "$HTTP_STATUS" "bob is created and pushed"
no_secret "bob" "$HTTP_BODY" "$PASS"
t_ok "/readyz is ready" readyz_is ready
no_secret "/readyz" "$HTTP_BODY" "$PASS"
t_match "GitOps repository http://\*\*\*@127\.0\.0\.1:$GITSERVER_PORT/git/gitops\.git" "$(cat "$PV_LOG")" \
    "the start-up log names the repository, credentials redacted"
no_secret "previewd's log" "$(cat "$PV_LOG")" "$PASS"
t_not "the clone's config holds no password" grep -q "$PASS" "$PV_DATA/clone.git/config"
pv_stop >/dev/null
# a clone an earlier version made kept the password in its remote's URL
git --git-dir "$PV_DATA/clone.git" remote set-url origin "$(gitserver_url gitops)"
pv_start "$PV_DATA" PREVIEWD_GIT_URL="$(gitserver_url gitops)" || t_bail "previewd did not restart"
t_not "the password is gone from an earlier clone's config" grep -q "$PASS" "$PV_DATA/clone.git/config"
http POST /v1/environments '{"owner":"bob2"}'
t_eq 201 "$HTTP_STATUS" "and pushes still go through"
pv_stop >/dev/null

# ---------------------------------------------------------------- 4
# --check-config prints every URL with its userinfo redacted, and no secret
# given by variable or by flag.
t_begin "4. --check-config"
pv_cli PREVIEWD_DATA_DIR="$T_TMP/data-check" \
    PREVIEWD_GIT_URL="http://u:GITPASS-1a@127.0.0.1:1/git/gitops.git" \
    PREVIEWD_ARGOCD_REPO_URL="https://u:ARGOREPO-2b@git.example.com/team/gitops.git" \
    PREVIEWD_WEBHOOK_URL="http://hook:HOOKPASS-3c@127.0.0.1:2/hook" \
    PREVIEWD_ARGOCD_WEBHOOK_URL="http://a:AWH-4d@127.0.0.1:3/api/webhook,http://b:AWH-5e@127.0.0.1:4/api/webhook" \
    PREVIEWD_GIT_PASSWORD=ENVPASS-6f \
    --check-config --webhook-secret FLAGSECRET-7g --argocd-token=FLAGTOKEN-8h
out=$PV_OUT$'\n'$PV_ERR
t_match 'configuration OK' "$out" "the configuration is valid"
no_secret "--check-config" "$out" GITPASS-1a ARGOREPO-2b HOOKPASS-3c AWH-4d AWH-5e ENVPASS-6f FLAGSECRET-7g FLAGTOKEN-8h
t_match 'PREVIEWD_GIT_URL=http://\*\*\*@127\.0\.0\.1:1/git/gitops\.git' "$out" "PREVIEWD_GIT_URL is shown redacted"
t_match 'PREVIEWD_ARGOCD_REPO_URL=https://\*\*\*@git\.example\.com/team/gitops\.git' "$out" \
    "PREVIEWD_ARGOCD_REPO_URL is shown redacted"
t_match 'PREVIEWD_ARGOCD_WEBHOOK_URL=http://\*\*\*@127\.0\.0\.1:3/api/webhook,http://\*\*\*@127\.0\.0\.1:4/' "$out" \
    "every URL of a list is redacted"
pv_cli PREVIEWD_DATA_DIR="$T_TMP/data-check" PREVIEWD_GIT_URL="https://u:DEFAULTREPO-9i@git.example.com/r.git" \
    --check-config
out=$PV_OUT$'\n'$PV_ERR
no_secret "--check-config, Argo CD's URL defaulting to Git's" "$out" DEFAULTREPO-9i
pv_cli PREVIEWD_DATA_DIR="$T_TMP/data-check" PREVIEWD_GIT_URL="https://u:APPSETGIT-10j@git.example.com/r.git" \
    PREVIEWD_ARGOCD_REPO_URL="https://u:APPSETREPO-11k@git.example.com/team/r.git" print-applicationset
out=$PV_OUT$'\n'$PV_ERR
no_secret "print-applicationset" "$out" APPSETGIT-10j APPSETREPO-11k
t_match 'repoURL: "https://git\.example\.com/team/r\.git"' "$out" "the ApplicationSet names the repository without credentials"

# ---------------------------------------------------------------- 5
# Secrets given as flags are gone from /proc/PID/cmdline once parsed.
t_begin "5. secret flags are scrubbed from /proc/PID/cmdline"
dir=$T_TMP/data-argv
mkdir -p "$dir"
# started by hand, since pv_start passes settings in the environment: a
# port taken between pick_port and bind is picked again, as pv_start does
for _ in 1 2 3; do
    port=$(pick_port)
    "$PREVIEWD_BIN" --listen "127.0.0.1:$port" --data-dir "$dir" \
        --git-password ARGV-GITPASS --git-ssh-passphrase=ARGV-SSHPHRASE \
        --webhook-secret ARGV-HOOKSECRET --argocd-webhook-secret=ARGV-ARGOHOOK \
        --argocd-token ARGV-ARGOTOKEN --slack-signing-secret=ARGV-SLACK \
        --git-author-name argv-visible >"$T_TMP/argv.log" 2>&1 </dev/null &
    pid=$!
    T_PIDS+=("$pid")
    for _ in $(seq 200); do
        kill -0 "$pid" 2>/dev/null || break
        curl -sf -o /dev/null -m 1 "http://127.0.0.1:$port/healthz" && break
        sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && break
    grep -qi 'in use' "$T_TMP/argv.log" || break
done
t_eventually 10 "previewd started with secret flags" curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" ||
    sed 's/^/#   /' "$T_TMP/argv.log"
cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
no_secret "/proc/$pid/cmdline" "$cmdline" ARGV-GITPASS ARGV-SSHPHRASE ARGV-HOOKSECRET ARGV-ARGOHOOK ARGV-ARGOTOKEN ARGV-SLACK
t_match '--git-password \*+ --git-ssh-passphrase=\*+ ' "$cmdline" "the flags stay, their values are overwritten"
t_match 'argv-visible' "$cmdline" "values that are no secret are left alone"
pv_stop "$pid" >/dev/null
no_secret "previewd's log" "$(cat "$T_TMP/argv.log")" ARGV-GITPASS ARGV-SSHPHRASE ARGV-HOOKSECRET ARGV-ARGOHOOK \
    ARGV-ARGOTOKEN ARGV-SLACK

# ---------------------------------------------------------------- 6
# The webhook receiver, Argo CD's webhook and Argo CD's API all answer with
# a redirect elsewhere: none is followed, so the other server sees nothing
# (in particular not the URL's credentials nor the Argo CD token).
t_begin "6. webhook and Argo CD redirects are not followed"
: >"$TRAPLOG"
t_need "the front starts" front_start all "http://localhost:$TRAP_PORT"
pv_start "$T_TMP/data-hooks" PREVIEWD_GIT_URL="$(gitserver_url gitops)" \
    PREVIEWD_WEBHOOK_URL="http://hook:HOOKPASS-x1@127.0.0.1:$F_PORT/hook" PREVIEWD_WEBHOOK_SECRET=hook-secret-x2 \
    PREVIEWD_ARGOCD_WEBHOOK_URL="http://127.0.0.1:$F_PORT/api/webhook" PREVIEWD_ARGOCD_WEBHOOK_SECRET=argo-hook-x3 \
    PREVIEWD_ARGOCD_URL="http://127.0.0.1:$F_PORT" PREVIEWD_ARGOCD_TOKEN=ARGOTOKEN-x4 PREVIEWD_ARGOCD_POLL=1 ||
    t_bail "previewd did not start"
http POST /v1/environments '{"owner":"carol"}'
t_eq 201 "$HTTP_STATUS" "carol is created and pushed"
t_eventually 15 "the webhook was tried" grep -q '"path": "/hook"' "$FRONTLOG"
t_eventually 15 "Argo CD's webhook was tried" grep -q '"path": "/api/webhook"' "$FRONTLOG"
t_eventually 15 "Argo CD's API was asked" grep -q '"path": "/api/v1/applications' "$FRONTLOG"
t_ok "the webhook carried the URL's credentials to the configured server" \
    test "$(jq -s '[.[] | select(.path == "/hook" and .authorization != null)] | length' "$FRONTLOG")" -ge 1
sleep 1.5 # a retry or two
t_eq 0 "$(requests "$TRAPLOG")" "the other server got no request at all"
http GET /readyz
no_secret "/readyz" "$HTTP_BODY" ARGOTOKEN-x4 HOOKPASS-x1 "$PASS"
pv_stop >/dev/null
no_secret "previewd's log" "$(cat "$PV_LOG")" ARGOTOKEN-x4 HOOKPASS-x1 hook-secret-x2 argo-hook-x3 "$PASS"
bg_stop "$F_PID"

t_end
