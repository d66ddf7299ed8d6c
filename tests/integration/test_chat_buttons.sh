#!/usr/bin/env bash
# ctest-labels: integration
# test_chat_buttons.sh — buttons in chat, against a real previewd and a
# loopback receiver (tests/lib/receiver.py) that stands in for both the
# webhook and Slack's response_url:
#
#   1. Slack: an expiry warning carries Extend 4h / Extend 1d / Delete now
#      (Block Kit, checked in the recorded webhook body); a slash-command
#      reply carries them too
#   2. POST /v1/chatops/slack/interactions in Slack's documented shape
#      (form body payload=<block_actions JSON>, X-Slack-Signature): the owner
#      extends (the outcome replaces the message through response_url, the
#      requester is slack:<owner> mapped by PREVIEWD_SLACK_USERS); the same
#      press twice acts once; tampered and stale requests are 401 and act
#      not; a non-owner is refused in the updated message; an extension
#      beyond PREVIEWD_MAX_LIFETIME is refused with the reason; a
#      response_url outside PREVIEWD_SLACK_RESPONSE_URL_PREFIX is 400; the
#      owner deletes
#   2b. a sleeping environment's slept notice leads with Wake: a non-owner
#      is refused, the owner wakes it (woke, by slack:<owner>), the message
#      loses its Wake button, pressing again (or on an older message) wakes
#      nothing more
#   3. PREVIEWD_CHATOPS_ANYONE=true lets a non-owner press
#   4. Mattermost: the warning's attachment actions come back with their
#      signed context (acts), a forged one (401), an expired one (refused);
#      a slept notice's signed Wake
#   5. Teams: the Adaptive Card's shape, with links to the page
#
#   bash tests/integration/test_chat_buttons.sh   (KEEP_TMP=1 keeps the logs)
#
# shellcheck disable=SC2317  # helpers below are run through t_ok/t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

for tool in openssl jq sqlite3 python3; do
    command -v "$tool" >/dev/null || t_bail "$tool not installed (scripts/deps.sh test installs it)"
done

DATA=$T_TMP/data
DB=$DATA/previewd.db
SECRET=8f742231b10e8888abcd99yyyzzz85a5
LOG=$T_TMP/rcv.log
USERS=$T_TMP/slack-users
printf '# Slack user id -> owner\nU0ALICE alice\n' >"$USERS"

t_need "the receiver starts" rcv_start R "$LOG"
RURL="http://127.0.0.1:$R_PORT"

# ------------------------------------------------------------------ helpers

uri() { jq -rn --arg s "$1" '$s | @uri'; }
sign() { printf 'v0=%s' "$(printf 'v0:%s:%s' "$2" "$3" | openssl dgst -sha256 -hmac "$1" | sed 's/^.*= *//')"; }

# payload USER_ID USERNAME ACTION_ID VALUE RESPONSE_PATH MESSAGE_TS: a
# block_actions payload as Slack documents it
payload() {
    jq -cn --arg uid "$1" --arg un "$2" --arg aid "$3" --arg v "$4" --arg url "$RURL$5" --arg ts "$6" '{
        type: "block_actions",
        user: {id: $uid, username: $un, name: $un, team_id: "T0001"},
        api_app_id: "A0001", token: "verification-token-unused",
        container: {type: "message", message_ts: $ts, channel_id: "C0001", is_ephemeral: false},
        trigger_id: "12466734323.1395872398.\($ts)",
        team: {id: "T0001", domain: "acme"},
        channel: {id: "C0001", name: "previews"},
        message: {type: "message", ts: $ts, text: "an expiry warning"},
        response_url: $url,
        actions: [{action_id: $aid, block_id: "pv:\($v)", text: {type: "plain_text", text: "Extend"},
                   value: $v, type: "button", action_ts: "\($ts | sub("\\.";""))9"}]
    }'
}

