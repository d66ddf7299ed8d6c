#!/usr/bin/env bash
# ctest-labels: integration
# test_page.sh — the built-in page at /, the self-service console, rendered
# by headless Chromium against previewd on its embedded default repository:
#
#   1. GET / is the embedded HTML page, /app.js and /style.css its script
#      and style (their Content-Types), every answer with the
#      Content-Security-Policy, nosniff and no-referrer headers
#   2. --dump-dom after the page's script ran: one row per live environment
#      (data-name, the URL link, the time left), none for a deleted one
#   3. a screenshot is a PNG of a sensible size (copied to
#      /tmp/previewd-page.png to look at)
#   4. with a token configured, the page's API call is refused (401): the
#      token form shows, with the API's error text
#   5-9. driven over the DevTools protocol (tests/lib/cdp.py): a writer
#      signs in, creates from the form (values as YAML), sees it active,
#      extends it (+4h, a chosen TTL, a refusal past the maximum lifetime
#      shown next to the field), reads its events, puts one to sleep and
#      wakes it (Sleep / Wake through the public API), sees a git_error
#      stream event's words as text, deletes it after a
#      confirmation; the form's own checks and the server's problem detail
#      next to the field it names; a value <img src=x onerror=alert(1)> is
#      shown as text and runs nothing; a reader sees no write buttons; the
#      page has no inline script and an injected one is refused (CSP); the
#      live updates come from the stream, or from polling without it.
#
# Screenshots of each step go to PV_SCREENSHOTS (default
# ${TMPDIR:-/tmp}/previewd-screens/page); their paths are printed.
#
# Needs chromium and python3-websocket (installed by `scripts/deps.sh
# test`; CHROMIUM=path overrides): without them the test fails, it does
# not skip.
#
#   bash tests/integration/test_page.sh        (KEEP_TMP=1 keeps the logs)
#
# shellcheck disable=SC2317  # helpers below are run through t_ok/t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ] || [ ! -x "$CHROMIUM" ]; then
    t_bail "chromium not installed (scripts/deps.sh test installs it)"
fi
DATA=$T_TMP/data
SHOTS=${PV_SCREENSHOTS:-${TMPDIR:-/tmp}/previewd-screens/page}
TAB=$'\t'
CSP="default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
rm -rf "$SHOTS" && mkdir -p "$SHOTS"

# chrome ARGS... URL: headless Chromium with a throw-away profile; its
# chatter (dbus, GPU) goes to a log in T_TMP.  Retried once: a first start
# on a cold machine can time out.
chrome() {
    local try profile rc
    for try in 1 2; do
        profile=$(t_mktemp chrome-profile)
        timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
            --disable-background-networking --disable-component-update --disable-sync \
            --user-data-dir="$profile" --virtual-time-budget=5000 "$@" 2>>"$T_TMP/chromium.log"
        rc=$?
        rm -rf "$profile"
        [ "$rc" -eq 0 ] && return 0
        echo "# chromium exited $rc (try $try)" >&2
    done
    return "$rc"
}

# left_seconds "1d 2h 3m 4s": the time-left cell in seconds; nothing if the
# cell is not of that form (days, hours, minutes, seconds, leading ones optional)
left_seconds() {
    [[ $1 =~ ^(([0-9]+)d\ )?(([0-9]+)h\ )?(([0-9]+)m\ )?([0-9]+)s$ ]] || return 1
    echo $(( ${BASH_REMATCH[2]:-0} * 86400 + ${BASH_REMATCH[4]:-0} * 3600 + ${BASH_REMATCH[6]:-0} * 60 + BASH_REMATCH[7] ))
}

# dump URL FILE: the DOM after the page's scripts ran
dump() {
    chrome --dump-dom "$1" >"$2" && grep -q '</html>' "$2"
}

# rows FILE: one line per table row: data-name, link href, link text,
# time-left cell, status (tab separated)
rows() {
    python3 - "$1" <<'EOF'
import sys
from html.parser import HTMLParser

class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.row, self.cell, self.in_tbody = [], None, None, False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tbody":
            self.in_tbody = True
        elif tag == "tr" and self.in_tbody:
            self.row = {"name": a.get("data-name", ""), "cells": [], "href": "", "status": ""}
        elif tag == "td" and self.row is not None:
            self.cell = ""
        elif tag == "a" and self.row is not None:
            self.row["href"] = a.get("href", "")
        elif tag == "span" and self.row is not None:
            self.row["status"] = a.get("class", "")
    def handle_endtag(self, tag):
        if tag == "tbody":
            self.in_tbody = False
        elif tag == "td" and self.row is not None and self.cell is not None:
            self.row["cells"].append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.rows.append(self.row)
            self.row = None
    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
for r in p.rows:
    c = r["cells"] + [""] * 5
    print("\t".join([r["name"], r["href"], c[3], c[4], r["status"]]))
EOF
}

