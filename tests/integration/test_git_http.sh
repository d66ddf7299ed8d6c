#!/usr/bin/env bash
# ctest-labels: concurrent
# test_git_http.sh — previewd against a real smart-HTTP Git server (lighttpd +
# git http-backend, basic auth), with the chart in a subfolder (helm-env/) and
# PREVIEWD_ENV_DIR=helm-env/env. Everything on the server side is inspected
# with the git CLI on fresh clones, never through previewd's own answers.
#
#   bash tests/integration/test_git_http.sh      (KEEP_TMP=1 keeps the logs)
#
# The helpers below are called through t_ok/t_eventually:
# shellcheck disable=SC2317

# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

SRC=${PV_SOURCE_DIR:-$T_ROOT}
ENVDIR=helm-env/env
T_START=$(date +%s)

# ------------------------------------------------------------------ helpers
# (view, remote_head and on_server on $VIEW_URL, yaml_is_mapping, yaml_json,
# readyz_is and env_status_is come from the harness)
VIEW_ENV_DIR=$ENVDIR

# Every update of the server's branch (its reflog, written by receive-pack)
# went from a commit to a descendant of it, each starting where the previous
# one ended, and the last one is the current head: no force push, no rewind.
history_linear() {
    local log=$GITSERVER_DIR/repos/gitops.git/logs/refs/heads/main repo=$GITSERVER_DIR/repos/gitops.git
    local old new prev='' n=0 zero=0000000000000000000000000000000000000000
    [ -s "$log" ] || { echo "    no reflog at $log" >&2; return 1; }
    while read -r old new _; do
        n=$((n + 1))
        if [ -n "$prev" ] && [ "$old" != "$prev" ]; then
            echo "    reflog entry $n starts at $old, previous ended at $prev" >&2
            return 1
        fi
        if [ "$old" != "$zero" ] && ! git -C "$repo" merge-base --is-ancestor "$old" "$new"; then
            echo "    reflog entry $n: $new does not descend from $old (forced update)" >&2
            return 1
        fi
        prev=$new
    done <"$log"
    [ "$prev" = "$(git -C "$repo" rev-parse refs/heads/main)" ]
}

# Every values.yaml under the env folder of the fresh clone is a YAML mapping.
all_values_parse() {
    local f
    for f in "$VIEW/$ENVDIR"/*/values.yaml; do
        yaml_is_mapping "$f" || { echo "    does not parse as a mapping: ${f#"$VIEW"/}" >&2; return 1; }
    done
}

# /readyz is degraded and its Git error is about credentials.
readyz_auth_error() {
    readyz_is degraded && jqr '.checks.git.error // ""' | grep -Eqi 'credential|auth|401'
}

# A fresh clone holds all 50 load folders.
load_count() {
    view || return 1
    [ "$(find "$VIEW/$ENVDIR" -path "*/load[0-9][0-9]/values.yaml" | wc -l)" -eq 50 ]
}

# The API lists all 50 load environments as active.
active_count() {
    http GET '/v1/environments?status=active&limit=500' &&
        [ "$(jqr '[.items[].name | select(startswith("load"))] | length')" = 50 ]
}

# ------------------------------------------------------------------ setup
# Seed: helm-env/{Chart.yaml,templates/,env/dev,env/prod,...} plus a README at
# the root, served over smart HTTP behind basic auth.
SEED=$T_TMP/seed
mkdir -p "$SEED/helm-env"
cp -a "$SRC/deploy/helm-env/." "$SEED/helm-env/"
printf '# GitOps repository\n\nThe chart lives in helm-env/.\n' >"$SEED/README.md"

if ! gitserver_start "$T_TMP/git" || ! gitserver_new_repo gitops "$SEED"; then
    t_bail "cannot start the Git server"
fi
VIEW_URL=$(gitserver_url gitops)
SEED_COMMIT=$(remote_head)

PASSFILE=$T_TMP/git-password
gitserver_passfile "$PASSFILE"     # trailing newline on purpose
BADPASSFILE=$T_TMP/git-password.wrong
gitserver_passfile "$BADPASSFILE" "not-$GITSERVER_PASS"

