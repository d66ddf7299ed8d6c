#!/usr/bin/env bash
# ctest-labels: integration concurrent
# The status of each pull request's environment on the pull request (issue
# 15, the forge half): pv-forge against loopback stand-ins of the GitHub,
# GitLab and Gitea REST APIs (tests/lib/fake_forge.py, which records every
# request).  The pull_requests rows are written here with sqlite3, as the
# pull-request lifecycle writes them; the environments are real ones made
# through the API and pushed to the embedded repository.
#
# A story per forge: opened -> the environment in Git -> a deployment /
# commit status and one sticky comment carry its URL -> a push (new head,
# new tag) -> a comment command's reply -> closed and the environment
# deleted -> inactive, and the comment says so; edited in place throughout.
# Then a forge that answers rate-limited (429 Retry-After, 403
# X-RateLimit-Reset): nothing is accepted meanwhile, everything arrives
# after, and the tokens are never logged.
# shellcheck disable=SC2317  # helpers run through t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

GH_TOKEN='ghs_fakeInstallationToken0123456789'
GL_TOKEN='glpat-fakeGitlabToken-4567'
GT_TOKEN='gitea-fake-token-89abcdef'
SHA1=1111111111111111111111111111111111111111
SHA2=2222222222222222222222222222222222222222
LOG=$T_TMP/forge.log
CTL=$T_TMP/forge-control.json
ctl() { printf '%s\n' "$1" >"$CTL.tmp" && mv -f "$CTL.tmp" "$CTL"; }
ctl '{}'
: >"$LOG"
printf '%s\n' "$GH_TOKEN" >"$T_TMP/gh" && printf '%s\n' "$GL_TOKEN" >"$T_TMP/gl" && printf '%s\n' "$GT_TOKEN" >"$T_TMP/gt"

# reqs JQ_SELECT: the logged requests that pass the select, as an array
reqs() { jq -s "[.[] | select($1)]" "$LOG"; }
count() { reqs "$1" | jq length; }
has() { [ "$(count "$1")" -ge "${2:-1}" ]; }
# t_eventually runs its command again each time: a "$(...)" in its
# arguments would be read once, so each check that queries is a function
reported() { test -n "$(sql "SELECT comment_id FROM pull_requests WHERE number = $1 AND reported LIKE '%\"ready\"%'")"; }
held() { test "$(sql "SELECT count(*) FROM pull_requests WHERE number IN (11, 12) AND next_attempt_at > strftime('%s','now')")" = 2; }

t_begin "pv-forge starts with the forges' tokens"
bg_start F "$T_TMP/fake.out" python3 "$T_ROOT/tests/lib/fake_forge.py" --log "$LOG" --control "$CTL" \
	--github-token "$GH_TOKEN" --gitlab-token "$GL_TOKEN" --gitea-token "$GT_TOKEN"
FURL=http://127.0.0.1:$F_PORT
t_need "previewd starts" pv_start "$T_TMP/data" PREVIEWD_GITHUB_API_URL="$FURL" \
	PREVIEWD_GITHUB_TOKEN_FILE="$T_TMP/gh" PREVIEWD_GITLAB_URL="$FURL/" PREVIEWD_GITLAB_TOKEN_FILE="$T_TMP/gl" \
	PREVIEWD_GITEA_URL="$FURL" PREVIEWD_GITEA_TOKEN_FILE="$T_TMP/gt" PREVIEWD_LOG_LEVEL=debug
t_match 'reporting pull requests.* to github' "$(cat "$PV_LOG")" "the log names the forges reported to"

# pr FORGE REPO NUMBER ENV SHA [PROJECT_ID]: the row the lifecycle writes on "opened"
pr() {
	sql "INSERT INTO pull_requests (forge, repo, project_id, number, env_name, state, head_sha, head_branch, author, updated_at)
	     VALUES ('$1', '$2', ${6:-NULL}, $3, '$4', 'open', '$5', 'feature-x', 'octocat', strftime('%s','now'))"
}
env_new() { http POST /v1/environments "{\"owner\":\"octocat\",\"name\":\"$1\",\"values\":{\"frontend\":{\"tag\":\"pr-$2\"}}}"; }

