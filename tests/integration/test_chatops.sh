#!/usr/bin/env bash
# ctest-labels: integration
# test_chatops.sh — chat-ops against the embedded default repository:
#
#   1. POST /v1/chatops/slack: Slack slash commands, signed with
#      PREVIEWD_SLACK_SIGNING_SECRET ("v0=" + HMAC-SHA256 over
#      "v0:<ts>:<raw body>"): create / create NAME TTL / extend / list /
#      delete / help / unknown words / a bad TTL, each checked through the
#      REST API as well as in the reply
#   2. signature checks: tampered body, wrong secret, stale and future
#      timestamps, missing headers -> 401 problem+json, nothing created
#   3. without a signing secret the Slack route is 404
#   4. POST /v1/chatops {"user","text"}: open mode on loopback, then with
#      tokens (401 without, 403 for a reader, a writer's name as requester);
#      the Slack route keeps working with tokens (signature, not token)
#
#   bash tests/integration/test_chatops.sh        (KEEP_TMP=1 keeps the logs)
#
# shellcheck disable=SC2317  # helpers below are run through t_ok/t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

DATA=$T_TMP/data
DB=$DATA/previewd.db
SECRET=8f742231b10e8888abcd99yyyzzz85a5
TOKEN_DIR=$T_TMP/tokens
NL=$'\n'   # for line starts in regexes: ERE has no \n

# ------------------------------------------------------------------ helpers

# uri S: S percent-encoded (RFC 3986 unreserved kept)
uri() { jq -rn --arg s "$1" '$s | @uri'; }

# slash_body USER TEXT: a slash-command body as Slack sends it (spaces in
# the text as '+', everything else percent-encoded).
slash_body() {
    local text
    text=$(uri "$2")
    printf 'token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&team_domain=acme&channel_id=C2147483705'
    printf '&channel_name=general&user_id=U2147483697&user_name=%s&command=%%2Fpreview' "$(uri "$1")"
    printf '&text=%s&api_app_id=A123456&response_url=https%%3A%%2F%%2Fhooks.slack.com%%2Fcommands%%2F1234%%2F5678' \
        "${text//%20/+}"
    printf '&trigger_id=13345224609.738474920.8088930838d88f008e0\n'
}

# sign SECRET TS BODY: Slack's X-Slack-Signature for BODY at TS.
sign() {
    local mac
    mac=$(printf 'v0:%s:%s' "$2" "$3" | openssl dgst -sha256 -hmac "$1" | sed 's/^.*= *//')
    printf 'v0=%s' "$mac"
}

# slack_raw BODY TS SIGNATURE [curl args...]: POST a form body with the
# given headers (an empty TS or SIGNATURE leaves that header out).
slack_raw() {
    local args=(-H 'Content-Type: application/x-www-form-urlencoded')
    [ -n "$2" ] && args+=(-H "X-Slack-Request-Timestamp: $2")
    [ -n "$3" ] && args+=(-H "X-Slack-Signature: $3")
    http POST /v1/chatops/slack "$1" "${args[@]}" "${@:4}"
}

# slack USER TEXT: a correctly signed slash command, now.
slack() {
    local body ts
    body=$(slash_body "$1" "$2")
    ts=$(date +%s)
    slack_raw "$body" "$ts" "$(sign "$SECRET" "$ts" "$body")"
}

text() { jqr .text; }

# near TTL ISO_TIME: ISO_TIME is TTL seconds after a moment between T0
# (taken just before the request) and now, bounds read from the clock
# rather than a tolerance
near() {
    local t
    t=$(iso2s "$2" 2>/dev/null) || return 1
    [ "$t" -ge $((T0 + $1)) ] && [ "$t" -le $(($(date +%s) + $1)) ]
}

rows() { sql "SELECT count(*) FROM envs"; }
alive() { [ -n "$PV_PID" ] && kill -0 "$PV_PID" 2>/dev/null; }

# is_problem STATUS: the last answer has STATUS and is problem+json with it
is_problem() {
    [ "$HTTP_STATUS" = "$1" ] && [[ $HTTP_CTYPE == application/problem+json* ]] &&
        [ "$(jqr .status)" = "$1" ] && [ -n "$(jqr '.detail // empty')" ]
}

for tool in openssl jq sqlite3; do
    command -v "$tool" >/dev/null || t_bail "$tool not installed (scripts/deps.sh test installs it)"
done

