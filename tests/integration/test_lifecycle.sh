#!/usr/bin/env bash
# ctest-labels: concurrent
# Lifecycle end to end, with second-scale TTLs: TTL rules, the reaper (with
# Git as the judge), extensions, folders changed by people, a crash in the
# middle of a removal, and webhook notifications to a real HTTP receiver
# (tests/lib/receiver.py): JSON and Slack bodies, HMAC signatures, a receiver
# that is down, and one that is slow.
#
# Four previewd instances, each on its embedded default repository:
#   A  json webhook, signed; ALLOW_NEVER; warnings 2 s before expiry
#   B  slack webhook; MIN_TTL 5 s; MAX_LIFETIME 20 s; "never" refused
#   C  no webhook; its Git repository disappears during a removal
#   D  json webhook to a receiver that holds each request 30 s before answering
# shellcheck disable=SC2317  # helpers below are run through t_eventually and t_defer
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

SECRET='hush-42'
PUBLIC=http://previewd.test

# ---------------------------------------------------------------- helpers
# (iso2s, now_ms, g on $G with has_folder/no_folder, env_status_is,
# rcv_start/rcv_stop, hooklog, outbox_pending/outbox_drained and jq_of come
# from the harness; G=<dir> g ... reads another instance's remote)

# notes LOG: the receiver's log as a JSON array, each request with its
# signature checked (sig_ok), the same check over a tampered body
# (tamper_ok), and the body parsed (null if not JSON).
notes() { hooklog previewd "$SECRET" "$1"; }

# ---------------------------------------------------------------- start-up
t_begin "start-up: receivers and previewd instances"
LOG1=$T_TMP/hooks-a.jsonl LOG2=$T_TMP/hooks-b.jsonl LOG3=$T_TMP/hooks-d.jsonl
: >"$LOG1"; : >"$LOG2"; : >"$LOG3"
t_need "receiver 1 starts" rcv_start R1 "$LOG1"
t_need "receiver 2 starts" rcv_start R2 "$LOG2"
t_need "receiver 3 starts" rcv_start R3 "$LOG3" --delay 30

A_DATA=$T_TMP/a B_DATA=$T_TMP/b C_DATA=$T_TMP/c D_DATA=$T_TMP/d
A_REMOTE=$A_DATA/gitops.git
G=$A_REMOTE
# A takes the person's changes below as they are (PREVIEWD_ON_DRIFT=accept):
# under the default, restore, previewd would commit env/gone back
# (test_drift.sh covers both)
A_ENV=(PREVIEWD_ON_DRIFT=accept PREVIEWD_MIN_TTL=1 PREVIEWD_DEFAULT_TTL=1h PREVIEWD_MAX_TTL=2h PREVIEWD_ALLOW_NEVER=true
	PREVIEWD_WARN_BEFORE=2s PREVIEWD_WEBHOOK_URL="http://127.0.0.1:$R1_PORT/hook"
	PREVIEWD_WEBHOOK_SECRET="$SECRET" PREVIEWD_WEBHOOK_BACKOFF_MAX=1s PREVIEWD_PUBLIC_URL="$PUBLIC"
	PREVIEWD_PUSH_BACKOFF_MAX_MS=500 PREVIEWD_WAIT_MS=10000)
t_need "previewd A starts" pv_start "$A_DATA" "${A_ENV[@]}"
pv_as A
t_need "previewd B starts" pv_start "$B_DATA" PREVIEWD_MIN_TTL=5 PREVIEWD_MAX_LIFETIME=20s PREVIEWD_DEFAULT_TTL=15s \
	PREVIEWD_WARN_BEFORE=9s PREVIEWD_WEBHOOK_URL="http://127.0.0.1:$R2_PORT/slack" PREVIEWD_WEBHOOK_FORMAT=slack \
	PREVIEWD_WEBHOOK_BACKOFF_MAX=1s PREVIEWD_PUBLIC_URL=http://b.example
pv_as B
C_ENV=(PREVIEWD_MIN_TTL=1 PREVIEWD_WARN_BEFORE= PREVIEWD_PUSH_BACKOFF_MAX_MS=300 PREVIEWD_WAIT_MS=10000)
t_need "previewd C starts" pv_start "$C_DATA" "${C_ENV[@]}"
pv_as C
printf '%s\n' "$SECRET" >"$T_TMP/webhook-secret"  # the trailing newline is not part of the secret
t_need "previewd D starts" pv_start "$D_DATA" PREVIEWD_MIN_TTL=1 PREVIEWD_WARN_BEFORE=1s \
	PREVIEWD_WEBHOOK_URL="http://127.0.0.1:$R3_PORT/slow" PREVIEWD_WEBHOOK_SECRET_FILE="$T_TMP/webhook-secret" \
	PREVIEWD_WEBHOOK_BACKOFF_MAX=1s PREVIEWD_WEBHOOK_TIMEOUT_MS=60000
