#!/usr/bin/env bash
# test_strict.sh — a path means one name, and a request has one framing
# (issue 12, points 5 and 6), on loopback against the embedded default
# repository (file://DATA/gitops.git):
#
#   1. bad paths: DELETE, PATCH and GET (and POST on the collection) with
#      %00, %2F, a raw NUL, '..', a trailing slash, a name outside the rules;
#      each is 404 or 400 as problem+json, and yamlx and deepx stay exactly
#      as they were, in the API and in Git
#   2. framing a proxy could read otherwise: Content-Length with
#      Transfer-Encoding, two Content-Lengths, HTTP/1.1 without Host,
#      "Content-Length : 5" (and two Hosts, a coding other than chunked,
#      Transfer-Encoding in HTTP/1.0); each is one 400 as problem+json, the
#      connection closes, and no environment is created
#   3. what stays allowed: a name spelt with escapes, HTTP/1.0 without Host,
#      a chunked body
#
# Every request is sent raw over a socket (tests/lib has no client that
# sends %00 or '..' untouched; curl would normalise the path).
#
#   bash tests/integration/test_strict.sh        (KEEP_TMP=1 keeps the logs)
#
# shellcheck disable=SC2317  # helpers below are run through t_ok
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

DATA=$T_TMP/data
G=$DATA/gitops.git
RAW_PY=$T_TMP/raw.py

# raw.py PORT FILE: send FILE's bytes, read the answer until the server
# closes (or 5 s pass) and print it as JSON: the first status, its headers
# (lower-case names), its body (parsed if JSON), how many status lines came
# back, and whether the server closed the connection.
cat >"$RAW_PY" <<'EOF'
import json, re, socket, sys
port, path = int(sys.argv[1]), sys.argv[2]
req = open(path, "rb").read()
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(req)
out, closed = b"", False
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            closed = True
            break
        out += chunk
except socket.timeout:
    pass
head, _, rest = out.partition(b"\r\n\r\n")
lines = head.decode("latin-1").split("\r\n")
status = int(lines[0].split()[1]) if lines[0].startswith("HTTP/") else 0
headers = {}
for line in lines[1:]:
    k, _, v = line.partition(":")
    headers[k.strip().lower()] = v.strip()
n = int(headers.get("content-length", len(rest)))
body = rest[:n].decode("utf-8", "replace")
try:
    body = json.loads(body)
except ValueError:
    pass
answers = len(re.findall(rb"(?:^|\r\n)HTTP/1\.[01] [0-9]{3} ", out))
print(json.dumps({"status": status, "headers": headers, "body": body, "answers": answers, "closed": closed}))
EOF

# raw REQUEST: send REQUEST (printf %b escapes: \r\n, \x00) and set
# RAW (the JSON above), RAW_STATUS and RAW_CTYPE.
raw() {
    printf '%b' "$1" >"$T_TMP/req.bin"
    RAW=$(python3 "$RAW_PY" "$PV_PORT" "$T_TMP/req.bin")
    RAW_STATUS=$(jq_of "$RAW" .status)
    RAW_CTYPE=$(jq_of "$RAW" '.headers["content-type"] // ""')
}

# is_problem STATUS: the last answer is a problem document for STATUS.
is_problem() {
    # shellcheck disable=SC2016  # $s is jq's
    [ "$RAW_CTYPE" = application/problem+json ] &&
        jq_of "$RAW" -e --argjson s "$1" '.body | (.status == $s) and (.type | type == "string")
            and (.title | type == "string") and (.detail | type == "string")' >/dev/null
}

# state NAME: the environment as GET shows it (compact JSON), but for
# ttl_seconds, which counts down (expires_at stays)
state() {
    http GET "/v1/environments/$1"
    jqr -c 'del(.ttl_seconds)'
}

# envs: the names of every environment, sorted.
envs() {
    http GET '/v1/environments?limit=100'
    jqr -c '[.items[].name] | sort'
}

H='Host: previewd.test\r\n'
C='Connection: close\r\n'

