#!/usr/bin/env bash
# ctest-labels: integration
# test_portal.sh — what a portal and an operator rely on, against the
# embedded default repository:
#
#   1. GET /v1/info: domain, TTL limits (text and seconds, consistent with
#      what create accepts), bases, default base
#   2. CORS (PREVIEWD_CORS_ORIGINS): echo for allowed origins only, Vary,
#      preflight; with tokens the preflight stays open and a 401 stays
#      readable by the portal
#   3. the list: owner and status filters, limit/cursor pagination that
#      walks every item exactly once, bad parameters
#   4. /metrics: a strict check of the Prometheus text format (python)
#   5. X-Request-Id: echoed when the client sends a tame one, made otherwise
#   6. PREVIEWD_LOG_JSON=true: every log line a JSON object (python)
#
#   bash tests/integration/test_portal.sh        (KEEP_TMP=1 keeps the logs)
#
# shellcheck disable=SC2317  # helpers below are run through t_ok/t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

DATA=$T_TMP/data
PORTAL=https://portal.example.com
OTHER=https://admin.example.org
NL=$'\n'

# q NAME: items' names of the last list answer, one per line
names() { jqr '.items[].name'; }
mkenv() { # mkenv OWNER NAME [TTL]
    local body="{\"owner\":\"$1\",\"name\":\"$2\"${3:+,\"ttl\":\"$3\"}}"
    http POST /v1/environments "$body"
    [[ $HTTP_STATUS =~ ^20[12]$ ]]
}

# ------------------------------------------------------------------ 1. info
t_begin "GET /v1/info"
t_need "previewd starts" pv_start "$DATA" PREVIEWD_CORS_ORIGINS="$PORTAL, $OTHER" PREVIEWD_WAIT_MS=5000
http GET /v1/info
t_eq 200 "$HTTP_STATUS" "GET /v1/info answers 200"
t_match '^application/json' "$HTTP_CTYPE" "as JSON"
t_eq env.my "$(jqr .domain)" "domain is env.my (the default)"
t_eq 'http://{name}.{domain}' "$(jqr .url_template)" "url_template is http://{name}.{domain}"
t_eq 8h "$(jqr .ttl.default)" "ttl.default is 8h"
t_eq 28800 "$(jqr .ttl.default_seconds)" "ttl.default_seconds is 28800"
t_eq 7d "$(jqr .ttl.max)" "ttl.max is 7d"
t_eq 604800 "$(jqr .ttl.max_seconds)" "ttl.max_seconds is 604800"
t_eq 1m "$(jqr .ttl.min)" "ttl.min is 1m"
t_eq 60 "$(jqr .ttl.min_seconds)" "ttl.min_seconds is 60"
t_eq '["dev","prod","test"]' "$(jqr -c .bases)" 'bases are ["dev","prod","test"]'
t_eq dev "$(jqr .default_base)" "default_base is dev"
t_eq true "$(jqr '.bases | index("dev") != null')" "the default base is one of the bases"
max_s=$(jqr .ttl.max_seconds)
min_s=$(jqr .ttl.min_seconds)
http POST /v1/environments "{\"owner\":\"info-check\",\"ttl\":$((max_s + 1))}"
t_eq 422 "$HTTP_STATUS" "a TTL of max_seconds+1 is refused"
http POST /v1/environments "{\"owner\":\"info-check\",\"ttl\":$((min_s - 1))}"
t_eq 422 "$HTTP_STATUS" "a TTL of min_seconds-1 is refused"
http POST /v1/environments "{\"owner\":\"info-check\",\"ttl\":$max_s}"
t_match '^20[12]$' "$HTTP_STATUS" "a TTL of exactly max_seconds is accepted"
http DELETE /v1/environments/info-check
http HEAD /v1/info "" -I
t_eq 200 "$HTTP_STATUS" "HEAD /v1/info answers 200"
http POST /v1/info '{}'
t_eq 405 "$HTTP_STATUS" "POST /v1/info answers 405"