# element FILE ID: the outer tag of #ID and its text, as "TAG-ATTRS\tTEXT"
element() {
    python3 - "$1" "$2" <<'EOF'
import sys
from html.parser import HTMLParser

class P(HTMLParser):
    def __init__(self, want):
        super().__init__()
        self.want, self.depth, self.attrs, self.text = want, 0, None, ""
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in self.VOID:
            if not self.depth and a.get("id") == self.want:
                self.attrs = a
        elif self.depth:
            self.depth += 1
        elif a.get("id") == self.want:
            self.depth, self.attrs = 1, a
    def handle_endtag(self, tag):
        if self.depth and tag not in self.VOID:
            self.depth -= 1
    def handle_data(self, data):
        if self.depth:
            self.text += data

p = P(sys.argv[2])
p.feed(open(sys.argv[1], encoding="utf-8").read())
if p.attrs is None:
    print("MISSING")
else:
    print(("hidden" if "hidden" in p.attrs else "shown") + "\t" + " ".join(p.text.split()))
EOF
}

row_of() { grep -P "^$1\t" "$2"; }
field() { cut -f"$1"; }

# ------------------------------------------------------------------ 1. GET /
t_begin "GET / serves the page"
t_need "previewd starts" pv_start "$DATA"
http POST /v1/environments '{"owner":"alice"}'
t_match '^20[12]$' "$HTTP_STATUS" "create alice (default TTL 8h)"
http POST /v1/environments '{"owner":"bob","name":"pr-90","ttl":"90m"}'
t_match '^20[12]$' "$HTTP_STATUS" "create pr-90 with ttl 90m"
http POST /v1/environments '{"owner":"carol","name":"carol-2d","ttl":"2d"}'
t_match '^20[12]$' "$HTTP_STATUS" "create carol-2d with ttl 2d"
http POST /v1/environments '{"owner":"dave","name":"gone"}'
t_match '^20[12]$' "$HTTP_STATUS" "create gone"
http DELETE /v1/environments/gone
t_match '^20[02]$' "$HTTP_STATUS" "delete gone"
t_eventually 10 "gone is deleted" env_status_is gone deleted

http GET /
t_eq 200 "$HTTP_STATUS" "GET / answers 200"
t_match '^text/html' "$HTTP_CTYPE" "as text/html ($HTTP_CTYPE)"
t_match '<title>previewd' "$HTTP_BODY" "it is previewd's page"
t_eq "$(cat "$T_ROOT/service/page/index.html")" "$HTTP_BODY" "byte for byte the embedded service/page/index.html"
t_eq "$CSP" "$(http_header Content-Security-Policy)" "with the Content-Security-Policy (no inline script, no other origin)"
t_eq nosniff "$(http_header X-Content-Type-Options)" "X-Content-Type-Options: nosniff"
t_eq no-referrer "$(http_header Referrer-Policy)" "Referrer-Policy: no-referrer"
t_not "the page holds no inline script" grep -qE '<script>|<script [^>]*>[^<]|<style|onclick=|onload=' "$T_ROOT/service/page/index.html"
http GET /app.js
t_eq 200 "$HTTP_STATUS" "GET /app.js answers 200"
t_match '^text/javascript; charset=utf-8$' "$HTTP_CTYPE" "as text/javascript ($HTTP_CTYPE)"
t_eq "$(cat "$T_ROOT/service/page/app.js")" "$HTTP_BODY" "byte for byte service/page/app.js"
t_eq "$CSP" "$(http_header Content-Security-Policy)" "with the same policy"
http GET /style.css
t_eq 200 "$HTTP_STATUS" "GET /style.css answers 200"
t_match '^text/css; charset=utf-8$' "$HTTP_CTYPE" "as text/css ($HTTP_CTYPE)"
http GET /nothing.js
t_eq 404 "$HTTP_STATUS" "a file the page does not have is 404"
http GET /v1/environments
t_eq nosniff "$(http_header X-Content-Type-Options)" "API answers carry nosniff too"
http GET /v1/whoami
t_eq "anonymous admin" "$(jqr '.name + " " + .role')" "GET /v1/whoami in open mode: anonymous, admin"
http HEAD / "" -I
t_eq 200 "$HTTP_STATUS" "HEAD / answers 200"
http POST / '{}'
t_eq 405 "$HTTP_STATUS" "POST / answers 405"
t_match 'GET' "$(http_header Allow)" "with an Allow header"

# ------------------------------------------------------------------ 2. dump-dom
t_begin "the rendered page lists the live environments"
DOM=$T_TMP/page.html
T_BEFORE=$(date +%s)
t_ok "chromium --dump-dom renders $PV_URL/" dump "$PV_URL/" "$DOM"
T_AFTER=$(date +%s)
rows "$DOM" >"$T_TMP/rows.tsv"
sed 's/^/#   /' "$T_TMP/rows.tsv"
t_eq 3 "$(wc -l <"$T_TMP/rows.tsv")" "three rows: one per live environment"
for n in alice pr-90 carol-2d; do
    r=$(row_of "$n" "$T_TMP/rows.tsv")
    t_match . "$r" "a row with data-name=$n"
    t_eq "http://$n.env.my" "$(field 2 <<<"$r")" "  its link goes to http://$n.env.my"
    t_eq "http://$n.env.my" "$(field 3 <<<"$r")" "  and shows the URL"
    t_eq "status active" "$(field 5 <<<"$r")" "  its status is active"
