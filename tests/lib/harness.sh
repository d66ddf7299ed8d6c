#!/usr/bin/env bash
# harness.sh — shell library for previewd's integration tests.
#
#   . "$(dirname "$0")/../lib/harness.sh"     # also sources gitserver.sh
#   t_begin "create then get"
#   gitserver_start "$T_TMP/git" && gitserver_new_repo gitops "$T_ROOT/deploy/helm-env"
#   pv_start "$T_TMP/data" PREVIEWD_GIT_URL="$GITSERVER_URL/gitops.git" \
#            PREVIEWD_GIT_USERNAME="$GITSERVER_USER" PREVIEWD_GIT_PASSWORD="$GITSERVER_PASS"
#   http POST /v1/environments '{"owner":"alice"}'
#   t_eq 201 "$HTTP_STATUS" "create answers 201"
#   t_eq alice "$(jqr .name)" "name defaults to owner"
#   t_end                                     # "N passed, N failed"; exit 1 on failure
#
# Assertions never abort the script; they count. Do not use `set -e` with them.
# Every previewd a test starts is judged when it stops: pv_stop and t_end
# record a failure for a non-zero exit, a death by signal or a shutdown past
# PV_STOP_TIMEOUT; pv_kill9 is the one deliberate crash. CLI commands run
# through pv_cli (or pv_token), which asserts their exit status.
#
# Exported/global variables:
#   T_ROOT        repository root (two levels above this file)
#   T_TMP         per-run temp dir under ${TMPDIR:-/tmp}; removed on exit unless KEEP_TMP=1
#   T_PASS T_FAIL T_SKIP counters
#   PREVIEWD_BIN  previewd binary (default $T_ROOT/build/previewd)
#   PV_URL PV_PORT PV_PID PV_LOG PV_DATA   set by pv_start
#   PV_EXIT       exit status of the last previewd stopped by pv_stop/pv_kill9
#   PV_OUT PV_ERR PV_RC   stdout, stderr and exit status of the last pv_cli
#   HTTP_STATUS HTTP_BODY HTTP_HEADERS HTTP_CTYPE   set by http
#   G             the bare repository g/has_folder/head_commit read (set by the test)
#   VIEW_URL      the repository view/remote_head/on_server clone (set by the test);
#   VIEW          where view clones it ($T_TMP/view); VIEW_ENV_DIR its env folder (env)
#   DB            the database sql opens (default $PV_DATA/previewd.db)
# shellcheck disable=SC2034  # the variables above are for the tests that source this
# Knobs: PV_WANT_PORT (pv_start on this port, e.g. "$PV_PORT" to restart on
#   the same URL), PV_LISTEN_HOST (127.0.0.1; 0.0.0.0 for non-loopback
#   clients), PV_START_TIMEOUT (10 s), PV_STOP_TIMEOUT (10 s: SIGTERM to
#   exit), HTTP_TIMEOUT (30 s), HTTP_NETNS (run http's curl in that network
#   namespace), KEEP_TMP=1, PV_TEST_COUNTS (t_end appends "SCRIPT PASSED
#   FAILED SKIPPED" to this file: scripts/test.sh sums them), PV_LIMITS (the
#   settings pv_start puts before the test's own: the quotas and the create
#   rate off, as most tests make more environments, faster, than the
#   defaults allow; a test of the real defaults sets PV_LIMITS=()).

T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export T_ROOT
# shellcheck source=tests/lib/gitserver.sh disable=SC1091
. "$T_ROOT/tests/lib/gitserver.sh"

: "${PREVIEWD_BIN:=$T_ROOT/build/previewd}"
export PREVIEWD_BIN

