#!/usr/bin/env bash
# ctest-labels: integration concurrent
# Pull requests end to end (issue 15): signed webhooks in each forge's
# documented shape go in, a real smart-HTTP Git server and the loopback
# stand-in of the GitHub, GitLab and Gitea REST APIs (tests/lib/
# fake_forge.py, which records every request and what it answered) show
# what came out.  Nothing is written to the database by hand.
#
#   1. GitHub rate-limited for a minute (403, X-RateLimit-Remaining: 0,
#      X-RateLimit-Reset): pull requests opened, pushed and commented on
#      meanwhile reach Git; previewd stops asking the forge; after the
#      minute every status and comment arrives, with the latest head
#   2. GitLab's story: Merge Request Hook open -> the environment in Git ->
#      a commit status and one note carry the URL -> a push (update with
#      oldrev) moves the tag -> a Note Hook "/preview extend 4h" is an edit
#      of the note, another user's a polite refusal -> merge removes the
#      folder; a wrong X-Gitlab-Token, a replay and a project without a
#      rule act on nothing
#   3. Gitea's story, the same through pull_request and issue_comment,
#      X-Gitea-Signature; a tampered signature is 401
#   4. an event storm: 200 pull requests opened at once (parallel signed
#      deliveries) land in a handful of commits, each gets its status
#   5. GitHub's story (after the hold): a deployment per commit and its
#      statuses, inactive at the end, one sticky comment edited in place;
#      a replay, a tampered signature and an unknown repository
# The minute of the hold is spent on 2-4, so the whole runs in about 75 s.
# Waits are generous bounds, never timing assertions.
#
#   bash tests/integration/test_pr_story.sh        (KEEP_TMP=1 keeps the logs)
#
# shellcheck disable=SC2317,SC2016  # helpers run through t_eventually; jq programs in single quotes
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

WAIT=40 # seconds: a bound, not an expectation

SECRET='story hook secret: 5c1f-not a token'
printf '%s\n' "$SECRET" >"$T_TMP/hook-secret"
LAB_SECRET='the frontend-lab token'
printf '%s\n' "$LAB_SECRET" >"$T_TMP/lab-secret"
GH_TOKEN='ghs_storyInstallationToken0123456789'
GL_TOKEN='glpat-storyGitlabToken-4567'
GT_TOKEN='gitea-story-token-89abcdef'
printf '%s\n' "$GH_TOKEN" >"$T_TMP/gh" && printf '%s\n' "$GL_TOKEN" >"$T_TMP/gl" && printf '%s\n' "$GT_TOKEN" >"$T_TMP/gt"
SHA1=aaaaaaa111111111111111111111111111111111
SHA2=bbbbbbb222222222222222222222222222222222
STORM=200

cat >"$T_TMP/rules.yaml" <<YAML
repositories:
  - repo: org/frontend
    forge: github
    name: "{repo}-pr-{number}"
    base: dev
    values:
      frontend:
        tag: "pr-{number}-{sha7}"
  - repo: group/frontend-lab
    forge: gitlab
    name: "lab-{number}"
    values:
      image:
        tag: "mr-{number}-{sha7}"
    secret_file: $T_TMP/lab-secret
  - repo: org/tea
    forge: gitea
    name: "tea-{number}"
    values:
      image:
        tag: "{sha7}"
  - repo: org/storm
    forge: gitea
    name: "storm-{number}"
    values:
      image:
        tag: "{sha7}"
YAML

# ---------------------------------------------------------------- helpers
LOG=$T_TMP/forge.log
CTL=$T_TMP/forge-control.json
ctl() { printf '%s\n' "$1" >"$CTL.tmp" && mv -f "$CTL.tmp" "$CTL"; }
ctl '{}'
: >"$LOG"
# reqs JQ_SELECT: the forge's logged requests that pass the select, as an array
reqs() { jq -s "[.[] | select($1)]" "$LOG"; }
count() { reqs "$1" | jq length; }
has() { [ "$(count "$1")" -ge "${2:-1}" ]; }
# answered_id JQ_SELECT: the id the forge answered to the last such request
answered_id() { reqs "$1" | jq -r 'last | .answer.id // empty'; }

