#!/usr/bin/env bash
# ctest-labels: integration
# test_tls_proxy.sh — the outbound policy (service/outbound.h) against real
# parts on loopback: a private CA made here with the openssl CLI, lighttpd
# with mod_openssl serving git http-backend, tinyproxy as the only route to
# the Git server, and python3's ssl for the webhook receiver and Argo CD.
#
#   A  https Git with PREVIEWD_GIT_CA_FILE: ready, a create is pushed; with
#      another CA or none: not ready, /readyz, the log and a write name the
#      certificate problem, a write answers 503; a CA file that is missing or not PEM is refused
#   B  the Git server answers 403 to every client but 127.0.0.2, tinyproxy
#      binds 127.0.0.2: https_proxy, PREVIEWD_GIT_PROXY, no_proxy; plain
#      http through http_proxy and PREVIEWD_GIT_PROXY, with proxy credentials
#   C  notifications and Argo CD webhooks over https with PREVIEWD_CA_FILE,
#      and without it
#
# The helpers below are called through t_ok/t_eventually:
# shellcheck disable=SC2317

# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

SRC=${PV_SOURCE_DIR:-$T_ROOT}
SEED=$SRC/deploy/helm-env
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy NO_PROXY all_proxy ALL_PROXY

if [ ! -f /usr/lib/lighttpd/mod_openssl.so ] || ! command -v tinyproxy >/dev/null || ! command -v openssl >/dev/null; then
	t_skip "needs lighttpd-mod-openssl, tinyproxy and openssl (scripts/deps.sh test)"
	t_end
fi

