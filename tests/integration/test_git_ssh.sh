#!/usr/bin/env bash
# ctest-labels: concurrent
# test_git_ssh.sh — previewd against a real SSH Git server: OpenSSH's sshd,
# started here on a free loopback port with its own host key, config and
# authorized_keys (all in the temp dir), serving a bare repository seeded with
# deploy/helm-env. The login user is whoever runs the test (root in CI).
# The server side is inspected with the git CLI over SSH and sshd's own log,
# never through previewd's answers.
#
#   bash tests/integration/test_git_ssh.sh      (KEEP_TMP=1 keeps the logs)
#
# Needs /usr/sbin/sshd (openssh-server, installed by `scripts/deps.sh test`).
#
# What previewd's SSH support rests on, found while writing this test:
# - libgit2 (1.5.1 in Debian 12, since CVE-2023-22742) checks the server's
#   host key against $HOME/.ssh/known_hosts and refuses unknown hosts, and
#   previewd has no setting for it: previewd's HOME must hold a known_hosts
#   entry ("[host]:port key" for a port other than 22). Case 1 checks the
#   refusal, the others give previewd a HOME with the entry.
# - PREVIEWD_GIT_SSH_PUBKEY is optional for OpenSSH-format ed25519 keys,
#   passphrase-protected ones included (libssh2 derives the public key):
#   case 2 sets it, case 3 does not.
# - libssh2 1.10 signs RSA keys with ssh-rsa (SHA-1) only, which OpenSSH
#   >= 8.8 refuses by default: RSA keys do not work, ed25519/ECDSA keys do.
#
# The helpers below are called through t_ok/t_eventually:
# shellcheck disable=SC2317

# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

SRC=${PV_SOURCE_DIR:-$T_ROOT}
SSHD=${SSHD:-/usr/sbin/sshd}
T_START=$(date +%s)

if [ ! -x "$SSHD" ]; then
    t_bail "no $SSHD (apt-get install openssh-server, or scripts/deps.sh test)"
fi

# ASan builds: libgit2 1.5.1's SSH transport (Debian 12) leaks a little on
# every connection: load_known_hosts clears its two path buffers instead of
# freeing them, and the libssh2 known-hosts handle is never freed (libgit2
# 1.5.2 fixes both). Not suppressed: t_allow_leaks accepts, in this test's
# previewd logs, only leaks whose whole stack below git_remote_connect_ext
# is libgit2's and libssh2's own (a leak in previewd's credential callback,
# called from there, still fails). The leak report then decides, not the
# exit code; full stacks, as libgit2 has no frame pointers. No effect on
# other builds.
t_allow_leaks git_remote_connect_ext libgit2.so libssh2.so
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}exitcode=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"

# ------------------------------------------------------------------ fixtures
S=$T_TMP/ssh
mkdir -p "$S" "$T_TMP/srv"
SSH_USER=$(id -un)
PASSPHRASE='correct horse battery staple'

if ! { ssh-keygen -q -t ed25519 -N '' -C previewd-test-host -f "$S/host_key" &&
    ssh-keygen -q -t ed25519 -N '' -C previewd-test-client -f "$S/client" &&
    ssh-keygen -q -t ed25519 -N "$PASSPHRASE" -C previewd-test-pp -f "$S/client_pp" &&
    ssh-keygen -q -t ed25519 -N '' -C previewd-test-stranger -f "$S/stranger"; }; then
    t_bail "ssh-keygen failed"
fi
cat "$S/client.pub" "$S/client_pp.pub" >"$S/authorized_keys" # not the stranger's
fpr() { ssh-keygen -lf "$1" | awk '{print $2}'; }
FPR_CLIENT=$(fpr "$S/client.pub")
FPR_PP=$(fpr "$S/client_pp.pub")
FPR_STRANGER=$(fpr "$S/stranger.pub")

