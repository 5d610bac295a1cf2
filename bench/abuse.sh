#!/usr/bin/env bash
# The abuse run of issue 7 (docs/RELIABILITY.md, "Abuse"): starts `devtrust
# serve` on loopback with a fresh data dir (a class, a probe certificate for
# OCSP, one device with a token and a CSR per second of the run for the
# normal client's EST enrollments) and runs bench/abuse.py against it:
# idle connections, slowloris, stalled and malformed TLS, oversized requests,
# 10,000 keep-alive connections, each phase while a normal client is timed
# and the server's RSS is sampled. Then checks the server still answers and
# exits 0 on SIGTERM.
# Usage: BUILD=build-bench bench/abuse.sh [bench/abuse.py options...]
#   e.g. bench/abuse.sh --duration 10 --n-ka 2000 --phases base,ka
# SERVE_ARGS: extra `devtrust serve` options (e.g. "--request-timeout 5").
# Output: the table on standard output; $BUILD/abuse/results.json and the
# server's log in $BUILD/abuse/serve.log.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build-bench}
BIN=$(realpath "$BUILD/devtrust" 2>/dev/null || true)
[ -x "$BIN" ] || { echo "abuse: $BUILD/devtrust missing: make BUILD=$BUILD first" >&2; exit 1; }
for t in python3 curl openssl cc pkg-config; do
	command -v "$t" >/dev/null || { echo "abuse: needs $t" >&2; exit 1; }
done
export DEVTRUST_PASSPHRASE=${DEVTRUST_PASSPHRASE:-bench-passphrase-not-secret}
read -r -a SERVE_EXTRA <<<"${SERVE_ARGS:-}"
# Both sides hold 10,000 sockets; the server inherits this limit.
ulimit -n "$(ulimit -Hn)"

OUT=$BUILD/abuse
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/devtrust-abuse-XXXXXX")
DATA=$WORK/data
LOG=$OUT/serve.log
SERVE_PID=""
cleanup() {
	if [ -n "$SERVE_PID" ]; then
		kill -KILL "$SERVE_PID" 2>/dev/null || true
		wait "$SERVE_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

BENCH_NAME=abuse
. bench/lib.sh
# A limit of src/http/http.h, so that "just above the limit" follows the source.
limit() { sed -n "s/^#define $1 (*\\([0-9]*\\) *\\* *\\([0-9]*\\))*\$/\\1 \\2/p; s/^#define $1 \\([0-9]*\\)\$/\\1 1/p" src/http/http.h | awk '{ print $1 * $2 }'; }
MAX_BODY=$(limit HTTP_MAX_BODY) MAX_BODY_HARD=$(limit HTTP_MAX_BODY_HARD)
MAX_HEADERS=$(limit HTTP_MAX_HEADERS) MAX_CONNS=$(limit HTTP_MAX_CONNECTIONS)
[ -n "$MAX_BODY" ] && [ -n "$MAX_BODY_HARD" ] && [ -n "$MAX_HEADERS" ] ||
	{ echo "abuse: cannot read the limits of src/http/http.h" >&2; exit 1; }

P_HTTPS=$(pick_port) P_HTTP=$(pick_port 0 "$P_HTTPS")
CLASS=abuse-p256
# One EST enrollment a second for the whole run, and some to spare.
EST_N=${ABUSE_EST_N:-600}
t0=$(date +%s)
"$BIN" --data "$DATA" init --org AbuseOrg --public-url "http://127.0.0.1:$P_HTTP" >/dev/null
"$BIN" --data "$DATA" class add "$CLASS" --ca default --key-types ec-p256 >/dev/null
awk -v n="$EST_N" -v c="$CLASS" 'BEGIN {
	print "id,class,serial,manufacturer,model,firmware,owner,location,criticality"
	for (i = 0; i < n; i++) printf "normal-%04d,%s,NRM%04d,Acme,M1,1.0.0,team-a,site-1,medium\n", i, c, i
	print "probe," c ",PRB0,Acme,M1,1.0.0,team-a,site-1,high"
}' >"$WORK/devices.csv"
"$BIN" --data "$DATA" device import "$WORK/devices.csv" --tokens-out "$WORK/tokens.csv" >/dev/null
read -r -a SSL_LIBS <<<"$(pkg-config --libs openssl)"
cc -std=c11 -D_DEFAULT_SOURCE -O2 -Wall -Wextra -o "$WORK/serve_csrs" bench/serve_csrs.c \
	"${SSL_LIBS[@]}" -lpthread