PV_ARGS=(
    PREVIEWD_GIT_URL="$GITSERVER_URL/gitops.git"
    PREVIEWD_GIT_USERNAME="$GITSERVER_USER"
    PREVIEWD_ENV_DIR="$ENVDIR"
    PREVIEWD_WAIT_MS=10000
    PREVIEWD_LOG_LEVEL=debug # the writer's backoff is logged at that level (rejection_path)
)
DATA=$T_TMP/data
pv_start "$DATA" "${PV_ARGS[@]}" PREVIEWD_GIT_PASSWORD_FILE="$PASSFILE" || t_bail "previewd did not start"
# Until its first fetch previewd cannot tell people's folders from free names
# and answers creates 503; /readyz turns "ready" once Git has been reached.
t_eventually 10 "/readyz is ready after the first fetch" readyz_is ready

# ------------------------------------------------------------------ 1
# Create alice: answered 201 once pushed; the folder holds the dev base with
# the request's values merged in, and previewd touched nothing else.
t_begin "1. create alice over smart HTTP"
http POST /v1/environments '{"owner":"alice","values":{"image":{"tag":"pr-42"}}}'
t_eq 201 "$HTTP_STATUS" "create answers 201 (pushed within the wait window)"
t_eq /v1/environments/alice "$(http_header Location)" "Location points at the new environment"
t_eq active "$(jqr .status)" "status is active"
t_eq false "$(jqr .git.pending)" "git.pending is false"
t_eq "$ENVDIR/alice" "$(jqr .git.path)" "git.path is inside the configured env folder"
ALICE_COMMIT=$(jqr .git.commit)
t_eq "$(remote_head)" "$ALICE_COMMIT" "git.commit is the server's branch head"
t_eq true "$(jqr .values.featureFlags.enabled)" "answered values carry the dev base (enabled: yes -> true)"

