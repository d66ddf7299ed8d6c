#!/usr/bin/env bash
# ctest-labels: concurrent
# test_drift.sh — the API never lies about Git (issue 12, point 4).
#
# Two previewd instances, each on its embedded default repository, fetching
# every second (PREVIEWD_GIT_POLL=1s), with a webhook receiver so that the
# outbox records notifications.  A person changes the branch behind their
# backs: pushes a folder's removal, pushes an edit of values.yaml, and
# resets the branch on the server to an older commit (a history rewrite).
#   R  PREVIEWD_ON_DRIFT=restore (the default): previewd's state comes back
#   A  PREVIEWD_ON_DRIFT=accept: the outside change is taken into the record
# Either way: a "drift" event, a "drift" notification in the outbox,
# previewd_drift_total in /metrics, and git.commit names a commit on the
# branch.  Waits are generous bounds, never timing assertions.
#
#   bash tests/integration/test_drift.sh        (KEEP_TMP=1 keeps the logs)
#
# shellcheck disable=SC2317,SC2016  # helpers run through t_eventually; jq programs in single quotes
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

WAIT=30  # seconds: a bound, not an expectation (a poll is 1 s)

# person MESSAGE SCRIPT: clone $G, run SCRIPT in the clone, commit what it
# changed as a person and push it to main.
person() {
	local w
	w=$(mktemp -d "$T_TMP/person.XXXXXX")
	git clone -q "$G" "$w" 2>/dev/null &&
		(cd "$w" && eval "$2" && git add -A &&
			git -c user.name=Person -c user.email=person@example.com commit -qm "$1" &&
			git push -q origin HEAD:main 2>/dev/null)
}

# on_branch NAME [BASE_URL]: environment NAME's git.commit is on main in $G.
on_branch() {
	local c
	c=$(jq_of "$(curl -s "${2:-$PV_URL}/v1/environments/$1")" '.git.commit')
	[ -n "$c" ] && [ "$c" != null ] && g merge-base --is-ancestor "$c" main 2>/dev/null
}

# drift_event NAME CHANGE ACTION [BASE_URL]: the history of NAME has a drift
# event with that change and action, naming a commit.
drift_event() {
	local body
	body=$(curl -s "${4:-$PV_URL}/v1/environments/$1/events")
	[ "$(jq_of "$body" --arg c "$2" --arg a "$3" \
		'[.items[] | select(.kind == "drift" and .detail.change == $c and .detail.action == $a
			and (.detail.commit | length) == 40)] | length')" -ge 1 ]
}

# drift_metric [BASE_URL]: previewd_drift_total from /metrics.
drift_metric() {
	curl -s "${1:-$PV_URL}/metrics" | awk '$1 == "previewd_drift_total" { print $2 }'
}

# outbox_drifts DB: drift notifications queued in DB.
outbox_drifts() { sqlite3 -cmd '.timeout 5000' "$1" "select count(*) from outbox where kind = 'drift'"; }

# values_blob NAME: the blob id of env/NAME/values.yaml on main in $G.
values_blob() { g rev-parse "main:env/$1/values.yaml" 2>/dev/null; }

values_blob_is() { [ "$(values_blob "$1")" = "$2" ]; }
metric_at_least() { local n; n=$(drift_metric "$2"); [ -n "$n" ] && [ "$n" -ge "$1" ]; }
outbox_at_least() { [ "$(outbox_drifts "$2")" -ge "$1" ]; }
value_is() { [ "$(jq_of "$(curl -s "$PV_URL/v1/environments/$1")" "$2")" = "$3" ]; }

# create OWNER NAME: create environment NAME on $PV_URL, pushed (201).
create() {
	http POST "$PV_URL/v1/environments" "{\"owner\":\"$1\",\"name\":\"$2\"}"
	t_eq 201 "$HTTP_STATUS" "$2 created and pushed"
}

# ---------------------------------------------------------------- start-up
t_begin "start-up: a receiver and two previewd instances polling every second"
LOG=$T_TMP/hooks.jsonl
: >"$LOG"
t_need "receiver starts" rcv_start R1 "$LOG"
COMMON=(PREVIEWD_GIT_POLL=1s PREVIEWD_WAIT_MS=10000 PREVIEWD_PUSH_BACKOFF_MAX_MS=300
	PREVIEWD_WEBHOOK_URL="http://127.0.0.1:$R1_PORT/hook" PREVIEWD_WEBHOOK_BACKOFF_MAX=1s)
R_DATA=$T_TMP/r A_DATA=$T_TMP/a
t_need "previewd R (restore) starts" pv_start "$R_DATA" "${COMMON[@]}"
pv_as R
t_need "previewd A (accept) starts" pv_start "$A_DATA" "${COMMON[@]}" PREVIEWD_ON_DRIFT=accept
pv_as A
t_ok "both instances are up" true

