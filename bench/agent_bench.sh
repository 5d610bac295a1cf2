#!/usr/bin/env bash
# devtrust-agent's footprint (docs/BENCHMARKS.md section 5), beside the same
# enrollment done by hand with the curl and openssl command-line tools, run in
# the same minutes against the same devtrust serve on loopback:
#   - stripped binary size, and the shared libraries each side loads;
#   - peak RSS during an enrollment (/usr/bin/time's maximum resident set);
#     for the manual path, the largest of its steps;
#   - CPU time (user + system) per enrollment and per renewal; for the manual
#     path, the sum of its steps.
# The manual path does what the agent does, step for step: cacerts, a P-256
# key, a CSR, simpleenroll (or simplereenroll with the current certificate),
# base64 and PKCS#7 decoding, and a check of the chain. The agent also asks
# csrattrs, verifies, and installs atomically with fsyncs.
# Usage: BUILD=build [N=20] bench/agent_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
N=${N:-20}
GOAL_RSS_KB=8192
DT=$(realpath "$BUILD/devtrust" 2>/dev/null || true)
AGENT=$(realpath "$BUILD/devtrust-agent" 2>/dev/null || true)
[ -x "$DT" ] && [ -x "$AGENT" ] || {
	echo "agent_bench: $BUILD/devtrust or $BUILD/devtrust-agent missing: make BUILD=$BUILD first" >&2
	exit 1
}
for t in curl openssl cc strip /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "agent_bench: needs $t" >&2 && exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/devtrust-agent-bench-XXXXXX")
SERVE_PID=""
cleanup() {
	[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
export DEVTRUST_DATA=$WORK/data DEVTRUST_PASSPHRASE=bench-passphrase-not-secret

port() { # a free loopback port
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p" && return; }
	done
	return 1
}
HTTPS_PORT=$(port)
HTTP_PORT=$(port)
"$DT" init --org bench --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null
"$DT" class add pump --ca default --lifetime 30d >/dev/null
"$DT" ca cert root --out "$WORK/root.pem" >/dev/null
"$DT" serve --listen "127.0.0.1:$HTTPS_PORT" --listen-http "127.0.0.1:$HTTP_PORT" 2>"$WORK/serve.log" &
SERVE_PID=$!
for _ in $(seq 1 100); do
	curl -sf --cacert "$WORK/root.pem" "https://127.0.0.1:$HTTPS_PORT/healthz" >/dev/null && break
	sleep 0.1
done
EST=https://127.0.0.1:$HTTPS_PORT/.well-known/est/pump

# measure OUT CMD...: appends "maxrss_kb user_s sys_s wall_s" of CMD to OUT.
measure() {
	local out=$1
	shift
	/usr/bin/time -o "$WORK/time" -f '%M %U %S %e' "$@" >/dev/null 2>"$WORK/cmd.err" || {
		echo "agent_bench: failed: $* ($(head -c 300 "$WORK/cmd.err"))" >&2
		exit 1
	}
	tail -1 "$WORK/time" >>"$out"
}
token() { "$DT" --json device add "$1" --class pump --serial "SN-$1" | sed -n 's/^ *"enrollment_token": "\(.*\)",*$/\1/p'; }
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
col() { awk -v c="$1" '{print $c}' "$2"; }
# CPU per run in ms: /usr/bin/time counts in 10 ms ticks, so the mean of N runs.
cpu_mean_ms() { awk '{t += $2 + $3} END {printf "%.0f", t * 1000 / NR}' "$1"; }

# --- the agent ---------------------------------------------------------------
agent_conf() { # ID: config for device ID with state dir $WORK/a-ID
	mkdir -p "$WORK/a-$1"
	printf 'server = %s\nlabel = pump\ndevice-id = %s\ntoken-file = %s\nca-file = %s\nstate-dir = %s\n' \
		"https://127.0.0.1:$HTTPS_PORT" "$1" "$WORK/$1.token" "$WORK/root.pem" "$WORK/a-$1" >"$WORK/$1.conf"
}
: >"$WORK/agent-enroll" && : >"$WORK/agent-renew"
for i in $(seq 1 "$N"); do
	token "ag$i" >"$WORK/ag$i.token"
	agent_conf "ag$i"
	measure "$WORK/agent-enroll" "$AGENT" --config "$WORK/ag$i.conf" enroll
done
for _ in $(seq 1 "$N"); do
	measure "$WORK/agent-renew" "$AGENT" --config "$WORK/ag1.conf" renew
done

# --- by hand: curl and openssl ---------------------------------------------------
# manual_enroll DIR OUT-PREFIX ID TOKEN|"": one enrollment (no token: renewal with
# DIR's current key and certificate); each step's figures in OUT-PREFIX.steps.
manual_enroll() {
	local d=$1 out=$2 id=$3 tok=$4 auth op
	: >"$out.steps"
	measure "$out.steps" curl -sS --cacert "$WORK/root.pem" -o "$d/cacerts.b64" "$EST/cacerts"
	measure "$out.steps" openssl base64 -d -in "$d/cacerts.b64" -out "$d/cacerts.der"
	measure "$out.steps" openssl pkcs7 -inform DER -in "$d/cacerts.der" -print_certs -out "$d/cacerts.pem"
	measure "$out.steps" openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/new.key"
	measure "$out.steps" openssl req -new -key "$d/new.key" -subj "/CN=$id" -outform DER -out "$d/csr.der"
	measure "$out.steps" openssl base64 -in "$d/csr.der" -out "$d/csr.b64"
	if [ -n "$tok" ]; then
		auth=(-u "$id:$tok") op=simpleenroll
	else
		auth=(--cert "$d/cert.pem" --key "$d/key.pem") op=simplereenroll
	fi
	measure "$out.steps" curl -sS -f --cacert "$WORK/root.pem" "${auth[@]}" \
		-H 'Content-Type: application/pkcs10' --data-binary @"$d/csr.b64" -o "$d/reply.b64" "$EST/$op"
	measure "$out.steps" openssl base64 -d -in "$d/reply.b64" -out "$d/reply.der"
	measure "$out.steps" openssl pkcs7 -inform DER -in "$d/reply.der" -print_certs -out "$d/new.pem"
	measure "$out.steps" openssl verify -CAfile "$WORK/root.pem" -untrusted "$d/cacerts.pem" "$d/new.pem"
	mv "$d/new.key" "$d/key.pem" && mv "$d/new.pem" "$d/cert.pem"
	# one line per enrollment: peak RSS of the largest step, CPU summed, wall summed
	awk 'BEGIN {m = 0} {if ($1 > m) m = $1; u += $2; s += $3; w += $4} END {print m, u, s, w}' \
		"$out.steps" >>"$out"
}
: >"$WORK/manual-enroll" && : >"$WORK/manual-renew"
for i in $(seq 1 "$N"); do
	mkdir -p "$WORK/m$i"
	manual_enroll "$WORK/m$i" "$WORK/manual-enroll" "m$i" "$(token "m$i")"
done
for _ in $(seq 1 "$N"); do
	manual_enroll "$WORK/m1" "$WORK/manual-renew" m1 ""
done
cp "$WORK/manual-enroll.steps" "$WORK/manual-steps-last"

# --- the floor: what loading Debian's libcurl costs any program ---------------------
printf 'int main(void) { return 0; }\n' >"$WORK/floor.c"
printf '#include <curl/curl.h>\nint main(void) { curl_global_init(CURL_GLOBAL_DEFAULT); curl_global_cleanup(); return 0; }\n' >"$WORK/floor-init.c"
cc -O2 -o "$WORK/floor" "$WORK/floor.c" -Wl,--no-as-needed -lcurl
cc -O2 -o "$WORK/floor-init" "$WORK/floor-init.c" -lcurl
: >"$WORK/floor.t" && : >"$WORK/floor-init.t" && : >"$WORK/floor-gnutls.t"
for _ in 1 2 3 4 5; do
	measure "$WORK/floor.t" "$WORK/floor"
	measure "$WORK/floor-init.t" "$WORK/floor-init"
	measure "$WORK/floor-gnutls.t" env GNUTLS_NO_IMPLICIT_INIT=1 "$WORK/floor-init"
done
: >"$WORK/agent-enroll-gnutls"
for i in 1 2 3 4 5; do
	token "gn$i" >"$WORK/gn$i.token"
	agent_conf "gn$i"
	measure "$WORK/agent-enroll-gnutls" env GNUTLS_NO_IMPLICIT_INIT=1 "$AGENT" --config "$WORK/gn$i.conf" enroll
done

# --- where the agent's resident memory is: the daemon, just after it enrolled --------
token daemon >"$WORK/daemon.token"
agent_conf daemon
"$AGENT" --config "$WORK/daemon.conf" run 2>"$WORK/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 1 50); do
	grep -q 'next renewal' "$WORK/daemon.log" && break
	sleep 0.1
done
sleep 0.5
mem() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$DAEMON_PID/status"; }
D_HWM=$(mem VmHWM) D_ANON=$(mem RssAnon) D_FILE=$(mem RssFile)
kill -TERM "$DAEMON_PID" && wait "$DAEMON_PID" || true

# --- sizes -----------------------------------------------------------------------------
strip -o "$WORK/agent.stripped" "$AGENT"
agent_size=$(stat -c %s "$WORK/agent.stripped")
curl_size=$(stat -c %s "$(command -v curl)")
openssl_size=$(stat -c %s "$(command -v openssl)")
libs_of() { ldd "$@" | awk '/=>/ {print $3}' | sort -u; }
libs_size() { xargs -r stat -L -c %s | awk '{s += $1} END {print s}'; }
agent_libs=$(libs_of "$AGENT" | wc -l)
agent_libs_kb=$(($(libs_of "$AGENT" | libs_size) / 1024))
manual_libs=$(libs_of "$(command -v curl)" "$(command -v openssl)" | wc -l)
manual_libs_kb=$(($(libs_of "$(command -v curl)" "$(command -v openssl)" | libs_size) / 1024))

# --- report ------------------------------------------------------------------------------
kb_mb() { awk -v k="$1" 'BEGIN {printf "%.1f MB", k / 1024}'; }
echo "devtrust-agent footprint, $N enrollments and $N renewals each, $(date -u +%Y-%m-%d)"
echo "  $(curl --version | head -1 | cut -d' ' -f1-3), $(openssl version)"
printf '%-44s %16s %22s\n' "" "devtrust-agent" "curl + openssl by hand"
printf '%-44s %16s %22s\n' "stripped executable" "$((agent_size / 1024)) KiB" \
	"$((curl_size / 1024)) + $((openssl_size / 1024)) KiB"
printf '%-44s %16s %22s\n' "shared libraries loaded (count, size)" "$agent_libs, $((agent_libs_kb / 1024)) MiB" \
	"$manual_libs, $((manual_libs_kb / 1024)) MiB"
printf '%-44s %16s %22s\n' "peak RSS, enrollment (median)" \
	"$(kb_mb "$(col 1 "$WORK/agent-enroll" | median)")" "$(kb_mb "$(col 1 "$WORK/manual-enroll" | median)")"
printf '%-44s %16s %22s\n' "peak RSS, enrollment (max)" \
	"$(kb_mb "$(col 1 "$WORK/agent-enroll" | sort -n | tail -1)")" \
	"$(kb_mb "$(col 1 "$WORK/manual-enroll" | sort -n | tail -1)")"
printf '%-44s %16s %22s\n' "peak RSS, renewal (median)" \
	"$(kb_mb "$(col 1 "$WORK/agent-renew" | median)")" "$(kb_mb "$(col 1 "$WORK/manual-renew" | median)")"
printf '%-44s %16s %22s\n' "CPU (user+sys) per enrollment, mean" \
	"$(cpu_mean_ms "$WORK/agent-enroll") ms" "$(cpu_mean_ms "$WORK/manual-enroll") ms"
printf '%-44s %16s %22s\n' "CPU (user+sys) per renewal, mean" \
	"$(cpu_mean_ms "$WORK/agent-renew") ms" "$(cpu_mean_ms "$WORK/manual-renew") ms"
printf '%-44s %16s %22s\n' "wall time per renewal, median" \
	"$(col 4 "$WORK/agent-renew" | median) s" "$(col 4 "$WORK/manual-renew" | median) s"
echo "goal: peak RSS during an enrollment <= $(kb_mb $GOAL_RSS_KB)"
echo "floor (any program linking Debian's libcurl, 5 runs, median max RSS):"
echo "  empty main():                         $(kb_mb "$(col 1 "$WORK/floor.t" | median)")"
echo "  curl_global_init() and cleanup:       $(kb_mb "$(col 1 "$WORK/floor-init.t" | median)")"
echo "  the same, GNUTLS_NO_IMPLICIT_INIT=1:  $(kb_mb "$(col 1 "$WORK/floor-gnutls.t" | median)")"
echo "  agent enrollment, GNUTLS_NO_IMPLICIT_INIT=1: $(kb_mb "$(col 1 "$WORK/agent-enroll-gnutls" | median)")"
echo "the daemon right after its enrollment (/proc/PID/status): VmHWM $(kb_mb "$D_HWM"), of it"
echo "  RssFile (pages of the shared libraries, shared and clean) $(kb_mb "$D_FILE"),"
echo "  RssAnon (heap and the libraries' written pages, private)  $(kb_mb "$D_ANON")"
echo "manual steps of the last enrollment (max RSS KiB, user s, sys s, wall s):"
paste -d' ' <(printf '%s\n' "curl cacerts" "openssl base64 -d" "openssl pkcs7" "openssl genpkey" \
	"openssl req" "openssl base64" "curl simpleenroll" "openssl base64 -d" "openssl pkcs7" \
	"openssl verify") "$WORK/manual-steps-last" | sed 's/^/  /'