view
A=$VIEW/$ENVDIR/alice
t_ok "$ENVDIR/alice/values.yaml exists on the server" test -f "$A/values.yaml"
t_ok "alice's values.yaml parses as a YAML mapping" yaml_is_mapping "$A/values.yaml"
AV=$(yaml_json "$A/values.yaml")
t_eq pr-42 "$(jq -r .image.tag <<<"$AV")" "values.yaml has image.tag pr-42"
t_eq true "$(jq -r .featureFlags.enabled <<<"$AV")" "featureFlags.enabled is true (dev says 'yes')"
t_eq false "$(jq -r .featureFlags.newCheckout <<<"$AV")" "featureFlags.newCheckout is false (dev says 'off')"
DEV_PLUS_TAG=$(python3 -c 'import yaml,json,sys
d = yaml.safe_load(open(sys.argv[1])); d["image"]["tag"] = "pr-42"
print(json.dumps(d, sort_keys=True))' "$SEED/$ENVDIR/dev/values.yaml")
t_eq "$DEV_PLUS_TAG" "$AV" "values.yaml is exactly the dev base with image.tag replaced"
t_eq previewd "$(jq -r .managed_by "$A/previewd.json" 2>&1)" "previewd.json says managed_by previewd"
t_eq alice "$(jq -r .owner "$A/previewd.json" 2>&1)" "previewd.json says owner alice"
t_eq "previewd: create alice" "$(git -C "$VIEW" log -1 --format=%s)" "commit subject"
t_eq previewd "$(git -C "$VIEW" log -1 --format=%an)" "commit author is previewd"
t_eq "$SEED_COMMIT" "$(git -C "$VIEW" rev-parse HEAD^)" "the commit sits directly on the seed"
for e in dev prod test; do
    t_ok "$ENVDIR/$e is byte-identical to the seed" diff -r "$SEED/$ENVDIR/$e" "$VIEW/$ENVDIR/$e"
done
t_ok "dev/prod blobs unchanged in Git" git -C "$VIEW" diff --quiet "$SEED_COMMIT" HEAD -- "$ENVDIR/dev" "$ENVDIR/prod"
CHANGED=$(git -C "$VIEW" diff --name-only "$SEED_COMMIT" HEAD | sort | tr '\n' ' ')
t_eq "$ENVDIR/alice/previewd.json $ENVDIR/alice/values.yaml " "$CHANGED" "the commit touches only $ENVDIR/alice/"
git -C "$VIEW" diff --stat "$SEED_COMMIT" HEAD | sed 's/^/#   /'

# ------------------------------------------------------------------ 2
# A person pushes to the same branch behind previewd's back; previewd's next
# push is refused as non-fast-forward, and it must fetch and rebuild on top
# of that commit (never force-push over it).
t_begin "2. someone else's commit survives"
OTHER=$T_TMP/other
git clone -q "$(gitserver_url gitops)" "$OTHER"
printf 'Notes about dev, written by a person.\n' >"$OTHER/$ENVDIR/dev/NOTES.md"
printf 'Edited by a person.\n' >>"$OTHER/README.md"
git -C "$OTHER" add -A
git -C "$OTHER" -c user.name=Someone -c user.email=someone@example.com commit -q -m "docs: dev notes"
t_ok "the other commit is pushed to the server" git -C "$OTHER" push -q origin HEAD:main
OTHER_COMMIT=$(git -C "$OTHER" rev-parse HEAD)

REJ0=$(metric previewd_git_push_rejections_total) LOG0=$(($(wc -l <"$PV_LOG") + 1))
http PATCH /v1/environments/alice '{"values":{"replicaCount":3}}'
t_eq 200 "$HTTP_STATUS" "PATCH values answers 200"
t_eq 3 "$(jqr .values.replicaCount)" "answered values have replicaCount 3"
t_eq "$(remote_head)" "$(jqr .git.commit)" "git.commit is the new server head"
view
t_ok "the other commit is an ancestor of the new head" git -C "$VIEW" merge-base --is-ancestor "$OTHER_COMMIT" HEAD
t_ok "NOTES.md is intact" cmp "$OTHER/$ENVDIR/dev/NOTES.md" "$VIEW/$ENVDIR/dev/NOTES.md"
t_ok "README.md keeps the other edit" cmp "$OTHER/README.md" "$VIEW/README.md"
t_ok "dev values.yaml still byte-identical to the seed" cmp "$SEED/$ENVDIR/dev/values.yaml" "$VIEW/$ENVDIR/dev/values.yaml"
AV=$(yaml_json "$VIEW/$ENVDIR/alice/values.yaml")
t_eq 3 "$(jq -r .replicaCount <<<"$AV")" "alice's values.yaml has replicaCount 3"
t_eq pr-42 "$(jq -r .image.tag <<<"$AV")" "and still image.tag pr-42"
t_eq "previewd: update alice" "$(git -C "$VIEW" log -1 --format=%s)" "commit subject"
CHANGED=$(git -C "$VIEW" diff --name-only "$OTHER_COMMIT" HEAD | grep -v "^$ENVDIR/alice/")
t_eq '' "$CHANGED" "previewd's commit changes only alice's folder"
t_ok "the server's ref history is linear (no forced update)" history_linear
# previewd had not fetched the other commit: the path taken must be the
# rejection's (refused as non-fast-forward, fetched and rebuilt at once), not
# a failure retried after a backoff
t_eq $((${REJ0:-0} + 1)) "$(metric previewd_git_push_rejections_total)" \
    "previewd_git_push_rejections_total counted the one rejected push"
t_eq "rejected, fetching and rebuilding
pushed" "$(rejection_path "$PV_LOG" "$LOG0")" "the log shows the rejection, the fetch and rebuild, then the push: no backoff"

# ------------------------------------------------------------------ 3
# Extend: expiry = now + ttl, in the API and in previewd.json.
t_begin "3. extend alice by 2d"
T_BEFORE=$(date +%s)
http PATCH /v1/environments/alice '{"ttl":"2d"}'
T_AFTER=$(date +%s)
t_eq 200 "$HTTP_STATUS" "PATCH ttl answers 200"
EXP=$(jqr .expires_at)
EXP_S=$(iso2s "$EXP" 2>/dev/null || echo 0)
t_ok "expires_at $EXP is 2d after the PATCH ($((T_BEFORE + 2 * 86400)) <= $EXP_S <= $((T_AFTER + 2 * 86400)))" \
    test "$EXP_S" -ge $((T_BEFORE + 2 * 86400)) -a "$EXP_S" -le $((T_AFTER + 2 * 86400))
t_match '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' "$EXP" "expires_at is RFC 3339 UTC"
t_eq 3 "$(jqr .values.replicaCount)" "values unchanged by the extension"
view
t_eq "$EXP" "$(jq -r .expires_at "$VIEW/$ENVDIR/alice/previewd.json" 2>&1)" "previewd.json expires_at matches"
t_eq "$(remote_head)" "$(jqr .git.commit)" "git.commit is the server head"

# ------------------------------------------------------------------ 4
# Folders people own cannot be taken: 409 with the field, nothing pushed.
t_begin "4. foreign folders are refused"
HEAD_BEFORE=$(remote_head)
http POST /v1/environments '{"owner":"prod"}'
t_eq 409 "$HTTP_STATUS" "owner prod (name defaults to it) is 409"
t_match '^application/problem\+json' "$HTTP_CTYPE" "problem+json content type"
t_eq name "$(jqr .field)" "problem names the field 'name'"
t_eq 409 "$(jqr .status)" "problem status 409"
t_eq urn:previewd:problem:conflict "$(jqr .type)" "problem type conflict"
http POST /v1/environments '{"owner":"x","name":"dev"}'
t_eq 409 "$HTTP_STATUS" "name dev is 409"
t_match '^application/problem\+json' "$HTTP_CTYPE" "problem+json content type"
t_eq name "$(jqr .field)" "problem names the field 'name'"
http GET /v1/environments/prod
t_eq 404 "$HTTP_STATUS" "no environment prod was recorded"
sleep 1
t_eq "$HEAD_BEFORE" "$(remote_head)" "nothing was pushed"
view
t_ok "dev and prod still byte-identical to the seed" diff -r "$SEED/$ENVDIR/prod" "$VIEW/$ENVDIR/prod"

# ------------------------------------------------------------------ 5
# Git outage: requests are accepted as pending (202), /readyz says degraded
# (still 200), and once the server is back the push lands by itself.
t_begin "5. Git outage"
gitserver_pause
http POST /v1/environments '{"owner":"bob"}' -H 'Prefer: wait=1'
t_eq 202 "$HTTP_STATUS" "create during the outage answers 202"
t_eq pending "$(jqr .status)" "status pending"
t_eq true "$(jqr .git.pending)" "git.pending true"
t_eq /v1/environments/bob "$(http_header Location)" "Location on a 202 too"
t_eventually 10 "/readyz turns degraded (200)" readyz_is degraded
t_eq false "$(jqr .checks.git.ok)" "readyz git.ok false"
t_eq true "$(jqr .checks.db.ok)" "readyz db.ok true"
echo "# readyz git error during the outage: $(jqr .checks.git.error)"
http GET /v1/environments/bob
echo "# bob's git.error during the outage: $(jqr .git.error)"
T_RESUME=$(date +%s)
gitserver_resume
t_eventually 30 "bob becomes active after the server is back" env_status_is bob active
echo "# bob landed $(($(date +%s) - T_RESUME)) s after the server came back"
t_eq false "$(jqr .git.pending)" "bob's git.pending false"
t_eventually 10 "bob's folder exists on the server" on_server bob
t_eq "$(remote_head)" "$(jqr .git.commit)" "bob's git.commit is the server head"
t_eventually 10 "/readyz is ready again" readyz_is ready

# ------------------------------------------------------------------ 6
# Pending work survives a restart: with a wrong password carol stays pending
# (degraded, auth error); restarted with the right one, carol lands on its
# own, without any new request.
t_begin "6. restart with pending work"
t_ok "previewd stops on SIGTERM" pv_stop
if ! pv_start "$DATA" "${PV_ARGS[@]}" PREVIEWD_GIT_PASSWORD_FILE="$BADPASSFILE"; then
    _t_fail "previewd starts with a wrong password (it must keep retrying, not exit)"
fi
HEAD_BEFORE=$(remote_head)
http POST /v1/environments '{"owner":"carol"}' -H 'Prefer: wait=1'
t_eq 202 "$HTTP_STATUS" "create with a wrong password answers 202"
t_eq pending "$(jqr .status)" "status pending"
t_eventually 10 "/readyz degraded with a credentials error" readyz_auth_error
echo "# readyz: $HTTP_BODY"
t_not "carol is not on the server" on_server carol
t_eq "$HEAD_BEFORE" "$(remote_head)" "nothing was pushed"
t_not "the wrong password is not logged" grep -qF "not-$GITSERVER_PASS" "$PV_LOG"
t_ok "previewd stops on SIGTERM" pv_stop
if ! pv_start "$DATA" "${PV_ARGS[@]}" PREVIEWD_GIT_PASSWORD_FILE="$PASSFILE"; then
    _t_fail "previewd restarts with the right password"
fi
t_eventually 30 "carol lands on the server without a new request" on_server carol
t_eventually 10 "carol is active" env_status_is carol active
t_eq "previewd" "$(jq -r .managed_by "$VIEW/$ENVDIR/carol/previewd.json" 2>&1)" "carol's previewd.json is there"
t_eventually 10 "/readyz is ready" readyz_is ready
t_not "the password is not logged" grep -qF "$GITSERVER_PASS" "$T_TMP"/previewd.*.log

# ------------------------------------------------------------------ 7
# Delete: the folder goes, people's folders stay, the record stays as history.
t_begin "7. delete alice"
http DELETE /v1/environments/alice
t_eq 200 "$HTTP_STATUS" "DELETE answers 200"
t_eq deleted "$(jqr .status)" "status deleted"
t_eq "$(remote_head)" "$(jqr .git.commit)" "git.commit is the server head"
view
t_not "$ENVDIR/alice is gone on the server" test -e "$VIEW/$ENVDIR/alice"
t_eq "previewd: delete alice" "$(git -C "$VIEW" log -1 --format=%s)" "commit subject"
CHANGED=$(git -C "$VIEW" diff --name-only HEAD^ HEAD | sort | tr '\n' ' ')
t_eq "$ENVDIR/alice/previewd.json $ENVDIR/alice/values.yaml " "$CHANGED" "the delete touches only alice's folder"
for e in dev prod; do
    t_ok "$ENVDIR/$e/values.yaml still byte-identical to the seed" cmp "$SEED/$ENVDIR/$e/values.yaml" "$VIEW/$ENVDIR/$e/values.yaml"
done
t_ok "the person's NOTES.md is still there" test -f "$VIEW/$ENVDIR/dev/NOTES.md"
t_ok "bob and carol are still there" test -f "$VIEW/$ENVDIR/bob/values.yaml" -a -f "$VIEW/$ENVDIR/carol/values.yaml"
http GET /v1/environments/alice
t_eq 200 "$HTTP_STATUS" "GET alice after delete is 200 (history kept)"
t_eq deleted "$(jqr .status)" "status deleted"
http DELETE /v1/environments/alice
t_eq 404 "$HTTP_STATUS" "second DELETE is 404"
t_match '^application/problem\+json' "$HTTP_CTYPE" "problem+json content type"

# ------------------------------------------------------------------ 8
# 50 concurrent creates: all acknowledged, all land, in far fewer commits
# than requests (the writer batches whatever arrived during a push).
t_begin "8. 50 concurrent creates"
HEAD_BEFORE=$(remote_head)
LOAD=$(t_mktemp load)
pids=()
for i in $(seq -w 0 49); do
    curl -s -m 60 -o "$LOAD/load$i.body" -w '%{http_code}' -X POST \
        -H 'Content-Type: application/json' -H 'Prefer: wait=30' \
        --data-binary "{\"owner\":\"load$i\"}" "$PV_URL/v1/environments" >"$LOAD/load$i.code" &
    pids+=($!)
done
wait "${pids[@]}"
bad=''
for i in $(seq -w 0 49); do
    code=$(cat "$LOAD/load$i.code")
    case "$code" in 201 | 202) ;; *) bad+=" load$i:$code" ;; esac
