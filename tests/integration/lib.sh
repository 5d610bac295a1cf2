# Shared by the integration tests: a private work dir, the devtrust binary,
# and checks that print "PASS name" or "FAIL name: why" (counted by
# scripts/run-tests.sh). Source it; do not run it.
set -u
DT=${DEVTRUST_BIN:?run through scripts/run-tests.sh or set DEVTRUST_BIN}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/devtrust-it.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export DEVTRUST_DATA="$WORK/data"
unset DEVTRUST_PASSPHRASE
export USER=${USER:-tester}

dt() { "$DT" "$@"; }
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; }

# check NAME CMD...: CMD exits 0.
check() {
	local n=$1
	shift
	if "$@" >"$WORK/last.out" 2>"$WORK/last.err"; then
		pass "$n"
	else
		fail "$n: exit $? $(head -c 400 "$WORK/last.err")"
	fi
}

# check_exit NAME CODE CMD...: CMD exits with CODE.
check_exit() {
	local n=$1 want=$2 got
	shift 2
	"$@" >"$WORK/last.out" 2>"$WORK/last.err"
	got=$?
	if [ "$got" -eq "$want" ]; then
		pass "$n"
	else
		fail "$n: want exit $want, got $got: $(head -c 400 "$WORK/last.err")"
	fi
}

# check_out NAME REGEX CMD...: CMD exits 0 and its stdout+stderr match REGEX.
check_out() {
	local n=$1 re=$2
	shift 2
	if "$@" >"$WORK/last.out" 2>&1 && grep -Eq -- "$re" "$WORK/last.out"; then
		pass "$n"
	else
		fail "$n: output does not match /$re/: $(head -c 400 "$WORK/last.out")"
	fi
}

# check_err NAME CODE REGEX CMD...: CMD exits CODE and stderr matches REGEX.
check_err() {
	local n=$1 want=$2 re=$3 got
	shift 3
	"$@" >"$WORK/last.out" 2>"$WORK/last.err"
	got=$?
	if [ "$got" -eq "$want" ] && grep -Eq -- "$re" "$WORK/last.err"; then
		pass "$n"
	else
		fail "$n: want exit $want and /$re/, got $got: $(head -c 400 "$WORK/last.err")"
	fi
}

# mkcsr OUT [ALG]: a key OUT.key and a CSR OUT (PEM). ALG: p256 (default), p384,
# rsa2048, rsa3072, rsa1024, ed25519. The CSR carries hostile names on purpose:
# devtrust must ignore them.
mkcsr() {
	local out=$1 alg=${2:-p256}
	case $alg in
	p256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out.key" ;;
	p384) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$out.key" ;;
	rsa*) openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${alg#rsa}" -out "$out.key" ;;
	ed25519) openssl genpkey -algorithm ED25519 -out "$out.key" ;;
	esac 2>/dev/null
	openssl req -new -key "$out.key" -subj "/CN=attacker.example/O=Evil Corp" \
		-addext "subjectAltName=DNS:attacker.example" -out "$out" 2>/dev/null
}

# A data dir with org "testorg", the default CA and a class "pump" on it.
setup_basic() {
	dt init --org testorg >/dev/null &&
		dt class add pump --ca default --lifetime 30d --key-types ec-p256,ec-p384 >/dev/null
}

# --- helpers added for the end-to-end suites ---

# check_fails NAME CMD...: CMD exits non-zero (a tool we did not write rejects).
check_fails() {
	local n=$1
	shift
	if "$@" >"$WORK/last.out" 2>"$WORK/last.err"; then
		fail "$n: expected failure, but it exited 0: $(head -c 400 "$WORK/last.out")"
	else
		pass "$n"
	fi
}

# check_rejects NAME REGEX CMD...: CMD exits non-zero and its stdout+stderr match
# REGEX (so a rejection for the wrong reason, e.g. a missing file, does not pass).
check_rejects() {
	local n=$1 re=$2
	shift 2
	if "$@" >"$WORK/last.out" 2>&1; then
		fail "$n: expected failure, but it exited 0: $(head -c 400 "$WORK/last.out")"
	elif grep -Eq -- "$re" "$WORK/last.out"; then
		pass "$n"
	else
		fail "$n: failed, but output does not match /$re/: $(head -c 400 "$WORK/last.out")"
	fi
}