hmac() { printf '%s' "$2" | openssl dgst -sha256 -hmac "$1" | awk '{ print $NF }'; }
# hook FORGE BODY HEADER...: POST BODY to /v1/hooks/FORGE; HTTP_* hold the answer.
hook() {
	local forge=$1 body=$2 hdrs=(-H 'Content-Type: application/json') h
	shift 2
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
# gl EVENT BODY [DELIVERY]: a GitLab delivery with the rule's own token.
gl() {
	DELIVERY=$((DELIVERY + 1))
	hook gitlab "$2" "X-Gitlab-Event: $1" "X-Gitlab-Event-UUID: ${3:-gl-$DELIVERY}" "X-Gitlab-Token: $LAB_SECRET"
}
# tea EVENT BODY [DELIVERY]: a signed Gitea delivery.
tea() {
	DELIVERY=$((DELIVERY + 1))
	hook gitea "$2" "X-Gitea-Event: $1" "X-Gitea-Event-Type: $1" "X-Gitea-Delivery: ${3:-tea-$DELIVERY}" \
		"X-Gitea-Signature: $(hmac "$SECRET" "$2")"
}

# hub_pr ACTION NUMBER SHA REPO: the pull_request payload GitHub documents
# (Gitea's has the same members)
hub_pr() {
	jq -cn --arg a "$1" --argjson n "$2" --arg sha "$3" --arg repo "$4" '{action: $a, number: $n,
		pull_request: {url: "https://api.github.com/repos/\($repo)/pulls/\($n)", id: (1000 + $n), number: $n,
			state: (if $a == "closed" then "closed" else "open" end), title: "A change", merged: false,
			user: {login: "Octo_Cat", id: 1, type: "User"}, labels: [],
			head: {label: "octo:feature/x", ref: "feature/x", sha: $sha, repo: {full_name: $repo}},
			base: {label: "org:main", ref: "main", sha: "0000000000000000000000000000000000000000"}},
		repository: {id: 42, name: ($repo | split("/") | last), full_name: $repo, private: false},
		sender: {login: "Octo_Cat", id: 1, type: "User"}}'
}
# gh_comment NUMBER LOGIN ASSOCIATION BODY: GitHub's issue_comment on a pull request
gh_comment() {
	jq -cn --argjson n "$1" --arg who "$2" --arg assoc "$3" --arg body "$4" '{action: "created",
		issue: {number: $n, title: "A change", state: "open", user: {login: "Octo_Cat"}, labels: [],
			pull_request: {url: "https://api.github.com/repos/org/frontend/pulls/\($n)"}},
		comment: {id: (9000 + $n), body: $body, user: {login: $who}, author_association: $assoc},
		repository: {full_name: "org/frontend", name: "frontend"}, sender: {login: $who}}'
}
# tea_comment NUMBER LOGIN BODY: Gitea's issue_comment on a pull request
tea_comment() {
	jq -cn --argjson n "$1" --arg who "$2" --arg body "$3" '{action: "created",
		issue: {number: $n, user: {login: "Octo_Cat"}, pull_request: {merged: false}},
		comment: {id: (7000 + $n), body: $body, user: {login: $who}},
		repository: {full_name: "org/tea", name: "tea"}, sender: {login: $who}, is_pull: true}'
}
# gl_mr ACTION IID SHA [OLDREV]: GitLab's Merge Request Hook
gl_mr() {
	jq -cn --arg a "$1" --argjson n "$2" --arg sha "$3" --arg old "${4:-}" '{object_kind: "merge_request",
		event_type: "merge_request", user: {id: 5, name: "Lab User", username: "labuser"},
		project: {id: 77, name: "frontend-lab", path_with_namespace: "group/frontend-lab"},
		object_attributes: ({id: 900, iid: $n, source_branch: "fix/x", target_branch: "main",
			state: (if $a == "merge" then "merged" else "opened" end), action: $a, author_id: 5,
			last_commit: {id: $sha, message: "m"}} + (if $old != "" then {oldrev: $old} else {} end)),
		labels: []}'
}
# gl_note IID USER_ID USERNAME BODY SHA: GitLab's Note Hook on a merge request
gl_note() {
	jq -cn --argjson n "$1" --argjson uid "$2" --arg who "$3" --arg body "$4" --arg sha "$5" '{object_kind: "note",
		event_type: "note", user: {id: $uid, username: $who},
		project: {id: 77, path_with_namespace: "group/frontend-lab"},
		object_attributes: {id: (300 + $n), note: $body, noteable_type: "MergeRequest"},
		merge_request: {iid: $n, author_id: 5, source_branch: "fix/x", target_branch: "main", last_commit: {id: $sha}}}'
}

