#!/usr/bin/env bash
# test_pr_members.sh - who may run /preview commands on GitLab and Gitea.
#
# GitLab's Note Hook and Gitea's issue_comment carry no access level, so
# previewd asks the forge (fake_forge.py stands in for both APIs, answering
# from its control file and recording every request):
#   1. GitLab: the author needs no call; Developer (30) and Maintainer may,
#      a Reporter (20) and a non-member (404) get the polite refusal; the
#      question is GET /projects/ID/members/all/USER_ID with PRIVATE-TOKEN
#   2. Gitea: a collaborator (204) may, anyone else (404) is refused; the
#      question is GET /repos/O/R/collaborators/USER with "token T"
#   3. a forge that cannot be asked refuses, and the log says why
#
#   bash tests/integration/test_pr_members.sh        (KEEP_TMP=1 keeps the logs)
#
# shellcheck disable=SC2317  # helpers run through t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

SECRET='members hook secret'
GL_TOKEN='glpat-members-0123'
GT_TOKEN='gitea-members-4567'
printf '%s\n' "$SECRET" >"$T_TMP/secret"
printf '%s\n' "$GL_TOKEN" >"$T_TMP/gl" && printf '%s\n' "$GT_TOKEN" >"$T_TMP/gt"
LOG=$T_TMP/forge.log
CTL=$T_TMP/forge-control.json
printf '%s\n' '{"members": {"gitlab": {"77": {"12": 30, "13": 40, "14": 20}}, "gitea": {"org/tea": ["teacher"]}}}' >"$CTL"
: >"$LOG"
SHA=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa

cat >"$T_TMP/rules.yaml" <<'YAML'
repositories:
  - repo: group/lab
    forge: gitlab
    name: "lab-{number}"
  - repo: org/tea
    forge: gitea
    name: "tea-{number}"
YAML

hmac() { printf '%s' "$1" | openssl dgst -sha256 -hmac "$SECRET" | awk '{ print $NF }'; }
N=0
# gl EVENT BODY / tea EVENT BODY: a delivery with the secret; HTTP_* hold the answer.
gl() {
	N=$((N + 1))
	http POST /v1/hooks/gitlab "$2" -H 'Content-Type: application/json' -H "X-Gitlab-Event: $1" \
		-H "X-Gitlab-Event-UUID: m-$N" -H "X-Gitlab-Token: $SECRET"
}
tea() {
	N=$((N + 1))
	http POST /v1/hooks/gitea "$2" -H 'Content-Type: application/json' -H "X-Gitea-Event: $1" \
		-H "X-Gitea-Delivery: m-$N" -H "X-Gitea-Signature: $(hmac "$2")"
}
# note USER_ID USERNAME TEXT: GitLab's Note Hook on merge request 3 of project 77.
note() {
	jq -cn --argjson uid "$1" --arg who "$2" --arg text "$3" --arg sha "$SHA" '{object_kind: "note",
		event_type: "note", user: {id: $uid, name: $who, username: $who},
		project: {id: 77, path_with_namespace: "group/lab"},
		object_attributes: {id: (5000 + $uid), note: $text, noteable_type: "MergeRequest"},
		merge_request: {id: 900, iid: 3, source_branch: "fix/x", target_branch: "main", state: "opened",
			author_id: 5, last_commit: {id: $sha}}}'
}
# tea_comment LOGIN TEXT: Gitea's issue_comment on pull request 4 of org/tea.
tea_comment() {
	jq -cn --arg who "$1" --arg text "$2" '{action: "created", is_pull: true,
		issue: {number: 4, user: {login: "tea-author"}, labels: [], pull_request: {merged: false}},
		comment: {id: 77, body: $text, user: {login: $who}},
		repository: {full_name: "org/tea", name: "tea"}, sender: {login: $who}}'
}
asked() { jq -s --arg p "$1" '[.[] | select(.method == "GET" and .path == $p)] | length' "$LOG"; }
ttl_of() { curl -s -m 5 "$PV_URL/v1/environments/$1" | jq -r .ttl_seconds; }

t_begin "start-up: previewd with rules, a hook secret and the forges' tokens"
bg_start F "$T_TMP/fake.out" python3 "$T_ROOT/tests/lib/fake_forge.py" --log "$LOG" --control "$CTL" \
	--github-token unused --gitlab-token "$GL_TOKEN" --gitea-token "$GT_TOKEN"
