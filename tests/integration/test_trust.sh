#!/usr/bin/env bash
# ctest-labels: concurrent
# test_trust.sh — attacks on previewd's trust boundary, against the embedded
# default repository (file://DATA/gitops.git):
#
#   1. open mode: no token yet, a client from a non-loopback address is refused
#   2. tokens from the CLI (reader, writer, admin); `token list` hides them
#   3. a table of bad inputs: each gets the right 4xx as problem+json, and
#      none of them changes Git or creates a row
#   4. every /v1 route: no token / a wrong token 401, reader writes 403,
#      writer and admin may write; health, readiness and metrics stay open;
#      commit messages name the requester
#   5. Idempotency-Key: replay, reuse for another request, concurrent
#      duplicate while Git is away (the remote is moved aside)
#   6. the tokens never show in logs, answers, the database or Git
#   7. revoke
#   8. quotas (per owner, total, and a concurrent burst)
#   9. slow-loris, the idle timeout, the per-IP connection limit
#  10. revoking the last token
#
#   bash tests/integration/test_trust.sh        (KEEP_TMP=1 keeps the logs)
#
# shellcheck disable=SC2317  # helpers below are run through t_ok/t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

T_START=$(date +%s)
DATA=$T_TMP/data
REMOTE=$DATA/gitops.git
DB=$DATA/previewd.db
TRANSCRIPT=$T_TMP/transcript.txt   # every answer previewd gave (headers and body)
: >"$TRANSCRIPT"
PV_ARGS=(
    PREVIEWD_LOG_LEVEL=debug          # the most talkative log is the one checked for tokens
    PREVIEWD_WAIT_MS=5000
    PREVIEWD_MAX_VALUES_BYTES=8192
    PREVIEWD_RESERVED_NAMES="staging,ops-*"
    PREVIEWD_PUSH_BACKOFF_MAX_MS=500
)

# ------------------------------------------------------------------ helpers
# (g on $G with head_commit and has_folder, sql on $DB, pv_token and
# pv_start_on come from the harness)
G=$REMOTE
rows_named() { sql "SELECT count(*) FROM envs WHERE name = '$1'"; }
rows_named_is() { [ "$(rows_named "$1")" = "$2" ]; }
# answers_4xx: the 4xx answers previewd counted in /metrics, all routes
answers_4xx() {
    curl -s -m 30 "$PV_URL/metrics" |
        awk '/^previewd_http_responses_total\{/ && /code="4[0-9][0-9]"/ { n += $2 } END { print n + 0 }'
}

