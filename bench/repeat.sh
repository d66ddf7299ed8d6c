#!/usr/bin/env bash
# repeat.sh [N]: run bench/run.sh N times (default 3) and print, for every
# target, the value of each run and their median, with the verdict on the
# median.  Each run's JSON and table stay in bench/results/run-K.json/.txt;
# the medians go to bench/results/median.json.  The same knobs as run.sh
# apply (PREVIEWD_BIN, BUILD, QUICK, ...); the binary is built once.
set -euo pipefail
N=${1:-3}
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
OUTDIR=$BENCH_DIR/results
mkdir -p "$OUTDIR"
files=()
for k in $(seq 1 "$N"); do
	echo "[repeat] run $k of $N" >&2
	RESULTS_JSON=$OUTDIR/run-$k.json "$BENCH_DIR/run.sh" >/dev/null
	files+=("$OUTDIR/run-$k.json")
	export BUILD=0 # built by the first run
done
jq -s '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  . as $runs
  | [$runs[0].targets[] | .id] as $ids
  | { runs: ($runs | length),
      commits: [$runs[].meta.previewd_commit] | unique,
      loadavg: [$runs[] | [.meta.loadavg_start, .meta.loadavg_end]],
      targets: [ $ids[] as $id
        | [$runs[] | .targets[] | select(.id == $id)] as $t
        | ($t | map(.value) | map(select(. != null))) as $v
        | { id: $id, target: $t[0].target, op: $t[0].op, limit: $t[0].limit, values: ($t | map(.value)),
            median: (if ($v | length) > 0 then ($v | median) else null end) }
        | . + { pass: (if .median == null or .limit == null then false
                       elif .op == "le" then .median <= .limit elif .op == "lt" then .median < .limit
                       else .median >= .limit end) } ] }' "${files[@]}" >"$OUTDIR/median.json"
jq -r '"medians over \(.runs) runs (commit \(.commits | join(", ")); 1-min load start/end per run: \(.loadavg | map(map(tostring) | join("->")) | join(", ")))",
  (.targets[] | "  \(if .pass then "PASS" else "MISS" end)  \(.target | .[0:72] | . + " " * (72 - length))  median \(.median | if type == "number" then (. * 1000 | round / 1000) else . end)  runs \(.values | map(if type == "number" then (. * 1000 | round / 1000) else . end) | map(tostring) | join(" / "))"),
  "  \([.targets[] | select(.pass)] | length) of \(.targets | length) targets met on the medians"' "$OUTDIR/median.json"