# ------------------------------------------------------------------ 2. CORS
t_begin "CORS"
http GET /v1/info "" -H "Origin: $PORTAL"
t_eq 200 "$HTTP_STATUS" "GET with Origin: $PORTAL answers 200"
t_eq "$PORTAL" "$(http_header Access-Control-Allow-Origin)" "Access-Control-Allow-Origin echoes it"
t_match '(^|, *)Origin(,|$)' "$(http_header Vary)" "Vary: Origin"
t_match 'X-Request-Id' "$(http_header Access-Control-Expose-Headers)" "X-Request-Id is exposed to the page"
t_match 'Location' "$(http_header Access-Control-Expose-Headers)" "and Location"
http GET /v1/environments "" -H "Origin: $OTHER"
t_eq "$OTHER" "$(http_header Access-Control-Allow-Origin)" "the second origin of the list is allowed too"
for o in https://evil.example https://portal.example.com.evil.example https://portal.example \
    http://portal.example.com https://evil.example/https://portal.example.com null; do
    http GET /v1/info "" -H "Origin: $o"
    t_eq "" "$(http_header Access-Control-Allow-Origin)" "Origin: $o gets no Access-Control-Allow-Origin"
done
http GET /v1/info
t_eq "" "$(http_header Access-Control-Allow-Origin)" "no Origin, no Access-Control-Allow-Origin"
http GET /v1/environments/no-such-env "" -H "Origin: $PORTAL"
t_eq 404 "$HTTP_STATUS" "a 404 for the portal"
t_eq "$PORTAL" "$(http_header Access-Control-Allow-Origin)" "still carries Access-Control-Allow-Origin (the page can read the problem)"

t_begin "CORS preflight"
http OPTIONS /v1/environments/some-env "" -H "Origin: $PORTAL" -H 'Access-Control-Request-Method: PATCH' \
    -H 'Access-Control-Request-Headers: authorization, content-type, idempotency-key'
t_eq 204 "$HTTP_STATUS" "OPTIONS from $PORTAL answers 204"
t_eq "$PORTAL" "$(http_header Access-Control-Allow-Origin)" "Access-Control-Allow-Origin echoes it"
methods=$(http_header Access-Control-Allow-Methods)
for m in GET POST PATCH DELETE; do
    t_match "(^|[ ,])$m(,|$)" "$methods" "Access-Control-Allow-Methods includes $m ($methods)"
done
hdrs=$(http_header Access-Control-Allow-Headers)
for h in Authorization Content-Type Idempotency-Key; do
    t_match "(^|[ ,])$h(,|$)" "$hdrs" "Access-Control-Allow-Headers includes $h"
done
t_match '^[0-9]+$' "$(http_header Access-Control-Max-Age)" "Access-Control-Max-Age is set"
http OPTIONS /v1/environments "" -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: POST'
t_eq "" "$(http_header Access-Control-Allow-Origin)" "a preflight from https://evil.example gets no Access-Control-Allow-Origin"
t_eq "" "$(http_header Access-Control-Allow-Methods)" "nor Access-Control-Allow-Methods"

# ------------------------------------------------------------------ 3. list
t_begin "list: filters and pagination"
for i in 1 2 3 4 5 6 7; do
    mkenv pager "page-$i" || t_ok "create page-$i" false
done
mkenv other-owner other-1 || t_ok "create other-1" false
http GET '/v1/environments?owner=pager'
t_eq 7 "$(jqr '.items | length')" "owner=pager lists 7"
t_eq 0 "$(jqr '[.items[] | select(.owner != "pager")] | length')" "all owned by pager"
t_eq null "$(jqr .next_cursor)" "in one page, next_cursor null"

# walk owner=pager with limit=3
seen=() pages=0 cursor=''
while :; do
    http GET "/v1/environments?owner=pager&limit=3${cursor:+&cursor=$cursor}"
    [ "$HTTP_STATUS" = 200 ] || { t_eq 200 "$HTTP_STATUS" "a page answers 200"; break; }
    pages=$((pages + 1))
    n=$(jqr '.items | length')
    [ "$n" -le 3 ] || t_ok "page $pages has at most 3 items (has $n)" false
    mapfile -t got < <(names)
    seen+=("${got[@]}")
    cursor=$(jqr '.next_cursor // empty')
    if [ -z "$cursor" ] || [ $pages -ge 20 ]; then break; fi
