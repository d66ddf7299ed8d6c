#!/usr/bin/env bash
# ctest-labels: integration concurrent
# The Git writer's paths that the other tests do not take:
#   1. a server that keeps declining pushes (a pre-receive hook that exits 1
#      with a message, behind the smart-HTTP server of gitserver.sh): the
#      rows stay pending, previewd backs off instead of pushing in a loop,
#      and the reason - the per-reference status and the hook's own words -
#      is in the environment's git.error and in /readyz; once the hook lets
#      pushes through, the row lands;
#   2. a round holds at most 500 rows: 600 asynchronous creates all land, in
#      more than one commit;
#   3. a repack that fails (its pack folder immutable, or read-only when not
#      root) is logged, the writer keeps going and the next create still
#      lands; once the folder is writable a repack goes through.
# shellcheck disable=SC2317  # helpers run through t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

# ASan builds: libgit2 1.5's git_packbuilder_write leaks what it allocated
# (the deltas of prepare_pack, the indexer) when it cannot create its pack
# file, which section 3 makes happen on purpose; previewd frees the packbuilder
# (gitrepo.c).  Suppressed for this test's previewd only, on libgit2's own
# frame: git_packbuilder_write is called without callbacks, so no previewd
# code runs beneath it.  Matching on the function needs full stacks (libgit2
# has no frame pointers).  No effect on other builds.
LSAN_SUPP=$T_TMP/lsan.supp
_supp=$(printf '%s' "${LSAN_OPTIONS:-}" | tr ' ' ':' | tr ':' '\n' | sed -n 's/^suppressions=//p' | tail -n 1)
{
	if [ -n "$_supp" ] && [ -f "$_supp" ]; then cat "$_supp"; fi
	echo "# test_paths_git.sh: libgit2 1.5's packbuilder on a failed write"
	echo "leak:git_packbuilder_write"
} >"$LSAN_SUPP"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$LSAN_SUPP"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"

t_need "the Git server starts" gitserver_start "$T_TMP/git"
t_need "the GitOps repository is seeded" gitserver_new_repo gitops "$T_ROOT/deploy/helm-env"
G=$GITSERVER_DIR/repos/gitops.git
VIEW_URL=$(gitserver_url gitops)
HOOKLOG=$T_TMP/hook.log
DECLINE=$T_TMP/decline
: >"$HOOKLOG"
cat >"$G/hooks/pre-receive" <<EOF
#!/bin/sh
cat >/dev/null
echo push >>'$HOOKLOG'
if [ -e '$DECLINE' ]; then
	echo 'policy: the env folder is frozen' >&2
	exit 1
fi
exit 0
EOF
chmod +x "$G/hooks/pre-receive"
pushes() { wc -l <"$HOOKLOG"; }

DATA=$T_TMP/data
t_need "previewd starts" pv_start "$DATA" PREVIEWD_GIT_URL="$GITSERVER_URL/gitops.git" \
	PREVIEWD_GIT_USERNAME="$GITSERVER_USER" PREVIEWD_GIT_PASSWORD="$GITSERVER_PASS" \
	PREVIEWD_WAIT_MS=10000 PREVIEWD_PUSH_BACKOFF_MAX_MS=2000 PREVIEWD_REPACK_EVERY=4

# ---------------------------------------------------------------- 1. declined
t_begin "1. a server that keeps declining pushes"
touch "$DECLINE"
tip0=$(head_commit)
http POST /v1/environments '{"owner":"frozen"}' -H 'Prefer: respond-async'
t_eq 202 "$HTTP_STATUS" "the create is accepted, not yet in Git"
git_error_is_set() { http GET /v1/environments/frozen && [ "$(jqr '.git.error // empty')" != "" ]; }
t_eventually 30 "the environment's git.error is set" git_error_is_set
GIT_ERROR=$(jqr .git.error)
t_eq pending "$(jqr .status)" "the environment stays pending"
t_match 'pre-receive hook declined' "$GIT_ERROR" "git.error has the server's status for the reference"
t_match 'the env folder is frozen' "$GIT_ERROR" "git.error has the hook's own words"
# each round's fetch succeeds before its push is declined: between the two
# the git check is briefly ok again, hence "eventually"
readyz_declined() {
	readyz_is degraded && [ "$(jqr .checks.git.ok)" = false ] &&
		[[ $(jqr .checks.git.error) =~ pre-receive\ hook\ declined.*the\ env\ folder\ is\ frozen ]]
}
t_eventually 20 "/readyz is degraded, its git check not ok, and says why" readyz_declined
t_eq "$tip0" "$(head_commit)" "the branch did not move"
t_ok "the hook ran ($(pushes) pushes)" test "$(pushes)" -ge 1
# backoff: capped at 2 s (with jitter, at least 1 s apart at the cap), so a
# 10 s window holds a handful of pushes; a writer retrying at once would
# push hundreds of times
f0=$(metric previewd_git_push_failures_total)
p0=$(pushes)
sleep 10
p1=$(pushes)
f1=$(metric previewd_git_push_failures_total)
t_ok "previewd backs off ($((p1 - p0)) pushes in 10 s, at most 20)" test $((p1 - p0)) -le 20
t_ok "it keeps trying (more than 1 push in 10 s)" test $((p1 - p0)) -ge 2
t_ok "previewd_git_push_failures_total counts the declines ($f0 -> $f1)" test "$f1" -gt "$f0"
t_eq 0 "$(sql "select count(*) from envs where name = 'frozen' and pushed_gen >= gen")" "the row is still dirty"
rm -f "$DECLINE"
t_eventually 30 "once the hook lets it through, the environment lands" env_status_is frozen active
t_ok "it is on the server" has_folder frozen
t_eq null "$(jqr .git.error)" "its git.error is cleared"
t_eventually 10 "/readyz is ready again" readyz_is ready