# check_eq NAME WANT GOT: two strings are equal.
check_eq() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1: want '$2', got '$3'"
	fi
}

# check_match NAME REGEX TEXT / check_nomatch NAME REGEX TEXT: text (not) matching an ERE.
check_match() {
	if printf '%s\n' "$3" | grep -Eq -- "$2"; then
		pass "$1"
	else
		fail "$1: /$2/ not in: $(printf '%s' "$3" | head -c 400)"
	fi
}
check_nomatch() {
	if printf '%s\n' "$3" | grep -Eq -- "$2"; then
		fail "$1: /$2/ found in: $(printf '%s' "$3" | grep -E -- "$2" | head -c 400)"
	else
		pass "$1"
	fi
}

# check_true NAME SHELL-CONDITION...: a test(1)/[[ ]]-style condition holds.
check_true() {
	local n=$1
	shift
	if "$@"; then
		pass "$n"
	else
		fail "$n: condition false: $*"
	fi
}

# jstr KEY: the first "KEY": "string" value of the (indented) JSON on stdin.
jstr() { sed -n "s/^ *\"$1\": \"\\([^\"]*\\)\",\\{0,1\\}\$/\\1/p" | head -1; }

# mode_of FILE: octal permission bits.
mode_of() { stat -c %a "$1"; }

# db_counts [DATADIR]: "certs=N audit=N devices=N" straight from the store.
db_counts() {
	sqlite3 "${1:-$DEVTRUST_DATA}/devtrust.db" \
		"select 'certs=' || (select count(*) from certs) || ' audit=' || (select count(*) from audit) || ' devices=' || (select count(*) from devices);"
}

# export_ca NAME [DATADIR]: writes $WORK/NAME.pem and $WORK/NAME.der from devtrust ca cert.
export_ca() {
	"$DT" --data "${2:-$DEVTRUST_DATA}" ca cert "$1" --out "$WORK/$1.pem" >/dev/null &&
		"$DT" --data "${2:-$DEVTRUST_DATA}" ca cert "$1" --der --out "$WORK/$1.der" >/dev/null
}

# cert_epoch FILE start|end: notBefore/notAfter of a PEM certificate in epoch seconds.
cert_epoch() {
	local d
	d=$(openssl x509 -in "$1" -noout -"$2"date | cut -d= -f2)
	date -u -d "$d" +%s
}

# crl_text FILE: openssl's text form of a DER CRL.
crl_text() { openssl crl -inform DER -in "$1" -noout -text 2>&1; }

# new_device ID [CLASS]: adds a device (serial SN-ID); quiet.
new_device() { "$DT" device add "$1" --class "${2:-pump}" --serial "SN-$1" >/dev/null; }

# issue ID OUT [ALG]: a fresh key (OUT.csr.key), CSR (OUT.csr) and PEM certificate
# OUT for device ID. Prints the serial devtrust reported; fails if nothing was issued.
issue() {
	mkcsr "$2.csr" "${3:-p256}" || return 1
	"$DT" cert issue --device "$1" --csr "$2.csr" --out "$2" |
		sed -n 's/^issued certificate \([0-9a-f]*\) .*/\1/p'
	[ -s "$2" ]
}