# ------------------------------------------------------------------ 1. Slack
t_begin "Slack: create"
PV_ARGS=(PREVIEWD_SLACK_SIGNING_SECRET="$SECRET" PREVIEWD_WAIT_MS=5000)
t_need "previewd starts with a signing secret" pv_start "$DATA" "${PV_ARGS[@]}"

T0=$(date +%s)
slack Jane.Doe create
t_eq 200 "$HTTP_STATUS" "a signed create answers 200"
t_match '^application/json' "$HTTP_CTYPE" "as JSON"
t_eq ephemeral "$(jqr .response_type)" "response_type is ephemeral"
t_match 'http://jane-doe\.env\.my' "$(text)" "the reply gives the URL http://jane-doe.env.my"
t_match '@jane-doe' "$(text)" "and addresses the owner jane-doe (from user_name Jane.Doe)"
http GET /v1/environments/jane-doe
t_eq 200 "$HTTP_STATUS" "the environment jane-doe exists in the REST API"
t_eq jane-doe "$(jqr .owner)" "owner is jane-doe"
t_eq slack:jane-doe "$(jqr .requested_by)" "requested_by is slack:jane-doe"
t_eq http://jane-doe.env.my "$(jqr .url)" "its url is http://jane-doe.env.my"
t_ok "with the default TTL (8h)" near $((8 * 3600)) "$(jqr .expires_at)"
t_eventually 10 "it reaches Git and becomes active" env_status_is jane-doe active
http GET /v1/environments/jane-doe/events
t_eq slack:jane-doe "$(jqr '.items[0].actor')" "the history names slack:jane-doe as actor"

t_begin "Slack: create pr-7 2h"
T0=$(date +%s)
slack Jane.Doe 'create pr-7 2h'
t_eq 200 "$HTTP_STATUS" "create pr-7 2h answers 200"
t_match 'Environment pr-7 for @jane-doe: http://pr-7\.env\.my' "$(text)" "the reply names pr-7 and its URL"
http GET /v1/environments/pr-7
t_eq pr-7 "$(jqr .name)" "pr-7 exists"
t_eq jane-doe "$(jqr .owner)" "owned by jane-doe"
t_ok "expires about now+2h ($(jqr .expires_at))" near 7200 "$(jqr .expires_at)"

t_begin "Slack: extend pr-7 4h"
T0=$(date +%s)
slack Jane.Doe 'extend pr-7 4h'
t_eq 200 "$HTTP_STATUS" "extend answers 200"
t_match '^Environment pr-7 now expires ' "$(text)" "the reply says the new expiry"
reply_exp=$(text | sed -n 's/^Environment pr-7 now expires \([^ ]*\)\.$/\1/p')
http GET /v1/environments/pr-7
t_ok "expires about now+4h ($(jqr .expires_at))" near $((4 * 3600)) "$(jqr .expires_at)"
t_eq "$(jqr .expires_at)" "$reply_exp" "the reply's expiry is the recorded one"
slack Jane.Doe 'extend nosuch 4h'
t_match '^Sorry: ' "$(text)" "extending an unknown environment is refused"
t_match "nosuch" "$(text)" "naming it"
slack Jane.Doe 'extend pr-7'
t_match '^Usage: extend <name> <ttl>' "$(text)" "extend without a TTL gets its usage"

t_begin "Slack: list"
curl -s -m 5 -X POST "$PV_URL/v1/environments" -H 'Content-Type: application/json' \
    -d '{"owner":"someone-else","name":"other-env"}' >/dev/null
slack Jane.Doe list
t_eq 200 "$HTTP_STATUS" "list answers 200"
t_match '^Environments of @jane-doe:' "$(text)" "the reply is jane-doe's list"
t_match "$NL- pr-7 http://pr-7\.env\.my \(" "$(text)" "it lists pr-7 with its URL"
t_match "$NL- jane-doe http://jane-doe\.env\.my \(" "$(text)" "it lists jane-doe with its URL"
t_not "it does not list someone else's environment" grep -q other-env <<<"$(text)"
slack Nobody list
t_match 'none' "$(text)" "a user without environments is told there are none"

