#!/bin/bash
# Replays every seed corpus (tests/data/fuzz/<target>/) through its libFuzzer
# harness built with tests/fuzz/driver.c instead of libFuzzer, so the real and
# hostile inputs, and every crash once found, stay regression tests.
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
BUILD=${BUILD:-build}
LIB="$BUILD/libdevtrust.a"

CC_FUZZ=${CC:-cc}
SAN=""
# A sanitized library (make asan) only links with the same sanitizers.
if nm "$LIB" 2>/dev/null | grep -q ' U __asan_'; then
	CC_FUZZ=clang
	SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
fi
. scripts/libs.sh
mkdir -p "$WORK/fuzz"

for t in $FUZZ_ALL; do
	bin="$WORK/fuzz/${t}_fuzz"
	fuzz_parts "$t"
	inputs=(tests/data/fuzz/"$t"/*)
	if [ ! -f "${inputs[0]}" ]; then
		fail "fuzz-corpus $t: no seed corpus in tests/data/fuzz/$t"
		continue
	fi
	# shellcheck disable=SC2046,SC2086 # flag lists split on purpose
	if ! $CC_FUZZ -std=c11 -D_DEFAULT_SOURCE -g -O1 -Iinclude -Isrc \
		$(pkg-config --cflags openssl sqlite3 jansson) $SAN -o "$bin" \
		$src tests/fuzz/driver.c "$lib" $libs >"$WORK/$t.build" 2>&1; then
		fail "fuzz-corpus $t: harness does not build: $(head -c 300 "$WORK/$t.build")"
		continue
	fi
	if "$bin" "${inputs[@]}" >"$WORK/$t.out" 2>&1; then
		pass "fuzz-corpus $t (${#inputs[@]} inputs)"
		continue
	fi
	# One process per input only now, to name the inputs at fault.
	bad=""
	for f in "${inputs[@]}"; do
		"$bin" "$f" >"$WORK/$t.one" 2>&1 || bad="$bad $(basename "$f") [$(grep -m1 -E \
			'runtime error|ERROR: AddressSanitizer|_fuzz:' "$WORK/$t.one" | cut -c1-160)]"
	done
	fail "fuzz-corpus $t: failing inputs:${bad:- (only together: $(tail -c 300 "$WORK/$t.out"))}"
done
