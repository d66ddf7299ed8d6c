#!/usr/bin/env bash
# Issue 12, point 1: a previewd.json previewd did not write grants nothing.
# A person's hand-written marker in env/prod, a copied folder (env/t1 to
# env/prod2, with a NOTES.md), a tampered marker under a live environment,
# a marker of an earlier version (upgraded, not disowned), reaping a folder
# people added a file to, and `recover` over copied and tampered markers,
# on a fresh data dir, with and without --adopt-foreign.
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

DATA=$T_TMP/p
G=$DATA/gitops.git
P_ENV=(PREVIEWD_MIN_TTL=1 PREVIEWD_DEFAULT_TTL=1h PREVIEWD_PUSH_BACKOFF_MAX_MS=300)
PORT=

# person MESSAGE SCRIPT: run SCRIPT in a clone of $G, commit as a person, push
person() {
	local w
	w=$(t_mktemp person)
	git clone -q "$G" "$w/w" || return 1
	(cd "$w/w" && bash -c "$2" && git add -A &&
		git -c user.name=human -c user.email=h@x commit -qm "$1" && git push -q origin HEAD:main)
}

# recover_in DIR [ARGS...]: `previewd recover` on data dir DIR, a clone of
# $G; stdout to OUT, stderr to ERR, exit status to RC
recover_in() {
	local dir=$1
	shift
	pv_cli -m "previewd recover $* exits 0, no sanitizer report" PREVIEWD_DATA_DIR="$dir" \
		PREVIEWD_GIT_URL="file://$G" recover "$@"
	OUT=$PV_OUT RC=$PV_RC ERR=$PV_ERR
	[ -z "$ERR" ] || sed 's/^/# /' <<<"$ERR"
}

t_begin "set-up: previewd and three environments"
t_need "previewd starts" pv_start_on PORT "$DATA" "${P_ENV[@]}"
http POST /v1/environments '{"owner":"tom","name":"t1","ttl":25}'
t_eq 201 "$HTTP_STATUS" "t1 (ttl 25 s) created"
for n in leg hij; do
	http POST /v1/environments "{\"owner\":\"$n-team\",\"name\":\"$n\",\"values\":{\"tag\":\"v1\"}}"
	t_eq 201 "$HTTP_STATUS" "$n created"
done
INSTANCE=$(sql 'select id from instance')
t_match '^[0-9a-f]{32}$' "$INSTANCE" "the database has an instance id"
T1_ID=$(sql "select id from envs where name = 't1'")
t_eq "$INSTANCE" "$(g show main:env/t1/previewd.json | jq -r .instance)" "t1's previewd.json names the instance"
t_eq "$T1_ID" "$(g show main:env/t1/previewd.json | jq -r .id)" "and t1's record id"
t_eq t1 "$(g show main:env/t1/previewd.json | jq -r .name)" "and the folder's name"

t_begin "a person writes markers by hand and copies a folder"
person "by hand: markers" '
	echo "{}" >env/prod/previewd.json
	cp -r env/t1 env/prod2 && echo "prod2 notes" >env/prod2/NOTES.md
	echo "t1 notes" >env/t1/NOTES.md
	jq "del(.instance, .id)" env/leg/previewd.json >m && mv m env/leg/previewd.json
	echo "{}" >env/hij/previewd.json'
t_eq 0 $? "the person's commit is pushed"
PROD_TREE=$(g rev-parse main:env/prod) PROD2_TREE=$(g rev-parse main:env/prod2) HIJ_TREE=$(g rev-parse main:env/hij)
# a restart fetches: previewd sees the markers
pv_stop
t_need "previewd restarts" pv_start_on PORT "$DATA" "${P_ENV[@]}"

t_begin "a hand-written env/prod/previewd.json grants nothing"
http POST /v1/environments '{"owner":"eve","name":"prod","values":{"tag":"evil"}}'
t_eq 409 "$HTTP_STATUS" "POST {name: prod} is 409"
t_match 'previewd.json this previewd did not write' "$(jqr .detail)" "and says the previewd.json is not previewd's"
http DELETE /v1/environments/prod
t_eq 404 "$HTTP_STATUS" "DELETE prod is 404"
http POST /v1/environments '{"owner":"eve","name":"prod2"}'
t_eq 409 "$HTTP_STATUS" "a create of prod2, a copy of env/t1, is 409"

t_begin "a marker tampered under a live environment"
# the restart's first fetch compares the folders with the records (drift):
# hij's previewd.json changed, and restoring it meets a marker previewd did
# not write, so the row fails with the reason instead of taking the folder
t_eventually 30 "hij is failed once the writer meets the marker" env_status_is hij failed
t_match 'env/hij carries a previewd.json that previewd did not write' "$(jqr .git.error)" "git.error says why"
http DELETE /v1/environments/hij
t_eq 404 "$HTTP_STATUS" "a DELETE of hij then finds no live environment"
t_eq "$HIJ_TREE" "$(g rev-parse main:env/hij)" "env/hij is untouched"

