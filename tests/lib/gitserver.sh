#!/usr/bin/env bash
# gitserver.sh — a real Git smart-HTTP server on loopback for tests:
# lighttpd runs `git http-backend` as a CGI behind HTTP basic auth.
#
# Sourced:
#   . tests/lib/gitserver.sh
#   gitserver_start "$dir"            # exports GITSERVER_{DIR,PORT,URL,USER,PASS,PID}
#   gitserver_new_repo gitops deploy/helm-env
#   git clone "http://$GITSERVER_USER:$GITSERVER_PASS@127.0.0.1:$GITSERVER_PORT/git/gitops.git"
#   gitserver_pause; ...; gitserver_resume   # outage: connections refused, same port
#   gitserver_stop "$dir"
#   gitserver_passfile "$T_TMP/pw"     # the password as a PREVIEWD_GIT_PASSWORD_FILE
#   git_init_bare REPO; git_seed REPO SEEDDIR   # the same bare repo, served otherwise
#
# Run as a command (the server outlives the command; state in DIR/gitserver.env):
#   gitserver.sh start DIR            # prints export lines (eval-able)
#   gitserver.sh new-repo DIR NAME [SEEDDIR]
#   gitserver.sh pause DIR | resume DIR | stop DIR | env DIR
#
# Layout of DIR: repos/NAME.git (GIT_PROJECT_ROOT), lighttpd.conf, htpasswd
# (plain "user:password"), www/, lighttpd.log (errors), access.log, gitserver.env.
# Every request needs the credentials (clone and push alike); a wrong
# password is 401. Repos have http.receivepack=true, so pushes go through for
# any authenticated user (REMOTE_USER is set by mod_auth).
#
# TLS mode: GITSERVER_TLS_PEM=FILE (a server certificate and its key, PEM)
# set before gitserver_start serves https:// with that certificate
# (lighttpd's mod_openssl); GITSERVER_URL and gitserver_url say https.
# GITSERVER_ONLY_FROM=ADDR answers 403 to every client whose source address
# is not ADDR (a proxy that binds ADDR then is the only way in).  Both are
# kept in gitserver.env for pause/resume.

GITSERVER_LIGHTTPD=${GITSERVER_LIGHTTPD:-/usr/sbin/lighttpd}

_gs_log() { printf 'gitserver: %s\n' "$*" >&2; }

# _gs_port_free PORT: true if nothing listens on 127.0.0.1:PORT.
_gs_port_free() {
    local port=$1
    if command -v ss >/dev/null 2>&1; then
        if ss -Htln "sport = :$port" 2>/dev/null | grep -q .; then return 1; fi
    else
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 1; fi
    fi
    return 0
}

# _gs_pick_port: print a free port in 20000-60000.
_gs_pick_port() {
    local _ port
    for _ in $(seq 1 200); do
        port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40001 ))
        if _gs_port_free "$port"; then
            echo "$port"
            return 0
        fi
    done
    _gs_log "no free port found"
    return 1
}

_gs_scheme() { if [ -n "${GITSERVER_TLS_PEM:-}" ]; then echo https; else echo http; fi; }