# ---------------------------------------------------------------- 2. > 500 rows
t_begin "2. 600 rows waiting: all land, in rounds of at most 500"
# the hook holds the rows back so that they all wait for one round
touch "$DECLINE"
tip1=$(head_commit)
seq 1 600 | xargs -P 8 -I{} curl -s -o /dev/null -w '%{http_code}\n' -m 30 -X POST \
	-H 'Content-Type: application/json' -H 'Prefer: respond-async' \
	-d '{"owner":"bulk{}"}' "$PV_URL/v1/environments" >"$T_TMP/bulk.codes"
t_eq "600" "$(grep -c '^202$' "$T_TMP/bulk.codes")" "600 asynchronous creates are accepted (202)"
t_eq 600 "$(sql "select count(*) from envs where name like 'bulk%' and gen > pushed_gen")" "all 600 wait"
rm -f "$DECLINE"
bulk_landed() { [ "$(sql "select count(*) from envs where name like 'bulk%' and status = 'active'")" = 600 ]; }
t_eventually 60 "all 600 become active" bulk_landed
t_eq 600 "$(g ls-tree --name-only main:env/ | grep -c '^bulk')" "all 600 folders are on the server"
# env folders each commit since tip1 added
per_commit=$(g rev-list --reverse "$tip1..main" | while read -r c; do
	g diff-tree --no-commit-id --name-only -r "$c" | awk -F/ '$1 == "env" { print $2 }' | sort -u | wc -l
done | tr '\n' ' ')
echo "# folders per commit: $per_commit"
t_ok "they took more than one commit ($per_commit)" test "$(wc -w <<<"$per_commit")" -ge 2
t_eq 0 "$(tr ' ' '\n' <<<"$per_commit" | awk '$1 > 500' | wc -l)" "no commit holds more than 500 of them"

# ---------------------------------------------------------------- 3. repack fails
t_begin "3. a repack that cannot write its pack"
PACKDIR=$DATA/clone.git/objects/pack
t_ok "the clone's pack folder exists" test -d "$PACKDIR"
# root ignores modes: the immutable attribute holds for root too
frozen=none
if chattr +i "$PACKDIR" 2>/dev/null; then
	frozen='chattr'
	t_defer chattr -i "$PACKDIR"
else
	chmod a-w "$PACKDIR" && frozen='chmod'
	t_defer chmod u+w "$PACKDIR"
fi
t_not "the pack folder refuses new files ($frozen)" touch "$PACKDIR/probe"
warns0=$(grep -cE 'warn +gitops: .*(repacking|writing new objects)' "$PV_LOG")
# PREVIEWD_REPACK_EVERY=4: four commits make a repack due
for i in 1 2 3 4 5; do
	http POST /v1/environments "{\"owner\":\"rp$i\"}"
	t_eq 201 "$HTTP_STATUS" "create rp$i lands while the pack folder is frozen"
done
repack_failed() { [ "$(grep -cE 'warn +gitops: .*(repacking|writing new objects)' "$PV_LOG")" -gt "$warns0" ]; }
t_eventually 30 "the writer logs that it could not write the pack" repack_failed
grep -E 'warn +gitops: .*(repacking|writing new objects)' "$PV_LOG" | tail -1 | sed 's/^/# /'
http POST /v1/environments '{"owner":"after"}'
t_eq 201 "$HTTP_STATUS" "the next create still lands"
t_ok "it is on the server" has_folder after
t_ok "previewd is still running" kill -0 "$PV_PID"
if [ $frozen = chattr ]; then chattr -i "$PACKDIR"; else chmod u+w "$PACKDIR"; fi
http POST /v1/environments '{"owner":"thawed"}'
t_eq 201 "$HTTP_STATUS" "a create after the pack folder is writable again lands"
repacked() { grep -q 'repacked the local clone' "$PV_LOG"; }
t_eventually 30 "and a later repack goes through" repacked
t_ok "previewd stops cleanly" pv_stop
t_eq 0 "$PV_EXIT" "previewd exits 0"

t_end