t_begin "a marker of an earlier version is upgraded, not disowned"
http PATCH /v1/environments/leg '{"values":{"tag":"v2"}}'
t_eq 200 "$HTTP_STATUS" "PATCH leg is 200"
leg_upgraded() { [ "$(g show main:env/leg/previewd.json | jq -r .instance)" = "$INSTANCE" ]; }
t_eventually 10 "env/leg/previewd.json names the instance again" leg_upgraded
t_eq "$(sql "select id from envs where name = 'leg'")" "$(g show main:env/leg/previewd.json | jq -r .id)" "and leg's record id"
t_match 'tag: v2' "$(g show main:env/leg/values.yaml)" "the change is in values.yaml"
t_eventually 10 "leg is active" env_status_is leg active
t_eq null "$(jqr .git.error)" "with no Git error"

t_begin "recover on a fresh data dir adopts no copy"
recover_in "$T_TMP/fresh1"
t_eq 0 "$RC" "recover exits 0"
t_eq "recovered 2 environment(s) from Git; 0 already known; 3 skipped" "$OUT" "t1 and leg restored, three skipped"
t_match "skipped env/prod2: previewd.json names 't1', not this folder" "$ERR" "prod2, a copy of t1, is skipped with the reason"
t_match "skipped env/prod: previewd.json is not previewd's" "$ERR" "the hand-written env/prod marker is skipped"
t_match "skipped env/hij: " "$ERR" "and env/hij's"
t_match "the new database is instance $INSTANCE" "$ERR" "the fresh database takes the markers' instance"
t_eq "leg t1" "$(DB=$T_TMP/fresh1/previewd.db sql "select group_concat(name, ' ') from (select name from envs order by name)")" \
	"the fresh database holds t1 and leg only"

t_begin "t1's reaping removes only previewd's files"
t_eventually 40 "t1 expires and is deleted" env_status_is t1 deleted
t_eq "t1 notes" "$(g show main:env/t1/NOTES.md 2>/dev/null)" "env/t1/NOTES.md, a person's, survives"
t_not "env/t1/values.yaml is removed" g rev-parse --verify -q main:env/t1/values.yaml
t_not "env/t1/previewd.json is removed" g rev-parse --verify -q main:env/t1/previewd.json
t_eq "$PROD2_TREE" "$(g rev-parse main:env/prod2)" "env/prod2, the copy, is untouched"
t_eq "$PROD_TREE" "$(g rev-parse main:env/prod)" "env/prod is untouched"
http GET /v1/environments/t1/events
t_match 'env/t1 keeps 1 file' "$(jqr '[.items[] | select(.kind == "deleted") | .detail.leftover] | join(" ")')" \
	"the deleted event reports the leftover folder"
t_match 'env/t1 keeps 1 file' "$(cat "$PV_LOG")" "and so does the log"
http POST /v1/environments '{"owner":"tom","name":"t1"}'
t_eq 409 "$HTTP_STATUS" "the leftover env/t1 is people's now: a create of t1 is 409"

t_begin "recover over tampered markers"
person "by hand: tampered markers" '
	mk() { mkdir -p env/$1 && cp env/leg/values.yaml env/$1/ && jq "$2" env/leg/previewd.json >env/$1/previewd.json; }
	mk tn ".name=\"tn\" | .owner=\"Bad Owner\""
	mk tt ".name=\"tt\" | .expires_at=\"soon\""
	mk tc ".name=\"tc\" | .created_at=\"yesterday\""
	mk tb ".name=\"tb\" | .base=\"../x\""
	mk tk ".name=\"tk\" | .cluster=\"UPPER!\""
	mk tf ".name=\"tf\" | .instance=\"ffffffffffffffffffffffffffffffff\" | .id=7"
	mk tl ".name=\"tl\" | del(.instance, .id)"'
t_eq 0 $? "the tampered markers are pushed"
recover_in "$T_TMP/fresh2"
t_eq 0 "$RC" "recover exits 0"
t_eq "recovered 0 environment(s) from Git; 0 already known; 11 skipped" "$OUT" \
	"markers of two instances: a fresh database adopts none"
t_match "the markers name several instances" "$ERR" "and says so"
t_match "skipped env/tn: previewd.json: owner " "$ERR" "a bad owner is skipped with the reason"
t_match "skipped env/tt: previewd.json: expires_at is not an RFC 3339 time" "$ERR" "an unparsable expiry is an error"
t_match "skipped env/tc: previewd.json: created_at is not an RFC 3339 time" "$ERR" "a bad creation time too"
t_match "skipped env/tb: previewd.json: base " "$ERR" "a bad base too"
t_match "skipped env/tk: previewd.json: cluster " "$ERR" "a bad cluster too"
t_match "skipped env/tf: a marker of instance f{32}, not of this one" "$ERR" "another instance's marker is skipped"
t_match "skipped env/tl: a marker of an earlier previewd" "$ERR" "an instance-less marker too"
recover_in "$T_TMP/fresh2" --adopt-foreign
t_eq 0 "$RC" "recover --adopt-foreign exits 0"
t_eq "recovered 3 environment(s) from Git; 0 already known; 8 skipped" "$OUT" "adopts leg, tf and tl, nothing tampered"
t_match "adopting env/tf, a marker of instance f{32}" "$ERR" "and lists what it adopts"
t_match "adopting env/tl, a marker of an earlier previewd" "$ERR" "an earlier version's too"
t_eq "leg tf tl" "$(DB=$T_TMP/fresh2/previewd.db sql "select group_concat(name, ' ') from (select name from envs order by name)")" \
	"the database holds exactly those"
t_eq 0 "$(DB=$T_TMP/fresh2/previewd.db sql "select count(*) from envs where name = 'tt'")" \
	"tt's unparsable expiry never became never-expires"

t_end