done
t_not "no row for the deleted environment" row_of gone "$T_TMP/rows.tsv"
# The time left is the API's expires_at minus the page's clock when it
# rendered: between the start and the end of the dump (plus Chromium's
# virtual time budget of 5 s and some slack), however long the machine took
# to get there.
for n in pr-90 alice carol-2d; do
    cell=$(row_of "$n" "$T_TMP/rows.tsv" | field 4)
    left=$(left_seconds "$cell")
    exp=$(iso2s "$(curl -s -m 30 "$PV_URL/v1/environments/$n" | jq -r .expires_at)")
    lo=$((exp - T_AFTER - 5 - 5)) hi=$((exp - T_BEFORE + 2))
    t_ok "$n: '$cell' left is expires_at minus the render time ($lo <= ${left:-?} <= $hi)" \
        test -n "$left" -a "${left:-0}" -ge "$lo" -a "${left:-0}" -le "$hi"
done
t_match '^1d [0-9]+h [0-9]+m [0-9]+s$' "$(row_of carol-2d "$T_TMP/rows.tsv" | field 4)" "more than a day left is shown with days"
t_eq "shown${TAB}3 live environments" "$(element "$DOM" summary)" "the summary says 3 live environments"
t_eq "hidden${TAB}API token Use" "$(element "$DOM" auth)" "the token form stays hidden without tokens"
t_eq "shown${TAB}" "$(element "$DOM" error)" "and no error is shown"

