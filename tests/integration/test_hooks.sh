#!/usr/bin/env bash
# test_hooks.sh — previewd follows the branch, not only its own pushes
# (issue 11, point 1): the Git host's push webhooks make previewd fetch at
# once, and PREVIEWD_GIT_POLL finds what no webhook announced.
#
# A real smart-HTTP Git server (lighttpd + git http-backend, basic auth); a
# person pushes folders by hand with the git CLI.  previewd polls once an
# hour, so in 1-5 only a webhook can explain what it learns:
#   1. GitHub push hook (X-GitHub-Event, X-Hub-Signature-256): a hand-pushed
#      base qa is 422 before, usable after; /v1/info shows qa and the tip
#   2. the same with GitLab's (X-Gitlab-Event, X-Gitlab-Token) and Gitea's
#      (X-Gitea-Event, X-Gitea-Signature)
#   3. bad, missing or misplaced signatures are 401 and fetch nothing (the
#      Git server's access log counts previewd's fetches)
#   4. a push to another branch is 202 ignored and fetches nothing
#   5. a create racing a hand-pushed folder of the same name ends 409 and
#      leaves that folder byte for byte
#   6. with PREVIEWD_GIT_POLL=2s and no webhook, a hand-pushed base appears
# Waits are generous bounds, never timing assertions.
#
#   bash tests/integration/test_hooks.sh        (KEEP_TMP=1 keeps the logs)
#
# shellcheck disable=SC2317,SC2016  # helpers run through t_eventually; jq programs in single quotes
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

WAIT=20 # seconds: a bound, not an expectation

SECRET='hook secret: 6f1d9c0e-it is not a token'
printf '%s\n' "$SECRET" >"$T_TMP/hook-secret" # a trailing newline, as editors write

# person MESSAGE SCRIPT [BRANCH]: clone the server's repository, run SCRIPT
# in the clone, commit as a person and push to BRANCH (main).
person() {
	local w
	w=$(mktemp -d "$T_TMP/person.XXXXXX")
	git clone -q "$VIEW_URL" "$w" 2>/dev/null &&
		(cd "$w" && eval "$2" && git add -A &&
			git -c user.name=Person -c user.email=person@example.com commit -qm "$1" &&
			git push -q origin "HEAD:${3:-main}" 2>/dev/null)
}

# hmac BODY: hex HMAC-SHA256 of BODY with the secret, as openssl computes it.
hmac() { printf '%s' "$1" | openssl dgst -sha256 -hmac "$SECRET" | awk '{ print $NF }'; }

# push_body REF: a push event's body (the fields the forges share).
push_body() {
	printf '{"ref":"%s","before":"%s","after":"%s","repository":{"name":"gitops","full_name":"org/gitops"}}' \
		"$1" "$SEED_COMMIT" "$(remote_head)"
}

# hook FORGE BODY HEADER...: POST BODY to /v1/hooks/FORGE with the headers.
hook() {
	local forge=$1 body=$2
	shift 2
	local hdrs=()
	for h in "$@"; do hdrs+=(-H "$h"); done
	http POST "/v1/hooks/$forge" "$body" "${hdrs[@]}"
}

# fetches: how many fetches previewd has made of the server: git-upload-pack
# ref advertisements in lighttpd's access log (pushes are receive-pack) by
# libgit2's user agent (the person's git CLI is "git/2.x").
test_more_fetches() { [ "$(fetches)" -gt "$1" ]; }
fetches() { grep 'info/refs?service=git-upload-pack' "$GITSERVER_DIR/access.log" | grep -c 'libgit2'; }

# has_base NAME: /v1/info lists NAME among the bases.
has_base() {
	[ "$(jq_of "$(curl -s -m 5 "$PV_URL/v1/info")" --arg n "$1" '[.bases[] | select(. == $n)] | length')" = 1 ]
}
no_base() { ! has_base "$1"; }

# none_pending: every environment previewd accepted is pushed (a push
# still in flight when a person pushes is rejected, and previewd fetches).
none_pending() {
	[ "$(jq_of "$(curl -s -m 5 "$PV_URL/v1/environments?status=pending")" '.items | length')" = 0 ]
}

