#!/usr/bin/env bash
# `previewd env ...` against a real previewd on a real Git server: every
# subcommand in table and JSON, --wait across a push that Git declines for a
# while, the exit codes scripts test (0, 1, 2, 3, 4), the token never printed,
# and the README's CLI blocks as written.
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

t_need "the Git server starts" gitserver_start "$T_TMP/git"
t_need "the GitOps repository is seeded" gitserver_new_repo gitops "$T_ROOT/deploy/helm-env"
G=$GITSERVER_DIR/repos/gitops.git
DECLINE=$T_TMP/decline
cat >"$G/hooks/pre-receive" <<HOOK
#!/bin/sh
cat >/dev/null
if [ -e '$DECLINE' ]; then
	echo 'branch main is frozen' >&2
	exit 1
fi
exit 0
HOOK
chmod +x "$G/hooks/pre-receive"
t_need "previewd starts" pv_start "$T_TMP/data" PREVIEWD_GIT_URL="$GITSERVER_URL/gitops.git" \
	PREVIEWD_GIT_USERNAME="$GITSERVER_USER" PREVIEWD_GIT_PASSWORD="$GITSERVER_PASS" \
	PREVIEWD_WAIT_MS=5000 PREVIEWD_PUSH_BACKOFF_MAX_MS=300
pv_token create dev --role writer
WRITER=$PV_OUT
pv_token create viewer --role reader
READER=$PV_OUT
printf '%s\n' "$READER" >"$T_TMP/reader.token"
W=(PREVIEWD_URL="$PV_URL" PREVIEWD_TOKEN="$WRITER")
# every CLI output of this test, to check that no token is ever printed
ALL=$T_TMP/all-output
keep() { printf '%s\n%s\n' "$PV_OUT" "$PV_ERR" >>"$ALL"; }

# ---------------------------------------------------------------- create
t_begin "create"
cat >"$T_TMP/values.yaml" <<'YAML'
# a values file as people write them
image:
  tag: pr-7
replicaCount: 3
YAML
pv_cli "${W[@]}" env create alice-cli --owner alice --ttl 4h --values "$T_TMP/values.yaml" --set image.tag=pr-42 --set feature.on=true
keep
t_match '^NAME +STATUS +URL +EXPIRES IN +OWNER$' "$(head -1 <<<"$PV_OUT")" "a table with the columns name, status, url, expires in, owner"
t_match '^alice-cli +active +http://alice-cli\.env\.my +(4h|3h59m) +alice$' "$(sed -n 2p <<<"$PV_OUT")" "its row: active, the URL, 4h left, the owner"
http GET /v1/environments/alice-cli "" -H "Authorization: Bearer $WRITER"
t_eq pr-42 "$(jqr .values.image.tag)" "--set is applied over --values"
t_eq 3 "$(jqr .values.replicaCount)" "--values (YAML) is sent, its integer an integer"
t_eq true "$(jqr .values.feature.on)" "--set true is a boolean"
t_eq nginx "$(jqr .values.image.repository)" "over the base's values"
t_eq dev "$(jqr .requested_by)" "as the token's name"
printf '{"image": {"tag": "json-1"}}' >"$T_TMP/values.json"
pv_cli "${W[@]}" env create --owner bob --values "$T_TMP/values.json" -o json
keep
t_eq bob "$(jq_of "$PV_OUT" .name)" "-o json prints the API's environment (name defaults to owner)"
t_eq json-1 "$(jq_of "$PV_OUT" .values.image.tag)" "a JSON values file"
t_eq active "$(jq_of "$PV_OUT" .status)" "the answer after the push"