# ------------------------------------------------------------------ the CAs
PKI=$(t_mktemp pki)
make_ca() {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/$1.key" -out "$PKI/$1.pem" -days 2 \
		-subj "/CN=previewd test $1" -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
t_need "a private CA" make_ca ca
t_need "another CA" make_ca other
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$PKI/ext"
t_need "a server certificate from the private CA" sh -c "
	openssl req -newkey rsa:2048 -nodes -keyout '$PKI/srv.key' -out '$PKI/srv.csr' -subj /CN=localhost 2>/dev/null &&
	openssl x509 -req -in '$PKI/srv.csr' -CA '$PKI/ca.pem' -CAkey '$PKI/ca.key' -CAcreateserial \
		-out '$PKI/srv.crt' -days 2 -extfile '$PKI/ext' 2>/dev/null &&
	cat '$PKI/srv.crt' '$PKI/srv.key' >'$PKI/srv.pem'"
printf 'not a certificate\n' >"$PKI/junk.pem"

# ------------------------------------------------------------------ helpers
git_error() { curl -s -m 5 "$PV_URL/readyz" | jq -r '.checks.git.error // ""'; }
git_error_has() { git_error | grep -qiE "$1"; }
log_has() { grep -qiE "$1" "$PV_LOG"; }
pushed() { git --git-dir "$GITSERVER_DIR/repos/gitops.git" cat-file -e "main:env/$1/values.yaml" 2>/dev/null; }
create() { http POST /v1/environments "{\"name\":\"$1\",\"owner\":\"t\"}" -H 'Prefer: wait=10'; }
# requests the Git server took from the proxy's address (lighttpd's access
# log; tinyproxy's own log is written late)
via_proxy() { grep -c "^127.0.0.2 .*\"$1 /git/gitops.git/$2" "$GITSERVER_DIR/access.log" 2>/dev/null || true; }
more_via_proxy() { [ "$(via_proxy "$1" "$2")" -gt "$3" ]; }
proxy_logged() { grep -q "$1" "$PROXY_LOG"; }

start_git() { # [GITSERVER_* assignments]
	local d a
	d=$(t_mktemp git)
	for a in "$@"; do export "${a?}"; done
	gitserver_start "$d" && gitserver_new_repo gitops "$SEED" && gitserver_passfile "$T_TMP/pw"
	t_defer gitserver_stop "$d"
}
git_args() {
	GIT_ARGS=(PREVIEWD_GIT_URL="$GITSERVER_URL/gitops.git" PREVIEWD_GIT_USERNAME="$GITSERVER_USER"
		PREVIEWD_GIT_PASSWORD_FILE="$T_TMP/pw" PREVIEWD_WAIT_MS=10000 PREVIEWD_PUSH_BACKOFF_MAX_MS=500)
}

# ============================================================ A: a private CA
t_begin "A: https Git server with a private CA"
t_need "TLS git server starts" start_git GITSERVER_TLS_PEM="$PKI/srv.pem"
git_args
t_ok "the git CLI trusts the server only with the CA" \
	sh -c "GIT_SSL_CAINFO='$PKI/ca.pem' git ls-remote '$(gitserver_url gitops)' main >/dev/null 2>&1 &&
		! GIT_SSL_CAINFO='$PKI/other.pem' git ls-remote '$(gitserver_url gitops)' main >/dev/null 2>&1"

t_need "previewd with PREVIEWD_GIT_CA_FILE becomes ready" pv_start "$T_TMP/a1" "${GIT_ARGS[@]}" \
	PREVIEWD_GIT_CA_FILE="$PKI/ca.pem"
create tls1
t_eq 201 "$HTTP_STATUS" "a create over https answers 201"
t_ok "the create is on the server" pushed tls1
pv_stop

for ca in other none; do
	extra=()
	[ "$ca" = other ] && extra=(PREVIEWD_GIT_CA_FILE="$PKI/other.pem")
	PV_START_READY=0 pv_start "$T_TMP/a-$ca" "${GIT_ARGS[@]}" "${extra[@]}" || t_bail "previewd did not start"
	t_eventually 20 "with $ca CA file /readyz names the untrusted certificate" git_error_has 'certificate of 127.0.0.1 not trusted'
	t_ok "with $ca CA file /readyz gives the verify reason" git_error_has 'unable to get local issuer certificate'
	t_not "with $ca CA file previewd is not ready" readyz_is ready
	t_ok "with $ca CA file the log names the certificate problem" log_has 'certificate of 127.0.0.1 not trusted'
	create "tls-$ca"
	t_eq 503 "$HTTP_STATUS" "with $ca CA file a write answers 503"
	t_match 'certificate of 127.0.0.1 not trusted' "$(jqr .detail)" "with $ca CA file the 503 names the certificate problem"
	t_not "with $ca CA file nothing reached the server" pushed "tls-$ca"
	pv_stop
done

t_not "a missing PREVIEWD_GIT_CA_FILE is refused at start" env "${GIT_ARGS[@]}" \
	PREVIEWD_DATA_DIR="$T_TMP/a-chk" PREVIEWD_GIT_CA_FILE="$PKI/nope.pem" "$PREVIEWD_BIN" --check-config
t_not "a PREVIEWD_CA_FILE that is not PEM is refused at start" env PREVIEWD_DATA_DIR="$T_TMP/a-chk" \
	PREVIEWD_CA_FILE="$PKI/junk.pem" "$PREVIEWD_BIN" --check-config
t_ok "a PEM PREVIEWD_CA_FILE passes --check-config" env PREVIEWD_DATA_DIR="$T_TMP/a-chk" \
	PREVIEWD_CA_FILE="$PKI/ca.pem" "$PREVIEWD_BIN" --check-config
gitserver_stop

# ============================================================ B: a proxy
# tinyproxy listens on 127.0.0.1 and connects out from 127.0.0.2; the Git
# server answers 403 to any other source, so a connection that skips the
# proxy fails.
start_proxy() { # three ports, in case another process takes the one picked
	local _
	for _ in 1 2 3; do start_proxy_once && return 0; done
	return 1
}
start_proxy_once() {
	local d
	d=$(t_mktemp proxy)
	PROXY_PORT=$(pick_port) || return 1
	PROXY_LOG=$d/tinyproxy.log
	: >"$PROXY_LOG"
	chmod 777 "$d"
	chmod 666 "$PROXY_LOG"
	cat >"$d/tinyproxy.conf" <<EOF
Port $PROXY_PORT
Listen 127.0.0.1
Bind 127.0.0.2
Timeout 60
LogFile "$PROXY_LOG"
LogLevel Info
MaxClients 20
Allow 127.0.0.1
ConnectPort $GITSERVER_PORT
${PROXY_EXTRA:-}
EOF
	tinyproxy -d -c "$d/tinyproxy.conf" >"$d/out" 2>&1 &
	PROXY_PID=$!
	T_BG_PIDS+=("$PROXY_PID")
	for _ in $(seq 1 100); do
		kill -0 "$PROXY_PID" 2>/dev/null || break
		(exec 3<>"/dev/tcp/127.0.0.1/$PROXY_PORT") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "tinyproxy did not start: $(cat "$d/out")" >&2
	return 1
}

t_begin "B: tinyproxy is the only route to an https Git server"
t_need "TLS git server (only 127.0.0.2) starts" start_git GITSERVER_TLS_PEM="$PKI/srv.pem" GITSERVER_ONLY_FROM=127.0.0.2
t_need "tinyproxy starts" start_proxy
git_args
GIT_ARGS+=(PREVIEWD_GIT_CA_FILE="$PKI/ca.pem")
PROXY=http://127.0.0.1:$PROXY_PORT
t_not "the direct route is refused (git ls-remote without the proxy)" \
	env GIT_SSL_CAINFO="$PKI/ca.pem" git ls-remote "$(gitserver_url gitops)" main
t_ok "the route through the proxy works (git ls-remote with https_proxy)" \
	env GIT_SSL_CAINFO="$PKI/ca.pem" https_proxy="$PROXY" git ls-remote "$(gitserver_url gitops)" main

fetches=$(via_proxy GET 'info/refs?service=git-upload-pack')
t_need "previewd with https_proxy becomes ready" pv_start "$T_TMP/b1" "${GIT_ARGS[@]}" https_proxy="$PROXY"
t_eventually 20 "the fetch came through the proxy (from 127.0.0.2)" \
	more_via_proxy GET 'info/refs?service=git-upload-pack' "$fetches"
pushes=$(via_proxy POST git-receive-pack)
create proxied1
t_eq 201 "$HTTP_STATUS" "a create through https_proxy answers 201"
t_ok "the create is on the server" pushed proxied1
t_eventually 20 "the push came through the proxy (from 127.0.0.2)" more_via_proxy POST git-receive-pack "$pushes"
t_eventually 20 "tinyproxy's log shows the CONNECT" proxy_logged "CONNECT 127.0.0.1:$GITSERVER_PORT HTTP/1.1"
pv_stop

pushes=$(via_proxy POST git-receive-pack)
t_need "previewd with PREVIEWD_GIT_PROXY becomes ready" pv_start "$T_TMP/b2" "${GIT_ARGS[@]}" PREVIEWD_GIT_PROXY="$PROXY"
create proxied2
t_eq 201 "$HTTP_STATUS" "a create through PREVIEWD_GIT_PROXY answers 201"
t_ok "the create is on the server" pushed proxied2
t_eventually 20 "PREVIEWD_GIT_PROXY's push came through the proxy" more_via_proxy POST git-receive-pack "$pushes"
pv_stop

PV_START_READY=0 pv_start "$T_TMP/b3" "${GIT_ARGS[@]}" https_proxy="$PROXY" no_proxy="localhost, .example.com,127.0.0.1" ||
	t_bail "previewd did not start"
t_eventually 20 "with no_proxy naming the host previewd goes direct and is refused (403)" git_error_has '403'
t_not "with no_proxy naming the host previewd is not ready" readyz_is ready
# lighttpd writes its access log a moment after the answer
t_eventually 10 "with no_proxy naming the host the direct requests came from 127.0.0.1" \
	grep -q '^127.0.0.1 .*"GET /git/gitops.git/info/refs?service=git-upload-pack HTTP/1.1" 403' "$GITSERVER_DIR/access.log"
pv_stop
gitserver_stop

t_begin "B: tinyproxy is the only route to a plain http Git server"
t_need "plain git server (only 127.0.0.2) starts" start_git GITSERVER_TLS_PEM= GITSERVER_ONLY_FROM=127.0.0.2
# the proxy's ConnectPort is the old server's; plain http needs none
git_args
t_not "the direct route is refused" git ls-remote "$(gitserver_url gitops)" main
t_ok "the route through the proxy works" env http_proxy="$PROXY" git ls-remote "$(gitserver_url gitops)" main
# previewd routes the connection to the proxy (gitstream.c) and libgit2
# writes absolute-form request lines; tinyproxy closes after each response
# without "Connection: close", so each request needs a new connection
fetches=$(via_proxy GET 'info/refs?service=git-upload-pack')
t_need "previewd with http_proxy becomes ready" pv_start "$T_TMP/b4" "${GIT_ARGS[@]}" http_proxy="$PROXY"
t_eventually 20 "the plain http fetch came through the proxy (from 127.0.0.2)" \
	more_via_proxy GET 'info/refs?service=git-upload-pack' "$fetches"
pushes=$(via_proxy POST git-receive-pack)
create plain1
t_eq 201 "$HTTP_STATUS" "a create through http_proxy answers 201"
t_ok "the create is on the server" pushed plain1
t_eventually 20 "the plain http push came through the proxy (from 127.0.0.2)" \
	more_via_proxy POST git-receive-pack "$pushes"
t_eventually 20 "tinyproxy's log shows the absolute-form GET" \
	proxy_logged "GET http://127.0.0.1:$GITSERVER_PORT/git/gitops.git/info/refs?service=git-receive-pack HTTP/1.1"
t_eventually 20 "tinyproxy's log shows the absolute-form POST" \
	proxy_logged "POST http://127.0.0.1:$GITSERVER_PORT/git/gitops.git/git-receive-pack HTTP/1.1"
pv_stop

PROXY_EXTRA="BasicAuth pvuser pvpass" t_need "tinyproxy with BasicAuth starts" start_proxy
pushes=$(via_proxy POST git-receive-pack)
PV_START_READY=0 pv_start "$T_TMP/b4c" "${GIT_ARGS[@]}" PREVIEWD_GIT_PROXY="http://127.0.0.1:$PROXY_PORT" ||
	t_bail "previewd did not start"
t_eventually 20 "without the proxy's credentials the fetch is refused (407)" git_error_has 'proxy authentication required'
pv_stop
t_need "previewd with the proxy's credentials in PREVIEWD_GIT_PROXY becomes ready" pv_start "$T_TMP/b4d" \
	"${GIT_ARGS[@]}" PREVIEWD_GIT_PROXY="http://pvuser:pv%70ass@127.0.0.1:$PROXY_PORT"
create plain3
t_eq 201 "$HTTP_STATUS" "a create through the proxy that wants credentials answers 201"
t_ok "the create is on the server" pushed plain3
t_eventually 20 "the push came through the proxy that wants credentials" more_via_proxy POST git-receive-pack "$pushes"
pv_stop
pushes=$(via_proxy POST git-receive-pack)
t_need "previewd with PREVIEWD_GIT_PROXY (plain http) becomes ready" pv_start "$T_TMP/b4b" "${GIT_ARGS[@]}" \
	PREVIEWD_GIT_PROXY="$PROXY"
create plain2
t_eq 201 "$HTTP_STATUS" "a create through PREVIEWD_GIT_PROXY over plain http answers 201"
t_ok "the create is on the server" pushed plain2
t_eventually 20 "PREVIEWD_GIT_PROXY's plain http push came through the proxy" \
	more_via_proxy POST git-receive-pack "$pushes"
# previewd's requests name libgit2 as their User-Agent
t_eq 0 "$(grep -c '^127.0.0.1 .*libgit2' "$GITSERVER_DIR/access.log" || true)" \
	"no plain http request of previewd's reached the server directly"
pv_stop

PV_START_READY=0 pv_start "$T_TMP/b5" "${GIT_ARGS[@]}" || t_bail "previewd did not start"
t_eventually 20 "without a proxy previewd goes direct and is refused (403)" git_error_has '403'
pv_stop
gitserver_stop

# ============================================================ C: webhooks
t_begin "C: notifications and Argo CD over https with PREVIEWD_CA_FILE"
RLOG=$T_TMP/rcv.jsonl
FLOG=$T_TMP/fake.jsonl
: >"$T_TMP/fake.control"
printf 'tok\n' >"$T_TMP/argocd-token"
LOOPBACK_TLS_PEM=$PKI/srv.pem rcv_start R "$RLOG" || t_bail "receiver did not start"
LOOPBACK_TLS_PEM=$PKI/srv.pem bg_start F "$T_TMP/fake.out" python3 "$T_ROOT/tests/lib/fake_argocd.py" \
	--log "$FLOG" --control "$T_TMP/fake.control" --token tok || t_bail "fake Argo CD did not start"
HOOK_ARGS=(PREVIEWD_WEBHOOK_URL="https://localhost:$R_PORT/hook" PREVIEWD_WEBHOOK_BACKOFF_MAX=1s
	PREVIEWD_ARGOCD_WEBHOOK_URL="https://127.0.0.1:$F_PORT/api/webhook" PREVIEWD_WAIT_MS=10000)
lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
has_lines() { [ "$(lines "$1")" -gt 0 ]; }

t_need "previewd with PREVIEWD_CA_FILE starts" pv_start "$T_TMP/c1" "${HOOK_ARGS[@]}" PREVIEWD_CA_FILE="$PKI/ca.pem"
create hook1
t_eq 201 "$HTTP_STATUS" "a create answers 201"
t_eventually 20 "the notification arrives over https" has_lines "$RLOG"
t_eventually 20 "the Argo CD webhook arrives over https" has_lines "$FLOG"
pv_stop

: >"$RLOG"
: >"$FLOG"
t_need "previewd without PREVIEWD_CA_FILE starts" pv_start "$T_TMP/c2" "${HOOK_ARGS[@]}"
create hook2
t_eventually 20 "the failed notification's TLS reason is in the log" \
	log_has 'notify: .*(SSL certificate problem|certificate verify failed)'
t_eventually 20 "the failed Argo CD webhook's TLS reason is in the log" \
	log_has "127.0.0.1:$F_PORT/api/webhook.*(SSL certificate problem|certificate verify failed)"
t_eq 0 "$(lines "$RLOG")" "no notification arrived without the CA"
t_eq 0 "$(lines "$FLOG")" "no Argo CD webhook arrived without the CA"
pv_stop

t_end