done
t_eq '' "$bad" "all 50 creates answer 201 or 202"
echo "# answers:$(for f in "$LOAD"/*.code; do cat "$f"; echo; done | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
t_eventually 30 "all 50 folders are on the server" load_count
t_eventually 10 "all 50 are active in the API" active_count
COMMITS=$(git -C "$VIEW" rev-list --count "$HEAD_BEFORE..HEAD")
echo "# 50 concurrent creates landed in $COMMITS commit(s)"
t_ok "fewer than 50 commits ($COMMITS)" test "$COMMITS" -lt 50
t_ok "at least one commit" test "$COMMITS" -ge 1
bad=$(git -C "$VIEW" diff --name-only "$HEAD_BEFORE" HEAD | grep -Ev "^$ENVDIR/load[0-9]{2}/(values\.yaml|previewd\.json)$")
t_eq '' "$bad" "the load commits touch only the load folders"
t_eq "previewd" "$(git -C "$VIEW" log --format=%an "$HEAD_BEFORE..HEAD" | sort -u | tr '\n' ' ' | sed 's/ $//')" \
    "all load commits are previewd's"

# ------------------------------------------------------------------ 9
# How previewd pushed, from the Git server's access log: with libgit2's push
# every push discovers the refs (GET info/refs?service=git-receive-pack), as
# the smart protocol asks of a client, before its POST; every commit of
# previewd's went in that way.  After a restart the same holds.
t_begin "9. libgit2's push: ref discovery, then the pack"
ALOG=$GITSERVER_DIR/access.log
PUSHED_COMMITS=$(git -C "$VIEW" rev-list --count --author=previewd "$SEED_COMMIT..HEAD")
libgit2_posts() { grep -c 'POST /git/gitops.git/git-receive-pack HTTP/1.1" 200 .*libgit2' "$ALOG"; }
libgit2_discoveries() { grep -c 'GET /git/gitops.git/info/refs?service=git-receive-pack .*libgit2' "$ALOG"; }
# lighttpd writes its access log in batches
posts_cover_commits() { test "$(libgit2_posts)" -ge "$PUSHED_COMMITS"; }
t_eventually 5 "a POST to git-receive-pack per commit of previewd's ($PUSHED_COMMITS)" posts_cover_commits
echo "# $(libgit2_posts) pushes answered 200 for $PUSHED_COMMITS commits of previewd's"
discoveries_cover_posts() { test "$(libgit2_discoveries)" -ge "$(libgit2_posts)"; }
t_eventually 5 "a ref discovery before every push" discoveries_cover_posts
t_ok "previewd stops on SIGTERM" pv_stop
if ! pv_start "$DATA" "${PV_ARGS[@]}" PREVIEWD_GIT_PASSWORD_FILE="$PASSFILE"; then
    echo "Bail out! previewd did not restart" >&2
    exit 1