# press BODY [TS]: POST a form body signed at TS (default now)
press_raw() {
    http POST /v1/chatops/slack/interactions "$1" -H 'Content-Type: application/x-www-form-urlencoded' \
        -H "X-Slack-Request-Timestamp: $2" -H "X-Slack-Signature: $3"
}
press() {
    local body ts
    body="payload=$(uri "$(payload "$@")")"
    ts=$(date +%s)
    press_raw "$body" "$ts" "$(sign "$SECRET" "$ts" "$body")"
}

# at PATH: the JSON bodies the receiver got at PATH, as an array
at() { jq -s --arg p "$1" '[.[] | select(.path == $p) | .body | fromjson]' "$LOG" 2>/dev/null; }
got() { [ "$(at "$1" | jq length)" -ge "${2:-1}" ]; }
kinds() { http GET "/v1/environments/$1/events" && jqr "[.items[].kind | select(. == \"$2\")] | length"; }
exists() { http GET "/v1/environments/$1" && [ "$(jqr .status)" != deleted ]; }

COMMON=(PREVIEWD_SLACK_SIGNING_SECRET="$SECRET" PREVIEWD_SLACK_USERS="$USERS"
    PREVIEWD_SLACK_RESPONSE_URL_PREFIX="$RURL/r/" PREVIEWD_MIN_TTL=1 PREVIEWD_MAX_LIFETIME=12h
    PREVIEWD_WEBHOOK_URL="$RURL/hook" PREVIEWD_WARN_BEFORE=20s)

# ------------------------------------------------------------------ 1. Slack messages
t_begin "Slack: an expiry warning carries the buttons"
t_need "previewd starts" pv_start "$DATA" "${COMMON[@]}" PREVIEWD_WEBHOOK_FORMAT=slack
http POST /v1/environments '{"name":"warn","owner":"alice","ttl":"30s"}'
t_match '^20[12]$' "$HTTP_STATUS" "warn is created"
t_eventually 30 "the expiring warning reaches the webhook" \
    bash -c "jq -s '[.[] | select(.headers[\"x-previewd-event\"] == \"expiring\")] | length > 0' '$LOG' | grep -q true"
w=$(jq -s '[.[] | select(.headers["x-previewd-event"] == "expiring") | .body | fromjson][0]' "$LOG")
t_match 'expires in' "$(jq_of "$w" .text)" "the warning has its text"
t_eq "extend:14400 extend:86400 delete" "$(jq_of "$w" '[.blocks[] | select(.type == "actions") | .elements[].action_id] | join(" ")')" \
    "its actions block has Extend 4h, Extend 1d, Delete now"
t_eq "Extend 4h|Extend 1d|Delete now" "$(jq_of "$w" '[.blocks[1].elements[].text.text] | join("|")')" "with those labels"
t_eq "warn warn warn" "$(jq_of "$w" '[.blocks[1].elements[].value] | join(" ")')" "each button's value is the environment"
t_eq danger "$(jq_of "$w" '.blocks[1].elements[2].style')" "Delete now is a danger button"
t_eq Delete "$(jq_of "$w" '.blocks[1].elements[2].confirm.confirm.text')" "behind a confirmation dialog"
created=$(jq -s '[.[] | select(.headers["x-previewd-event"] == "created") | .body | fromjson][0]' "$LOG")
t_eq 0 "$(jq_of "$created" '[.blocks[] | select(.type == "actions")] | length')" "a created notice has no buttons"

t_begin "Slack: a slash-command reply carries the buttons"
body="user_id=U0ALICE&user_name=alice&command=%2Fpreview&text=create+pr-5+2h&response_url=$(uri "$RURL/r/slash")"
ts=$(date +%s)
http POST /v1/chatops/slack "$body" -H 'Content-Type: application/x-www-form-urlencoded' \
    -H "X-Slack-Request-Timestamp: $ts" -H "X-Slack-Signature: $(sign "$SECRET" "$ts" "$body")"