# Git, read from the server's own bare repository (the truth Argo CD reads)
git_value() { local n=$1; shift; g show "main:env/$n/values.yaml" 2>/dev/null | yaml_get - "$@"; }
git_value_is() { local want=$1; shift; [ "$(git_value "$@")" = "$want" ]; }
gone_from_git() { no_folder "$1"; }
commits() { g rev-list --count main; }
storm_folders() { g ls-tree --name-only main env/ | grep -c '^env/storm-'; }
storm_all_in_git() { [ "$(storm_folders)" -eq "$STORM" ]; }
storm_statuses() {
	reqs '.forge == "gitea" and .method == "POST" and (.path | startswith("/api/v1/repos/org/storm/statuses/"))
		and .json.state == "success"' | jq '[.[].json.context] | unique | length'
}
storm_all_statused() { [ "$(storm_statuses)" -eq "$STORM" ]; }
held() { [ "$(sql "SELECT count(*) FROM pull_requests WHERE forge = 'github' AND next_attempt_at >= $HOLD_UNTIL")" -ge 1 ]; }

# ---------------------------------------------------------------- start-up
t_begin "start-up: a Git server with a dev base, the forges' stand-in, previewd"
if ! gitserver_start "$T_TMP/git" || ! gitserver_new_repo gitops "$T_ROOT/deploy/helm-env"; then
	t_bail "cannot start the Git server"
fi
G=$GITSERVER_DIR/repos/gitops.git
gitserver_passfile "$T_TMP/git-password"
w=$(t_mktemp person)
git clone -q "$(gitserver_url gitops)" "$w" 2>/dev/null && (cd "$w" && mkdir -p env/dev &&
	printf 'replicaCount: 1\nfrontend:\n  tag: dev-stable\n' >env/dev/values.yaml && git add -A &&
	git -c user.name=Person -c user.email=p@example.com commit -qm "a dev base" && git push -q origin HEAD:main 2>/dev/null)
t_ok "a person pushed the dev base" git_value_is dev-stable dev frontend tag
t_need "the forges' stand-in starts" bg_start F "$T_TMP/fake.out" python3 "$T_ROOT/tests/lib/fake_forge.py" \
	--log "$LOG" --control "$CTL" --github-token "$GH_TOKEN" --gitlab-token "$GL_TOKEN" --gitea-token "$GT_TOKEN"
FURL=http://127.0.0.1:$F_PORT
t_need "previewd starts with pull-request rules and the forges' tokens" pv_start "$T_TMP/data" \
	PREVIEWD_GIT_URL="$GITSERVER_URL/gitops.git" PREVIEWD_GIT_USERNAME="$GITSERVER_USER" \
	PREVIEWD_GIT_PASSWORD_FILE="$T_TMP/git-password" PREVIEWD_PUSH_BACKOFF_MAX_MS=300 \
	PREVIEWD_GIT_WEBHOOK_SECRET_FILE="$T_TMP/hook-secret" PREVIEWD_PR_RULES="$T_TMP/rules.yaml" \
	PREVIEWD_HTTP_THREADS=8 PREVIEWD_MAX_CONN_PER_IP=1000 PREVIEWD_GITHUB_API_URL="$FURL" PREVIEWD_GITHUB_TOKEN_FILE="$T_TMP/gh" \
	PREVIEWD_GITLAB_URL="$FURL" PREVIEWD_GITLAB_TOKEN_FILE="$T_TMP/gl" \
	PREVIEWD_GITEA_URL="$FURL" PREVIEWD_GITEA_TOKEN_FILE="$T_TMP/gt"

# ---------------------------------------------------------------- 1
t_begin "1. GitHub rate-limited for a minute: nothing lost, the forge left alone"
HOLD_FROM=$(date +%s)
HOLD_UNTIL=$((HOLD_FROM + 60))
ctl "{\"limit\": {\"github\": {\"until\": $HOLD_UNTIL, \"style\": \"403\"}}}"
gh pull_request "$(hub_pr opened 31 "$SHA1" org/frontend)"
t_eq created "$(jqr .status)" "#31 opened while GitHub rate-limits: created"
gh pull_request "$(hub_pr opened 32 "$SHA1" org/frontend)"
t_eq created "$(jqr .status)" "#32 opened: created"
t_eventually "$WAIT" "GitHub answered 403 rate-limited" has '.forge == "github" and .status == 403'
t_eventually "$WAIT" "the hold until X-RateLimit-Reset is in next_attempt_at" held
t_eventually "$WAIT" "#31 is in Git meanwhile (Git is not the forge)" git_value_is pr-31-aaaaaaa frontend-pr-31 frontend tag
gh pull_request "$(hub_pr synchronize 31 "$SHA2" org/frontend)"
t_eq updated "$(jqr .status)" "a push to #31 during the hold updates"
t_eventually "$WAIT" "... and reaches Git" git_value_is pr-31-bbbbbbb frontend-pr-31 frontend tag
gh issue_comment "$(gh_comment 32 Octo_Cat NONE '/preview extend 4h')"
t_eq "done" "$(jqr .status)" "a /preview extend 4h on #32 during the hold is done"
# the rest of the minute goes on the other forges' stories

