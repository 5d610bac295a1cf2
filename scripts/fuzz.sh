#!/bin/bash
# Builds libdevtrust and every libFuzzer harness in tests/fuzz/ with clang,
# ASan and UBSan into build-fuzz/, then runs each harness for SECONDS over a
# working copy of its seed corpus. One line per target; exit 1 on any crash.
#   scripts/fuzz.sh [SECONDS]        (default 60)
#   FUZZ_TARGETS="csr csv" scripts/fuzz.sh 300    a subset
# Crashes land in build-fuzz/artifacts/<target>/, logs in build-fuzz/logs/.
set -eu
cd "$(dirname "$0")/.."
DURATION=${1:-60}
BUILD=build-fuzz
. scripts/libs.sh
TARGETS=${FUZZ_TARGETS:-$FUZZ_ALL}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
CFLAGS_FUZZ="-g -O1 -fno-omit-frame-pointer $SAN"

# Longest input worth trying per target: a little past the parser's own limit
# (DT_MAX_CSR_BYTES 16 KiB, DT_MAX_CSV_LINE 4 KiB, DT_MAX_EST_BODY 22572,
# DT_MAX_OCSP_REQUEST_BYTES 4 KiB), so the limit checks are hit.
max_len() {
	case $1 in
	csr) echo 20000 ;;
	csv) echo 5000 ;;
	import) echo 16384 ;;
	names) echo 256 ;;
	est) echo 23000 ;;
	ocsp) echo 5000 ;;
	# authz: headers of at most 16 KiB (HTTP_MAX_HEADERS).
	authz) echo 17000 ;;
	# devtrust-agent: AG_MAX_BODY 64 KiB; csrattrs replies are tiny;
	# AG_MAX_CONFIG_BYTES 16 KiB.
	agent_certsonly) echo 66000 ;;
	agent_csrattrs) echo 4096 ;;
	agent_config) echo 17000 ;;
	# api: a request line and a body of at most 32 KiB (HTTP_MAX_BODY).
	api) echo 33000 ;;
	# keyd: requests of the signer process; a CA certificate or TBSCertificate of at
	# most 16 KiB (KEYD_MAX_CERT), two of them in a frame; longer claimed lengths
	# need no bytes behind them to be tried.
	keyd) echo 40000 ;;
	# launcher: a control message is 12 bytes; longer ones must be refused.
	launcher) echo 256 ;;
	esac
}
dict_of() {
	case $1 in
	import) echo tests/fuzz/csv.dict ;;
	*) echo "tests/fuzz/$1.dict" ;;
	esac
}

case $DURATION in
'' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2 && exit 2 ;;
esac
command -v clang >/dev/null || { echo "fuzz: clang is required (scripts/deps.sh test)" >&2 && exit 2; }

echo "fuzz: building $BUILD/libdevtrust.a with clang and $SAN"
mkdir -p "$BUILD/fuzz" "$BUILD/logs"
make --no-print-directory BUILD=$BUILD CC=clang \
	OPT="$CFLAGS_FUZZ -fsanitize=fuzzer-no-link" EXTRA_LDFLAGS="$SAN" \
	$BUILD/libdevtrust.a $BUILD/libdtagent.a >"$BUILD/logs/make.log" 2>&1 || {
	cat "$BUILD/logs/make.log" >&2
	exit 1
}
for t in $TARGETS; do
	fuzz_parts "$t"
	# shellcheck disable=SC2046,SC2086 # flag lists split on purpose
	clang -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -Iinclude -Isrc \
		$(pkg-config --cflags openssl sqlite3 jansson) $CFLAGS_FUZZ -fsanitize=fuzzer \
		-o "$BUILD/fuzz/${t}_fuzz" $src "$lib" $libs
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
for t in $TARGETS; do
	corpus="$BUILD/corpus/$t"
	artifacts="$BUILD/artifacts/$t/"
	log="$BUILD/logs/$t.log"
	dict=$(dict_of "$t")
	mkdir -p "$corpus" "$artifacts"
	# The working corpus keeps what earlier runs found; the seeds are re-added.
	cp -p tests/data/fuzz/"$t"/* "$corpus"/ 2>/dev/null || true
	set +e
	"$BUILD/fuzz/${t}_fuzz" -max_total_time="$DURATION" -max_len="$(max_len "$t")" \
		-timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$artifacts" ${dict:+-dict="$dict"} "$corpus" >"$log" 2>&1
	rc=$?
	set -e
	execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' ||
		grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
	rate=$(grep -oE 'exec/s: *[0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$' || true)
	cov=$(grep -oE 'cov: *[0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$' || true)
	if [ "$rc" -eq 0 ]; then
		result=ok
	else
		failed=1
		crash=$(grep -oE "Test unit written to [^ ]+" "$log" | tail -1 | sed 's/.* to //')
		why=$(grep -m1 -E 'ERROR: (Address|UndefinedBehavior|libFuzzer)|runtime error:|[a-z]+_fuzz:' "$log" |
			cut -c1-160)
		result="CRASH (exit $rc) ${crash:-no artifact}: ${why:-see $log}"
	fi
	printf 'fuzz %-7s %10s execs  %6s exec/s  cov %5s  %s\n' "$t" "${execs:-0}" \
		"${rate:-?}" "${cov:-?}" "$result"
done
[ "$failed" -eq 0 ] || echo "fuzz: crashes found; logs in $BUILD/logs, inputs in $BUILD/artifacts" >&2
exit "$failed"