done
t_eq 3 "$pages" "limit=3 walks 7 items in 3 pages"
t_eq 7 "${#seen[@]}" "7 items in all"
t_eq 7 "$(printf '%s\n' "${seen[@]}" | sort -u | wc -l)" "each exactly once"
t_eq "page-1 page-2 page-3 page-4 page-5 page-6 page-7" "$(printf '%s\n' "${seen[@]}" | sort | xargs)" "all of page-1..page-7"
http GET '/v1/environments?owner=pager&limit=500'
t_eq "$(jqr -r '[.items[].name] | join(" ")')" "${seen[*]}" "in the same order as one big page"

# walk everything with limit=3 and compare with one big page
http GET '/v1/environments?limit=500'
all=$(jqr -r '[.items[].name] | join(" ")')
walked=() cursor='' pages=0
while :; do
    http GET "/v1/environments?limit=3${cursor:+&cursor=$cursor}"
    [ "$HTTP_STATUS" = 200 ] || break
    mapfile -t got < <(names)
    walked+=("${got[@]}")
    pages=$((pages + 1))
    cursor=$(jqr '.next_cursor // empty')
    if [ -z "$cursor" ] || [ $pages -ge 50 ]; then break; fi
done
t_eq "$all" "${walked[*]}" "the whole list walked 3 at a time equals one big page (${#walked[@]} items)"

http DELETE /v1/environments/page-4
t_match '^20[02]$' "$HTTP_STATUS" "delete page-4"
t_eventually 10 "page-4 ends deleted" env_status_is page-4 deleted
http GET '/v1/environments?owner=pager&status=deleted'
t_eq page-4 "$(names | xargs)" "owner=pager&status=deleted lists only page-4"
http GET '/v1/environments?owner=pager&status=active'
t_eq 6 "$(jqr '.items | length')" "owner=pager&status=active lists 6"
t_eq 0 "$(jqr '[.items[] | select(.status != "active")] | length')" "all active"
http GET '/v1/environments?status=active&limit=500'
t_eq 0 "$(jqr '[.items[] | select(.status != "active")] | length')" "status=active alone: only active ones"
t_match "${NL}other-1(${NL}|$)" "$NL$(names)" "including other owners' (other-1)"
http GET '/v1/environments?owner=nobody-here'
t_eq 0 "$(jqr '.items | length')" "an owner without environments: empty list"
for bad in 'limit=0' 'limit=abc' 'cursor=abc' 'cursor=0' 'status=gone' 'owner=Not_Valid'; do
    http GET "/v1/environments?$bad"
    t_eq 422 "$HTTP_STATUS" "?$bad -> 422"
done
http GET '/v1/environments?limit=501'
t_eq 200 "$HTTP_STATUS" "?limit=501 is cut, not refused"
t_eq 200 "$(jqr .limit)" "to a page of 200"

# ------------------------------------------------------------------ 4. metrics
t_begin "/metrics"
http GET /v1/environments/no-such-env >/dev/null
http GET /metrics
t_eq 200 "$HTTP_STATUS" "GET /metrics answers 200"
t_match '^text/plain; version=0\.0\.4' "$HTTP_CTYPE" "as text/plain; version=0.0.4"
printf '%s\n' "$HTTP_BODY" >"$T_TMP/metrics.txt"
cat >"$T_TMP/promcheck.py" <<'EOF'
"""A strict reading of the Prometheus text exposition format 0.0.4.

Prints one problem per line and exits 1 if there are any; else prints
"samples N families N" and exits 0.  With NAME{LABELS} arguments, checks
those series exist (LABELS a subset, e.g. 'route="create"')."""
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s)(?:,(?:%s))*)?,?\})? (\S+)(?: (-?\d+))?$" % (NAME, LABEL, LABEL))
VALUE = re.compile(r"^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$")
problems = []
helps, types, samples, order = {}, {}, [], []

def family(name):
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base and types.get(base) in ("histogram", "summary"):
            return base
    return name

text = open(sys.argv[1], encoding="utf-8").read()
if not text.endswith("\n"):
    problems.append("the exposition does not end with a newline")
