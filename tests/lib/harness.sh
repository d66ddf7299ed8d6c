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
#
# Exported/global variables:
#   T_ROOT        repository root (two levels above this file)
#   T_TMP         per-run temp dir under ${TMPDIR:-/tmp}; removed on exit unless KEEP_TMP=1
#   T_PASS T_FAIL counters
#   PREVIEWD_BIN  previewd binary (default $T_ROOT/build/previewd)
#   PV_URL PV_PORT PV_PID PV_LOG PV_DATA   set by pv_start
#   PV_EXIT       exit status of the last previewd stopped by pv_stop/pv_kill9
#   HTTP_STATUS HTTP_BODY HTTP_HEADERS HTTP_CTYPE   set by http
# shellcheck disable=SC2034  # the variables above are for the tests that source this
# Knobs: PV_WANT_PORT (pv_start on this port, e.g. "$PV_PORT" to restart on
#   the same URL), PV_START_TIMEOUT (10 s), HTTP_TIMEOUT (30 s), KEEP_TMP=1.

T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export T_ROOT
# shellcheck source=tests/lib/gitserver.sh disable=SC1091
. "$T_ROOT/tests/lib/gitserver.sh"

: "${PREVIEWD_BIN:=$T_ROOT/build/previewd}"
export PREVIEWD_BIN

T_PASS=0
T_FAIL=0
T_NAME=
T_PIDS=()        # every previewd started, for the exit trap
T_DEFERRED=()    # commands registered with t_defer
PV_URL='' PV_PORT='' PV_PID='' PV_LOG='' PV_DATA='' PV_EXIT=''
HTTP_STATUS='' HTTP_BODY='' HTTP_HEADERS='' HTTP_CTYPE=''

T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/previewd-test.XXXXXX") || {
    echo "harness: cannot create a temp dir" >&2
    exit 1
}
export T_TMP

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

# t_end: stop every previewd still running, fail if any of them printed a
# sanitizer report (ASan, UBSan, LSan, TSan builds), then print the final
# line "N passed, N failed"; exits 1 if anything failed.
t_end() {
    local pid log
    for pid in "${T_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            pv_stop "$pid" >/dev/null 2>&1
        fi
    done
    for log in "$T_TMP"/previewd.*.log; do
        [ -f "$log" ] || continue
        if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer' "$log"; then
            _t_fail "no sanitizer report in $(basename "$log")" \
                "$(grep -m1 -A30 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer' "$log")"
        fi
    done
    printf '%d passed, %d failed\n' "$T_PASS" "$T_FAIL"
    [ "$T_FAIL" -eq 0 ] && exit 0
    exit 1
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

# ---------------------------------------------------------------- previewd

_t_ms() { echo $(($(date +%s%N) / 1000000)); }

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
        port=${PV_WANT_PORT:-$(_gs_pick_port)} || return 1
        PV_LOG=$(mktemp "$T_TMP/previewd.$port.XXXXXX.log")
        env PREVIEWD_LISTEN="127.0.0.1:$port" PREVIEWD_DATA_DIR="$PV_DATA" "$@" \
            "$PREVIEWD_BIN" </dev/null >>"$PV_LOG" 2>&1 &
        PV_PID=$!
        PV_PORT=$port
        PV_URL="http://127.0.0.1:$port"
        T_PIDS+=("$PV_PID")
        export PV_URL PV_PORT PV_PID PV_LOG PV_DATA
        end=$(($(_t_ms) + ${PV_START_TIMEOUT:-10} * 1000))
        while :; do
            if ! kill -0 "$PV_PID" 2>/dev/null; then
                wait "$PV_PID" 2>/dev/null
                PV_EXIT=$?
                PV_PID=
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
            if [ "$(_t_ms)" -ge "$end" ]; then
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

# pv_stop [PID]: SIGTERM, wait ≤10 s, then SIGKILL. PV_EXIT gets the exit
# status; returns 0 if it exited on its own after SIGTERM, 1 if killed.
pv_stop() {
    local pid=${1:-$PV_PID} _ killed=0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "pv_stop: previewd $pid still running 10 s after SIGTERM: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null
        killed=1
    fi
    wait "$pid" 2>/dev/null
    PV_EXIT=$?
    [ "$pid" = "$PV_PID" ] && PV_PID=
    return $killed
}

# pv_kill9 [PID]: crash previewd (SIGKILL) and reap it.
pv_kill9() {
    local pid=${1:-$PV_PID}
    [ -n "$pid" ] || return 0
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    PV_EXIT=$?
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

# bg_stop PID: stop one helper and reap it.
bg_stop() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; return 0; }

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
    HTTP_STATUS=$(curl -s -X "$method" -m "${HTTP_TIMEOUT:-30}" -D "$hfile" -o "$bfile" \
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

# jqr FILTER [jq args...]: jq -r over $HTTP_BODY.
jqr() {
    printf '%s' "$HTTP_BODY" | jq -r "$@"
}

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
    for pid in "${T_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            pv_stop "$pid" >/dev/null 2>&1
        fi
    done
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