# ---------------------------------------------------------------- 2
t_begin "2. GitLab: open, push, notes, merge"
LAB_URL=http://lab-3.env.my
gl "Merge Request Hook" "$(gl_mr open 3 "$SHA1")" gl-open-3
t_eq 202 "$HTTP_STATUS" "a Merge Request Hook open with the rule's X-Gitlab-Token is 202"
t_eq created "$(jqr .status)" "... created lab-3"
t_eventually "$WAIT" "lab-3 becomes active" env_status_is lab-3 active
t_eventually "$WAIT" "Git holds mr-3-aaaaaaa" git_value_is mr-3-aaaaaaa lab-3 image tag
t_eventually "$WAIT" "a commit status success on the head, named preview/lab-3, with the URL" \
	has ".method == \"POST\" and .path == \"/api/v4/projects/77/statuses/$SHA1\" and .json.state == \"success\"
		and .json.name == \"preview/lab-3\" and .json.target_url == \"$LAB_URL\""
t_eventually "$WAIT" "one note with the URL on !3" \
	has ".method == \"POST\" and .path == \"/api/v4/projects/77/merge_requests/3/notes\" and (.json.body | contains(\"$LAB_URL\"))"
NOTE_ID=$(answered_id '.path == "/api/v4/projects/77/merge_requests/3/notes"')
t_match '^[0-9]+$' "$NOTE_ID" "the stand-in answered the note's id"
gl "Merge Request Hook" "$(gl_mr open 3 "$SHA1")" gl-open-3
t_eq duplicate "$(jqr .status)" "the same X-Gitlab-Event-UUID again is a duplicate"
hook gitlab "$(gl_mr open 4 "$SHA1")" "X-Gitlab-Event: Merge Request Hook" "X-Gitlab-Token: not-$LAB_SECRET"
t_eq 401 "$HTTP_STATUS" "a wrong X-Gitlab-Token is 401"
hook gitlab "$(gl_mr open 5 "$SHA1" | jq -c '.project.path_with_namespace = "group/unknown"')" \
	"X-Gitlab-Event: Merge Request Hook" "X-Gitlab-Token: $SECRET"
t_eq ignored "$(jqr .status)" "a project without a rule (the global secret) is ignored"
t_eq 0 "$(sql "select count(*) from pull_requests where forge = 'gitlab' and number in (4, 5)")" "... neither makes a row"

gl "Merge Request Hook" "$(gl_mr update 3 "$SHA2" "$SHA1")"
t_eq updated "$(jqr .status)" "an update with oldrev (a push) updates"
t_eventually "$WAIT" "Git holds mr-3-bbbbbbb" git_value_is mr-3-bbbbbbb lab-3 image tag
t_eventually "$WAIT" "a commit status success on the new head" \
	has ".path == \"/api/v4/projects/77/statuses/$SHA2\" and .json.state == \"success\" and .json.target_url == \"$LAB_URL\""
t_eventually "$WAIT" "the note is edited (PUT) with the new commit" \
	has ".method == \"PUT\" and .path == \"/api/v4/projects/77/merge_requests/3/notes/$NOTE_ID\" and (.json.body | contains(\"\`bbbbbbb\`\"))"

gl "Note Hook" "$(gl_note 3 5 labuser '/preview extend 4h' "$SHA2")"
t_eq "done" "$(jqr .status)" "the author's Note Hook /preview extend 4h is done"
t_eventually "$WAIT" "the reply is an edit of the note" \
	has ".method == \"PUT\" and .path == \"/api/v4/projects/77/merge_requests/3/notes/$NOTE_ID\" and (.json.body | contains(\"extended lab-3 by 4h\"))"
gl "Note Hook" "$(gl_note 3 6 visitor '/preview delete' "$SHA2")"
t_eq refused "$(jqr .status)" "another user's /preview delete is refused"
t_eventually "$WAIT" "... politely, in an edit of the note" \
	has ".method == \"PUT\" and .path == \"/api/v4/projects/77/merge_requests/3/notes/$NOTE_ID\" and (.json.body | contains(\"@visitor, sorry\"))"
t_eq active "$(env_status lab-3)" "... and lab-3 stays"

gl "Merge Request Hook" "$(gl_mr merge 3 "$SHA2")"
t_eq deleting "$(jqr .status)" "merge deletes"
t_eventually "$WAIT" "env/lab-3 is gone from Git" gone_from_git lab-3
t_eventually "$WAIT" "the note says the environment was removed" \
	has ".method == \"PUT\" and .path == \"/api/v4/projects/77/merge_requests/3/notes/$NOTE_ID\" and (.json.body | contains(\"was removed\"))"
