#!/usr/bin/env bash
# test_pr_lifecycle.sh - pull requests become environments: the webhooks of
# GitHub (pull_request, issue_comment), GitLab (Merge Request Hook, Note
# Hook) and Gitea (pull_request, issue_comment), in the shapes their docs
# give, through PREVIEWD_PR_RULES, against a real smart-HTTP Git server.
#
# The lifecycle half of each forge's story (the forge reporter's half, the
# statuses and the sticky comment, is test_pr_status.sh):
#   1. GitHub: opened -> environment frontend-pr-7 with tag pr-7-<sha7> in
#      Git and a pull_requests row; a replayed delivery acts once; a push
#      (synchronize) updates the tag in Git and restarts idle_ttl's clock;
#      "/preview extend 4h" by the author extends it and writes the reply;
#      by an outsider, a polite refusal; closed removes the folder
#   2. the rule's filters: no label, another target branch, an unknown
#      repository (202 ignored, nothing created); a tampered signature is
#      401 and changes nothing; labeled creates, unlabeled deletes
#   3. GitLab: open, a push (update with oldrev), a note "/preview extend",
#      merge removes the folder; the project id is recorded
#   4. Gitea: opened, synchronized, an issue_comment, closed
#   5. a long branch in the name template: a DNS label of <= 53 characters
#      ending in a short hash; idle_ttl on an ordinary environment
# Waits are generous bounds, never timing assertions.
#
#   bash tests/integration/test_pr_lifecycle.sh        (KEEP_TMP=1 keeps the logs)
#
# shellcheck disable=SC2317,SC2016  # helpers run through t_eventually; jq programs in single quotes
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

WAIT=30 # seconds: a bound, not an expectation

SECRET='pr hook secret: 0b8e1d-not a token'
printf '%s\n' "$SECRET" >"$T_TMP/hook-secret"
LAB_SECRET='the frontend-lab secret'
printf '%s\n' "$LAB_SECRET" >"$T_TMP/lab-secret"

cat >"$T_TMP/rules.yaml" <<YAML
repositories:
  - repo: org/frontend
    forge: github
    name: "{repo}-pr-{number}"
    base: dev
    values:
      frontend:
        tag: "pr-{number}-{sha7}"
        branch: "{branch_slug}"
    labels: [preview]
    branches: [main]
    idle_ttl: 2d
  - repo: group/frontend-lab
    forge: gitlab
    name: "lab-{number}"
    values:
      image:
        tag: "mr-{number}-{sha7}"
    secret_file: $T_TMP/lab-secret
  - repo: org/tea
    forge: gitea
    name: "tea-{branch_slug}"
    values:
      image:
        tag: "{sha}"
YAML

hmac() { printf '%s' "$2" | openssl dgst -sha256 -hmac "$1" | awk '{ print $NF }'; }

# hook FORGE BODY HEADER...: POST BODY to /v1/hooks/FORGE; HTTP_* hold the answer.
hook() {
	local forge=$1 body=$2
	shift 2
	local hdrs=(-H 'Content-Type: application/json')
	for h in "$@"; do hdrs+=(-H "$h"); done
	http POST "/v1/hooks/$forge" "$body" "${hdrs[@]}"
}
DELIVERY=0
# gh EVENT BODY [DELIVERY]: a signed GitHub delivery.
gh() {
	DELIVERY=$((DELIVERY + 1))
	hook github "$2" "X-GitHub-Event: $1" "X-GitHub-Delivery: ${3:-gh-$DELIVERY}" \
		"X-Hub-Signature-256: sha256=$(hmac "$SECRET" "$2")"
}
# gl EVENT BODY: a GitLab delivery with the rule's own token.
gl() {
	DELIVERY=$((DELIVERY + 1))
	hook gitlab "$2" "X-Gitlab-Event: $1" "X-Gitlab-Event-UUID: gl-$DELIVERY" "X-Gitlab-Token: $LAB_SECRET"
}
# tea EVENT BODY: a signed Gitea delivery.
tea() {
	DELIVERY=$((DELIVERY + 1))
	hook gitea "$2" "X-Gitea-Event: $1" "X-Gitea-Event-Type: $1" "X-Gitea-Delivery: tea-$DELIVERY" \
		"X-Gitea-Signature: $(hmac "$SECRET" "$2")"
}

