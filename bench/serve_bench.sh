#!/usr/bin/env bash
# devtrust serve under load, beside peers run in the same minutes on the same
# machine (set-ups of shared/BENCHMARK-PEERS.md), everything on loopback:
#   4a. EST simpleenroll throughput against cfssl serve (without and with its
#       SQLite certificate database); every certificate of ours is checked
#       against the store afterwards
#   4b. OCSP GET and POST throughput and p99 latency against nginx serving
#       the same response bytes as a static file
#   4c. time from `devtrust device retire` to a revoked OCSP answer and to a
#       served CRL listing the serial
#   4d. server RSS idle and under the OCSP load, startup time, with STORE_N
#       synthetic valid certificates in the store
# They run in the order 4b, 4a, 4c, so that the high-water mark read after
# the OCSP rounds is not the EST peak. Servers are started here and stopped
# here; peer rounds alternate with ours (A B A B ...) and medians are
# reported. wrk -t2 -c16 throughout.
# Usage: BUILD=build-bench [QUICK=1] bench/serve_bench.sh
# Knobs: SERVE_ROUNDS, SERVE_DURATION (wrk -d, seconds), EST_N (enrollment
# tokens and CSRs prepared), STORE_N (synthetic certificates), RETIRE_N,
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build-bench}
QUICK=${QUICK:-0}
export DEVTRUST_PASSPHRASE=${DEVTRUST_PASSPHRASE:-bench-passphrase-not-secret}
if [ "$QUICK" = 1 ]; then
	ROUNDS=${SERVE_ROUNDS:-2} DUR=${SERVE_DURATION:-5} EST_N=${EST_N:-50000}
	STORE_N=${STORE_N:-100000} RETIRE_N=${RETIRE_N:-3}
else
	ROUNDS=${SERVE_ROUNDS:-3} DUR=${SERVE_DURATION:-10} EST_N=${EST_N:-150000}
	STORE_N=${STORE_N:-1000000} RETIRE_N=${RETIRE_N:-5}
fi
WRK=(wrk -t2 -c16 "-d${DUR}s" --latency)
CONNS=16
CLASS=bench-p256
EST_PATH=/.well-known/est/$CLASS/simpleenroll
FLEET_DEVICES=1000
EST_GOAL=2.0 OCSP_GOAL=0.9 RETIRE_GOAL_MS=1000

BIN=$(realpath "$BUILD/devtrust" 2>/dev/null || true)
[ -x "$BIN" ] || { echo "serve_bench: $BUILD/devtrust missing: make BUILD=$BUILD first" >&2; exit 1; }
for t in wrk curl openssl sqlite3 cc; do
	command -v "$t" >/dev/null || { echo "serve_bench: needs $t (scripts/deps.sh bench)"; exit 0; }
done
HAVE_CFSSL=1 HAVE_NGINX=1
command -v cfssl >/dev/null && command -v cfssljson >/dev/null || HAVE_CFSSL=0
command -v nginx >/dev/null || HAVE_NGINX=0

WORK=$(mktemp -d "${TMPDIR:-/tmp}/devtrust-serve-XXXXXX")
# nginx's workers run as nobody when started by root: its files live in /tmp,
# whatever TMPDIR is (bench/run.sh hands over a 0700 directory).
NGX=$(mktemp -d /tmp/devtrust-serve-nginx-XXXXXX)
chmod 755 "$NGX"
DATA=$WORK/data
LOG=$WORK/devtrust.log
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$WORK" "$NGX"
}
trap cleanup EXIT
trap "exit 143" TERM INT

now_ns() { date +%s%N; }
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }
median() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "n/a") printf "%.2f\n", a / b; else print "n/a" }'; }
verdict() { awk -v v="$1" -v g="$2" -v dir="$3" 'BEGIN { if (v == "n/a") print "NOT MEASURED"; else if ((dir == "ge" && v >= g) || (dir == "le" && v <= g)) print "MET"; else print "NOT MET" }'; }
fmt() { awk -v v="$1" 'BEGIN { if (v == "n/a") print v; else printf "%.0f\n", v }'; }
# wrk's latency figures (123.45us, 6.78ms, 1.02s) in ms
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f\n", n }'; }