pv_as D
for i in A B C D; do
	u=${i}_URL
	t_eq "200 ready" "$(curl -s -m 30 -o "$T_TMP/ready.json" -w '%{http_code}' "${!u}/readyz") $(jq -r .status "$T_TMP/ready.json")" \
		"previewd $i answers /readyz: ready"
done
DEV_BEFORE=$(g rev-parse main:env/dev)
PROD_BEFORE=$(g rev-parse main:env/prod)

# ---------------------------------------------------------------- A: short-lived environments
# Everything that waits for an expiry is started first; the checks that do
# not wait run while those clocks tick.
t_begin "A: environments with second-scale TTLs"
http POST "$A_URL/v1/environments" '{"owner":"rita","name":"reap","ttl":4}'
t_eq 201 "$HTTP_STATUS" "reap (ttl 4) created and pushed"
REAP_CREATED=$(iso2s "$(jqr .created_at)") REAP_EXPIRES=$(iso2s "$(jqr .expires_at)")
REAP_EXPIRES_ISO=$(jqr .expires_at)
t_eq 4 $((REAP_EXPIRES - REAP_CREATED)) "expires_at = created_at + 4 s"
http POST "$A_URL/v1/environments" '{"owner":"eve","name":"ext","ttl":"4s"}'
t_eq 201 "$HTTP_STATUS" "ext (ttl 4s) created"
EXT_EXPIRES=$(iso2s "$(jqr .expires_at)")
# extended at once, well before the 4 s expiry (whatever the machine's speed,
# nothing else runs in between)
t_begin "A: extended before expiry survives"
T_BEFORE=$(date +%s)
http PATCH "$A_URL/v1/environments/ext" '{"ttl":60}'
T_AFTER=$(date +%s)
t_eq 200 "$HTTP_STATUS" "PATCH ttl 60 answers 200 once pushed"
EXT_NEW_EXPIRES=$(iso2s "$(jqr .expires_at)")
EXT_NEW_EXPIRES_ISO=$(jqr .expires_at)
t_ok "the new expiry is 60 s after the PATCH ($T_BEFORE + 60 <= $EXT_NEW_EXPIRES <= $T_AFTER + 60)" \
	test "$EXT_NEW_EXPIRES" -ge $((T_BEFORE + 60)) -a "$EXT_NEW_EXPIRES" -le $((T_AFTER + 60))
t_eq "$EXT_NEW_EXPIRES_ISO" "$(g show main:env/ext/previewd.json | jq -r .expires_at)" "previewd.json carries the new expiry"
t_begin "A: environments with second-scale TTLs"
for n in gone extra; do
	http POST "$A_URL/v1/environments" "{\"owner\":\"hugo\",\"name\":\"$n\",\"ttl\":5}"
	t_eq 201 "$HTTP_STATUS" "$n (ttl 5) created"
done
http POST "$A_URL/v1/environments" '{"owner":"fay","name":"forever","ttl":"never"}'
t_eq 201 "$HTTP_STATUS" "ttl never is accepted with PREVIEWD_ALLOW_NEVER=true"
t_eq null "$(jqr .expires_at)" "never: expires_at is null"
t_eq null "$(jqr .ttl_seconds)" "never: ttl_seconds is null"
t_eq null "$(g show main:env/forever/previewd.json | jq -r .expires_at)" "never: previewd.json expires_at is null"

# ---------------------------------------------------------------- someone else edits two folders
t_begin "A: a person removes env/gone and adds a file to env/extra"
other=$(t_mktemp other)
git clone -q "$A_REMOTE" "$other/w"
(
	cd "$other/w" || exit 1
	git rm -rq env/gone && echo "hand-written notes" >env/extra/NOTES.md && mkdir -p docs &&
		echo keep >docs/keep.md && mkdir -p env/race && printf 'replicaCount: 1\n' >env/race/values.yaml &&
		git add -A &&
		git -c user.name=human -c user.email=h@x commit -qm "by hand: drop env/gone, notes in env/extra" || exit 1
	for _ in 1 2 3 4 5 6; do
		git push -q origin HEAD:main 2>/dev/null && exit 0
		git -c user.name=human -c user.email=h@x pull -q --rebase origin main || exit 1
	done
	exit 1
)
t_eq 0 $? "the hand-made commit is pushed"
FOREIGN=$(git -C "$other/w" rev-parse HEAD)
t_not "env/gone is no longer in Git" has_folder gone
t_eq "hand-written notes" "$(g show main:env/extra/NOTES.md)" "env/extra/NOTES.md is in Git"
# previewd has not fetched since: its view of env/ is stale, so a create of
# "race" passes validation and meets the person's env/race only at the push
http POST "$A_URL/v1/environments" '{"owner":"hugo","name":"race","ttl":60}'
t_eq 409 "$HTTP_STATUS" "a create racing a person's env/race folder is refused once Git shows it"
t_match 'env/race exists in Git' "$(jqr .detail)" "the problem says why"
http GET "$A_URL/v1/environments/race"
t_eq failed "$(jqr .status)" "race is failed"
t_eq "replicaCount: 1" "$(g show main:env/race/values.yaml)" "the person's env/race is untouched"