t_eq 200 "$HTTP_STATUS" "create pr-5 answers 200"
t_eq ephemeral "$(jqr .response_type)" "ephemeral"
t_eq "extend:14400 extend:86400 delete" "$(jqr '[.blocks[1].elements[].action_id] | join(" ")')" "with the buttons for pr-5"
t_eq pr-5 "$(jqr '.blocks[1].elements[0].value')" "naming pr-5"

# ------------------------------------------------------------------ 2. interactions
t_begin "Slack: the owner extends by 4h"
http POST /v1/environments '{"name":"pr-1","owner":"alice","ttl":"1h"}'
t_match '^20[12]$' "$HTTP_STATUS" "pr-1 is created for alice"
T0=$(date +%s)
press U0ALICE alice.w extend:14400 pr-1 /r/1 1700000001.000100
t_eq 200 "$HTTP_STATUS" "the press answers 200"
t_eq "" "$HTTP_BODY" "with an empty body"
t_eventually 10 "the outcome is POSTed to the response_url" got /r/1
o=$(at /r/1 | jq '.[0]')
t_eq true "$(jq_of "$o" .replace_original)" "replace_original is true"
t_match 'pr-1 was extended by @alice: it now expires at' "$(jq_of "$o" .text)" "the outcome says extended until when"
t_eq "extend:14400 extend:86400 delete" "$(jq_of "$o" '[.blocks[1].elements[].action_id] | join(" ")')" "and keeps the buttons"
http GET /v1/environments/pr-1
t_ok "pr-1 now expires about 4h from the press" \
    bash -c "t=\$(date -d '$(jqr .expires_at)' +%s); [ \$t -ge $((T0 + 14400)) ] && [ \$t -le \$((\$(date +%s) + 14400)) ]"
http GET /v1/environments/pr-1/events
t_eq slack:alice "$(jqr '[.items[] | select(.kind == "extended")][0].actor')" "the requester is slack:alice (mapped from U0ALICE)"

t_begin "Slack: the same press twice acts once"
press U0ALICE alice.w extend:14400 pr-1 /r/1 1700000001.000100
t_eq 200 "$HTTP_STATUS" "the second press answers 200"
t_eq 1 "$(kinds pr-1 extended)" "pr-1 was extended once"

t_begin "Slack: tampered and stale requests"
body="payload=$(uri "$(payload U0ALICE alice.w extend:14400 pr-1 /r/t 1700000002.000100)")"
ts=$(date +%s)
sig=$(sign "$SECRET" "$ts" "$body")
press_raw "${body/extend%3A14400/extend%3A86400}" "$ts" "$sig"
t_eq 401 "$HTTP_STATUS" "a tampered payload is 401"
t_match '^application/problem\+json' "$HTTP_CTYPE" "as problem+json"
old=$(($(date +%s) - 400))
press_raw "$body" "$old" "$(sign "$SECRET" "$old" "$body")"
t_eq 401 "$HTTP_STATUS" "a correctly signed payload older than five minutes is 401"
press_raw "$body" "$ts" "$(sign wrong-secret "$ts" "$body")"
t_eq 401 "$HTTP_STATUS" "a payload signed with another secret is 401"
t_eq 1 "$(kinds pr-1 extended)" "none of them acted"

t_begin "Slack: a non-owner is refused"
press U0BOB bob delete pr-1 /r/2 1700000003.000100
t_eq 200 "$HTTP_STATUS" "the press answers 200"
t_eventually 10 "the refusal is POSTed to the response_url" got /r/2
t_match 'Refused: @bob may not delete environment pr-1; only its owner @alice may' \
    "$(at /r/2 | jq -r '.[0].text')" "the message is updated with the refusal"
t_ok "pr-1 is still there" exists pr-1

t_begin "Slack: beyond the maximum lifetime"
press U0ALICE alice extend:86400 pr-1 /r/3 1700000004.000100
t_eventually 10 "the outcome is POSTed" got /r/3
t_match 'Refused: environment pr-1 cannot be extended by 1d: .*lifetime' "$(at /r/3 | jq -r '.[0].text')" \
    "the refusal gives the maximum lifetime as the reason"