SSHD_LOG=$S/sshd.log
SSHD_PID=''
sshd_stop() {
    [ -n "$SSHD_PID" ] || return 0
    kill -TERM "$SSHD_PID" 2>/dev/null
    wait "$SSHD_PID" 2>/dev/null
    SSHD_PID=''
}
t_defer sshd_stop

# sshd_start: sshd -D on a free loopback port (SSH_PORT), waits until it listens.
sshd_start() {
    local _ i
    mkdir -p /run/sshd 2>/dev/null # privilege separation dir, as root
    for _ in 1 2 3; do
        SSH_PORT=$(pick_port) || return 1
        cat >"$S/sshd_config" <<EOF
# written by tests/integration/test_git_ssh.sh
ListenAddress 127.0.0.1
Port $SSH_PORT
HostKey $S/host_key
PidFile $S/sshd.pid
AuthorizedKeysFile $S/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
# VERBOSE: sshd logs every refused key ("Failed publickey"), not only some
LogLevel VERBOSE
EOF
        # OpenSSH >= 9.8 penalises addresses whose logins fail; this test
        # fails some on purpose, from 127.0.0.1, and must not be locked out
        if "$SSHD" -t -f "$S/sshd_config" -o PerSourcePenalties=no 2>/dev/null; then
            echo "PerSourcePenalties no" >>"$S/sshd_config"
        fi
        "$SSHD" -t -f "$S/sshd_config" || return 1
        "$SSHD" -D -f "$S/sshd_config" -E "$SSHD_LOG" </dev/null &
        SSHD_PID=$!
        for i in $(seq 1 100); do
            kill -0 "$SSHD_PID" 2>/dev/null || break
            port_free "$SSH_PORT" || return 0
            sleep 0.05
        done
        echo "# sshd did not come up on port $SSH_PORT (try $i): $(tail -n 3 "$SSHD_LOG" 2>/dev/null)" >&2
        sshd_stop
    done
    return 1
}

# Bare repository served over SSH, seeded with the example chart on main.
REPO=$T_TMP/srv/gitops.git
if ! sshd_start || ! git_init_bare "$REPO" || ! git_seed "$REPO" "$SRC/deploy/helm-env"; then
    t_bail "cannot start sshd or seed the repository"
fi
URL="ssh://$SSH_USER@127.0.0.1:$SSH_PORT$REPO"
URL_NO_USER="ssh://127.0.0.1:$SSH_PORT$REPO"

# previewd's HOME: libgit2 reads $HOME/.ssh/known_hosts (see the top).
PVHOME=$T_TMP/home
mkdir -p "$PVHOME/.ssh"
KNOWN=$PVHOME/.ssh/known_hosts
printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$S/host_key.pub")" >"$KNOWN"
NOKH_HOME=$T_TMP/home-without-known-hosts
mkdir -p "$NOKH_HOME"

# The git CLI, as the authorized client key, with the same known_hosts
# (strict: this also proves the entry previewd is given is right).
export GIT_SSH_COMMAND="ssh -F /dev/null -i $S/client -o IdentitiesOnly=yes -o BatchMode=yes \
-o StrictHostKeyChecking=yes -o UserKnownHostsFile=$KNOWN"

# ------------------------------------------------------------------ helpers
# (view, remote_head and on_server on $VIEW_URL, and readyz_is come from the
# harness)
VIEW_URL=$URL

# /readyz has settled: ready, or a Git error is reported.
readyz_settled() {
    http GET /readyz && { [ "$(jqr .status)" = ready ] || [ "$(jqr '.checks.git.error // ""')" != "" ]; }
}

readyz_git_error_matches() {
    http GET /readyz && jqr '.checks.git.error // ""' | grep -Eqi "$1"
}

