#!/usr/bin/env bash
# Every route documented in api/openapi.yaml answers as documented: the real
# previewd on its embedded default repository, driven by the spec's examples.
. "$(dirname "$0")/../lib/harness.sh"

t_begin "OpenAPI conformance"
t_need "previewd starts" pv_start "$T_TMP/data" PREVIEWD_WAIT_MS=10000
out=$(python3 "$T_ROOT/tests/integration/check_openapi.py" "$PV_URL" "$T_ROOT/api/openapi.yaml" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/#   /'
summary=$(printf '%s\n' "$out" | tail -n 1)
t_match '^[0-9]+ passed, 0 failed$' "$summary" "every documented example answers as documented"
t_eq 0 "$rc" "conformance checker exits 0"
t_end
