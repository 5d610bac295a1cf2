#!/usr/bin/env bash
# The soak of issue 7 (docs/RELIABILITY.md, "Soak"): `devtrust serve` under a
# steady mixed load for SOAK_SECONDS (default 1800), with its memory sampled
# over time. The rates are moderate on purpose (about one core for server and
# load together): the soak looks for leaks, not speed.
#
# Sets up a fresh data dir under $TMPDIR (class soak-p256, revoke-superseded;
# enr-* devices with one-time tokens and a P-256 CSR each, from
# bench/serve_csrs.c; a pool of ren-* devices), starts `devtrust serve` on two
# free loopback ports (stopped on exit) and runs at once, each at its rate
# (bench/soak_load.py, one process a role):
#   - EST simpleenroll with a new device's token, a new TLS connection each
#   - EST simplereenroll of the pool's devices in turn, the current
#     certificate as TLS client certificate, a new key each time (the class
#     revokes the superseded certificate)
#   - OCSP GET and POST on keep-alive connections (reconnecting every 200
#     requests) about random serials issued so far, 10% with a nonce
#   - CRL and CA certificate downloads
#   - every ADMIN_EVERY seconds one CLI change on an enrolled device, in turn:
#     cert revoke (keyCompromise), device suspend, resume, retire, suspend
#     (left suspended), compromised
# Every SAMPLE_S seconds: VmRSS of the server and of its signer process, open
# descriptors, threads, DB and WAL size, the server's answers by status class
# (/metrics), CPU time of server, signer and load. At the end: OCSP and the
# CRL agree with every change made (revoked, on hold, resumed, superseded)
# and say good for the current certificates; every certificate answered with
# 200 is in the store for its device; `devtrust audit verify`; no 5xx and no
# unexpected status or connection error; SIGTERM exits 0. Then the table and
# the growth verdict (median RSS of the last third against the second third).
# Exit status: 1 on a correctness failure; RSS growth is reported, not failed.
#
# Usage: BUILD=build-bench [SOAK_SECONDS=1800] bench/soak.sh
# Knobs: ENROLL_RATE (/s, 15), REENROLL_RATE (/s, 5), REENROLL_POOL (100),
#   OCSP_RATE (/s, GET and POST together, 300), CRL_RATE (/s, 0.5),
#   ADMIN_EVERY (s, 3), REVOKE_SUPERSEDED (1: the class revokes the
#   certificate a re-enrollment replaces, so the CRL grows by 5 a second; 0: it
#   stays valid), LIFETIME (the class's certificate lifetime, 30d; a few
#   minutes makes certificates expire as fast as they are superseded, so the
#   CRL levels off: expired ones leave it), SAMPLE_S (s, 10), TABLE_EVERY (s between table rows,
#   default SOAK_SECONDS/12), SERVE_ARGS (extra serve options), KEEP=1 keeps
#   the work dir. Output also in $BUILD/soak/ (samples.tsv, report.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build-bench}
DURATION=${SOAK_SECONDS:-1800}
ENROLL_RATE=${ENROLL_RATE:-15}
REENROLL_RATE=${REENROLL_RATE:-5}
REENROLL_POOL=${REENROLL_POOL:-100}
OCSP_RATE=${OCSP_RATE:-300}
CRL_RATE=${CRL_RATE:-0.5}
ADMIN_EVERY=${ADMIN_EVERY:-3}
REVOKE_SUPERSEDED=${REVOKE_SUPERSEDED:-1}
LIFETIME=${LIFETIME:-30d}
SAMPLE_S=${SAMPLE_S:-10}
TABLE_EVERY=${TABLE_EVERY:-$(((DURATION + 11) / 12))}
KEEP=${KEEP:-0}
CLASS=soak-p256
CA=default

BIN=$(realpath "$BUILD/devtrust" 2>/dev/null || true)
[ -x "$BIN" ] || { echo "soak: $BUILD/devtrust missing: make BUILD=$BUILD first" >&2; exit 1; }
for t in python3 curl openssl cc pkg-config; do
	command -v "$t" >/dev/null || { echo "soak: needs $t" >&2; exit 1; }
done
python3 -c 'import cryptography.x509.ocsp' 2>/dev/null ||
	{ echo "soak: needs python3-cryptography" >&2; exit 1; }
