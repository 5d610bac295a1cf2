#!/bin/bash
# The agent's device build (make agent-device): a static, HTTPS-only libcurl
# built from Debian 12's own curl source package, as Buildroot and Yocto build
# it for devices: OpenSSL only, HTTP/1.1 and HTTPS (and HTTPS proxies), Basic
# authentication, the threaded resolver; no other protocol, no HTTP/2, no
# compression, IDN, PSL, cookies, HSTS or alt-svc (docs/DECISIONS.md).
#
# The source is the same version as the installed libcurl4-openssl-dev (so it
# carries the same Debian security patches as the system's libcurl), else, if
# the mirror no longer has that version, bookworm's newest; DEVICE_CURL_VERSION
# names one (which the mirror must have). apt-get source checks the files
# against the signed Sources index; deb-src lines for bookworm, bookworm-updates
# and bookworm-security are added under /etc/apt/sources.list.d/ when apt has
# none. Needs the network only then, when the version changes or on a new
# machine; JOBS (default 2) parallel compilations.
#
# Cached: nothing is done when DIR/prefix/lib/libcurl.a was built with this
# script's options from the wanted version, or from a newer one when none was
# named (DIR/prefix/.stamp): an upgrade of libcurl4-openssl-dev rebuilds it.
# Layout: DIR/src (the source package: .dsc and tarballs), DIR/obj (the build
# tree, removed once installed), DIR/prefix (lib/libcurl.a, include/curl),
# DIR/build.log.
# Usage: scripts/build-device-curl.sh [DIR]   (default build/device-curl)
set -euo pipefail
DIR=${1:-build/device-curl}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
JOBS=${JOBS:-2}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
log() { echo "device-curl: $*" >&2; }

# Everything libcurl can do but the agent never asks for is left out; what
# stays: http, https, proxies, Basic auth, IPv6, the threaded resolver (DNS
# lookups time out), OpenSSL with the system's openssl.cnf.
CONFIGURE_ARGS=(
	--disable-shared --enable-static --disable-dependency-tracking
	--with-openssl --without-gnutls --without-ca-bundle --without-ca-path --without-ca-fallback
	--disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp --disable-dict
	--disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-smb --disable-smtp
	--disable-gopher --disable-mqtt --disable-websockets
	--disable-crypto-auth --disable-ntlm --disable-ntlm-wb --disable-tls-srp
	--disable-unix-sockets --disable-cookies --disable-doh --disable-mime --disable-netrc
	--disable-alt-svc --disable-hsts --disable-headers-api --disable-get-easy-options
	--disable-progress-meter --disable-dateparse --disable-verbose --disable-manual
	--disable-libcurl-option
	--without-zlib --without-brotli --without-zstd --without-libssh2 --without-libssh
	--without-wolfssh --without-nghttp2 --without-ngtcp2 --without-nghttp3 --without-quiche
	--without-msh3 --without-hyper --without-libidn2 --without-libpsl --without-librtmp
	--without-gssapi --without-libgsasl --without-zsh-functions-dir --without-fish-functions-dir
)

# --- which version ---------------------------------------------------------------------
installed=$(dpkg-query -W -f='${Version}' libcurl4-openssl-dev 2>/dev/null || true)
want=${DEVICE_CURL_VERSION:-$installed}
[ -n "$want" ] || {
	log "no DEVICE_CURL_VERSION and libcurl4-openssl-dev is not installed (scripts/deps.sh build)"
	exit 1
}
# The stamp: "curl VERSION; HASH" (HASH: this script's, so its options).
hash=$(sha256sum "$0" | cut -c1-16)
if [ -f "$DIR/prefix/lib/libcurl.a" ] && read -r _ built_v built_h 2>/dev/null <"$DIR/prefix/.stamp" &&
	[ "$built_h" = "$hash" ]; then
	built_v=${built_v%;}
	# Built from the wanted version (or, unless one was named, a newer one).
	if [ "$built_v" = "$want" ] ||
		{ [ -z "${DEVICE_CURL_VERSION:-}" ] && dpkg --compare-versions "$built_v" ge "$want"; }; then
		exit 0
	fi
