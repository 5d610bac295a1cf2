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
# Then the floor that Debian's libcurl sets for any program (down to one bare
# HTTPS GET), and the daemon's resident memory by mapping, just after it enrolled.
# With $BUILD/devtrust-agent-device (make agent-device: the agent on a static,
# HTTPS-only libcurl from Debian's curl source, scripts/build-device-curl.sh),
# the device build gets a column of its own, its runs alternating with the
# regular build's, and its floor and daemon too.
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
DEV=$(realpath "$BUILD/devtrust-agent-device" 2>/dev/null || true)
DEVICE_CURL=${DEVICE_CURL:-$BUILD/device-curl}/prefix
[ -x "$DEV" ] || {
	DEV=""
	echo "agent_bench: no $BUILD/devtrust-agent-device (make BUILD=$BUILD agent-device): no device column" >&2
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
		p=$((20000 + RANDOM % 12000)) # below the ephemeral range (lib.sh)
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
: >"$WORK/agent-enroll" && : >"$WORK/agent-renew" && : >"$WORK/dev-enroll" && : >"$WORK/dev-renew"
# The regular and the device build alternate, each going first every other time.
for i in $(seq 1 "$N"); do
	token "ag$i" >"$WORK/ag$i.token"
	agent_conf "ag$i"
	[ -z "$DEV" ] || { token "dv$i" >"$WORK/dv$i.token" && agent_conf "dv$i"; }
	[ -z "$DEV" ] || [ $((i % 2)) -eq 1 ] || measure "$WORK/dev-enroll" "$DEV" --config "$WORK/dv$i.conf" enroll
	measure "$WORK/agent-enroll" "$AGENT" --config "$WORK/ag$i.conf" enroll
	[ -z "$DEV" ] || [ $((i % 2)) -eq 0 ] || measure "$WORK/dev-enroll" "$DEV" --config "$WORK/dv$i.conf" enroll
done
for i in $(seq 1 "$N"); do
	[ -z "$DEV" ] || [ $((i % 2)) -eq 1 ] || measure "$WORK/dev-renew" "$DEV" --config "$WORK/dv1.conf" renew
	measure "$WORK/agent-renew" "$AGENT" --config "$WORK/ag1.conf" renew
	[ -z "$DEV" ] || [ $((i % 2)) -eq 0 ] || measure "$WORK/dev-renew" "$DEV" --config "$WORK/dv1.conf" renew
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
# floor-https is the least an HTTPS client can do with libcurl: one GET of
# /cacerts that verifies the server against the root alone, with GnuTLS's
# implicit initialisation skipped as the agent skips it (src/agent/main.c).
printf 'int main(void) { return 0; }\n' >"$WORK/floor.c"
printf '#include <curl/curl.h>\nint main(void) { curl_global_init(CURL_GLOBAL_DEFAULT); curl_global_cleanup(); return 0; }\n' >"$WORK/floor-init.c"
cat >"$WORK/floor-https.c" <<'EOF_C'
#include <curl/curl.h>
int _gnutls_global_init_skip(void) { return 1; }
static size_t sink(char *d, size_t s, size_t n, void *u) { (void)d; (void)u; return s * n; }
int main(int argc, char **argv)
{
	CURL *c;
	int rc = 1;
	if (argc != 3 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(c = curl_easy_init()))
		return 1;
	if (curl_easy_setopt(c, CURLOPT_URL, argv[1]) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_CAINFO, argv[2]) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_CAPATH, NULL) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink) == CURLE_OK)
		rc = curl_easy_perform(c) != CURLE_OK;
	curl_easy_cleanup(c);
	curl_global_cleanup();
	return rc;
}
EOF_C
cc -O2 -o "$WORK/floor" "$WORK/floor.c" -Wl,--no-as-needed -lcurl
cc -O2 -o "$WORK/floor-init" "$WORK/floor-init.c" -lcurl
cc -O2 -o "$WORK/floor-https" "$WORK/floor-https.c" -lcurl
# The same GET on the device build's static libcurl (and the shared OpenSSL).
if [ -n "$DEV" ] && [ -f "$DEVICE_CURL/lib/libcurl.a" ]; then
	cc -Os -I"$DEVICE_CURL/include" -o "$WORK/floor-https-dev" "$WORK/floor-https.c" \
		"$DEVICE_CURL/lib/libcurl.a" -lssl -lcrypto -lpthread -Wl,--gc-sections