t_eq 1 "$(kinds pr-1 extended)" "pr-1 was not extended"

t_begin "Slack: a response_url outside the prefix"
body="payload=$(uri "$(payload U0ALICE alice delete pr-1 /r/4 1700000005.000100 | jq -c '.response_url = "https://evil.example/r/4"')")"
ts=$(date +%s)
press_raw "$body" "$ts" "$(sign "$SECRET" "$ts" "$body")"
t_eq 400 "$HTTP_STATUS" "is 400"
t_ok "and pr-1 is not deleted" exists pr-1

t_begin "Slack: not a payload"
body="payload=$(uri '{"type":"view_submission","user":{"id":"U0ALICE"}}')"
ts=$(date +%s)
press_raw "$body" "$ts" "$(sign "$SECRET" "$ts" "$body")"
t_eq 400 "$HTTP_STATUS" "another interaction type is 400"

t_begin "Slack: a sleeping environment's Wake button"
http POST /v1/environments '{"name":"sl-1","owner":"alice"}'
t_match '^20[12]$' "$HTTP_STATUS" "sl-1 is created for alice"
http POST /v1/environments/sl-1/sleep
t_match '^20[02]$' "$HTTP_STATUS" "sl-1 is put to sleep through the API"
slept_notice() { jq -s '[.[] | select(.headers["x-previewd-event"] == "slept") | .body | fromjson][0]' "$LOG"; }
has_slept_notice() { [ "$(slept_notice | jq -r '.text // empty')" != "" ]; }
t_eventually 20 "the slept notice reaches the webhook" has_slept_notice
w=$(slept_notice)
t_eq "wake extend:14400 extend:86400 delete" "$(jq_of "$w" '[.blocks[] | select(.type == "actions") | .elements[].action_id] | join(" ")')" \
    "the slept notice leads its buttons with Wake"
t_eq "Wake" "$(jq_of "$w" '.blocks[1].elements[0].text.text')" "labelled Wake"
t_eq "sl-1" "$(jq_of "$w" '.blocks[1].elements[0].value')" "naming sl-1"
press U0BOB bob wake sl-1 /r/w0 1700000010.000100
t_eventually 10 "the refusal is POSTed" got /r/w0
t_match 'Refused: @bob may not wake environment sl-1; only its owner @alice may' "$(at /r/w0 | jq -r '.[0].text')" \
    "a non-owner may not wake it"
t_eq "wake" "$(at /r/w0 | jq -r '.[0].blocks[1].elements[0].action_id')" "the refused message keeps its Wake button"
t_eq 0 "$(kinds sl-1 woke)" "sl-1 still sleeps"
press U0ALICE alice wake sl-1 /r/w1 1700000011.000100
t_eq 200 "$HTTP_STATUS" "the owner's press answers 200"
t_eventually 10 "the outcome is POSTed" got /r/w1
o=$(at /r/w1 | jq '.[0]')
t_eq true "$(jq_of "$o" .replace_original)" "it replaces the original message"
t_match 'sl-1 was woken by @alice and is coming back at http://sl-1.env.my' "$(jq_of "$o" .text)" "saying it was woken"
t_eq "extend:14400 extend:86400 delete" "$(jq_of "$o" '[.blocks[1].elements[].action_id] | join(" ")')" \
    "and its buttons no longer offer Wake"
