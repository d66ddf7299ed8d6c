#!/usr/bin/env bash
# ctest-labels: integration
# test_wake_page.sh — GET /wake?host=NAME.DOMAIN, the page a sleeping
# environment's visitors are sent to (wakepage.h), against the real binary
# and a real Git server, with tokens on (the page needs none):
#
#   1. a sleeping environment: the page (HTML, no inline script, wake.js
#      and wake.css served) wakes it; Git gets the awake values back in a
#      commit; the history says woke by "wake-page" from the visitor's
#      address; /wake/status goes to "awake" once the commit landed
#   2. repeated hits (the page refreshing, a host with a port) make no
#      further commit and no further history row; an awake environment's
#      page only refreshes to http://NAME.DOMAIN
#   2b. as ingress-nginx's custom error backend: a request with X-Code and
#      the visitor's Host, whatever its path, gets the page (and wakes);
#      without X-Code, or for a foreign Host, / is the console
#   3. refused: a host outside PREVIEWD_DOMAIN (404), a deeper one (404),
#      no host, a malformed host or port, a name that is no environment's
#      (400), an unknown or deleted environment (404), all problem+json;
#      nothing is woken
#   4. the rate: a client address that wakes one environment after another
#      is told to wait after five (429 with Retry-After) and wakes nothing
#
#   bash tests/integration/test_wake_page.sh   (KEEP_TMP=1 keeps the logs)
#
# shellcheck disable=SC2317  # helpers below are run through t_ok/t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

for tool in jq sqlite3 curl; do
	command -v "$tool" >/dev/null || t_bail "$tool not installed (scripts/deps.sh test installs it)"
done

t_need "the Git server starts" gitserver_start "$T_TMP/git"
t_need "the GitOps repository is seeded" gitserver_new_repo gitops "$T_ROOT/deploy/helm-env"
G=$GITSERVER_DIR/repos/gitops.git
t_need "previewd starts" pv_start "$T_TMP/data" PREVIEWD_GIT_URL="$GITSERVER_URL/gitops.git" \
	PREVIEWD_GIT_USERNAME="$GITSERVER_USER" PREVIEWD_GIT_PASSWORD="$GITSERVER_PASS" PREVIEWD_WAIT_MS=10000 \
	PREVIEWD_DOMAIN=preview.example.com PREVIEWD_SLEEP_VALUES='{"replicaCount":0}'
DB=$T_TMP/data/previewd.db
pv_token create dev --role writer
W=(-H "Authorization: Bearer $PV_OUT")

commits() { g rev-list --count main; }
values_at_main() { g show "main:env/$1/values.yaml"; }
woke_rows() { sql "select count(*) from events where name = '$1' and kind = 'woke'"; }
state_is() { http GET "/wake/status?host=$1.preview.example.com" && [ "$(jqr .state)" = "$2" ]; }
landed() { [ "$(sql "select gen = pushed_gen from envs where name = '$1' and status = 'active'")" = 1 ]; }

# ------------------------------------------------------------------ 1. wakes
t_begin "1. the page for a sleeping environment wakes it"
http POST /v1/environments '{"owner":"alice","name":"shop","values":{"image":{"tag":"v7"}}}' "${W[@]}"
t_match '^20[12]$' "$HTTP_STATUS" "shop is created"
t_eventually 20 "shop is in Git" landed shop
awake_values=$(values_at_main shop)
http POST /v1/environments/shop/sleep '' "${W[@]}"
t_match '^20[02]$' "$HTTP_STATUS" "shop is put to sleep through the API"
t_eventually 20 "the sleep is in Git" landed shop
t_match 'replicaCount: 0' "$(values_at_main shop)" "Git holds the sleeping values"
c0=$(commits)

