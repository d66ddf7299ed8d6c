#!/usr/bin/env bash
# The command line: --check-config, --help, token management is covered by
# test_trust.sh; here `recover` after the database is lost and
# `print-applicationset` against the repository previewd writes.
. "$(dirname "$0")/../lib/harness.sh"

t_begin "--check-config"
pv_cli -m "--check-config exits 0 on a valid configuration" PREVIEWD_GIT_PASSWORD=s3cret-pw --check-config
out=$PV_OUT$PV_ERR
t_match 'configuration OK' "$out" "and says configuration OK"
t_not "secrets are redacted" grep -q 's3cret-pw' <<<"$out"
pv_cli -x 2 -m "an inconsistent configuration exits 2" PREVIEWD_MAX_TTL=1h PREVIEWD_DEFAULT_TTL=8h --check-config
t_match 'PREVIEWD_DEFAULT_TTL' "$PV_OUT$PV_ERR" "and names the setting"
pv_cli -x 2 -m "a bad flag value exits 2" --listen nonsense --check-config
t_match 'PREVIEWD_LISTEN' "$PV_OUT$PV_ERR" "a bad flag value names its variable"
pv_cli -m "--help exits 0" --help
t_match 'print-applicationset' "$PV_OUT" "--help lists the commands"

t_begin "recover rebuilds the record from Git"
DATA=$T_TMP/data
t_need "previewd starts" pv_start "$DATA"
for n in r1 r2 r3; do
	http POST /v1/environments "{\"owner\":\"$n\",\"ttl\":\"3h\",\"values\":{\"tag\":\"$n\"}}"
	t_eq 201 "$HTTP_STATUS" "create $n"
done
http GET /v1/environments/r2
r2_expires=$(jqr .expires_at)
http DELETE /v1/environments/r3
t_eq 200 "$HTTP_STATUS" "delete r3"
pv_stop
rm -f "$DATA"/previewd.db*
pv_cli -m "recover exits 0" PREVIEWD_DATA_DIR="$DATA" recover
t_eq "recovered 2 environment(s) from Git; 0 already known" "$PV_OUT" "recover counts what it restored"
pv_cli -m "a second recover exits 0" PREVIEWD_DATA_DIR="$DATA" recover
t_eq "recovered 0 environment(s) from Git; 2 already known" "$PV_OUT" "a second recover changes nothing"
pv_start "$DATA" || t_ok "previewd restarts" false
http GET /v1/environments/r2
t_eq active "$(jqr .status)" "r2 is active again"
t_eq r2 "$(jqr .values.tag)" "with its values"
t_eq "$r2_expires" "$(jqr .expires_at)" "and its expiry"
http GET /v1/environments/r3
t_eq 404 "$HTTP_STATUS" "r3, deleted before, stays gone"
http POST /v1/environments '{"owner":"r1"}'
t_eq 409 "$HTTP_STATUS" "a recovered name is taken"
http DELETE /v1/environments/r1
t_eq 200 "$HTTP_STATUS" "a recovered environment can be deleted"
t_not "and its folder is gone" git --git-dir "$DATA/gitops.git" rev-parse --verify -q main:env/r1

t_begin "print-applicationset matches the repository"
pv_cli -m "print-applicationset exits 0" PREVIEWD_DATA_DIR="$DATA" PREVIEWD_ENV_DIR=env PREVIEWD_DOMAIN=preview.example.com print-applicationset
yaml=$PV_OUT
glob=$(printf '%s' "$yaml" | python3 -c 'import sys,yaml; d=yaml.safe_load(sys.stdin); print(d["spec"]["generators"][0]["git"]["files"][0]["path"])')
t_eq 'env/*/previewd.json' "$glob" "the files glob is ENV_DIR/*/previewd.json (previewd's folders only)"
t_match 'value: "preview.example.com"' "$yaml" "the domain is passed to the chart"
matched=$(git --git-dir "$DATA/gitops.git" ls-tree -r --name-only main | python3 -c '
import fnmatch, sys, re
glob = sys.argv[1]
rx = re.compile("^" + re.escape(glob).replace("\\*", "[^/]*") + "$")
print(" ".join(sorted(p for p in sys.stdin.read().split() if rx.match(p))))' "$glob")
t_eq "env/r2/previewd.json" "$matched" \
	"the glob matches exactly previewd's folders"
pv_cli -m "print-applicationset exits 0 for a nested env dir" PREVIEWD_DATA_DIR="$T_TMP/no-clone" PREVIEWD_ENV_DIR=helm-env/env \
	PREVIEWD_GIT_URL=https://bot:tok3n@git.example.com/gitops.git print-applicationset
yaml=$PV_OUT
t_match 'path: "helm-env"' "$yaml" "a nested env dir puts the chart in its parent (no clone to look in)"
t_match '"env/\{\{ \.path\.basename \}\}/values.yaml"' "$yaml" "value files are relative to the chart"
t_not "credentials never appear" grep -q 'tok3n' <<<"$yaml"

t_begin "commands on a database refuse to make one without PREVIEWD_DATA_DIR"
# run where there is no ./previewd-data, the variable unset
unset PREVIEWD_DATA_DIR
HERE=$(t_mktemp nodata)
pushd "$HERE" >/dev/null || t_bail "cannot enter $HERE"
for cmd in "token list" "token create ci --role writer" "token revoke ci" "recover"; do
	# shellcheck disable=SC2086  # the command's words
	pv_cli -x "$([ "$cmd" = recover ] && echo 1 || echo 2)" -m "previewd $cmd without PREVIEWD_DATA_DIR is refused" $cmd
	t_match 'PREVIEWD_DATA_DIR is not set and there is no .*/previewd-data' "$PV_ERR" "previewd $cmd says why, naming PREVIEWD_DATA_DIR"
	t_not "previewd $cmd created no ./previewd-data" test -e previewd-data
done
# an existing ./previewd-data is the default, as for the server
mkdir previewd-data
pv_cli -m "with ./previewd-data present, token list runs on it" token list
t_ok "and its database is there" test -e previewd-data/previewd.db
popd >/dev/null || true
t_end