T_PASS=0
T_FAIL=0
T_SKIP=0
T_NAME=
T_PIDS=()        # every previewd started, for the exit trap
declare -A T_JUDGED=() # previewd pids whose exit is accounted for
declare -A T_PID_LOG=() # each previewd's log
T_DEFERRED=()    # commands registered with t_defer
PV_URL='' PV_PORT='' PV_PID='' PV_LOG='' PV_DATA='' PV_EXIT=''
PV_OUT='' PV_ERR='' PV_RC=''
# what a sanitizer report starts with (ASan, LSan, UBSan, TSan builds)
T_SANITIZER_RE='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer'
HTTP_STATUS='' HTTP_BODY='' HTTP_HEADERS='' HTTP_CTYPE=''
if [ -z "${PV_LIMITS+set}" ]; then
    PV_LIMITS=(PREVIEWD_MAX_ENVS_PER_OWNER=0 PREVIEWD_MAX_ENVS=0 PREVIEWD_CREATE_RATE=0)
fi

T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/previewd-test.XXXXXX") || {
    echo "harness: cannot create a temp dir" >&2
    exit 1
}
export T_TMP
VIEW=$T_TMP/view

# ---------------------------------------------------------------- assertions

t_begin() {
    T_NAME=$*
    printf '# %s\n' "$T_NAME"
}

_t_pass() {
    T_PASS=$((T_PASS + 1))
    printf 'ok - %s\n' "$1"
}

_t_fail() {
    T_FAIL=$((T_FAIL + 1))
    printf 'FAIL - %s%s\n' "${T_NAME:+[$T_NAME] }" "$1"
    shift
    local line
    for line in "$@"; do
        printf '    %s\n' "$line"
    done
}

# t_eq EXPECTED ACTUAL MSG
t_eq() {
    if [ "$1" = "$2" ]; then
        _t_pass "$3"
    else
        _t_fail "$3" "expected: $1" "actual:   $2"
        return 1
    fi
}

# t_match REGEX ACTUAL MSG   (bash ERE, unanchored)
t_match() {
    if [[ $2 =~ $1 ]]; then
        _t_pass "$3"
    else
        _t_fail "$3" "regex:  $1" "actual: $2"
        return 1
    fi
}

# t_ok MSG CMD...   passes when CMD exits 0
t_ok() {
    local msg=$1 rc
    shift
    "$@"
    rc=$?
    if [ $rc -eq 0 ]; then
        _t_pass "$msg"
    else
        _t_fail "$msg" "command failed (exit $rc): $*"
        return 1
    fi
}

# t_not MSG CMD...  passes when CMD exits non-zero
t_not() {
    local msg=$1
    shift
    if "$@"; then
        _t_fail "$msg" "command succeeded: $*"
        return 1
    fi
    _t_pass "$msg"
}

# t_eventually TIMEOUT_S MSG CMD...   polls CMD every 0.1 s until it exits 0
t_eventually() {
    local timeout=$1 msg=$2 end
    shift 2
    end=$(($(date +%s%N) / 1000000 + timeout * 1000))
    while :; do
        if "$@"; then
            _t_pass "$msg"
            return 0
        fi
        if [ $(($(date +%s%N) / 1000000)) -ge $end ]; then
            _t_fail "$msg" "not true within ${timeout}s: $*"
            return 1
        fi
        sleep 0.1
    done
}

# t_allow_leaks ENTRY MODULE...: in the previewd logs t_end reads, accept
# LeakSanitizer reports of leaks allocated by MODULE's own code under the
# function ENTRY and by nothing else on the way (tests/sanitizer/
# lsan_filter.py); any other leak, or a frame of previewd's own below ENTRY,
# still fails. For a library bug an LSan suppression would hide too much.
T_LEAKS_ALLOWED=()
t_allow_leaks() {
    local m
    T_LEAKS_ALLOWED+=(--entry "$1")
    shift
    for m in "$@"; do
        T_LEAKS_ALLOWED+=(--module "$m")
    done
}

# t_skip REASON: record that a part of the test did not run, and why. A
# skip is neither a pass nor a failure: t_end's line and scripts/test.sh
# count it apart.
t_skip() {
    T_SKIP=$((T_SKIP + 1))
    printf 'SKIP - %s%s\n' "${T_NAME:+[$T_NAME] }" "$*"
}