export DEVTRUST_PASSPHRASE=${DEVTRUST_PASSPHRASE:-bench-passphrase-not-secret}
read -r -a SERVE_EXTRA <<<"${SERVE_ARGS:-}"

OUT=$BUILD/soak
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/devtrust-soak-XXXXXX")
DATA=$WORK/data
LOG=$WORK/serve.log
SERVE_PID="" SIGNER_PID="" ADMIN_PID=""
LOAD_PIDS=()
cleanup() {
	local p
	for p in "${LOAD_PIDS[@]}" $ADMIN_PID; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${LOAD_PIDS[@]}" $ADMIN_PID; do wait "$p" 2>/dev/null || true; done
	if [ -n "$SERVE_PID" ]; then
		kill -TERM "$SERVE_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SERVE_PID" 2>/dev/null || true
		wait "$SERVE_PID" 2>/dev/null || true
	fi
	if [ "$KEEP" = 1 ]; then echo "soak: work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

BENCH_NAME=soak
. bench/lib.sh
dt() { "$BIN" --data "$DATA" "$@"; }
now_s() { date +%s; }

# ---------------------------------------------------------------- setup
t0=$(now_s)
P_HTTPS=$(pick_port) P_HTTP=$(pick_port 0 "$P_HTTPS")
# Tokens for the whole run and a tenth to spare.
EST_N=$(awk -v r="$ENROLL_RATE" -v d="$DURATION" 'BEGIN { printf "%d\n", r * d * 1.1 + 100 }')
dt init --org SoakOrg --public-url "http://127.0.0.1:$P_HTTP" >/dev/null
if [ "$REVOKE_SUPERSEDED" = 1 ]; then SUPERSEDED=(--revoke-superseded); else SUPERSEDED=(); fi
dt class add "$CLASS" --ca "$CA" --key-types ec-p256 --lifetime "$LIFETIME" "${SUPERSEDED[@]}" >/dev/null
awk -v n="$EST_N" -v p="$REENROLL_POOL" -v c="$CLASS" 'BEGIN {
	print "id,class,serial,manufacturer,model,firmware,owner,location,criticality"
	for (i = 0; i < n; i++) printf "enr-%06d,%s,ENR%06d,Acme,M1,1.0.0,team-a,site-1,medium\n", i, c, i
	for (i = 0; i < p; i++) printf "ren-%04d,%s,REN%04d,Acme,M2,1.0.0,team-b,site-2,high\n", i, c, i
}' >"$WORK/devices.csv"
dt device import "$WORK/devices.csv" --tokens-out "$WORK/tokens.csv" >/dev/null
grep '^enr-' "$WORK/tokens.csv" >"$WORK/enr-tokens.csv"
grep '^ren-' "$WORK/tokens.csv" >"$WORK/ren-tokens.csv"
read -r -a SSL_LIBS <<<"$(pkg-config --libs openssl)"
cc -std=c11 -D_DEFAULT_SOURCE -O2 -Wall -Wextra -o "$WORK/serve_csrs" bench/serve_csrs.c \
	"${SSL_LIBS[@]}" -lpthread
"$WORK/serve_csrs" "$WORK/enr-tokens.csv" "$WORK/est.txt" 2>/dev/null
rm -f "$WORK/tokens.csv" "$WORK/enr-tokens.csv"
dt ca cert root --out "$WORK/root.pem" >/dev/null
dt ca cert "$CA" --out "$WORK/ca.pem" >/dev/null
echo "soak: setup in $(($(now_s) - t0)) s: $EST_N enr-* devices with tokens and CSRs, $REENROLL_POOL ren-* devices;" \
	"$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- server
: >"$LOG"
serve_up "$BIN" "$DATA" "$P_HTTPS" "$P_HTTP" "$LOG" "${SERVE_EXTRA[@]}"
SIGNER_PID=$(sed -n 's/.*"signer_pid":\([0-9]*\).*/\1/p' "$LOG" | head -1)
echo "soak: devtrust serve (pid $SERVE_PID, signer pid ${SIGNER_PID:-none}) ${SERVE_ARGS:-} on https :$P_HTTPS, http :$P_HTTP;" \
	"$BIN"

# ---------------------------------------------------------------- load
LOAD=(python3 bench/soak_load.py --work "$WORK" --https "$P_HTTPS" --http "$P_HTTP"
	--cacert "$WORK/root.pem" --cacert-issuing "$WORK/ca.pem" --ca "$CA" --label "$CLASS"
	--duration "$DURATION")
