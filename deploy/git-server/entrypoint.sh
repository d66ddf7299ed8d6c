#!/bin/sh
# Start the Git smart-HTTP server; create and seed $GIT_REPO_NAME.git on the
# first start (when the volume holds no such repository).
set -eu

: "${GIT_ROOT:=/srv/git}"
: "${GIT_REPO_NAME:=gitops}"
: "${GIT_USERNAME:=previewd}"
: "${GIT_PASSWORD_FILE:=/run/secrets/git_password}"
: "${GIT_HTTP_HOST:=0.0.0.0}"
: "${GIT_HTTP_PORT:=80}"
: "${GIT_HTTP_USER:=www-data}"
: "${SEED_DIR:=/usr/share/previewd/helm-env}"
: "${GIT_RUN_DIR:=/run/git-server}"
: "${LIGHTTPD_CONF:=/etc/lighttpd/git-server.conf}"
: "${LIGHTTPD:=/usr/sbin/lighttpd}"

if [ -n "${GIT_PASSWORD:-}" ]; then
    password=$GIT_PASSWORD
elif [ -r "$GIT_PASSWORD_FILE" ]; then
    # $(...) drops the trailing newline(s) secret files usually end with
    password=$(cat "$GIT_PASSWORD_FILE")
else
    echo "git-server: no password: set GIT_PASSWORD or provide $GIT_PASSWORD_FILE" >&2
    exit 1
fi
if [ -z "$password" ]; then
    echo "git-server: the password is empty" >&2
    exit 1
fi

mkdir -p "$GIT_ROOT" "$GIT_RUN_DIR/www"
GIT_HTPASSWD=$GIT_RUN_DIR/htpasswd
umask 077
printf '%s:%s\n' "$GIT_USERNAME" "$password" >"$GIT_HTPASSWD"
umask 022
unset password GIT_PASSWORD

repo=$GIT_ROOT/$GIT_REPO_NAME.git
if [ ! -d "$repo" ]; then
    echo "git-server: creating $repo seeded from $SEED_DIR" >&2
    git init -q --bare --initial-branch=main "$repo"
    git -C "$repo" config http.receivepack true
    git -C "$repo" config receive.denyNonFastForwards true
    git -C "$repo" config receive.denyDeletes true
    git -C "$repo" config core.logAllRefUpdates always
    if [ -d "$SEED_DIR" ]; then
        tmp=$(mktemp -d)
        git clone -q "$repo" "$tmp/w" 2>/dev/null
        cp -a "$SEED_DIR/." "$tmp/w/"
        git -C "$tmp/w" -c core.autocrlf=false add -A
        git -C "$tmp/w" -c user.name=previewd-seed -c user.email=seed@localhost \
            -c commit.gpgsign=false commit -q -m "Seed example chart and environments"
        git -C "$tmp/w" push -q origin HEAD:refs/heads/main
        rm -rf "$tmp"
    fi
fi

if [ "$(id -u)" = 0 ]; then
    chown -R "$GIT_HTTP_USER:$GIT_HTTP_USER" "$GIT_ROOT"
    chown "$GIT_HTTP_USER:$GIT_HTTP_USER" "$GIT_HTPASSWD"
fi

GIT_HTTP_BACKEND="$(git --exec-path)/git-http-backend"
GIT_DOCROOT=$GIT_RUN_DIR/www
export GIT_ROOT GIT_HTPASSWD GIT_HTTP_HOST GIT_HTTP_PORT GIT_HTTP_USER GIT_HTTP_BACKEND GIT_DOCROOT
echo "git-server: serving $GIT_ROOT at http://$GIT_HTTP_HOST:$GIT_HTTP_PORT/git/ as user $GIT_USERNAME" >&2
exec "$LIGHTTPD" -D -f "$LIGHTTPD_CONF"