fi

T0=$(date +%s)
# --- the source package -------------------------------------------------------------------
source_versions() { apt-cache showsrc curl 2>/dev/null | sed -n 's/^Version: //p' || true; }
has_version() { grep -qxF "$1" <<<"$(source_versions)"; }
if ! has_version "$want"; then
	if [ -z "$(source_versions)" ]; then
		list=/etc/apt/sources.list.d/devtrust-deb-src.sources
		log "adding Debian 12's source lists ($list)"
		$SUDO tee "$list" >/dev/null <<'EOF'
# Added by devtrust's scripts/build-device-curl.sh (apt-get source curl).
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	fi
	$SUDO apt-get update -qq
fi
command -v dpkg-source >/dev/null || {
	log "installing dpkg-dev"
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null
}
if ! has_version "$want"; then
	newest=$(source_versions | sort -V | tail -1)
	[ -n "$newest" ] || { log "apt has no source for curl" && exit 1; }
	[ -z "${DEVICE_CURL_VERSION:-}" ] || {
		log "the mirror has no curl $want source, only: $(source_versions | tr '\n' ' ')"
		exit 1
	}
	log "the mirror no longer has curl $want (the installed libcurl4-openssl-dev): building $newest"
	want=$newest
fi

rm -rf "$DIR/src" "$DIR/obj" "$DIR/prefix" && mkdir -p "$DIR/src" "$DIR/obj"
: >"$DIR/build.log"
trap 'log "failed; the end of $DIR/build.log:"; tail -20 "$DIR/build.log" >&2' ERR
log "fetching curl $want (apt-get source)"
(cd "$DIR/src" && apt-get source -qq "curl=$want") >>"$DIR/build.log" 2>&1
SRC=$(find "$DIR/src" -mindepth 1 -maxdepth 1 -type d -name 'curl-*' | head -1)
# dpkg-source applied the whole series; the last two patches make the GnuTLS
# and NSS flavours (libcurl-gnutls, libcurl-nss). debian/rules pops them for
# the OpenSSL flavour, and so does this.
for p in 99_nss 90_gnutls; do
	if grep -qx "$p.patch" "$SRC/.pc/applied-patches" 2>/dev/null; then
		(cd "$SRC" && patch -R -p1 -s <"debian/patches/$p.patch")
	fi
done

# --- configure, build, install --------------------------------------------------------------
# Debian's hardening flags, -Os instead of -O2, each function in its section so
# that the agent's link (--gc-sections) drops what it never calls. configure is
# the release's own: the patches that touch configure.ac or Makefile.am concern
# LDAP, GSS-API, zsh and the flavours, all left out here.
CFLAGS="$(dpkg-buildflags --get CFLAGS | sed 's/-O2/-Os/') -ffunction-sections -fdata-sections"
log "configuring"
(cd "$DIR/obj" && "$SRC/configure" --prefix="$DIR/prefix" "${CONFIGURE_ARGS[@]}" \
	CFLAGS="$CFLAGS" CPPFLAGS="$(dpkg-buildflags --get CPPFLAGS)") >>"$DIR/build.log" 2>&1
grep -q 'Protocols: *HTTP HTTPS$' "$DIR/build.log" || {
	log "configure did not settle on HTTP and HTTPS alone (see $DIR/build.log)"
	exit 1
}
log "building libcurl (make -j$JOBS)"
{
	make -C "$DIR/obj/lib" -j"$JOBS"
	make -C "$DIR/obj/lib" install
	make -C "$DIR/obj/include" install
	make -C "$DIR/obj" install-pkgconfigDATA
} >>"$DIR/build.log" 2>&1
# The build tree and the unpacked source go (58 MB); the .dsc and tarballs stay.
rm -rf "$DIR/obj" "$SRC"
echo "curl $want; $hash" >"$DIR/prefix/.stamp"
log "curl $want built in $(($(date +%s) - T0)) s: $DIR/prefix/lib/libcurl.a"