# gh_pr ACTION NUMBER SHA BRANCH LABELS [BASE] [REPO]: GitHub's pull_request payload.
gh_pr() {
	jq -cn --arg a "$1" --argjson n "$2" --arg sha "$3" --arg br "$4" --arg labels "$5" --arg base "${6:-main}" \
		--arg repo "${7:-org/frontend}" '{action: $a, number: $n,
		pull_request: {url: "https://api.github.com/repos/\($repo)/pulls/\($n)", id: (1000 + $n), number: $n,
			state: (if $a == "closed" then "closed" else "open" end), title: "A change", merged: false,
			user: {login: "Octo_Cat", id: 1, type: "User"},
			labels: ($labels | split(",") | map(select(. != "")) | map({name: ., color: "ededed"})),
			head: {label: "octo:\($br)", ref: $br, sha: $sha, repo: {full_name: $repo}},
			base: {label: "org:\($base)", ref: $base, sha: "0000000000000000000000000000000000000000"}},
		repository: {id: 42, name: ($repo | split("/") | last), full_name: $repo, private: false},
		sender: {login: "Octo_Cat", id: 1, type: "User"}}'
}
# gh_comment NUMBER LOGIN ASSOCIATION BODY: GitHub's issue_comment payload on a pull request.
gh_comment() {
	jq -cn --argjson n "$1" --arg who "$2" --arg assoc "$3" --arg body "$4" '{action: "created",
		issue: {number: $n, title: "A change", state: "open", user: {login: "Octo_Cat"},
			labels: [{name: "preview"}], pull_request: {url: "https://api.github.com/repos/org/frontend/pulls/\($n)"}},
		comment: {id: 9000, body: $body, user: {login: $who}, author_association: $assoc},
		repository: {full_name: "org/frontend", name: "frontend"}, sender: {login: $who}}'
}

# env_field NAME JQ: a field of GET /v1/environments/NAME.
env_field() { curl -s -m 5 "$PV_URL/v1/environments/$1" | jq -r "$2"; }
# git_tag NAME KEY...: the value at KEY... of env/NAME/values.yaml on the server.
git_value() { local n=$1; shift; view && yaml_get "$VIEW/env/$n/values.yaml" "$@"; }
git_value_is() { local want=$1; shift; [ "$(git_value "$@")" = "$want" ]; }
gone_from_server() { view && [ ! -e "$VIEW/env/$1" ]; }
# pr_row FORGE REPO NUMBER COLUMNS: the pull_requests row, |-separated.
pr_row() { sql "select $4 from pull_requests where forge = '$1' and repo = '$2' and number = $3"; }
events_of() { sql "select count(*) from events where name = '$1'"; }

# ---------------------------------------------------------------- start-up
t_begin "start-up: a Git server with a dev base, previewd with pull-request rules"
if ! gitserver_start "$T_TMP/git" || ! gitserver_new_repo gitops "$T_ROOT/deploy/helm-env"; then
	t_bail "cannot start the Git server"
fi
VIEW_URL=$(gitserver_url gitops)
VIEW="$T_TMP/view"
gitserver_passfile "$T_TMP/git-password"
w=$(mktemp -d "$T_TMP/person.XXXXXX")
git clone -q "$VIEW_URL" "$w" 2>/dev/null && (cd "$w" && mkdir -p env/dev &&
	printf 'replicaCount: 1\nfrontend:\n  tag: dev-stable\n' >env/dev/values.yaml && git add -A &&
	git -c user.name=Person -c user.email=p@example.com commit -qm "a dev base" && git push -q origin HEAD:main 2>/dev/null)
t_ok "a person pushed the dev base" git_value_is dev-stable dev frontend tag
PV_ARGS=(PREVIEWD_GIT_URL="$GITSERVER_URL/gitops.git" PREVIEWD_GIT_USERNAME="$GITSERVER_USER"
	PREVIEWD_GIT_PASSWORD_FILE="$T_TMP/git-password" PREVIEWD_WAIT_MS=10000 PREVIEWD_PUSH_BACKOFF_MAX_MS=300
	PREVIEWD_GIT_WEBHOOK_SECRET_FILE="$T_TMP/hook-secret" PREVIEWD_MAX_LIFETIME=7d PREVIEWD_MAX_TTL=3d)
