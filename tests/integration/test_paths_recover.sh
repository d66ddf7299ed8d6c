#!/usr/bin/env bash
# ctest-labels: integration
# `previewd recover` on the paths test_cli.sh does not take, judged by its
# output, its exit status and what previewd does with the rows afterwards:
#   1. the remote is unreachable: recover falls back to the local clone's
#      last tip (and says so); with no local clone either, it fails;
#   2. the "already known" count when the database knows some of the folders;
#   3. records that expired while previewd was down: recovered, then
#      removed by the reaper once previewd runs, the live one kept.
# shellcheck disable=SC2317  # helpers run through t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

t_need "the Git server starts" gitserver_start "$T_TMP/git"
t_need "the GitOps repository is seeded" gitserver_new_repo gitops "$T_ROOT/deploy/helm-env"
G=$GITSERVER_DIR/repos/gitops.git
GIT_ENV=(PREVIEWD_GIT_URL="$GITSERVER_URL/gitops.git" PREVIEWD_GIT_USERNAME="$GITSERVER_USER"
	PREVIEWD_GIT_PASSWORD="$GITSERVER_PASS" PREVIEWD_WAIT_MS=10000 PREVIEWD_MIN_TTL=1)

# recover DATADIR: `previewd recover` on DATADIR with the Git settings;
# RC, OUT and ERR get its exit status, stdout and stderr
recover() {
	local errf
	errf=$(mktemp "$T_TMP/recover.err.XXXXXX")
	OUT=$(env PREVIEWD_DATA_DIR="$1" "${GIT_ENV[@]}" "$PREVIEWD_BIN" recover 2>"$errf")
	RC=$?
	ERR=$(cat "$errf")
}
no_sanitizer_report() { ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' <<<"$ERR"; }

DATA=$T_TMP/data
t_need "previewd starts" pv_start "$DATA" "${GIT_ENV[@]}"
for n in k1 k2; do
	http POST /v1/environments "{\"owner\":\"$n\",\"ttl\":\"3h\"}"
	t_eq 201 "$HTTP_STATUS" "create $n"
done
t_ok "previewd stops cleanly" pv_stop
t_eq 0 "$PV_EXIT" "previewd exits 0"
# the database as it was with k1 and k2 only
t_ok "a copy of the database with k1 and k2" sqlite3 "$DATA/previewd.db" ".backup '$T_TMP/two.db'"
t_need "previewd starts again" pv_start "$DATA" "${GIT_ENV[@]}"
http POST /v1/environments '{"owner":"k3","ttl":"3h"}'
t_eq 201 "$HTTP_STATUS" "create k3"
http POST /v1/environments '{"owner":"gone","ttl":"3s"}'
t_eq 201 "$HTTP_STATUS" "create gone, expiring in 3 s"
t_ok "previewd stops cleanly" pv_stop
t_eq 0 "$PV_EXIT" "previewd exits 0"
t_ok "gone is in Git" has_folder gone

# ---------------------------------------------------------------- 1. unreachable
t_begin "1. the remote is unreachable: the local clone's last tip"
t_ok "the Git server pauses (connections refused)" gitserver_pause
rm -f "$DATA"/previewd.db*
recover "$DATA"
t_eq 0 "$RC" "recover exits 0"
t_match "using the local clone's last tip" "$ERR" "and says it used the local clone"
t_eq "recovered 4 environment(s) from Git; 0 already known" "$OUT" "it restored the four folders of the last tip"
t_ok "no sanitizer report" no_sanitizer_report
recover "$T_TMP/empty-data"
t_not "with no local clone either, recover fails (exit $RC)" test "$RC" = 0
t_match 'cannot reach the GitOps repository' "$ERR" "and says why"
t_eq "" "$OUT" "and claims nothing"
t_ok "no sanitizer report" no_sanitizer_report
t_ok "the Git server resumes" gitserver_resume

# ---------------------------------------------------------------- 2. known
t_begin "2. the already-known count"
rm -f "$DATA"/previewd.db*
cp "$T_TMP/two.db" "$DATA/previewd.db"
recover "$DATA"
t_eq 0 "$RC" "recover exits 0"
t_eq "recovered 2 environment(s) from Git; 2 already known" "$OUT" "k3 and gone restored, k1 and k2 known"
t_not "the remote was reached" grep -q "local clone" <<<"$ERR"
t_ok "no sanitizer report" no_sanitizer_report
recover "$DATA"
t_eq 0 "$RC" "a second recover exits 0"
t_eq "recovered 0 environment(s) from Git; 4 already known" "$OUT" "and knows all four"

# ---------------------------------------------------------------- 3. expired
t_begin "3. records that expired meanwhile"
expired() { sql "select count(*) from envs where name = 'gone' and expires_at > 0 and expires_at <= strftime('%s','now')"; }
gone_expired() { [ "$(expired)" = 1 ]; }
t_eventually 10 "gone's expiry has passed" gone_expired
t_need "previewd starts on the recovered record" pv_start "$DATA" "${GIT_ENV[@]}"
t_eventually 30 "the reaper removes gone" env_status_is gone deleted
t_eventually 30 "and its folder leaves Git" no_folder gone
for n in k1 k2 k3; do
	t_ok "$n is still active" env_status_is "$n" active
	t_ok "and in Git" has_folder "$n"
done

t_end