t_begin "Slack: delete pr-7"
slack Jane.Doe 'delete pr-7'
t_eq 200 "$HTTP_STATUS" "delete answers 200"
t_match '^Environment pr-7 is (being )?removed from Git' "$(text)" "the reply says it is being removed"
t_match '^(deleting|deleted)$' "$(env_status pr-7)" "GET shows pr-7 deleting or deleted"
t_eventually 10 "pr-7 ends deleted" env_status_is pr-7 deleted
slack Jane.Doe list
t_not "list no longer shows pr-7" grep -q 'pr-7' <<<"$(text)"
t_match 'jane-doe' "$(text)" "but still shows jane-doe"
slack Jane.Doe 'delete pr-7'
t_match '^Sorry: no live environment' "$(text)" "deleting it again says there is no live environment"

t_begin "Slack: help and unknown words"
slack Jane.Doe help
t_eq 200 "$HTTP_STATUS" "help answers 200"
t_match '^Usage: create \[name\] \[ttl\] \| extend <name> <ttl> \| delete <name> \| sleep <name> \| wake <name> \| list \| help' "$(text)" \
    "help gives the usage"
slack Jane.Doe ''
t_match '^Usage: ' "$(text)" "an empty command gives the usage"
slack Jane.Doe 'frobnicate pr-7'
t_eq 200 "$HTTP_STATUS" "an unknown word answers 200"
t_match "^I do not know 'frobnicate'" "$(text)" "an unknown word is named"
t_match 'Usage: create \[name\] \[ttl\]' "$(text)" "and followed by the usage"
slack Jane.Doe 'create a b c d e f'
t_match '^Too many words' "$(text)" "too many words are refused with the usage"

t_begin "Slack: a bad TTL"
before=$(rows)
http POST /v1/environments '{"owner":"jane-doe","name":"pr-8","ttl":"99d"}'
t_eq 422 "$HTTP_STATUS" "the REST API refuses ttl 99d with 422"
api_detail=$(jqr .detail)
slack Jane.Doe 'create pr-8 99d'
t_eq 200 "$HTTP_STATUS" "the Slack answer is still 200 (an ephemeral message)"
t_eq "Sorry: $api_detail" "$(text)" "the text carries the API's error detail"
slack Jane.Doe 'create pr-8 soon'
t_match '^Sorry: .*ttl' "$(text)" "an unreadable TTL carries the API's ttl error"
slack Jane.Doe 'create pr-8 10s'
t_match '^Sorry: .*minimum' "$(text)" "a TTL below the minimum says so"
http GET /v1/environments/pr-8
t_eq 404 "$HTTP_STATUS" "pr-8 was not created"
t_eq "$before" "$(rows)" "no row was added"
slack Jane.Doe create
t_match '^Sorry: ' "$(text)" "creating jane-doe twice is refused"

# ------------------------------------------------------------------ 2. signatures
t_begin "Slack: request signatures"
before=$(rows)
ts=$(date +%s)
good=$(slash_body Mallory 'create evil-1')
sig=$(sign "$SECRET" "$ts" "$good")
slack_raw "$(slash_body Mallory 'create evil-2 7d')" "$ts" "$sig"
t_ok "a tampered body -> 401 problem+json" is_problem 401
t_match 'signature' "$(jqr .detail)" "the detail names the signature"
slack_raw "$good" "$ts" "$(sign wrong-secret "$ts" "$good")"
t_ok "a wrong secret -> 401 problem+json" is_problem 401
old=$((ts - 400))
slack_raw "$good" "$old" "$(sign "$SECRET" "$old" "$good")"
t_ok "a stale timestamp (now-400), correctly signed -> 401" is_problem 401
t_match 'timestamp' "$(jqr .detail)" "the detail names the timestamp"
future=$((ts + 400))
slack_raw "$good" "$future" "$(sign "$SECRET" "$future" "$good")"
t_ok "a timestamp 400 s in the future -> 401" is_problem 401
slack_raw "$good" "" ""
t_ok "no signature headers -> 401" is_problem 401
slack_raw "$good" "$ts" ""
t_ok "no X-Slack-Signature -> 401" is_problem 401
slack_raw "$good" "" "$sig"
t_ok "no X-Slack-Request-Timestamp -> 401" is_problem 401
slack_raw "$good" "$ts" "${sig^^}"
t_ok "the signature is not accepted in another form (upper case)" is_problem 401
slack_raw "$good" "$ts" "${sig%?}"
t_ok "a truncated signature -> 401" is_problem 401
slack_raw "$good" "$ts" "${sig#v0=}"
t_ok "a signature without v0= -> 401" is_problem 401
slack_raw "$good" "${ts}x" "$(sign "$SECRET" "${ts}x" "$good")"
t_ok "a non-numeric timestamp -> 401" is_problem 401
# the timestamp is parsed before the signature is checked: an extreme
# value must be refused like any other, not overflow (now - LLONG_MIN is
# undefined behaviour; a UBSan build reports it and stops)
for bad in -9223372036854775808 9223372036854775807 -99999999999999999999; do
    slack_raw "$good" "$bad" "$(sign "$SECRET" "$bad" "$good")"
    t_ok "timestamp $bad -> 401" is_problem 401
    t_ok "previewd is still running after timestamp $bad" alive
    # carry on against a fresh previewd on the same data if it died
    alive || PV_WANT_PORT=$PV_PORT t_need "previewd restarts" pv_start "$DATA" "${PV_ARGS[@]}"
