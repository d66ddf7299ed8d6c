#!/usr/bin/env bash
# Every route documented in api/openapi.yaml answers as documented: the real
# previewd on its embedded default repository, driven by the spec's examples.
# The examples are counted here, from the spec, independently of the checker:
# a checker that ran none of them (or skipped some) must not pass.
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

SPEC=$T_ROOT/api/openapi.yaml

t_begin "OpenAPI conformance"
# every x-previewd-example(s) at path and at operation level, as the checker reads them
N_SPEC=$(python3 - "$SPEC" <<'PY'
import sys, yaml
spec = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
def count(node):
    ex = node.get("x-previewd-examples", node.get("x-previewd-example"))
    return 0 if ex is None else len(ex) if isinstance(ex, list) else 1
n = 0
for item in (spec.get("paths") or {}).values():
    n += count(item)
    n += sum(count(op) for m, op in item.items()
             if m in ("get", "put", "post", "delete", "options", "head", "patch", "trace"))
print(n)
PY
)
t_match '^[1-9][0-9]*$' "$N_SPEC" "the spec documents examples ($N_SPEC)"
t_need "previewd starts" pv_start "$T_TMP/data" PREVIEWD_WAIT_MS=10000
out=$(python3 "$T_ROOT/tests/integration/check_openapi.py" "$PV_URL" "$SPEC" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/#   /'
summary=$(printf '%s\n' "$out" | tail -n 1)
t_match '^[0-9]+ passed, 0 failed$' "$summary" "every documented example answers as documented"
t_eq "# $N_SPEC examples, $N_SPEC answered" "$(printf '%s\n' "$out" | grep -E '^# [0-9]+ examples, ')" \
	"the checker ran every example of the spec and previewd answered each"
passed=${summary%% *}
t_ok "at least one passed check per example ($passed for $N_SPEC)" test "${passed:-0}" -ge "$N_SPEC"
t_eq 0 "$rc" "conformance checker exits 0"
t_end