# t_end: stop every previewd still running and judge how each one ended
# (_pv_reap_all), fail if any of them printed a sanitizer report, then print
# the final line "N passed, N failed[, N skipped]" (and append it to
# $PV_TEST_COUNTS); exits 1 if anything failed.
t_end() {
    local log
    _pv_reap_all
    for log in "$T_TMP"/previewd.*.log; do
        [ -f "$log" ] || continue
        grep -qE "$T_SANITIZER_RE" "$log" || continue
        if [ ${#T_LEAKS_ALLOWED[@]} -gt 0 ] &&
            python3 "$T_ROOT/tests/sanitizer/lsan_filter.py" "${T_LEAKS_ALLOWED[@]}" "$log" >/dev/null; then
            echo "# $(basename "$log"): only the leaks t_allow_leaks names ($(grep -c 'leak of' "$log"))"
            continue
        fi
        _t_fail "no sanitizer report in $(basename "$log")" \
            "$(grep -m1 -A30 -E "$T_SANITIZER_RE" "$log")" \
            "${T_LEAKS_ALLOWED[*]:+$(python3 "$T_ROOT/tests/sanitizer/lsan_filter.py" "${T_LEAKS_ALLOWED[@]}" "$log" | head -n 40)}"
    done
    _t_counts
    [ "$T_FAIL" -eq 0 ] && exit 0
    exit 1
}

# _t_counts: the final line, once (the exit trap prints it if t_end did not).
T_COUNTED=0
_t_counts() {
    [ "$T_COUNTED" = 0 ] || return 0
    T_COUNTED=1
    if [ "$T_SKIP" -gt 0 ]; then
        printf '%d passed, %d failed, %d skipped\n' "$T_PASS" "$T_FAIL" "$T_SKIP"
    else
        printf '%d passed, %d failed\n' "$T_PASS" "$T_FAIL"
    fi
    if [ -n "${PV_TEST_COUNTS:-}" ]; then
        printf '%s %d %d %d\n' "$(basename "$0" .sh)" "$T_PASS" "$T_FAIL" "$T_SKIP" >>"$PV_TEST_COUNTS"
    fi
}

# t_defer CMD...: run CMD at exit (before previewd and the git server stop).
t_defer() {
    local q
    printf -v q '%q ' "$@"
    T_DEFERRED+=("$q")
}

# t_mktemp [NAME]: a new dir inside T_TMP, printed.
t_mktemp() {
    mktemp -d "$T_TMP/${1:-tmp}.XXXXXX"
}

# t_need MSG CMD...: run CMD; if it fails, fail MSG and end the test here
# (for what the rest cannot do without: a previewd, a helper). Records
# nothing when CMD succeeds.
t_need() {
    local msg=$1
    shift
    "$@" || { _t_fail "$msg" "command failed: $*"; t_end; }
}

# t_bail MSG: stop the whole test now, with TAP's "Bail out! MSG" on stderr.
t_bail() {
    echo "Bail out! $*" >&2
    exit 1
}

# ---------------------------------------------------------------- time

# now_ms: milliseconds since the epoch.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# iso2s TIME: seconds since the epoch of an RFC 3339 time; fails if unreadable.
iso2s() { date -u -d "$1" +%s; }

# ---------------------------------------------------------------- previewd

# pick_port: print a free loopback port (20000-60000); port_free PORT: true
# if nothing listens on 127.0.0.1:PORT.
pick_port() { _gs_pick_port; }
port_free() { _gs_port_free "$1"; }

# pv_start DATADIR [VAR=value...]: start previewd on a free loopback port and
# wait until /readyz answers 200 (PV_START_READY=0: only /healthz).
# Returns non-zero (does not exit) if it dies or /healthz is not 200 within
# PV_START_TIMEOUT seconds, so a test can assert that bad config is refused.
pv_start() {
    local data=${1:?usage: pv_start DATADIR [VAR=value...]} a port _ end code
    shift
    for a in "$@"; do
        case "$a" in
        [A-Za-z_]*=*) ;;
        *) echo "pv_start: not an assignment: $a" >&2; return 2 ;;
        esac
    done
    if [ ! -x "$PREVIEWD_BIN" ]; then
        echo "pv_start: no previewd binary at $PREVIEWD_BIN (set PREVIEWD_BIN)" >&2
        return 1
    fi
    mkdir -p "$data" || return 1
    PV_DATA=$(cd "$data" && pwd)
    for _ in 1 2 3; do
        port=${PV_WANT_PORT:-$(pick_port)} || return 1
        PV_LOG=$(mktemp "$T_TMP/previewd.$port.XXXXXX.log")
        env PREVIEWD_LISTEN="${PV_LISTEN_HOST:-127.0.0.1}:$port" PREVIEWD_DATA_DIR="$PV_DATA" \
            ${PV_LIMITS[@]+"${PV_LIMITS[@]}"} "$@" \
            "$PREVIEWD_BIN" </dev/null >>"$PV_LOG" 2>&1 &
        PV_PID=$!
        PV_PORT=$port
        PV_URL="http://127.0.0.1:$port"
        T_PIDS+=("$PV_PID")
        T_PID_LOG[$PV_PID]=$PV_LOG
        export PV_URL PV_PORT PV_PID PV_LOG PV_DATA
        end=$(($(now_ms) + ${PV_START_TIMEOUT:-10} * 1000))
        while :; do
            if ! kill -0 "$PV_PID" 2>/dev/null; then
                wait "$PV_PID" 2>/dev/null
                PV_EXIT=$?
                T_JUDGED[$PV_PID]=1
                PV_PID=
                # refusing a configuration is an exit 1 or 2, never a crash
                if [ "$PV_EXIT" -gt 128 ]; then
                    _t_fail "previewd refuses to start without crashing" \
                        "killed by signal $((PV_EXIT - 128)) at start; log $PV_LOG:" \
                        "$(tail -n 20 "$PV_LOG")"
                fi
                if [ -z "${PV_WANT_PORT:-}" ] && grep -qi 'in use' "$PV_LOG"; then
                    continue 2 # lost a race for the port: pick another
                fi
                echo "pv_start: previewd exited with status $PV_EXIT; log $PV_LOG:" >&2
                tail -n 20 "$PV_LOG" | sed 's/^/    /' >&2
                return 1
            fi
            # ready: /healthz answers, and /readyz unless PV_START_READY=0
            # (a previewd that has never reached its Git server stays "starting")
            code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$PV_URL/healthz" 2>/dev/null)
            if [ "$code" = 200 ] && [ "${PV_START_READY:-1}" = 1 ]; then
                code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$PV_URL/readyz" 2>/dev/null)
            fi
            [ "$code" = 200 ] && return 0
            if [ "$(now_ms)" -ge "$end" ]; then
                echo "pv_start: /healthz not 200 within ${PV_START_TIMEOUT:-10}s (last: $code); log $PV_LOG" >&2
                pv_kill9 "$PV_PID"
                return 1
            fi
            sleep 0.05
        done
    done
    echo "pv_start: no port after 3 attempts" >&2
    return 1
}