# Ports nothing listens on (the cores are shared with other agents' servers).
BENCH_NAME=serve_bench
. bench/lib.sh
# devtrust listens with SO_REUSEPORT: a second server on the same port would
# silently take a share of the connections. Refuse to measure if one does.
only_ours() { # pid port...
	local pid=$1 p
	shift
	command -v ss >/dev/null || return 0
	for p in "$@"; do
		if ss -Hltnp "sport = :$p" | grep -v "pid=$pid," | grep -q .; then
			echo "serve_bench: another process also listens on 127.0.0.1:$p:"
			ss -Hltnp "sport = :$p" | grep -v "pid=$pid,"
			return 1
		fi
	done
}
wait_http() { # url pid [timeout s]
	local t0
	t0=$(now_ns)
	until curl -s -o /dev/null -f "$1"; do
		kill -0 "$2" 2>/dev/null || { echo "serve_bench: server for $1 exited"; tail -5 "$LOG" 2>/dev/null; exit 1; }
		[ "$(ms_since "$t0")" -lt "$((${3:-30} * 1000))" ] || { echo "serve_bench: $1 not up"; exit 1; }
		sleep 0.01
	done
}
stop_pid() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	local keep=() p
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}
# start_devtrust HTTPS_PORT HTTP_PORT: sets DT_PID, DT_START_MS
start_devtrust() {
	local t0
	t0=$(now_ns)
	"$BIN" --data "$DATA" serve --listen "127.0.0.1:$1" \
		--listen-http "127.0.0.1:$2" 2>>"$LOG" &
	DT_PID=$!
	PIDS+=("$DT_PID")
	wait_http "http://127.0.0.1:$2/healthz" "$DT_PID"
	DT_START_MS=$(ms_since "$t0")
	only_ours "$DT_PID" "$1" "$2" || exit 1
}
rss() { awk '/^(VmRSS|VmHWM):/ { printf "%s %.1f MB  ", $1, $2 / 1024 }' "/proc/$1/status"; }
rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# run_wrk NAME OUTFILE ARGS...: prints one line per round, leaves the output
run_wrk() {
	local name=$1 out=$2
	shift 2
	"${WRK[@]}" "$@" >"$out" 2>&1 || { echo "serve_bench: wrk failed:"; cat "$out"; exit 1; }
	local rps p99 non2xx sock
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
	p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
	sock=$(grep -o 'Socket errors:.*' "$out" || true)
	printf '  %-26s %9.0f req/s  p99 %7.2f ms  non-2xx %s%s\n' "$name" "$rps" "$p99" \
		"${non2xx:-0}" "${sock:+  $sock}"
	WRK_RPS=$rps WRK_P99=$p99 WRK_NON2XX=${non2xx:-0}
}
lua_field() { grep -o "$2=[^ ]*" "$1" | head -1 | cut -d= -f2; }

echo "serve_bench: load average $(cut -d' ' -f1-3 /proc/loadavg); QUICK=$QUICK, $ROUNDS rounds of ${DUR} s per contender, $(printf %s "${WRK[*]}"), EST_N=$EST_N, STORE_N=$STORE_N"
echo "  devtrust $BIN; $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2);" \
	"$( [ $HAVE_CFSSL = 1 ] && cfssl version 2>/dev/null | head -1 || echo 'no cfssl');" \
	"$( [ $HAVE_NGINX = 1 ] && nginx -v 2>&1 | head -1 || echo 'no nginx')"

# ---------------------------------------------------------------- setup
t0=$(now_ns)
read -r -a SSL_LIBS <<<"$(pkg-config --libs openssl)"
cc -std=c11 -D_DEFAULT_SOURCE -O2 -Wall -Wextra -o "$WORK/serve_csrs" bench/serve_csrs.c \
	"${SSL_LIBS[@]}" -lpthread