# ---------------------------------------------------------------- start-up
t_begin "start-up: yamlx and deepx"
t_need "previewd starts" pv_start "$DATA" PREVIEWD_WAIT_MS=5000
http POST /v1/environments '{"owner":"alice","name":"yamlx","values":{"image":{"tag":"y1"}}}'
t_eq 201 "$HTTP_STATUS" "yamlx created and pushed"
http POST /v1/environments '{"owner":"bob","name":"deepx","ttl":"2h"}'
t_eq 201 "$HTTP_STATUS" "deepx created and pushed"
YAMLX0=$(state yamlx)
DEEPX0=$(state deepx)
t_eq active "$(jq_of "$YAMLX0" .status)" "yamlx is active"
t_eq active "$(jq_of "$DEEPX0" .status)" "deepx is active"
HEAD0=$(head_commit)
ENVS0=$(envs)
t_eq '["deepx","yamlx"]' "$ENVS0" "two environments"
raw "GET /v1/environments/yamlx HTTP/1.1\r\n$H$C\r\n"
t_eq 200 "$RAW_STATUS" "the raw client reads yamlx (the control for what follows)"

# ---------------------------------------------------------------- 1. bad paths
t_begin "1. a path means one name"
PATCH_BODY='{"ttl":"1h","values":{"image":{"tag":"evil"}}}'
BAD_N=0
# bad STATUS METHOD TARGET: the request (a PATCH carries a body that would
# change the environment) is STATUS as problem+json
bad() {
    local want=$1 method=$2 target=$3 body='' head
    head="$method $target HTTP/1.1\r\n${H}Connection: close\r\n"
    case "$method" in
    PATCH) body=$PATCH_BODY ;;
    POST) body='{"owner":"zed","name":"zedx"}' ;;
    esac
    if [ -n "$body" ]; then
        head+="Content-Type: application/json\r\nContent-Length: ${#body}\r\n"
    fi
    raw "$head\r\n$body"
    BAD_N=$((BAD_N + 1))
    t_eq "$want" "$RAW_STATUS" "$method $target is $want" &&
        t_ok "$method $target answers a problem document" is_problem "$want"
}
# an encoded NUL: the decoded C string would stop before it
bad 404 DELETE '/v1/environments/yamlx%00junk'
bad 404 PATCH '/v1/environments/deepx%00..%2Fprod'
bad 404 GET '/v1/environments/yamlx%00'
bad 404 DELETE '/v1/environments/yamlx%00/events'
bad 404 GET '/v1/environments/yamlx/events%00'
bad 404 POST '/v1/environments%00junk'
bad 404 POST '/v1/chatops%00'
bad 404 GET '/healthz%00'
# an encoded '/': a segment that was not there
bad 404 DELETE '/v1/environments/deepx%2Fevents'
bad 404 GET '/v1/environments/deepx%2fevents'
bad 404 PATCH '/v1/environments/deepx%2F..%2Fyamlx'
bad 404 DELETE '/v1/environments%2Fyamlx'
# a raw NUL or space in the target
bad 400 DELETE '/v1/environments/yamlx\x00junk'
bad 400 PATCH '/v1/environments/deepx\x00'
bad 400 DELETE '/v1/environments/yamlx junk'
# an encoded NUL in the query
bad 400 GET '/v1/environments?owner=alice%00x'
# dot segments, slashes, and names outside the rules
bad 404 DELETE '/v1/environments/yamlx/..'
bad 404 PATCH '/v1/environments/../environments/deepx'
bad 404 DELETE '/v1/environments/./yamlx'
bad 404 DELETE '/v1/environments/%2e%2e'
bad 404 PATCH '/v1/environments/deepx/'
bad 404 DELETE '/v1/environments//yamlx'
bad 404 DELETE '/v1/environments/YAMLX'
bad 404 PATCH '/v1/environments/deep_x'
bad 404 DELETE '/v1/environments/-yamlx'
bad 404 PATCH '/v1/environments/deepx%20'
bad 404 DELETE "/v1/environments/yamlx$(printf 'a%.0s' {1..60})"
bad 404 GET '/v1/environments/yamlx%00/events'
t_ok "the table has at least 25 rows ($BAD_N)" test "$BAD_N" -ge 25
sleep 0.3 # a write that slipped through would have been pushed by now
t_eq "$YAMLX0" "$(state yamlx)" "yamlx is unchanged"
t_eq "$DEEPX0" "$(state deepx)" "deepx is unchanged"
t_eq "$HEAD0" "$(head_commit)" "nothing new in Git"
t_eq "$ENVS0" "$(envs)" "no environment was created"
t_ok "yamlx's folder is still in Git" has_folder yamlx
t_ok "deepx's folder is still in Git" has_folder deepx