# info_tip_is COMMIT: /v1/info's git.tip is COMMIT.
info_tip_is() { [ "$(jq_of "$(curl -s -m 5 "$PV_URL/v1/info")" .git.tip)" = "$1" ]; }

# base_create NAME BASE: create NAME from BASE; HTTP_* hold the answer.
base_create() { http POST /v1/environments "{\"owner\":\"$1\",\"base\":\"$2\"}"; }
base_create_201() { base_create "$@" && [ "$HTTP_STATUS" = 201 ]; }

# hook_metric FORGE EVENT OUTCOME: previewd_hooks_total for those labels (0 if absent).
hook_metric() {
	curl -s -m 5 "$PV_URL/metrics" | awk -v k="previewd_hooks_total{forge=\"$1\",event=\"$2\",outcome=\"$3\"}" \
		'$1 == k { v = $2 } END { print v + 0 }'
}

# qa_folder NAME: write env/NAME/values.yaml (a base people keep).
qa_folder() { mkdir -p "env/$1" && printf 'replicaCount: 1\nimage:\n  tag: %s-stable\n' "$1" >"env/$1/values.yaml"; }

# ---------------------------------------------------------------- start-up
t_begin "start-up: a Git server and previewd polling once an hour, webhooks on"
if ! gitserver_start "$T_TMP/git" || ! gitserver_new_repo gitops "$T_ROOT/deploy/helm-env"; then
	t_bail "cannot start the Git server"
fi
VIEW_URL=$(gitserver_url gitops)
SEED_COMMIT=$(remote_head)
gitserver_passfile "$T_TMP/git-password"
PV_ARGS=(PREVIEWD_GIT_URL="$GITSERVER_URL/gitops.git" PREVIEWD_GIT_USERNAME="$GITSERVER_USER"
	PREVIEWD_GIT_PASSWORD_FILE="$T_TMP/git-password" PREVIEWD_WAIT_MS=10000 PREVIEWD_PUSH_BACKOFF_MAX_MS=300)
t_need "previewd starts" pv_start "$T_TMP/data" "${PV_ARGS[@]}" PREVIEWD_GIT_POLL=1h \
	PREVIEWD_GIT_WEBHOOK_SECRET_FILE="$T_TMP/hook-secret"
t_eventually "$WAIT" "/readyz is ready after the first fetch" readyz_is ready
t_eventually "$WAIT" "/v1/info shows the seeded tip" info_tip_is "$SEED_COMMIT"

# ---------------------------------------------------------------- 1
t_begin "1. a GitHub push hook makes a hand-pushed base usable"
t_ok "a person pushes env/qa/values.yaml" person "a qa base" 'qa_folder qa'
QA_TIP=$(remote_head)
base_create bob qa
t_eq 422 "$HTTP_STATUS" "before the hook, base qa is unknown (422)"
t_match 'neither a live environment nor a folder' "$(jqr .detail)" "... with the reason"
t_ok "/v1/info does not list qa yet" no_base qa
BODY=$(push_body refs/heads/main)
hook github "$BODY" "X-GitHub-Event: push" "X-GitHub-Delivery: 1" "X-Hub-Signature-256: sha256=$(hmac "$BODY")"
t_eq 202 "$HTTP_STATUS" "the signed GitHub push hook is accepted (202)"
t_eq fetching "$(jqr .status)" "... and previewd fetches"
t_eventually "$WAIT" "/v1/info lists qa" has_base qa
t_eventually "$WAIT" "/v1/info shows the new tip" info_tip_is "$QA_TIP"
t_eventually "$WAIT" "a create from base qa succeeds (201)" base_create_201 bob qa
t_eq "qa-stable" "$(jqr .values.image.tag)" "... with qa's values"
t_eq 1 "$(hook_metric github push fetch)" "previewd_hooks_total{github,push,fetch} is 1"