# ------------------------------------------------------------------ 3. screenshot
t_begin "a screenshot of the page"
SHOT=$SHOTS/page.png
t_ok "chromium --screenshot writes a file" chrome --screenshot="$SHOT" --window-size=1200,800 "$PV_URL/"
t_eq '89504e470d0a1a0a' "$(head -c 8 "$SHOT" 2>/dev/null | od -An -tx1 | tr -d ' \n')" "it is a PNG (signature)"
size=$(stat -c %s "$SHOT" 2>/dev/null || echo 0)
t_ok "of a non-trivial size ($size bytes)" test "$size" -gt 5000
dims=$(python3 -c '
import struct, sys
d = open(sys.argv[1], "rb").read(24)
print("%dx%d" % struct.unpack(">II", d[16:24]))' "$SHOT" 2>/dev/null)
t_eq 1200x800 "$dims" "1200x800 as asked"
echo "# screenshot: $SHOT"

# ------------------------------------------------------------------ 4. tokens
t_begin "with a token configured the page asks for one"
pv_token create page-reader --role reader
TOKEN=$PV_OUT
t_match '^pvd_' "$TOKEN" "token create page-reader"
http GET /v1/environments
t_eq 401 "$HTTP_STATUS" "the API now needs a token"
detail=$(jqr .detail)
http GET /
t_eq 200 "$HTTP_STATUS" "the page itself is still served (200)"
DOM401=$T_TMP/page-401.html
t_ok "chromium --dump-dom renders the page" dump "$PV_URL/" "$DOM401"
t_eq "shown${TAB}API token Use" "$(element "$DOM401" auth)" "the token form is shown (not hidden)"
t_eq "shown${TAB}$detail" "$(element "$DOM401" error)" "the error text is the API's 401 detail"
t_eq 0 "$(rows "$DOM401" | wc -l)" "no environment rows"
t_ok "chromium --screenshot of the token form" chrome --screenshot="$SHOTS/page-401.png" --window-size=1200,800 "$PV_URL/"
t_ok "is a PNG too" test "$(head -c 4 "$SHOTS/page-401.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e47
echo "# screenshot: $SHOTS/page-401.png"

# ------------------------------------------------------------------ the console, over the DevTools protocol
# cdp.py runs as a co-process on two FIFOs (descriptors 7 and 8, which
# $(...) subshells inherit): one JSON request per line, one answer per line.
cdp_start() {
    local dir
    dir=$(t_mktemp cdp)
    mkfifo "$dir/in" "$dir/out" || return 1
    python3 "$T_ROOT/tests/lib/cdp.py" serve "$dir" "$CHROMIUM" <"$dir/in" >"$dir/out" 2>>"$T_TMP/cdp.log" &
    CDP_PID=$!
    exec 7>"$dir/in" 8<"$dir/out"
    t_defer cdp_stop
    cdp_send '{"cmd":"eval","expr":"navigator.userAgent"}' && BROWSER=$(jq -r .value <<<"$CDP_ANS")
}
cdp_stop() {
    [ -n "${CDP_PID:-}" ] || return 0
    printf '{"cmd":"quit"}\n' >&7 2>/dev/null
    exec 7>&- 8<&-
    wait "$CDP_PID" 2>/dev/null
    CDP_PID=
}
# cdp_send JSON: one request; the answer in CDP_ANS; 0 if it says ok
cdp_send() {
    printf '%s\n' "$1" >&7 && IFS= read -r -t 150 CDP_ANS <&8 || CDP_ANS='{"ok":false,"error":"no answer from cdp.py"}'
    [ "$(jq -r .ok <<<"$CDP_ANS")" = true ]
}
# js EXPR: print the value of EXPR in the page (a string as is, anything
# else as JSON; "ERROR: ..." when it threw)
js() {
    if cdp_send "$(jq -cn --arg e "$1" '{cmd: "eval", expr: $e}')"; then
        jq -r '.value | if type == "string" then . else tojson end' <<<"$CDP_ANS"
    else
        jq -r '"ERROR: " + .error' <<<"$CDP_ANS"
        return 1
    fi
}
# js_wait EXPR [TIMEOUT]: 0 once EXPR is truthy in the page
js_wait() {
    cdp_send "$(jq -cn --arg e "$1" --argjson t "${2:-30}" '{cmd: "wait", expr: $e, timeout: $t}')" && return 0
    echo "#   last: $(jq -c '{error, value}' <<<"$CDP_ANS")" >&2
    return 1
}
# shot NAME: a PNG of the page as it is now, its path printed
shot() {
    local f="$SHOTS/$1.png"
    if cdp_send "$(jq -cn --arg p "$f" '{cmd: "screenshot", path: $p}')" &&
        [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then
        _t_pass "screenshot $1 ($(jq .bytes <<<"$CDP_ANS") bytes): $f"
        echo "# screenshot: $f"
    else
        _t_fail "screenshot $1" "$CDP_ANS"
    fi
}
# api_as TOKEN METHOD PATH [BODY]: http with that token
api_as() {
    local tok=$1
    shift
    http "$1" "$2" "${3-}" -H "Authorization: Bearer $tok"
}
env_status_is_as() { api_as "$WRITER" GET "/v1/environments/$1" && [ "$HTTP_STATUS" = 200 ] && [ "$(jqr .status)" = "$2" ]; }
exp_of() { api_as "$WRITER" GET "/v1/environments/$1" && iso2s "$(jqr .expires_at)"; }
row() { printf '#envs tbody tr[data-name="%s"]' "$1"; }

# ------------------------------------------------------------------ 5. sign in, create
t_begin "a writer signs in and creates an environment from the form"
t_need "previewd stops" pv_stop
# a maximum lifetime of 1d, to show the page says it and how a refusal looks
# cost rates too, so the list and the detail show what a day costs
t_need "previewd restarts with PREVIEWD_MAX_LIFETIME=1d" pv_start "$DATA" PREVIEWD_MAX_LIFETIME=1d \
    PREVIEWD_COST_RATES=cpu=0.04,memory=0.005
pv_token create page-writer --role writer
WRITER=$PV_OUT
READER=$TOKEN
t_need "cdp.py drives chromium over the DevTools protocol" cdp_start
echo "# browser: $BROWSER"
echo "# $("$CHROMIUM" --version 2>/dev/null | grep -v unexpected), python3-websocket $(python3 -c 'import sys; sys.path.append("/usr/lib/python3/dist-packages"); import websocket; print(websocket.__version__)')"
t_ok "navigate to the page" cdp_send "$(jq -cn --arg u "$PV_URL/" '{cmd: "navigate", url: $u}')"
t_ok "the token form shows (the API answers 401)" js_wait '!document.querySelector("#auth").hidden'
t_eq 0 "$(js 'document.querySelectorAll("script:not([src])").length')" "the page has no inline script"
t_eq 1 "$(js 'document.querySelectorAll("script[src=\"/app.js\"]").length')" "its script is /app.js"
js "document.querySelector('#token').value = '$WRITER'; document.querySelector('#auth').requestSubmit(); 1" >/dev/null
t_ok "signed in: the page shows the token's name and role" js_wait 'document.querySelector("#who").textContent === "Signed in as page-writer · role writer"'
t_eq "$WRITER" "$(js 'sessionStorage.getItem("previewd-token")')" "the token is kept in sessionStorage"
t_eq null "$(js 'localStorage.getItem("previewd-token")')" "not in localStorage"
t_not "nor in the URL" grep -q "$WRITER" <<<"$(js 'location.href')"
t_eq false "$(js 'document.querySelector("#create-section").hidden')" "a writer sees the create form"
t_eq "dev prod test" "$(js '[...document.querySelectorAll("#c-base option")].map(o => o.value).join(" ")')" "the bases come from /v1/info"
t_eq dev "$(js 'document.querySelector("#c-base").value')" "the default base is chosen"
t_match 'from 1m to 7d; at most 1d in all' "$(js 'document.querySelector("#c-ttl-hint").textContent')" "the TTL range and the maximum lifetime are shown"
t_ok "the list shows the three live environments" js_wait 'document.querySelectorAll("#envs tbody tr").length === 3'
shot 1-signed-in
js 'document.querySelector("#c-owner").value = "erin"; document.querySelector("#c-name").value = "pr-7";
    document.querySelector("#c-ttl").value = "2h"; document.querySelector("#c-format").value = "yaml";
    document.querySelector("#c-values").value = "# from the page\nimage:\n  tag: pr-7\nreplicas: 2\nnote: \"<img src=x onerror=alert(1)>\"\nreplicaCount: 1\nresources:\n  requests:\n    cpu: \"1\"\n    memory: \"0\"\n";
    document.querySelector("#create").requestSubmit(); 1' >/dev/null
t_ok "the form answers: created" js_wait 'document.querySelector("#notice").textContent.startsWith("Created pr-7")'
t_ok "the new row becomes active" js_wait "document.querySelector('$(row pr-7) .status')?.textContent === 'active'"
api_as "$WRITER" GET /v1/environments/pr-7
t_eq 200 "$HTTP_STATUS" "the API has pr-7"
t_eq "erin page-writer dev" "$(jqr '.owner + " " + .requested_by + " " + .base')" "owner erin, requested by the page's token, base dev"
t_eq '{"tag":"pr-7","replicas":2,"note":"<img src=x onerror=alert(1)>"}' \
    "$(jqr -c '.values | {tag: .image.tag, replicas, note}')" "the YAML values arrived as the object they say (merged over the base)"
left=$(( $(iso2s "$(jqr .expires_at)") - $(date +%s) ))
t_ok "ttl 2h ($left s left)" test "$left" -gt 7000 -a "$left" -le 7200
t_eq 0.96 "$(jqr .cost.per_day)" "its cost: 1 CPU at 0.04 an hour, 0.96 a day"
t_eq 0.96 "$(js "document.querySelector('$(row pr-7) td.cost').textContent")" "the list's Cost/day column shows it"
t_eq "estimated from its requests" "$(js "document.querySelector('$(row pr-7) td.cost').title")" "... saying it is an estimate"
shot 2-created

# ------------------------------------------------------------------ 6. the form's checks, the server's problem
t_begin "the form checks before sending, and shows the server's problem next to its field"
err() { js "document.querySelector('#create .field-error[data-field=\"$1\"]').textContent"; }
js 'document.querySelector("#c-name").value = "bad-json"; document.querySelector("#c-ttl").value = "";
    document.querySelector("#c-format").value = "json"; document.querySelector("#c-values").value = "{\"a\": ";
    document.querySelector("#create").requestSubmit(); 1' >/dev/null
t_match '^not JSON' "$(err values)" "JSON that does not parse: an error next to values"
js 'document.querySelector("#c-format").value = "yaml"; document.querySelector("#c-values").value = "a: [1, 2]";
    document.querySelector("#create").requestSubmit(); 1' >/dev/null
t_match '^line 1: .*send JSON' "$(err values)" "YAML the page does not read: its line, and the way out"
t_eq '{"a":["x",{"k":"v","j":2}],"b":{"c":null,"d":true,"e":"it'"'"'s"},"f":"1.2.3"}' \
    "$(js 'JSON.stringify(parseYaml("a:\n  - x\n  - k: v\n    j: 2\nb:\n  c:\n  d: yes  # a comment\n  e: '"'"'it'"''"'s'"'"'\nf: 1.2.3\n"))')" \
    "yaml.js reads lists, lists of mappings, nulls, booleans, quoted and plain strings"
t_match '^ERROR: .*line 2: key .a. appears twice' "$(js 'parseYaml("a: 1\na: 2")')" "and refuses a key given twice"
js 'document.querySelector("#c-values").value = ""; document.querySelector("#c-ttl").value = "30d";
    document.querySelector("#create").requestSubmit(); 1' >/dev/null
t_eq "at most 7d" "$(err ttl)" "a TTL past the maximum: an error next to ttl"
api_as "$WRITER" GET /v1/environments/bad-json
t_eq 404 "$HTTP_STATUS" "none of these reached the API"
js 'document.querySelector("#c-ttl").value = ""; document.querySelector("#c-name").value = "xss-1";
    document.querySelector("#c-owner").value = "<img src=x onerror=alert(1)>"; document.querySelector("#c-owner").id; 1' >/dev/null
# the owner goes to the server as typed: its refusal names the field
http POST /v1/environments '{"owner":"<img src=x onerror=alert(1)>","name":"xss-1"}' -H "Authorization: Bearer $WRITER"
want=$(jqr .detail)
t_eq owner "$(jqr .field)" "(the API refuses such an owner with field owner)"
js 'document.querySelector("#create").requestSubmit(); 1' >/dev/null
t_ok "the server's problem detail shows" js_wait 'document.querySelector("#create .field-error[data-field=\"owner\"]").textContent !== ""'
t_eq "$want" "$(err owner)" "next to the owner field, as the API's detail says"
shot 3-problem-detail

# ------------------------------------------------------------------ 7. extend, events, delete
t_begin "extend (+4h, a chosen TTL, a refusal), events, delete after a confirmation"
e0=$(exp_of pr-7)
js "document.querySelector('$(row pr-7) button[data-action=extend]').click(); 1" >/dev/null
t_ok "+4h answers" js_wait 'document.querySelector("#notice").textContent.startsWith("pr-7 now expires")'
e1=$(exp_of pr-7)
t_ok "+4h moved expires_at by 4h ($((e1 - e0)) s)" test $((e1 - e0)) -ge $((14400 - 30)) -a $((e1 - e0)) -le $((14400 + 30))
shot 4-extended
js "document.querySelector('$(row pr-7) button[data-action=events]').click(); 1" >/dev/null
t_ok "the detail panel opens on pr-7 with its events" js_wait 'document.querySelector("#d-title").textContent === "pr-7" && document.querySelectorAll("#events tbody tr").length > 0'
api_as "$WRITER" GET /v1/environments/pr-7/events
t_eq "$(jqr '[.items[].kind] | join(" ")')" "$(js '[...document.querySelectorAll("#events tbody tr")].map(t => t.dataset.kind).join(" ")')" \
    "the page's events are the API's ($(jqr '[.items[].kind] | join(" ")'))"
created=$(api_as "$WRITER" GET /v1/environments/pr-7 && jqr .created_at)
t_match "maximum lifetime 1d: not beyond $(js "new Date(Date.parse('$created') + 86400000).toLocaleString()")" \
    "$(js 'document.querySelector("#d-lifetime").textContent')" "the maximum lifetime and the latest expiry are shown"
t_eq "Costs ~0.96 a day (estimated from its requests); sleeping saved 0.00 in the last 7 days" \
    "$(js 'document.querySelector("#d-cost").textContent')" "the detail says what a day costs and what sleep saved"
js 'document.querySelector("#e-ttl").value = "3h"; document.querySelector("#extend").requestSubmit(); 1' >/dev/null
t_ok "a chosen TTL answers" js_wait 'document.querySelector("#notice").textContent.startsWith("pr-7 now expires") && /\((2h 59m|3h 0m) /.test(document.querySelector("#d-expiry").textContent)'
e2=$(exp_of pr-7)
left=$((e2 - $(date +%s)))
t_ok "ttl 3h from now ($left s left)" test "$left" -gt $((10800 - 60)) -a "$left" -le 10800
js 'document.querySelector("#extend button[data-add=\"86400\"]").click(); 1' >/dev/null
t_ok "+1d past the maximum lifetime: the refusal shows next to the TTL" \
    js_wait 'document.querySelector("#extend .field-error").textContent.includes("maximum lifetime of 1d")'
t_eq "$e2" "$(exp_of pr-7)" "and expires_at did not move"
shot 5-events-and-refusal
t_match '<img src=x onerror=alert\(1\)>' "$(js 'document.querySelector("#d-values").textContent')" "the value <img src=x onerror=alert(1)> shows as text"
t_eq 0 "$(js 'document.querySelectorAll("img").length')" "no <img> element exists on the page"
t_eq 0 "$(js 'window.__alerts.length')" "alert() was never called"

js 'window.__confirmAnswer = false; 1' >/dev/null
js "document.querySelector('$(row pr-7) button[data-action=delete]').click(); 1" >/dev/null
t_match 'pr-7' "$(js 'window.__confirms[0]')" "Delete asks for a confirmation naming pr-7"
t_eq active "$(api_as "$WRITER" GET /v1/environments/pr-7 && jqr .status)" "declined: pr-7 is still active"
js 'window.__confirmAnswer = true; 1' >/dev/null
js "document.querySelector('$(row pr-7) button[data-action=delete]').click(); 1" >/dev/null
t_eq 2 "$(js 'window.__confirms.length')" "confirmed the second time"
t_eventually 20 "pr-7 is deleted" env_status_is_as pr-7 deleted
t_ok "and its row leaves the list" js_wait "!document.querySelector('$(row pr-7)')" 20
shot 6-deleted
t_eq 0 "$(js 'window.__alerts.length')" "still no alert() call"
t_eq 0 "$(js 'document.querySelectorAll("img").length')" "still no <img> element"

# ------------------------------------------------------------------ 7b. sleep and wake
t_begin "a writer puts an environment to sleep and wakes it from the list"
t_eq "Sleep" "$(js "document.querySelector('$(row pr-90) button[data-action=sleep]')?.textContent")" "an awake row has a Sleep button"
t_eq 0 "$(js "document.querySelectorAll('$(row pr-90) button[data-action=wake]').length")" "and no Wake button"
js "document.querySelector('$(row pr-90) button[data-action=sleep]').click(); 1" >/dev/null
t_ok "the page says it is going to sleep" js_wait 'document.querySelector("#notice").textContent === "pr-90 is going to sleep"'
t_eventually 20 "the API says pr-90 is sleeping" env_status_is_as pr-90 sleeping
t_ok "its row shows sleeping" js_wait "document.querySelector('$(row pr-90) .status')?.textContent === 'sleeping'" 20
t_ok "with a Wake button instead of Sleep" js_wait "!!document.querySelector('$(row pr-90) button[data-action=wake]') && !document.querySelector('$(row pr-90) button[data-action=sleep]')"
t_eq 1 "$(js "document.querySelectorAll('$(row pr-90) button[data-action=extend]').length > 0 ? 1 : 0")" "a sleeping row can still be extended"
shot 5b-sleeping
js "document.querySelector('$(row pr-90) button[data-action=wake]').click(); 1" >/dev/null
t_ok "the page says it is waking up" js_wait 'document.querySelector("#notice").textContent === "pr-90 is waking up"'
t_eventually 20 "the API says pr-90 is active again" env_status_is_as pr-90 active
t_ok "its row shows active, with Sleep again" js_wait "document.querySelector('$(row pr-90) .status')?.textContent === 'active' && !!document.querySelector('$(row pr-90) button[data-action=sleep]')" 20
api_as "$WRITER" GET /v1/environments/pr-90/events
t_eq "page-writer page-writer" "$(jqr '[.items[] | select(.kind == "slept" or .kind == "woke") | .actor] | join(" ")')" \
    "the history has slept and woke, requested by the page's token (the public API)"
shot 5c-woken
# a Git error as the stream sends it, its words from a hook: shown as text
js 'streamEvent("id: 40\nevent: git_error\ndata: " + JSON.stringify(Object.assign({}, state.items.get("pr-90"),
    {git: {error: "remote: <b>branch main is protected</b>"}, detail: {error: "remote: <b>branch main is protected</b>"}}))); 1' >/dev/null