# ---------------------------------------------------------------- 2. framing
t_begin "2. HTTP parsing a proxy cannot be confused about"
# framed STATUS DESCRIPTION REQUEST: one answer, STATUS as problem+json,
# with Connection: close, and the server closes the connection
framed() {
    local want=$1 what=$2
    raw "$3"
    t_eq "$want" "$RAW_STATUS" "$what: $want" &&
        t_ok "$what: a problem document" is_problem "$want"
    t_eq 1 "$(jq_of "$RAW" .answers)" "$what: one answer, the rest is not read as a request"
    t_eq close "$(jq_of "$RAW" '.headers.connection // ""')" "$what: Connection: close"
    t_eq true "$(jq_of "$RAW" .closed)" "$what: the server closes the connection"
}
B1='{"owner":"smuga"}' B2='{"owner":"smugb"}' B3='{"owner":"smugc"}' B4='{"owner":"smugd"}'
B5='{"owner":"smuge"}' B6='{"owner":"smugf"}' B7='{"owner":"smugg"}'
CT='Content-Type: application/json\r\n'
framed 400 "Content-Length with Transfer-Encoding" \
    "POST /v1/environments HTTP/1.1\r\n$H${CT}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n$B1\r\n0\r\n\r\n"
framed 400 "two different Content-Lengths" \
    "POST /v1/environments HTTP/1.1\r\n$H${CT}Content-Length: ${#B2}\r\nContent-Length: 40\r\n\r\n$B2"
framed 400 "two equal Content-Lengths" \
    "POST /v1/environments HTTP/1.1\r\n$H${CT}Content-Length: ${#B3}\r\nContent-Length: ${#B3}\r\n\r\n$B3"
framed 400 "HTTP/1.1 without Host" \
    "POST /v1/environments HTTP/1.1\r\n${CT}Content-Length: ${#B4}\r\n\r\n$B4"
framed 400 "'Content-Length : N'" \
    "POST /v1/environments HTTP/1.1\r\n$H${CT}Content-Length : ${#B5}\r\n\r\n$B5"
framed 400 "two Hosts" \
    "POST /v1/environments HTTP/1.1\r\n${H}Host: other.test\r\n${CT}Content-Length: ${#B6}\r\n\r\n$B6"
framed 400 "Transfer-Encoding: gzip, chunked" \
    "POST /v1/environments HTTP/1.1\r\n$H${CT}Transfer-Encoding: gzip, chunked\r\n\r\n11\r\n$B7\r\n0\r\n\r\n"
framed 400 "Transfer-Encoding in HTTP/1.0" \
    "POST /v1/environments HTTP/1.0\r\n${CT}Transfer-Encoding: chunked\r\n\r\n11\r\n$B7\r\n0\r\n\r\n"
sleep 0.3
for n in smuga smugb smugc smugd smuge smugf smugg; do
    http GET "/v1/environments/$n"
    t_eq 404 "$HTTP_STATUS" "no environment $n"
done
t_eq "$ENVS0" "$(envs)" "no environment was created by a framing case"
t_eq "$HEAD0" "$(head_commit)" "nothing new in Git after the framing cases"

# ---------------------------------------------------------------- 3. still allowed
t_begin "3. what stays allowed"
raw "GET /v1/environments/yaml%78 HTTP/1.1\r\n$H$C\r\n"
t_eq 200 "$RAW_STATUS" "a valid name spelt with an escape (yaml%78) is read"
t_eq yamlx "$(jq_of "$RAW" .body.name)" "... and it is yamlx"
raw "GET /v1/environments/yamlx/events HTTP/1.1\r\n$H$C\r\n"
t_eq 200 "$RAW_STATUS" "yamlx's events are read"
raw "GET /v1/environments?owner=alice HTTP/1.0\r\n\r\n" # 1.0 closes by default
t_eq 200 "$RAW_STATUS" "HTTP/1.0 without Host is answered"
t_eq '["yamlx"]' "$(jq_of "$RAW" -c '[.body.items[].name]')" "... with alice's environments"
B='{"owner":"carol","name":"chunky"}'
raw "POST /v1/environments HTTP/1.1\r\n$H${CT}Transfer-Encoding: chunked\r\n$C\r\n$(printf '%x' ${#B})\r\n$B\r\n0\r\n\r\n"
t_eq 201 "$RAW_STATUS" "a chunked body without Content-Length creates chunky"
t_ok "chunky's folder is in Git" has_folder chunky

t_end