# serial_of PEM: the certificate serial as 32 lowercase hex digits (devtrust's form).
serial_of() {
	local s
	s=$(openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
	printf '%032s' "$s" | tr ' ' 0
}

# crl_reason CRL SERIAL: how a DER CRL lists SERIAL (any hex form): "absent", "none"
# (listed without a reasonCode), or openssl's reason text ("Certificate Hold"...).
crl_reason() {
	local want
	want=$(printf '%s' "$2" | tr -d ':' | tr 'a-f' 'A-F' | sed 's/^0*//')
	crl_text "$1" | awk -v w="$want" '
		/^ *Serial Number:/ { s = $NF; sub(/^0+/, "", s); cur = (s == w); if (cur) found = 1; next }
		cur && /CRL Reason Code/ { getline; gsub(/^ +| +$/, ""); r = $0; cur = 0 }
		END { if (!found) print "absent"; else if (r == "") print "none"; else print r }'
}

# crl_number CRL: the CRL number of a DER CRL, in decimal.
crl_number() {
	local h
	h=$(openssl crl -inform DER -in "$1" -noout -crlnumber | cut -d= -f2)
	printf '%d' "$h"
}

# crl_pem DER PEM: converts a CRL for tools that want PEM (openssl verify -CRLfile).
crl_pem() { openssl crl -inform DER -in "$1" -out "$2"; }

# --- helpers for the server suites (devtrust serve) ---

# now_ms: wall clock in milliseconds.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# poll_ms MS CMD...: runs CMD every 0.1 s until it exits 0 (returns 0) or MS pass (returns 1).
poll_ms() {
	local end=$(($(now_ms) + $1))
	shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "$(now_ms)" -ge "$end" ] && return 1
		sleep 0.1
	done
}

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() {
	! ss -Htln "sport = :$1" 2>/dev/null | grep -q . &&
		! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port [NOT...]: a random unused TCP port, none of NOT, below Linux's ephemeral
# range (32768 on): a port from that range can be taken as the source port of any
# outgoing connection between this check and the server's bind (nginx_test once
# failed so: "bind() ... Address already in use").
free_port() {
	local p n
	for _ in $(seq 1 100); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
		for n in "$@"; do [ "$p" = "$n" ] && continue 2; done
		port_free "$p" && { echo "$p"; return 0; }
	done
	return 1
}

# Processes started in the background by a suite; killed (TERM, then KILL) at exit.
BG_PIDS=""
bg_cleanup() {
	local p
	for p in $BG_PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $BG_PIDS; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap bg_cleanup EXIT
trap 'exit 130' INT TERM

# serve_start SETUP_FN [SERVE-ARGS...]: picks two free ports (HTTPS_PORT, HTTP_PORT),
# runs SETUP_FN on an empty $DEVTRUST_DATA (it must init with
# --public-url http://127.0.0.1:$HTTP_PORT), starts `devtrust serve` on them in the
# background (SERVE_PID, stderr in SERVE_LOG) and waits up to 15 s for /healthz on both
# listeners. Retries with other ports when one was taken meanwhile.
SERVE_PID=""
SERVE_LOG="$WORK/serve.log"
serve_start() {
	local setup=$1 end
	shift
	for _ in 1 2 3; do
		HTTPS_PORT=$(free_port) && HTTP_PORT=$(free_port "$HTTPS_PORT") || return 1
		rm -rf "$DEVTRUST_DATA"
		"$setup" || return 1
		"$DT" serve --listen "127.0.0.1:$HTTPS_PORT" --listen-http "127.0.0.1:$HTTP_PORT" \
			"$@" 2>"$SERVE_LOG" &
		SERVE_PID=$!
		BG_PIDS="$BG_PIDS $SERVE_PID"
		end=$(($(now_ms) + 15000))
		while kill -0 "$SERVE_PID" 2>/dev/null && [ "$(now_ms)" -lt "$end" ]; do
			if curl -skf --max-time 1 "https://127.0.0.1:$HTTPS_PORT/healthz" >/dev/null &&
				curl -sf --max-time 1 "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null; then
				# Ours, not a stranger that took the port.
				grep -q "\"https\":\"127.0.0.1:$HTTPS_PORT\"" "$SERVE_LOG" && return 0
			fi
			sleep 0.1
		done
		kill -KILL "$SERVE_PID" 2>/dev/null
		wait "$SERVE_PID" 2>/dev/null
		grep -q "cannot listen" "$SERVE_LOG" || break
	done
	echo "serve did not come up: $(head -c 600 "$SERVE_LOG")" >&2
	return 1
}

# serve_stop [SECONDS]: SIGTERM to the server; returns its exit status, or 124 (and
# kills it) if it is still running after SECONDS (default 5).
serve_stop() {
	local rc
	[ -n "$SERVE_PID" ] || return 1
	kill -TERM "$SERVE_PID" 2>/dev/null
	for _ in $(seq 1 $((${1:-5} * 10))); do
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$SERVE_PID" 2>/dev/null; then
		kill -KILL "$SERVE_PID" 2>/dev/null
		wait "$SERVE_PID" 2>/dev/null
		return 124
	fi
	wait "$SERVE_PID"
	rc=$?
	SERVE_PID=""
	return "$rc"
}

# nginx_start DIR: nginx in the foreground on DIR/nginx.conf (prefix DIR, errors in
# DIR/error.log, output in DIR/stdout), in the background: NGINX_PID, stopped at exit.
NGINX_PID=""
nginx_start() {
	nginx -p "$1" -c "$1/nginx.conf" -e "$1/error.log" -g 'daemon off;' >"$1/stdout" 2>&1 &
	NGINX_PID=$!
	BG_PIDS="$BG_PIDS $NGINX_PID"
}

# nginx_temp_paths DIR: the http{} lines that keep nginx's temp files under DIR/tmp
# (a private prefix: nothing under /var/lib/nginx is needed or touched).
nginx_temp_paths() {
	local t
	for t in client_body proxy fastcgi uwsgi scgi; do
		printf '\t%s_temp_path %s/tmp/%s;\n' "$t" "$1" "${t#client_}"
	done
}

# nginx_stop: SIGQUIT (a graceful stop), SIGKILL after 5 s; returns nginx's exit status.
nginx_stop() {
	kill -QUIT "$NGINX_PID" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$NGINX_PID" 2>/dev/null && echo "# nginx had to be killed"
	wait "$NGINX_PID"
}

# https_code PATH [CURL-ARGS...] / http_code PATH [CURL-ARGS...]: the HTTP status of a
# request to the test server (000 when no HTTP answer came); the body goes to $WORK/body,
# the response headers to $WORK/headers. HTTPS verifies against $WORK/root.pem.
https_code() {
	local p=$1
	shift
	curl -sS --max-time 10 --cacert "$WORK/root.pem" -o "$WORK/body" -D "$WORK/headers" \
		-w '%{http_code}' "$@" "https://127.0.0.1:$HTTPS_PORT$p" 2>"$WORK/curl.err"
}
http_code() {
	local p=$1
	shift
	curl -sS --max-time 10 -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "$@" \
		"http://127.0.0.1:$HTTP_PORT$p" 2>"$WORK/curl.err"
}

# metric NAME [FILE]: the value of the Prometheus metric NAME (no labels) in FILE,
# by default the body of the last https_code /metrics.
metric() { sed -n "s/^$1 \([0-9]*\)\$/\1/p" "${2:-$WORK/body}"; }

# log_sum FIELD: the sum of the whole-number JSON field FIELD over the server's log
# (the cap lines carry counts since the last one: refused, stalled_closed).
log_sum() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$SERVE_LOG" | awk '{ t += $1 } END { print t + 0 }'; }

# header NAME: the value of response header NAME in $WORK/headers (last response).
header() { tr -d '\r' <"$WORK/headers" | sed -n "s/^$1: *//Ip" | tail -1; }

# csr_b64 CSR-PEM OUT: the base64 DER CSR an EST client sends.
csr_b64() { openssl req -in "$1" -outform DER | base64 >"$2"; }

# p7_certs B64-FILE OUT-PEM: the certificates of a base64 PKCS#7 (EST reply) as PEM.
p7_certs() {
	base64 -d <"$1" | openssl pkcs7 -inform DER -print_certs -out "$2" 2>"$WORK/p7.err" &&
		grep -q 'BEGIN CERTIFICATE' "$2"
}

# ocsp_status ISSUER CERT-OR-SERIAL-ARGS...: asks the test server's /ocsp with openssl
# (POST) and prints "good", "unknown" or "revoked REASON"; fails unless the response
# verified against $WORK/chain.pem. Extra openssl ocsp args may follow. The whole
# output stays in $WORK/ocsp.out.
ocsp_status() {
	local iss=$1 st
	shift
	openssl ocsp -issuer "$iss" "$@" -url "http://127.0.0.1:$HTTP_PORT/ocsp" \
		-CAfile "$WORK/chain.pem" -resp_text >"$WORK/ocsp.out" 2>&1 || return 1
	grep -q '^Response verify OK' "$WORK/ocsp.out" || return 1
	st=$(sed -n 's/^[^ ]*: \(good\|revoked\|unknown\)$/\1/p' "$WORK/ocsp.out" | head -1)
	[ -n "$st" ] || return 1
	if [ "$st" = revoked ]; then
		st="revoked $(sed -n 's/^[[:space:]]*Reason: //p' "$WORK/ocsp.out" | head -1)"
	fi
	echo "$st"
}