T_START=$(now_s)
"${LOAD[@]}" enroll --bodies "$WORK/est.txt" --rate "$ENROLL_RATE" --threads 4 &
LOAD_PIDS+=($!)
"${LOAD[@]}" reenroll --tokens "$WORK/ren-tokens.csv" --rate "$REENROLL_RATE" --threads 2 \
	--superseded "$([ "$REVOKE_SUPERSEDED" = 1 ] && echo superseded || echo good)" &
LOAD_PIDS+=($!)
"${LOAD[@]}" ocsp --rate "$OCSP_RATE" --threads 4 &
LOAD_PIDS+=($!)
"${LOAD[@]}" crl --rate "$CRL_RATE" &
LOAD_PIDS+=($!)

# One lifecycle change every ADMIN_EVERY s through the CLI, on devices
# enrolled by the load (each enr-* device has one certificate); what OCSP and
# the CRL must then say goes to expect.txt (the last line for a serial wins).
admin_loop() {
	local k=0 line=1 dev serial sdev="" sserial="" n rc what want
	trap 'exit 0' TERM
	: >"$WORK/admin.log"
	while [ $(($(now_s) - T_START)) -lt "$DURATION" ]; do
		sleep "$ADMIN_EVERY"
		n=$(wc -l 2>/dev/null <"$WORK/enrolled.txt" || echo 0)
		if [ $((k % 6)) != 2 ]; then
			[ "$line" -le "$n" ] || continue
			read -r dev serial _ < <(sed -n "${line}p" "$WORK/enrolled.txt")
			line=$((line + 5))
		fi
		rc=0
		case $((k % 6)) in
		0) what="cert revoke $serial keyCompromise" want=key_compromise
			dt cert revoke "$serial" --reason keyCompromise >/dev/null 2>>"$WORK/admin.err" || rc=$? ;;
		1) what="device suspend $dev" want=certificate_hold sdev=$dev sserial=$serial
			dt device suspend "$dev" --reason soak >/dev/null 2>>"$WORK/admin.err" || rc=$? ;;
		2) what="device resume $sdev" want=good dev=$sdev serial=$sserial
			dt device resume "$sdev" --reason soak >/dev/null 2>>"$WORK/admin.err" || rc=$? ;;
		3) what="device retire $dev" want=cessation_of_operation
			dt device retire "$dev" --reason soak >/dev/null 2>>"$WORK/admin.err" || rc=$? ;;
		4) what="device suspend $dev (stays)" want=certificate_hold
			dt device suspend "$dev" --reason soak >/dev/null 2>>"$WORK/admin.err" || rc=$? ;;
		5) what="device compromised $dev" want=key_compromise
			dt device compromised "$dev" --reason soak >/dev/null 2>>"$WORK/admin.err" || rc=$? ;;
		esac
		echo "$(($(now_s) - T_START)) rc=$rc $what" >>"$WORK/admin.log"
		[ "$rc" = 0 ] && echo "$serial $want admin:$dev" >>"$WORK/expect.txt"
		k=$((k + 1))
	done
}
admin_loop &
ADMIN_PID=$!