"$BIN" --data "$DATA" init --org BenchOrg --public-url "http://127.0.0.1:1" >/dev/null
"$BIN" --data "$DATA" class add "$CLASS" --ca default --key-types ec-p256 >/dev/null
# est-*: the EST load; probe-*: enrolled by curl for OCSP and retirement;
# fleet-*: hold the synthetic certificates.
awk -v n="$EST_N" -v f="$FLEET_DEVICES" -v p="$((RETIRE_N + 1))" -v c="$CLASS" 'BEGIN {
	print "id,class,serial,manufacturer,model,firmware,owner,location,criticality"
	for (i = 0; i < n; i++) printf "est-%06d,%s,EST%06d,Acme,M1,1.0.0,team-a,site-1,medium\n", i, c, i
	for (i = 0; i < p; i++) printf "probe-%02d,%s,PRB%02d,Acme,M1,1.0.0,team-a,site-1,high\n", i, c, i
	for (i = 0; i < f; i++) printf "fleet-%04d,%s,FLT%04d,Acme,M1,1.0.0,team-b,site-2,medium\n", i, c, i
}' >"$WORK/devices.csv"
"$BIN" --data "$DATA" device import "$WORK/devices.csv" --tokens-out "$WORK/tokens.csv" >/dev/null
grep '^probe-' "$WORK/tokens.csv" >"$WORK/probe-tokens.csv"
grep '^est-' "$WORK/tokens.csv" >"$WORK/est-tokens.csv"
"$WORK/serve_csrs" "$WORK/est-tokens.csv" "$WORK/est.txt" "$WORK/cfssl-all.txt" 2>/dev/null
"$WORK/serve_csrs" "$WORK/probe-tokens.csv" "$WORK/probe.txt" 2>/dev/null
# cfssl has no single-use credential: 10,000 bodies, reused in turn.
head -n 10000 "$WORK/cfssl-all.txt" >"$WORK/cfssl.txt"
rm -f "$WORK/cfssl-all.txt" "$WORK/tokens.csv"
t_setup=$(ms_since "$t0")
t0=$(now_ns)
# STORE_N valid certificates straight into the store, as bench/bench_common.h
# does for the CRL benchmark (serial: 32 hex digits, top bit clear; der a
# placeholder no request reads). Valid: the CRL stays small.
sqlite3 "$DATA/devtrust.db" >/dev/null <<SQL
PRAGMA journal_mode=OFF;
PRAGMA synchronous=OFF;
PRAGMA cache_size=-1000000;
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < $STORE_N - 1)
INSERT INTO certs(serial,device_id,ca,class,key_type,spki_hash,not_before,not_after,status,
                  reason,revoked_at,issued_at,der)
SELECT substr('01234567', 1 + abs(random()) % 8, 1) || substr(lower(hex(randomblob(16))), 2),
       printf('fleet-%04d', i % $FLEET_DEVICES), 'default', '$CLASS', 1, randomblob(32),
       unixepoch() - 86400, unixepoch() + 3600 + abs(random()) % (90 * 86400), 0, 0, 0,
       unixepoch() - 86400, x'00'
FROM c;
COMMIT;
PRAGMA journal_mode=WAL;
SQL
t_store=$(ms_since "$t0")
store_certs() { sqlite3 "$DATA/devtrust.db" "SELECT count(*) FROM certs WHERE device_id BETWEEN 'est-' AND 'est-~'"; }
echo "setup: $EST_N devices with tokens and CSRs in $((t_setup / 1000)).$((t_setup % 1000 / 100)) s;" \
	"$STORE_N synthetic valid certificates in $((t_store / 1000)).$((t_store % 1000 / 100)) s" \
	"(store $(du -m "$DATA/devtrust.db" | cut -f1) MB)"

# ---------------------------------------------------------------- server up
P_HTTPS=$(pick_port) P_HTTP=$(pick_port 0 "$P_HTTPS")
start_devtrust "$P_HTTPS" "$P_HTTP"
MAIN_PID=$DT_PID MAIN_START_MS=$DT_START_MS
sleep 1
IDLE_RSS=$(rss_kb "$MAIN_PID" VmRSS)
echo "devtrust serve (pid $MAIN_PID) on https :$P_HTTPS, http :$P_HTTP: /healthz answered ${DT_START_MS} ms after exec" \
	"with $STORE_N certificates in the store; idle after 1 s: $(rss "$MAIN_PID")"
"$BIN" --data "$DATA" ca cert root --out "$WORK/root.pem" >/dev/null
"$BIN" --data "$DATA" ca cert default --out "$WORK/ca.pem" >/dev/null