# pv_start_on PORTVAR DATADIR [VAR=value...]: pv_start on the port held in
# the variable PORTVAR (one is picked if it is empty), so that restarts keep
# their URL; a port another process took meanwhile is replaced by a new one,
# stored back in PORTVAR (5 tries). Returns pv_start's status.
pv_start_on() {
    local var=${1:?usage: pv_start_on PORTVAR DATADIR [VAR=value...]} _
    shift
    local port=${!var:-}
    [ -n "$port" ] || port=$(pick_port) || return 1
    for _ in 1 2 3 4 5; do
        printf -v "$var" %s "$port"
        PV_WANT_PORT=$port pv_start "$@" && return 0
        grep -q 'Address already in use' "$PV_LOG" || return 1
        port=$(pick_port) || return 1
    done
    return 1
}

# pv_as NAME: keep the last pv_start's previewd as NAME_URL, NAME_PORT,
# NAME_PID, NAME_LOG (to run several at once).
pv_as() {
    printf -v "${1}_URL" %s "$PV_URL"
    printf -v "${1}_PORT" %s "$PV_PORT"
    printf -v "${1}_PID" %s "$PV_PID"
    printf -v "${1}_LOG" %s "$PV_LOG"
}

# pv_cli [-x STATUS] [-m MSG] [VAR=value...] ARG...: run `previewd ARG...`
# (a CLI command: token, recover, print-applicationset, --check-config, ...)
# with the VARs set, and assert that it exits STATUS (default 0) without a
# sanitizer report on stderr; MSG names the assertion. Sets PV_OUT (stdout),
# PV_ERR (stderr) and PV_RC. Not for $(...): the assertion would be counted
# in the subshell only; read PV_OUT instead. Returns 0 if the check passed.
pv_cli() {
    local want=0 msg='' vars=() ofile efile
    while :; do
        case "${1-}" in
        -x) want=$2; shift 2 ;;
        -m) msg=$2; shift 2 ;;
        *) break ;;
        esac
    done
    while [[ ${1-} =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; do
        vars+=("$1")
        shift
    done
    [ -n "$msg" ] || msg="previewd $* exits $want"
    ofile=$(mktemp "$T_TMP/cli.out.XXXXXX")
    efile=$(mktemp "$T_TMP/cli.err.XXXXXX")
    env "${vars[@]}" "$PREVIEWD_BIN" "$@" </dev/null >"$ofile" 2>"$efile"
    PV_RC=$?
    PV_OUT=$(cat "$ofile")
    PV_ERR=$(cat "$efile")
    rm -f "$ofile" "$efile"
    if [ "$PV_RC" != "$want" ]; then
        _t_fail "$msg" "previewd $* exited $PV_RC, expected $want; stderr:" "$(tail -n 30 <<<"$PV_ERR")"
        return 1
    fi
    if grep -qE "$T_SANITIZER_RE" <<<"$PV_ERR"; then
        _t_fail "$msg" "previewd $* printed a sanitizer report:" "$(grep -m1 -A30 -E "$T_SANITIZER_RE" <<<"$PV_ERR")"
        return 1
    fi
    _t_pass "$msg"
}

# pv_token [-x STATUS] [-m MSG] ARGS...: pv_cli `previewd token ARGS...` on
# the last pv_start's data dir (PV_DATA), running or not.
pv_token() {
    local opts=()
    while [ "${1-}" = -x ] || [ "${1-}" = -m ]; do
        opts+=("$1" "$2")
        shift 2
    done
    pv_cli "${opts[@]}" PREVIEWD_DATA_DIR="$PV_DATA" token "$@"
}

# pv_stop [PID]: SIGTERM, wait up to PV_STOP_TIMEOUT (10 s), then SIGKILL.
# PV_EXIT gets the exit status. A previewd that does not exit 0 in time
# (a hang at shutdown, a crash, a sanitizer's exit code) is a failure of
# the test; returns 0 if it exited 0 on its own, 1 otherwise.
pv_stop() {
    local pid=${1:-$PV_PID} end killed=0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    end=$(($(now_ms) + ${PV_STOP_TIMEOUT:-10} * 1000))
    while kill -0 "$pid" 2>/dev/null && [ "$(now_ms)" -lt "$end" ]; do
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "pv_stop: previewd $pid still running ${PV_STOP_TIMEOUT:-10} s after SIGTERM: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null
        killed=1
    fi
    wait "$pid" 2>/dev/null
    PV_EXIT=$?
    [ "$pid" = "$PV_PID" ] && PV_PID=
    _pv_judge "$pid" "$PV_EXIT" "$killed" "SIGTERM"
}

# _pv_judge PID STATUS KILLED HOW: record a failure unless previewd PID,
# stopped by HOW, exited 0 by itself; marks PID as accounted for.
_pv_judge() {
    local pid=$1 status=$2 killed=$3 how=$4 why=''
    T_JUDGED[$pid]=1
    if [ "$killed" = 1 ]; then
        why="still running ${PV_STOP_TIMEOUT:-10} s after $how: killed"
    elif [ "$status" -gt 128 ]; then
        why="killed by signal $((status - 128)) after $how"
    elif [ "$status" -ne 0 ]; then
        why="exited with status $status after $how"
    else
        return 0
    fi
    _t_fail "previewd $pid exits 0 on its own after $how" "$why; log ${T_PID_LOG[$pid]:-?}:" \
        "$(tail -n 20 "${T_PID_LOG[$pid]:-/dev/null}" 2>/dev/null)"
    return 1
}

# _pv_reap_all: stop (pv_stop) every previewd still running; one that ended
# by itself, unseen, failed (a crash while the test looked elsewhere).
_pv_reap_all() {
    local pid status
    for pid in "${T_PIDS[@]}"; do
        [ -z "${T_JUDGED[$pid]:-}" ] || continue
        if kill -0 "$pid" 2>/dev/null; then
            pv_stop "$pid" >/dev/null 2>&1
        else
            wait "$pid" 2>/dev/null
            status=$?
            [ "$pid" = "$PV_PID" ] && PV_PID=
            T_JUDGED[$pid]=1
            _t_fail "previewd $pid runs until the test stops it" \
                "it ended by itself with status $status; log ${T_PID_LOG[$pid]:-?}:" \
                "$(tail -n 20 "${T_PID_LOG[$pid]:-/dev/null}" 2>/dev/null)"
        fi
    done
}

# pv_kill9 [PID]: crash previewd (SIGKILL) and reap it: the one way a
# previewd may end without a clean exit.
pv_kill9() {
    local pid=${1:-$PV_PID}
    [ -n "$pid" ] || return 0
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    PV_EXIT=$?
    T_JUDGED[$pid]=1
    [ "$pid" = "$PV_PID" ] && PV_PID=
    return 0
}

# ---------------------------------------------------------------- helpers

# bg_start VAR OUT CMD...: start a loopback helper (receiver, fake server)
# that prints its port on its first line; sets VAR_PID and VAR_PORT.  OUT
# collects its output.  Every helper is stopped at exit.
T_BG_PIDS=()
bg_start() {
    local var=$1 out=$2 port='' pid _
    shift 2
    : >"$out"
    "$@" >"$out" 2>&1 &
    pid=$!
    T_BG_PIDS+=("$pid")
    for _ in $(seq 1 100); do
        port=$(head -n 1 "$out")
        [[ $port =~ ^[0-9]+$ ]] && break
        port=''
        sleep 0.05
    done
    [ -n "$port" ] || { echo "$* did not start: $(cat "$out")" >&2; return 1; }
    printf -v "${var}_PID" %s "$pid"
    printf -v "${var}_PORT" %s "$port"
}

# bg_stop PID: stop one helper and reap it; a helper still running 5 s
# after SIGTERM is killed and fails the test (its exit status is not
# judged: a helper killed by SIGTERM reports 143).
bg_stop() {
    local end
    end=$(($(now_ms) + 5000))
    kill -TERM "$1" 2>/dev/null
    while kill -0 "$1" 2>/dev/null && [ "$(now_ms)" -lt "$end" ]; do
        sleep 0.05
    done
    if kill -0 "$1" 2>/dev/null; then
        kill -KILL "$1" 2>/dev/null
        wait "$1" 2>/dev/null
        _t_fail "helper $1 stops within 5 s of SIGTERM" "killed"
        return 1
    fi
    wait "$1" 2>/dev/null
    return 0
}

# rcv_start VAR LOG [receiver.py args...]: start tests/lib/receiver.py
# logging every request to LOG; sets VAR_PID and VAR_PORT (see bg_start).
rcv_start() {
    local var=$1 log=$2
    shift 2
    bg_start "$var" "$(mktemp "$T_TMP/rcv.XXXXXX")" python3 "$T_ROOT/tests/lib/receiver.py" "$log" "$@"
}

# rcv_stop PID: stop a receiver (bg_stop).
rcv_stop() { bg_stop "$1"; }

# hooklog github|previewd SECRET LOG: a receiver's or fake Argo CD's LOG as a
# JSON array, each request's signature checked (tests/lib/hooklog.py).
hooklog() { python3 "$T_ROOT/tests/lib/hooklog.py" "$@"; }

# ---------------------------------------------------------------- HTTP

# http METHOD PATH [BODY] [curl args...]
# PATH is appended to $PV_URL unless it starts with http:// or https://.
# A non-empty BODY is sent as-is (--data-binary: "@file" reads a file) with
# Content-Type: application/json unless the extra args set a Content-Type.
# Sets HTTP_STATUS (000 if no answer), HTTP_BODY, HTTP_HEADERS (last response's
# header block, CR stripped, status line first), HTTP_CTYPE. Returns curl's
# exit status.
http() {
    local method=${1:?usage: http METHOD PATH [BODY] [curl args...]} path=${2:?} body=${3-} url rc a
    shift 2
    [ $# -gt 0 ] && shift
    case "$path" in
    http://* | https://*) url=$path ;;
    *) url=$PV_URL$path ;;
    esac
    local hfile bfile args=()
    hfile=$(mktemp "$T_TMP/http.h.XXXXXX")
    bfile=$(mktemp "$T_TMP/http.b.XXXXXX")
    if [ -n "$body" ]; then
        args+=(--data-binary "$body")
        local have_ct=0
        for a in "$@"; do
            case "${a,,}" in content-type:*) have_ct=1 ;; esac
        done
        [ $have_ct -eq 1 ] || args+=(-H 'Content-Type: application/json')
    fi
    HTTP_STATUS=$(${HTTP_NETNS:+ip netns exec "$HTTP_NETNS"} curl -s -X "$method" -m "${HTTP_TIMEOUT:-30}" -D "$hfile" -o "$bfile" \
        -w '%{http_code}' "${args[@]}" "$@" "$url")
    rc=$?
    [ -n "$HTTP_STATUS" ] || HTTP_STATUS=000
    HTTP_BODY=$(cat "$bfile")
    # keep only the last header block (skips 100 Continue and the like)
    HTTP_HEADERS=$(tr -d '\r' <"$hfile" | awk '/^HTTP\//{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}')
    HTTP_CTYPE=$(printf '%s\n' "$HTTP_HEADERS" | awk 'tolower($0) ~ /^content-type:/ {sub(/^[^:]*:[ \t]*/, ""); v=$0} END{print v}')
    rm -f "$hfile" "$bfile"
    return $rc
}

