#!/usr/bin/env bash
# ctest-labels: integration
# test_disk_full.sh — a full disk is a state, not a loop.
#
# PREVIEWD_DATA_DIR lives on an 8 MiB tmpfs that a filler file fills up;
# previewd pushes to a smart-HTTP Git server (lighttpd + git http-backend)
# off that tmpfs.  The local clone (DATA_DIR/clone.git) is a symlink off the
# tmpfs too: what fills here is the SQLite file, so that the push lands and
# only its record fails - the case where the writer used to go round at once,
# logging each time.  (With the clone on the full disk as well, the fetch
# fails first and the writer's Git backoff holds it: the older case.)
#
# Environments are accepted (202) while the Git server is away, the disk
# fills, the Git server comes back: Git takes the push, SQLite refuses its
# record.  Then:
#   - /readyz answers 200 "degraded" with db.ok false and the reason (reads
#     go on; see api.c's ready());
#   - a write answers 503 problem+json with Retry-After, its detail naming
#     the database and the full disk; a read answers 200;
#   - over 10 s previewd's CPU (utime+stime from /proc/PID/stat) stays under
#     20 % of a core and its log gains at most 15 lines (bounds on a runaway
#     loop, not speed targets);
#   - the filler goes: /readyz ready, a write succeeds, all without help;
#   - a second fill, a kill -9 while full, the filler removed, a restart:
#   - every environment acknowledged (201/202) before or during a fill is in
#     Git (both files) and active and pushed in the database.
#
# Needs a tmpfs: as root it mounts one; otherwise it runs itself in a user
# and mount namespace (unshare -rm); where neither works it is skipped.
#
#   bash tests/integration/test_disk_full.sh        (KEEP_TMP=1 keeps the logs)
#
# shellcheck disable=SC2317  # helpers below are run through t_ok/t_eventually
if [ "$(id -u)" != 0 ] && [ -z "${PV_DISKFULL_NS:-}" ] && unshare -rm true 2>/dev/null; then
    PV_DISKFULL_NS=1 exec unshare -rm bash "$0" "$@"
fi
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

SRC=${PV_SOURCE_DIR:-$T_ROOT}
MNT=$T_TMP/small
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=8m previewd-diskfull "$MNT" 2>"$T_TMP/mount.err"; then
    t_skip "no tmpfs can be mounted here (uid $(id -u)): $(cat "$T_TMP/mount.err")"
    t_end
fi
t_defer umount -l "$MNT"
DATA=$MNT/data
DB=$DATA/previewd.db
FILLER=$MNT/filler
ACKED=() # every name answered 201 or 202

# fill: write the filler until the tmpfs has no block left.
fill() {
    dd if=/dev/zero of="$FILLER" bs=64k 2>/dev/null
    [ "$(df --output=avail "$MNT" | tail -n 1 | tr -d ' ')" = 0 ]
}
# create NAME: POST it (answer within 300 ms: 202 while Git is away); a 2xx
# is remembered as acknowledged.
create() {
    http POST /v1/environments "{\"owner\":\"df\",\"name\":\"$1\",\"values\":{\"n\":\"$1\"}}"
    case "$HTTP_STATUS" in 201 | 202) ACKED+=("$1") ;; esac
}
# in_git NAME: both files of env/NAME are on main on the Git server.
in_git() { has_folder "$1" && g cat-file -e "main:env/$1/values.yaml" && g cat-file -e "main:env/$1/previewd.json"; }
all_in_git() {
    local n
    for n in "$@"; do in_git "$n" || return 1; done
}
# recorded NAME: active in the database, its generation pushed.
recorded() { [ "$(sql "select status || ':' || (gen = pushed_gen) from envs where name = '$1'")" = active:1 ]; }
all_recorded() {
    local n
    for n in "$@"; do recorded "$n" || return 1; done
}
# cpu_ticks: previewd's utime + stime, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PV_PID/stat"; }
readyz_db_refuses() {
    http GET /readyz && [ "$HTTP_STATUS" = 200 ] && [ "$(jqr .checks.db.ok)" = false ]
}
# accept_while_git_away NAME...: the Git server goes, NAMEs are accepted
# (202: in the database, not yet in Git), the disk fills, the Git server
# comes back and takes the push whose record SQLite refuses.
accept_while_git_away() {
    local n
    t_ok "the Git server goes away" gitserver_pause
    for n in "$@"; do
        create "$n"
        t_eq 202 "$HTTP_STATUS" "$n is accepted while Git is away"
    done
    t_ok "the filler fills the tmpfs" fill
    t_ok "the Git server comes back" gitserver_resume
    t_eventually 30 "the push of $* lands in Git with the disk full" all_in_git "$@"
    t_eventually 10 "/readyz says the database refuses writes" readyz_db_refuses
}

# ------------------------------------------------------------------ setup
t_begin "setup"
if ! gitserver_start "$T_TMP/git" || ! gitserver_new_repo gitops "$SRC/deploy/helm-env"; then
    t_bail "cannot start the Git server"
