#!/usr/bin/env bash
# Runs every benchmark of docs/BENCHMARKS.md against the library in $BUILD
# (make BUILD=build-bench), each printing our figure beside its bound or goal
# measured in the same run. QUICK=1: a smoke run of about two minutes with
# smaller sizes. PERF=0 skips the perf profiles of issuance and CRL. SERVE=0
# skips the server benchmarks (bench/serve_bench.sh: wrk, cfssl, nginx).
# AUTHZ=0 skips the backend-verification benchmarks (bench/authz_bench.sh).
# Output also goes to $BUILD/bench/results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build-bench}
QUICK=${QUICK:-0}
PERF=${PERF:-1}
SERVE=${SERVE:-1}
AUTHZ=${AUTHZ:-1}
OUT="$BUILD/bench"
LIB="$BUILD/libdevtrust.a"
export DEVTRUST_PASSPHRASE=${DEVTRUST_PASSPHRASE:-bench-passphrase-not-secret}

if [ ! -f "$LIB" ] || [ ! -x "$BUILD/devtrust" ]; then
	echo "bench: $LIB or $BUILD/devtrust missing: run make BUILD=$BUILD first" >&2
	exit 1
fi
mkdir -p "$OUT"
# Every data dir of the run lives here and goes at the end.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/devtrust-bench-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
exec > >(tee "$OUT/results.txt") 2>&1

if [ "$QUICK" = 1 ]; then
	# 20,000 CSRs in all: 3 rounds of 5,000 on 2 threads, 2 of 2,500 on 1
	ISSUE_ARGS=(-n 5000 -r 3 -s 2 -x 0 -b 1)
	BREAKDOWN_N=1000 PERF_N=1500
	CRL_N=100000 CRL_ROUNDS=3 CRL_PERF_N=100000
	INV_N=100000 INV_CERTS=10000
else
	# 5 rounds of 6,000 on 2 threads, 3 of 3,000 on 1, 3 of 6,000 on 16
	ISSUE_ARGS=(-n 6000 -r 5 -s 3 -x 16 -X 3 -b 2)
	BREAKDOWN_N=3000 PERF_N=3000
	CRL_N=1000000 CRL_ROUNDS=3 CRL_PERF_N=300000
	INV_N=1000000 INV_CERTS=100000
fi

CFLAGS=(-std=c11 -D_DEFAULT_SOURCE -O2 -g -Wall -Wextra -Iinclude -Isrc)
. scripts/libs.sh
read -r -a PKG_LIBS <<<"$DT_LIBS"
LIBS=("$LIB" "${PKG_LIBS[@]}")
start=$(date +%s)

echo "== devtrust benchmarks $(date -u +%FT%TZ), QUICK=$QUICK, library $LIB built $(date -u -r "$LIB" +%FT%TZ)"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/ { print $2 " GiB" }')," \
	"$(openssl version), SQLite $(sqlite3 --version | cut -d' ' -f1)"
echo "work tree now: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src include 2>/dev/null || echo ' + uncommitted changes in src/ or include/')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (the cores are shared: figures are noisy)"

cc "${CFLAGS[@]}" -o "$OUT/issue_bench" bench/issue_bench.c "${LIBS[@]}"
cc "${CFLAGS[@]}" -o "$OUT/crl_bench" bench/crl_bench.c "${LIBS[@]}"
# The instrumented build wraps libdevtrust internals by name; if src/ has
# moved on and a wrapped function changed, skip the breakdown, not the run.
mapfile -t WRAP < <(grep -o '__wrap_[A-Za-z0-9_]*' bench/issue_wrap.c | sort -u | sed 's/^__wrap_/-Wl,--wrap=/')
if ! cc "${CFLAGS[@]}" -o "$OUT/issue_bench_wrapped" bench/issue_bench.c bench/issue_wrap.c \
	"${WRAP[@]}" "${LIBS[@]}" 2>"$OUT/wrapped-build.log"; then
	echo "note: instrumented build failed (see $OUT/wrapped-build.log): no breakdown"
	rm -f "$OUT/issue_bench_wrapped"