# Probe devices: enrolled over EST with curl, as scripts/run.sh shows.
i=0
while IFS=$'\t' read -r basic body; do
	printf '%s' "$body" >"$WORK/probe-$i.b64"
	code=$(curl -s --cacert "$WORK/root.pem" -H "Authorization: Basic $basic" \
		-H 'Content-Type: application/pkcs10' --data-binary "@$WORK/probe-$i.b64" \
		-o "$WORK/probe-$i.p7.b64" -w '%{http_code}' "https://127.0.0.1:$P_HTTPS$EST_PATH")
	[ "$code" = 200 ] || { echo "serve_bench: enrolling probe-$i: HTTP $code"; exit 1; }
	base64 -d "$WORK/probe-$i.p7.b64" | openssl pkcs7 -inform DER -print_certs -out "$WORK/probe-$i.pem"
	openssl ocsp -issuer "$WORK/ca.pem" -cert "$WORK/probe-$i.pem" -no_nonce \
		-reqout "$WORK/probe-$i.ocsp-req" >/dev/null 2>&1
	i=$((i + 1))
done <"$WORK/probe.txt"

# Nagle: a keep-alive client waits for the peer's delayed ACK when a reply
# goes out in more than one segment without TCP_NODELAY.
wrk -t1 -c1 -d1s "https://127.0.0.1:$P_HTTPS/healthz" >"$WORK/probe-tls.txt" 2>&1 || true
wrk -t1 -c1 -d1s "http://127.0.0.1:$P_HTTP/healthz" >"$WORK/probe-plain.txt" 2>&1 || true
lat_tls=$(to_ms "$(awk '$1 == "Latency" { print $2 }' "$WORK/probe-tls.txt")")
lat_plain=$(to_ms "$(awk '$1 == "Latency" { print $2 }' "$WORK/probe-plain.txt")")
echo "one keep-alive connection, GET /healthz: HTTPS listener ${lat_tls} ms, HTTP listener ${lat_plain} ms per request"