# sshd log lines written since line $1 (sshd ends its lines with CR LF).
log_since() {
    tail -n +"$(($1 + 1))" "$SSHD_LOG" | tr -d '\r'
}
log_lines() { wc -l <"$SSHD_LOG"; }
# waits_logged: the writer's waits before its next attempt (ms, one a line)
# in the last previewd's log; waits_at_least N
waits_logged() { sed -n 's/.*gitops: next attempt in \([0-9]*\) ms.*/\1/p' "$PV_LOG"; }
waits_at_least() { [ "$(waits_logged | grep -c .)" -ge "$1" ]; }

PV_BASE=(HOME="$PVHOME" PREVIEWD_GIT_URL="$URL" PREVIEWD_WAIT_MS=10000 PREVIEWD_GIT_AUTHOR_NAME=previewd)

t_begin "0. the SSH server"
t_ok "the git CLI reaches the repository over SSH" test -n "$(remote_head)"
SEED_COMMIT=$(remote_head)
t_ok "a fresh clone has env/dev/values.yaml" on_server dev
t_not "the passphrase key really is encrypted (no empty passphrase)" \
    ssh-keygen -y -P '' -f "$S/client_pp" 2>/dev/null
echo "# sshd $("$SSHD" -V 2>&1 | head -1) on 127.0.0.1:$SSH_PORT, user $SSH_USER"

# ------------------------------------------------------------------ 1
# Host key verification: with no known_hosts entry for the server previewd
# must not talk to it, let alone offer its key.
t_begin "1. unknown host key is refused"
L0=$(log_lines)
if PV_START_READY=0 pv_start "$T_TMP/data-nokh" HOME="$NOKH_HOME" PREVIEWD_GIT_URL="$URL" \
    PREVIEWD_GIT_SSH_KEY="$S/client"; then
    t_eventually 5 "/readyz reports a host key error" readyz_git_error_matches 'host ?key'
    t_eq 503 "$HTTP_STATUS" "/readyz is 503"
    t_eq starting "$(jqr .status)" "status starting (the branch was never seen)"
    echo "# readyz git error: $(jqr .checks.git.error)"
    t_ok "previewd stops on SIGTERM" pv_stop
    t_ok "sshd saw previewd connect" grep -q 'Connection from' <(log_since "$L0")
    t_not "no key was offered to the unverified server" grep -q 'publickey' <(log_since "$L0")
else
    _t_fail "previewd starts without a known_hosts entry (it must keep retrying, not exit)"
fi

# ------------------------------------------------------------------ 2
# The authorized key, with PREVIEWD_GIT_SSH_PUBKEY: create and delete land
# on the server over SSH.
t_begin "2. create and delete with PREVIEWD_GIT_SSH_KEY + PUBKEY"
L0=$(log_lines)
if pv_start "$T_TMP/data-key" "${PV_BASE[@]}" \
    PREVIEWD_GIT_SSH_KEY="$S/client" PREVIEWD_GIT_SSH_PUBKEY="$S/client.pub"; then
    t_eventually 10 "/readyz is ready" readyz_is ready
    t_eq true "$(jqr .checks.git.ok)" "readyz git.ok true"

    http POST /v1/environments '{"owner":"alice"}'
    t_eq 201 "$HTTP_STATUS" "create alice answers 201"
    t_eq active "$(jqr .status)" "status active"
    t_eq false "$(jqr .git.pending)" "git.pending false"
    ALICE_COMMIT=$(jqr .git.commit)
    t_eq "$(remote_head)" "$ALICE_COMMIT" "git.commit is the server's branch head"
    view
    t_ok "env/alice/values.yaml is on the server" test -f "$VIEW/env/alice/values.yaml"
    t_eq previewd "$(jq -r .managed_by "$VIEW/env/alice/previewd.json" 2>&1)" "env/alice/previewd.json says managed_by previewd"
    t_eq alice "$(jq -r .owner "$VIEW/env/alice/previewd.json" 2>&1)" "previewd.json says owner alice"
    t_eq "previewd: create alice" "$(git -C "$VIEW" log -1 --format=%s)" "commit subject"
    t_eq "$SEED_COMMIT" "$(git -C "$VIEW" rev-parse HEAD^)" "the commit sits on the seed"
    t_ok "sshd accepted previewd's key ($FPR_CLIENT)" \
        grep -qF "Accepted publickey for $SSH_USER from 127.0.0.1 port" <(log_since "$L0" | grep -F "$FPR_CLIENT")

    http DELETE /v1/environments/alice
    t_eq 200 "$HTTP_STATUS" "DELETE alice answers 200"
    t_eq deleted "$(jqr .status)" "status deleted"
    t_eq "$(remote_head)" "$(jqr .git.commit)" "git.commit is the server's branch head"
    view
    t_not "env/alice is gone on the server" test -e "$VIEW/env/alice"
    t_ok "env/dev is still there" test -f "$VIEW/env/dev/values.yaml"
    t_eq "previewd: delete alice" "$(git -C "$VIEW" log -1 --format=%s)" "commit subject"
    t_eq "$ALICE_COMMIT" "$(git -C "$VIEW" rev-parse HEAD^)" "the delete sits on the create"
    t_ok "previewd stops on SIGTERM" pv_stop