t_eq 1 "$(count '.method == "POST" and (.path | test("/merge_requests/3/notes$"))')" "one note posted on !3, every change an edit"
t_eq 0 "$(count '.forge == "gitlab" and .headers["private-token"] != "'"$GL_TOKEN"'"')" "PRIVATE-TOKEN on every GitLab request"
t_eq 0 "$(count '.forge == "gitlab" and .method != "GET" and .status >= 300')" "GitLab took every status and note (a membership lookup may answer 404)"

# ---------------------------------------------------------------- 3
t_begin "3. Gitea: opened, synchronized, comments, closed"
TEA_URL=http://tea-5.env.my
tea pull_request "$(hub_pr opened 5 "$SHA1" org/tea)" tea-open-5
t_eq created "$(jqr .status)" "a signed Gitea pull_request opened creates tea-5"
t_eventually "$WAIT" "tea-5 becomes active" env_status_is tea-5 active
t_eventually "$WAIT" "Git holds aaaaaaa" git_value_is aaaaaaa tea-5 image tag
t_eventually "$WAIT" "a commit status success on the head, context preview/tea-5, with the URL" \
	has ".method == \"POST\" and .path == \"/api/v1/repos/org/tea/statuses/$SHA1\" and .json.state == \"success\"
		and .json.context == \"preview/tea-5\" and .json.target_url == \"$TEA_URL\""
t_eventually "$WAIT" "one comment with the URL on #5" \
	has ".method == \"POST\" and .path == \"/api/v1/repos/org/tea/issues/5/comments\" and (.json.body | contains(\"$TEA_URL\"))"
TEA_CID=$(answered_id '.path == "/api/v1/repos/org/tea/issues/5/comments"')
tea pull_request "$(hub_pr opened 5 "$SHA1" org/tea)" tea-open-5
t_eq duplicate "$(jqr .status)" "the same X-Gitea-Delivery again is a duplicate"
BODY=$(hub_pr opened 6 "$SHA1" org/tea)
hook gitea "$BODY" "X-Gitea-Event: pull_request" "X-Gitea-Delivery: tea-tampered" \
	"X-Gitea-Signature: $(hmac "$SECRET" "${BODY/A change/A chance}")"
t_eq 401 "$HTTP_STATUS" "a tampered X-Gitea-Signature is 401"
tea pull_request "$(hub_pr opened 7 "$SHA1" org/unknown)"
t_eq ignored "$(jqr .status)" "a repository without a rule is ignored"
t_eq 0 "$(sql "select count(*) from pull_requests where forge = 'gitea' and number in (6, 7)")" "... neither makes a row"

tea pull_request "$(hub_pr synchronized 5 "$SHA2" org/tea)"
t_eq updated "$(jqr .status)" "synchronized updates"
t_eventually "$WAIT" "Git holds bbbbbbb" git_value_is bbbbbbb tea-5 image tag
t_eventually "$WAIT" "a commit status success on the new head" \
	has ".path == \"/api/v1/repos/org/tea/statuses/$SHA2\" and .json.state == \"success\""
t_eventually "$WAIT" "the comment is edited (PATCH) with the new commit" \
	has ".method == \"PATCH\" and .path == \"/api/v1/repos/org/tea/issues/comments/$TEA_CID\" and (.json.body | contains(\"\`bbbbbbb\`\"))"
tea issue_comment "$(tea_comment 5 Octo_Cat '/preview extend 4h')"
t_eq "done" "$(jqr .status)" "the author's issue_comment /preview extend 4h is done"
t_eventually "$WAIT" "the reply is an edit of the comment" \
	has ".method == \"PATCH\" and .path == \"/api/v1/repos/org/tea/issues/comments/$TEA_CID\" and (.json.body | contains(\"extended tea-5 by 4h\"))"
tea issue_comment "$(tea_comment 5 visitor '/preview extend 7d')"
t_eq refused "$(jqr .status)" "another user's command is refused"
t_eventually "$WAIT" "... politely, in an edit" \
	has ".method == \"PATCH\" and .path == \"/api/v1/repos/org/tea/issues/comments/$TEA_CID\" and (.json.body | contains(\"@visitor, sorry\"))"
tea pull_request "$(hub_pr closed 5 "$SHA2" org/tea)"
t_eq deleting "$(jqr .status)" "closed deletes"
t_eventually "$WAIT" "env/tea-5 is gone from Git" gone_from_git tea-5
t_eventually "$WAIT" "the comment says the environment was removed" \
	has ".method == \"PATCH\" and .path == \"/api/v1/repos/org/tea/issues/comments/$TEA_CID\" and (.json.body | contains(\"was removed\"))"