# ping: a hook configured right answers 200 and fetches nothing
BODY='{"zen":"Design for failure.","hook_id":1}'
hook github "$BODY" "X-GitHub-Event: ping" "X-Hub-Signature-256: sha256=$(hmac "$BODY")"
t_eq 200 "$HTTP_STATUS" "GitHub's ping is 200"
t_eq ok "$(jqr .status)" "... status ok"

# a push of many files: its payload is far above the API's 64 KiB body cap
python3 -c 'import json, sys
files = ["env/qa/file-%05d.yaml" % i for i in range(6000)]
print(json.dumps({"ref": "refs/heads/main", "before": sys.argv[1], "after": sys.argv[2],
    "repository": {"name": "gitops", "full_name": "org/gitops"},
    "commits": [{"id": sys.argv[2], "added": files, "modified": [], "removed": []}]}), end="")' \
	"$SEED_COMMIT" "$(remote_head)" >"$T_TMP/big-push.json"
big_hook() { # FILE: HTTP status of the signed GitHub push hook with FILE as its body
	curl -s -o /dev/null -w '%{http_code}' -m 20 -X POST "$PV_URL/v1/hooks/github" --data-binary "@$1" \
		-H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
		-H "X-Hub-Signature-256: sha256=$(openssl dgst -sha256 -hmac "$SECRET" "$1" | awk '{ print $NF }')"
}
t_ok "the big payload is larger than PREVIEWD_MAX_BODY" test "$(stat -c %s "$T_TMP/big-push.json")" -gt 65536
BIG_FETCHES=$(fetches)
t_eq 202 "$(big_hook "$T_TMP/big-push.json")" "a signed push hook of $(($(stat -c %s "$T_TMP/big-push.json") / 1024)) KiB is accepted (PREVIEWD_MAX_HOOK_BODY)"
head -c $((4 * 1048576 + 1)) /dev/zero | tr '\0' ' ' >"$T_TMP/huge-push.json"
t_eq 413 "$(big_hook "$T_TMP/huge-push.json")" "a hook body above PREVIEWD_MAX_HOOK_BODY (4 MiB) is 413"
# the big hook's fetch is done before the sections below count fetches
t_eventually "$WAIT" "the big push hook made previewd fetch" test_more_fetches "$BIG_FETCHES"

# ---------------------------------------------------------------- 2
t_begin "2. GitLab's and Gitea's push hooks do the same"
t_ok "a person pushes env/qa-lab/values.yaml" person "a GitLab base" 'qa_folder qa-lab'
base_create carol qa-lab
t_eq 422 "$HTTP_STATUS" "before the hook, base qa-lab is unknown (422)"
BODY=$(printf '{"object_kind":"push","event_name":"push","ref":"refs/heads/main","checkout_sha":"%s","after":"%s"}' \
	"$(remote_head)" "$(remote_head)")
hook gitlab "$BODY" "X-Gitlab-Event: Push Hook" "X-Gitlab-Token: $SECRET"
t_eq 202 "$HTTP_STATUS" "the GitLab push hook with the token is accepted (202)"
t_eventually "$WAIT" "/v1/info lists qa-lab" has_base qa-lab
t_eventually "$WAIT" "a create from base qa-lab succeeds (201)" base_create_201 carol qa-lab
t_eventually "$WAIT" "/v1/info shows the server's tip" info_tip_is "$(remote_head)"

t_ok "a person pushes env/qa-tea/values.yaml" person "a Gitea base" 'qa_folder qa-tea'
base_create dave qa-tea
t_eq 422 "$HTTP_STATUS" "before the hook, base qa-tea is unknown (422)"
BODY=$(push_body refs/heads/main)
# Gitea sends GitHub's and Gogs' event headers too; its own signature counts
hook gitea "$BODY" "X-Gitea-Event: push" "X-GitHub-Event: push" "X-Gogs-Event: push" \
	"X-Gitea-Signature: $(hmac "$BODY")"
t_eq 202 "$HTTP_STATUS" "the signed Gitea push hook is accepted (202)"
t_eventually "$WAIT" "/v1/info lists qa-tea" has_base qa-tea
t_eventually "$WAIT" "a create from base qa-tea succeeds (201)" base_create_201 dave qa-tea

