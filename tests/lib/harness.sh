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
#   G             the bare repository g/has_folder/head_commit read (set by the test)
#   VIEW_URL      the repository view/remote_head/on_server clone (set by the test);
#   VIEW          where view clones it ($T_TMP/view); VIEW_ENV_DIR its env folder (env)
#   DB            the database sql opens (default $PV_DATA/previewd.db)
# shellcheck disable=SC2034  # the variables above are for the tests that source this
# Knobs: PV_WANT_PORT (pv_start on this port, e.g. "$PV_PORT" to restart on
#   the same URL), PV_LISTEN_HOST (127.0.0.1; 0.0.0.0 for non-loopback
#   clients), PV_START_TIMEOUT (10 s), HTTP_TIMEOUT (30 s), KEEP_TMP=1.

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

# t_need MSG CMD...: run CMD; if it fails, fail MSG and end the test here
# (for what the rest cannot do without: a previewd, a helper). Records
# nothing when CMD succeeds.
t_need() {
    local msg=$1
    shift
    "$@" || { t_ok "$msg" false; t_end; }
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
        env PREVIEWD_LISTEN="${PV_LISTEN_HOST:-127.0.0.1}:$port" PREVIEWD_DATA_DIR="$PV_DATA" "$@" \
            "$PREVIEWD_BIN" </dev/null >>"$PV_LOG" 2>&1 &
        PV_PID=$!
        PV_PORT=$port
        PV_URL="http://127.0.0.1:$port"
        T_PIDS+=("$PV_PID")
        export PV_URL PV_PORT PV_PID PV_LOG PV_DATA
        end=$(($(now_ms) + ${PV_START_TIMEOUT:-10} * 1000))
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

# pv_token ARGS...: `previewd token ARGS...` on the last pv_start's data
# dir (PV_DATA), running or not; its exit status.
pv_token() { PREVIEWD_DATA_DIR=$PV_DATA "$PREVIEWD_BIN" token "$@"; }

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