t_eq 1 "$(count '.method == "POST" and .path == "/api/v1/repos/org/tea/issues/5/comments"')" "one comment posted on #5, every change an edit"
t_eq 0 "$(count '.forge == "gitea" and .headers.authorization != "token '"$GT_TOKEN"'"')" "'Authorization: token' on every Gitea request"

# ---------------------------------------------------------------- 4
t_begin "4. an event storm: $STORM pull requests opened at once"
# the deliveries, signed, all sent at once by 50 threads; one status line each
storm() {
	python3 - "$SECRET" "$PV_PORT" "$STORM" <<'PY'
import concurrent.futures, hashlib, hmac, http.client, json, sys
secret, port, n = sys.argv[1].encode(), int(sys.argv[2]), int(sys.argv[3])

def body(i):
    return json.dumps({"action": "opened", "number": i,
        "pull_request": {"id": 5000 + i, "number": i, "state": "open", "title": "storm %d" % i,
            "user": {"login": "Octo_Cat", "id": 1}, "labels": [],
            "head": {"ref": "storm/%d" % i, "sha": "%040x" % (0xc0ffee0000 + i)}, "base": {"ref": "main"}},
        "repository": {"id": 43, "full_name": "org/storm", "name": "storm"},
        "sender": {"login": "Octo_Cat", "id": 1}}, separators=(",", ":")).encode()

def send(b):
    i, data = b
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        c.request("POST", "/v1/hooks/gitea", data, {"Content-Type": "application/json",
            "X-Gitea-Event": "pull_request", "X-Gitea-Event-Type": "pull_request",
            "X-Gitea-Delivery": "storm-%d" % i,
            "X-Gitea-Signature": hmac.new(secret, data, hashlib.sha256).hexdigest()})
        return c.getresponse().status
    except OSError as e:
        return "error: %s" % e
    finally:
        c.close()

bodies = [(i, body(i)) for i in range(1, n + 1)]
with concurrent.futures.ThreadPoolExecutor(50) as pool:
    for status in pool.map(send, bodies):
        print(status)
PY
}
BEFORE=$(commits)
T0=$(now_ms)
storm >"$T_TMP/storm-codes"
t_eq "$STORM" "$(grep -c '^202$' "$T_TMP/storm-codes")" "every delivery is answered 202" ||
	sort "$T_TMP/storm-codes" | uniq -c | sed 's/^/#   /'
t_eventually 90 "all $STORM folders are in Git" storm_all_in_git
T1=$(now_ms)
STORM_COMMITS=$(($(commits) - BEFORE))
echo "# the storm: $(storm_folders) folders in $STORM_COMMITS commit(s), $((T1 - T0)) ms from the first delivery"
# one commit per push round: whatever arrives while a push is in flight
# goes in the next one, so the count is the deliveries' spread over a
# push's time (5-6 here, 9-10 under ASan and TSan beside another test):
# the bound is a tenth of one commit per pull request, not a timing
t_ok "... in a handful of commits ($STORM_COMMITS <= 20)" test "$STORM_COMMITS" -le 20
t_eq "$STORM" "$(sql "select count(*) from pull_requests where repo = 'org/storm'")" "one row per pull request"
t_eventually 120 "every one of them gets its commit status success" storm_all_statused
STORM_COMMENTS='.method == "POST" and (.path | test("^/api/v1/repos/org/storm/issues/[0-9]+/comments$"))'
t_eventually "$WAIT" "... and its comment" has "$STORM_COMMENTS" "$STORM"
t_eq "$STORM" "$(reqs "$STORM_COMMENTS" | jq '[.[].path] | unique | length')" "... one on each pull request"
t_eq "$STORM" "$(count "$STORM_COMMENTS")" "... and no more"

# ---------------------------------------------------------------- 1, after the minute
t_begin "1. (after the minute) GitHub: every status and comment arrives"
gh_after_hold() { has ".forge == \"github\" and .received_at >= $HOLD_UNTIL"; }
t_eventually 90 "previewd asks GitHub again once the minute is over" gh_after_hold
DURING=$(count ".forge == \"github\" and .received_at < $HOLD_UNTIL")
t_ok "previewd left GitHub alone during the minute ($DURING request(s), each answered 403)" \
	test "$DURING" -le 2 -a "$DURING" = "$(count '.forge == "github" and .status == 403')"
t_eventually "$WAIT" "#31: a deployment of its latest head (the push made during the hold)" \
	has ".method == \"POST\" and .path == \"/repos/org/frontend/deployments\" and .json.ref == \"$SHA2\" and .json.environment == \"preview/frontend-pr-31\""