# ---------------------------------------------------------------- 3, 4
t_begin "3, 4. bad signatures are 401, other branches 202 ignored; neither fetches"
t_eventually "$WAIT" "previewd has pushed everything it accepted" none_pending
t_ok "a person pushes env/qa-bad/values.yaml" person "a base nobody announces right" 'qa_folder qa-bad'
t_ok "... and a branch other than main" person "elsewhere" 'qa_folder qa-other' feature
FETCHES=$(fetches)
t_ok "previewd's fetches show in the server's log" test "$FETCHES" -gt 0
BODY=$(push_body refs/heads/main)
hook github "$BODY" "X-GitHub-Event: push" "X-Hub-Signature-256: sha256=$(hmac "$BODY x")"
t_eq 401 "$HTTP_STATUS" "GitHub: the signature of another body is 401"
t_match '^application/problem\+json' "$HTTP_CTYPE" "... as problem+json"
t_eq 401 "$(jqr .status)" "... whose status is 401"
hook github "$BODY" "X-GitHub-Event: push" "X-Hub-Signature-256: $(hmac "$BODY")"
t_eq 401 "$HTTP_STATUS" "GitHub: the HMAC without sha256= is 401"
hook github "$BODY" "X-GitHub-Event: push" "X-Hub-Signature-256: sha256=$(hmac "$BODY" | cut -c1-40)"
t_eq 401 "$HTTP_STATUS" "GitHub: a truncated HMAC is 401"
hook github "$BODY" "X-GitHub-Event: push"
t_eq 401 "$HTTP_STATUS" "GitHub: no signature is 401"
hook github "$BODY" "X-GitHub-Event: push" "X-Gitea-Signature: $(hmac "$BODY")"
t_eq 401 "$HTTP_STATUS" "GitHub: a good signature in Gitea's header is 401"
hook gitlab "$BODY" "X-Gitlab-Event: Push Hook" "X-Gitlab-Token: ${SECRET}x"
t_eq 401 "$HTTP_STATUS" "GitLab: a wrong token is 401"
hook gitlab "$BODY" "X-Gitlab-Event: Push Hook"
t_eq 401 "$HTTP_STATUS" "GitLab: no token is 401"
hook gitea "$BODY" "X-Gitea-Event: push" "X-Gitea-Signature: sha256=$(hmac "$BODY")"
t_eq 401 "$HTTP_STATUS" "Gitea: GitHub's sha256= form is 401"
hook gitea "$BODY" "X-Gitea-Event: push" "X-Gitea-Signature: $(printf '%s' "$BODY" | openssl dgst -sha256 -hmac wrong | awk '{ print $NF }')"
t_eq 401 "$HTTP_STATUS" "Gitea: another secret's HMAC is 401"

OTHER=$(push_body refs/heads/feature)
hook github "$OTHER" "X-GitHub-Event: push" "X-Hub-Signature-256: sha256=$(hmac "$OTHER")"
t_eq 202 "$HTTP_STATUS" "a signed push to another branch is 202"
t_eq ignored "$(jqr .status)" "... status ignored"
TAG=$(push_body refs/tags/main)
hook gitea "$TAG" "X-Gitea-Event: push" "X-Gitea-Signature: $(hmac "$TAG")"
t_eq ignored "$(jqr .status)" "a tag named like the branch is ignored"
PR='{"action":"opened","number":7}'
hook github "$PR" "X-GitHub-Event: pull_request" "X-Hub-Signature-256: sha256=$(hmac "$PR")"
t_eq 202 "$HTTP_STATUS" "an event kind previewd does not act on is 202"
t_eq ignored "$(jqr .status)" "... status ignored"
hook gitlab '{"object_kind":"merge_request"}' "X-Gitlab-Event: Merge Request Hook" "X-Gitlab-Token: $SECRET"
t_eq ignored "$(jqr .status)" "GitLab: a merge request hook is ignored"