# http_header NAME: value of header NAME in $HTTP_HEADERS (last one wins).
http_header() {
    printf '%s\n' "$HTTP_HEADERS" | awk -v n="$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')" '
        { i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == n) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); r = v } }
        END { print r }'
}

# jq_of JSON FILTER [jq args...]: jq -r over the string JSON.
jq_of() {
    local json=$1
    shift
    printf '%s' "$json" | jq -r "$@"
}

# jqr FILTER [jq args...]: jq -r over $HTTP_BODY.
jqr() { jq_of "$HTTP_BODY" "$@"; }

# readyz_is STATUS: GET /readyz answers 200 with .status STATUS (ready or
# degraded: the statuses answered 200); the answer stays in HTTP_*.
readyz_is() {
    http GET /readyz && [ "$HTTP_STATUS" = 200 ] && [ "$(jqr .status)" = "$1" ]
}

# env_status NAME [BASE_URL]: print environment NAME's .status ($PV_URL by
# default); HTTP_* are left alone.
env_status() {
    curl -s -m 5 "${2:-$PV_URL}/v1/environments/$1" | jq -r .status
}

# env_status_is NAME STATUS [BASE_URL]: GET environment NAME answers 200
# with .status STATUS; the answer stays in HTTP_*.
env_status_is() {
    http GET "${3:-$PV_URL}/v1/environments/$1" && [ "$HTTP_STATUS" = 200 ] && [ "$(jqr .status)" = "$2" ]
}

