#!/usr/bin/env bash
# The cost of key isolation on EST issuance: devtrust serve with its CA keys in
# the signer process (the default) against --no-key-isolation, rounds
# alternating A B B A ..., each a fresh server on the same data dir loaded by
# wrk -t2 -c16 with the EST load of bench/serve_bench.sh (bench/serve_csrs.c
# bodies, bench/est_enroll.lua: a fresh device, token and CSR per request).
# Per round: certificates stored, certificates/s, and server CPU per
# certificate (utime + stime of the server and, with isolation, of its signer,
# from /proc/PID/stat around the wrk run), which stays meaningful on a
# machine shared with other work. Medians at the end.
# Usage: BUILD=build-bench [ROUNDS=6] [DUR=5] [EST_N=80000] bench/key_isolation_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build-bench}
ROUNDS=${ROUNDS:-6}
DUR=${DUR:-5}
EST_N=${EST_N:-80000}
CLASS=bench-p256
EST_PATH=/.well-known/est/$CLASS/simpleenroll
export DEVTRUST_PASSPHRASE=${DEVTRUST_PASSPHRASE:-bench-passphrase-not-secret}
BIN=$(realpath "$BUILD/devtrust")
for t in wrk curl openssl sqlite3 cc; do
	command -v "$t" >/dev/null || { echo "key_isolation_bench: needs $t"; exit 0; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/devtrust-keyiso-XXXXXX")
DATA=$WORK/data
LOG=$WORK/serve.log
SPID=""
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
TCK=$(getconf CLK_TCK)
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ticks() { [ -r "/proc/$1/stat" ] && awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" || echo 0; }
BENCH_NAME=key_isolation_bench
. bench/lib.sh
stored() { sqlite3 "$DATA/devtrust.db" "SELECT count(*) FROM certs WHERE device_id LIKE 'est-%'"; }

echo "key_isolation_bench: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs;" \
	"$ROUNDS rounds of ${DUR} s per mode, wrk -t2 -c16, $BIN"
read -r -a SSL_LIBS <<<"$(pkg-config --libs openssl)"
cc -std=c11 -D_DEFAULT_SOURCE -O2 -Wall -Wextra -o "$WORK/serve_csrs" bench/serve_csrs.c \
	"${SSL_LIBS[@]}" -lpthread
"$BIN" --data "$DATA" init --org BenchOrg --public-url "http://127.0.0.1:1" >/dev/null
"$BIN" --data "$DATA" class add "$CLASS" --ca default --key-types ec-p256 >/dev/null
awk -v n="$EST_N" -v c="$CLASS" 'BEGIN {
	print "id,class,serial,manufacturer,model,firmware,owner,location,criticality"
	for (i = 0; i < n; i++) printf "est-%06d,%s,EST%06d,Acme,M1,1.0.0,team-a,site-1,medium\n", i, c, i
}' >"$WORK/devices.csv"
"$BIN" --data "$DATA" device import "$WORK/devices.csv" --tokens-out "$WORK/tokens.csv" >/dev/null
grep '^est-' "$WORK/tokens.csv" >"$WORK/est-tokens.csv"
"$WORK/serve_csrs" "$WORK/est-tokens.csv" "$WORK/est.txt" 2>/dev/null
"$BIN" --data "$DATA" ca cert root --out "$WORK/root.pem" >/dev/null
"$BIN" --data "$DATA" ca cert default --out "$WORK/ca.pem" >/dev/null
echo "setup: $EST_N devices with tokens and CSRs"

FROM=1
: >"$WORK/iso" ; : >"$WORK/noiso"
# round MODE: one server of MODE (iso, noiso), one wrk run
round() {
	local mode=$1 args=() https http try t0 s0 t1 s1 spid before after used sent ok
	[ "$mode" = noiso ] && args=(--no-key-isolation)
	for try in 1 2 3 4; do # a port taken meanwhile (the machine is shared): others
		https=$(pick_port) http=$(pick_port 0 "$https")
		: >"$LOG"
		"$BIN" --data "$DATA" serve --listen "127.0.0.1:$https" --listen-http "127.0.0.1:$http" \
			"${args[@]}" 2>>"$LOG" &
		SPID=$!
		until curl -s -o /dev/null -f "http://127.0.0.1:$http/healthz"; do
			kill -0 "$SPID" 2>/dev/null || break
			sleep 0.05
		done
		kill -0 "$SPID" 2>/dev/null && break
		wait "$SPID" || true
		grep -q 'cannot listen' "$LOG" && [ "$try" -lt 4 ] || { echo "server died: $(tail -3 "$LOG")"; exit 1; }
	done
	spid=$(grep -o '"signer_pid":[0-9]*' "$LOG" | head -1 | cut -d: -f2)
	sleep 1 # startup's CRLs and OCSP signers are not the load's
	before=$(stored)
	t0=$(ticks "$SPID") s0=0
	[ "${spid:-0}" != 0 ] && s0=$(ticks "$spid")
	SB_BODIES=$WORK/est.txt SB_FROM=$FROM SB_THREADS=2 SB_PATH=$EST_PATH SB_CTYPE=application/pkcs10 \
		wrk -t2 -c16 "-d${DUR}s" -s bench/est_enroll.lua "https://127.0.0.1:$https/" >"$WORK/wrk.out" 2>&1
	sleep 0.5 # the requests in flight when wrk stopped
	t1=$(ticks "$SPID") s1=0
	[ "${spid:-0}" != 0 ] && s1=$(ticks "$spid")
	after=$(stored)
	used=$(grep -o 'used=[0-9]*' "$WORK/wrk.out" | cut -d= -f2)
	sent=$(grep -o 'sent=[0-9]*' "$WORK/wrk.out" | cut -d= -f2)
	ok=$(grep -o 'status200=[0-9]*' "$WORK/wrk.out" | cut -d= -f2)
	FROM=$((FROM + used))
	kill "$SPID"
	wait "$SPID" || true
	SPID=""
	local n=$((after - before))
	awk -v m="$mode" -v n="$n" -v ok="$ok" -v sent="$sent" -v d="$DUR" -v sv=$((t1 - t0)) \
		-v sg=$((s1 - s0)) -v tck="$TCK" 'BEGIN {
		printf "  %-6s %6d certificates (%d answered 200 of %d sent), %7.0f/s, server CPU %5.2f s + signer %5.2f s = %6.1f us per certificate\n",
			m, n, ok, sent, n / d, sv / tck, sg / tck, n ? (sv + sg) / tck / n * 1e6 : 0 }'
	awk -v n="$n" -v c=$((t1 - t0 + s1 - s0)) -v tck="$TCK" -v d="$DUR" \
		'BEGIN { printf "%.1f %.0f %.1f\n", n ? c / tck / n * 1e6 : 0, n / d, c / tck }' >>"$WORK/$mode"
	[ "$((FROM + 15000))" -lt "$EST_N" ] || { echo "tokens run low: raise EST_N"; exit 1; }
}
for r in $(seq "$ROUNDS"); do
	echo "round $r"
	if [ $((r % 2)) = 1 ]; then round iso; round noiso; else round noiso; round iso; fi
done
for m in iso noiso; do
	printf '%s: median CPU per certificate %s us, median certificates/s %s (of %d rounds)\n' \
		"$([ $m = iso ] && echo 'key isolation   ' || echo 'no key isolation')" \
		"$(cut -d' ' -f1 "$WORK/$m" | median)" "$(cut -d' ' -f2 "$WORK/$m" | median)" "$ROUNDS"
done
ci=$(cut -d' ' -f1 "$WORK/iso" | median) cn=$(cut -d' ' -f1 "$WORK/noiso" | median)
ri=$(cut -d' ' -f2 "$WORK/iso" | median) rn=$(cut -d' ' -f2 "$WORK/noiso" | median)
awk -v ci="$ci" -v cn="$cn" -v ri="$ri" -v rn="$rn" 'BEGIN {
	printf "cost of isolation: %+.1f us CPU per certificate (%+.1f%%), throughput %+.1f%%\n",
		ci - cn, (ci / cn - 1) * 100, (ri / rn - 1) * 100 }'
echo "key_isolation_bench: load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