else
    _t_fail "previewd starts and gets ready with the authorized key"
fi

# ------------------------------------------------------------------ 3
# A passphrase-protected key, PREVIEWD_GIT_SSH_PASSPHRASE, no PUBKEY.
t_begin "3. passphrase-protected key"
L0=$(log_lines)
if pv_start "$T_TMP/data-pp" "${PV_BASE[@]}" \
    PREVIEWD_GIT_SSH_KEY="$S/client_pp" PREVIEWD_GIT_SSH_PASSPHRASE="$PASSPHRASE"; then
    t_eventually 10 "/readyz is ready" readyz_is ready
    http POST /v1/environments '{"owner":"bob"}'
    t_eq 201 "$HTTP_STATUS" "create bob answers 201"
    t_eq "$(remote_head)" "$(jqr .git.commit)" "git.commit is the server's branch head"
    t_ok "env/bob/values.yaml is on the server" on_server bob
    t_eq "previewd: create bob" "$(git -C "$VIEW" log -1 --format=%s)" "commit subject"
    t_ok "sshd accepted the passphrase key ($FPR_PP)" \
        grep -qF "Accepted publickey for $SSH_USER from 127.0.0.1 port" <(log_since "$L0" | grep -F "$FPR_PP")
    t_not "the passphrase is not logged" grep -qF "$PASSPHRASE" "$PV_LOG"
    t_ok "previewd stops on SIGTERM" pv_stop
else
    _t_fail "previewd starts and gets ready with the passphrase key"
fi

# ------------------------------------------------------------------ 4
# A URL without a user, the user from PREVIEWD_GIT_USERNAME. libgit2 first
# asks the credentials callback for a user name alone, then for the key; the
# name request must not count as previewd's one authentication attempt.
t_begin "4. URL without a user, PREVIEWD_GIT_USERNAME"
if PV_START_READY=0 pv_start "$T_TMP/data-nouser" "${PV_BASE[@]}" PREVIEWD_GIT_URL="$URL_NO_USER" \
    PREVIEWD_GIT_USERNAME="$SSH_USER" PREVIEWD_GIT_SSH_KEY="$S/client"; then
    t_eventually 10 "/readyz settles (ready or a Git error)" readyz_settled
    t_eq ready "$(jqr .status)" "ready with the user from PREVIEWD_GIT_USERNAME"
    t_ok "previewd stops on SIGTERM" pv_stop
else
    _t_fail "previewd starts with a URL without a user"
fi

