#!/usr/bin/env bash
# Backend verification under load, beside its peers in the same run:
#   6a. /authz decisions per second through nginx (auth_request, the
#       configuration of examples/nginx: HTTPS with keep-alive to devtrust and
#       a gateway certificate) against the same nginx serving the same static
#       file without auth_request; rounds alternate, medians. wrk has no
#       client certificates, so the device side is plain HTTP and nginx hands
#       devtrust a fixed device certificate (as $ssl_client_escaped_cert
#       would); what differs between the two columns is the decision.
#   6b. the C API's verifications per second against OpenSSL's
#       X509_verify_cert on the same chain (bench/verify_bench.c).
# Usage: BUILD=build-bench [QUICK=1] bench/authz_bench.sh
# Knobs: AUTHZ_ROUNDS, AUTHZ_DURATION (wrk -d, seconds), AUTHZ_FLEET.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build-bench}
QUICK=${QUICK:-0}
export DEVTRUST_PASSPHRASE=${DEVTRUST_PASSPHRASE:-bench-passphrase-not-secret}
if [ "$QUICK" = 1 ]; then
	ROUNDS=${AUTHZ_ROUNDS:-2} DUR=${AUTHZ_DURATION:-5} FLEET=${AUTHZ_FLEET:-200} VSECS=1
else
	ROUNDS=${AUTHZ_ROUNDS:-3} DUR=${AUTHZ_DURATION:-10} FLEET=${AUTHZ_FLEET:-1000} VSECS=3
fi
WRK=(wrk -t2 -c16 "-d${DUR}s" --latency)

BIN=$(realpath "$BUILD/devtrust" 2>/dev/null || true)
LIB="$BUILD/libdevtrust.a"
[ -x "$BIN" ] && [ -f "$LIB" ] || { echo "authz_bench: make BUILD=$BUILD first" >&2; exit 1; }
for t in wrk curl openssl nginx cc python3; do
	command -v "$t" >/dev/null || { echo "authz_bench: needs $t (scripts/deps.sh bench)"; exit 0; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/devtrust-authz-XXXXXX")
# nginx's workers run as nobody when started by root: its files live in /tmp.
NGX=$(mktemp -d /tmp/devtrust-authz-nginx-XXXXXX)
chmod 755 "$NGX"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	sleep 0.5
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	rm -rf "$WORK" "$NGX"
}
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "-- 6b. C API against X509_verify_cert (bench/verify_bench.c)"
. scripts/libs.sh
read -r -a PKG_LIBS <<<"$DT_LIBS"
cc -std=c11 -D_DEFAULT_SOURCE -O2 -g -Wall -Wextra -Iinclude -Isrc -o "$WORK/verify_bench" \
	bench/verify_bench.c "$LIB" "${PKG_LIBS[@]}"
"$WORK/verify_bench" -d "$WORK/vb" -s "$VSECS" -r "$ROUNDS" -t 2 -f "$FLEET"

echo
echo "-- 6a. /authz through nginx auth_request against nginx serving the file alone"
D=$WORK/data
HTTPS_PORT=$(port) HTTP_PORT=$(port) NG_PORT=$(port)
dt() { "$BIN" --data "$D" "$@"; }
dt init --org bench --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null
dt class add pump --ca default >/dev/null
dt class add gateway --ca default >/dev/null
dt policy allow pump telemetry '/v1/**' GET >/dev/null
dt policy allow pump telemetry '/json/v1/**' GET >/dev/null
dt policy allow gateway devtrust-authz >/dev/null
for id in pump-1:pump gw-1:gateway; do
	dt device add "${id%%:*}" --class "${id#*:}" >/dev/null
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$NGX/${id%%:*}.key" 2>/dev/null
	openssl req -new -key "$NGX/${id%%:*}.key" -subj /CN=x -out "$WORK/${id%%:*}.csr"
	dt cert issue --device "${id%%:*}" --csr "$WORK/${id%%:*}.csr" --out "$NGX/${id%%:*}.pem" >/dev/null
done
dt ca cert root --out "$NGX/root.pem" >/dev/null
"$BIN" --data "$D" serve --listen "127.0.0.1:$HTTPS_PORT" --listen-http "127.0.0.1:$HTTP_PORT" \
	--workers 2 2>"$WORK/serve.log" &
PIDS+=($!)
for _ in $(seq 1 100); do
	curl -skf "https://127.0.0.1:$HTTPS_PORT/healthz" >/dev/null && break
	sleep 0.1
done
ESC=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(open(sys.argv[1]).read(),safe=""))' \
	"$NGX/pump-1.pem")
mkdir -p "$NGX/www/v1" "$NGX/tmp"
head -c 300 /dev/zero | tr '\0' 'x' >"$NGX/www/static.txt"
cp "$NGX/www/static.txt" "$NGX/www/v1/vitals"
sed -e "s|\$ssl_client_escaped_cert|\$bench_device_cert|" \
	-e "s|/etc/nginx/devtrust/gateway.pem|$NGX/gw-1.pem|; s|/etc/nginx/devtrust/gateway.key|$NGX/gw-1.key|" \
	-e "s|/etc/nginx/devtrust/root.pem|$NGX/root.pem|; s|proxy_ssl_name devtrust.example|proxy_ssl_name localhost|" \
	examples/nginx/devtrust-authz.conf >"$NGX/devtrust-authz.conf"