t_eq "Git refused the change of pr-90: remote: <b>branch main is protected</b>" "$(js 'document.querySelector("#error").textContent')" \
    "a git_error event shows the error's words (as an error)"
t_eq 0 "$(js 'document.querySelectorAll("#error b, #envs b:not(.ready)").length')" "as text, not markup"
t_match 'branch main is protected' "$(js "document.querySelector('$(row pr-90) .git-error')?.textContent")" "and in the row's Git error"
t_eq undefined "$(js 'String(state.items.get("pr-90").detail)')" "the event's detail is not kept as the record's"
shot 5d-git-error
js 'streamEvent("id: 41\nevent: git_recovered\ndata: " + JSON.stringify(Object.assign({}, state.items.get("pr-90"),
    {git: {error: null}, detail: {error: "remote: <b>branch main is protected</b>"}}))); 1' >/dev/null
t_eq "Git took the change of pr-90 after all" "$(js 'document.querySelector("#notice").textContent')" "git_recovered says the change landed"
t_eq "" "$(js 'document.querySelector("#error").textContent')" "and the error is gone"
# the record as the API has it again
js 'load().then(() => 1)' >/dev/null

# ------------------------------------------------------------------ 8. a reader
t_begin "a reader sees no write buttons"
js 'document.querySelector("#signout").click(); 1' >/dev/null
t_ok "signed out: the token form shows" js_wait '!document.querySelector("#auth").hidden && !sessionStorage.getItem("previewd-token")'
js "document.querySelector('#token').value = '$READER'; document.querySelector('#auth').requestSubmit(); 1" >/dev/null
t_ok "signed in as the reader" js_wait 'document.querySelector("#who").textContent === "Signed in as page-reader · role reader"'
t_ok "the rows are listed" js_wait 'document.querySelectorAll("#envs tbody tr").length === 3'
t_eq true "$(js 'document.querySelector("#create-section").hidden')" "no create form"
t_eq 0 "$(js 'document.querySelectorAll("#envs button[data-action=extend], #envs button[data-action=delete]").length')" "no extend or delete button in the list"
t_eq 0 "$(js 'document.querySelectorAll("#envs button[data-action=sleep], #envs button[data-action=wake]").length')" "no sleep or wake button either"
t_eq 3 "$(js 'document.querySelectorAll("#envs button[data-action=events]").length')" "but every row has its events"
js "document.querySelector('$(row pr-90) button[data-action=events]').click(); 1" >/dev/null
t_ok "the detail panel opens on pr-90" js_wait 'document.querySelector("#d-title").textContent === "pr-90" && document.querySelectorAll("#events tbody tr").length > 0'
t_eq true "$(js 'document.querySelector("#extend").hidden')" "without the extend controls"
shot 7-reader
filter() {
    js "document.querySelector('#f-scope').value = '$1'; document.querySelector('#f-status').value = '$2';
        document.querySelector('#f-search').value = '$3'; document.querySelector('#f-search').dispatchEvent(new Event('input'));
        [...document.querySelectorAll('#envs tbody tr')].map(t => t.dataset.name).sort().join(' ')"
}
t_eq carol-2d "$(filter all '' carol)" "a search keeps the matching rows"
t_eq "gone pr-7" "$(filter all deleted '')" "status deleted shows the deleted ones"
t_eq "" "$(filter mine '' '')" "mine: the reader owns none"
t_eq "alice carol-2d pr-90" "$(filter all '' '')" "all live again"