fi
: >"$WORK/floor.t" && : >"$WORK/floor-init.t" && : >"$WORK/floor-gnutls.t" && : >"$WORK/floor-https.t"
: >"$WORK/floor-https-dev.t"
for _ in 1 2 3 4 5; do
	measure "$WORK/floor.t" "$WORK/floor"
	measure "$WORK/floor-init.t" "$WORK/floor-init"
	measure "$WORK/floor-gnutls.t" env GNUTLS_NO_IMPLICIT_INIT=1 "$WORK/floor-init"
	measure "$WORK/floor-https.t" "$WORK/floor-https" "$EST/cacerts" "$WORK/root.pem"
	[ ! -x "$WORK/floor-https-dev" ] ||
		measure "$WORK/floor-https-dev.t" "$WORK/floor-https-dev" "$EST/cacerts" "$WORK/root.pem"
done

# --- where the agent's resident memory is: the daemon, just after it enrolled --------
# daemon_mem BIN NAME: runs BIN as device NAME's daemon until it has enrolled;
# $WORK/NAME.mem gets "VmHWM RssAnon RssFile" (KiB), $WORK/NAME.maps the Rss
# by mapped file ("[anon]" for heap, stack and anonymous maps), largest first.
daemon_mem() {
	local pid
	token "$2" >"$WORK/$2.token"
	agent_conf "$2"
	"$1" --config "$WORK/$2.conf" run 2>"$WORK/$2.log" &
	pid=$!
	for _ in $(seq 1 50); do
		grep -q 'next renewal' "$WORK/$2.log" && break
		sleep 0.1
	done
	sleep 0.5
	awk '$1 == "VmHWM:" {h = $2} $1 == "RssAnon:" {a = $2} $1 == "RssFile:" {f = $2}
		END {print h, a, f}' "/proc/$pid/status" >"$WORK/$2.mem"
	awk '$1 ~ /^[0-9a-f]+-[0-9a-f]+$/ {n = split($NF, p, "/"); f = (NF >= 6 && $6 !~ /^\[/) ? p[n] : "[anon]"; next}
		$1 == "Rss:" {rss[f] += $2}
		END {for (f in rss) print rss[f], f}' "/proc/$pid/smaps" | sort -rn >"$WORK/$2.maps"
	kill -TERM "$pid" && wait "$pid" || true
}
daemon_mem "$AGENT" daemon
[ -z "$DEV" ] || daemon_mem "$DEV" ddaemon

# --- sizes -----------------------------------------------------------------------------
strip -o "$WORK/agent.stripped" "$AGENT"
agent_size=$(stat -c %s "$WORK/agent.stripped")
dev_size=0
[ -z "$DEV" ] || { strip -o "$WORK/dev.stripped" "$DEV" && dev_size=$(stat -c %s "$WORK/dev.stripped"); }
curl_size=$(stat -c %s "$(command -v curl)")
openssl_size=$(stat -c %s "$(command -v openssl)")
libs_of() { ldd "$@" | awk '/=>/ {print $3}' | sort -u; }
libs_size() { xargs -r stat -L -c %s | awk '{s += $1} END {print s}'; }
agent_libs=$(libs_of "$AGENT" | wc -l)
agent_libs_kb=$(($(libs_of "$AGENT" | libs_size) / 1024))
dev_libs=0 dev_libs_kb=0
[ -z "$DEV" ] || { dev_libs=$(libs_of "$DEV" | wc -l) && dev_libs_kb=$(($(libs_of "$DEV" | libs_size) / 1024)); }
manual_libs=$(libs_of "$(command -v curl)" "$(command -v openssl)" | wc -l)
manual_libs_kb=$(($(libs_of "$(command -v curl)" "$(command -v openssl)" | libs_size) / 1024))

# --- report ------------------------------------------------------------------------------
kb_mb() { awk -v k="$1" 'BEGIN {if (k == "") print "-"; else printf "%.1f MB", k / 1024}'; }
median_of() { [ -s "$1" ] && col 1 "$1" | median; }
max_of() { [ -s "$1" ] && col 1 "$1" | sort -n | tail -1; }
cpu_of() { if [ -s "$1" ]; then echo "$(cpu_mean_ms "$1") ms"; else echo "-"; fi; }
wall_of() { if [ -s "$1" ]; then echo "$(col 4 "$1" | median) s"; else echo "-"; fi; }
row() { printf '%-40s %17s %17s %22s\n' "$@"; }
echo "devtrust-agent footprint, $N enrollments and $N renewals each, $(date -u +%Y-%m-%d)"
echo "  $(curl --version | head -1 | cut -d' ' -f1-3), $(openssl version)"
[ -z "$DEV" ] || echo "  device build: libcurl $(sed -n 's/^curl \([^;]*\);.*/\1/p' "$DEVICE_CURL/.stamp" 2>/dev/null), static, HTTP and HTTPS only"
row "" "devtrust-agent" "device build" "curl + openssl by hand"
row "" "(Debian libcurl)" "(static curl)" ""
row "stripped executable" "$((agent_size / 1024)) KiB" "$(if [ -n "$DEV" ]; then echo "$((dev_size / 1024)) KiB"; else echo -; fi)" \
	"$((curl_size / 1024)) + $((openssl_size / 1024)) KiB"
