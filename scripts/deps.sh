#!/bin/sh
# Installs the Debian packages devtrust builds and tests with, only when one is
# missing, so `make` stays fast and offline once a machine is set up.
# Usage: scripts/deps.sh [build|test|bench]
set -eu
need_build="build-essential pkg-config libssl-dev openssl libsqlite3-dev sqlite3 libjansson-dev libevent-dev libcurl4-openssl-dev libseccomp-dev"
need_test="libcmocka-dev gnutls-bin clang clang-format cppcheck libclang-rt-14-dev nginx-light curl python3 python3-jsonschema iproute2 faketime mosquitto mosquitto-clients freeradius eapoltest chromium"
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
# The dashboard test (tests/integration/ui_test.sh) drives chromium from node: any
# node >= 18 will do (one installed outside apt too), else Debian's.
if [ "${1:-build}" != build ] && ! { command -v node && command -v npm; } >/dev/null; then
	missing="$missing nodejs npm"
fi
if [ -n "$missing" ]; then
	echo "deps: installing$missing" >&2
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# playwright-core, at the version tests/ui/package-lock.json pins, in
# tests/ui/node_modules (ignored by git); it drives Debian's /usr/bin/chromium
# and downloads no browser of its own.
if [ "${1:-build}" != build ]; then
	ui="$(cd "$(dirname "$0")/.." && pwd)/tests/ui"
	want=$(sed -n 's/^ *"playwright-core": "\([0-9.]*\)".*/\1/p' "$ui/package.json")
	have=$(sed -n 's/^ *"version": "\([0-9.]*\)".*/\1/p' "$ui/node_modules/playwright-core/package.json" 2>/dev/null | head -1)
	if [ "$want" != "$have" ]; then
		echo "deps: installing playwright-core@$want in tests/ui/node_modules" >&2
		(cd "$ui" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) >&2
	fi
fi