t_eventually "$WAIT" "#31: its status success with the URL" \
	has "(.path | test(\"^/repos/org/frontend/deployments/[0-9]+/statuses$\")) and .json.state == \"success\" and .json.environment_url == \"http://frontend-pr-31.env.my\""
t_eventually "$WAIT" "#32: its status success with the URL" \
	has "(.path | test(\"^/repos/org/frontend/deployments/[0-9]+/statuses$\")) and .json.state == \"success\" and .json.environment_url == \"http://frontend-pr-32.env.my\""
t_eventually "$WAIT" "#31: its comment, with the URL and the latest commit" \
	has '.method == "POST" and .path == "/repos/org/frontend/issues/31/comments" and .status == 201 and (.json.body | contains("http://frontend-pr-31.env.my") and contains("`bbbbbbb`"))'
t_eventually "$WAIT" "#32: its comment, with the reply to the command sent during the hold" \
	has '.status < 300 and (.path | test("^/repos/org/frontend/issues/(32/)?comments")) and (.json.body | contains("extended frontend-pr-32 by 4h"))'
t_eq 0 "$(count '.forge == "github" and .status == 201 and .path == "/repos/org/frontend/deployments" and .json.ref == "'"$SHA1"'" and .json.environment == "preview/frontend-pr-31"')" \
	"#31: no deployment of the head it no longer has"
t_eq 1 "$(count '.status == 201 and .path == "/repos/org/frontend/issues/31/comments"')" "#31: one comment"
t_eq 1 "$(count '.status == 201 and .path == "/repos/org/frontend/issues/32/comments"')" "#32: one comment"
t_match 'rate-limiting' "$(cat "$PV_LOG")" "the log says GitHub rate-limits"

# ---------------------------------------------------------------- 5
t_begin "5. GitHub: opened, pushed, commented, closed"
URL7=http://frontend-pr-7.env.my
MARK=$(wc -l <"$LOG")
since() { jq -s "[.[$MARK:][] | select($1)]" "$LOG" | jq length; }
has_since() { [ "$(since "$1")" -ge 1 ]; }
BODY=$(hub_pr opened 7 "$SHA1" org/frontend)
gh pull_request "$BODY" gh-open-7
t_eq created "$(jqr .status)" "a signed pull_request opened creates frontend-pr-7"
t_eventually "$WAIT" "frontend-pr-7 becomes active" env_status_is frontend-pr-7 active
t_eventually "$WAIT" "Git holds pr-7-aaaaaaa over the dev base" git_value_is pr-7-aaaaaaa frontend-pr-7 frontend tag
t_eq 1 "$(git_value frontend-pr-7 replicaCount)" "... the base's values under it"
t_eventually "$WAIT" "a deployment of the head to preview/frontend-pr-7, auto_merge off, no required contexts" \
	has ".method == \"POST\" and .path == \"/repos/org/frontend/deployments\" and .json.ref == \"$SHA1\"
		and .json.environment == \"preview/frontend-pr-7\" and .json.auto_merge == false and .json.required_contexts == []
		and .json.transient_environment == true and .json.production_environment == false"
DEP1=$(answered_id ".path == \"/repos/org/frontend/deployments\" and .json.ref == \"$SHA1\" and .json.environment == \"preview/frontend-pr-7\"")
t_eventually "$WAIT" "its status success with environment_url" \
	has ".method == \"POST\" and .path == \"/repos/org/frontend/deployments/$DEP1/statuses\" and .json.state == \"success\" and .json.environment_url == \"$URL7\""
t_eventually "$WAIT" "a sticky comment with the URL" \
	has ".method == \"POST\" and .path == \"/repos/org/frontend/issues/7/comments\" and (.json.body | contains(\"$URL7\"))"
CID7=$(answered_id '.path == "/repos/org/frontend/issues/7/comments"')
t_match '^[0-9]+$' "$CID7" "the stand-in answered the comment's id"
gh pull_request "$BODY" gh-open-7
t_eq duplicate "$(jqr .status)" "the same X-GitHub-Delivery again is a duplicate"
BODY=$(hub_pr opened 8 "$SHA1" org/frontend)
hook github "$BODY" "X-GitHub-Event: pull_request" "X-GitHub-Delivery: gh-tampered" \
	"X-Hub-Signature-256: sha256=$(hmac "$SECRET" "${BODY/A change/A chance}")"