row "shared libraries loaded (count, size)" "$agent_libs, $((agent_libs_kb / 1024)) MiB" \
	"$(if [ -n "$DEV" ]; then echo "$dev_libs, $((dev_libs_kb / 1024)) MiB"; else echo -; fi)" \
	"$manual_libs, $((manual_libs_kb / 1024)) MiB"
row "peak RSS, enrollment (median)" "$(kb_mb "$(median_of "$WORK/agent-enroll")")" \
	"$(kb_mb "$(median_of "$WORK/dev-enroll")")" "$(kb_mb "$(median_of "$WORK/manual-enroll")")"
row "peak RSS, enrollment (max)" "$(kb_mb "$(max_of "$WORK/agent-enroll")")" \
	"$(kb_mb "$(max_of "$WORK/dev-enroll")")" "$(kb_mb "$(max_of "$WORK/manual-enroll")")"
row "peak RSS, renewal (median)" "$(kb_mb "$(median_of "$WORK/agent-renew")")" \
	"$(kb_mb "$(median_of "$WORK/dev-renew")")" "$(kb_mb "$(median_of "$WORK/manual-renew")")"
row "CPU (user+sys) per enrollment, mean" "$(cpu_of "$WORK/agent-enroll")" \
	"$(cpu_of "$WORK/dev-enroll")" "$(cpu_of "$WORK/manual-enroll")"
row "CPU (user+sys) per renewal, mean" "$(cpu_of "$WORK/agent-renew")" \
	"$(cpu_of "$WORK/dev-renew")" "$(cpu_of "$WORK/manual-renew")"
row "wall time per renewal, median" "$(wall_of "$WORK/agent-renew")" \
	"$(wall_of "$WORK/dev-renew")" "$(wall_of "$WORK/manual-renew")"
echo "goal: peak RSS during an enrollment <= $(kb_mb $GOAL_RSS_KB)"
echo "floor (any program linking Debian's libcurl, 5 runs, median max RSS):"
echo "  empty main():                         $(kb_mb "$(median_of "$WORK/floor.t")")"
echo "  curl_global_init() and cleanup:       $(kb_mb "$(median_of "$WORK/floor-init.t")")"
echo "  the same, GNUTLS_NO_IMPLICIT_INIT=1:  $(kb_mb "$(median_of "$WORK/floor-gnutls.t")")"
echo "  one HTTPS GET of /cacerts, GnuTLS skipped as in the agent: $(kb_mb "$(median_of "$WORK/floor-https.t")")"
[ ! -s "$WORK/floor-https-dev.t" ] ||
	echo "  the same GET on the device build's static libcurl:        $(kb_mb "$(median_of "$WORK/floor-https-dev.t")")"
# daemon_report NAME TITLE: the figures daemon_mem gathered.
daemon_report() {
	local h a f
	read -r h a f <"$WORK/$1.mem"
	echo "$2 right after its enrollment (/proc/PID/status): VmHWM $(kb_mb "$h"), of it"
	echo "  RssFile (pages of the shared libraries, shared and clean) $(kb_mb "$f"),"
	echo "  RssAnon (heap and the libraries' written pages, private)  $(kb_mb "$a")"
	echo "  by mapping (Rss KiB):"
	awk '{
		if ($2 ~ /^(devtrust-agent.*|ld-linux.*|libc\.so.*|libssl\.so.*|libcrypto\.so.*|libcurl\.so.*|\[anon\])$/)
			printf "    %6d  %s\n", $1, $2
		else {
			other += $1
			n++
		}
	} END {if (n) printf "    %6d  the %d other libraries (those only libcurl needs)\n", other, n}' "$WORK/$1.maps"
}
daemon_report daemon "the daemon"
[ -z "$DEV" ] || daemon_report ddaemon "the device build's daemon"
echo "manual steps of the last enrollment (max RSS KiB, user s, sys s, wall s):"
paste -d' ' <(printf '%s\n' "curl cacerts" "openssl base64 -d" "openssl pkcs7" "openssl genpkey" \
	"openssl req" "openssl base64" "curl simpleenroll" "openssl base64 -d" "openssl pkcs7" \
	"openssl verify") "$WORK/manual-steps-last" | sed 's/^/  /'