fi

echo
echo "== 1. issuance: dt_cert_issue against ECDSA verify+sign, same threads"
"$OUT/issue_bench" "${ISSUE_ARGS[@]}" -d "$WORK/issue"

if [ -x "$OUT/issue_bench_wrapped" ]; then
	echo
	echo "== 1b. where dt_cert_issue spends its wall time (instrumented build, 1 thread)"
	"$OUT/issue_bench_wrapped" -m breakdown -n "$BREAKDOWN_N" -d "$WORK/issue-breakdown"
fi

if [ "$PERF" = 1 ] && command -v perf >/dev/null && command -v python3 >/dev/null; then
	echo
	echo "== 1c. perf profile of dt_cert_issue on 2 threads (CPU samples, dwarf call graphs)"
	fifo_dir="$WORK/perf-fifos"
	mkdir "$fifo_dir"
	mkfifo "$fifo_dir/ctl" "$fifo_dir/ack"
	# Recording starts disabled (-D -1); the bench enables it around the rounds
	# of dt_cert_issue only, so setup (key generation) is not in the profile.
	if BENCH_PERF_CTL="$fifo_dir/ctl" BENCH_PERF_ACK="$fifo_dir/ack" \
		perf record -q -F 499 --call-graph dwarf,16384 -D -1 \
		--control "fifo:$fifo_dir/ctl,$fifo_dir/ack" -o "$OUT/perf.data" \
		"$OUT/issue_bench" -m ours -r 1 -n "$PERF_N" -d "$WORK/issue-perf" \
		>"$OUT/perf-run.log" 2>&1; then
		grep '^round' "$OUT/perf-run.log" | sed 's/^/(under perf) /'
		perf script -i "$OUT/perf.data" -F tid,ip,sym,dso 2>/dev/null |
			python3 bench/perf_stages.py "$(realpath "$OUT/issue_bench")" src 25
	else
		echo "note: perf record failed (see $OUT/perf-run.log): no profile"
	fi
	rm -rf "$fifo_dir"
fi

echo
echo "== 2. CRL of $CRL_N revoked certificates"
"$OUT/crl_bench" -n "$CRL_N" -r "$CRL_ROUNDS" -d "$WORK/crl"

if [ "$PERF" = 1 ] && command -v perf >/dev/null && command -v python3 >/dev/null; then
	echo
	echo "== 2b. perf profile of one CRL generation, $CRL_PERF_N entries (main thread only)"
	# --no-inherit leaves out the child that loads the store and openssl crl.
	if perf record -q --no-inherit -F 299 --call-graph dwarf,16384 -o "$OUT/perf-crl.data" \
		"$OUT/crl_bench" -n "$CRL_PERF_N" -r 1 -d "$WORK/crl-perf" >"$OUT/perf-crl-run.log" 2>&1; then
		grep '^round' "$OUT/perf-crl-run.log" | sed 's/^/(under perf) /'
		perf script -i "$OUT/perf-crl.data" -F tid,ip,sym,dso 2>/dev/null |
			python3 bench/perf_stages.py "$(realpath "$OUT/crl_bench")" src 15
	else
		echo "note: perf record failed (see $OUT/perf-crl-run.log): no profile"
	fi
fi

echo
echo "== 3. inventory import and reports, $INV_N devices"
BUILD=$BUILD TMPDIR=$WORK bench/import_bench.sh "$INV_N" "$INV_CERTS"

if [ "$SERVE" = 1 ]; then
	echo
	echo "== 4. devtrust serve under load: EST against cfssl, OCSP against nginx, retirement, memory"
	BUILD=$BUILD QUICK=$QUICK TMPDIR=$WORK bench/serve_bench.sh
fi

if [ "$AUTHZ" = 1 ]; then
	echo
	echo "== 6. backend verification: /authz through nginx, the C API against X509_verify_cert"
	BUILD=$BUILD QUICK=$QUICK TMPDIR=$WORK bench/authz_bench.sh
fi

echo
echo "== done in $(($(date +%s) - start)) s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