cp examples/nginx/devtrust-protect.conf "$NGX/devtrust-protect.conf"
# The same with the JSON body (/authz?format=json), which nginx does not read
# in an auth_request: decision 58's measurement.
sed -e 's|location = /_devtrust_authz|location = /_devtrust_authz_json|' \
	-e 's|proxy_pass https://devtrust/authz;|proxy_pass https://devtrust/authz?format=json;|' \
	"$NGX/devtrust-authz.conf" >"$NGX/devtrust-authz-json.conf"
sed -e 's|auth_request /_devtrust_authz;|auth_request /_devtrust_authz_json;|' \
	"$NGX/devtrust-protect.conf" >"$NGX/devtrust-protect-json.conf"
cat >"$NGX/nginx.conf" <<EOF
worker_processes 2;
error_log $NGX/error.log warn;
pid $NGX/nginx.pid;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $NGX/tmp/body;
	proxy_temp_path $NGX/tmp/proxy;
	upstream devtrust { server 127.0.0.1:$HTTPS_PORT; keepalive 32; }
	server {
		listen 127.0.0.1:$NG_PORT;
		root $NGX/www;
		include $NGX/devtrust-authz.conf;
		location = /static.txt { }
		location /v1/ {
			set \$devtrust_service telemetry;
			set \$bench_device_cert "$ESC";
			include $NGX/devtrust-protect.conf;
		}
		include $NGX/devtrust-authz-json.conf;
		location /json/v1/ {
			set \$devtrust_service telemetry;
			set \$bench_device_cert "$ESC";
			include $NGX/devtrust-protect-json.conf;
			alias $NGX/www/v1/;
		}
	}
}
EOF
nginx -p "$NGX" -c "$NGX/nginx.conf" -g 'daemon off;' >"$NGX/stdout" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
	curl -sf "http://127.0.0.1:$NG_PORT/static.txt" >/dev/null && break
	sleep 0.1
done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NG_PORT/v1/vitals")
[ "$code" = 200 ] || { echo "authz_bench: /v1/vitals through auth_request gave $code"; tail -5 "$NGX/error.log"; exit 1; }
code=$(curl -s -o /dev/null -w "%{http_code}" -X DELETE "http://127.0.0.1:$NG_PORT/v1/vitals")
[ "$code" = 403 ] || { echo "authz_bench: a method the policy refuses gave $code"; exit 1; }

decisions() {
	curl -sk "https://127.0.0.1:$HTTPS_PORT/metrics" |
		sed -n 's/^devtrust_authz_decisions_total{reason="allowed"} //p'
}
run_wrk() { # PATH -> "req/s p99_ms non2xx"
	local out rps p99 bad
	out=$("${WRK[@]}" "http://127.0.0.1:$NG_PORT$1")
	rps=$(sed -n 's/^Requests\/sec: *//p' <<<"$out")
	p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } print v }' <<<"$out")
	bad=$(sed -n 's/^ *Non-2xx or 3xx responses: *//p' <<<"$out")
	echo "$rps $p99 ${bad:-0}"
}
S_RPS=() S_P99=() A_RPS=() A_P99=() BAD=0
before=$(decisions)
for r in $(seq 1 "$ROUNDS"); do
	read -r rps p99 bad <<<"$(run_wrk /static.txt)"
	S_RPS+=("$rps") S_P99+=("$p99")
	echo "round $r nginx static file:        $rps req/s, p99 $p99 ms"
	read -r rps p99 bad <<<"$(run_wrk /v1/vitals)"
	A_RPS+=("$rps") A_P99+=("$p99") BAD=$((BAD + bad))
	echo "round $r nginx + /authz decision:  $rps req/s, p99 $p99 ms, non-2xx $bad"
done
after=$(decisions)
conns="$(grep "\"route\":\"authz\"" "$WORK/serve.log" | grep -o "\"peer\":\"[^\"]*\"" | sort -u | wc -l) for $(grep -c "\"route\":\"authz\"" "$WORK/serve.log") requests"
# One round with a body in /authz's answer: nginx closes the connection.
read -r rps p99 bad <<<"$(run_wrk /json/v1/vitals)"
echo "one round, /authz?format=json (a body nginx does not read): $rps req/s, p99 $p99 ms, non-2xx $bad"
s=$(printf '%s\n' "${S_RPS[@]}" | median)
a=$(printf '%s\n' "${A_RPS[@]}" | median)
echo "median: static $s req/s (p99 $(printf '%s\n' "${S_P99[@]}" | median) ms)," \
	"with /authz $a req/s (p99 $(printf '%s\n' "${A_P99[@]}" | median) ms):" \
	"$(awk -v a="$a" -v s="$s" 'BEGIN { printf "%.0f%%", 100 * a / s }') of static"
echo "devtrust counted $((after - before)) allowed decisions in the rounds (the device and the calling gateway: two per request); refused: $BAD"
echo "connections from nginx to devtrust during the rounds: $conns"