done
t_eq "$before" "$(rows)" "no refused request created anything"
http GET /v1/environments/evil-1
t_eq 404 "$HTTP_STATUS" "evil-1 does not exist"
http GET /v1/environments/evil-2
t_eq 404 "$HTTP_STATUS" "evil-2 does not exist"
recent=$((ts - 200))
slack_raw "$good" "$recent" "$(sign "$SECRET" "$recent" "$good")"
t_eq 200 "$HTTP_STATUS" "a timestamp 200 s old is inside the window"
t_match 'evil-1' "$(text)" "and the command runs"

t_begin "Slack: form decoding"
ts=$(date +%s)
body='user_name=Pat%20O%27Neil&text=create%20pat-env%2090m&team_domain=acme'
T0=$(date +%s)
slack_raw "$body" "$ts" "$(sign "$SECRET" "$ts" "$body")"
t_match 'Environment pat-env for @pat-o-neil' "$(text)" "%20-encoded text and an odd user name decode (pat-o-neil)"
http GET /v1/environments/pat-env
t_ok "pat-env expires about now+90m" near 5400 "$(jqr .expires_at)"
body='team_domain=acme&text=help'
slack_raw "$body" "$ts" "$(sign "$SECRET" "$ts" "$body")"
t_ok "a signed body without user_name -> 400 problem+json" is_problem 400
slack ___ 'create'
t_match 'cannot be turned into an environment owner' "$(text)" "a user name with no letters or digits is refused"
slack 42bob 'create'
t_match 'cannot be turned into an environment owner' "$(text)" "a user name that starts with a digit is refused"
T0=$(date +%s)
slack Quinn 'create 30m'
t_match 'Environment quinn for @quinn' "$(text)" "create with only a TTL names the environment after the user"
http GET /v1/environments/quinn
t_ok "quinn expires about now+30m" near 1800 "$(jqr .expires_at)"
http GET /v1/chatops/slack
t_eq 405 "$HTTP_STATUS" "GET /v1/chatops/slack -> 405"

t_begin "Slack: the chat text cannot forge log lines"
# The log is one line per event ("time level message"); chatops logs the
# command text, which Slack users control.  A %0A in it must not start a
# line of its own that looks like previewd's.
slack Jane.Doe 'help
2001-01-01T00:00:00.000Z error forged-by-chat-text'
t_eq 200 "$HTTP_STATUS" "a command with a newline answers 200"
sleep 0.2
t_not "no log line starts with the forged text" grep -q '^2001-01-01T00:00:00.000Z error forged-by-chat-text' "$PV_LOG"

# ------------------------------------------------------------------ 3. JSON, open mode
t_begin "JSON chat-ops, open mode on loopback"
http POST /v1/chatops '{"user":"bob","text":"create"}'
t_eq 200 "$HTTP_STATUS" "POST /v1/chatops create answers 200"
t_eq true "$(jqr .ok)" "ok is true"
t_eq bob "$(jqr .environment.name)" "environment.name is bob"
t_eq bob "$(jqr .environment.owner)" "environment.owner is bob"
t_match 'http://bob\.env\.my' "$(text)" "the text gives the URL"
http POST /v1/chatops '{"user":"bob","text":"dance"}'
t_eq false "$(jqr .ok)" "an unknown command: ok false"
t_eq null "$(jqr .environment)" "and environment null"
t_match 'Usage:' "$(text)" "with the usage"
http POST /v1/chatops '{"user":"bob","text":"create bob 99d"}'
t_eq false "$(jqr .ok)" "a refused create: ok false"
http POST /v1/chatops '{"user":"bob"}'
t_ok "a body without text -> 422 problem+json" is_problem 422
http POST /v1/chatops 'user=bob&text=create' -H 'Content-Type: application/x-www-form-urlencoded'
t_ok "a form body -> 415 problem+json" is_problem 415