for forge in github gitlab gitea; do
	case $forge in
	github) name=frontend-pr-7 repo=org/frontend n=7 pid='' ;;
	gitlab) name=api-pr-8 repo=group/sub/api n=8 pid=42 ;;
	gitea) name=web-pr-9 repo=team/web n=9 pid='' ;;
	esac
	url=http://$name.env.my

	t_begin "$forge: opened"
	env_new "$name" "$n-1111111"
	t_eq 201 "$HTTP_STATUS" "$forge: the environment is created"
	pr "$forge" "$repo" "$n" "$name" "$SHA1" "$pid"
	http PATCH "/v1/environments/$name" '{"ttl":"8h"}' # a write kicks pv-forge, as the lifecycle's does
	case $forge in
	github)
		t_eventually 30 "github: a deployment of the head to preview/$name" \
			has ".method == \"POST\" and .path == \"/repos/$repo/deployments\" and .json.ref == \"$SHA1\" and .json.environment == \"preview/$name\""
		t_eventually 30 "github: its status success with environment_url" \
			has ".path | test(\"^/repos/$repo/deployments/[0-9]+/statuses\$\")) | select(.json.state == \"success\" and .json.environment_url == \"$url\""
		t_eq 0 "$(count '.headers.authorization != "Bearer '"$GH_TOKEN"'"')" "github: every request carries the token as Bearer"
		t_eq 0 "$(count '.headers["x-github-api-version"] != "2022-11-28" or .headers.accept != "application/vnd.github+json"')" \
			"github: the API version and media type on every request"
		cpath="/repos/$repo/issues/$n/comments" epath="^/repos/$repo/issues/comments/[0-9]+\$" emeth=PATCH ;;
	gitlab)
		t_eventually 30 "gitlab: a commit status preview/$name on the head with target_url" \
			has ".method == \"POST\" and .path == \"/api/v4/projects/42/statuses/$SHA1\" and .json.state == \"success\" and .json.name == \"preview/$name\" and .json.target_url == \"$url\""
		t_eq 0 "$(count '.forge == "gitlab" and .headers["private-token"] != "'"$GL_TOKEN"'"')" "gitlab: PRIVATE-TOKEN on every request"
		cpath="/api/v4/projects/42/merge_requests/$n/notes" epath="^/api/v4/projects/42/merge_requests/$n/notes/[0-9]+\$" emeth=PUT ;;
	gitea)
		t_eventually 30 "gitea: a commit status on the head with target_url" \
			has ".method == \"POST\" and .path == \"/api/v1/repos/$repo/statuses/$SHA1\" and .json.state == \"success\" and .json.context == \"preview/$name\" and .json.target_url == \"$url\""
		t_eq 0 "$(count '.forge == "gitea" and .headers.authorization != "token '"$GT_TOKEN"'"')" "gitea: 'token' authorization on every request"
		cpath="/api/v1/repos/$repo/issues/$n/comments" epath="^/api/v1/repos/$repo/issues/comments/[0-9]+\$" emeth=PATCH ;;
	esac
	t_eventually 30 "$forge: a sticky comment with the URL" \
		has ".method == \"POST\" and .path == \"$cpath\" and (.json.body | contains(\"$url\"))"
	t_eventually 10 "$forge: the row holds the comment id and the report" reported "$n"

	t_begin "$forge: a push"
	sql "UPDATE pull_requests SET head_sha = '$SHA2' WHERE number = $n"
	http PATCH "/v1/environments/$name" "{\"values\":{\"frontend\":{\"tag\":\"pr-$n-2222222\"}}}"
	t_eq 200 "$HTTP_STATUS" "$forge: the new tag is accepted"
	case $forge in
	github)
		t_eventually 30 "github: a second deployment, for the new head" \
			has ".path == \"/repos/$repo/deployments\" and .json.ref == \"$SHA2\""
		t_eq 1 "$(count ".path == \"/repos/$repo/deployments\" and .json.ref == \"$SHA1\"")" "github: one deployment per commit" ;;
	gitlab)
		t_eventually 30 "gitlab: a status on the new head" has ".path == \"/api/v4/projects/42/statuses/$SHA2\" and .json.state == \"success\"" ;;
	gitea)
		t_eventually 30 "gitea: a status on the new head" has ".path == \"/api/v1/repos/$repo/statuses/$SHA2\" and .json.state == \"success\"" ;;
	esac
	t_eventually 30 "$forge: the comment is edited in place with the new commit" \
		has ".method == \"$emeth\" and (.path | test(\"$epath\")) and (.json.body | contains(\"\`2222222\`\"))"

	t_begin "$forge: a comment command's reply"
	http PATCH "/v1/environments/$name" '{"ttl":"12h"}'
	sql "UPDATE pull_requests SET reply = 'Extended by 4h at the request of @octocat.', reply_gen = 1 WHERE number = $n"
	http PATCH "/v1/environments/$name" '{"ttl":"12h"}'
	t_eventually 30 "$forge: the reply is an edit of the sticky comment" \
		has ".method == \"$emeth\" and (.path | test(\"$epath\")) and (.json.body | contains(\"Extended by 4h\"))"

	t_begin "$forge: closed"
	sql "UPDATE pull_requests SET state = 'closed' WHERE number = $n"
	http DELETE "/v1/environments/$name"
	t_match '^20[02]$' "$HTTP_STATUS" "$forge: the environment is deleted"
	if [ $forge = github ]; then
		t_eventually 30 "github: the deployment is marked inactive" \
			has ".path | test(\"^/repos/$repo/deployments/[0-9]+/statuses\$\")) | select(.json.state == \"inactive\""
	fi
	t_eventually 30 "$forge: the comment says the environment was removed" \
		has ".method == \"$emeth\" and (.json.body | contains(\"was removed\"))"
	t_eq 1 "$(count ".method == \"POST\" and .path == \"$cpath\"")" "$forge: one comment posted, every change an edit"
