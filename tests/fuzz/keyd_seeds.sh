#!/bin/bash
# Regenerates the seed corpus of keyd_fuzz in tests/data/fuzz/keyd/ and its
# fixture CA keys in tests/fuzz/keyd_keys/ (keyd_seeds.c): the requests the
# server sends its signer for real operations on a throwaway data dir, as
# captured from keyd_client.c, and hostile ones made from them.
#   tests/fuzz/keyd_seeds.sh [BUILD]   (default build; needs BUILD/devtrust and
#                                       BUILD/libdevtrust.a)
# The keys are the seeds' CAs: they are written together, and the harness
# puts them in its own data dir.
set -eu
cd "$(dirname "$0")/../.."
B=${1:-build}
OUT=tests/data/fuzz/keyd
KEYS=tests/fuzz/keyd_keys
W=$(mktemp -d "${TMPDIR:-/tmp}/keyd-seeds.XXXXXX")
trap 'rm -rf "$W"' EXIT
export DEVTRUST_DATA="$W/data" DEVTRUST_PASSPHRASE=seed-only
mkdir -p "$OUT" "$KEYS"
rm -f "$OUT"/* "$KEYS"/*

"$B/devtrust" init --org keyd-seeds >/dev/null
. scripts/libs.sh
# shellcheck disable=SC2046 # flag lists split on purpose
${CC:-cc} -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -Iinclude -Isrc \
	$(pkg-config --cflags openssl sqlite3 jansson) -o "$W/keyd_seeds" tests/fuzz/keyd_seeds.c \
	"$B/libdevtrust.a" $DT_LIBS $(pkg-config --libs libevent) \
	-Wl,--wrap=sendmsg -Wl,--wrap=recv
"$W/keyd_seeds" "$DEVTRUST_DATA" "$PWD/$B/devtrust" "$OUT" "$KEYS"
echo "keyd seeds: $(find "$OUT" -type f | wc -l) in $OUT, keys in $KEYS"