# ---------------------------------------------------------------- Git, YAML, SQLite

# g ARGS...: git on the bare repository $G (G=DIR g ... for another one).
g() { git --git-dir "${G:?g: set G to a bare repository}" "$@"; }

# head_commit: the commit of main in $G.
head_commit() { g rev-parse main; }

# has_folder NAME: env/NAME is on main in $G; no_folder NAME: it is not.
has_folder() { g cat-file -e "main:env/$1" 2>/dev/null; }
no_folder() { ! has_folder "$1"; }

# view: a fresh clone of $VIEW_URL in $VIEW (the server's truth); fails if
# the clone does.
view() {
    rm -rf "$VIEW"
    git clone -q "${VIEW_URL:?view: set VIEW_URL}" "$VIEW" 2>/dev/null
}

# remote_head: the commit of main on $VIEW_URL, asked of the server.
remote_head() {
    git ls-remote "${VIEW_URL:?remote_head: set VIEW_URL}" refs/heads/main 2>/dev/null | cut -f1
}

# on_server NAME: a fresh view holds $VIEW_ENV_DIR/NAME/values.yaml.
on_server() {
    view && [ -f "$VIEW/${VIEW_ENV_DIR:-env}/$1/values.yaml" ]
}

# yaml_is_mapping FILE: FILE parses as YAML and is a mapping (Argo CD's
# requirement for values files).
yaml_is_mapping() {
    python3 -c 'import yaml,sys; d=yaml.safe_load(open(sys.argv[1])); assert isinstance(d, dict)' "$1" 2>/dev/null
}