# ---------------------------------------------------------------- 4b. OCSP
echo
echo "== 4b. OCSP responder: GET and POST against nginx serving the same bytes (wrk -t2 -c16 -d${DUR}s)"
REQ=$WORK/probe-0.ocsp-req
REQ_B64=$(base64 -w0 "$REQ")
REQ_URL=$(printf '%s' "$REQ_B64" | sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g')
curl -s -o "$WORK/ocsp.der" "http://127.0.0.1:$P_HTTP/ocsp/$REQ_URL"
curl -s -o "$WORK/ocsp-post.der" -H 'Content-Type: application/ocsp-request' --data-binary "@$REQ" \
	"http://127.0.0.1:$P_HTTP/ocsp"
cmp -s "$WORK/ocsp.der" "$WORK/ocsp-post.der" || echo "note: GET and POST answers differ in bytes"
status=$(openssl ocsp -respin "$WORK/ocsp.der" -resp_text -noverify 2>/dev/null | awk -F': ' '/Cert Status/ { print $2 }')
echo "request $(stat -c %s "$REQ") bytes (no nonce), response $(stat -c %s "$WORK/ocsp.der") bytes, status $status;" \
	"GET /ocsp/<${#REQ_URL} characters>"
NG_PID=""
if [ $HAVE_NGINX = 1 ]; then
	P_NGINX=$(pick_port 18081)
	mkdir -p "$NGX/www" "$NGX/tmp"
	cp "$WORK/ocsp.der" "$NGX/www/ocsp.der"
	chmod -R a+rX "$NGX/www"
	# shared/BENCHMARK-PEERS.md, plus the paths a non-default prefix needs
	cat >"$NGX/nginx.conf" <<NGINX
worker_processes 2; events { worker_connections 1024; }
pid $NGX/nginx.pid; error_log $NGX/error.log;
http { access_log off;
  client_body_temp_path $NGX/tmp; proxy_temp_path $NGX/tmp;
  fastcgi_temp_path $NGX/tmp; uwsgi_temp_path $NGX/tmp; scgi_temp_path $NGX/tmp;
  server { listen 127.0.0.1:$P_NGINX; root $NGX/www;
  location / { default_type application/ocsp-response; } } }
NGINX
	nginx -c "$NGX/nginx.conf" -p "$NGX" -g 'daemon off;' 2>>"$NGX/stderr" &
	NG_PID=$!
	PIDS+=("$NG_PID")
	wait_http "http://127.0.0.1:$P_NGINX/ocsp.der" "$NG_PID"
	cmp -s "$WORK/ocsp.der" <(curl -s "http://127.0.0.1:$P_NGINX/ocsp.der") || { echo "serve_bench: nginx serves other bytes"; exit 1; }
	echo "nginx (pid $NG_PID) on :$P_NGINX: shared/BENCHMARK-PEERS.md config, the response as www/ocsp.der"
else
	echo "note: nginx missing (apt-get install nginx-light): no peer for OCSP"
fi
: >"$WORK/r.ng" ; : >"$WORK/r.get" ; : >"$WORK/r.post"
: >"$WORK/p.ng" ; : >"$WORK/p.get" ; : >"$WORK/p.post"
LOAD_RSS_MAX=0
sample_rss() { # pid after_s out
	sleep "$2"
	rss_kb "$1" VmRSS >"$3" 2>/dev/null || echo 0 >"$3"
}
ocsp_bad=0
for r in $(seq "$ROUNDS"); do
	echo "round $r"
	if [ -n "$NG_PID" ]; then
		run_wrk "nginx GET (static file)" "$WORK/wrk.out" "http://127.0.0.1:$P_NGINX/ocsp.der"
		echo "$WRK_RPS" >>"$WORK/r.ng"
		echo "$WRK_P99" >>"$WORK/p.ng"
		ocsp_bad=$((ocsp_bad + WRK_NON2XX))
	fi
	sample_rss "$MAIN_PID" "$((DUR / 2))" "$WORK/rss.sample" &
	run_wrk "devtrust GET /ocsp/<b64>" "$WORK/wrk.out" "http://127.0.0.1:$P_HTTP/ocsp/$REQ_URL"
	wait $!
	LOAD_RSS_MAX=$(awk -v a="$LOAD_RSS_MAX" -v b="$(cat "$WORK/rss.sample")" 'BEGIN { print (b > a ? b : a) }')
	echo "$WRK_RPS" >>"$WORK/r.get"
	echo "$WRK_P99" >>"$WORK/p.get"
	ocsp_bad=$((ocsp_bad + WRK_NON2XX))
	# the request log of a round is hundreds of MB: keep the last lines only
	tail -n 2 "$LOG" >"$WORK/log.tail"
	: >"$LOG"
	sample_rss "$MAIN_PID" "$((DUR / 2))" "$WORK/rss.sample" &
	SB_OCSP_REQ=$REQ run_wrk "devtrust POST /ocsp" "$WORK/wrk.out" -s bench/ocsp_post.lua "http://127.0.0.1:$P_HTTP/ocsp"
	wait $!
	LOAD_RSS_MAX=$(awk -v a="$LOAD_RSS_MAX" -v b="$(cat "$WORK/rss.sample")" 'BEGIN { print (b > a ? b : a) }')
	echo "$WRK_RPS" >>"$WORK/r.post"
	echo "$WRK_P99" >>"$WORK/p.post"
	ocsp_bad=$((ocsp_bad + WRK_NON2XX))
	: >"$LOG"
done
LOAD_HWM=$(rss_kb "$MAIN_PID" VmHWM)
m_ng=$(median <"$WORK/r.ng") m_get=$(median <"$WORK/r.get") m_post=$(median <"$WORK/r.post")
p_ng=$(median <"$WORK/p.ng") p_get=$(median <"$WORK/p.get") p_post=$(median <"$WORK/p.post")
r_get=$(ratio "$m_get" "$m_ng") r_post=$(ratio "$m_post" "$m_ng")
echo "median of $ROUNDS: nginx $(fmt "$m_ng") req/s (p99 $p_ng ms); devtrust GET $(fmt "$m_get") req/s (p99 $p_get ms)," \
	"POST $(fmt "$m_post") req/s (p99 $p_post ms); non-2xx answers in all rounds: $ocsp_bad"
echo "ratio GET/nginx $r_get: goal >= $OCSP_GOAL $(verdict "$r_get" "$OCSP_GOAL" ge);" \
	"POST/nginx $r_post: $(verdict "$r_post" "$OCSP_GOAL" ge)"
[ -n "$NG_PID" ] && stop_pid "$NG_PID"

# ---------------------------------------------------------------- 4a. EST
echo
echo "== 4a. EST simpleenroll throughput against cfssl sign (wrk -t2 -c16 -d${DUR}s, a fresh device, token and CSR per request)"
CF_PID="" CFDB_PID=""
if [ $HAVE_CFSSL = 1 ]; then
	mkdir -p "$WORK/cfssl"
	(
		cd "$WORK/cfssl"
		cat >ca-csr.json <<'J'
{"CN":"Peer Test CA","key":{"algo":"ecdsa","size":256},"names":[{"O":"peer"}]}
J
		cfssl gencert -initca ca-csr.json 2>/dev/null | cfssljson -bare ca
		echo '{"signing":{"default":{"expiry":"720h","usages":["digital signature","client auth"]}}}' >cfg.json
		# cfssl's SQLite certificate database (certdb/sqlite/migrations)
		sqlite3 certs.db <<'SQL'
CREATE TABLE certificates (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL,
  ca_label blob, status blob NOT NULL, reason int, expiry timestamp, revoked_at timestamp,
  pem blob NOT NULL, PRIMARY KEY(serial_number, authority_key_identifier));
CREATE TABLE ocsp_responses (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL,
  body blob NOT NULL, expiry timestamp, PRIMARY KEY(serial_number, authority_key_identifier));
SQL
		echo '{"driver":"sqlite3","data_source":"certs.db"}' >db.json
	)
	P_CF=$(pick_port 8888)
	(cd "$WORK/cfssl" && exec cfssl serve -address 127.0.0.1 -port "$P_CF" -ca ca.pem -ca-key ca-key.pem \
		-config cfg.json 2>>"$WORK/cfssl/serve.log") &
	CF_PID=$!
	PIDS+=("$CF_PID")
	P_CFDB=$(pick_port)
	(cd "$WORK/cfssl" && exec cfssl serve -address 127.0.0.1 -port "$P_CFDB" -ca ca.pem -ca-key ca-key.pem \
		-config cfg.json -db-config db.json 2>>"$WORK/cfssl/serve-db.log") &
	CFDB_PID=$!
	PIDS+=("$CFDB_PID")
	for p in "$P_CF:$CF_PID" "$P_CFDB:$CFDB_PID"; do
		n=0
		while port_free "${p%:*}"; do
			kill -0 "${p#*:}" 2>/dev/null && [ $n -lt 600 ] || { echo "serve_bench: cfssl serve on ${p%:*} did not start"; exit 1; }
			n=$((n + 1))
			sleep 0.05
		done
		only_ours "${p#*:}" "${p%:*}" || exit 1
	done
	echo "cfssl serve (pid $CF_PID) on :$P_CF as in shared/BENCHMARK-PEERS.md, no database;" \
		"cfssl serve -db-config (pid $CFDB_PID) on :$P_CFDB, SQLite certs.db"
else
	echo "note: cfssl missing (apt-get install golang-cfssl): no peer for EST"
fi
cf_rows() { sqlite3 "$WORK/cfssl/certs.db" "SELECT count(*) FROM certificates"; }

# est_round NAME HTTPS_PORT: one wrk round of devtrust EST; checks the store
EST_FROM=1
est_ok=1 est_exhausted=0
est_round() {
	local before after used sent ok200 exh codes
	before=$(store_certs)
	SB_BODIES=$WORK/est.txt SB_FROM=$EST_FROM SB_THREADS=2 SB_PATH=$EST_PATH SB_CTYPE=application/pkcs10 \
		run_wrk "$1" "$WORK/wrk.out" -s bench/est_enroll.lua "https://127.0.0.1:$2/"
	sleep 1 # requests in flight when wrk stopped still finish
	after=$(store_certs)
	used=$(lua_field "$WORK/wrk.out" used) sent=$(lua_field "$WORK/wrk.out" sent)
	ok200=$(lua_field "$WORK/wrk.out" status200) exh=$(lua_field "$WORK/wrk.out" exhausted)
	codes=$(lua_field "$WORK/wrk.out" codes)
	EST_FROM=$((EST_FROM + used))
	# every 200 is a stored certificate; a request cut off when wrk stopped
	# (at most one per connection) may have been issued without wrk seeing it
	local stored=$((after - before)) verdict=ok
	if [ "$stored" -lt "$ok200" ] || [ "$stored" -gt "$((ok200 + CONNS))" ] || [ "$stored" -gt "$sent" ]; then
		verdict="STORE MISMATCH"
		est_ok=0
	fi
	if [ "$exh" != 0 ]; then
		verdict="$verdict; TOKENS RAN OUT, the round's rate is not valid: raise EST_N"
		est_exhausted=1
	fi
	printf '  %-26s 200s %d, certificates stored %d (+%d cut off at the end), requests %d, other codes %s, tokens exhausted %d: %s\n' \
		"" "$ok200" "$stored" "$((stored - ok200))" "$sent" "$codes" "$exh" "$verdict"
	EST_TOTAL_200=$((EST_TOTAL_200 + ok200)) EST_TOTAL_STORED=$((EST_TOTAL_STORED + stored))
}
EST_TOTAL_200=0 EST_TOTAL_STORED=0
: >"$WORK/r.cf" ; : >"$WORK/r.cfdb" ; : >"$WORK/r.est"
: >"$WORK/p.cf" ; : >"$WORK/p.est"
cf_bad=0 cfdb_rows=0 cfdb_200=0
for r in $(seq "$ROUNDS"); do
	echo "round $r"
	if [ -n "$CF_PID" ]; then
		SB_BODIES=$WORK/cfssl.txt SB_FROM=1 SB_THREADS=2 SB_WRAP=1 SB_PATH=/api/v1/cfssl/sign SB_CTYPE=application/json \
			run_wrk "cfssl sign (no db)" "$WORK/wrk.out" -s bench/est_enroll.lua "http://127.0.0.1:$P_CF/"
		echo "$WRK_RPS" >>"$WORK/r.cf"
		echo "$WRK_P99" >>"$WORK/p.cf"
		cf_bad=$((cf_bad + $(lua_field "$WORK/wrk.out" non200)))
	fi
	est_round "devtrust simpleenroll" "$P_HTTPS"
	echo "$WRK_RPS" >>"$WORK/r.est"
	echo "$WRK_P99" >>"$WORK/p.est"
	if [ -n "$CFDB_PID" ]; then
		b=$(cf_rows)
		SB_BODIES=$WORK/cfssl.txt SB_FROM=1 SB_THREADS=2 SB_WRAP=1 SB_PATH=/api/v1/cfssl/sign SB_CTYPE=application/json \
			run_wrk "cfssl sign (sqlite db)" "$WORK/wrk.out" -s bench/est_enroll.lua "http://127.0.0.1:$P_CFDB/"
		sleep 1
		echo "$WRK_RPS" >>"$WORK/r.cfdb"
		cf_bad=$((cf_bad + $(lua_field "$WORK/wrk.out" non200)))
		cfdb_rows=$((cfdb_rows + $(cf_rows) - b))
		cfdb_200=$((cfdb_200 + $(lua_field "$WORK/wrk.out" status200)))
	fi
done
EST_HWM=$(rss_kb "$MAIN_PID" VmHWM)
m_cf=$(median <"$WORK/r.cf") m_cfdb=$(median <"$WORK/r.cfdb") m_est=$(median <"$WORK/r.est")
r_est=$(ratio "$m_est" "$m_cf")
echo "median of $ROUNDS: cfssl $(fmt "$m_cf") req/s (p99 $(median <"$WORK/p.cf") ms), cfssl with sqlite $(fmt "$m_cfdb") req/s," \
	"devtrust $(fmt "$m_est") req/s (p99 $(median <"$WORK/p.est") ms)"
echo "ratio devtrust/cfssl $r_est: goal >= $EST_GOAL $(verdict "$r_est" "$EST_GOAL" ge);" \
	"devtrust/cfssl-with-sqlite $(ratio "$m_est" "$m_cfdb")"
echo "store check: $EST_TOTAL_200 certificates answered with 200, $EST_TOTAL_STORED stored for est-* devices:" \
	"$( [ $est_ok = 1 ] && echo 'every 200 is in the store' || echo 'MISMATCH (see the rounds)')$( [ $est_exhausted = 1 ] && echo ', TOKENS RAN OUT in some round: raise EST_N')" \
	"($((EST_FROM - 1)) of $EST_N prepared tokens used);" \
	"cfssl answered non-200 $cf_bad times; cfssl-with-sqlite stored $cfdb_rows rows for $cfdb_200 answers"
[ -n "$CF_PID" ] && stop_pid "$CF_PID"
[ -n "$CFDB_PID" ] && stop_pid "$CFDB_PID"

# ---------------------------------------------------------------- 4c. retire
echo
echo "== 4c. time from 'devtrust device retire' to a revoked OCSP answer and to a CRL listing the serial (polling every 20 ms)"
# bench/serve_poll.py runs the retire command and polls OCSP and CRL every
# 20 ms on keep-alive connections from its start.
if command -v python3 >/dev/null; then
	: >"$WORK/t.ocsp" ; : >"$WORK/t.crl" ; : >"$WORK/t.cli" ; : >"$WORK/t.ocsp.after" ; : >"$WORK/t.crl.after"
	for i in $(seq 1 "$RETIRE_N"); do
		id=probe-$(printf %02d "$i")
		serial=$(openssl x509 -in "$WORK/probe-$i.pem" -noout -serial | cut -d= -f2)
		line=$(python3 bench/serve_poll.py "127.0.0.1:$P_HTTP" default "$WORK/probe-$i.ocsp-req" "$serial" -- \
			"$BIN" --data "$DATA" device retire "$id" --reason benchmark)
		t_cli=$(lua_field <(echo "$line") cli_ms)
		ms_o=$(lua_field <(echo "$line") ocsp_ms) n_o=$(lua_field <(echo "$line") ocsp_polls)
		ms_c=$(lua_field <(echo "$line") crl_ms) n_c=$(lua_field <(echo "$line") crl_polls)
		# a change not seen within 10 s counts as 99999 ms
		[ "$ms_o" != -1 ] || ms_o=99999
		[ "$ms_c" != -1 ] || ms_c=99999
		echo "  $id serial $serial: retire command ${t_cli} ms;" \
			"OCSP revoked after ${ms_o} ms (poll $n_o), CRL lists it after ${ms_c} ms (poll $n_c)"
		echo "$ms_o" >>"$WORK/t.ocsp"
		echo "$ms_c" >>"$WORK/t.crl"
		echo "$t_cli" >>"$WORK/t.cli"
		echo $((ms_o - t_cli)) >>"$WORK/t.ocsp.after"
		echo $((ms_c - t_cli)) >>"$WORK/t.crl.after"
		sleep 0.3
	done
	m_o=$(median <"$WORK/t.ocsp") m_c=$(median <"$WORK/t.crl")
	echo "median of $RETIRE_N (from the start of the retire command): OCSP ${m_o} ms, CRL ${m_c} ms" \
		"(retire command itself $(median <"$WORK/t.cli") ms); goal <= $RETIRE_GOAL_MS ms:" \
		"OCSP $(verdict "$m_o" "$RETIRE_GOAL_MS" le), CRL $(verdict "$m_c" "$RETIRE_GOAL_MS" le)"
	echo "counted from the moment the retire command exited (its change committed): OCSP $(median <"$WORK/t.ocsp.after") ms," \
		"CRL $(median <"$WORK/t.crl.after") ms (the server reads the audit log every 200 ms)"
else
	echo "note: python3 missing: no retirement latency"
fi

# ---------------------------------------------------------------- 4d. RSS
echo
echo "== 4d. server memory and startup with $STORE_N certificates in the store"
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
echo "startup, exec to the first /healthz answer: $MAIN_START_MS ms (store $(du -m "$DATA/devtrust.db" | cut -f1) MB)"
echo "VmRSS idle 1 s after start:                 $(mb "$IDLE_RSS")"
echo "VmRSS under the OCSP load (max of samples): $(mb "$LOAD_RSS_MAX")"
echo "VmHWM after the OCSP rounds:                $(mb "$LOAD_HWM")"
echo "VmHWM after the EST rounds:                 $(mb "$EST_HWM")"
echo "now: $(rss "$MAIN_PID")"
only_ours "$MAIN_PID" "$P_HTTPS" "$P_HTTP" || echo "warning: another server shared our ports at the end: figures suspect"
stop_pid "$MAIN_PID"
echo "serve_bench: load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