# ------------------------------------------------------------------ 9. CSP, live updates
t_begin "an injected inline script is refused; the list updates live"
t_eq "undefined script-src-elem" "$(js 'new Promise(r => { const s = document.createElement("script"); s.textContent = "window.__inline = 1";
    document.body.appendChild(s); setTimeout(() => r(String(window.__inline) + " " + (window.__csp[0] || "").split(" ")[0]), 300); })')" \
    "an inline <script> added to the page does not run (a CSP violation is reported)"
http GET /v1/environments/stream "" -H "Authorization: Bearer $READER" -m 2
if [ "$HTTP_STATUS" = 404 ]; then
    t_eq "refreshing every 5 s" "$(js 'document.querySelector("#live").textContent')" "no stream here (404): the page polls"
else
    t_eq "live" "$(js 'document.querySelector("#live").textContent')" "the page reads /v1/environments/stream"
fi
api_as "$WRITER" POST /v1/environments '{"owner":"frank","name":"pr-live","ttl":"1h"}'
t_match '^20[12]$' "$HTTP_STATUS" "another client creates pr-live"
t_ok "it appears on the reader's page without a reload" js_wait "document.querySelector('$(row pr-live) .status')?.textContent === 'active'" 20
api_as "$WRITER" DELETE /v1/environments/pr-live
t_ok "and leaves it when deleted" js_wait "!document.querySelector('$(row pr-live)')" 30
# the stream's wire format, fed to the page's reader as it would arrive
js 'streamEvent("id: 41\nevent: extended\ndata: " + JSON.stringify(Object.assign({}, state.items.get("alice"), {expires_at: "2999-01-01T00:00:00Z"}))); 1' >/dev/null
t_eq 41 "$(js 'state.lastEventId')" "a stream event's id is the resume point (Last-Event-ID)"
t_match '^[0-9]{6}d ' "$(js "document.querySelector('$(row alice) td.left').textContent")" "its environment JSON replaces the row"
shot 8-live
t_eq 0 "$(js 'window.__alerts.length')" "no alert() in the whole session"