fi
t_eventually 10 "/readyz is ready" readyz_is ready
POSTS_BEFORE=$(libgit2_posts)
http POST /v1/environments '{"name":"dave","owner":"dave"}'
t_eq 201 "$HTTP_STATUS" "create dave after the restart answers 201"
t_eq "$(remote_head)" "$(jqr .git.commit)" "git.commit is the server head"
one_more_post() { test "$(libgit2_posts)" -gt "$POSTS_BEFORE"; }
t_eventually 5 "libgit2's POST for dave went through" one_more_post
view
t_ok "$ENVDIR/dave is on the server" test -f "$VIEW/$ENVDIR/dave/values.yaml"

# ------------------------------------------------------------------ end
# Whole-repository invariants after everything above.
t_begin "final invariants"
view
t_ok "every values.yaml in $ENVDIR parses as a YAML mapping" all_values_parse
t_ok "the server's ref history is linear (no forced update)" history_linear
t_ok "the person's commit is still in the history" git -C "$VIEW" merge-base --is-ancestor "$OTHER_COMMIT" HEAD
t_ok "dev/prod/test unchanged since the seed" git -C "$VIEW" diff --quiet "$SEED_COMMIT" HEAD -- \
    "$ENVDIR/dev/values.yaml" "$ENVDIR/prod" "$ENVDIR/test" helm-env/Chart.yaml helm-env/templates
t_ok "git fsck on the server repository" git -C "$GITSERVER_DIR/repos/gitops.git" fsck --no-progress --no-dangling
echo "# runtime $(($(date +%s) - T_START)) s"
t_end