pv_cli -m "previewd check accepts the rules file" "${PV_ARGS[@]}" PREVIEWD_PR_RULES="$T_TMP/rules.yaml" check
t_match 'pr rules .*3 rule' "$PV_OUT" "... and says how many rules it read"
printf 'repositories:\n  - repo: org/x\n    forge: bitbucket\n' >"$T_TMP/bad-rules.yaml"
pv_cli -x 1 -m "previewd check fails a rule of an unknown forge" "${PV_ARGS[@]}" PREVIEWD_PR_RULES="$T_TMP/bad-rules.yaml" check
t_match 'repositories\[0\]\.forge must be github, gitlab or gitea' "$PV_OUT" "... naming the rule and key"
printf 'repositories:\n  - repo: org/x\n    forge: github\n    name: "{repo}-{nummer}"\n' >"$T_TMP/bad-rules.yaml"
pv_cli -x 1 -m "previewd check fails an unknown placeholder" "${PV_ARGS[@]}" PREVIEWD_PR_RULES="$T_TMP/bad-rules.yaml" check
t_match 'unknown placeholder \{nummer\}' "$PV_OUT" "... naming it"
t_need "previewd starts with PREVIEWD_PR_RULES" pv_start "$T_TMP/data" "${PV_ARGS[@]}" PREVIEWD_PR_RULES="$T_TMP/rules.yaml"
t_eventually "$WAIT" "/readyz is ready" readyz_is ready

# ---------------------------------------------------------------- 1
t_begin "1. GitHub: opened, replayed, pushed, commented, closed"
SHA1=aaaaaaa1111111111111111111111111111111111
SHA2=bbbbbbb2222222222222222222222222222222222
BODY=$(gh_pr opened 7 "$SHA1" feature/Login-Page preview)
gh pull_request "$BODY" gh-open-7
t_eq 202 "$HTTP_STATUS" "a signed pull_request opened is accepted (202)"
t_eq created "$(jqr .status)" "... and creates"
t_eq frontend-pr-7 "$(jqr .environment)" "... environment {repo}-pr-{number}"
t_eventually "$WAIT" "frontend-pr-7 becomes active" env_status_is frontend-pr-7 active
t_eq "pr-7-aaaaaaa" "$(jqr .values.frontend.tag)" "its values carry the tag pr-{number}-{sha7}"
t_eq "feature-login-page" "$(jqr .values.frontend.branch)" "... and {branch_slug}"
t_eq 1 "$(jqr .values.replicaCount)" "... over the base dev"
t_eq octo-cat "$(jqr .owner)" "the owner is the pull request's author, as a name"
t_eq "github:Octo_Cat" "$(jqr .requested_by)" "the requester is the forge user"
t_eq 172800 "$(jqr .idle_ttl_seconds)" "idle_ttl 2d is on the environment"
EXP1=$(jqr .expires_at)
t_eventually "$WAIT" "Git holds env/frontend-pr-7 with the tag" git_value_is pr-7-aaaaaaa frontend-pr-7 frontend tag
t_eq "frontend-pr-7|open|$SHA1|feature/Login-Page|Octo_Cat|0" \
	"$(pr_row github org/frontend 7 'env_name, state, head_sha, head_branch, author, reply_gen')" \
	"the pull_requests row holds the environment, head and author"
EVENTS=$(events_of frontend-pr-7)
gh pull_request "$BODY" gh-open-7
t_eq 200 "$HTTP_STATUS" "the same X-GitHub-Delivery again is 200"
t_eq duplicate "$(jqr .status)" "... duplicate"
t_eq "$EVENTS" "$(events_of frontend-pr-7)" "... and acts no more (no new event)"