# ---------------------------------------------------------------- 200 environments, one expiry
t_begin "A: 200 environments expiring in the same second"
# each create asks for the TTL that ends at BULK_TARGET; the lead is generous
# so that all 200 are sent before it on a slow machine too
BULK_TARGET=$(($(date +%s) + ${BULK_LEAD:-15}))
codes=$(python3 - "$A_URL" "$BULK_TARGET" 200 <<'EOF'
import json, sys, time, urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor
url, target, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def one(i):
    body = {"owner": "bulk", "name": "b%03d" % i, "ttl": max(1, target - int(time.time()))}
    req = urllib.request.Request(url + "/v1/environments", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Prefer": "respond-async"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
with ThreadPoolExecutor(8) as ex:
    print(" ".join(str(s) for s in ex.map(one, range(n))))
EOF
)
t_eq 200 "$(tr ' ' '\n' <<<"$codes" | grep -c '^202$')" "200 creates answered 202 at once (respond-async)"

# ---------------------------------------------------------------- TTL rules (while the clocks tick)
t_begin "A: TTL rules"
http POST "$A_URL/v1/environments" '{"owner":"dora","name":"deflt"}'
t_eq 201 "$HTTP_STATUS" "create without ttl"
t_eq 3600 $(($(iso2s "$(jqr .expires_at)") - $(iso2s "$(jqr .created_at)"))) \
	"default ttl applied: expires_at = created_at + PREVIEWD_DEFAULT_TTL (1h)"
http POST "$A_URL/v1/environments" '{"owner":"dora","name":"toolong","ttl":"3h"}'
t_eq 422 "$HTTP_STATUS" "ttl above PREVIEWD_MAX_TTL is 422"
t_eq ttl "$(jqr .field)" "the problem names field ttl"
t_match 'maximum of 2h' "$(jqr .detail)" "the detail names the maximum (2h)"
http PATCH "$A_URL/v1/environments/deflt" '{"ttl":"2h1s"}'
t_eq 422 "$HTTP_STATUS" "extending above PREVIEWD_MAX_TTL is 422"
t_match 'maximum of 2h' "$(jqr .detail)" "the PATCH detail names the maximum too"
http POST "$A_URL/v1/environments" '{"owner":"dora","name":"zero","ttl":0}'
t_eq 422 "$HTTP_STATUS" "ttl 0 is 422"
t_eq ttl "$(jqr .field)" "ttl 0: field ttl"
http POST "$A_URL/v1/environments" '{"owner":"dora","name":"zero","ttl":"0s"}'
t_eq 422 "$HTTP_STATUS" "ttl \"0s\" is 422"
http GET "$A_URL/v1/environments/zero"
t_eq 404 "$HTTP_STATUS" "nothing was recorded for refused requests"

# ---------------------------------------------------------------- A: reaping
t_begin "A: reaping"
# how soon after the expiry is the benchmark's question (reap_1000); here:
# removed, not before its expiry, within a generous bound
t_eventually 60 "env/reap is removed from Git after its expiry" no_folder reap
removal_ct=$(g log -1 --format=%ct main -- env/reap)
echo "# reap delay: the removal commit is at expires_at + $((removal_ct - REAP_EXPIRES)) s ($REAP_EXPIRES_ISO)"
t_ok "removed no earlier than its expiry" test "$removal_ct" -ge "$REAP_EXPIRES"
t_match '^previewd: (delete reap|[0-9]+ changes \([0-9]+ create, [0-9]+ update, [1-9][0-9]* delete\))' \
	"$(g log -1 --format=%s main -- env/reap)" "the removal commit's subject says delete"
t_match 'delete reap \(owner rita' "$(g log -1 --format=%b main -- env/reap)" "the commit body lists reap's removal"
t_eventually 5 "reap's status becomes deleted" env_status_is reap deleted "$A_URL"
http GET "$A_URL/v1/environments/reap"
t_ok "deleted_at is set, at or after the expiry" test "$(iso2s "$(jqr .deleted_at)")" -ge "$REAP_EXPIRES"
t_eq 0 "$(jqr .ttl_seconds)" "ttl_seconds is 0 once deleted"
http GET "$A_URL/v1/environments?status=deleted&limit=500"
t_eq reap "$(jqr '[.items[] | select(.name == "reap") | .name] | join(",")')" "GET ?status=deleted lists reap"
http GET "$A_URL/v1/environments/reap/events"
t_eq 200 "$HTTP_STATUS" "the events history answers 200"
t_eq "created:anonymous ready:previewd expiring:reaper expired:reaper deleted:previewd" \
	"$(jqr '[.items[] | "\(.kind):\(.actor)"] | join(" ")')" "history: created, ready, expiring, expired, deleted with actors"
t_eq 2 "$(jqr '.items[] | select(.kind == "expiring") | .detail.lead_seconds')" "the warning was the 2 s lead"
t_eq "$REAP_EXPIRES" "$(jqr '.items[] | select(.kind == "expired") | .detail.expires_at')" "expired names the expiry"

# ---------------------------------------------------------------- B: TTL rules, lifetime
t_begin "B: minimum TTL, never refused, maximum lifetime"
http POST "$B_URL/v1/environments" '{"owner":"sam","name":"short","ttl":4}'
t_eq 422 "$HTTP_STATUS" "ttl below PREVIEWD_MIN_TTL (5s) is 422"
t_eq ttl "$(jqr .field)" "below min: field ttl"
t_match 'below the minimum of 5s' "$(jqr .detail)" "the detail names the minimum"
http POST "$B_URL/v1/environments" '{"owner":"sam","name":"never","ttl":"never"}'
t_eq 422 "$HTTP_STATUS" "ttl never is 422 without PREVIEWD_ALLOW_NEVER"
t_eq ttl "$(jqr .field)" "never: field ttl"
t_match 'not allowed' "$(jqr .detail)" "never: the detail says it is not allowed"
http POST "$B_URL/v1/environments" '{"owner":"sam","name":"life","ttl":"30s"}'
t_eq 422 "$HTTP_STATUS" "a create beyond PREVIEWD_MAX_LIFETIME (20s) is 422"
t_match 'maximum lifetime of 20s by 10s' "$(jqr .detail)" "the detail says by how much (10s)"
http POST "$B_URL/v1/environments" '{"owner":"sam","name":"life","ttl":10}'
t_eq 201 "$HTTP_STATUS" "life (ttl 10) created"
LIFE_CREATED=$(iso2s "$(jqr .created_at)")
T_BEFORE=$(date +%s)
http PATCH "$B_URL/v1/environments/life" '{"ttl":"30s"}'
T_AFTER=$(date +%s)
t_eq 422 "$HTTP_STATUS" "extending beyond the maximum lifetime is 422"
t_eq ttl "$(jqr .field)" "lifetime: field ttl"
detail=$(jqr .detail)
until_iso=$(date -u -d "@$((LIFE_CREATED + 20))" +%Y-%m-%dT%H:%M:%SZ)
t_match "maximum lifetime of 20s by [0-9]+s; it can run until $until_iso at most" \
	"$detail" "the detail says by how much and until when"
# by how much: the PATCH's time + 30 s past created_at + 20 s
by=$(sed -n 's/.*maximum lifetime of 20s by \([0-9]*\)s;.*/\1/p' <<<"$detail")
lo=$((T_BEFORE + 30 - (LIFE_CREATED + 20))) hi=$((T_AFTER + 30 - (LIFE_CREATED + 20)))
t_ok "it is over by the PATCH's time + 30 s - (created_at + 20 s) ($lo <= ${by:-?} <= $hi)" \
	test -n "$by" -a "${by:-0}" -ge "$lo" -a "${by:-0}" -le "$hi"
http PATCH "$B_URL/v1/environments/life" '{"ttl":"12s"}'
t_eq 200 "$HTTP_STATUS" "an extension within the lifetime is accepted"
http GET "$B_URL/v1/environments/life"
t_eq active "$(jqr .status)" "life is still active after the refused extension"

# ---------------------------------------------------------------- B: Slack bodies (timer started here)
t_begin "B: Slack format"
http POST "$B_URL/v1/environments" '{"owner":"sam","name":"slk","ttl":10}'
t_eq 201 "$HTTP_STATUS" "slk (ttl 10, warned 9 s before) created"

# ---------------------------------------------------------------- A: the extension holds
t_begin "A: extended environment outlives its original expiry"
while [ "$(date +%s)" -le $((EXT_EXPIRES + 1)) ]; do sleep 0.1; done
http GET "$A_URL/v1/environments/ext"
t_eq active "$(jqr .status)" "ext is still active 1 s past its original expiry"
t_eq "$EXT_NEW_EXPIRES_ISO" "$(jqr .expires_at)" "ext keeps the extended expiry"
t_ok "env/ext is still in Git" has_folder ext
http GET "$A_URL/v1/environments/ext/events"
# (an "expiring" may come first if the PATCH came after the 2 s lead)
t_eq "created ready extended pushed" "$(jqr '[.items[].kind | select(. != "expiring")] | join(" ")')" \
	"ext's history: extended, never expired"

# ---------------------------------------------------------------- A: foreign changes meet the reaper
t_begin "A: the reaper meets folders people changed"
t_eventually 10 "gone (removed by a person) is marked deleted" env_status_is gone deleted "$A_URL"
http GET "$A_URL/v1/environments/gone"
t_eq null "$(jqr .git.error)" "gone: no Git error recorded"
t_eq false "$(jqr .git.pending)" "gone: nothing pending"
t_eventually 10 "extra (with a person's file) is marked deleted" env_status_is extra deleted "$A_URL"
# issue 12: reaping removes only what previewd wrote; people's files stay
t_eq "hand-written notes" "$(g show main:env/extra/NOTES.md 2>/dev/null)" "the person's env/extra/NOTES.md survives the reaper"
t_not "previewd's env/extra/values.yaml is removed" g rev-parse --verify -q main:env/extra/values.yaml
t_not "previewd's env/extra/previewd.json is removed" g rev-parse --verify -q main:env/extra/previewd.json
t_eq keep "$(g show main:docs/keep.md)" "the person's docs/keep.md is intact"
t_eq "" "$(g log --format=%H "$FOREIGN..main" -- env/gone)" "no commit after the person's touches env/gone"
t_eq "" "$(g log --format=%B "$FOREIGN..main" | grep -E '^delete gone ')" "no commit message claims gone's removal"
outside=$(g log --format= --name-only "$FOREIGN..main" | sort -u | grep -vE '^env/(reap|ext|extra|forever|deflt|b[0-9]{3})/' || true)
t_eq "" "$outside" "previewd's later commits touch only its own env folders"
http GET "$A_URL/readyz"
t_eq ready "$(jqr .status)" "/readyz stays ready"
t_eq null "$(jqr .checks.git.error)" "/readyz reports no Git error"

# ---------------------------------------------------------------- A: 200 expiries, few commits
t_begin "A: 200 expiries land in a handful of commits"
http GET "$A_URL/v1/environments?owner=bulk&limit=500"
seconds=$(jqr '[.items[].expires_at] | unique | length')
echo "# 200 environments expire over $seconds distinct second(s)"
t_ok "they expire within a handful of seconds ($seconds)" test "$seconds" -ge 1 -a "$seconds" -le 3
t_eventually 60 "all 200 bulk folders are removed after their expiry" \
	bash -c "! git --git-dir '$A_REMOTE' ls-tree --name-only main:env | grep -q '^b[0-9]'"
# the whole history, so that no clock decides which commits are looked at:
# every bulk folder was added once, and only the reaper's commits remove them
t_eq 200 "$(g log --format= --name-only --diff-filter=A main -- 'env/b[0-9][0-9][0-9]/values.yaml' | sort -u | grep -c .)" \
	"all 200 bulk folders reached Git"
ndel=0 subjects_ok=1
for c in $(g rev-list main); do
	if g diff-tree --no-commit-id --name-only -r --diff-filter=D "$c" | grep -q '^env/b[0-9]'; then
		ndel=$((ndel + 1))
		[[ $(g log -1 --format=%s "$c") =~ delete ]] || subjects_ok=0
	fi
done
echo "# 200 expiries were removed in $ndel commit(s)"
t_ok "200 expiries removed in at most 5 commits ($ndel)" test "$ndel" -ge 1 -a "$ndel" -le 5
t_eq 1 "$subjects_ok" "each of those commits' subject says delete"
t_eventually 60 "all 200 are deleted in the API" \
	bash -c "[ \$(curl -s '$A_URL/v1/environments?owner=bulk&status=deleted&limit=500' | jq '.items | length') -eq 200 ]"

t_begin "A: never-expiring environment survives the reaping"
http GET "$A_URL/v1/environments/forever"
t_eq active "$(jqr .status)" "forever is still active"
t_eq null "$(jqr .expires_at)" "forever still has no expiry"
t_ok "env/forever is still in Git" has_folder forever
t_eq "$DEV_BEFORE" "$(g rev-parse main:env/dev)" "env/dev unchanged"
t_eq "$PROD_BEFORE" "$(g rev-parse main:env/prod)" "env/prod unchanged"

# ---------------------------------------------------------------- A: notifications
t_begin "A: webhook notifications"
t_eventually 20 "A's outbox is delivered" outbox_drained "$A_DATA/previewd.db"
N=$(notes "$LOG1")
nj() { jq_of "$N" "$@"; }
t_ok "the receiver got notifications ($(nj length))" test "$(nj length)" -gt 0
t_eq 0 "$(nj '[.[] | select(.path != "/hook")] | length')" "all POSTed to the webhook URL's path"
t_eq 0 "$(nj '[.[] | select((.ctype // "") | startswith("application/json") | not)] | length')" "Content-Type application/json"
t_eq 0 "$(nj '[.[] | select(.body == null)] | length')" "every body is JSON"
t_eq 0 "$(nj '[.[] | select(.sig_ok | not)] | length')" "every X-Previewd-Signature verifies (HMAC-SHA256 over v1:<ts>:<body>)"
t_eq 0 "$(nj '[.[] | select(.tamper_ok)] | length')" "a tampered body does not verify"
t_eq 0 "$(nj '[.[] | select(.body.id != .id)] | length')" "X-Previewd-Delivery = body id"
t_eq 0 "$(nj '[.[] | select(.body.event != .event)] | length')" "X-Previewd-Event = body event"
t_eq 0 "$(nj '[.[] | select(((.ts | tonumber) - .received_at) | fabs > 10)] | length')" \
	"X-Previewd-Timestamp is the sending time"
t_eq 1 "$(nj 'group_by(.id) | map(map(.raw) | unique | length) | max')" "an id always carries the same notification"
t_eq "$(nj length)" "$(nj 'map(.id) | unique | length')" "each notification arrived once (ids unique)"
t_eq "$(sqlite3 "$A_DATA/previewd.db" 'select count(*) from outbox')" "$(nj 'map(.id) | unique | length')" \
	"every outbox row was delivered"
t_eq "created ready expiring deleted" \
	"$(nj '[.[] | select(.body.environment.name == "reap") | .event] | join(" ")')" \
	"reap: created, ready, expiring, deleted, in order"
t_eq "created ready extended" \
	"$(nj '[.[] | select(.body.environment.name == "ext" and .event != "expiring") | .event] | join(" ")')" \
	"ext: created, ready, extended"
rc=$(nj '[.[] | select(.body.environment.name == "reap" and .event == "created")][0].body')
rj() { jq_of "$rc" "$@"; }
t_eq "actor,environment,event,expires_at,extend,id,occurred_at,owner,text,url" "$(rj 'keys | join(",")')" \
	"the JSON body's fields"
t_eq "expires_at,name,namespace,owner,status,url" "$(rj '.environment | keys | join(",")')" "environment's fields"
t_eq reap "$(rj .environment.name)" "environment.name"
t_eq rita "$(rj .environment.owner)" "environment.owner"
t_eq rita "$(rj .owner)" "owner"
t_eq http://reap.env.my "$(rj .url)" "url"
t_eq http://reap.env.my "$(rj .environment.url)" "environment.url"
t_eq "$REAP_EXPIRES_ISO" "$(rj .expires_at)" "expires_at as in the API"
t_eq "$REAP_EXPIRES_ISO" "$(rj .environment.expires_at)" "environment.expires_at"
t_eq anonymous "$(rj .actor)" "actor of created"
t_ok "occurred_at is the creation time" test "$(iso2s "$(rj .occurred_at)")" -eq "$REAP_CREATED"
t_eq "PATCH $PUBLIC/v1/environments/reap" "$(rj '"\(.extend.method) \(.extend.url)"')" "extend: PATCH at PREVIEWD_PUBLIC_URL"
t_match '@rita' "$(rj .text)" "text mentions @owner"
t_match 'http://reap\.env\.my' "$(rj .text)" "text names the URL"
w=$(nj '[.[] | select(.body.environment.name == "reap" and .event == "expiring")][0].body')
t_match "@rita: environment reap \\(http://reap\\.env\\.my\\) expires in [12]s, at $REAP_EXPIRES_ISO; extend it with: curl -X PATCH $PUBLIC/v1/environments/reap" \
	"$(jq_of "$w" .text)" "expiring: text with the lead and the PATCH hint"
t_eq reaper "$(jq_of "$w" .actor)" "expiring: actor reaper"
ready=$(nj '[.[] | select(.body.environment.name == "reap" and .event == "ready")][0].body')
t_eq active "$(jq_of "$ready" .environment.status)" "ready: environment.status is active"
del=$(nj '[.[] | select(.body.environment.name == "reap" and .event == "deleted")][0].body')
t_eq deleted "$(jq_of "$del" .environment.status)" "deleted: environment.status is deleted"
t_eq previewd "$(jq_of "$del" .actor)" "deleted: actor previewd"
fl=$(nj '[.[] | select(.body.environment.name == "race")]')
t_eq "created failed" "$(jq_of "$fl" 'map(.event) | join(" ")')" "race: created, failed"
t_eq failed "$(jq_of "$fl" '.[] | select(.event == "failed") | .body.environment.status')" \
	"failed: environment.status is failed"
t_match '^@hugo: environment race could not be created: the folder env/race exists in Git' \
	"$(jq_of "$fl" '.[] | select(.event == "failed") | .body.text')" "failed: text says why"
xt=$(nj '[.[] | select(.body.environment.name == "ext" and .event == "extended")][0].body')
t_eq "$EXT_NEW_EXPIRES_ISO" "$(jq_of "$xt" .expires_at)" "extended: the new expires_at"
t_match 'was extended by anonymous until' "$(jq_of "$xt" .text)" "extended: text"
# the hint is meant to be followed: send exactly the request it describes
hint=$(nj '[.[] | select(.body.environment.name == "ext" and .event == "created")][0].body.extend')
hint_url=$(jq_of "$hint" .url)
http "$(jq_of "$hint" .method)" "$A_URL${hint_url#"$PUBLIC"}" "$(jq_of "$hint" .body)"
t_eq 200 "$HTTP_STATUS" "following the extend hint works (PATCH ${hint_url#"$PUBLIC"} $(jq_of "$hint" .body))"

# ---------------------------------------------------------------- A: receiver down
t_begin "A: receiver down, then back: nothing lost"
rcv_stop "$R1_PID"
before=$(wc -l <"$LOG1")
http POST "$A_URL/v1/environments" '{"owner":"dan","name":"down1","ttl":"1h"}'
t_eq 201 "$HTTP_STATUS" "create while the receiver is down"
http DELETE "$A_URL/v1/environments/down1"
t_eq 200 "$HTTP_STATUS" "delete while the receiver is down"
t_eventually 10 "a delivery was attempted and failed" \
	bash -c "[ \$(sqlite3 '$A_DATA/previewd.db' 'select count(*) from outbox where delivered_at is null and attempts > 0') -gt 0 ]"
t_ok "the outbox holds them ($(outbox_pending "$A_DATA/previewd.db") pending)" \
	test "$(outbox_pending "$A_DATA/previewd.db")" -ge 3
t_eq "$before" "$(wc -l <"$LOG1")" "nothing reached the (stopped) receiver"
old_port=$R1_PORT
t_ok "the receiver starts again on the same port" rcv_start R1 "$LOG1" --port "$R1_PORT"
t_eq "$old_port" "$R1_PORT" "same port"
back_ms=$(now_ms)
t_eventually 15 "the outbox drains once the receiver is back" outbox_drained "$A_DATA/previewd.db"
echo "# the outbox drained $(($(now_ms) - back_ms)) ms after the receiver came back"
N=$(notes "$LOG1")
missing=$(comm -23 <(sqlite3 "$A_DATA/previewd.db" 'select id from outbox order by id' | sort) \
	<(nj '.[].id' | sort -u))
t_eq "" "$missing" "every outbox delivery id reached the receiver at least once"
t_eq "created ready deleted" \
	"$(nj '[.[] | select(.body.environment.name == "down1") | .event] | unique | sort_by({created: 0, ready: 1, deleted: 2}[.]) | join(" ")')" \
	"down1: created, ready, deleted all arrived"
t_eq 0 "$(nj '[.[] | select(.sig_ok | not)] | length')" "redelivered notifications verify too"

# ---------------------------------------------------------------- B: Slack bodies
t_begin "B: Slack format bodies"
t_eventually 10 "slk's expiry warning reached the Slack receiver" \
	bash -c "grep -q '\"x-previewd-event\": \"expiring\"' '$LOG2' && grep -q 'environment slk' '$LOG2'"
S=$(notes "$LOG2")
t_eq 0 "$(jq_of "$S" '[.[] | select((.body | type) != "object" or (.body | keys) != ["blocks", "text"] or .body.blocks[0].text.text != .body.text)] | length')" \
	"every Slack body is exactly {\"text\": ..., \"blocks\": [the text, ...]}"
t_eq 0 "$(jq_of "$S" '[.[] | select(.event != "expiring" and (.body.blocks | length) != 1)] | length')" \
	"only expiry warnings carry buttons"
t_eq 0 "$(jq_of "$S" '[.[] | select(.has_sig)] | length')" "no signature without a secret"
created=$(jq_of "$S" '[.[] | select(.event == "created" and (.body.text | test("Environment slk ")))][0].body.text')
t_match '@sam' "$created" "created: mentions @owner"
t_match 'http://slk\.env\.my' "$created" "created: names the URL"
warn=$(jq_of "$S" '[.[] | select(.event == "expiring" and (.body.text | test("environment slk ")))][0].body.text')
t_match '^@sam: environment slk \(http://slk\.env\.my\) expires in' "$warn" "expiring: mentions @owner and the URL"
t_match "curl -X PATCH http://b\\.example/v1/environments/slk .*ttl" "$warn" "expiring: the PATCH hint at PREVIEWD_PUBLIC_URL"

# ---------------------------------------------------------------- C: crash in the middle of a removal
t_begin "C: kill -9 while removals wait for Git, then restart"
for i in 1 2 3 4; do
	http POST "$C_URL/v1/environments" "{\"owner\":\"cleo\",\"name\":\"c$i\",\"ttl\":2}"
	t_eq 201 "$HTTP_STATUS" "c$i (ttl 2) created and pushed"
done
C_HEAD=$(G=$C_DATA/gitops.git g rev-parse main)
mv "$C_DATA/gitops.git" "$C_DATA/gitops.away"
for i in 1 2 3 4; do
	t_eventually 10 "c$i is deleting (expired, Git unreachable)" env_status_is "c$i" deleting "$C_URL"
done
http GET "$C_URL/v1/environments/c1"
t_eq true "$(jqr .git.pending)" "the removal is pending"
t_eventually 10 "/readyz says degraded" \
	bash -c "curl -s $C_URL/readyz | jq -e '.status == \"degraded\"' >/dev/null"
pv_kill9 "$C_PID"
t_eq "$C_HEAD" "$(G=$C_DATA/gitops.away g rev-parse main)" "nothing reached Git before the crash"
mv "$C_DATA/gitops.away" "$C_DATA/gitops.git"
pv_start "$C_DATA" "${C_ENV[@]}" || t_ok "previewd C restarts" false
pv_as C
for i in 1 2 3 4; do
	G=$C_DATA/gitops.git t_eventually 10 "env/c$i is removed after the restart" no_folder "c$i"
	t_eventually 5 "c$i is deleted" env_status_is "c$i" deleted "$C_URL"
done
http GET "$C_URL/v1/environments/c1/events"
t_eq "created ready expired deleted" "$(jqr '[.items[].kind | select(startswith("git_") | not)] | join(" ")')" \
	"c1's history: one expiry, one removal"
# the unreachable repository's errors (the push's, then the fetch's) and the end of them
t_match '^(git_error )+git_recovered deleted$' "$(jqr '[.items[].kind | select(. == "deleted" or startswith("git_"))] | join(" ")')" \
	"c1's history: the Git errors while it was away, then git_recovered and the removal"
t_eq "$(G=$C_DATA/gitops.git g rev-parse "$C_HEAD:env/dev")" "$(G=$C_DATA/gitops.git g rev-parse main:env/dev)" \
	"C: env/dev unchanged"
t_eq "ok" "$(sqlite3 "$C_DATA/previewd.db" 'PRAGMA integrity_check')" "C: SQLite integrity_check"

# ---------------------------------------------------------------- D: a slow receiver
# The receiver holds each request 30 s (PREVIEWD_WEBHOOK_TIMEOUT_MS=60000 lets
# previewd wait for it), so its log counts the deliveries that were answered,
# plus the one it holds. What must happen while it still holds the first:
# the creates are answered and an expired environment is removed. No clock
# is read; the held delivery is the yardstick.
t_begin "D: a receiver that holds each delivery 30 s delays neither requests nor reaping"
codes=
for i in 1 2 3 4 5 6; do
	codes+=$(curl -s -m 60 -o /dev/null -w '%{http_code} ' -X POST -H 'Content-Type: application/json' \
		-H 'Prefer: respond-async' -d "{\"owner\":\"sid\",\"name\":\"s$i\"}" "$D_URL/v1/environments")
done
# (202, or 201 when the push happened to land before the answer went out)
t_eq 6 "$(tr ' ' '\n' <<<"$codes" | grep -cE '^20[12]$')" "six creates with respond-async are answered ($codes)"
t_eventually 60 "the receiver is holding previewd's first delivery" test -s "$LOG3"
t_eq 1 "$(grep -c . "$LOG3")" "the creates were answered while the receiver held the first delivery"
http POST "$D_URL/v1/environments" '{"owner":"sid","name":"sr","ttl":2}'
t_eq 201 "$HTTP_STATUS" "sr (ttl 2) created and pushed despite the backlog"
G=$D_DATA/gitops.git t_eventually 60 "env/sr is removed after its expiry" no_folder sr
t_eq 1 "$(grep -c . "$LOG3")" "sr was reaped while the receiver still held the first delivery"
t_eq 0 "$(notes "$LOG3" | jq '[.[] | select(.sig_ok | not)] | length')" \
	"signatures made with PREVIEWD_WEBHOOK_SECRET_FILE verify"
t_ok "notifications were still queued ($(outbox_pending "$D_DATA/previewd.db")) while reaping went on" \
	test "$(outbox_pending "$D_DATA/previewd.db")" -ge 5
rcv_stop "$R3_PID"
pv_stop "$D_PID"
t_eq 0 "$PV_EXIT" "D stops cleanly"

echo "# runtime: ${SECONDS}s"
t_end
