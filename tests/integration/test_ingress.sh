#!/usr/bin/env bash
# ctest-labels: concurrent
# test_ingress.sh — previewd behind an ingress (PREVIEWD_TRUSTED_PROXIES),
# and what a user meets on a real repository (PATCH, bases):
#
#   1. the setting is checked at start: an entry that is no address or CIDR
#      is refused by name
#   2. connections from a trusted proxy (127.0.0.1 here) are exempt from the
#      per-address limit: 70 held at once are all answered
#   3. from an untrusted address (127.0.0.2) the limit of 64 still applies
#   4. X-Forwarded-For from an untrusted peer is ignored: the access log
#      names the peer
#   5. from a trusted peer the client is the right-most address in
#      X-Forwarded-For that is not a trusted proxy: in the access log and in
#      the events' remote_addr (the events table); what the client wrote
#      left of it is ignored
#   6. on a real Git server: a PATCH of ttl and values is an updated and an
#      extended event, each with its own detail; a PATCH of cluster is
#      validated and lands in the folder's previewd.json
#   7. GET /v1/bases/{name} shows a base's keys (JSON, or the values.yaml as
#      written), for a chart that reads frontend.tag instead of image.tag
#
#   bash tests/integration/test_ingress.sh        (KEEP_TMP=1 keeps the logs)
#
# shellcheck disable=SC2317  # helpers below are run through t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

DATA=$T_TMP/data

# ------------------------------------------------------------------ 1. the setting
t_begin "1. PREVIEWD_TRUSTED_PROXIES is checked at start"
pv_cli -x 2 -m "--check-config refuses an entry that is not an address" \
    PREVIEWD_DATA_DIR="$DATA" PREVIEWD_TRUSTED_PROXIES="10.0.0.0/8,ingress.local" --check-config
t_match "PREVIEWD_TRUSTED_PROXIES: 'ingress.local' is not" "$PV_ERR" "the message names the setting and the entry"
pv_cli -x 2 -m "--check-config refuses a prefix longer than the address" \
    PREVIEWD_DATA_DIR="$DATA" PREVIEWD_TRUSTED_PROXIES="10.0.0.0/33" --check-config
pv_cli -m "--check-config takes IPv4, IPv6 and CIDR blocks of both" \
    PREVIEWD_DATA_DIR="$DATA" PREVIEWD_TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8,fd00::/8,::1" --check-config

t_need "previewd starts with 127.0.0.1 trusted" \
    pv_start "$DATA" PREVIEWD_LOG_LEVEL=debug PREVIEWD_TRUSTED_PROXIES="127.0.0.1,192.0.2.0/24"

# hold N connections from SRC at once, then ask /healthz on each: how many
# are answered, and how many were closed unanswered
hold() {
    python3 - "$PV_PORT" "$1" "$2" <<'EOF'
import json, socket, sys, time
port, src, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
def ask(s):
    try:
        s.sendall(req)
        d = s.recv(200)
        return d.split(b"\r\n")[0].decode() if d else "closed"
    except OSError:
        return "closed"
held = []
for _ in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    held.append(s)
time.sleep(0.5)
answers = [ask(s) for s in held]
for s in held:
    s.close()
print(json.dumps({"answered": answers.count("HTTP/1.1 200 OK"), "closed": answers.count("closed")}))
EOF
}

# ------------------------------------------------------------------ 2. trusted: exempt
t_begin "2. a trusted proxy is exempt from the per-address limit"
OUT=$(hold 127.0.0.1 70)
echo "# from 127.0.0.1 (trusted): $OUT"
t_eq "70 0" "$(jq -r '"\(.answered) \(.closed)"' <<<"$OUT")" "70 connections held at once from the trusted proxy are all answered"

# ------------------------------------------------------------------ 3. untrusted: limited
t_begin "3. an untrusted address keeps the limit of 64"
OUT=$(hold 127.0.0.2 70)
echo "# from 127.0.0.2 (untrusted): $OUT"
t_eq "64 6" "$(jq -r '"\(.answered) \(.closed)"' <<<"$OUT")" "of 70 connections from 127.0.0.2, 64 are answered and 6 closed"
t_match 'http: 127\.0\.0\.2 holds 64 connections, the per-address connection limit' "$(cat "$PV_LOG")" \
    "the refusal is logged with the address"
OUT=$(hold 127.0.0.2 3)
t_eq "3 0" "$(jq -r '"\(.answered) \(.closed)"' <<<"$OUT")" "once they closed, 127.0.0.2 is answered again"