sleep 1 # the next expiry must be later than the first by whole seconds
gh pull_request "$(gh_pr synchronize 7 "$SHA2" feature/Login-Page preview)"
t_eq updated "$(jqr .status)" "synchronize (a push) updates"
t_eventually "$WAIT" "Git holds the new tag pr-7-bbbbbbb" git_value_is pr-7-bbbbbbb frontend-pr-7 frontend tag
t_ok "the push restarted the idle clock (expires_at later)" \
	test "$(date -d "$(env_field frontend-pr-7 .expires_at)" +%s)" -gt "$(date -d "$EXP1" +%s)"
t_eq "$SHA2" "$(pr_row github org/frontend 7 head_sha)" "the row has the new head"

gh issue_comment "$(gh_comment 7 Octo_Cat NONE $'/preview extend 4h\nthanks')"
t_eq done "$(jqr .status)" "the author's /preview extend 4h is done"
t_eq 1 "$(pr_row github org/frontend 7 reply_gen)" "... reply_gen is 1"
t_match 'extended frontend-pr-7 by 4h' "$(pr_row github org/frontend 7 reply)" "... the reply says so"
LEFT=$(env_field frontend-pr-7 .ttl_seconds)
t_ok "... and the environment expires in about 4h ($LEFT s)" test "$LEFT" -gt 14000 -a "$LEFT" -le 14400
gh issue_comment "$(gh_comment 7 stranger NONE '/preview delete')"
t_eq refused "$(jqr .status)" "an outsider's /preview delete is refused"
t_match 'sorry' "$(pr_row github org/frontend 7 reply)" "... politely, in the reply"
t_eq 2 "$(pr_row github org/frontend 7 reply_gen)" "... reply_gen is 2"
t_eq active "$(env_field frontend-pr-7 .status)" "... and the environment stays"
gh issue_comment "$(gh_comment 7 maintainer MEMBER '/preview redeploy')"
t_eq done "$(jqr .status)" "a MEMBER's /preview redeploy is done"
gh issue_comment "$(gh_comment 7 Octo_Cat NONE '/preview sleep')"
t_eq done "$(jqr .status)" "the author's /preview sleep is done"
t_eq sleeping "$(env_field frontend-pr-7 .status)" "... and the environment sleeps"
t_eventually "$WAIT" "Git holds the sleeping values (replicaCount 0)" git_value_is 0 frontend-pr-7 replicaCount
gh issue_comment "$(gh_comment 7 Octo_Cat NONE '/preview wake')"
t_eq done "$(jqr .status)" "/preview wake is done"
t_match 'woke frontend-pr-7' "$(pr_row github org/frontend 7 reply)" "... the reply says so"
t_eq active "$(env_field frontend-pr-7 .status)" "... and the environment is awake"
t_eventually "$WAIT" "Git holds the awake values again (replicaCount 1)" git_value_is 1 frontend-pr-7 replicaCount
gh issue_comment "$(gh_comment 7 Octo_Cat NONE 'looks good to me')"
t_eq ignored "$(jqr .status)" "a comment without a command is ignored"
t_eq 5 "$(pr_row github org/frontend 7 reply_gen)" "... and writes no reply"

gh pull_request "$(gh_pr closed 7 "$SHA2" feature/Login-Page preview)"
t_eq deleting "$(jqr .status)" "closed deletes"
t_eventually "$WAIT" "env/frontend-pr-7 is gone from Git" gone_from_server frontend-pr-7
t_eventually "$WAIT" "the environment ends deleted" env_status_is frontend-pr-7 deleted
t_eq closed "$(pr_row github org/frontend 7 state)" "the row is closed"

# ---------------------------------------------------------------- 2
t_begin "2. filters, unknown repositories, signatures"
gh pull_request "$(gh_pr opened 8 "$SHA1" nolabel '')"
t_eq ignored "$(jqr .status)" "a pull request without the label preview is ignored"
t_match 'not labelled preview' "$(jqr .detail)" "... saying why"
gh pull_request "$(gh_pr opened 9 "$SHA1" other preview develop)"
t_eq ignored "$(jqr .status)" "a pull request into develop is ignored"
gh pull_request "$(gh_pr opened 10 "$SHA1" x preview main org/unknown)"
t_eq 202 "$HTTP_STATUS" "a repository with no rule is 202"
t_eq ignored "$(jqr .status)" "... ignored"
t_match 'no rule' "$(jqr .detail)" "... no rule"
BODY=$(gh_pr opened 11 "$SHA1" tampered preview)
hook github "$BODY" "X-GitHub-Event: pull_request" "X-GitHub-Delivery: t-1" \
	"X-Hub-Signature-256: sha256=$(hmac "$SECRET" "${BODY/tampered/tamperes}")"
