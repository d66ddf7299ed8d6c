#!/bin/sh
# Run one libFuzzer target for a bounded time over its seed corpus.
# usage: run.sh TARGET CORPUS_DIR SECONDS
# New inputs go to a temp dir, never into the repository's corpus.
set -eu
target=$1 corpus=$2 seconds=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/new"
"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$work/" "$work/new" "$corpus" 2>"$work/log" && rc=0 || rc=$?
grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)' "$work/log" || true
if [ "$rc" -ne 0 ]; then
	tail -n 60 "$work/log"
	for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
		[ -f "$a" ] && { echo "artifact $(basename "$a"):"; od -c "$a" | head -n 20; }
	done
fi
exit "$rc"