# ---------------------------------------------------------------- R: restore
t_begin "R: a folder deleted by hand comes back"
PV_URL=$R_URL G=$R_DATA/gitops.git DB=$R_DATA/previewd.db
for n in hand edit; do create rita "$n"; done
BEFORE_RESET=$(head_commit)
create rita rewound
t_ok "person removes env/hand and pushes" person "remove hand" 'git rm -rq env/hand'
t_eventually "$WAIT" "env/hand is back on main" has_folder hand
t_eventually "$WAIT" "the history of hand has drift: deleted, restored" drift_event hand deleted restored
t_eq active "$(env_status hand)" "hand is still active"
t_ok "hand's git.commit is on the branch" on_branch hand
t_eq 2 "$(g ls-tree --name-only main env/hand/ | wc -l | tr -d ' ')" "both of previewd's files are back"

t_begin "R: a hand edit of values.yaml is put back"
EDIT_BLOB=$(values_blob edit)
t_ok "person edits env/edit/values.yaml and pushes" person "edit edit" \
	'printf "replicaCount: 7\n" >env/edit/values.yaml'
t_eventually "$WAIT" "previewd's values.yaml of edit is back" values_blob_is edit "$EDIT_BLOB"
t_eventually "$WAIT" "the history of edit has drift: values, restored" drift_event edit values restored
t_ok "edit's git.commit is on the branch" on_branch edit

t_begin "R: a branch reset to an older commit (history rewrite)"
t_ok "the server's main is reset to before rewound" g update-ref refs/heads/main "$BEFORE_RESET"
t_eventually "$WAIT" "env/rewound is back on main" has_folder rewound
t_eventually "$WAIT" "the history of rewound has drift: deleted, restored" drift_event rewound deleted restored
http GET "$PV_URL/v1/environments/rewound/events"
t_eq true "$(jqr '[.items[] | select(.kind == "drift")][0].detail.rewritten')" "the event says the history was rewritten"
t_eq active "$(env_status rewound)" "rewound is still active"
t_eventually "$WAIT" "rewound's git.commit is on the branch" on_branch rewound
for n in hand edit; do
	t_ok "$n's git.commit is on the rewritten branch" on_branch "$n"
	t_ok "env/$n is still on main" has_folder "$n"
done

t_begin "R: counted and notified"
t_eventually "$WAIT" "/metrics: previewd_drift_total >= 3" metric_at_least 3
t_eventually "$WAIT" "the outbox holds >= 3 drift notifications" outbox_at_least 3 "$DB"
t_eventually "$WAIT" "the receiver got a drift notification" grep -q '"x-previewd-event": "drift"' "$LOG"

# ---------------------------------------------------------------- A: accept
t_begin "A: a folder deleted by hand deletes the record"
PV_URL=$A_URL G=$A_DATA/gitops.git DB=$A_DATA/previewd.db
for n in gone edited; do create hugo "$n"; done
t_ok "person removes env/gone and pushes" person "remove gone" 'git rm -rq env/gone'
t_eventually "$WAIT" "gone becomes deleted" env_status_is gone deleted
t_ok "the history of gone has drift: deleted, accepted" drift_event gone deleted accepted
t_ok "gone's git.commit is on the branch" on_branch gone
sleep 2  # two polls: nothing puts it back
t_ok "env/gone stays away" no_folder gone

t_begin "A: a hand edit of values.yaml is adopted"
t_ok "person edits env/edited/values.yaml and pushes" person "edit edited" \
	'printf "replicaCount: 7\nimage:\n  tag: \"v2\"\n" >env/edited/values.yaml'
PERSON_BLOB=$(values_blob edited)
t_eventually "$WAIT" "edited's values are the person's" value_is edited .values.image.tag v2
t_ok "replicaCount adopted" value_is edited .values.replicaCount 7
t_ok "the history of edited has drift: values, accepted" drift_event edited values accepted
t_ok "edited's git.commit is on the branch" on_branch edited
t_eq active "$(env_status edited)" "edited is still active"
sleep 2
t_eq "$PERSON_BLOB" "$(values_blob edited)" "the person's values.yaml is left as it is"

t_begin "A: a branch reset to an older commit deletes what it lost"
BEFORE_RESET=$(head_commit)
create hugo rewound
t_ok "the server's main is reset to before rewound" g update-ref refs/heads/main "$BEFORE_RESET"
t_eventually "$WAIT" "rewound becomes deleted" env_status_is rewound deleted
t_ok "the history of rewound has drift: deleted, accepted" drift_event rewound deleted accepted
t_ok "rewound's git.commit is on the branch" on_branch rewound
t_ok "env/rewound stays away" no_folder rewound
t_ok "edited's git.commit is on the rewritten branch" on_branch edited
t_ok "edited keeps the person's values" value_is edited .values.image.tag v2

t_begin "A: counted and notified"
t_eventually "$WAIT" "/metrics: previewd_drift_total >= 3" metric_at_least 3 "$A_URL"
t_eventually "$WAIT" "the outbox holds >= 3 drift notifications" outbox_at_least 3 "$DB"

t_end