# ---------------------------------------------------------------- sampling
kb_of() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
nfds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# utime + stime (+ waited-for children's with "c"), in clock ticks
ticks() {
	local v
	[ -n "$1" ] || { echo 0; return; }
	v=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk -v c="${2:-}" '{ print $12 + $13 + (c ? $14 + $15 : 0) }')
	echo "${v:-0}"
}
fsize_kb() { if [ -e "$1" ]; then echo $(($(stat -c %s "$1") / 1024)); else echo 0; fi; }
stat_field() {
	local v
	v=$(sed -n "s/.*\"$2\": *\\([0-9.]*\\).*/\\1/p" "$WORK/stats-$1.json" 2>/dev/null | head -1)
	echo "${v:-0}"
}
metrics() {
	curl -s --max-time 5 --cacert "$WORK/root.pem" "https://127.0.0.1:$P_HTTPS/metrics" 2>/dev/null |
		awk '/^devtrust_http_requests_total\{/ { match($0, /status="[0-9]/); c = substr($0, RSTART + 8, 1); n[c] += $NF }
			/^devtrust_ocsp_cache_hits_total / { h = $2 } /^devtrust_ocsp_responses_signed_total / { s = $2 }
			/^devtrust_certificates_issued_total / { i = $2 } /^devtrust_crl_generated_total / { g = $2 }
			/^devtrust_store_memory_bytes / { m = $2 } /^devtrust_ocsp_cache_entries / { e = $2 }
			/^devtrust_heap_in_use_bytes / { u = $2 } /^devtrust_heap_free_bytes / { f = $2 }
			END { printf "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", n["2"], n["4"], n["5"], h, s, i, g, m / 1024, e, u / 1024, f / 1024 }'
}
SAMPLES=$WORK/samples.tsv
printf 't\tsrv_rss\tsrv_hwm\tsig_rss\tsrv_fds\tsrv_threads\tsig_fds\tdb_kb\twal_kb\tsrv_cpu\tsig_cpu\tload_cpu\treq_2xx\treq_4xx\treq_5xx\tocsp_hits\tocsp_signed\tissued\tcrl_generated\tstore_kb\tocsp_cached\theap_kb\theap_free_kb\tenroll_sent\treenroll_sent\tocsp_sent\tcrl_sent\tloadavg\tsrv_anon\tsrv_file\tcrl_kb\n' >"$SAMPLES"
sample() {
	local t lc=0 p m
	t=$(($(now_s) - T_START))
	# After the load (its processes reaped): the last figure stays.
	if [ ${#LOAD_PIDS[@]} -gt 0 ]; then
		for p in "${LOAD_PIDS[@]}" $ADMIN_PID; do lc=$((lc + $(ticks "$p" c))); done
		# a load process that has exited (not reaped yet) reads 0: keep the last figure
		[ "$lc" -ge "${LAST_LC:-0}" ] || lc=$LAST_LC
		LAST_LC=$lc
	else
		lc=${LAST_LC:-0}
	fi
	m=$(metrics)
	[ -n "$m" ] || m=$(printf -- '-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" \
		"$(kb_of "$SERVE_PID" VmRSS)" "$(kb_of "$SERVE_PID" VmHWM)" "$(kb_of "$SIGNER_PID" VmRSS)" \
		"$(nfds "$SERVE_PID")" "$(kb_of "$SERVE_PID" Threads)" "$(nfds "$SIGNER_PID")" \
		"$(fsize_kb "$DATA/devtrust.db")" "$(fsize_kb "$DATA/devtrust.db-wal")" \
		"$(ticks "$SERVE_PID")" "$(ticks "$SIGNER_PID")" "$lc" "$m" \
		"$(stat_field enroll sent)" "$(stat_field reenroll sent)" "$(stat_field ocsp sent)" \
		"$(stat_field crl sent)" "$(cut -d' ' -f1 /proc/loadavg)" \
		"$(kb_of "$SERVE_PID" RssAnon)" "$(kb_of "$SERVE_PID" RssFile)" \
		"$(($(printf '%.0f' "$(stat_field crl crl_bytes)") / 1024))" >>"$SAMPLES"
	awk -F'\t' 'END { printf "  %4d s  server RSS %6.1f MB (anon %.1f, store %.1f, heap %.1f + %.1f free)  signer %5.1f MB  fds %d/%d  threads %d  db %.1f MB wal %.1f MB  CRL %d KB  answers 2xx %d 4xx %s 5xx %s  load %s\n",
		$1, $2 / 1024, $29 / 1024, $20 / 1024, $22 / 1024, $23 / 1024, $4 / 1024, $5, $7, $6, $8 / 1024, $9 / 1024, $31, $13, $14, $15, $28 }' "$SAMPLES"
}
echo "soak: ${DURATION} s: enroll $ENROLL_RATE/s, re-enroll $REENROLL_RATE/s (pool $REENROLL_POOL), OCSP $OCSP_RATE/s," \
	"CRL $CRL_RATE/s, a CLI change every $ADMIN_EVERY s; a sample every $SAMPLE_S s"
sleep 2
sample
while [ $(($(now_s) - T_START)) -lt "$DURATION" ]; do
	sleep "$SAMPLE_S"
	kill -0 "$SERVE_PID" 2>/dev/null || { echo "soak: FAILED: the server died: $(tail -3 "$LOG")"; exit 1; }
	sample
done
for p in "${LOAD_PIDS[@]}"; do wait "$p" || echo "soak: a load process exited $?"; done
LOAD_PIDS=()
wait "$ADMIN_PID" 2>/dev/null || true
ADMIN_PID=""
sleep 1 # the watcher reads the audit log every 200 ms
sample

# ---------------------------------------------------------------- checks
echo
echo "== correctness"
fails=()
python3 - "$WORK" <<'PY' || fails+=("unexpected answers")
import json, sys, os
w = sys.argv[1]
bad = 0
for role, ok in (("enroll", {"200"}), ("reenroll", {"200"}), ("ocsp", {"200:GET", "200:POST"}), ("crl", {"200"})):
    s = json.load(open(os.path.join(w, "stats-%s.json" % role)))
    other = {k: v for k, v in s["codes"].items() if k not in ok}
    ok_n = sum(v for k, v in s["codes"].items() if k in ok)
    extra = {k: v for k, v in s.items() if k not in ("role", "elapsed", "sent", "codes", "errors", "lat_ms_p50", "lat_ms_p99", "lat_ms_mean_all")}
    print("%-8s sent %7d in %6.0f s (%.1f/s): ok %d, other statuses %s, connection errors %s, mean latency %s ms; %s"
          % (role, s["sent"], s["elapsed"], s["sent"] / max(s["elapsed"], 1), ok_n, other or "none",
             s["errors"] or "none", s["lat_ms_mean_all"], json.dumps(extra)))
    bad += bool(other) + bool(s["errors"])
    bad += bool(s.get("exhausted")) + bool(s.get("unparsable_200")) + bool(s.get("bad_parse")) + bool(s.get("bad_crl"))
    if role == "reenroll" and set(s.get("bootstrap", {})) - {"200"}:
        bad += 1
sys.exit(1 if bad else 0)
PY
admin_n=$(wc -l <"$WORK/admin.log") admin_bad=$(grep -vc ' rc=0 ' "$WORK/admin.log" || true)
echo "admin: $admin_n CLI changes, $admin_bad failed$( [ "$admin_bad" = 0 ] || echo ": $(head -c 300 "$WORK/admin.err")")"
[ "$admin_bad" = 0 ] && [ "$admin_n" -gt 0 ] || fails+=("CLI changes")
"${LOAD[@]}" check || fails+=("store/OCSP/CRL")
n5=$(grep -c '"status":5' "$LOG" || true)
m5=$(tail -1 "$SAMPLES" | cut -f15)
nlines=$(grep -c '"status":' "$LOG" || true)
echo "server log: $nlines requests, $n5 with a 5xx status; /metrics 5xx: $m5"
[ "$n5" = 0 ] && [ "$m5" = 0 ] || fails+=("5xx")
echo "after the checks:"
sample
HWM=$(kb_of "$SERVE_PID" VmHWM)
kill -TERM "$SERVE_PID"
src=0
wait "$SERVE_PID" || src=$?
SERVE_PID=""
echo "SIGTERM: devtrust serve exited $src"
[ "$src" = 0 ] || fails+=("exit status")
if dt audit verify >"$WORK/audit.out" 2>&1; then
	echo "audit verify: ok: $(head -1 "$WORK/audit.out")"
else
	echo "audit verify: FAILED: $(head -c 400 "$WORK/audit.out")"
	fails+=("audit verify")
fi
echo "store: $(sqlite3 "$DATA/devtrust.db" "SELECT count(*) || ' certificates (' || sum(status = 0) || ' valid), ' || (SELECT count(*) FROM audit) || ' audit events' FROM certs" 2>/dev/null || echo '?');" \
	"DB $(($(stat -c %s "$DATA/devtrust.db") / 1048576)) MB; server VmHWM $((HWM / 1024)) MB"

# ---------------------------------------------------------------- report
echo
echo "== RSS over time (a row every ${TABLE_EVERY} s; all $(($(wc -l <"$SAMPLES") - 1)) samples in $OUT/samples.tsv)"
python3 bench/soak_load.py report --work "$WORK" --table-every "$TABLE_EVERY" | tee "$OUT/report.txt"
cp "$SAMPLES" "$OUT/samples.tsv"
cp "$WORK/admin.log" "$OUT/admin.log"
echo "soak: load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
if [ ${#fails[@]} -gt 0 ]; then
	echo "soak: CORRECTNESS FAILED: ${fails[*]}"
	exit 1
fi
echo "soak: correctness checks passed"