# yaml_json FILE: FILE as compact JSON, keys sorted (YAML 1.1 as PyYAML and
# Helm read it).
yaml_json() {
    python3 -c 'import yaml,json,sys; print(json.dumps(yaml.safe_load(open(sys.argv[1])), sort_keys=True))' "$1"
}

# yaml_get FILE|- KEY...: print the value at KEY... of a YAML document, as
# Python prints it (True, None); a missing key prints None.
yaml_get() {
    python3 -c 'import sys, yaml
d = yaml.safe_load(sys.stdin if sys.argv[1] == "-" else open(sys.argv[1]))
for k in sys.argv[2:]:
    d = d.get(k) if isinstance(d, dict) else None
print(d)' "$@"
}

# sql QUERY...: sqlite3 on $DB (default the last pv_start's previewd.db),
# waiting up to 5 s for previewd's locks.
sql() { sqlite3 -cmd '.timeout 5000' "${DB:-$PV_DATA/previewd.db}" "$@"; }

# outbox_pending DB: how many notifications DB has not delivered yet;
# outbox_drained DB: none.
outbox_pending() { sqlite3 "$1" 'select count(*) from outbox where delivered_at is null'; }
outbox_drained() { [ "$(outbox_pending "$1")" = 0 ]; }

# ---------------------------------------------------------------- cleanup