t_eq 1 "$(kinds sl-1 woke)" "sl-1 woke once"
http GET /v1/environments/sl-1/events
t_eq slack:alice "$(jqr '[.items[] | select(.kind == "woke")][0].actor')" "requested by slack:alice"
http GET /v1/environments/sl-1
t_eq active "$(jqr .status)" "sl-1 is active again"
press U0ALICE alice wake sl-1 /r/w1 1700000011.000100
t_eq 200 "$HTTP_STATUS" "the same press again answers 200"
press U0ALICE alice wake sl-1 /r/w2 1700000012.000100
t_eventually 10 "a press on an older message gets an outcome" got /r/w2
t_match 'sl-1 is awake at http://sl-1.env.my' "$(at /r/w2 | jq -r '.[0].text')" "which says it is awake already"
t_eq 1 "$(kinds sl-1 woke)" "neither woke it again"
t_eq 1 "$(at /r/w1 | jq length)" "the repeated press posted no second outcome"

t_begin "Slack: the owner deletes"
press U0ALICE alice delete pr-1 /r/5 1700000006.000100
t_eventually 10 "the outcome is POSTed" got /r/5
t_match 'pr-1 was deleted by @alice' "$(at /r/5 | jq -r '.[0].text')" "the message says deleted"
t_eq 0 "$(at /r/5 | jq '[.[0].blocks[] | select(.type == "actions")] | length')" "without buttons"
t_not "pr-1 is gone" exists pr-1
t_ok "previewd stops cleanly" pv_stop

# ------------------------------------------------------------------ 3. anyone
t_begin "PREVIEWD_CHATOPS_ANYONE=true"
t_need "previewd starts" pv_start "$DATA" "${COMMON[@]}" PREVIEWD_WEBHOOK_FORMAT=slack PREVIEWD_CHATOPS_ANYONE=true
http POST /v1/environments '{"name":"pr-2","owner":"alice"}'
press U0BOB bob extend:14400 pr-2 /r/6 1700000007.000100
t_eventually 10 "the outcome is POSTed" got /r/6
t_match 'pr-2 was extended by @bob' "$(at /r/6 | jq -r '.[0].text')" "bob may extend alice's environment"
http GET /v1/environments/pr-2/events
t_eq slack:bob "$(jqr '[.items[] | select(.kind == "extended")][0].actor')" "requested by slack:bob"
t_ok "previewd stops cleanly" pv_stop

# ------------------------------------------------------------------ 4. Mattermost
t_begin "Mattermost: signed action contexts"
: >"$LOG"
MM_SECRET=mm-action-secret-0123456789
t_need "previewd starts" pv_start "$DATA" "${COMMON[@]}" PREVIEWD_WEBHOOK_FORMAT=mattermost \
    PREVIEWD_CHATOPS_ACTION_SECRET="$MM_SECRET"
http POST /v1/environments '{"name":"mm-1","owner":"alice","ttl":"30s"}'
t_eventually 30 "the expiring warning reaches the webhook" \
    bash -c "jq -s '[.[] | select(.headers[\"x-previewd-event\"] == \"expiring\")] | length > 0' '$LOG' | grep -q true"
w=$(jq -s '[.[] | select(.headers["x-previewd-event"] == "expiring") | .body | fromjson][0]' "$LOG")
t_eq "Extend 4h|Extend 1d|Delete now" "$(jq_of "$w" '[.attachments[0].actions[].name] | join("|")')" "three attachment actions"
t_eq "$PV_URL/v1/chatops/mattermost/actions" "$(jq_of "$w" '.attachments[0].actions[0].integration.url')" \
    "whose integration.url comes back to previewd"
ctx=$(jq_of "$w" -c '.attachments[0].actions[0].integration.context')
t_eq "mm-1 extend:14400" "$(jq_of "$ctx" '"\(.env) \(.action)"')" "the context names the environment and the action"
mm() { http POST "/v1/chatops/mattermost/actions" "$(jq -cn --argjson c "$1" --arg u "$2" \
    '{user_id: "mmuser", user_name: $u, channel_id: "ch", team_id: "tm", post_id: "post1", type: "", context: $c}')"; }