# ---------------------------------------------------------------- list, get
t_begin "list and get"
pv_cli "${W[@]}" env list
keep
t_match '^NAME +STATUS' "$PV_OUT" "list: a table"
t_match 'bob +active +http://bob\.env\.my +8h +bob' "$PV_OUT" "list: bob's row"
t_match 'alice-cli +active' "$PV_OUT" "list: alice-cli's row"
pv_cli "${W[@]}" env list --owner alice -o json
keep
t_eq alice-cli "$(jq_of "$PV_OUT" '[.items[].name] | join(",")')" "list --owner alice -o json: only alice's"
t_eq null "$(jq_of "$PV_OUT" .next_cursor)" "one page, as the API shapes it"
pv_cli PREVIEWD_URL="$PV_URL/" PREVIEWD_TOKEN_FILE="$T_TMP/reader.token" env get bob -o json
keep
t_eq bob "$(jq_of "$PV_OUT" .name)" "get -o json with a reader token from PREVIEWD_TOKEN_FILE (and a URL ending in /)"
pv_cli "${W[@]}" env get bob
keep
t_eq 2 "$(wc -l <<<"$PV_OUT")" "get: a header and one row"

# ---------------------------------------------------------------- extend, events, delete
t_begin "extend, events, delete"
pv_cli "${W[@]}" env extend bob 2d
keep
t_match 'bob +active +http://bob\.env\.my +(2d|1d23h) +bob' "$PV_OUT" "extend bob 2d: 2d left"
http GET /v1/environments/bob "" -H "Authorization: Bearer $WRITER"
t_ok "the expiry moved to 2d from now ($(jqr .ttl_seconds) s)" test "$(jqr .ttl_seconds)" -gt 169000
pv_cli "${W[@]}" env events bob
keep
t_match '^AT +KIND +ACTOR +DETAIL$' "$(head -1 <<<"$PV_OUT")" "events: a table"
t_eq "created ready extended pushed" "$(awk 'NR > 1 { printf "%s%s", sep, $2; sep = " " }' <<<"$PV_OUT")" "events: created, ready, extended, pushed"
t_match 'extended +dev +\{"expires_at":' "$PV_OUT" "the extension's detail"
pv_cli "${W[@]}" env events bob -o json
keep
t_eq 4 "$(jq_of "$PV_OUT" '.items | length')" "events -o json: the API's list"
pv_cli "${W[@]}" env delete bob
keep
t_match 'bob +deleted +http://bob\.env\.my +- +bob' "$PV_OUT" "delete: the record, deleted"
http GET /v1/environments/bob "" -H "Authorization: Bearer $WRITER"
t_eq deleted "$(jqr .status)" "previewd has it deleted"

# ---------------------------------------------------------------- --wait
t_begin "--wait"
touch "$DECLINE"
out=$T_TMP/wait.out
env "${W[@]}" "$PREVIEWD_BIN" env create carol --owner carol --wait=60s -o json >"$out" 2>"$T_TMP/wait.err" &
cli=$!
pending_with_error() { http GET /v1/environments/carol "" -H "Authorization: Bearer $WRITER" && [ "$(jqr .status)" = pending ] && [ "$(jqr '.git.error // ""')" != "" ]; }
t_eventually 20 "carol is pending, Git declining its push" pending_with_error
sleep 6   # past PREVIEWD_WAIT_MS: the create has answered 202 and the CLI polls
t_ok "the CLI still waits while carol is pending" kill -0 "$cli"
rm -f "$DECLINE"
wait "$cli"
t_eq 0 "$?" "--wait exits 0 once the push lands"
t_eq active "$(jq -r .status "$out")" "and prints carol active"
t_eq false "$(jq -r .git.pending "$out")" "pushed"
touch "$DECLINE"
pv_cli -x 1 -m "--wait=2s that runs out exits 1" "${W[@]}" env create dave --owner dave --wait=2s
keep
t_match 'dave not active within the wait' "$PV_ERR" "and says so"
rm -f "$DECLINE"
pv_cli "${W[@]}" env get dave --wait=60s
keep
t_match 'dave +active' "$PV_OUT" "get --wait: dave becomes active"