t_eq 401 "$HTTP_STATUS" "a tampered pull_request is 401"
t_eq 0 "$(sql "select count(*) from pull_requests where number in (8, 9, 10, 11)")" "none of them made a row"
t_eq 0 "$(sql "select count(*) from envs where name in ('frontend-pr-8', 'frontend-pr-9', 'unknown-pr-10', 'frontend-pr-11')")" \
	"... nor an environment"
gh pull_request "$(gh_pr labeled 8 "$SHA1" nolabel preview)"
t_eq created "$(jqr .status)" "labelling #8 preview creates its environment"
t_eventually "$WAIT" "frontend-pr-8 is in Git" on_server frontend-pr-8
gh pull_request "$(gh_pr unlabeled 8 "$SHA1" nolabel '')"
t_eq deleting "$(jqr .status)" "removing the label deletes it"
t_eventually "$WAIT" "frontend-pr-8 is gone from Git" gone_from_server frontend-pr-8

# ---------------------------------------------------------------- 3
t_begin "3. GitLab: open, push, note, merge"
gl_mr() { # ACTION IID SHA [OLDREV]
	jq -cn --arg a "$1" --argjson n "$2" --arg sha "$3" --arg old "${4:-}" '{object_kind: "merge_request",
		event_type: "merge_request", user: {id: 5, name: "Lab User", username: "labuser"},
		project: {id: 77, name: "frontend-lab", path_with_namespace: "group/frontend-lab"},
		object_attributes: ({id: 900, iid: $n, source_branch: "fix/x", target_branch: "main",
			state: (if $a == "merge" then "merged" else "opened" end), action: $a, author_id: 5,
			last_commit: {id: $sha, message: "m"}} + (if $old != "" then {oldrev: $old} else {} end)),
		labels: []}'
}
gl "Merge Request Hook" "$(gl_mr open 3 "$SHA1")"
t_eq created "$(jqr .status)" "a GitLab merge request opened creates"
t_eq lab-3 "$(jqr .environment)" "... lab-3"
t_eventually "$WAIT" "Git holds mr-3-aaaaaaa" git_value_is mr-3-aaaaaaa lab-3 image tag
t_eq "77|labuser" "$(pr_row gitlab group/frontend-lab 3 'project_id, author')" "the row has the project id and author"
hook gitlab "$(gl_mr open 4 "$SHA1")" "X-Gitlab-Event: Merge Request Hook" "X-Gitlab-Token: $SECRET"
t_eq 401 "$HTTP_STATUS" "the global secret does not open a repository with its own"
gl "Merge Request Hook" "$(gl_mr update 3 "$SHA2")"
t_eq ok "$(jqr .status)" "an update without oldrev (an edit) changes nothing"
gl "Merge Request Hook" "$(gl_mr update 3 "$SHA2" "$SHA1")"
t_eq updated "$(jqr .status)" "an update with oldrev (a push) updates"
t_eventually "$WAIT" "Git holds mr-3-bbbbbbb" git_value_is mr-3-bbbbbbb lab-3 image tag
NOTE=$(jq -cn --arg sha "$SHA2" '{object_kind: "note", event_type: "note",
	user: {id: 5, username: "labuser"}, project: {id: 77, path_with_namespace: "group/frontend-lab"},
	object_attributes: {id: 1, note: "/preview extend 6h", noteable_type: "MergeRequest"},
	merge_request: {iid: 3, author_id: 5, source_branch: "fix/x", target_branch: "main", last_commit: {id: $sha}}}')
gl "Note Hook" "$NOTE"
t_eq done "$(jqr .status)" "the author's note /preview extend 6h is done"
t_match 'extended lab-3 by 6h' "$(pr_row gitlab group/frontend-lab 3 reply)" "... in the reply"
gl "Note Hook" "$(jq -c '.user = {id: 6, username: "other"}' <<<"$NOTE")"
t_eq refused "$(jqr .status)" "another user's note is refused (GitLab: the author and commenters)"
gl "Merge Request Hook" "$(gl_mr merge 3 "$SHA2")"
t_eq deleting "$(jqr .status)" "merge deletes"
t_eventually "$WAIT" "lab-3 is gone from Git" gone_from_server lab-3

