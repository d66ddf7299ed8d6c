#!/usr/bin/env bash
# docker-compose.yml is valid (no Docker engine runs here, so the stack is
# checked by the compose client's own validation), and the images it builds
# are the ones in this repository.
. "$(dirname "$0")/../lib/harness.sh"

t_begin "docker-compose.yml"
work=$(t_mktemp compose)
cp -r "$T_ROOT/docker-compose.yml" "$T_ROOT/Dockerfile" "$T_ROOT/deploy" "$work/"
# the secret file the README tells users to create first
[ -f "$work/deploy/git-server/git_password.txt" ] || echo secret >"$work/deploy/git-server/git_password.txt"
out=$(cd "$work" && docker-compose -f docker-compose.yml config 2>&1)
rc=$?
t_eq 0 "$rc" "docker-compose config accepts the file"
[ $rc -eq 0 ] || printf '%s\n' "$out" | sed 's/^/#   /'
t_match 'previewd:' "$out" "a previewd service"
t_match 'PREVIEWD_GIT_URL: http://git/git/gitops.git' "$out" "previewd pushes to the compose Git server"
t_match 'PREVIEWD_GIT_PASSWORD_FILE: /run/secrets/git_password' "$out" "the password comes from a secret file"
t_ok "the top-level Dockerfile exists" test -f "$T_ROOT/Dockerfile"
t_ok "previewd runs as a non-root user" grep -q '^USER previewd$' "$T_ROOT/Dockerfile"
t_match 'FROM debian:bookworm AS build' "$(cat "$T_ROOT/Dockerfile")" "multi-stage Debian build"
t_end