http GET "/wake?host=shop.preview.example.com"
t_eq 503 "$HTTP_STATUS" "the page answers 503 (not there yet)"
t_match '^text/html' "$HTTP_CTYPE" "as HTML"
t_eq 5 "$(http_header Retry-After)" "with Retry-After: 5"
t_match 'shop is waking up' "$HTTP_BODY" "it says shop is waking up"
t_match '<meta http-equiv="refresh" content="5">' "$HTTP_BODY" "it refreshes itself without script"
t_match '<script src="/wake.js" defer></script>' "$HTTP_BODY" "its script is the served wake.js"
t_not "no inline script" grep -qE '<script>|<script [^s]| on[a-z]+=' <<<"$HTTP_BODY"
# the one link to another origin is the environment's own address
t_not "no third-party asset" grep -qE '(src|href)="(https?:)?//[^"]*' <<<"${HTTP_BODY//href=\"http:\/\/shop.preview.example.com\/\"/}"
t_match "script-src 'self'" "$(http_header Content-Security-Policy)" "under the project's Content-Security-Policy"
http GET /wake.js
t_eq 200 "$HTTP_STATUS" "wake.js is served"
t_match '^text/javascript' "$HTTP_CTYPE" "as JavaScript"
http GET /wake.css
t_eq 200 "$HTTP_STATUS" "wake.css is served"

t_eventually 20 "the wake is in Git" landed shop
t_eq "$awake_values" "$(values_at_main shop)" "Git holds the awake values again, as they were"
t_eq $((c0 + 1)) "$(commits)" "in one commit"
t_eq 1 "$(woke_rows shop)" "the history has one woke row"
t_eq wake-page "$(sql "select actor from events where name = 'shop' and kind = 'woke'")" "requested by wake-page"
t_eq 127.0.0.1 "$(sql "select remote_addr from events where name = 'shop' and kind = 'woke'")" "from the visitor's address"
t_eventually 10 "/wake/status says awake" state_is shop awake
t_eq "http://shop.preview.example.com/" "$(jqr .url)" "with the environment's address"
t_eq null "$(jqr .owner)" "and nothing about its owner"

# ------------------------------------------------------------------ 2. repeats
t_begin "2. repeated hits write nothing; an awake environment's page refreshes to it"
for _ in 1 2 3 4 5; do
	http GET "/wake?host=shop.preview.example.com"
done
t_eq 200 "$HTTP_STATUS" "an awake environment's page is 200"
t_match '<meta http-equiv="refresh" content="2;url=http://shop.preview.example.com/">' "$HTTP_BODY" \
	"it refreshes to http://shop.preview.example.com/"
http GET "/wake?host=SHOP.Preview.Example.com.:8080"
t_eq 200 "$HTTP_STATUS" "a host in capitals, with the root's dot and a port, is the same environment"
t_match 'content="2;url=http://shop.preview.example.com:8080/"' "$HTTP_BODY" "sent back with its port"
t_eq $((c0 + 1)) "$(commits)" "no further commit"
t_eq 1 "$(woke_rows shop)" "no further woke row"

# ------------------------------------------------------------------ 2b. error backend
t_begin "2b. as ingress-nginx's custom error backend (X-Code and the visitor's Host)"
http POST /v1/environments/shop/sleep '' "${W[@]}"
t_eventually 20 "shop sleeps again in Git" landed shop
t_match 'replicaCount: 0' "$(values_at_main shop)" "Git holds the sleeping values"
c1=$(commits)
http GET /cart/checkout '' -H 'Host: shop.preview.example.com' -H 'X-Code: 503' -H 'X-Namespace: shop' \
	-H 'X-Original-URI: /cart/checkout'
t_eq 503 "$HTTP_STATUS" "the failed request's path gets the wake page, 503"
t_match 'shop is waking up' "$HTTP_BODY" "which wakes shop"
t_eventually 20 "the wake is in Git" landed shop
t_eq "$awake_values" "$(values_at_main shop)" "Git holds the awake values again"
t_eq $((c1 + 1)) "$(commits)" "in one commit"
t_eq 2 "$(woke_rows shop)" "a second woke row, by wake-page"
http GET / '' -H 'Host: shop.preview.example.com' -H 'X-Code: 503'
t_eq 200 "$HTTP_STATUS" "once awake the error backend's page is 200"
t_match 'content="2;url=http://shop.preview.example.com/"' "$HTTP_BODY" "and refreshes to the environment"
http GET / '' -H 'Host: shop.preview.example.com'
t_match 'previewd' "$HTTP_BODY" "without X-Code, / is the console as before"
t_not "  not the wake page" grep -q 'class="wake"' <<<"$HTTP_BODY"
http GET / '' -H 'Host: shop.elsewhere.example' -H 'X-Code: 503'
t_not "an error backend's request for a foreign host is not the wake page" grep -q 'class="wake"' <<<"$HTTP_BODY"
t_eq $((c1 + 1)) "$(commits)" "no further commit"

