#!/usr/bin/env bash
# ctest-labels: bench
# The benchmark still runs: `QUICK=1 bench/run.sh` against $PREVIEWD_BIN
# exits 0, writes its JSON (here to a temp file, so a real run's
# bench/results/latest.json is left alone) with every main figure numeric,
# and no previewd it started printed a sanitizer report.
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

# figures that every run must produce, as numbers
MAIN_KEYS=(
	.baseline.http.ms_per_env
	.baseline.http.envs_per_s
	.limit.http.ms.p50
	.previewd.http.create_seq.ms.p50
	.previewd.http.create_seq.ms.p99
	.previewd.http.create_c16.envs_per_s
	.previewd.http.create_c64.envs_per_s
	.previewd.http.create_c64.ms.p99
	.previewd.http.create_c64.commits
	.previewd.http.delete_seq.ms.p50
	.previewd.http.delete_c64.envs_per_s
	.previewd.http.reap.seconds
	.previewd.http.reap.commits
	.previewd.http.sleep_boundary.seconds
	.previewd.http.sleep_boundary.commits
	.previewd.http.scale[0].create_seq.ms.p50
	.previewd.http.scale[-1].create_seq.ms.p50
	.previewd.http.reads.get_one_c32.rps
	.previewd.http.reads.list100_c1.ms.p99
	.previewd.http.reads.get_one_loris.ms.p99
	.previewd.http.resources_at_top.rss_peak_mib
	.previewd.http.resources_at_top.cpu_s
	.previewd.http.cycles.data_dir_bytes_before
	.previewd.http.cycles.data_dir_bytes_after
	.previewd.http.cycles.bytes_per_cycle_after_window
	.previewd.http.cycles.db_bytes_per_cycle_after_window
	.previewd.http.cycles.clone_objects.count
	.previewd.http.cycles.clone_objects.packs
	.previewd.file.create_seq.ms.p50
	.flood.get_under_flood.ms.p99
	.flood.created
	.meta.runtime_s
)

t_begin "QUICK=1 bench/run.sh"
json=$T_TMP/results/latest.json
out=$T_TMP/bench.out
start=$(date +%s)
# the run's work dir (data dirs, previewd logs) goes under T_TMP and is kept
# for the sanitizer check below; the harness removes T_TMP at exit
QUICK=1 KEEP_TMP=1 TMPDIR=$T_TMP RESULTS_JSON=$json PREVIEWD_BIN=$PREVIEWD_BIN \
	bash "$T_ROOT/bench/run.sh" >"$out" 2>&1
rc=$?
elapsed=$(($(date +%s) - start))
t_eq 0 "$rc" "bench/run.sh exits 0" || tail -n 40 "$out" | sed 's/^/    /'
echo "# QUICK run took ${elapsed}s"
t_ok "the table lists the targets" grep -q '^targets:' "$out"
# shellcheck disable=SC2317  # called through t_ok
parses() { jq -e 'type == "object"' "$json" >/dev/null 2>&1; }
t_ok "latest.json parses with jq" parses

for key in "${MAIN_KEYS[@]}"; do
	t_eq number "$(jq -r "$key | type" "$json" 2>/dev/null)" "$key is a number"
done
t_eq 19 "$(jq '[.targets[] | select((.pass | type) == "boolean" and (.value | type) == "number")] | length' "$json")" \
	"19 targets, each with a numeric value and a PASS/MISS verdict"
t_eq 0 "$(jq '.meta.unclean_stops | length' "$json")" "every previewd of the run exited 0 on SIGTERM"
t_eq 30 "$(jq '.previewd.http.reads.get_one_loris.slow_clients_held' "$json")" \
	"the slow-loris row ran with all 30 slow clients holding their connections"
t_eq true "$(jq '.previewd.http.create_seq.statuses == {"201": .previewd.http.create_seq.count}' "$json")" \
	"every sequential create answered 201 (pushed within the wait window)"
t_eq true "$(jq '.previewd.http.create_c64.commits < .previewd.http.create_c64.count' "$json")" \
	"64 concurrent creates share commits"
t_eq true "$(jq '(.flood.posts.statuses["429"] // 0) > 0 and .flood.created <= .flood.created_allowed' "$json")" \
	"the create flood was held by the rate limit (429s, creates within the bucket)"

logs=$(find "$T_TMP" -path '*previewd-bench.*' -name 'pv-*.log' 2>/dev/null)
t_ok "previewd logs of the run are there" test -n "$logs"
# shellcheck disable=SC2086  # one path per line, none with spaces (mktemp names)
t_not "no sanitizer report in the run's previewd logs" \
	grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer' $logs

t_end