# ---------------------------------------------------------------- 4
t_begin "4. Gitea: opened, synchronized, commented, closed"
tea_pr() { gh_pr "$1" "$2" "$3" Tea_Branch '' main org/tea; }
tea pull_request "$(tea_pr opened 5 "$SHA1")"
t_eq created "$(jqr .status)" "a Gitea pull request opened creates"
t_eq tea-tea-branch "$(jqr .environment)" "... named by {branch_slug}"
t_eventually "$WAIT" "Git holds the full sha" git_value_is "$SHA1" tea-tea-branch image tag
tea pull_request "$(tea_pr synchronized 5 "$SHA2")"
t_eq updated "$(jqr .status)" "synchronized updates"
t_eventually "$WAIT" "Git holds the new sha" git_value_is "$SHA2" tea-tea-branch image tag
TC=$(jq -cn '{action: "created", issue: {number: 5, user: {login: "Octo_Cat"}, pull_request: {merged: false}},
	comment: {id: 3, body: "/preview extend 2h", user: {login: "Octo_Cat"}},
	repository: {full_name: "org/tea", name: "tea"}, sender: {login: "Octo_Cat"}, is_pull: true}')
tea issue_comment "$TC"
t_eq done "$(jqr .status)" "the author's issue_comment /preview extend 2h is done"
tea pull_request "$(tea_pr closed 5 "$SHA2")"
t_eq deleting "$(jqr .status)" "closed deletes"
t_eventually "$WAIT" "tea-tea-branch is gone from Git" gone_from_server tea-tea-branch

# ---------------------------------------------------------------- 5
t_begin "5. long names, and idle_ttl on an ordinary environment"
LONG="feature/$(printf 'very-long-branch-name-%.0s' 1 2 3 4)"
cat >"$T_TMP/rules2.yaml" <<YAML
repositories:
  - repo: org/frontend
    forge: github
    name: "{repo}-{branch}"
YAML
pv_stop
t_need "previewd starts with a branch-named rule" pv_start "$T_TMP/data" "${PV_ARGS[@]}" PREVIEWD_PR_RULES="$T_TMP/rules2.yaml"
gh pull_request "$(gh_pr opened 20 "$SHA1" "$LONG" '')"
t_eq created "$(jqr .status)" "a pull request of a long branch creates"
N20=$(jqr .environment)
t_ok "its name has at most 53 characters ($N20)" test "${#N20}" -le 53
t_match '^frontend-feature-very-long-branch-name-.*-[0-9a-f]{6}$' "$N20" "... cut, with a short hash"
gh pull_request "$(gh_pr opened 21 "$SHA1" "${LONG}x" '')"
t_not "a longer branch with the same start gets another name" test "$(jqr .environment)" = "$N20"

http POST /v1/environments '{"owner":"bob","name":"idle-bob","idle_ttl":"2h","values":{"a":1}}'
t_eq 201 "$HTTP_STATUS" "an ordinary create takes idle_ttl"
t_eq 7200 "$(jqr .idle_ttl_seconds)" "... idle_ttl_seconds 7200"
LEFT=$(jqr .ttl_seconds)
t_ok "... and expires in about 2h ($LEFT s)" test "$LEFT" -gt 7000 -a "$LEFT" -le 7200
http PATCH /v1/environments/idle-bob '{"ttl":"10m"}'
t_ok "a ttl PATCH brings the expiry in" test "$(jqr .ttl_seconds)" -le 600
http PATCH /v1/environments/idle-bob '{"values":{"a":2}}'
t_ok "a values PATCH is activity: the idle clock runs again (about 2h)" test "$(jqr .ttl_seconds)" -gt 7000
http POST /v1/environments '{"owner":"bob","name":"idle-never","idle_ttl":"never"}'
t_eq 422 "$HTTP_STATUS" "idle_ttl never is 422"
pv_stop
t_end