# ------------------------------------------------------------------ 10. the stream contract
t_begin "the page reads the stream: pieces put together, Last-Event-ID on reconnect, the token in a header"
SSE_LOG=$T_TMP/stream-standin.log
: >"$SSE_LOG"
t_need "the stream stand-in starts" bg_start SSE "$T_TMP/stream-standin.out" \
    python3 "$T_ROOT/tests/lib/stream_standin.py" 0 "$T_ROOT/service/page" "$SSE_LOG"
SSE_URL=http://127.0.0.1:$SSE_PORT
# the token goes in first, on a document of that origin without the script
t_ok "open the stand-in's origin" cdp_send "$(jq -cn --arg u "$SSE_URL/style.css" '{cmd: "navigate", url: $u}')"
js 'sessionStorage.setItem("previewd-token", "pvd_standin_secret"); 1' >/dev/null
t_ok "navigate to the page on the stand-in, signed in" cdp_send "$(jq -cn --arg u "$SSE_URL/" '{cmd: "navigate", url: $u}')"
t_ok "the listed environment shows" js_wait "!!document.querySelector('$(row sse-old)')"
t_ok "event 7 (created), cut across two writes, adds sse-new" js_wait "document.querySelector('$(row sse-new) .status')?.textContent === 'active'" 20
t_eq live "$(js 'document.querySelector("#live").textContent')" "the page says it is live"
t_ok "event 8 (deleted), after the reconnect, removes it" js_wait "!document.querySelector('$(row sse-new)') && state.lastEventId === '8'" 20
shot 9-stream
streams=$(jq -s -c '[.[] | select(.path | startswith("/v1/environments/stream"))]' "$SSE_LOG")
t_ok "the page connected at least twice ($(jq length <<<"$streams"))" test "$(jq length <<<"$streams")" -ge 2
t_eq '[null,"7"]' "$(jq -c '[.[0].last_event_id, .[1].last_event_id]' <<<"$streams")" "the first without Last-Event-ID, the second resuming after 7"
t_eq '["Bearer pvd_standin_secret"]' "$(jq -c '[.[].authorization] | unique' <<<"$streams")" "every stream request carries the token in Authorization"
t_eq 0 "$(jq -s '[.[] | select(.path | test("pvd_|token"))] | length' "$SSE_LOG")" "no request has the token in its URL"
t_eq "/v1/environments/stream" "$(jq -r '.[0].path' <<<"$streams")" "the stream's URL is the contract's"

t_end