grep '^normal-' "$WORK/tokens.csv" >"$WORK/normal-tokens.csv"
"$WORK/serve_csrs" "$WORK/normal-tokens.csv" "$WORK/est.txt" 2>/dev/null
# The probe's certificate, issued offline, is what every OCSP request asks about.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/probe.key" 2>/dev/null
openssl req -new -key "$WORK/probe.key" -subj /CN=probe -out "$WORK/probe.csr" 2>/dev/null
"$BIN" --data "$DATA" cert issue --device probe --csr "$WORK/probe.csr" --out "$WORK/probe.pem" >/dev/null
"$BIN" --data "$DATA" ca cert root --out "$WORK/root.pem" >/dev/null
"$BIN" --data "$DATA" ca cert default --out "$WORK/ca.pem" >/dev/null
openssl ocsp -issuer "$WORK/ca.pem" -cert "$WORK/probe.pem" -no_nonce -reqout "$WORK/ocsp.req" \
	>/dev/null 2>&1
echo "abuse: setup in $(($(date +%s) - t0)) s: $EST_N devices with tokens and CSRs; limits from" \
	"src/http/http.h: body $MAX_BODY (hard $MAX_BODY_HARD), headers $MAX_HEADERS, connections $MAX_CONNS"

: >"$LOG"
serve_up "$BIN" "$DATA" "$P_HTTPS" "$P_HTTP" "$LOG" "${SERVE_EXTRA[@]}"
echo "abuse: devtrust serve (pid $SERVE_PID) ${SERVE_ARGS:-} on https :$P_HTTPS, http :$P_HTTP;" \
	"load average $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; ulimit -n $(ulimit -n)"

rc=0
python3 bench/abuse.py --pid "$SERVE_PID" --log "$LOG" --http "$P_HTTP" --https "$P_HTTPS" \
	--cacert "$WORK/root.pem" --ocsp-req "$WORK/ocsp.req" --est-bodies "$WORK/est.txt" \
	--est-class "$CLASS" --max-body "$MAX_BODY" --max-body-hard "$MAX_BODY_HARD" \
	--max-headers "$MAX_HEADERS" --json "$OUT/results.json" "$@" || rc=$?

h1=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$P_HTTP/healthz" || true)
h2=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$WORK/root.pem" \
	"https://127.0.0.1:$P_HTTPS/healthz" || true)
m=$(curl -s --max-time 5 --cacert "$WORK/root.pem" "https://127.0.0.1:$P_HTTPS/metrics" |
	grep -E '^devtrust_(http_(request_timeouts|idle_reused|connections_refused)_total|http_connections_open_max|memory_trims_total) ' |
	tr '\n' ' ' || true)
echo "after the run: /healthz $h1 (plain), $h2 (TLS); VmHWM $(awk '/^VmHWM/ { printf "%.1f MB", $2 / 1024 }' "/proc/$SERVE_PID/status"); $m"
grep '"event":"memory-trimmed"' "$LOG" | sed 's/^/memory given back: /' || true
kill -TERM "$SERVE_PID"
src=0
wait "$SERVE_PID" || src=$?
SERVE_PID=""
echo "SIGTERM: devtrust serve exited $src"
[ "$rc" = 0 ] && [ "$h1" = 200 ] && [ "$h2" = 200 ] && [ "$src" = 0 ]