t_eq 401 "$HTTP_STATUS" "a tampered X-Hub-Signature-256 is 401"
gh pull_request "$(hub_pr opened 9 "$SHA1" org/unknown)"
t_eq ignored "$(jqr .status)" "a repository without a rule is ignored"
t_eq 0 "$(sql "select count(*) from pull_requests where number in (8, 9) and forge = 'github'")" "... neither makes a row"

gh pull_request "$(hub_pr synchronize 7 "$SHA2" org/frontend)"
t_eq updated "$(jqr .status)" "synchronize (a push) updates"
t_eventually "$WAIT" "Git holds pr-7-bbbbbbb" git_value_is pr-7-bbbbbbb frontend-pr-7 frontend tag
t_eventually "$WAIT" "a second deployment, of the new head" \
	has ".path == \"/repos/org/frontend/deployments\" and .json.ref == \"$SHA2\" and .json.environment == \"preview/frontend-pr-7\""
DEP2=$(answered_id ".path == \"/repos/org/frontend/deployments\" and .json.ref == \"$SHA2\" and .json.environment == \"preview/frontend-pr-7\"")
t_eventually "$WAIT" "... and its status success" \
	has ".path == \"/repos/org/frontend/deployments/$DEP2/statuses\" and .json.state == \"success\" and .json.environment_url == \"$URL7\""
t_eventually "$WAIT" "the comment is edited (PATCH) with the new commit" \
	has ".method == \"PATCH\" and .path == \"/repos/org/frontend/issues/comments/$CID7\" and (.json.body | contains(\"\`bbbbbbb\`\"))"
t_eq 1 "$(count ".path == \"/repos/org/frontend/deployments\" and .json.ref == \"$SHA1\" and .json.environment == \"preview/frontend-pr-7\"")" \
	"one deployment per commit"

gh issue_comment "$(gh_comment 7 Octo_Cat NONE $'/preview extend 4h\nthanks')"
t_eq "done" "$(jqr .status)" "the author's /preview extend 4h is done"
t_eventually "$WAIT" "the reply is an edit of the sticky comment" \
	has ".method == \"PATCH\" and .path == \"/repos/org/frontend/issues/comments/$CID7\" and (.json.body | contains(\"extended frontend-pr-7 by 4h\"))"
LEFT=$(curl -s -m 5 "$PV_URL/v1/environments/frontend-pr-7" | jq -r .ttl_seconds)
t_ok "... and the environment expires in about 4h ($LEFT s)" test "$LEFT" -gt 14000 -a "$LEFT" -le 14400
gh issue_comment "$(gh_comment 7 stranger NONE '/preview delete')"
t_eq refused "$(jqr .status)" "a non-member's /preview delete is refused"
t_eventually "$WAIT" "... politely, in an edit of the sticky comment" \
	has ".method == \"PATCH\" and .path == \"/repos/org/frontend/issues/comments/$CID7\" and (.json.body | contains(\"@stranger, sorry\"))"
t_eq active "$(env_status frontend-pr-7)" "... and the environment stays"

gh pull_request "$(hub_pr closed 7 "$SHA2" org/frontend)"
t_eq deleting "$(jqr .status)" "closed deletes"
t_eventually "$WAIT" "env/frontend-pr-7 is gone from Git" gone_from_git frontend-pr-7
t_eventually "$WAIT" "the environment ends deleted" env_status_is frontend-pr-7 deleted
t_eventually "$WAIT" "the deployment is marked inactive" \
	has ".path == \"/repos/org/frontend/deployments/$DEP2/statuses\" and .json.state == \"inactive\""
t_eventually "$WAIT" "the comment says the environment was removed" \
	has ".method == \"PATCH\" and .path == \"/repos/org/frontend/issues/comments/$CID7\" and (.json.body | contains(\"was removed\"))"
t_eq 1 "$(count '.method == "POST" and .path == "/repos/org/frontend/issues/7/comments"')" "one comment posted on #7, every change an edit"
t_eq 0 "$(since '.forge == "github" and .method != "GET" and .status >= 300')" "GitHub took every write of #7's story"
t_eq 0 "$(count '.forge == "github" and .headers.authorization != "Bearer '"$GH_TOKEN"'"')" "the token as Bearer on every GitHub request"
t_eq 0 "$(count '.forge == "github" and (.headers["x-github-api-version"] != "2022-11-28" or .headers.accept != "application/vnd.github+json")')" \
	"the API version and media type on every GitHub request"

t_begin "tokens and secrets never logged"
t_not "no token or webhook secret in previewd's log" grep -qF -e "$GH_TOKEN" -e "$GL_TOKEN" -e "$GT_TOKEN" -e "$SECRET" -e "$LAB_SECRET" "$PV_LOG"
pv_stop
bg_stop "$F_PID"
t_end