# ------------------------------------------------------------------ 4. untrusted: header ignored
t_begin "4. X-Forwarded-For from an untrusted peer is ignored"
http GET /healthz '' --interface 127.0.0.2 -H 'X-Request-Id: xff-untrusted' -H 'X-Forwarded-For: 203.0.113.9'
t_eq 200 "$HTTP_STATUS" "GET /healthz from 127.0.0.2 answers 200"
t_eventually 5 "the access log names the peer, 127.0.0.2" grep -q 'http: xff-untrusted GET /healthz 200 .* from 127\.0\.0\.2$' "$PV_LOG"
t_not "and not the address it claimed" grep -q 'http: xff-untrusted .*203\.0\.113\.9' "$PV_LOG"

# ------------------------------------------------------------------ 5. trusted: header used
t_begin "5. from a trusted proxy the right-most untrusted hop is the client"
http GET /healthz '' -H 'X-Request-Id: xff-one' -H 'X-Forwarded-For: 203.0.113.7'
t_eventually 5 "one hop: the access log names 203.0.113.7" grep -q 'http: xff-one GET /healthz 200 .* from 203\.0\.113\.7$' "$PV_LOG"
http GET /healthz '' -H 'X-Request-Id: xff-chain' -H 'X-Forwarded-For: 10.9.9.9, 198.51.100.4, 192.0.2.10'
t_eventually 5 "a chain through a second trusted proxy (192.0.2.10): 198.51.100.4, not the client-written 10.9.9.9" \
    grep -q 'http: xff-chain GET /healthz 200 .* from 198\.51\.100\.4$' "$PV_LOG"
http GET /healthz '' -H 'X-Request-Id: xff-two' -H 'X-Forwarded-For: 10.9.9.9' -H 'X-Forwarded-For: 198.51.100.5'
t_eventually 5 "two X-Forwarded-For fields are read as one list" \
    grep -q 'http: xff-two GET /healthz 200 .* from 198\.51\.100\.5$' "$PV_LOG"
http GET /healthz '' -H 'X-Request-Id: xff-junk' -H 'X-Forwarded-For: 198.51.100.6, not-an-address'
t_eventually 5 "an entry that is no address ends the walk at the proxy that wrote it" \
    grep -q 'http: xff-junk GET /healthz 200 .* from 127\.0\.0\.1$' "$PV_LOG"

# the events' remote_addr: a writer's create through the proxy
pv_token -m "token create ci-writer" create ci-writer --role writer
WRITER=$PV_OUT
http POST /v1/environments '{"owner":"alice"}' -H "Authorization: Bearer $WRITER" -H 'X-Forwarded-For: 203.0.113.8'
t_match '^20[12]$' "$HTTP_STATUS" "a create through the trusted proxy is accepted"
t_eq 203.0.113.8 "$(sql "select remote_addr from events where name = 'alice' and kind = 'created'")" \
    "the created event records the client behind the proxy"
http POST /v1/environments '{"owner":"bob"}' --interface 127.0.0.2 -H "Authorization: Bearer $WRITER" \
    -H 'X-Forwarded-For: 203.0.113.8'
t_match '^20[12]$' "$HTTP_STATUS" "a create from 127.0.0.2 is accepted"
t_eq 127.0.0.2 "$(sql "select remote_addr from events where name = 'bob' and kind = 'created'")" \
    "from an untrusted peer the event records the peer"

# ------------------------------------------------------------------ 6. PATCH
t_begin "6. PATCH: ttl and values are two events; the cluster can change"
pv_stop
t_need "the Git server starts" gitserver_start "$T_TMP/git"
t_need "with the seed repository" gitserver_new_repo gitops "$T_ROOT/deploy/helm-env"
G=$GITSERVER_DIR/repos/gitops.git
t_need "previewd starts on the Git server" pv_start "$T_TMP/data2" PREVIEWD_GIT_URL="$GITSERVER_URL/gitops.git" \
    PREVIEWD_GIT_USERNAME="$GITSERVER_USER" PREVIEWD_GIT_PASSWORD="$GITSERVER_PASS" PREVIEWD_GIT_POLL=1s
http POST /v1/environments '{"owner":"carol"}'
t_eq 201 "$HTTP_STATUS" "carol is created"
t_eq null "$(g show main:env/carol/previewd.json | jq -r .cluster)" "her previewd.json names no cluster"
http PATCH /v1/environments/carol '{"ttl":"2h","values":{"replicaCount":2}}'
t_eq 200 "$HTTP_STATUS" "a PATCH of ttl and values answers 200"
http GET /v1/environments/carol/events
t_eq "created updated extended" "$(jqr '[.items[].kind | select(. == "created" or . == "updated" or . == "extended")] | join(" ")')" \
    "it is recorded as an updated and an extended event"