# ------------------------------------------------------------------ 3. refused
t_begin "3. hosts that are not a preview environment's"
refused() { # STATUS HOST-QUERY WHAT
	http GET "/wake$2"
	t_eq "$1" "$HTTP_STATUS" "$3 is $1"
	t_match '^application/problem\+json' "$HTTP_CTYPE" "  as problem+json"
}
refused 404 "?host=shop.evil.example" "a host outside the domain"
refused 404 "?host=shop.preview.example.com.evil.example" "a host that only starts with the domain"
refused 404 "?host=a.shop.preview.example.com" "a host one label too deep"
refused 404 "?host=preview.example.com" "the domain itself"
refused 400 "" "no host"
refused 400 "?host=shop.preview.example.com:http" "a port that is no number"
refused 400 "?host=shop.preview.example.com:99999" "a port out of range"
refused 400 "?host=%3Cb%3E.preview.example.com" "a host with markup"
refused 400 "?host=9lives.preview.example.com" "a name that no environment may have"
refused 404 "?host=nobody.preview.example.com" "an unknown environment"
t_match 'nobody.preview.example.com' "$(jqr .detail)" "its detail names the host (as JSON text)"
http GET "/wake/status?host=shop.evil.example"
t_eq 404 "$HTTP_STATUS" "/wake/status refuses a foreign host too"
http POST "/wake?host=shop.preview.example.com"
t_eq 405 "$HTTP_STATUS" "POST /wake is 405"
http DELETE "/v1/environments/shop" '' "${W[@]}"
shop_deleted() { [ "$(sql "select status from envs where name = 'shop' order by id desc limit 1")" = deleted ]; }
t_eventually 20 "shop is deleted" shop_deleted
refused 404 "?host=shop.preview.example.com" "a deleted environment"
t_eq 2 "$(woke_rows shop)" "nothing was woken"

# ------------------------------------------------------------------ 4. the rate
t_begin "4. waking is rate-limited per client address"
# ten sleeping environments, then their pages in a row from one address:
# the bucket holds five wakes and gets one back every ten seconds
for i in $(seq 1 10); do
	http POST /v1/environments "{\"owner\":\"bob\",\"name\":\"r$i\"}" "${W[@]}"
	http POST "/v1/environments/r$i/sleep" '' "${W[@]}"
done
all_asleep() { [ "$(sql "select count(*) from envs where name like 'r%' and sleep_values_json is not null and gen = pushed_gen")" = 10 ]; }
t_eventually 30 "the ten are asleep in Git" all_asleep
earlier=$(sql "select count(*) from events where kind = 'woke' and actor = 'wake-page'")
limited=() woken=()
for i in $(seq 1 10); do
	http GET "/wake?host=r$i.preview.example.com"
	case $HTTP_STATUS in
	429) limited+=("r$i") last429=$HTTP_BODY retry=$(http_header Retry-After) ;;
	503) woken+=("r$i") ;;
	esac
done
echo "# woken: ${woken[*]}; limited: ${limited[*]}"
# shop's wakes above came from the same address seconds ago
t_ok "the bucket's five, less shop's $earlier wakes, go through (${#woken[@]})" \
	test "${#woken[@]}" -ge $((5 - earlier)) -a "${#woken[@]}" -le 6
t_eq "$(seq -f 'r%g' 1 "${#woken[@]}" | tr '\n' ' ')" "$(printf '%s ' "${woken[@]}")" "and they are the first ones"
t_ok "later ones are 429 (${#limited[@]} of 10)" test "${#limited[@]}" -ge 1
t_eq 10 "$((${#woken[@]} + ${#limited[@]}))" "every page was one or the other"
t_match 'waking is limited' "${last429:-}" "the page says waking is limited for a moment"
t_ok "with a Retry-After (${retry:-none})" test "${retry:-0}" -ge 1
woke_none() { for n in "$@"; do [ "$(woke_rows "$n")" = 0 ] || return 1; done; }
woke_each() { for n in "$@"; do [ "$(woke_rows "$n")" = 1 ] || return 1; done; }
t_ok "the limited ones were not woken" woke_none "${limited[@]}"
t_ok "the others were, once each" woke_each "${woken[@]}"
t_ok "previewd stops" pv_stop
t_end