mm "$(jq_of "$ctx" -c '.env = "warn"')" alice
t_eq 401 "$HTTP_STATUS" "a forged context (another environment) is 401"
exp=$(($(date +%s) - 10))
sig=$(printf 'v1:mm-1:extend:14400:%s' "$exp" | openssl dgst -sha256 -hmac "$MM_SECRET" | sed 's/^.*= *//')
mm "$(jq -cn --arg s "$sig" --argjson e "$exp" '{env: "mm-1", action: "extend:14400", exp: $e, sig: $s}')" alice
t_eq 200 "$HTTP_STATUS" "an expired but genuine context answers 200"
t_match 'expired' "$(jqr .ephemeral_text)" "saying the buttons expired"
t_eq 0 "$(kinds mm-1 extended)" "and acts not"
mm "$ctx" alice
t_eq 200 "$HTTP_STATUS" "the genuine context answers 200"
t_match 'mm-1 was extended by @alice' "$(jqr .update.message)" "with Mattermost's update shape"
t_eq 1 "$(kinds mm-1 extended)" "mm-1 was extended"
http GET /v1/environments/mm-1/events
t_eq mattermost:alice "$(jqr '[.items[] | select(.kind == "extended")][0].actor')" "requested by mattermost:alice"
http POST /v1/environments/mm-1/sleep
t_match '^20[02]$' "$HTTP_STATUS" "mm-1 is put to sleep"
t_eventually 20 "the slept notice reaches the webhook" has_slept_notice
w=$(slept_notice)
t_eq "Wake|Extend 4h|Extend 1d|Delete now" "$(jq_of "$w" '[.attachments[0].actions[].name] | join("|")')" \
    "the slept notice's actions lead with Wake"
ctx=$(jq_of "$w" -c '.attachments[0].actions[0].integration.context')
t_eq "mm-1 wake" "$(jq_of "$ctx" '"\(.env) \(.action)"')" "its context is a signed wake"
mm "$ctx" alice
t_eq 200 "$HTTP_STATUS" "the Wake press answers 200"
t_match 'mm-1 was woken by @alice' "$(jqr .update.message)" "and updates the message"
t_eq "Extend 4h|Extend 1d|Delete now" "$(jqr '[.update.props.attachments[0].actions[].name] | join("|")')" "without Wake now"
t_eq 1 "$(kinds mm-1 woke)" "mm-1 woke"
mm "$ctx" alice
t_eq 1 "$(kinds mm-1 woke)" "pressing it again wakes it not again"
t_ok "previewd stops cleanly" pv_stop

# ------------------------------------------------------------------ 5. Teams
t_begin "Teams: an Adaptive Card"
: >"$LOG"
t_need "previewd starts" pv_start "$DATA" "${COMMON[@]}" PREVIEWD_WEBHOOK_FORMAT=teams
http POST /v1/environments '{"name":"tm-1","owner":"alice"}'
t_eventually 20 "the created notice reaches the webhook" \
    bash -c "jq -s '[.[] | select(.headers[\"x-previewd-event\"] == \"created\")] | length > 0' '$LOG' | grep -q true"
c=$(jq -s '[.[] | select(.headers["x-previewd-event"] == "created") | .body | fromjson][0]' "$LOG")
t_eq message "$(jq_of "$c" .type)" "type message"
t_eq application/vnd.microsoft.card.adaptive "$(jq_of "$c" '.attachments[0].contentType')" "an Adaptive Card attachment"
t_eq AdaptiveCard "$(jq_of "$c" '.attachments[0].content.type')" "content is an AdaptiveCard"
t_match 'tm-1' "$(jq_of "$c" '.attachments[0].content.body[0].text')" "its text names tm-1"
t_eq "Action.OpenUrl Action.OpenUrl" "$(jq_of "$c" '[.attachments[0].content.actions[].type] | join(" ")')" "with links only"
t_eq "http://tm-1.env.my $PV_URL/#env=tm-1" "$(jq_of "$c" '[.attachments[0].content.actions[].url] | join(" ")')" \
    "to the environment and to the page"
t_ok "previewd stops cleanly" pv_stop

t_end