# ---------------------------------------------------------------- exit codes
t_begin "exit codes"
pv_cli -x 2 -m "an unknown flag exits 2" "${W[@]}" env list --nope
t_match "unknown option '--nope'" "$PV_ERR" "and names it"
pv_cli -x 2 -m "a flag of another command exits 2" "${W[@]}" env get bob --ttl 1h
pv_cli -x 2 -m "a missing argument exits 2" "${W[@]}" env extend bob
pv_cli -x 2 -m "-o yaml exits 2" "${W[@]}" env list -o yaml
pv_cli -x 2 -m "--set without = exits 2" "${W[@]}" env create --owner x --set novalue
pv_cli -x 2 -m "an unknown command exits 2" "${W[@]}" env frobnicate
pv_cli -x 2 -m "no command exits 2" env
pv_cli -m "env --help exits 0" env --help
t_match 'create \[NAME\]' "$PV_OUT" "and shows the commands"
t_match 'PREVIEWD_TOKEN_FILE' "$PV_OUT" "and the environment it reads"
pv_cli -x 3 -m "a duplicate name exits 3" "${W[@]}" env create alice-cli --owner alice
keep
t_match '409 Conflict: .*already exists' "$PV_ERR" "with the problem's title and detail"
t_eq "" "$PV_OUT" "and nothing on stdout"
pv_cli -x 3 -m "a TTL over the maximum exits 3" "${W[@]}" env extend alice-cli 30d
t_match '422 .*exceeds the maximum of 7d \(field ttl\)' "$PV_ERR" "with the detail and the field"
pv_cli -x 3 -m "a reader token creating exits 3" PREVIEWD_URL="$PV_URL" PREVIEWD_TOKEN="$READER" env create --owner eve
keep
t_match '^previewd: 403 ' "$PV_ERR" "403 is shown"
pv_cli -x 3 -m "no token exits 3" PREVIEWD_URL="$PV_URL" env list
t_match '^previewd: 401 ' "$PV_ERR" "401 is shown"
pv_cli -x 3 -m "an unknown environment exits 3" "${W[@]}" env get nobody
t_match '404' "$PV_ERR" "404 is shown"
port=$(pick_port)
pv_cli -x 4 -m "nothing listening exits 4" PREVIEWD_URL="http://127.0.0.1:$port" PREVIEWD_TOKEN="$WRITER" env list
keep
t_match "cannot reach http://127.0.0.1:$port" "$PV_ERR" "and says where it tried"
t_not "no token in any output of the CLI" grep -qF -e "$WRITER" -e "$READER" "$ALL"
t_ok "previewd stops" pv_stop

# ---------------------------------------------------------------- README
t_begin "the README's CLI blocks"
t_need "a fresh previewd on the embedded default" pv_start "$T_TMP/readme/previewd-data" PREVIEWD_WAIT_MS=10000
python3 - "$T_ROOT/README.md" "$T_TMP/readme" "$PV_URL" "$PREVIEWD_BIN" <<'PY'
import re, sys
readme, out, url, binary = sys.argv[1:]
blocks = re.findall(r"<!-- cli -->\s*```sh\n(.*?)```", open(readme).read(), re.S)
for i, b in enumerate(blocks):
    open(f"{out}/cli.{i}.sh", "w").write(b.replace("http://127.0.0.1:8080", url).replace("build/previewd", binary))
PY
t_eq 2 "$(ls "$T_TMP"/readme/cli.*.sh 2>/dev/null | wc -l)" "the README has two CLI blocks"
# the export of the first block holds in the reader's shell for the second
runc() { (cd "$T_TMP/readme" && PREVIEWD_URL="$PV_URL" PATH="$(dirname "$PREVIEWD_BIN"):$PATH" bash -e "cli.$1.sh") 2>&1; }
out=$(runc 0)
t_eq 0 "$?" "the first block runs: $(tail -3 <<<"$out")"
t_match 'alice +active +http://alice\.env\.my' "$out" "it creates alice and shows her in a table"
out=$(runc 1)
t_eq 0 "$?" "the second block runs: $(tail -3 <<<"$out")"
t_match 'alice +deleted' "$out" "it extends, then deletes alice"
t_end
