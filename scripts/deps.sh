#!/bin/sh
# Install the Debian packages previewd needs, only those missing.
#   scripts/deps.sh build   what building and running previewd needs
#   scripts/deps.sh test    plus what the test suite needs
set -eu
mode=${1:-build}
build="build-essential cmake pkg-config git ca-certificates curl
	libmicrohttpd-dev libjansson-dev libgit2-dev libsqlite3-dev libcurl4-openssl-dev libyaml-dev libssl-dev zlib1g-dev"
test="libcmocka-dev clang libclang-rt-14-dev lighttpd lighttpd-mod-openssl openssh-server jq python3 python3-yaml python3-websocket sqlite3 docker-compose
	chromium wrk openssl iproute2 golang-go golang-github-masterminds-sprig-dev golang-github-ghodss-yaml-dev tinyproxy"
want=$build
[ "$mode" = test ] && want="$build $test"

missing=
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing
