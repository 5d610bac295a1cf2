#!/bin/bash
# Key isolation (docs/RELIABILITY.md, "Key isolation"): devtrust serve keeps its
# CA keys in a signer process of their own. The signer is a separate,
# non-dumpable process without network sockets; killed, it is restarted and
# enrollment goes on; every certificate issued verifies against the chain; the
# CRLs are signed by it; it ends with the server, however the server ends.
# Clients: curl (EST), openssl (verify, crl), ss and /proc.
. "$(dirname "$0")/lib.sh"

W=$WORK
EST=/.well-known/est
: >"$W/issued" # every certificate a client received

setup() {
	dt init --org testorg --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null &&
		dt class add pump --ca default --lifetime 30d --key-types ec-p256 >/dev/null
}

# signer_pid: the signer's pid from the newest line of the log that names one.
signer_pid() {
	grep -oE '"(signer_pid|event":"signer-started","pid)":[0-9]+' "$SERVE_LOG" | tail -1 |
		grep -oE '[0-9]+$'
}
# prepare ID: a new device ID, its token in $W/ID.token and a CSR body in $W/ID.b64.
prepare() {
	dt --json device add "$1" --class pump --serial "SN-$1" | jstr enrollment_token >"$W/$1.token"
	mkcsr "$W/$1.csr"
	csr_b64 "$W/$1.csr" "$W/$1.b64"
}
# post ID OUT: enrolls a prepared device over EST (own output files, so several may
# run at once); prints the HTTP status (000: no HTTP answer).
post() {
	local code
	code=$(curl -sS --max-time 20 --cacert "$W/root.pem" -o "$W/$1.out" -w '%{http_code}' \
		-u "$1:$(cat "$W/$1.token")" -H 'Content-Type: application/pkcs10' \
		--data-binary @"$W/$1.b64" "https://127.0.0.1:$HTTPS_PORT$EST/simpleenroll" \
		2>>"$W/curl.err")
	if [ "$code" = 200 ] && p7_certs "$W/$1.out" "$2"; then
		echo "$2" >>"$W/issued"
	fi
	echo "$code"
}
enroll() { prepare "$1" && post "$1" "$2"; }
verify_chain() { openssl verify -CAfile "$W/root.pem" -untrusted "$W/default.pem" "$1"; }
ppid_of() { awk '/^PPid:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
alive() { kill -0 "$1" 2>/dev/null; }
new_signer() { # OLD: a signer other than OLD runs (from the log) and is the server's child
	local p
	p=$(signer_pid)
	[ -n "$p" ] && [ "$p" != "$1" ] && alive "$p" && [ "$(ppid_of "$p")" = "$SERVE_PID" ]
}

check "serve starts with key isolation (the default)" serve_start setup --workers 2
[ -n "$SERVE_PID" ] || exit 1
export_ca root && export_ca default
cat "$W/root.pem" "$W/default.pem" >"$W/chain.pem"
line=$(head -1 "$SERVE_LOG")
check_match "the listening line says key_isolation and names the signer's pid" \
	'"key_isolation":true,"signer_pid":[1-9][0-9]*' "$line"
S1=$(signer_pid)
check_true "the signer is a process of its own" [ -n "$S1" -a "$S1" != "$SERVE_PID" ]
check_eq "the signer is the server's child (/proc/PID/status PPid)" "$SERVE_PID" "$(ppid_of "$S1")"
check_match "the signer runs as devtrust serve --key-signer (/proc/PID/cmdline)" \
	"--key-signer" "$(tr '\0' ' ' <"/proc/$S1/cmdline")"
check_eq "the signer has no_new_privs (/proc/PID/status NoNewPrivs)" 1 \
	"$(awk '/^NoNewPrivs:/ { print $2 }' "/proc/$S1/status")"
# Its confinement (src/ca/keyd_sandbox.c): a seccomp filter, no capability, limits.
# A sanitizer build (make asan) lets its runtime fork and has no process or file size
# limit (LeakSanitizer's thread at exit, reports to a log of any size).
status_of() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }
limit_of() { sed -n "s/^$2  *\([0-9a-z]*\)  *\([0-9a-z]*\).*/\1 \2/p" "/proc/$1/limits" 2>/dev/null; }
sanitized=""
grep -q __asan_init "$DT" && sanitized=1
confined() { # PID: the checks of a signer's confinement
	check_eq "$2the signer runs under a seccomp filter (/proc/PID/status Seccomp 2)" 2 \
		"$(status_of "$1" Seccomp)"
	check_eq "$2  ... exactly one" 1 "$(status_of "$1" Seccomp_filters)"
	check_eq "$2the signer has no capability (CapEff CapPrm CapInh CapAmb)" \
		"0000000000000000 0000000000000000 0000000000000000 0000000000000000" \
		"$(status_of "$1" CapEff) $(status_of "$1" CapPrm) $(status_of "$1" CapInh) $(status_of "$1" CapAmb)"
	if [ "$(id -u)" = 0 ]; then
		check_eq "$2  ... not even in its bounding set (started by root)" \
			0000000000000000 "$(status_of "$1" CapBnd)"
	fi
	check_eq "$2its limits: no core file" "0 0" "$(limit_of "$1" 'Max core file size')"
	check_eq "$2  ... 32 files open at most" "32 32" "$(limit_of "$1" 'Max open files')"
	if [ -z "$sanitized" ]; then
		check_eq "$2  ... no new process" "0 0" "$(limit_of "$1" 'Max processes')"
		check_eq "$2  ... files of 1 MiB at most" "1048576 1048576" \
			"$(limit_of "$1" 'Max file size')"
	fi
}
confined "$S1" ""
check_eq "the server itself runs without a filter (Seccomp 0)" 0 "$(status_of "$SERVE_PID" Seccomp)"
if [ "$(id -u)" = 0 ]; then
	check_match "  ... and, as root, with its capabilities (CapEff not all zero)" \
		'^[0-9a-f]*[1-9a-f][0-9a-f]*$' "$(status_of "$SERVE_PID" CapEff)"
fi
# A non-dumpable process's /proc files belong to root, so the server's user cannot read
# /proc/PID/mem or attach to it. Run as root, every /proc file is root's: nothing to see.
if [ "$(id -u)" != 0 ]; then
	check_eq "the signer is not dumpable (its /proc/PID/mem is root's)" 0 \
		"$(stat -c %u "/proc/$S1/mem")"
	check_eq "  ... while the server's is its user's" "$(id -u)" \
		"$(stat -c %u "/proc/$SERVE_PID/mem")"
else
	echo "# running as root: the non-dumpable check needs another user"
fi
check_eq "the signer holds no TCP or UDP socket (ss -p)" "" \
	"$(ss -Htunap 2>/dev/null | grep -E "pid=$S1," || true)"
fds=$(for f in /proc/"$S1"/fd/*; do readlink "$f"; done 2>/dev/null | grep -F "$DEVTRUST_DATA" || true)
check_eq "the signer has no file of the data dir open (the store, the lock)" "" "$fds"
check_eq "  ... and exactly its 8 connections as sockets" 8 \
	"$(for f in /proc/"$S1"/fd/*; do readlink "$f"; done 2>/dev/null | grep -c '^socket:')"
check_eq "... and holds no listening socket: the server's listeners are the server's" "" \
	"$(ss -Htlnp "sport = :$HTTPS_PORT" 2>/dev/null | grep -v "pid=$SERVE_PID," || true)"
maps_key=$(grep -c 'devtrust.db' "/proc/$S1/maps" 2>/dev/null || true)
check_eq "the signer does not map the store (/proc/PID/maps)" 0 "${maps_key:-0}"

# --- issuance through the signer ---------------------------------------------
check_eq "simpleenroll is 200" 200 "$(enroll dev-1 "$W/d1.pem")"
check "the certificate verifies against root + issuing CA" verify_chain "$W/d1.pem"
check_eq "the CRL of default is served (signed by the signer)" 200 "$(http_code /crl/default.crl)"
cp "$W/body" "$W/default.crl"
check_out "the served CRL verifies against the issuing CA" "verify OK" \
	openssl crl -inform DER -in "$W/default.crl" -CAfile "$W/chain.pem" -noout

# --- key creation through the signer: a new issuing CA, the Admin CA ----------
# Every key operation the filter must allow: generate, save (a new 0600 file in
# DATA/keys), certify, self-sign, and the first signatures with the new keys.
TOK=$(dt --json admin add ki-admin --role admin --token | jstr token)
api_post() { # PATH BODY: the status of an admin API call
	https_code "/api/v1$1" -X POST -H "Authorization: Bearer $TOK" \
		-H "Content-Type: application/json" --data-binary "$2"
}
check_eq "POST /api/v1/cas: a new issuing CA (its key made by the signer) is 201" 201 \
	"$(api_post /cas '{"name":"vendor-b"}')"
check_eq "  ... its key file is in DATA/keys, 0600" 600 "$(mode_of "$DEVTRUST_DATA/keys/vendor-b.key")"
check_eq "POST /api/v1/admins kind certificate: the Admin CA made by the signer, 201" 201 \
	"$(api_post /admins '{"name":"ki-op","role":"operator","kind":"certificate"}')"
check_true "  ... its key file is in DATA/keys" \
	sh -c "ls '$DEVTRUST_DATA'/keys/admin_ca.*.key >/dev/null"
check_eq "the CRL of vendor-b is served, signed by the new key" 200 "$(http_code /crl/vendor-b.crl)"
check_eq "the same signer did all of that: nothing it did was refused by its filter" \
	"$S1" "$(signer_pid)"
check "  ... and it is alive" alive "$S1"
check_nomatch "no signer was killed by its filter (SIGSYS, 31) so far" '"signal":31' \
	"$(cat "$SERVE_LOG")"

# --- the signer killed -------------------------------------------------------
kill -KILL "$S1"
check "after SIGKILL, the server starts another signer within 3 s" poll_ms 3000 new_signer "$S1"
S2=$(signer_pid)
check_match "the log records the signer's death and the restart" \
	'"event":"signer-exited","pid":'"$S1"',"signal":9' "$(cat "$SERVE_LOG")"
check "the server is still running" alive "$SERVE_PID"
confined "$S2" "restarted: "
check_eq "the next enrollment is 200" 200 "$(enroll dev-2 "$W/d2.pem")"
check "  ... and its certificate verifies" verify_chain "$W/d2.pem"

# Killed just before the request: the request waits for the new signer (or is
# sent again to it), never a dropped connection.
kill -KILL "$S2"
check_eq "an enrollment right after the signer's death is 200" 200 "$(enroll dev-3 "$W/d3.pem")"
check "  ... and its certificate verifies" verify_chain "$W/d3.pem"
check "a third signer runs" poll_ms 3000 new_signer "$S2"

# Enrollments in flight while the signer dies: each gets an HTTP answer (200,
# or a clean 5xx), and the server lives on.
for i in 1 2 3 4 5 6 7 8; do prepare "dev-p$i"; done
S3=$(signer_pid)
posts=""
for i in 1 2 3 4 5 6 7 8; do
	post "dev-p$i" "$W/dp$i.pem" >"$W/p$i.code" &
	posts="$posts $!"
done
sleep 0.05
kill -KILL "$S3"
for p in $posts; do wait "$p"; done
codes=$(cat "$W"/p[1-8].code | sort | uniq -c | tr -s ' ' | tr '\n' ';')
echo "# in-flight enrollment statuses: $codes"
check_eq "enrollments in flight at the signer's death: each answered 200, 500 or 503" "" \
	"$(cat "$W"/p[1-8].code | grep -vE '^(200|500|503)$' || true)"
check "the server is still running" alive "$SERVE_PID"
check "a signer runs again" poll_ms 3000 new_signer "$S3"
check_eq "and enrollment still works" 200 "$(enroll dev-4 "$W/d4.pem")"

# --- revocation: the watcher's CRL goes through the (new) signer -------------
serial=$(serial_of "$W/d1.pem")
check "cert revoke" dt cert revoke "$serial" --reason keyCompromise
crl_lists() {
	http_code /crl/default.crl >/dev/null && cp "$W/body" "$W/c.crl" &&
		[ "$(crl_reason "$W/c.crl" "$serial")" = "Key Compromise" ]
}
check "the served CRL lists the revoked serial within 2 s" poll_ms 2000 crl_lists
check_out "  ... and verifies against the issuing CA" "verify OK" \
	openssl crl -inform DER -in "$W/c.crl" -CAfile "$W/chain.pem" -noout

bad=""
while read -r f; do verify_chain "$f" >/dev/null 2>&1 || bad="$bad $f"; done <"$W/issued"
check_eq "every certificate issued ($(grep -c . "$W/issued")) verifies against the chain" "" "$bad"

check_nomatch "no signer was killed by its filter (SIGSYS, 31) in the whole run" '"signal":31' \
	"$(cat "$SERVE_LOG")"

# --- the signer ends with the server -----------------------------------------
S4=$(signer_pid)
serve_stop 5
check_eq "SIGTERM: the server exits 0" 0 "$?"
check "  ... and its signer is gone within 2 s" poll_ms 2000 bash -c "! kill -0 $S4 2>/dev/null"
check_match "the log ends with stopped" '"event":"stopped"' "$(tail -1 "$SERVE_LOG")"

check "serve starts again" serve_start setup --workers 1
S5=$(signer_pid)
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
check "SIGKILL of the server: its signer dies with it within 2 s" \
	poll_ms 2000 bash -c "! kill -0 $S5 2>/dev/null"

# --- --no-key-isolation: the comparison mode ---------------------------------
: >"$W/issued"
check "serve --no-key-isolation starts" serve_start setup --workers 1 --no-key-isolation
export_ca root && export_ca default
check_match "its listening line says key_isolation false, no signer" \
	'"key_isolation":false,"signer_pid":0' "$(head -1 "$SERVE_LOG")"
check_eq "the server has no child process" "" "$(pgrep -P "$SERVE_PID" || true)"
check_eq "simpleenroll is 200 without isolation" 200 "$(enroll dev-5 "$W/d5.pem")"
check "  ... and its certificate verifies" verify_chain "$W/d5.pem"
serve_stop 5