_gs_random() {
    head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

_gs_write_conf() {
    local dir=$1 port=$2 backend
    backend="$(git --exec-path)/git-http-backend"
    if [ ! -x "$backend" ]; then
        _gs_log "git-http-backend not found at $backend"
        return 1
    fi
    local tls='' only=''
    if [ -n "${GITSERVER_TLS_PEM:-}" ]; then
        tls="server.modules += ( \"mod_openssl\" )
ssl.engine  = \"enable\"
ssl.pemfile = \"$GITSERVER_TLS_PEM\""
    fi
    if [ -n "${GITSERVER_ONLY_FROM:-}" ]; then
        only="\$HTTP[\"remoteip\"] != \"$GITSERVER_ONLY_FROM\" { url.access-deny = ( \"\" ) }"
    fi
    cat >"$dir/lighttpd.conf" <<EOF
# written by tests/lib/gitserver.sh
server.modules = ( "mod_access", "mod_alias", "mod_auth", "mod_authn_file",
                   "mod_setenv", "mod_cgi", "mod_accesslog" )
$tls
$only
server.bind          = "127.0.0.1"
server.port          = $port
server.document-root = "$dir/www"
server.errorlog      = "$dir/lighttpd.log"
# lighttpd buffers a log file's lines (written when the second changes or
# every 4 s); a pipe it writes at once, so counts read from the log are current
accesslog.filename   = "|exec /bin/cat >>$dir/access.log"
server.max-request-size = 0
server.stream-request-body = 0

alias.url = ( "/git" => "$backend" )

\$HTTP["url"] =~ "^/git(/|\$)" {
    cgi.assign = ( "" => "" )
    setenv.set-environment = (
        "GIT_PROJECT_ROOT"    => "$dir/repos",
        "GIT_HTTP_EXPORT_ALL" => "1",
        "GIT_CONFIG_NOSYSTEM" => "1"
    )
    auth.backend = "plain"
    auth.backend.plain.userfile = "$dir/htpasswd"
    auth.require = ( "" => ( "method"  => "basic",
                             "realm"   => "git",
                             "require" => "valid-user" ) )
}
EOF
}

_gs_save_env() {
    local dir=$1
    {
        printf 'GITSERVER_DIR=%q\n' "$dir"
        printf 'GITSERVER_PORT=%q\n' "$GITSERVER_PORT"
        printf 'GITSERVER_URL=%q\n' "$GITSERVER_URL"
        printf 'GITSERVER_USER=%q\n' "$GITSERVER_USER"
        printf 'GITSERVER_PASS=%q\n' "$GITSERVER_PASS"
        printf 'GITSERVER_PID=%q\n' "$GITSERVER_PID"
        printf 'GITSERVER_TLS_PEM=%q\n' "${GITSERVER_TLS_PEM:-}"
        printf 'GITSERVER_ONLY_FROM=%q\n' "${GITSERVER_ONLY_FROM:-}"
    } >"$dir/gitserver.env"
}

_gs_load_env() {
    local dir=$1
    if [ ! -f "$dir/gitserver.env" ]; then
        _gs_log "$dir/gitserver.env: no server state"
        return 1
    fi
    # shellcheck disable=SC1091
    . "$dir/gitserver.env"
    export GITSERVER_DIR GITSERVER_PORT GITSERVER_URL GITSERVER_USER GITSERVER_PASS GITSERVER_PID
}

# _gs_launch DIR PORT: start lighttpd -D in the background, wait until it
# answers HTTP (≤10 s). Sets GITSERVER_PID.
_gs_launch() {
    local dir=$1 port=$2 _ code
    if [ ! -x "$GITSERVER_LIGHTTPD" ]; then
        _gs_log "lighttpd not found at $GITSERVER_LIGHTTPD"
        return 1
    fi
    "$GITSERVER_LIGHTTPD" -D -f "$dir/lighttpd.conf" </dev/null >>"$dir/lighttpd.out" 2>&1 &
    GITSERVER_PID=$!
    for _ in $(seq 1 100); do
        if ! kill -0 "$GITSERVER_PID" 2>/dev/null; then
            _gs_log "lighttpd exited at start (port $port); see $dir/lighttpd.out, $dir/lighttpd.log"
            GITSERVER_PID=
            return 1
        fi
        code=$(curl -s -k -o /dev/null -m 2 -w '%{http_code}' "$(_gs_scheme)://127.0.0.1:$port/git/" 2>/dev/null)
        if [ -n "$code" ] && [ "$code" != 000 ]; then
            export GITSERVER_PID
            return 0
        fi
        sleep 0.1
    done
    _gs_log "lighttpd did not answer on port $port within 10 s"
    kill -KILL "$GITSERVER_PID" 2>/dev/null
    GITSERVER_PID=
    return 1
}

# _gs_kill PID: SIGTERM, wait ≤5 s, then SIGKILL; wait until the port is free.
_gs_kill() {
    local pid=$1 _
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        sleep 0.1
    fi
    wait "$pid" 2>/dev/null || true
}

# gitserver_start DIR
gitserver_start() {
    local dir=${1:?usage: gitserver_start DIR} _ port
    mkdir -p "$dir/repos" "$dir/www" || return 1
    dir=$(cd "$dir" && pwd) || return 1
    GITSERVER_DIR=$dir
    GITSERVER_USER=${GITSERVER_USER:-previewd}
    GITSERVER_PASS=$(_gs_random)
    printf '%s:%s\n' "$GITSERVER_USER" "$GITSERVER_PASS" >"$dir/htpasswd"
    chmod 600 "$dir/htpasswd"
    for _ in 1 2 3 4 5; do
        port=$(_gs_pick_port) || return 1
        _gs_write_conf "$dir" "$port" || return 1
        if _gs_launch "$dir" "$port"; then
            GITSERVER_PORT=$port
            GITSERVER_URL="$(_gs_scheme)://127.0.0.1:$port/git"
            export GITSERVER_DIR GITSERVER_PORT GITSERVER_URL GITSERVER_USER GITSERVER_PASS GITSERVER_PID
            _gs_save_env "$dir"
            return 0
        fi
    done
    _gs_log "could not start lighttpd"
    return 1
}

# gitserver_stop [DIR]
gitserver_stop() {
    local dir=${1:-${GITSERVER_DIR:-}} pid=${GITSERVER_PID:-}
    # the state file is kept current by start/pause/resume, also across processes
    if [ -n "$dir" ] && [ -f "$dir/gitserver.env" ]; then
        # shellcheck disable=SC1091
        pid=$(. "$dir/gitserver.env" && echo "$GITSERVER_PID")
    fi
    _gs_kill "$pid"
    if [ -z "${GITSERVER_DIR:-}" ] || [ "$dir" = "${GITSERVER_DIR:-}" ]; then
        GITSERVER_PID=
    fi
    if [ -n "$dir" ] && [ -f "$dir/gitserver.env" ]; then
        sed -i 's/^GITSERVER_PID=.*/GITSERVER_PID=/' "$dir/gitserver.env"
    fi
    return 0
}

# gitserver_pause: stop lighttpd; the port refuses connections until resume.
gitserver_pause() {
    [ -n "${GITSERVER_DIR:-}" ] || { _gs_log "gitserver_pause: no server"; return 1; }
    _gs_kill "${GITSERVER_PID:-}"
    GITSERVER_PID=
    _gs_save_env "$GITSERVER_DIR"
}

# gitserver_resume: start lighttpd again on the same port with the same
# credentials and repositories.
gitserver_resume() {
    [ -n "${GITSERVER_DIR:-}" ] || { _gs_log "gitserver_resume: no server"; return 1; }
    if [ -n "${GITSERVER_PID:-}" ] && kill -0 "$GITSERVER_PID" 2>/dev/null; then
        return 0
    fi
    local _
    for _ in $(seq 1 50); do
        _gs_port_free "$GITSERVER_PORT" && break
        sleep 0.1
    done
    _gs_launch "$GITSERVER_DIR" "$GITSERVER_PORT" || return 1
    _gs_save_env "$GITSERVER_DIR"
}

# git_init_bare REPO: a new bare repository REPO, default branch main, that
# refuses non-fast-forward pushes.
git_init_bare() {
    git init -q --bare --initial-branch=main "${1:?usage: git_init_bare REPO}" &&
        git -C "$1" config receive.denyNonFastForwards true
}

# git_seed REPO SEEDDIR: push one commit to main of REPO (any URL git can
# push to) holding SEEDDIR's contents byte for byte, "seed from <dir name>".
git_seed() {
    local repo=${1:?usage: git_seed REPO SEEDDIR} seed=${2:?usage: git_seed REPO SEEDDIR} tmp rc
    if [ ! -d "$seed" ]; then
        _gs_log "seed dir $seed not found"
        return 1
    fi
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/gitserver-seed.XXXXXX") || return 1
    (
        set -e
        git clone -q "$repo" "$tmp/w" 2>/dev/null
        cp -a "$seed/." "$tmp/w/"
        cd "$tmp/w"
        git -c core.autocrlf=false add -A
        git -c user.name=seed -c user.email=seed@localhost -c commit.gpgsign=false \
            commit -q -m "seed from $(basename "$seed")"
        git push -q origin HEAD:refs/heads/main
    )
    rc=$?
    rm -rf "$tmp"
    return $rc
}

# gitserver_new_repo NAME [SEEDDIR]: bare repo DIR/repos/NAME.git, default
# branch main; with SEEDDIR, one commit with SEEDDIR's contents (byte for byte).
gitserver_new_repo() {
    local name=${1:?usage: gitserver_new_repo NAME [SEEDDIR]} seed=${2:-} repo
    [ -n "${GITSERVER_DIR:-}" ] || { _gs_log "gitserver_new_repo: start the server first"; return 1; }
    repo="$GITSERVER_DIR/repos/$name.git"
    if [ -e "$repo" ]; then
        _gs_log "$repo exists"
        return 1
    fi
    git_init_bare "$repo" || return 1
    git -C "$repo" config http.receivepack true
    git -C "$repo" config receive.denyDeletes true
    # reflog of pushes: the identity recorded is REMOTE_USER (the basic-auth user)
    git -C "$repo" config core.logAllRefUpdates always
    if [ -n "$seed" ]; then
        git_seed "$repo" "$seed" || { _gs_log "seeding $repo failed"; return 1; }
    fi
    return 0
}

# gitserver_passfile FILE [PASSWORD]: write PASSWORD (the server's by
# default) and a newline to FILE, mode 600, for PREVIEWD_GIT_PASSWORD_FILE.
gitserver_passfile() {
    printf '%s\n' "${2-$GITSERVER_PASS}" >"${1:?usage: gitserver_passfile FILE [PASSWORD]}" && chmod 600 "$1"
}

# gitserver_url NAME: the clone URL of repo NAME with credentials embedded.
gitserver_url() {
    printf '%s://%s:%s@127.0.0.1:%s/git/%s.git\n' "$(_gs_scheme)" \
        "$GITSERVER_USER" "$GITSERVER_PASS" "$GITSERVER_PORT" "${1:?usage: gitserver_url NAME}"
}

_gs_main() {
    local cmd=${1:-} dir=${2:-}
    case "$cmd" in
    start)
        [ -n "$dir" ] || { echo "usage: $0 start DIR" >&2; return 2; }
        gitserver_start "$dir" || return 1
        sed 's/^/export /' "$GITSERVER_DIR/gitserver.env"
        ;;
    stop)
        [ -n "$dir" ] || { echo "usage: $0 stop DIR" >&2; return 2; }
        gitserver_stop "$dir"
        ;;
    new-repo)
        if [ -z "$dir" ] || [ -z "${3:-}" ]; then
            echo "usage: $0 new-repo DIR NAME [SEEDDIR]" >&2
            return 2
        fi
        _gs_load_env "$dir" && gitserver_new_repo "$3" "${4:-}"
        ;;
    pause)
        _gs_load_env "$dir" && gitserver_pause
        ;;
    resume)
        _gs_load_env "$dir" && gitserver_resume && sed 's/^/export /' "$dir/gitserver.env"
        ;;
    env)
        _gs_load_env "$dir" && sed 's/^/export /' "$dir/gitserver.env"
        ;;
    *)
        echo "usage: $0 start DIR | stop DIR | new-repo DIR NAME [SEEDDIR] | pause DIR | resume DIR | env DIR" >&2
        return 2
        ;;
    esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    _gs_main "$@"
    exit $?
fi