# the writer runs on its own thread: give a wrongly started fetch time to
# show in the server's log before counting (a bound, not a measurement)
sleep 3
t_eq "$FETCHES" "$(fetches)" "the server saw no fetch from previewd"
t_ok "/v1/info still does not list qa-bad" no_base qa-bad
t_eq 9 "$(($(hook_metric github push unauthorized) + $(hook_metric gitlab push unauthorized) + $(hook_metric gitea push unauthorized)))" \
	"previewd_hooks_total counts the nine refusals as unauthorized"
t_eq 1 "$(hook_metric github push ignored)" "... the other branch as ignored"
t_eq 1 "$(hook_metric gitea push ignored)" "... and the tag"
# the counter above would have seen a fetch: a good hook now makes one
hook github "$BODY" "X-GitHub-Event: push" "X-Hub-Signature-256: sha256=$(hmac "$BODY")"
t_eventually "$WAIT" "a good hook after them fetches (the server's log shows it)" test_more_fetches "$FETCHES"
t_eventually "$WAIT" "... and qa-bad appears" has_base qa-bad
t_ok "the other branch's folder never became a base" no_base qa-other

# ---------------------------------------------------------------- 5
t_begin "5. a create racing a hand-pushed folder of the same name ends 409"
t_ok "a person pushes env/zed/values.yaml (no previewd.json)" person "zed, by hand" \
	'mkdir -p env/zed && printf "owner: a person\nreplicaCount: 3\n" >env/zed/values.yaml'
ZED_BLOB=$(git ls-remote "$VIEW_URL" >/dev/null && view && git -C "$VIEW" rev-parse HEAD:env/zed/values.yaml)
ZED_TREE=$(git -C "$VIEW" rev-parse HEAD:env/zed)
http POST /v1/environments '{"owner":"erin","name":"zed"}'
t_eq 409 "$HTTP_STATUS" "the create ends 409 (its push rejected, the refetch shows people's folder)"
t_match '^application/problem\+json' "$HTTP_CTYPE" "... as problem+json"
t_match 'env/zed exists in Git and was not created by previewd' "$(jqr .detail)" "... naming the folder"
http GET /v1/environments/zed
t_eq failed "$(jqr .status)" "the record ends failed"
t_match 'not created by previewd' "$(jqr '.git.error // .git_error // ""')" "... with the reason"
view
t_eq "$ZED_BLOB" "$(git -C "$VIEW" rev-parse HEAD:env/zed/values.yaml)" "env/zed/values.yaml is byte-identical on the server"
t_eq "$ZED_TREE" "$(git -C "$VIEW" rev-parse HEAD:env/zed)" "env/zed holds nothing else (no previewd.json)"
t_eventually "$WAIT" "/v1/info lists zed as a base now" has_base zed
pv_stop

# ---------------------------------------------------------------- 6
t_begin "6. PREVIEWD_GIT_POLL=2s finds a hand-pushed base without a webhook"
t_need "previewd starts polling every 2 s, no webhook secret" pv_start "$T_TMP/data2" "${PV_ARGS[@]}" PREVIEWD_GIT_POLL=2s
t_eventually "$WAIT" "/readyz is ready" readyz_is ready
t_ok "a person pushes env/qa-poll/values.yaml" person "a polled base" 'qa_folder qa-poll'
POLL_TIP=$(remote_head)
t_eventually "$WAIT" "/v1/info lists qa-poll" has_base qa-poll
t_eventually "$WAIT" "/v1/info shows its tip" info_tip_is "$POLL_TIP"
t_eventually "$WAIT" "a create from base qa-poll succeeds (201)" base_create_201 frank qa-poll
BODY=$(push_body refs/heads/main)
hook github "$BODY" "X-GitHub-Event: push" "X-Hub-Signature-256: sha256=$(hmac "$BODY")"
t_eq 404 "$HTTP_STATUS" "without a secret the webhook endpoints are off (404)"
t_match 'PREVIEWD_GIT_WEBHOOK_SECRET' "$(jqr .detail)" "... and say how to turn them on"
pv_stop
t_end
