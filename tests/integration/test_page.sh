#!/usr/bin/env bash
# ctest-labels: integration
# test_page.sh — the built-in page at /, rendered by headless Chromium
# against previewd on its embedded default repository:
#
#   1. GET / is the embedded HTML page
#   2. --dump-dom after the page's script ran: one row per live environment
#      (data-name, the URL link, the time left), none for a deleted one
#   3. a screenshot is a PNG of a sensible size (copied to
#      /tmp/previewd-page.png to look at)
#   4. with a token configured, the page's API call is refused (401): the
#      token form shows, with the API's error text
#
# Needs chromium (installed by `scripts/deps.sh test`; CHROMIUM=path
# overrides): without it the test fails, it does not skip.
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
SHOTS=$T_TMP/shots
TAB=$'\t'
mkdir -p "$SHOTS"

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
cp "$SHOT" /tmp/previewd-page.png 2>/dev/null && echo "# screenshot: /tmp/previewd-page.png"

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
echo "# screenshots in $SHOTS (KEEP_TMP=1 keeps them)"

t_end
