#!/usr/bin/env bash
# The README's walkthrough works as written: every ```sh block that follows a
# "<!-- walkthrough -->" marker runs, in order, against a fresh previewd on
# its embedded default, from the folder that holds previewd-data/.
. "$(dirname "$0")/../lib/harness.sh"

t_begin "README walkthrough"
work=$(t_mktemp readme)
t_need "previewd starts" pv_start "$work/previewd-data" PREVIEWD_WAIT_MS=10000

# blocks -> $work/block.N.sh, with the documented address replaced by ours
python3 - "$T_ROOT/README.md" "$work" "$PV_URL" <<'PY'
import re, sys
readme, out, url = sys.argv[1:]
text = open(readme).read()
blocks = re.findall(r"<!-- walkthrough -->\s*```sh\n(.*?)```", text, re.S)
for i, b in enumerate(blocks):
    open(f"{out}/block.{i}.sh", "w").write(b.replace("http://127.0.0.1:8080", url))
# the problem document the README shows after the last block
m = re.search(r"```json\n(\{\s*\"type\": \"urn:previewd:problem:conflict\".*?)```", text, re.S)
open(f"{out}/problem.json", "w").write(m.group(1) if m else "")

PY
n=$(ls "$work"/block.*.sh | wc -l)
t_eq 7 "$n" "the README has seven walkthrough blocks"
run() { (cd "$work" && bash -e "block.$1.sh") 2>&1; }

out=$(run 0)
t_eq active "$(jq_of "$out" .status)" "create: status active"
t_eq http://alice.env.my "$(jq_of "$out" .url)" "create: the URL"
t_eq pr-42 "$(jq_of "$out" .values.image.tag)" "create: the value asked for"

out=$(run 1)
t_match 'previewd: create alice' "$out" "git log shows previewd's commit"
t_match 'env/alice/values.yaml' "$out" "the commit adds values.yaml"
t_match 'tag: pr-42' "$out" "values.yaml carries the tag"
t_match '"managed_by": "previewd"' "$out" "previewd.json marks the folder"

t0=$(date +%s)
out=$(run 2)
t1=$(date +%s)
t_eq 2 "$(jq_of "$out" .values.replicaCount)" "PATCH merged the value"
got=$(iso2s "$(jq_of "$out" .expires_at)")
t_ok "PATCH extended to 1d after the request" test "$got" -ge $((t0 + 86400)) -a "$got" -le $((t1 + 86400))

out=$(run 3)
t_match '"name": "alice"' "$out" "list and get show alice"

out=$(run 4)
t_match '"status": "deleted"' "$out" "DELETE answers with status deleted"
t_match 'previewd: delete alice' "$out" "git log shows the removal"

out=$(run 5)
t_eq "$(jq -S . "$work/problem.json")" "$(printf '%s' "$out" | jq -S .)" "the problem document is the one the README shows"

out=$(run 6)
t_eq "folder env/dev/values.yaml 1.27" "$(awk '1; /^}/ { exit }' <<<"$out" | jq -r '"\(.source) \(.path) \(.values.image.tag)"')" \
	"GET /v1/bases/dev shows the base's values, image.tag among them"
t_match "# Values of the long-lived \"dev\" environment" "$out" "and with Accept: application/yaml its values.yaml, comments included"
pv_stop

# ---------------------------------------------------------------- integrations
t_begin "README integration examples"
ex=$(t_mktemp examples)
export SLACK_SIGNING_SECRET=readme-secret
t_need "previewd starts" pv_start "$ex/previewd-data" PREVIEWD_SLACK_SIGNING_SECRET="$SLACK_SIGNING_SECRET" \
	PREVIEWD_CORS_ORIGINS=https://portal.example.com PREVIEWD_WAIT_MS=10000
python3 - "$T_ROOT/README.md" "$ex" "$PV_URL" "$PREVIEWD_BIN" <<'PY'
import re, sys
readme, out, url, binary = sys.argv[1:]
text = open(readme).read()
blocks = re.findall(r"<!-- example -->\s*```sh\n(.*?)```", text, re.S)
for i, b in enumerate(blocks):
    b = b.replace("http://127.0.0.1:8080", url).replace("build/previewd", binary)
    open(f"{out}/example.{i}.sh", "w").write(b)
PY
t_eq 5 "$(ls "$ex"/example.*.sh | wc -l)" "the README has five integration examples"
runx() { (cd "$ex" && PREVIEWD_DATA_DIR="$ex/previewd-data" bash -e "example.$1.sh") 2>&1; }

out=$(runx 0)
t_eq 0 "$?" "print-applicationset example runs"
t_match 'env/\*/values.yaml' "$out" "its glob is the env folders'"
out=$(runx 1)
t_eq ephemeral "$(jq_of "$out" .response_type)" "the Slack example is answered in Slack's format"
t_match 'http://pr-1.env.my' "$(jq_of "$out" .text)" "and names the new environment's URL"
out=$(runx 2)
t_eq true "$(jq_of "$out" .ok)" "the JSON chat-ops example works"
t_eq pr-2 "$(jq_of "$out" .environment.name)" "and created pr-2"
out=$(runx 3)
t_match '"domain": "env.my"' "$out" "the portal example shows /v1/info"
t_match 'pr-1' "$out" "lists alice's environments"
t_match 'Access-Control-Allow-Origin: https://portal.example.com' "$out" "and CORS allows the portal"
out=$(runx 4)
t_match 'previewd_environments\{status="active"\}' "$out" "the metrics example shows environments by status"
t_end