for no, line in enumerate(text.split("\n")[:-1], 1):
    if line == "":
        continue
    if line.startswith("#"):
        m = re.match(r"^# (HELP|TYPE) (%s) (.*)$" % NAME, line)
        if not m:
            if re.match(r"^# (HELP|TYPE)", line):
                problems.append("line %d: malformed %s" % (no, line))
            continue
        kind, name, rest = m.groups()
        if kind == "HELP":
            if name in helps:
                problems.append("line %d: second HELP for %s" % (no, name))
            helps[name] = rest
        else:
            if name in types:
                problems.append("line %d: second TYPE for %s" % (no, name))
            if rest not in ("counter", "gauge", "histogram", "summary", "untyped"):
                problems.append("line %d: unknown type %r" % (no, rest))
            if any(family(s[0]) == name for s in samples):
                problems.append("line %d: TYPE for %s after its samples" % (no, name))
            types[name] = rest
        continue
    m = SAMPLE.match(line)
    if not m:
        problems.append("line %d: not `name{labels} value`: %r" % (no, line))
        continue
    name, labels, value, _ = m.groups()
    if not VALUE.match(value):
        problems.append("line %d: bad value %r" % (no, value))
        continue
    lab = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels or ""))
    samples.append((name, lab, float(value), no))

seen = set()
for name, lab, value, no in samples:
    fam = family(name)
    if fam not in helps:
        problems.append("line %d: %s has no # HELP" % (no, fam))
    if fam not in types:
        problems.append("line %d: %s has no # TYPE" % (no, fam))
    key = (name, tuple(sorted(lab.items())))
    if key in seen:
        problems.append("line %d: duplicate series %s%s" % (no, name, lab))
    seen.add(key)
    t = types.get(fam)
    if t == "counter" and (value < 0 or math.isnan(value)):
        problems.append("line %d: counter %s is %s" % (no, name, value))
    if t == "histogram" and name == fam:
        problems.append("line %d: histogram %s has a bare sample" % (no, name))
    if t != "histogram" and name.endswith("_bucket") and "le" in lab:
        problems.append("line %d: %s has buckets but is not TYPE histogram" % (no, name))
# families declared but interleaved: samples of one family must be contiguous
last, done = None, set()
for name, lab, value, no in samples:
    fam = family(name)
    if fam != last:
        if fam in done:
            problems.append("line %d: samples of %s are not contiguous" % (no, fam))
        if last:
            done.add(last)
        last = fam