# rq TOKEN METHOD PATH [BODY] [curl args...]: http with a bearer token (none
# if TOKEN is empty); every answer goes to the transcript.
rq() {
    local tok=$1 m=$2 p=$3 b=${4-} HTTP_NETNS=${HTTP_NETNS:-}
    shift 3
    # what goes to EXT_URL comes from the non-loopback client
    if [ -n "$EXT_URL" ] && [[ $p == "$EXT_URL"* ]]; then HTTP_NETNS=$EXT_NS; fi
    [ $# -gt 0 ] && shift
    if [ -n "$tok" ]; then
        http "$m" "$p" "$b" -H "Authorization: Bearer $tok" "$@"
    else
        http "$m" "$p" "$b" "$@"
    fi
    printf '>>> %s %s -> %s\n%s\n%s\n' "$m" "$p" "$HTTP_STATUS" "$HTTP_HEADERS" "$HTTP_BODY" >>"$TRANSCRIPT"
}

# A summary of a problem answer: content type, status in the body, whether
# detail says more than the title, and the field.
problem_shape() {
    local detail title
    detail=$(jqr '.detail // ""' 2>/dev/null)
    title=$(jqr '.title // ""' 2>/dev/null)
    printf '%s status=%s detail=%s field=%s' "${HTTP_CTYPE%%;*}" "$(jqr .status 2>/dev/null)" \
        "$([ -n "$detail" ] && [ "$detail" != "$title" ] && echo yes || echo "no(${detail:-empty})")" \
        "$(jqr '.field // "-"' 2>/dev/null)"
}

# The non-loopback client: a network namespace joined to this one by a veth
# pair on a private /30 that exists only inside this machine (removed at
# exit). previewd, listening on 0.0.0.0, is reached at EXT_SRV, the host
# end, and sees the client come from EXT_IP, the namespace's end; requests
# to EXT_URL run in the namespace (EXT_NS). Where no namespace can be made
# (not root, no iproute2; TRUST_NETNS=0 asks for this), the machine's own
# non-loopback address serves as both ends. With neither the test fails:
# the open-mode refusal is the point of case 1.
EXT_NS='' EXT_SRV='' EXT_IP='' EXT_URL=''
netns_down() {
    ip link del "pvt$$h" 2>/dev/null
    ip netns del "pvtrust-$$" 2>/dev/null
    return 0
}
netns_up() {
    local ns=pvtrust-$$ host=pvt$$h peer=pvt$$p net _
    for _ in $(seq 1 20); do # a /30 no interface of this machine uses
        net=10.200.$((RANDOM % 256)).$((RANDOM % 64 * 4))
        ip -4 -o addr show | grep -qF " ${net%.*}." || break
    done
    t_defer netns_down
    if ! { ip netns add "$ns" &&
        ip link add "$host" type veth peer name "$peer" &&
        ip link set "$peer" netns "$ns" &&
        ip addr add "${net%.*}.$((${net##*.} + 1))/30" dev "$host" &&
        ip link set "$host" up &&
        ip -n "$ns" addr add "${net%.*}.$((${net##*.} + 2))/30" dev "$peer" &&
        ip -n "$ns" link set "$peer" up &&
        ip -n "$ns" link set lo up; }; then
        netns_down
        return 1
    fi
    EXT_NS=$ns
    EXT_SRV=${net%.*}.$((${net##*.} + 1))
    EXT_IP=${net%.*}.$((${net##*.} + 2))
}
if [ "${TRUST_NETNS:-1}" = 0 ] || ! netns_up 2>"$T_TMP/netns.err"; then
    [ ! -s "$T_TMP/netns.err" ] || echo "# no network namespace: $(head -n 1 "$T_TMP/netns.err")"
    EXT_IP=$(ip -4 -o addr show scope global 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')
    if [ -z "$EXT_IP" ]; then
        EXT_IP=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+\.' | grep -v '^127\.' | head -n 1)
    fi
    EXT_SRV=$EXT_IP
fi
[ -n "$EXT_IP" ] || t_bail "no non-loopback client: cannot create a network namespace (run as root with iproute2) and this machine has no non-loopback IPv4 address"
echo "# the non-loopback client comes from $EXT_IP${EXT_NS:+ (namespace $EXT_NS)} to $EXT_SRV"

# The source address a connection to HOST:PORT really uses (from the
# client's namespace, if any).
source_addr() {
    ${EXT_NS:+ip netns exec "$EXT_NS"} python3 -c 'import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
print(s.getsockname()[0])' "$1" "$2" 2>/dev/null
}

# start HOST [VAR=value...]: (re)start previewd on DATA, on the fixed PORT
# (another if a test running beside this one took it meanwhile), listening
# on HOST (0.0.0.0 when the test needs a non-loopback client).
PORT=
start() {
    local host=$1
    shift
    [ -n "$PV_PID" ] && pv_stop
    PV_LISTEN_HOST=$host pv_start_on PORT "$DATA" "${PV_ARGS[@]}" "$@"
}

# ------------------------------------------------------------------ 1. open mode
t_begin "1. open mode: no token, only loopback clients"
t_need "previewd starts on 0.0.0.0" start 0.0.0.0
EXT_URL="http://$EXT_SRV:$PORT"
t_eq "$EXT_IP" "$(source_addr "$EXT_SRV" "$PORT")" "a connection to $EXT_URL comes from $EXT_IP (not loopback)"
t_match 'no API tokens' "$(cat "$PV_LOG")" "the log warns that previewd is open"
rq '' GET "$EXT_URL/v1/environments"
t_eq 401 "$HTTP_STATUS" "GET /v1/environments from $EXT_IP without a token is 401"
t_match '^Bearer' "$(http_header WWW-Authenticate)" "with WWW-Authenticate: Bearer"
t_match 'loopback' "$(jqr .detail)" "the detail says only loopback clients are answered"
rq '' POST "$EXT_URL/v1/environments" '{"owner":"intruder"}'
t_eq 401 "$HTTP_STATUS" "POST from $EXT_IP without a token is 401"
rq '' POST "$EXT_URL/v1/environments" '{"owner":"intruder"}' -H 'Authorization: Bearer pvd_00000000_0000000000000000000000000000000000000000000000000000000000000000'
t_eq 401 "$HTTP_STATUS" "POST from $EXT_IP with a made-up token is 401"
rq '' GET "$EXT_URL/healthz"
t_eq 200 "$HTTP_STATUS" "/healthz answers $EXT_IP"
rq '' GET /v1/environments
t_eq 200 "$HTTP_STATUS" "loopback is answered without a token in open mode"
t_not "nothing was created by the refused client" has_folder intruder

# ------------------------------------------------------------------ 2. tokens
t_begin "2. tokens from the CLI"
pv_token -m "token create ci-reader (previewd running)" create ci-reader --role reader
READER=$PV_OUT CLI_ERR=$PV_ERR
pv_token -m "token create ci-writer (previewd running)" create ci-writer --role writer
WRITER=$PV_OUT CLI_ERR+=$PV_ERR
pv_stop
pv_token -m "token create ci-admin (previewd stopped)" create ci-admin --role admin
ADMIN=$PV_OUT CLI_ERR+=$PV_ERR
for t in "$READER" "$WRITER" "$ADMIN"; do
    t_match '^pvd_[0-9a-f]{8}_[0-9a-f]{64}$' "$t" "the token is printed alone on stdout, pvd_<8 hex>_<64 hex>"
done
pv_token -x 1 -m "a second token named ci-writer is refused" create ci-writer --role writer
pv_token -x 1 -m "an unknown role is refused" create ci-root --role root
pv_token -x 1 -m "an invalid token name is refused" create 'Bad Name' --role reader
pv_token -m "token list exits 0" list
LIST=$PV_OUT$PV_ERR
while IFS= read -r line; do echo "#   $line"; done <<<"$LIST"
t_match 'ci-reader +reader' "$LIST" "token list shows ci-reader as reader"
t_match 'ci-writer +writer' "$LIST" "token list shows ci-writer as writer"
t_match 'ci-admin +admin' "$LIST" "token list shows ci-admin as admin"
t_not "token list shows no token (pvd_...)" grep -q 'pvd_' <<<"$LIST"
t_not "token list shows no hash (64 hex digits)" grep -qE '[0-9a-f]{64}' <<<"$LIST"
t_not "the CLI's stderr does not repeat the token" grep -qE 'pvd_' <<<"$CLI_ERR"
t_need "previewd restarts" start 0.0.0.0
t_match '3 API token' "$(cat "$PV_LOG")" "previewd counts 3 tokens at start"
rq '' GET /v1/environments
t_eq 401 "$HTTP_STATUS" "with tokens, loopback without a token is 401 too"
rq "$READER" GET "$EXT_URL/v1/environments"
t_eq 200 "$HTTP_STATUS" "a reader token works from $EXT_IP"

# ------------------------------------------------------------------ 3. bad inputs
t_begin "3. bad inputs"
HEAD0=$(head_commit)
ROWS0=$(sql 'SELECT count(*) FROM envs')
BAD4XX0=$(answers_4xx)
BAD_N=0

# bad STATUS FIELD METHOD PATH BODY [curl args...]: one row of the table,
# sent with the writer's token; FIELD '-' when the problem names none.
bad() {
    local want=$1 field=$2 m=$3 p=$4 b=$5 shown extra
    shift 5
    BAD_N=$((BAD_N + 1))
    rq "$WRITER" "$m" "$p" "$b" "$@"
    shown=$(printf '%s' "$b" | head -c 70 | tr -c '[:print:]' '?')
    extra="$*"
    t_eq "$want" "$HTTP_STATUS" "#$BAD_N $m $p $shown ${extra:0:50} -> $want"
    t_eq "application/problem+json status=$want detail=yes field=$field" "$(problem_shape)" \
        "#$BAD_N problem document"
}
# bad405 METHOD PATH ALLOW
bad405() {
    bad 405 - "$1" "$2" ''
    t_eq "$3" "$(http_header Allow)" "#$BAD_N Allow: $3"
}
C=/v1/environments
long54=$(printf 'a%.0s' $(seq 1 54))
long200=$(printf 'b%.0s' $(seq 1 200))
deep33=$(python3 -c 'import json
v = 1
for _ in range(33): v = {"a": v}
print(json.dumps({"owner": "deep", "values": v}))')
# well under PREVIEWD_MAX_BODY, well over PREVIEWD_MAX_VALUES_BYTES (8192) as YAML
bigvalues=$(python3 -c 'import json; print(json.dumps({"owner": "big", "values": {"k%d" % i: "x" * 60 for i in range(200)}}))')
head -c 70000 /dev/zero | tr '\0' ' ' >"$T_TMP/body70k"
sed -i '1s/^/{"owner":"huge"}/' "$T_TMP/body70k"

# bodies that are not a JSON object
bad 400 - POST $C '{"owner": "al'
bad 400 - POST $C '[{"owner":"alice"}]'
bad 400 - POST $C '"alice"'
bad 400 - POST $C 'null'
bad 400 - POST $C '{"owner":"alice","owner":"bob"}'
bad 400 - POST $C '{"owner":"alice"} {"owner":"bob"}'
bad 400 - POST $C $'{"owner":"al\xffice"}'
bad 400 - POST $C '{"owner":"a\u0000b"}'
bad 400 - POST $C '' -H 'Content-Type: application/json'
# fields
bad 422 color POST $C '{"owner":"alice","color":"red"}'
bad 422 owner POST $C '{}'
bad 422 owner POST $C '{"owner":null}'
bad 422 owner POST $C '{"owner":42}'
bad 422 owner POST $C '{"owner":"Alice"}'
bad 422 owner POST $C '{"owner":""}'
bad 422 owner POST $C "{\"owner\":\"$long54\"}"
bad 422 owner POST $C "{\"owner\":\"$long200\"}"
bad 422 owner POST $C '{"owner":"1alice"}'
bad 422 owner POST $C '{"owner":"-alice"}'
bad 422 owner POST $C '{"owner":"alice-"}'
bad 422 owner POST $C '{"owner":"ålice"}'
bad 422 owner POST $C '{"owner":"al ice"}'
bad 422 name POST $C '{"owner":"alice","name":"Bad_Name"}'
bad 422 name POST $C "{\"owner\":\"alice\",\"name\":\"$long54\"}"
bad 422 name POST $C '{"owner":"alice","name":7}'
# reserved names
bad 422 name POST $C '{"owner":"default"}'
bad 422 name POST $C '{"owner":"alice","name":"kube-system"}'
bad 422 name POST $C '{"owner":"alice","name":"argocd"}'
bad 422 name POST $C '{"owner":"alice","name":"staging"}'
bad 422 name POST $C '{"owner":"alice","name":"ops-db"}'
# path tricks in the body
bad 422 name POST $C '{"owner":"alice","name":"../prod"}'
bad 422 name POST $C '{"owner":"alice","name":"x/../../etc"}'
bad 422 name POST $C '{"owner":"alice","name":"a\/b"}'
bad 422 name POST $C '{"owner":"alice","name":".git"}'
bad 422 name POST $C '{"owner":"alice","name":"%2e%2e"}'
bad 422 base POST $C '{"owner":"alice","base":"../prod"}'
bad 422 base POST $C '{"owner":"alice","base":"nope"}'
# TTLs
bad 422 ttl POST $C '{"owner":"alice","ttl":0}'
bad 422 ttl POST $C '{"owner":"alice","ttl":-1}'
bad 422 ttl POST $C '{"owner":"alice","ttl":"0"}'
bad 422 ttl POST $C '{"owner":"alice","ttl":"1.5h"}'
bad 422 ttl POST $C '{"owner":"alice","ttl":1.5}'
bad 422 ttl POST $C '{"owner":"alice","ttl":"8x"}'
bad 422 ttl POST $C '{"owner":"alice","ttl":""}'
bad 422 ttl POST $C '{"owner":"alice","ttl":true}'
bad 422 ttl POST $C '{"owner":"alice","ttl":"8d"}'
t_match 'maximum of 7d' "$(jqr .detail)" "#$BAD_N the detail names the maximum"
bad 422 ttl POST $C '{"owner":"alice","ttl":59}'
t_match 'minimum' "$(jqr .detail)" "#$BAD_N the detail names the minimum"
bad 422 ttl POST $C '{"owner":"alice","ttl":"30s"}'
bad 422 ttl POST $C '{"owner":"alice","ttl":"never"}'
# values
bad 422 values POST $C '{"owner":"alice","values":"x"}'
bad 422 values POST $C '{"owner":"alice","values":[1,2]}'
bad 422 values POST $C '{"owner":"alice","values":null}'
bad 422 values POST $C "$deep33"
bad 422 values POST $C "$bigvalues"
# media types and sizes
bad 415 - POST $C '{"owner":"alice"}' -H 'Content-Type: text/plain'
bad 415 - POST $C '{"owner":"alice"}' -H 'Content-Type:'
bad 415 - POST $C '{"owner":"alice"}' -H 'Content-Type: application/jsonp'
bad 413 - POST $C "@$T_TMP/body70k"
bad 413 - POST $C "@$T_TMP/body70k" -H 'Transfer-Encoding: chunked'
# Idempotency-Key
bad 400 Idempotency-Key POST $C '{"owner":"alice"}' -H 'Idempotency-Key: not a key!'
bad 400 Idempotency-Key POST $C '{"owner":"alice"}' -H "Idempotency-Key: $long200$long200"
bad 400 Idempotency-Key POST $C '{"owner":"alice"}' -H 'Idempotency-Key;'
bad 400 Idempotency-Key POST $C '{"owner":"alice"}' -H 'Idempotency-Key: ключ'
# PATCH
bad 422 ttl PATCH $C/nobody '{}'
bad 422 color PATCH $C/nobody '{"color":"red"}'
bad 422 values PATCH $C/nobody '{"values":"x"}'
bad 422 ttl PATCH $C/nobody '{"ttl":"0"}'
bad 400 - PATCH $C/nobody '[]'
bad 404 - PATCH $C/nobody '{"ttl":"1h"}'
# routes and path tricks in the URL
bad 404 - GET /v1/nope ''
bad 404 - GET /v2/environments ''
bad 404 - GET "$C/..%2f..%2fetc%2fpasswd" ''
bad 404 - DELETE "$C/%2e%2e" ''
bad 404 - PATCH "$C/a%2Fb" '{"ttl":"1h"}'
bad 404 - DELETE "$C/.git" ''
bad 404 - GET "$C/dev%00" ''
bad 404 - GET "$C/alice/bogus" ''
bad 404 - DELETE "$C/dev" ''
bad 404 - GET "$C/nobody/events" ''
# query parameters
bad 422 owner GET "$C?owner=..%2Fx" ''
bad 422 limit GET "$C?limit=0" ''
bad 422 include GET "$C?include=secrets" ''
bad 422 fields GET "$C?fields=name,password" ''
bad 422 cursor GET "$C?cursor=-1" ''
bad 422 status GET "$C?status=bogus" ''
# methods
bad405 PUT $C 'GET, HEAD, POST'
bad405 DELETE $C 'GET, HEAD, POST'
bad405 POST $C/alice 'GET, HEAD, PATCH, DELETE'
bad405 PUT $C/alice 'GET, HEAD, PATCH, DELETE'
bad405 POST $C/alice/events 'GET, HEAD'
bad405 POST /healthz 'GET, HEAD'
bad405 DELETE /metrics 'GET, HEAD'
# previewd's own count, not the table's: every row reached previewd and was
# answered 4xx (a row that got no answer, or a 2xx, is missing from it)
t_eq "$BAD_N" "$(($(answers_4xx) - BAD4XX0))" "/metrics counted one 4xx answer per row of the table ($BAD_N)"

# 413 is answered before the body is sent
curl -s -o /dev/null -w '%{http_code} %{size_upload}' -m 10 -X POST -H "Authorization: Bearer $WRITER" \
    -H 'Content-Type: application/json' -H 'Expect: 100-continue' \
    --data-binary @<(head -c 2000000 /dev/zero | tr '\0' ' ') "$PV_URL$C" >"$T_TMP/expect.out"
read -r code uploaded <"$T_TMP/expect.out"
t_eq 413 "$code" "a 2 MB body with Expect: 100-continue is 413"
t_ok "curl sent none of the 2 MB body ($uploaded bytes)" test "${uploaded:-2000000}" -lt 65536
EARLY=$(python3 - "$PORT" "$WRITER" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
t = time.time()
s.sendall(("POST /v1/environments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n" % sys.argv[2]).encode())
try:
    line = s.recv(200).split(b"\r\n")[0].decode()
except OSError as e:
    line = "error: %s" % e
print("%s in %.2fs" % (line, time.time() - t))
EOF
)
# the 10 GB never come: an answer at all (within a generous 60 s) is one that
# did not wait for the body
t_match '^HTTP/1.1 413 .* in [0-9.]+s$' "$EARLY" "Content-Length: 10 GB without a byte of body: 413 without waiting for it ($EARLY)"

sleep 0.5
t_eq "$HEAD0" "$(head_commit)" "after the bad inputs the branch head is unchanged"
t_eq "$ROWS0" "$(sql 'SELECT count(*) FROM envs')" "after the bad inputs no environment row exists"
rq "$READER" GET $C
t_eq '[]' "$(jqr -c .items)" "GET /v1/environments returns none"

# ------------------------------------------------------------------ 4. who may do what
t_begin "4. authentication and roles on every route"
ROUTES=(
    "GET $C"
    "POST $C {\"owner\":\"authz\"}"
    "GET $C/authz"
    "PATCH $C/authz {\"ttl\":\"2h\"}"
    "DELETE $C/authz"
    "GET $C/authz/events"
)
BADTOK_UNKNOWN=pvd_00000000_$(printf '0%.0s' $(seq 1 64))
BADTOK_SECRET=${READER:0:13}$(printf 'f%.0s' $(seq 1 64))   # the reader's lookup, another secret
for r in "${ROUTES[@]}"; do
    read -r m p b <<<"$r"
    rq '' "$m" "$p" "$b"
    t_eq 401 "$HTTP_STATUS" "$m $p without a token is 401"
    t_match '^Bearer' "$(http_header WWW-Authenticate)" "$m $p: WWW-Authenticate: Bearer ..."
    t_eq "application/problem+json status=401 detail=yes field=-" "$(problem_shape)" "$m $p: problem document"
    for wrong in "Bearer nonsense" "Bearer $BADTOK_UNKNOWN" "Bearer $BADTOK_SECRET" "Bearer ${WRITER}x" \
        "Basic $(printf 'ci-writer:%s' "$WRITER" | base64 -w0)" "Bearer"; do
        rq '' "$m" "$p" "$b" -H "Authorization: $wrong"
        t_eq 401 "$HTTP_STATUS" "$m $p with Authorization: ${wrong:0:22}... is 401"
    done
done
t_not "no request without a valid token created anything" has_folder authz

for path in /healthz /readyz /metrics; do
    rq '' GET $path
    t_eq 200 "$HTTP_STATUS" "GET $path stays open without a token"
    rq '' GET $path '' -H "Authorization: Bearer nonsense"
    t_eq 200 "$HTTP_STATUS" "GET $path stays open with a bad token"
done

rq "$READER" GET $C
t_eq 200 "$HTTP_STATUS" "reader: GET $C is 200"
rq "$READER" POST $C '{"owner":"authz"}'
t_eq 403 "$HTTP_STATUS" "reader: POST is 403"
t_eq "application/problem+json status=403 detail=yes field=-" "$(problem_shape)" "reader: POST problem document"
t_match "reader" "$(jqr .detail)" "the 403 names the role"
t_not "the reader's POST created nothing" has_folder authz

rq "$WRITER" POST $C '{"owner":"authz","ttl":"1h"}'
t_eq 201 "$HTTP_STATUS" "writer: POST is 201"
t_eq ci-writer "$(jqr .requested_by)" "requested_by is the token's name"
t_match 'requested by ci-writer' "$(g log -1 --format=%B main)" "the commit message names the requester ci-writer"
rq "$READER" GET $C/authz
t_eq 200 "$HTTP_STATUS" "reader: GET one is 200"
rq "$READER" GET $C/authz/events
t_eq 200 "$HTTP_STATUS" "reader: GET events is 200"
for r in "PATCH $C/authz {\"ttl\":\"2h\"}" "DELETE $C/authz"; do
    read -r m p b <<<"$r"
    rq "$READER" "$m" "$p" "$b"
    t_eq 403 "$HTTP_STATUS" "reader: $m is 403"
done
rq "$WRITER" PATCH $C/authz '{"ttl":"2h","values":{"replicaCount":2}}'
t_eq 200 "$HTTP_STATUS" "writer: PATCH is 200"
rq "$WRITER" GET $C/authz/events
t_eq "created,updated,extended" "$(jqr '[.items[].kind | select(. == "created" or . == "updated" or . == "extended")] | join(",")')" \
    "events: created, updated, extended"
t_eq "ci-writer" "$(jqr '[.items[] | select(.kind == "created" or .kind == "updated" or .kind == "extended") | .actor] | unique | join(",")')" \
    "their actor is ci-writer"
rq "$ADMIN" DELETE $C/authz
t_eq 200 "$HTTP_STATUS" "admin: DELETE is 200"
t_not "authz's folder is gone" has_folder authz
rq "$ADMIN" GET $C/authz/events
t_eq "ci-admin" "$(jqr '[.items[] | select(.kind == "deleting")][0].actor')" "the deleting event's actor is ci-admin"
t_match 'requested by ci-admin' "$(g log -1 --format=%B main)" \
    "the delete commit names who asked for the removal (ci-admin), not the creator"
rq "$ADMIN" POST $C '{"owner":"adminenv"}'
t_eq 201 "$HTTP_STATUS" "admin: POST is 201"
t_match 'requested by ci-admin' "$(g log -1 --format=%B main)" "the commit message names the requester ci-admin"
rq "$WRITER" DELETE $C/adminenv
t_eq 200 "$HTTP_STATUS" "writer: DELETE is 200"
rq "$WRITER" POST $C "{\"owner\":\"${long54:1}\"}"
t_eq 201 "$HTTP_STATUS" "a 53-character name is accepted (the limit is not off by one)"
deep32=$(python3 -c 'import json
v = 1
for _ in range(32): v = {"a": v}
print(json.dumps({"owner": "deep", "values": v}))')
rq "$WRITER" POST $C "$deep32"
t_eq 201 "$HTTP_STATUS" "values 32 levels deep are accepted (the limit is not off by one)"

# ------------------------------------------------------------------ 5. idempotency
t_begin "5. Idempotency-Key"
K=run$$-$RANDOM
rq "$WRITER" POST $C '{"owner":"idem-a","ttl":"2h"}' -H "Idempotency-Key: $K-1"
t_eq 201 "$HTTP_STATUS" "first POST with a key is 201"
FIRST_NAME=$(jqr .name)
FIRST_COMMIT=$(jqr .git.commit)
t_eq '' "$(http_header Idempotent-Replayed)" "the first answer is not marked replayed"
rq "$WRITER" POST $C '{"owner":"idem-a","ttl":"2h"}' -H "Idempotency-Key: $K-1"
t_eq 201 "$HTTP_STATUS" "the same POST again is 201"
t_eq true "$(http_header Idempotent-Replayed)" "Idempotent-Replayed: true"
t_eq "$FIRST_NAME" "$(jqr .name)" "the replay names the same environment"
t_eq "$FIRST_COMMIT" "$(jqr .git.commit)" "the replay carries the same commit"
t_eq /v1/environments/idem-a "$(http_header Location)" "the replay has the Location"
t_eq 1 "$(sql "SELECT count(*) FROM envs WHERE name = 'idem-a'")" "one environment row"
t_eq 1 "$(g log --format=%H main -- env/idem-a | wc -l)" "one commit touches env/idem-a"
rq "$WRITER" GET "$C?owner=idem-a"
t_eq 1 "$(jqr '.items | length')" "the list shows one environment"

rq "$WRITER" POST $C '{"owner":"idem-b"}' -H "Idempotency-Key: $K-1"
t_eq 422 "$HTTP_STATUS" "the same key with another body is 422"
t_eq "application/problem+json status=422 detail=yes field=Idempotency-Key" "$(problem_shape)" "problem names Idempotency-Key"
t_eq 0 "$(sql "SELECT count(*) FROM envs WHERE name = 'idem-b'")" "and nothing was created"

rq "$ADMIN" POST $C '{"owner":"idem-c"}' -H "Idempotency-Key: $K-1"
t_eq 201 "$HTTP_STATUS" "keys belong to their caller: another token may use the same key"

rq "$WRITER" POST $C '{"owner":"idem-d","ttl":"8x"}' -H "Idempotency-Key: $K-2"
t_eq 422 "$HTTP_STATUS" "a failing request with a key is 422"
rq "$WRITER" POST $C '{"owner":"idem-d","ttl":"8x"}' -H "Idempotency-Key: $K-2"
t_eq "422 true ttl" "$HTTP_STATUS $(http_header Idempotent-Replayed) $(jqr .field)" "its retry gets the stored 422, replayed"

rq "$WRITER" DELETE $C/idem-a '' -H "Idempotency-Key: $K-3"
t_eq 200 "$HTTP_STATUS" "DELETE with a key is 200"
rq "$WRITER" DELETE $C/idem-a '' -H "Idempotency-Key: $K-3"
t_eq "200 true deleted" "$HTTP_STATUS $(http_header Idempotent-Replayed) $(jqr .status)" \
    "the DELETE replayed is 200 (not 404), replayed, deleted"

# Two requests with one key at the same time: the first waits for a push
# that cannot happen (the remote is moved aside), the second arrives meanwhile.
mv "$REMOTE" "$REMOTE.away"
curl -s -m 20 -D "$T_TMP/slow.h" -o "$T_TMP/slow.b" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $WRITER" -H 'Content-Type: application/json' \
    -H "Idempotency-Key: $K-4" -H 'Prefer: wait=5' \
    --data-binary '{"owner":"idem-slow"}' "$PV_URL$C" >"$T_TMP/slow.code" &
SLOW=$!
t_eventually 5 "the first request's row is recorded" rows_named_is idem-slow 1
rq "$WRITER" POST $C '{"owner":"idem-slow"}' -H "Idempotency-Key: $K-4" -H 'Prefer: respond-async'
SECOND=$HTTP_STATUS
t_eq "application/problem+json status=409 detail=yes field=Idempotency-Key" "$(problem_shape)" \
    "the duplicate's 409 names Idempotency-Key"
wait "$SLOW"
FIRST=$(cat "$T_TMP/slow.code")
t_eq "202 409" "$FIRST $SECOND" "the first (still waiting for Git) answers 202, the concurrent duplicate 409"
t_eq pending "$(jq -r .status "$T_TMP/slow.b")" "the first answer says pending"
rq "$WRITER" POST $C '{"owner":"idem-slow"}' -H "Idempotency-Key: $K-4"
t_eq "202 true" "$HTTP_STATUS $(http_header Idempotent-Replayed)" "once the first is answered, a retry is replayed (202: still pending)"
mv "$REMOTE.away" "$REMOTE"
t_eventually 20 "idem-slow reaches Git once the remote is back" has_folder idem-slow
rq "$WRITER" POST $C '{"owner":"idem-slow"}' -H "Idempotency-Key: $K-4"
t_eq "201 true active" "$HTTP_STATUS $(http_header Idempotent-Replayed) $(jqr .status)" "the replay after the push is 201, active"
t_eq 1 "$(sql "SELECT count(*) FROM envs WHERE name = 'idem-slow'")" "one idem-slow row"
t_eq 1 "$(g log --format=%H main -- env/idem-slow | wc -l)" "one commit touches env/idem-slow"

# ------------------------------------------------------------------ 6. no token leaks
t_begin "6. tokens never leak"
leaks() {  # leaks FILE...: how many times any token appears
    local n=0 t f c
    for t in "$READER" "$WRITER" "$ADMIN" "${READER:13}" "${WRITER:13}" "${ADMIN:13}"; do
        for f in "$@"; do
            [ -f "$f" ] || continue
            c=$(grep -c -F -a -- "$t" "$f")
            n=$((n + ${c:-0}))
        done
    done
    echo "$n"
}
t_eq 0 "$(leaks "$T_TMP"/previewd.*.log)" "no token (or its secret part) in previewd's logs"
t_eq 0 "$(leaks "$TRANSCRIPT")" "no token in any answer ($(grep -c '^>>>' "$TRANSCRIPT") answers)"
t_eq 0 "$(leaks "$DB" "$DB-wal")" "no token in the database file or its WAL"
g log -p --all >"$T_TMP/gitlog.txt"
git --git-dir "$DATA/clone.git" log -p --all >"$T_TMP/clonelog.txt"
t_eq 0 "$(grep -c token "$T_TMP/gitlog.txt")" "git log -p --all | grep -c token is 0 (the remote)"
t_eq 0 "$(grep -c token "$T_TMP/clonelog.txt")" "git log -p --all | grep -c token is 0 (previewd's clone)"
t_eq 0 "$(leaks "$T_TMP/gitlog.txt" "$T_TMP/clonelog.txt")" "no token value in the Git history"
t_eq 0 "$(grep -c 'pvd_' "$T_TMP/gitlog.txt")" "no pvd_ in the Git history"

# ------------------------------------------------------------------ 7. revoke
t_begin "7. revoke"
pv_token -m "token revoke ci-reader" revoke ci-reader
rq "$READER" GET $C
t_eq 401 "$HTTP_STATUS" "the revoked reader token is 401"
t_match '^Bearer' "$(http_header WWW-Authenticate)" "with WWW-Authenticate: Bearer"
t_match 'revoked' "$(jqr .detail)" "the detail says revoked"
rq "$WRITER" GET $C
t_eq 200 "$HTTP_STATUS" "the writer token still works"
pv_token -m "token list exits 0 after a revoke" list
t_match 'ci-reader +reader +created [^ ]+ +revoked' "$PV_OUT" "token list shows ci-reader as revoked"
pv_token -x 1 -m "revoking it again fails" revoke ci-reader

# ------------------------------------------------------------------ 8. quotas
t_begin "8. quotas"
# start from no live environment: remove what the sections above left
for n in $(sql "SELECT name FROM envs WHERE status IN ('pending','active','deleting')"); do
    rq "$ADMIN" DELETE "$C/$n" '' -H 'Prefer: wait=10'
done
t_eq 0 "$(sql "SELECT count(*) FROM envs WHERE status IN ('pending','active','deleting')")" "no live environment left"
start 127.0.0.1 PREVIEWD_MAX_ENVS_PER_OWNER=2 PREVIEWD_MAX_ENVS=3 || t_ok "previewd restarts with quotas" false
rq "$WRITER" POST $C '{"owner":"qa","name":"qa-1"}'
t_eq 201 "$HTTP_STATUS" "qa's first environment"
rq "$WRITER" POST $C '{"owner":"qa","name":"qa-2"}'
t_eq 201 "$HTTP_STATUS" "qa's second environment"
HEADQ=$(head_commit)
rq "$WRITER" POST $C '{"owner":"qa","name":"qa-3"}'
t_eq 429 "$HTTP_STATUS" "qa's third environment is 429"
t_eq "application/problem+json status=429 detail=yes field=owner" "$(problem_shape)" "problem document naming owner"
t_match 'PREVIEWD_MAX_ENVS_PER_OWNER' "$(jqr .detail)" "the detail names the per-owner limit"
t_match 'limit per owner is 2' "$(jqr .detail)" "and its value"
t_eq urn:previewd:problem:quota-exceeded "$(jqr .type)" "type quota-exceeded"
rq "$WRITER" POST $C '{"owner":"qb","name":"qb-1"}'
t_eq 201 "$HTTP_STATUS" "another owner's first environment (3 in total)"
t_eq 1 "$(g rev-list --count "$HEADQ..main")" "only qb-1 was pushed since qa-2 (not qa-3)"
HEADQ=$(head_commit)
rq "$WRITER" POST $C '{"owner":"qc","name":"qc-1"}'
t_eq 429 "$HTTP_STATUS" "a fourth environment in total is 429"
t_match 'PREVIEWD_MAX_ENVS\)' "$(jqr .detail)" "the detail names the total limit"
t_match 'total limit is 3' "$(jqr .detail)" "and its value"
t_eq 0 "$(sql "SELECT count(*) FROM envs WHERE name IN ('qa-3','qc-1')")" "refused creates left no row"
sleep 0.3
t_eq "$HEADQ" "$(head_commit)" "the refused total-limit create pushed nothing"
t_eq 0 "$(g log --format=%B main | grep -c -E 'qa-3|qc-1')" "no commit mentions a refused create"
rq "$WRITER" DELETE $C/qa-1
t_eq 200 "$HTTP_STATUS" "deleting one frees a slot"
rq "$WRITER" POST $C '{"owner":"qc","name":"qc-1"}'
t_eq 201 "$HTTP_STATUS" "then a create fits again"
for n in qa-2 qb-1 qc-1; do rq "$WRITER" DELETE "$C/$n"; done
# eight concurrent creates for one owner: the quota holds under concurrency
pids=()
for i in 1 2 3 4 5 6 7 8; do
    curl -s -o /dev/null -w '%{http_code}\n' -m 20 -X POST -H "Authorization: Bearer $WRITER" \
        -H 'Content-Type: application/json' -H 'Prefer: respond-async' \
        --data-binary "{\"owner\":\"burst\",\"name\":\"burst-$i\"}" "$PV_URL$C" >"$T_TMP/burst.$i" &
    pids+=($!)
done
wait "${pids[@]}"
t_eq "2 x 202, 6 x 429" "$(sort "$T_TMP"/burst.* | uniq -c | awk '{printf "%s%s x %s", (NR > 1 ? ", " : ""), $1, $2}')" \
    "8 concurrent creates for one owner: exactly 2 accepted"
t_eq 2 "$(sql "SELECT count(*) FROM envs WHERE owner = 'burst' AND status IN ('pending','active','deleting')")" \
    "two live burst environments"

# ------------------------------------------------------------------ 9. connections
t_begin "9a. slow-loris: 30 trickling connections do not starve other clients"
# Not how fast (the benchmark's question) but whether: the requests below are
# answered, correctly, while the 30 slow clients still hold their
# connections (they trickle until told to stop, up to 120 s; a starved
# request would wait for that and miss curl's 60 s).
start 127.0.0.1 || t_ok "previewd restarts" false
LSTOP=$T_TMP/loris1.stop
python3 "$T_ROOT/tests/lib/loris.py" 127.0.0.1 "$PORT" 30 0.5 120 "$LSTOP" >"$T_TMP/loris1.json" &
LORIS=$!
t_eventually 60 "the 30 slow connections are open" test -e "$LSTOP.up"
: >"$T_TMP/times"
for i in $(seq 1 21); do
    curl -s -o "$T_TMP/loris.get" -m 60 -w '%{http_code} %{time_total}' -H "Authorization: Bearer $WRITER" \
        "$PV_URL$C" >>"$T_TMP/times"
    printf ' %s\n' "$(jq -r '.items | type' "$T_TMP/loris.get" 2>/dev/null)" >>"$T_TMP/times"
done
t_eq 21 "$(grep -c '^200 .* array$' "$T_TMP/times")" "21 GET $C during the attack all answer 200 with the list"
echo "# GET $C during the slow-loris: p50 $(awk '{print $2}' "$T_TMP/times" | sort -n | awk 'NR == 11')s"
rq "$WRITER" POST $C '{"owner":"loris"}'
t_eq 201 "$HTTP_STATUS" "a create during the attack is 201"
t_eq loris "$(jqr .name)" "and its answer is the new environment"
touch "$LSTOP"
wait "$LORIS"
echo "# slow-loris (30 s idle timeout): $(cat "$T_TMP/loris1.json")"
t_eq "30 0" "$(jq -r '"\(.connected) \(.closed)"' "$T_TMP/loris1.json")" \
    "the attack was real: all 30 connections were still held when those requests had been answered"

t_begin "9b. PREVIEWD_CONN_TIMEOUT=2s closes slow connections"
start 127.0.0.1 PREVIEWD_CONN_TIMEOUT=2s || t_ok "previewd restarts" false
# 30 trickling one byte per second (faster than the timeout), 10 that stall
python3 "$T_ROOT/tests/lib/loris.py" 127.0.0.1 "$PORT" 30 1 8 >"$T_TMP/loris2.json" &
L1=$!
python3 "$T_ROOT/tests/lib/loris.py" 127.0.0.1 "$PORT" 10 1000 20 >"$T_TMP/loris3.json" &
L2=$!
wait "$L1" "$L2"
echo "# trickling, 1 byte/s: $(cat "$T_TMP/loris2.json")"
echo "# stalled after 1 byte: $(cat "$T_TMP/loris3.json")"
# a generous bound: ten times the configured 2 s, below the default 30 s that
# would hold them if the setting were ignored
t_ok "the 10 stalled connections are all closed by the server within 20 s ($(jq -c . "$T_TMP/loris3.json"))" \
    jq -e '.connected == 10 and .closed == 10' "$T_TMP/loris3.json"
# Not enforced: PREVIEWD_CONN_TIMEOUT is libmicrohttpd's idle timeout, so a
# client that keeps sending a byte a second holds its connection until the
# per-address limit (PREVIEWD_MAX_CONN_PER_IP, 9c) stops it opening more;
# what matters, that the others are served meanwhile, is checked in 9a.
echo "# known limitation: trickling connections stay open: $(jq -c . "$T_TMP/loris2.json")"
rq "$WRITER" GET $C
t_eq 200 "$HTTP_STATUS" "previewd still answers"

t_begin "9c. PREVIEWD_MAX_CONN_PER_IP=5"
start 0.0.0.0 PREVIEWD_MAX_CONN_PER_IP=5 || t_ok "previewd restarts" false
# the other address: this machine's end of the client's link (EXT_SRV)
PERIP=$(python3 - "$PORT" "$EXT_SRV" <<'EOF'
import json, socket, sys, time
port, ext = int(sys.argv[1]), sys.argv[2]
req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
def ask(s):
    try:
        s.sendall(req)
        d = s.recv(200)
        return d.split(b"\r\n")[0].decode() if d else "no answer (closed)"
    except (ConnectionResetError, BrokenPipeError):
        return "no answer (reset)"
    except OSError as e:
        return "error %s" % e
out = {}
held = [socket.create_connection(("127.0.0.1", port), timeout=3) for _ in range(5)]
time.sleep(0.3)
sixth = socket.create_connection(("127.0.0.1", port), timeout=3)
out["sixth"] = ask(sixth)
out["held"] = [ask(s) for s in held]
if ext:
    out["other_address"] = ask(socket.create_connection((ext, port), timeout=3))
for s in held:
    s.close()
time.sleep(0.3)
out["after"] = ask(socket.create_connection(("127.0.0.1", port), timeout=3))
print(json.dumps(out))
EOF
)
echo "# per-IP limit: $PERIP"
t_match '^no answer' "$(jq -r .sixth <<<"$PERIP")" "a 6th simultaneous connection from 127.0.0.1 is closed without an answer"
t_eq "HTTP/1.1 200 OK,HTTP/1.1 200 OK,HTTP/1.1 200 OK,HTTP/1.1 200 OK,HTTP/1.1 200 OK" \
    "$(jq -r '.held | join(",")' <<<"$PERIP")" "the 5 connections within the limit are answered"
t_eq "HTTP/1.1 200 OK" "$(jq -r .other_address <<<"$PERIP")" "a client from $EXT_SRV is answered meanwhile"
t_eq "HTTP/1.1 200 OK" "$(jq -r .after <<<"$PERIP")" "once they close, a new connection is answered"
t_match 'connection limit' "$(cat "$PV_LOG")" "previewd logs the refused connection"

# ------------------------------------------------------------------ 10. the last token
t_begin "10. revoking every token"
start 127.0.0.1 || t_ok "previewd restarts" false
pv_token -m "token revoke ci-writer" revoke ci-writer
pv_token -m "token revoke ci-admin" revoke ci-admin
rq "$WRITER" GET $C
t_eq 401 "$HTTP_STATUS" "the revoked writer token is 401 after the last token was revoked"
rq "$WRITER" POST $C '{"owner":"afterrevoke"}'
t_eq 401 "$HTTP_STATUS" "a create with the revoked writer token is 401 after the last token was revoked"
t_not "nothing was created with the revoked token" has_folder afterrevoke

t_eq 0 "$(leaks "$T_TMP"/previewd.*.log "$TRANSCRIPT")" "still no token in the logs or answers"
echo "# runtime $(($(date +%s) - T_START)) s"
t_end
