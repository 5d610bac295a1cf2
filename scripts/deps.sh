#!/bin/sh
# Installs the Debian packages devtrust builds and tests with, only when one is
# missing, so `make` stays fast and offline once a machine is set up.
# Usage: scripts/deps.sh [build|test|bench]
set -eu
need_build="build-essential pkg-config libssl-dev openssl libsqlite3-dev sqlite3 libjansson-dev libevent-dev libcurl4-openssl-dev"
need_test="libcmocka-dev gnutls-bin clang clang-format cppcheck libclang-rt-14-dev nginx-light curl python3 iproute2 faketime mosquitto mosquitto-clients freeradius eapoltest"
need_bench="wrk golang-cfssl"
case "${1:-build}" in
build) pkgs="$need_build" ;;
test) pkgs="$need_build $need_test" ;;
bench) pkgs="$need_build $need_test $need_bench" ;;
*) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