# ------------------------------------------------------------------ 4. tokens
t_begin "JSON chat-ops with tokens"
mkdir -p "$TOKEN_DIR"
pv_token create bot --role writer
BOT=$PV_OUT
t_match '^pvd_' "$BOT" "token create bot --role writer"
pv_token create viewer --role reader
VIEWER=$PV_OUT
t_match '^pvd_' "$VIEWER" "token create viewer --role reader"
http POST /v1/chatops '{"user":"bob","text":"create bob-bot 1h"}'
t_ok "without a token -> 401 problem+json" is_problem 401
http POST /v1/chatops '{"user":"bob","text":"create bob-bot 1h"}' -H "Authorization: Bearer $VIEWER"
t_ok "with a reader's token -> 403 problem+json" is_problem 403
http POST /v1/chatops '{"user":"bob","text":"create bob-bot 1h"}' -H "Authorization: Bearer ${BOT}x"
t_ok "with a wrong token -> 401" is_problem 401
http GET /v1/environments/bob-bot "" -H "Authorization: Bearer $VIEWER"
t_eq 404 "$HTTP_STATUS" "none of them created bob-bot"
http POST /v1/chatops '{"user":"bob","text":"create bob-bot 1h"}' -H "Authorization: Bearer $BOT"
t_eq 200 "$HTTP_STATUS" "with the writer's token -> 200"
t_eq true "$(jqr .ok)" "ok is true"
t_eq bot "$(jqr .environment.requested_by)" "requested_by is the token's name (bot)"
t_eq bob "$(jqr .environment.owner)" "owner is the chat user (bob)"
http GET /v1/environments/bob-bot "" -H "Authorization: Bearer $VIEWER"
t_eq bot "$(jqr .requested_by)" "the REST API agrees: requested_by bot"
t_eq bob "$(jqr .owner)" "and owner bob"
http POST /v1/chatops '{"user":"bob","text":"list"}' -H "Authorization: Bearer $BOT"
t_match 'bob-bot' "$(text)" "list through the bot shows bob-bot"
t_match "$NL- bob " "$(text)" "and bob"

t_begin "Slack with tokens configured"
slack Carl 'create carl-env 1h'
t_eq 200 "$HTTP_STATUS" "a signed Slack create still works without a bearer token"
t_match 'http://carl-env\.env\.my' "$(text)" "and gives the URL"
http GET /v1/environments/carl-env "" -H "Authorization: Bearer $VIEWER"
t_eq slack:carl "$(jqr .requested_by)" "requested_by slack:carl"
slack Jane.Doe 'extend jane-doe 3h'
t_match '^Environment jane-doe now expires' "$(text)" "extend through Slack works with tokens"
ts=$(date +%s)
body=$(slash_body Carl 'create carl-2')
slack_raw "$body" "$ts" "$(sign wrong "$ts" "$body")"
t_ok "a bad signature is still 401" is_problem 401
slack_raw "$body" "" "" -H "Authorization: Bearer $BOT"
t_ok "a bearer token does not replace the signature" is_problem 401
http GET /v1/environments/carl-2 "" -H "Authorization: Bearer $VIEWER"
t_eq 404 "$HTTP_STATUS" "carl-2 was not created"
pv_stop

# ------------------------------------------------------------------ 5. off
t_begin "Slack without a signing secret"
t_need "previewd starts without a signing secret" pv_start "$T_TMP/data-off"
ts=$(date +%s)
body=$(slash_body Jane.Doe create)
slack_raw "$body" "$ts" "$(sign "$SECRET" "$ts" "$body")"
t_ok "POST /v1/chatops/slack -> 404 problem+json" is_problem 404
t_match 'PREVIEWD_SLACK_SIGNING_SECRET' "$(jqr .detail)" "naming PREVIEWD_SLACK_SIGNING_SECRET"
http GET /v1/environments/jane-doe
t_eq 404 "$HTTP_STATUS" "nothing was created"
http POST /v1/chatops '{"user":"bob","text":"help"}'
t_eq true "$(jqr .ok)" "the JSON route works without the Slack secret"
pv_stop

t_end