fi
G=$GITSERVER_DIR/repos/gitops.git
mkdir -p "$DATA" "$T_TMP/clone.git"
ln -s "$T_TMP/clone.git" "$DATA/clone.git"
PV_ARGS=(
    PREVIEWD_GIT_URL="$GITSERVER_URL/gitops.git"
    PREVIEWD_GIT_USERNAME="$GITSERVER_USER"
    PREVIEWD_GIT_PASSWORD="$GITSERVER_PASS"
    PREVIEWD_WAIT_MS=300
    PREVIEWD_PUSH_BACKOFF_MAX_MS=500
    PREVIEWD_GIT_POLL=0
)
# shellcheck disable=SC2034  # read and set by pv_start_on through its PORTVAR
PORT= # picked at the first start; the restart reuses it
t_need "previewd starts with its data dir on the tmpfs" pv_start_on PORT "$DATA" "${PV_ARGS[@]}"
for n in df-a df-b df-c; do
    create "$n"
    # 201 when the push lands within PREVIEWD_WAIT_MS, else 202 and it lands after
    t_match '^20[12]$' "$HTTP_STATUS" "$n is accepted before the disk fills"
    t_eventually 20 "$n is pushed and recorded before the disk fills" recorded "$n"
done

# ------------------------------------------------------------------ full
t_begin "the disk fills after a push"
accept_while_git_away df-d df-e
t_eq degraded "$(jqr .status)" "/readyz: degraded (reads go on), not ready"
t_match 'refuses writes.*(full|disk)' "$(jqr .checks.db.error)" "/readyz: db.error names the full database"
t_ok "/readyz: db.refusing_since is a time" iso2s "$(jqr .checks.db.refusing_since)"
t_eq true "$(jqr .checks.git.ok)" "/readyz: Git itself is fine"

for n in df-f df-g; do
    create "$n"
    if [ "$HTTP_STATUS" = 503 ]; then
        t_eq application/problem+json "$HTTP_CTYPE" "a write while full: problem+json"
        t_match '^[1-9][0-9]*$' "$(http_header Retry-After)" "a write while full: 503 with Retry-After"
        t_match 'database.*(disk is full|full)' "$(jqr .detail)" "a write while full: the detail names the database and the disk"
    else
        # a write that still fits (SQLite reusing its log) is acknowledged and must land
        t_match '^20[12]$' "$HTTP_STATUS" "a write while full answers 503, or is acknowledged"
    fi
done
http PATCH /v1/environments/df-a '{"ttl":"2h"}' -H 'Content-Type: application/merge-patch+json'
[ "$HTTP_STATUS" = 503 ] &&
    t_match '^[1-9][0-9]*$' "$(http_header Retry-After)" "a PATCH while full: 503 with Retry-After"
http GET /v1/environments/df-d
t_eq 200 "$HTTP_STATUS" "a read while full answers 200 ($(jqr .detail 2>/dev/null))"

t_begin "a full disk is a state, not a loop"
hz=$(getconf CLK_TCK)
lines0=$(wc -l <"$PV_LOG")
cpu0=$(cpu_ticks)
sleep 10
cpu1=$(cpu_ticks)
lines1=$(wc -l <"$PV_LOG")
echo "# over 10 s: $((cpu1 - cpu0)) CPU ticks (of $((hz * 10)) for a core), $((lines1 - lines0)) log lines"
t_ok "CPU over 10 s stays under 20 % of a core ($((cpu1 - cpu0)) ticks)" test $((cpu1 - cpu0)) -lt $((hz * 10 / 5))
t_ok "the log gains at most 15 lines in 10 s ($((lines1 - lines0)))" test $((lines1 - lines0)) -le 15
t_match 'refuses writes' "$(cat "$PV_LOG")" "the log says the database refuses writes"

t_begin "space freed: previewd resumes by itself"
rm -f "$FILLER"
t_eventually 20 "/readyz is ready again" readyz_is ready
t_eq true "$(jqr .checks.db.ok)" "/readyz: db.ok true"
t_eventually 20 "every acknowledged environment is recorded as pushed" all_recorded "${ACKED[@]}"
create df-h
t_eq 201 "$HTTP_STATUS" "a write succeeds after the space is freed"
t_ok "every acknowledged environment is in Git" all_in_git "${ACKED[@]}"
t_match 'takes writes again' "$(cat "$PV_LOG")" "the log says the database takes writes again"

# ------------------------------------------------------------------ kill -9
t_begin "full again, kill -9, space freed, restart"
accept_while_git_away df-i df-j
create df-k
pv_kill9
rm -f "$FILLER"
t_need "previewd restarts on the freed disk" pv_start_on PORT "$DATA" "${PV_ARGS[@]}"
t_eventually 30 "every acknowledged environment is recorded as pushed after the restart" all_recorded "${ACKED[@]}"
t_ok "every acknowledged environment is in Git after the restart" all_in_git "${ACKED[@]}"
t_eventually 10 "/readyz is ready after the restart" readyz_is ready
t_eq ok "$(sql 'pragma integrity_check')" "SQLite's integrity_check is ok"
echo "# acknowledged: ${ACKED[*]}"
t_end