_t_cleanup() {
    local rc=$? cmd pid
    trap - EXIT INT TERM
    for cmd in "${T_DEFERRED[@]}"; do
        eval "$cmd" || true
    done
    for pid in "${T_BG_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    # a test that ended without t_end (t_bail, an early exit): its
    # previewds are still judged, and the counts still printed
    if [ "$T_COUNTED" = 0 ]; then
        _pv_reap_all
        _t_counts
        [ "$T_FAIL" -eq 0 ] || [ "$rc" -ne 0 ] || rc=1
    fi
    if [ -n "${GITSERVER_DIR:-}" ]; then
        gitserver_stop "$GITSERVER_DIR" >/dev/null 2>&1
    fi
    if [ "$T_FAIL" -gt 0 ] && [ -n "${PV_LOG:-}" ] && [ -s "$PV_LOG" ]; then
        echo "# last lines of $PV_LOG:" >&2
        tail -n 40 "$PV_LOG" | sed 's/^/#   /' >&2
    fi
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        echo "# temp files kept in $T_TMP" >&2
    else
        rm -rf "$T_TMP"
    fi
    exit $rc
}
trap _t_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# metric NAME: the value of an unlabelled metric in the last pv_start's /metrics
metric() { curl -s -m 30 "$PV_URL/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
# rejection_path LOG FROM: what previewd logged from line FROM of LOG on,
# between its first rejected push and the next push that landed: the push
# rejected, then that landing push, and no backoff between them (its debug
# line "next attempt in N ms"), one line each
rejection_path() {
	tail -n "+$2" "$1" | awk '
		/gitops: push rejected \(.*\); fetching and rebuilding/ && !r { r = 1; print "rejected, fetching and rebuilding"; next }
		r && /gitops: next attempt in/ { print "backoff: " $0 }
		r && /gitops: pushed / { print "pushed"; exit }'
}