# ------------------------------------------------------------------ 5
# A key the server does not know: previewd keeps retrying with backoff
# (bounded connection attempts, one key offer per connection), reports the
# credentials error on /readyz, and refuses creates as unavailable.
t_begin "5. key not in authorized_keys"
L0=$(log_lines)
# debug: the writer logs each wait it takes before the next attempt
if PV_START_READY=0 pv_start "$T_TMP/data-stranger" "${PV_BASE[@]}" PREVIEWD_GIT_SSH_KEY="$S/stranger" \
    PREVIEWD_LOG_LEVEL=debug; then
    t_eventually 5 "/readyz reports the refused credentials" readyz_git_error_matches 'credential|auth|refused'
    t_eq 503 "$HTTP_STATUS" "/readyz is 503"
    t_eq starting "$(jqr .status)" "status starting (the branch was never seen)"
    t_eq false "$(jqr .checks.git.ok)" "readyz git.ok false"
    echo "# readyz git error: $(jqr .checks.git.error)"
    http POST /v1/environments '{"owner":"carol"}'
    t_eq 503 "$HTTP_STATUS" "create answers 503 until the repository was reached"
    t_match '^application/problem\+json' "$HTTP_CTYPE" "problem+json content type"
    # a few attempts, however long they take: not a window of wall-clock time
    t_eventually 60 "previewd tries again and again (4 waits logged)" waits_at_least 4
    t_ok "previewd stops on SIGTERM during the backoff" pv_stop
    WAITS=$(waits_logged)
    sleep 0.2 # let sshd log the last connection
    WINDOW=$(log_since "$L0")
    CONNS=$(grep -c 'Connection from 127.0.0.1' <<<"$WINDOW")
    FAILED=$(grep -c "Failed publickey for $SSH_USER" <<<"$WINDOW")
    PER_CONN=$(grep "Failed publickey for $SSH_USER" <<<"$WINDOW" | sed -n 's/.* port \([0-9]*\) .*/\1/p' |
        sort | uniq -c | sort -rn | awk 'NR==1{print $1}')
    NWAITS=$(grep -c . <<<"$WAITS")
    echo "# $CONNS connection(s), $FAILED refused key offer(s), at most ${PER_CONN:-0} per connection;" \
        "waits logged: $(tr '\n' ' ' <<<"$WAITS")"
    t_ok "previewd retried (>= 2 connections, saw $CONNS)" test "$CONNS" -ge 2
    # backoff_ms: the n-th wait is drawn from [d/2, d] with d doubling, so each
    # is at least the one before and the fourth at least twice the first
    # shellcheck disable=SC2016  # awk's $1
    t_ok "with backoff, not in a loop: the waits grow ($(tr '\n' ' ' <<<"$WAITS"))" \
        awk 'NR > 1 && $1 < prev { bad = 1 } NR == 1 { first = $1 } NR == 4 { fourth = $1 } { prev = $1 }
             END { exit !(NR >= 4 && !bad && fourth >= 2 * first) }' <<<"$WAITS"
    t_ok "one connection per attempt, no more ($CONNS connections, $NWAITS waits)" test "$CONNS" -le $((NWAITS + 1))
    t_ok "the configured key was offered ($FPR_STRANGER)" grep -qF "$FPR_STRANGER" <<<"$WINDOW"
    t_eq 1 "${PER_CONN:-0}" "the key is offered once per connection, not again after the refusal"
    t_ok "no more refused offers than connections ($FAILED <= $CONNS)" test "$FAILED" -ge 1 -a "$FAILED" -le "$CONNS"
    t_not "nothing was accepted" grep -q 'Accepted publickey' <<<"$WINDOW"
else
    _t_fail "previewd starts with a refused key (it must keep retrying, not exit)"
fi

# ------------------------------------------------------------------ end
t_begin "final"
view
t_eq "$SEED_COMMIT" "$(git -C "$VIEW" rev-list --max-parents=0 HEAD)" "the seed is still the root"
t_eq 3 "$(git -C "$VIEW" rev-list --count "$SEED_COMMIT..HEAD")" "exactly three commits were pushed (alice, -alice, bob)"
t_ok "git fsck on the server repository" git -C "$REPO" fsck --no-progress --no-dangling
echo "# runtime $(($(date +%s) - T_START)) s"
t_end