FURL=http://127.0.0.1:$F_PORT
t_need "previewd starts" pv_start "$T_TMP/data" PREVIEWD_PR_RULES="$T_TMP/rules.yaml" \
	PREVIEWD_GIT_WEBHOOK_SECRET_FILE="$T_TMP/secret" PREVIEWD_MAX_TTL=3d \
	PREVIEWD_GITLAB_URL="$FURL" PREVIEWD_GITLAB_TOKEN_FILE="$T_TMP/gl" \
	PREVIEWD_GITEA_URL="$FURL" PREVIEWD_GITEA_TOKEN_FILE="$T_TMP/gt"

gl "Merge Request Hook" "$(jq -cn --arg sha "$SHA" '{object_kind: "merge_request", event_type: "merge_request",
	user: {id: 5, username: "labuser"}, project: {id: 77, path_with_namespace: "group/lab"},
	object_attributes: {id: 900, iid: 3, source_branch: "fix/x", target_branch: "main", state: "opened",
		action: "open", author_id: 5, last_commit: {id: $sha}}, labels: []}')"
t_eq created "$(jqr .status)" "GitLab: merge request 3 opened creates lab-3"
tea pull_request "$(jq -cn --arg sha "$SHA" '{action: "opened", number: 4,
	pull_request: {number: 4, state: "open", user: {login: "tea-author"}, labels: [],
		head: {ref: "feat", sha: $sha}, base: {ref: "main"}},
	repository: {full_name: "org/tea", name: "tea"}, sender: {login: "tea-author"}}')"
t_eq created "$(jqr .status)" "Gitea: pull request 4 opened creates tea-4"

t_begin "1. GitLab: Developer and above may, others are refused"
gl "Note Hook" "$(note 5 labuser '/preview extend 4h')"
t_eq done "$(jqr .status)" "the author's command is done"
t_eq 0 "$(asked /api/v4/projects/77/members/all/5)" "... without asking GitLab"
gl "Note Hook" "$(note 12 dev '/preview extend 8h')"
t_eq done "$(jqr .status)" "a Developer (30) may"
t_eq 1 "$(asked /api/v4/projects/77/members/all/12)" "... GitLab was asked once, for the note's user id"
t_eq 0 "$(jq -s '[.[] | select(.forge == "gitlab" and .headers["private-token"] != "'"$GL_TOKEN"'")] | length' "$LOG")" \
	"... with PRIVATE-TOKEN"
LEFT=$(ttl_of lab-3)
t_ok "... and lab-3 now expires in about 8h ($LEFT s)" test "$LEFT" -gt 28000 -a "$LEFT" -le 28800
gl "Note Hook" "$(note 13 maint '/preview redeploy')"
t_eq done "$(jqr .status)" "a Maintainer (40) may"
gl "Note Hook" "$(note 14 rep '/preview delete')"
t_eq refused "$(jqr .status)" "a Reporter (20) is refused"
t_match 'sorry' "$(jqr .detail)" "... politely"
gl "Note Hook" "$(note 15 stranger '/preview delete')"
t_eq refused "$(jqr .status)" "a non-member (404) is refused"
t_eq 1 "$(asked /api/v4/projects/77/members/all/15)" "... after asking"
t_eq active "$(curl -s -m 5 "$PV_URL/v1/environments/lab-3" | jq -r .status)" "lab-3 is still there"

t_begin "2. Gitea: a collaborator may, anyone else is refused"
tea issue_comment "$(tea_comment teacher '/preview extend 8h')"
t_eq done "$(jqr .status)" "a collaborator (204) may"
t_eq 1 "$(asked /api/v1/repos/org/tea/collaborators/teacher)" "... Gitea was asked"
t_eq 0 "$(jq -s '[.[] | select(.forge == "gitea" and .headers.authorization != "token '"$GT_TOKEN"'")] | length' "$LOG")" \
	"... with the token header"
tea issue_comment "$(tea_comment outsider '/preview delete')"
t_eq refused "$(jqr .status)" "a non-collaborator (404) is refused"
t_eq 1 "$(asked /api/v1/repos/org/tea/collaborators/outsider)" "... after asking"

t_begin "3. a forge that cannot be asked refuses"
bg_stop "$F_PID"
gl "Note Hook" "$(note 12 dev '/preview delete')"
t_eq refused "$(jqr .status)" "with GitLab down even a Developer is refused"
t_match "cannot ask gitlab whether dev may run /preview on group/lab" "$(cat "$PV_LOG")" "... and the log says why"
t_eq active "$(curl -s -m 5 "$PV_URL/v1/environments/lab-3" | jq -r .status)" "lab-3 is still there"
t_not "no token in previewd's log" grep -qF -e "$GL_TOKEN" -e "$GT_TOKEN" "$PV_LOG"
pv_stop
t_end