# histograms: per label set (without le), buckets ascending in le,
# cumulative, ending with +Inf equal to _count, with a _sum
for fam, t in types.items():
    if t != "histogram":
        continue
    groups = {}
    for name, lab, value, no in samples:
        if family(name) != fam:
            continue
        rest = tuple(sorted((k, v) for k, v in lab.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if name == fam + "_bucket":
            if "le" not in lab:
                problems.append("line %d: %s_bucket without le" % (no, fam))
                continue
            g["buckets"].append((float(lab["le"]), value, lab["le"], no))
        elif name == fam + "_sum":
            g["sum"] = value
        elif name == fam + "_count":
            g["count"] = value
    if not groups:
        problems.append("histogram %s has no samples" % fam)
    for rest, g in groups.items():
        b = g["buckets"]
        where = "%s%s" % (fam, dict(rest))
        if not b:
            problems.append("%s: no buckets" % where)
            continue
        les = [x[0] for x in b]
        if les != sorted(les) or len(set(les)) != len(les):
            problems.append("%s: le not strictly ascending: %s" % (where, [x[2] for x in b]))
        for (l1, v1, s1, n1), (l2, v2, s2, n2) in zip(b, b[1:]):
            if v2 < v1:
                problems.append("%s: not cumulative: le=%s %g > le=%s %g" % (where, s1, v1, s2, v2))
        if b[-1][2] != "+Inf":
            problems.append("%s: the last bucket is le=%s, not +Inf" % (where, b[-1][2]))
        if g["count"] is None:
            problems.append("%s: no _count" % where)
        elif b[-1][1] != g["count"]:
            problems.append("%s: +Inf bucket %g != _count %g" % (where, b[-1][1], g["count"]))
        if g["sum"] is None:
            problems.append("%s: no _sum" % where)
        elif g["sum"] < 0:
            problems.append("%s: negative _sum" % where)

for want in sys.argv[2:]:
    m = re.match(r"^(%s)(?:\{(.*)\})?$" % NAME, want)
    wname, wlabels = m.group(1), dict(re.findall(r'([a-zA-Z_]\w*)="([^"]*)"', m.group(2) or ""))
    if not any(n == wname and all(l.get(k) == v for k, v in wlabels.items()) for n, l, _, _ in samples):
        problems.append("missing series %s" % want)

for p in problems:
    print(p)
print("samples %d families %d" % (len(samples), len(types)))
sys.exit(1 if problems else 0)
EOF
out=$(python3 "$T_TMP/promcheck.py" "$T_TMP/metrics.txt" \
    'previewd_http_request_duration_seconds_bucket{route="create",le="+Inf"}' \
    'previewd_http_request_duration_seconds_bucket{route="create",le="0.005"}' \
    'previewd_environments{status="active"}' \
    'previewd_environments{status="deleted"}' \
    'previewd_git_pushes_total' \
    'previewd_http_responses_total{route="create",code="201"}' \
    'previewd_http_responses_total{route="get",code="404"}' 2>&1)
t_eq 0 "$?" "the exposition parses strictly and has the expected series"
printf '%s\n' "$out" | sed 's/^/#   /'
# the checker itself catches what it is meant to catch
printf '# HELP x_total X.\n# TYPE x_total counter\nx_total{a="b"} 1 2 3\n' >"$T_TMP/bad1.txt"
t_not "self-check: a malformed sample line is caught" python3 "$T_TMP/promcheck.py" "$T_TMP/bad1.txt" >/dev/null
printf 'y 1\n' >"$T_TMP/bad2.txt"
t_not "self-check: a family without HELP/TYPE is caught" python3 "$T_TMP/promcheck.py" "$T_TMP/bad2.txt" >/dev/null
printf '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 3\nh_bucket{le="2"} 2\nh_bucket{le="+Inf"} 4\nh_sum 1\nh_count 5\n' >"$T_TMP/bad3.txt"
t_eq 2 "$(python3 "$T_TMP/promcheck.py" "$T_TMP/bad3.txt" | grep -c 'cumulative\|_count')" \
    "self-check: non-cumulative buckets and +Inf != _count are caught"

metric() { # metric NAME{LABELS}: its value in metrics.txt
    awk -v k="$1" '$1 == k { print $2 }' "$T_TMP/metrics.txt"
}
http GET '/v1/environments?status=active&limit=500'
t_eq "$(jqr '.items | length')" "$(metric 'previewd_environments{status="active"}')" \
    "previewd_environments{status=\"active\"} equals the active list's length"
creates=$(metric 'previewd_http_request_duration_seconds_count{route="create"}')
t_ok "the create histogram counted the creates (${creates:-none} >= 9)" test "${creates:-0}" -ge 9
pushes=$(metric previewd_git_pushes_total)
t_ok "previewd_git_pushes_total counts the pushes (${pushes:-none} >= 10)" test "${pushes:-0}" -ge 10

# ------------------------------------------------------------------ 5. request ids
t_begin "X-Request-Id"
http GET /v1/info "" -H 'X-Request-Id: portal-7f3a.42:abc_DEF'
t_eq portal-7f3a.42:abc_DEF "$(http_header X-Request-Id)" "a client's X-Request-Id is echoed"
http POST /v1/environments '{"owner":"reqid"}' -H 'X-Request-Id: create-reqid-1'
t_eq create-reqid-1 "$(http_header X-Request-Id)" "on a write too"
sleep 0.2
t_ok "and the access log line carries it" grep -q 'http: create-reqid-1 POST /v1/environments 20[12]' "$PV_LOG"
http GET /v1/info
id1=$(http_header X-Request-Id)
t_match '^[A-Za-z0-9._:-]{4,}$' "$id1" "without one, previewd makes one ($id1)"
http GET /v1/info
id2=$(http_header X-Request-Id)
t_ok "a different one per request ($id1, $id2)" test -n "$id2" -a "$id1" != "$id2"
http GET /v1/environments/nope
t_match '^[A-Za-z0-9._:-]{4,}$' "$(http_header X-Request-Id)" "a 404 has one too"
for bad in 'has space' 'semi;colon' "$(printf 'x%.0s' {1..200})"; do
    http GET /v1/info "" -H "X-Request-Id: $bad"
    rid=$(http_header X-Request-Id)
    t_ok "an untame X-Request-Id (${bad:0:20}...) is replaced ($rid)" test -n "$rid" -a "$rid" != "$bad"
done

t_begin "the access log cannot be split by a request path"
# The log is one event per line.  The path is the client's (decoded by
# libmicrohttpd); a %0A in it must not start a line that looks like one of
# previewd's.
http DELETE '/v1/environments/x%0A2001-01-01T00:00:00.000Z%20error%20forged-by-path'
t_eq 404 "$HTTP_STATUS" "the request is a 404"
sleep 0.2
t_not "no log line starts with the forged text" grep -q '^2001-01-01T00:00:00.000Z error forged-by-path' "$PV_LOG"

# ------------------------------------------------------------------ CORS with tokens
t_begin "CORS with tokens configured"
pv_token create portal --role reader
TOKEN=$PV_OUT
t_match '^pvd_' "$TOKEN" "token create portal --role reader"
http OPTIONS /v1/environments "" -H "Origin: $PORTAL" -H 'Access-Control-Request-Method: GET' \
    -H 'Access-Control-Request-Headers: authorization'
t_eq 204 "$HTTP_STATUS" "the preflight needs no token (204)"
t_eq "$PORTAL" "$(http_header Access-Control-Allow-Origin)" "and allows the portal"
http GET /v1/environments "" -H "Origin: $PORTAL"
t_eq 401 "$HTTP_STATUS" "a GET without a token is 401"
t_eq "$PORTAL" "$(http_header Access-Control-Allow-Origin)" "readable by the portal (Access-Control-Allow-Origin)"
http GET /v1/info "" -H "Origin: $PORTAL" -H "Authorization: Bearer $TOKEN"
t_eq 200 "$HTTP_STATUS" "with the reader's token /v1/info is 200"
t_eq "$PORTAL" "$(http_header Access-Control-Allow-Origin)" "with Access-Control-Allow-Origin"
pv_stop

t_begin "CORS: an empty Origin header"
# An empty Origin (curl -H 'Origin;', or 'Origin: ' from any client) must
# be treated like a foreign origin: answered, without CORS headers.
t_need "previewd starts" pv_start "$T_TMP/data-origin" PREVIEWD_CORS_ORIGINS="$PORTAL"
HTTP_TIMEOUT=5 http GET /healthz "" -H 'Origin;'
t_eq 200 "$HTTP_STATUS" "GET /healthz with an empty Origin answers 200 within 5 s"
t_eq "" "$(http_header Access-Control-Allow-Origin)" "without Access-Control-Allow-Origin"
HTTP_TIMEOUT=5 http OPTIONS /v1/environments "" -H 'Origin;' -H 'Access-Control-Request-Method: POST'
t_eq 204 "$HTTP_STATUS" "a preflight with an empty Origin answers 204 within 5 s"
HTTP_TIMEOUT=5 http GET /healthz
t_eq 200 "$HTTP_STATUS" "previewd still answers afterwards"
if [ "$HTTP_STATUS" = 200 ]; then
    t_ok "and stops on SIGTERM" pv_stop
else
    pv_kill9 # a worker spins; do not wait 10 s for SIGTERM
fi

# ------------------------------------------------------------------ 6. JSON logs
t_begin "PREVIEWD_LOG_JSON=true"
cat >"$T_TMP/logcheck.py" <<'EOF'
"""Every line of the log is a JSON object with string ts, level, component,
msg; ts is RFC 3339 UTC with milliseconds, level one of four.  Reads bytes
and decodes them as UTF-8 strictly (JSON text is UTF-8: RFC 8259 8.1)."""
import json
import re
import sys

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
bad, n = 0, 0
for no, raw in enumerate(open(sys.argv[1], "rb"), 1):
    n += 1
    try:
        o = json.loads(raw.decode("utf-8"))
    except Exception as e:  # noqa: BLE001 - any failure is the finding
        print("line %d: not JSON (%s): %r" % (no, e, raw[:200]))
        bad += 1
        continue
    if not isinstance(o, dict):
        print("line %d: not an object: %r" % (no, raw[:200]))
        bad += 1
        continue
    for k in ("ts", "level", "component", "msg"):
        if not isinstance(o.get(k), str):
            print("line %d: no string %s: %r" % (no, k, raw[:200]))
            bad += 1
    if isinstance(o.get("ts"), str) and not TS.match(o["ts"]):
        print("line %d: ts %r" % (no, o["ts"]))
        bad += 1
    if o.get("level") not in ("debug", "info", "warn", "error"):
        print("line %d: level %r" % (no, o.get("level")))
        bad += 1
    if isinstance(o.get("component"), str) and not re.match(r"^[a-z][a-z0-9_-]*$", o["component"]):
        print("line %d: component %r" % (no, o["component"]))
        bad += 1
print("%d lines, %d problems" % (n, bad))
sys.exit(1 if bad or n == 0 else 0)
EOF
# LSan's "Suppressions used" summary (sanitizer builds) is not previewd's log
JDATA=$T_TMP/data-json
t_need "previewd starts with JSON logs" pv_start "$JDATA" PREVIEWD_LOG_JSON=true PREVIEWD_LOG_LEVEL=debug PREVIEWD_WAIT_MS=5000 \
    LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}print_suppressions=0"
JLOG=$PV_LOG
http POST /v1/environments '{"owner":"json-log","values":{"note":"quote \" backslash \\ tab \t é"}}' \
    -H 'X-Request-Id: json-1'
t_match '^20[12]$' "$HTTP_STATUS" "create json-log"
http PATCH /v1/environments/json-log '{"ttl":"2h"}'
http POST /v1/environments '{"owner":"Bad Owner"}'
t_eq 422 "$HTTP_STATUS" "a refused create"
http GET '/v1/environments?limit=2'
http GET /v1/environments/json-log/events
http DELETE /v1/environments/json-log
http GET /metrics
http POST /v1/chatops '{"user":"json \"quoted\" user","text":"list"}'
http GET '/v1/environments/%22quoted%22'
pv_stop
out=$(python3 "$T_TMP/logcheck.py" "$JLOG" 2>&1)
t_eq 0 "$?" "every log line is a JSON object with ts, level, component, msg"
printf '%s\n' "$out" | tail -n 5 | sed 's/^/#   /'
comp=$(python3 -c '
import json, sys
print(" ".join(sorted({json.loads(l)["component"] for l in open(sys.argv[1], "rb") if l.strip()})))' "$JLOG" 2>/dev/null)
t_match '(^| )http( |$)' "$comp" "components include http ($comp)"
t_match '(^| )gitops( |$)' "$comp" "and gitops"
t_match '(^| )api( |$)' "$comp" "and api"
t_ok "the access line of json-1 is there as msg" grep -q '"component":"http","msg":"json-1 POST /v1/environments 20[12]' "$JLOG"

t_begin "PREVIEWD_LOG_JSON=true with hostile input"
# Slack form values and request paths are decoded bytes: %FF is not UTF-8,
# %0A a newline.  A JSON log line stays one line and valid UTF-8 JSON.
t_need "previewd restarts with JSON logs" pv_start "$JDATA" PREVIEWD_LOG_JSON=true LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}print_suppressions=0"
JLOG2=$PV_LOG
http DELETE '/v1/environments/x%0Ay%FFz'
t_eq 404 "$HTTP_STATUS" "DELETE of a path with %0A and %FF is a 404"
pv_stop
out=$(python3 "$T_TMP/logcheck.py" "$JLOG2" 2>&1)
t_eq 0 "$?" "every log line is still valid UTF-8 JSON"
printf '%s\n' "$out" | tail -n 5 | sed 's/^/#   /'

t_end