t_eq '{"values":{"replicaCount":2}}' "$(jqr -c '.items[] | select(.kind == "updated") | .detail')" \
    "updated holds the values patch, and only that"
t_eq '["expires_at","previous_expires_at"]' "$(jqr -c '.items[] | select(.kind == "extended") | .detail | keys')" \
    "extended holds the expiries, and only those"

http PATCH /v1/environments/carol '{"cluster":"Not_A_Cluster"}'
t_eq "422 cluster" "$HTTP_STATUS $(jqr .field)" "a PATCH to a cluster name Argo CD cannot have is 422 on cluster"
http PATCH /v1/environments/carol '{"cluster":7}'
t_eq "422 cluster" "$HTTP_STATUS $(jqr .field)" "a cluster that is no string is 422 on cluster"
http PATCH /v1/environments/carol '{"cluster":"staging-eu"}'
t_eq "200 staging-eu" "$HTTP_STATUS $(jqr .cluster)" "a PATCH of cluster is accepted, and the answer shows it"
t_eq staging-eu "$(g show main:env/carol/previewd.json | jq -r .cluster)" "previewd.json on the Git server names the new cluster"
t_eq "replicaCount: 2" "$(g show main:env/carol/values.yaml | grep '^replicaCount')" "and the values stay as they were"
http GET /v1/environments/carol/events
t_eq '{"previous_cluster":null,"cluster":"staging-eu"}' "$(jqr -c '[.items[] | select(.kind == "updated")][1].detail')" \
    "the move is an updated event, from and to"
http PATCH /v1/environments/carol '{"cluster":""}'
t_eq 200 "$HTTP_STATUS" "cluster \"\" hands the choice back to the ApplicationSet"
t_eq null "$(g show main:env/carol/previewd.json | jq -r .cluster)" "and previewd.json names no cluster again"

# ------------------------------------------------------------------ 7. bases
t_begin "7. GET /v1/bases/{name}: the keys a chart's base holds"
# a person adds a base for a chart that reads frontend.tag, not image.tag
OTHER=$T_TMP/other
git clone -q "$(gitserver_url gitops)" "$OTHER"
mkdir -p "$OTHER/env/shop"
printf '# the shop chart: the image is under frontend\nfrontend:\n  repository: shop\n  tag: "2.0"   # set per preview\n' \
    >"$OTHER/env/shop/values.yaml"
git -C "$OTHER" add -A
git -C "$OTHER" -c user.name=Someone -c user.email=someone@example.com commit -q -m "env/shop: a base"
t_ok "the base is pushed to the server" git -C "$OTHER" push -q origin HEAD:main
base_listed() { http GET /v1/bases && jqr '.items | index("shop")' | grep -q '[0-9]'; }
t_eventually 15 "GET /v1/bases lists shop once previewd has fetched" base_listed
http GET /v1/bases/shop
t_eq "200 folder env/shop/values.yaml" "$HTTP_STATUS $(jqr .source) $(jqr .path)" "GET /v1/bases/shop: a people's folder"
t_eq '{"frontend":{"repository":"shop","tag":"2.0"}}' "$(jqr -c .values)" "its values, as JSON"
http GET /v1/bases/shop '' -H 'Accept: application/yaml'
t_match '^application/yaml' "$HTTP_CTYPE" "Accept: application/yaml answers YAML"
t_eq "$(git -C "$OTHER" show HEAD:env/shop/values.yaml)" "$HTTP_BODY" "the folder's values.yaml as written, comments included"
http GET /v1/bases/carol
t_eq "200 environment null" "$HTTP_STATUS $(jqr .source) $(jqr .path)" "a live environment is a base too"
http GET /v1/bases/nobody
t_eq "404 application/problem+json" "$HTTP_STATUS $HTTP_CTYPE" "an unknown base is a 404 problem"
http POST /v1/environments '{"owner":"dave","base":"shop","values":{"frontend":{"tag":"pr-7"}}}'
t_eq 201 "$HTTP_STATUS" "a create from shop with the key its chart reads"
t_eq pr-7 "$(g show main:env/dave/values.yaml | yaml_get - frontend tag)" \
    "env/dave/values.yaml sets frontend.tag"

t_end