done

t_begin "github: asleep and awake again"
env_new sleepy-pr-13 13-1111111
pr github org/frontend 13 sleepy-pr-13 "$SHA1"
http PATCH /v1/environments/sleepy-pr-13 '{"ttl":"8h"}'
t_eventually 30 "github: sleepy-pr-13's comment says ready" \
	has '(.json.body // "" | contains("preview/sleepy-pr-13") and contains("| Status | ready |"))'
http POST /v1/environments/sleepy-pr-13/sleep '{}'
t_match '^20[02]$' "$HTTP_STATUS" "sleepy-pr-13 is put to sleep"
t_eventually 30 "github: the comment is edited to sleeping, saying how to wake it" \
	has '.method == "PATCH" and (.json.body | contains("preview/sleepy-pr-13") and contains("| Status | sleeping |") and contains("/preview wake"))'
t_eventually 30 "github: the deployment's status is inactive while asleep" \
	has '.path | test("^/repos/org/frontend/deployments/[0-9]+/statuses$")) | select(.json.state == "inactive" and .json.environment_url == "http://sleepy-pr-13.env.my"'
READY='.json.body // "" | contains("preview/sleepy-pr-13") and contains("| Status | ready |")'
n_ready=$(count "$READY")
http POST /v1/environments/sleepy-pr-13/wake '{}'
t_match '^20[02]$' "$HTTP_STATUS" "... and woken"
t_eventually 30 "github: the comment is edited to ready again" has "$READY" $((n_ready + 1))

t_begin "rate-limited forges: held, then everything arrives"
now=$(date +%s)
ctl "{\"limit\": {\"github\": {\"until\": $((now + 6)), \"style\": \"429\"}, \"gitlab\": {\"until\": $((now + 6)), \"style\": \"403\"}}}"
env_new limited-pr-11 11
pr github org/frontend 11 limited-pr-11 "$SHA1"
env_new limited-pr-12 12
pr gitlab group/api 12 limited-pr-12 "$SHA1" 43
http PATCH /v1/environments/limited-pr-11 '{"ttl":"8h"}'
t_eventually 20 "github answers 429" has '.forge == "github" and .status == 429'
t_eventually 20 "gitlab answers 403 with RateLimit-Reset" has '.forge == "gitlab" and .status == 403'
t_eventually 10 "the hold is in next_attempt_at" held
limited=$(count '.status == 429 or .status == 403')
http PATCH /v1/environments/limited-pr-12 '{"ttl":"8h"}' # kicks do not end a hold
sleep 1
t_eq "$limited" "$(count '.status == 429 or .status == 403')" "no request to a forge while it holds"
t_eventually 40 "github: the deployment status arrives after the hold" \
	has '.path | test("^/repos/org/frontend/deployments/[0-9]+/statuses$")) | select(.json.state == "success" and .json.environment_url == "http://limited-pr-11.env.my"'
t_eventually 40 "gitlab: the commit status arrives after the hold" \
	has ".path == \"/api/v4/projects/43/statuses/$SHA1\" and .json.state == \"success\""
t_eventually 40 "both sticky comments arrive after the hold" \
	has '.status == 201 and (.json.body // "" | contains("limited-pr-1"))' 2
t_match 'rate-limiting' "$(cat "$PV_LOG")" "the log says the forge rate-limits"

t_begin "tokens never logged"
t_not "no token in previewd's log" grep -qF -e "$GH_TOKEN" -e "$GL_TOKEN" -e "$GT_TOKEN" "$PV_LOG"
pv_stop
bg_stop "$F_PID"
t_end
