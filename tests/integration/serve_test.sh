#!/bin/bash
# devtrust serve end to end, driven only by clients devtrust did not write:
# curl (EST, CRL, CA certificates, metrics, abuse), openssl s_client (TLS),
# openssl ocsp and GnuTLS ocsptool (OCSP), openssl/certtool (CRLs). The
# server runs on random loopback ports on a data dir whose public URL is the
# test's plain listener, so the AIA/CDP URLs in issued certificates hit it.
. "$(dirname "$0")/lib.sh"

W=$WORK
EST=/.well-known/est
TOKENS=$W/tokens # "ID TOKEN" for every token handed out (must never reach the log)
: >"$TOKENS"
ENROLLED=$W/enrolled # one line per successful EST enrollment (the metric must count them)
: >"$ENROLLED"

setup() {
	dt init --org testorg --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null &&
		dt class add pump --ca default --lifetime 30d --key-types ec-p256,ec-p384 >/dev/null &&
		dt class add valve --ca default --lifetime 30d >/dev/null
}
check "serve starts on free loopback ports and /healthz answers on both listeners" \
	serve_start setup --workers 2
[ -n "$SERVE_PID" ] || exit 1
export_ca root && export_ca default
cat "$W/root.pem" "$W/default.pem" >"$W/chain.pem"
check_match "startup log line is JSON naming both listeners" \
	"^\{\"event\":\"listening\",\"https\":\"127.0.0.1:$HTTPS_PORT\",\"http\":\"127.0.0.1:$HTTP_PORT\"" \
	"$(head -1 "$SERVE_LOG")"

# token ID: the enrollment token of a new device ID in class pump (or $2).
token() {
	local t
	t=$(dt --json device add "$1" --class "${2:-pump}" --serial "SN-$1" | jstr enrollment_token)
	echo "$1 $t" >>"$TOKENS"
	echo "$t"
}
# enroll OP OUT CSR [CURL-ARGS...]: POSTs the base64 DER of CSR to $EST/OP; prints the
# HTTP status; a 200 reply's certificates land in OUT (PEM).
enroll() {
	local op=$1 out=$2 csr=$3 code
	shift 3
	csr_b64 "$csr" "$W/enroll.b64"
	code=$(https_code "$EST/$op" -H 'Content-Type: application/pkcs10' \
		--data-binary @"$W/enroll.b64" "$@")
	if [ "$code" = 200 ]; then
		cp "$W/body" "$out.b64"
		p7_certs "$out.b64" "$out" && echo "$op" >>"$ENROLLED"
	fi
	echo "$code"
}
verify_chain() { openssl verify -CAfile "$W/root.pem" -untrusted "$W/default.pem" "$1"; }
spki() { openssl x509 -in "$1" -noout -pubkey 2>/dev/null || openssl pkey -in "$1" -pubout; }

# --- health and TLS ---------------------------------------------------------
check_eq "GET /healthz over HTTPS (verified against the root) is 200" 200 "$(https_code /healthz)"
check_eq "/healthz body is ok" ok "$(cat "$W/body")"
check_eq "HTTPS by name: https://localhost verifies too" 200 \
	"$(curl -sS --cacert "$W/root.pem" -o /dev/null -w '%{http_code}' "https://localhost:$HTTPS_PORT/healthz")"
check_eq "GET /healthz on the plain listener is 200" 200 "$(http_code /healthz)"

for v in tls1_2 tls1_3; do
	# The verdict is s_client's report, not its exit status: at stdin's end it
	# may see the connection reset after its close_notify and exit 1.
	openssl s_client -connect "127.0.0.1:$HTTPS_PORT" "-$v" -CAfile "$W/root.pem" \
		-verify_return_error -verify_hostname localhost -verify_ip 127.0.0.1 </dev/null \
		>"$W/last.out" 2>&1 || true
	check_match "openssl s_client -$v: handshake and chain verify against the root" \
		"Verify return code: 0 \(ok\)" "$(cat "$W/last.out")"
	check_match "  ... and negotiated ${v/tls1_/TLSv1.}" "^New, ${v/tls1_/TLSv1.}, Cipher is" "$(cat "$W/last.out")"
done
# The server ends a connection with a close_notify: an OpenSSL 3 client sees a clean
# end, not "unexpected eof" (which it answers with a fatal alert that also kills the
# session). A TLS 1.2 client without tickets (a common device stack) then resumes by
# session ID, after the server has let go of the first connection.
tls_get() { # s_client OPTIONS...: GET /healthz with Connection: close, to the server's close
	printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
		openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -CAfile "$W/root.pem" -ign_eof -msg "$@" \
			>"$W/last.out" 2>&1 || true
}
for v in tls1_2 tls1_3; do
	tls_get "-$v"
	check_match "openssl s_client -$v: the server ends the connection with a close_notify" \
		"<<< TLS 1\.[23], Alert \[length 0002\], warning close_notify" "$(cat "$W/last.out")"
	check_true "  ... and the client reports no unexpected eof" \
		bash -c '! grep -q "unexpected eof" "$1"' _ "$W/last.out"
done
tls_get -tls1_2 -no_ticket -sess_out "$W/tls12.sess"
check_match "TLS 1.2 without a ticket: a full handshake first" "^New, TLSv1.2" "$(cat "$W/last.out")"
sleep 0.5
tls_get -tls1_2 -no_ticket -sess_in "$W/tls12.sess"
check_match "  ... then the same session is resumed by its ID" "^Reused, TLSv1.2" "$(cat "$W/last.out")"
check_match "  ... and served the request" "^ok" "$(cat "$W/last.out")"
# SECLEVEL=0 so the client really offers TLS 1.1: the refusal must be the server's.
check_rejects "TLS 1.1 is refused by the server (protocol version alert)" "alert protocol version" \
	openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null
check_rejects "TLS 1.2 without forward secrecy (AES128-SHA) is refused" "handshake failure|no cipher" \
	openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -tls1_2 -cipher AES128-SHA </dev/null
openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -showcerts </dev/null 2>/dev/null |
	awk '/BEGIN CERT/{n++} n==1{print} /END CERT/{if(n==1)exit}' >"$W/server.pem"
check "server certificate verifies with -CAfile root -untrusted issuing CA" \
	openssl verify -purpose sslserver -CAfile "$W/root.pem" -untrusted "$W/default.pem" "$W/server.pem"
san=$(openssl x509 -in "$W/server.pem" -noout -ext subjectAltName 2>&1)
check_match "server certificate SAN has DNS:localhost" "DNS:localhost" "$san"
check_match "server certificate SAN has IP 127.0.0.1" "IP Address:127.0.0.1" "$san"
check_out "GnuTLS gnutls-cli verifies the server (root as trust anchor)" "Handshake was completed" \
	gnutls-cli --x509cafile "$W/root.pem" --port "$HTTPS_PORT" localhost </dev/null

# --- EST: cacerts and csrattrs ----------------------------------------------
check_eq "GET $EST/cacerts is 200" 200 "$(https_code $EST/cacerts)"
check_match "cacerts Content-Type is application/pkcs7-mime" "^application/pkcs7-mime" "$(header Content-Type)"
cp "$W/body" "$W/cacerts.b64"
check "cacerts is base64 DER PKCS#7 that openssl pkcs7 prints" p7_certs "$W/cacerts.b64" "$W/cacerts.pem"
subjects=$(openssl crl2pkcs7 -nocrl -certfile "$W/cacerts.pem" | openssl pkcs7 -print_certs -noout 2>&1)
check_match "cacerts holds the issuing CA" "subject=O = testorg, CN = default Issuing CA" "$subjects"
check_match "cacerts holds the root" "subject=O = testorg, CN = testorg Root CA" "$subjects"
# fps PEM-FILE: the sorted SHA-256 fingerprints of the certificates in a PEM file.
fps() {
	rm -f "$W"/fp.*
	awk -v d="$W/fp" '/BEGIN CERT/{n++} {print > (d "." n)}' "$1"
	for f in "$W"/fp.*; do openssl x509 -in "$f" -noout -fingerprint -sha256 2>/dev/null; done | sort
}
check_eq "cacerts are exactly the exported root and issuing CA" "$(fps "$W/chain.pem")" "$(fps "$W/cacerts.pem")"
check_eq "labelled $EST/pump/cacerts is 200" 200 "$(https_code $EST/pump/cacerts)"
check_eq "unknown label $EST/nosuch/cacerts is 404" 404 "$(https_code $EST/nosuch/cacerts)"
check_eq "POST to cacerts is 405" 405 "$(https_code $EST/cacerts -d x)"

check_eq "GET $EST/csrattrs is 200" 200 "$(https_code $EST/pump/csrattrs)"
check_match "csrattrs Content-Type is application/csrattrs" "^application/csrattrs" "$(header Content-Type)"
base64 -d <"$W/body" >"$W/csrattrs.der"
check_out "csrattrs is base64 DER that openssl asn1parse parses" "SEQUENCE" \
	openssl asn1parse -inform DER -in "$W/csrattrs.der"
attrs=$(cat "$W/last.out")
check_match "pump csrattrs asks for an EC key" ":id-ecPublicKey" "$attrs"
check_match "pump csrattrs names P-256 (prime256v1)" ":prime256v1" "$attrs"
check_match "pump csrattrs names P-384 (secp384r1)" ":secp384r1" "$attrs"
check_nomatch "pump csrattrs offers no RSA (the class allows none)" "rsaEncryption" "$attrs"

# --- EST: simpleenroll with HTTP Basic --------------------------------------
T1=$(token dev-1)
check_match "device add --json printed an enrollment token" "^[0-9a-f]{16,}$" "$T1"
mkcsr "$W/d1.csr"
check_eq "simpleenroll with dev-1:TOKEN is 200" 200 "$(enroll simpleenroll "$W/d1.pem" "$W/d1.csr" -u "dev-1:$T1")"
check_match "simpleenroll reply is a certs-only PKCS#7" "application/pkcs7-mime; *smime-type=certs-only" \
	"$(header Content-Type)"
check "enrolled certificate verifies against root + issuing CA (openssl verify)" verify_chain "$W/d1.pem"
check_eq "enrolled certificate carries the CSR's public key" "$(openssl req -in "$W/d1.csr" -noout -pubkey)" \
	"$(spki "$W/d1.pem")"
d1txt=$(openssl x509 -in "$W/d1.pem" -noout -subject -ext subjectAltName,authorityInfoAccess 2>&1)
check_match "enrolled certificate names dev-1, not the CSR's subject" "CN = dev-1" "$d1txt"
check_nomatch "enrolled certificate ignores the CSR's hostile names" "attacker|Evil" "$d1txt"
check_match "enrolled certificate's OCSP URL is this server's plain listener" \
	"OCSP - URI:http://127.0.0.1:$HTTP_PORT/ocsp" "$d1txt"
check_eq "device is active after enrolling" active "$(dt --json device show dev-1 | jstr state)"

mkcsr "$W/d1x.csr"
check_eq "the same token again is 401" 401 "$(enroll simpleenroll "$W/x.pem" "$W/d1x.csr" -u "dev-1:$T1")"
check_match "401 asks for HTTP Basic (WWW-Authenticate)" "^Basic " "$(header WWW-Authenticate)"
used_body=$(cat "$W/body")
T2=$(token dev-2)
mkcsr "$W/d2.csr"
check_eq "a wrong token is 401" 401 \
	"$(enroll simpleenroll "$W/x.pem" "$W/d2.csr" -u "dev-2:0123456789abcdef0123456789abcdef")"
wrong_body=$(cat "$W/body")
check_eq "an unknown device is 401" 401 "$(enroll simpleenroll "$W/x.pem" "$W/d2.csr" -u "nobody:$T2")"
unknown_body=$(cat "$W/body")
check_eq "no credentials at all is 401" 401 "$(enroll simpleenroll "$W/x.pem" "$W/d2.csr")"
# A scanner must not learn which device ids exist (or have enrolled) from the reply.
id_free() { printf '%s' "$1" | sed "s/'$2'/'ID'/g"; }
check_eq "401 for a wrong token does not tell the device exists (same as unknown device)" \
	"$(id_free "$unknown_body" nobody)" "$(id_free "$wrong_body" dev-2)"
check_eq "401 for a used token does not tell the device exists (same as unknown device)" \
	"$(id_free "$unknown_body" nobody)" "$(id_free "$used_body" dev-1)"
check_eq "a wrong class label (valve for a pump device) is refused with 400" 400 \
	"$(enroll valve/simpleenroll "$W/x.pem" "$W/d2.csr" -u "dev-2:$T2")"
check_eq "an unknown label is 404" 404 "$(enroll nosuch/simpleenroll "$W/x.pem" "$W/d2.csr" -u "dev-2:$T2")"
check_eq "labelled $EST/pump/simpleenroll works (refusals above did not burn the token)" 200 \
	"$(enroll pump/simpleenroll "$W/d2.pem" "$W/d2.csr" -u "dev-2:$T2")"
check "labelled enrollment's certificate verifies" verify_chain "$W/d2.pem"
mkcsr "$W/rsa.csr" rsa2048
T3=$(token dev-3)
check_eq "a key type the class does not allow (RSA for pump) is 400" 400 \
	"$(enroll simpleenroll "$W/x.pem" "$W/rsa.csr" -u "dev-3:$T3")"
printf 'not base64 at all!!' >"$W/garbage"
check_eq "a body that is no CSR is 400" 400 \
	"$(https_code $EST/simpleenroll -u "dev-3:$T3" -H 'Content-Type: application/pkcs10' --data-binary @"$W/garbage")"
check_eq "GET simpleenroll is 405" 405 "$(https_code $EST/simpleenroll -u "dev-3:$T3")"
check_eq "EST is not served on the plain listener (404)" 404 \
	"$(http_code $EST/simpleenroll -u "dev-3:$T3" --data-binary @"$W/garbage")"
check_eq "the token survived the refusals: dev-3 enrolls" 200 \
	"$(enroll simpleenroll "$W/d3.pem" "$W/d1x.csr" -u "dev-3:$T3")"

T4=$(token dev-4)
dt device retire dev-4 >/dev/null
mkcsr "$W/d4.csr"
# Retiring voids the token (inventory/lifecycle.c), so this is an authentication failure.
check_eq "a retired device's token is refused (401: retire voided it)" 401 \
	"$(enroll simpleenroll "$W/x.pem" "$W/d4.csr" -u "dev-4:$T4")"
T5=$(token dev-5)
mkcsr "$W/d5.csr"
enroll simpleenroll "$W/d5.pem" "$W/d5.csr" -u "dev-5:$T5" >/dev/null
T5b=$(dt --json device token dev-5 | jstr enrollment_token)
echo "dev-5 $T5b" >>"$TOKENS"
dt device suspend dev-5 >/dev/null
check_eq "a suspended device's fresh token is refused with 403" 403 \
	"$(enroll simpleenroll "$W/x.pem" "$W/d4.csr" -u "dev-5:$T5b")"

# --- EST: simplereenroll with the current certificate -----------------------
mkcsr "$W/d1r.csr"
check_eq "simplereenroll with dev-1's certificate as TLS client cert is 200" 200 \
	"$(enroll simplereenroll "$W/d1r.pem" "$W/d1r.csr" --cert "$W/d1.pem" --key "$W/d1.csr.key")"
check "re-enrolled certificate verifies" verify_chain "$W/d1r.pem"
check_true "re-enrolled certificate is new (other serial, the new key)" \
	[ "$(serial_of "$W/d1r.pem")" != "$(serial_of "$W/d1.pem")" -a \
	"$(spki "$W/d1r.pem")" = "$(openssl req -in "$W/d1r.csr" -noout -pubkey)" ]
check_match "re-enrolled certificate is still dev-1's" "CN = dev-1" "$(openssl x509 -in "$W/d1r.pem" -noout -subject)"
check_eq "simplereenroll without a client certificate is 401" 401 \
	"$(enroll simplereenroll "$W/x.pem" "$W/d1r.csr")"
check_eq "simplereenroll with Basic credentials instead of a certificate is 401" 401 \
	"$(enroll simplereenroll "$W/x.pem" "$W/d1r.csr" -u "dev-3:$T3")"
check_eq "a device certificate is no bootstrap credential: simpleenroll with it is 401" 401 \
	"$(enroll simpleenroll "$W/x.pem" "$W/d1r.csr" --cert "$W/d1r.pem" --key "$W/d1r.csr.key")"
check "revoke dev-2's certificate (keyCompromise)" dt cert revoke "$(serial_of "$W/d2.pem")" --reason keyCompromise
mkcsr "$W/d2r.csr"
# The code answers DT_ERR_AUTH (401): a revoked certificate is no credential.
check_eq "simplereenroll with a revoked certificate is 401" 401 \
	"$(enroll simplereenroll "$W/x.pem" "$W/d2r.csr" --cert "$W/d2.pem" --key "$W/d2.csr.key")"
check_eq "simplereenroll with a suspended device's certificate is refused (403)" 403 \
	"$(enroll simplereenroll "$W/x.pem" "$W/d2r.csr" --cert "$W/d5.pem" --key "$W/d5.csr.key")"

# --- OCSP --------------------------------------------------------------------
OC=$W/d3.pem # dev-3: active, enrolled over EST
st() { ocsp_status "$W/default.pem" -cert "$OC" "$@"; }
check_eq "openssl ocsp (POST, nonce): dev-3 is good" good "$(st)"
check_match "the response echoes the request nonce" "OCSP Nonce" "$(cat "$W/ocsp.out")"
check_nomatch "openssl saw no nonce problem" "no nonce|Nonce Verify error" "$(cat "$W/ocsp.out")"
check_eq "openssl ocsp -no_nonce: good" good "$(st -no_nonce)"
check_nomatch "a request without nonce gets a response without nonce" "OCSP Nonce" "$(cat "$W/ocsp.out")"
check_eq "random serial 0x1234 is unknown" unknown "$(ocsp_status "$W/default.pem" -serial 0x1234)"
check_out "GnuTLS ocsptool --ask (URL from the certificate's AIA): good" \
	"Certificate Status: good" ocsptool --ask --load-issuer "$W/default.pem" --load-cert "$OC"
check_match "ocsptool verified the response" "Verifying OCSP Response: Success" "$(cat "$W/last.out")"

# status_is WORDS...: dev-3's OCSP status (no nonce, so a stale cached answer would show).
status_is() { [ "$(st -no_nonce)" = "$*" ]; }
dt device suspend dev-3 >/dev/null
check "after device suspend, OCSP says revoked (certificateHold) within 1.5 s" \
	poll_ms 1500 status_is revoked certificateHold
check_eq "  ... and with a nonce too" "revoked certificateHold" "$(st)"
check_out "ocsptool --ask: revoked after suspend" "Certificate Status: revoked" \
	ocsptool --ask --load-issuer "$W/default.pem" --load-cert "$OC"
dt device resume dev-3 >/dev/null
check "after device resume, OCSP says good within 1.5 s" poll_ms 1500 status_is good
dt device retire dev-3 >/dev/null
check "after device retire, OCSP says revoked (cessationOfOperation) within 1.5 s" \
	poll_ms 1500 status_is revoked cessationOfOperation
check_eq "revoked certificate over OCSP: keyCompromise for dev-2" "revoked keyCompromise" \
	"$(ocsp_status "$W/default.pem" -cert "$W/d2.pem")"

# GET (RFC 6960 A.1 / RFC 5019): URL-encoded base64 of the DER request.
openssl ocsp -issuer "$W/default.pem" -cert "$W/d1r.pem" -no_nonce -reqout "$W/req.der" >/dev/null 2>&1
enc=$(base64 -w0 "$W/req.der" | sed 's/+/%2B/g; s|/|%2F|g; s/=/%3D/g')
check_eq "GET /ocsp/<urlencoded base64> is 200" 200 "$(http_code "/ocsp/$enc")"
cp "$W/body" "$W/get1.der"
check_match "GET OCSP Content-Type is application/ocsp-response" "^application/ocsp-response" "$(header Content-Type)"
check_match "GET OCSP response has Cache-Control max-age" "max-age=[1-9][0-9]*" "$(header Cache-Control)"
check_match "GET OCSP response has Last-Modified" "GMT$" "$(header Last-Modified)"
etag=$(header ETag)
check_match "GET OCSP response has an ETag" '^"[^"]+"$' "$etag"
check_out "the GET response verifies and says good (openssl ocsp -respin)" "d1r.pem: good" \
	openssl ocsp -respin "$W/get1.der" -issuer "$W/default.pem" -cert "$W/d1r.pem" -CAfile "$W/chain.pem"
http_code "/ocsp/$enc" >/dev/null
check_eq "the same GET again: same ETag" "$etag" "$(header ETag)"
# The cache holds one answer per request asked since the last status change: a status
# change empties it (stale answers do not pile up), asking again refills one entry.
cached() { https_code /metrics >/dev/null && metric devtrust_ocsp_cache_entries; }
cached_is() { [ "$(cached)" = "$1" ]; }
check_true "the OCSP cache holds the GET's answer (devtrust_ocsp_cache_entries >= 1)" \
	[ "$(cached)" -ge 1 ]
# One change at a time: the cache holds an entry before each, so seeing it empty means
# the watcher has taken that change (a suspend and a resume may take two of its scans).
for change in suspend resume suspend resume; do
	dt device "$change" dev-1 >/dev/null
	poll_ms 1500 cached_is 0 || { fail "device $change did not empty the OCSP cache"; break; }
	for _ in 1 2 3; do http_code "/ocsp/$enc" >/dev/null; done
done
check_eq "4 status changes, each followed by the same GET 3 times: one entry" 1 "$(cached)"
dt device suspend dev-1 >/dev/null && dt device resume dev-1 >/dev/null
check "  ... and a status change empties the cache within 1.5 s" poll_ms 1500 cached_is 0
# The CRL is regenerated after the changes above (coalesced): wait for the one after the
# last resume, which no longer holds dev-1, before reading it below.
crl_lists() { http_code /crl/default.crl >/dev/null && [ "$(crl_reason "$W/body" "$1")" = "$2" ]; }
s1=$(serial_of "$W/d1r.pem")
check "  ... and the CRL drops dev-1's hold after the last resume within 3 s" \
	poll_ms 3000 crl_lists "$s1" absent
check_eq "a malformed POST is answered 200 with an OCSP error" 200 \
	"$(http_code /ocsp -H 'Content-Type: application/ocsp-request' --data-binary @"$W/garbage")"
check_rejects "  ... malformedRequest, which openssl parses" "Responder Error: malformedrequest" \
	openssl ocsp -respin "$W/body" -resp_text -noverify

# --- CRL and CA certificates ------------------------------------------------
check_eq "GET /crl/default.crl is 200" 200 "$(http_code /crl/default.crl)"
cp "$W/body" "$W/crl1.der"
check_match "CRL Content-Type is application/pkix-crl" "^application/pkix-crl" "$(header Content-Type)"
check_out "served CRL verifies against the issuing CA (openssl crl)" "verify OK" \
	openssl crl -inform DER -in "$W/crl1.der" -CAfile "$W/default.pem" -noout
crl_pem "$W/crl1.der" "$W/crl1.pem"
check_out "served CRL verifies with GnuTLS certtool --verify-crl" "Verification output: Verified" \
	certtool --verify-crl --load-ca-certificate "$W/default.pem" --infile "$W/crl1.pem"
check_eq "served CRL lists the retired dev-3 (cessationOfOperation)" "Cessation Of Operation" \
	"$(crl_reason "$W/crl1.der" "$(serial_of "$OC")")"
check_eq "served CRL lists the suspended dev-5 on hold" "Certificate Hold" \
	"$(crl_reason "$W/crl1.der" "$(serial_of "$W/d5.pem")")"
check_eq "dev-1's current certificate is not on the CRL yet" absent "$(crl_reason "$W/crl1.der" "$s1")"
dt cert revoke "$s1" --reason superseded >/dev/null
check "after cert revoke, the served CRL lists the serial within 1.5 s" \
	poll_ms 1500 crl_lists "$s1" Superseded
check_true "the new CRL has a higher CRL number" \
	[ "$(crl_number "$W/body")" -gt "$(crl_number "$W/crl1.der")" ]
check_eq "GET /ca/default.crt is 200" 200 "$(http_code /ca/default.crt)"
check "/ca/default.crt is the issuing CA certificate in DER" cmp -s "$W/body" "$W/default.der"
http_code /ca/root.crt >/dev/null
check "/ca/root.crt is the root in DER" cmp -s "$W/body" "$W/root.der"
check_eq "/crl/nope.crl is 404" 404 "$(http_code /crl/nope.crl)"
check_eq "/ca/nope.crt is 404" 404 "$(http_code /ca/nope.crt)"
check_eq "/crl/../devtrust.db-style traversal is 404" 404 "$(http_code /crl/..%2Fdevtrust.db.crl)"

# --- metrics ------------------------------------------------------------------
check_eq "GET /metrics over HTTPS is 200" 200 "$(https_code /metrics)"
cp "$W/body" "$W/metrics"
check_match "metrics count requests (devtrust_http_requests_total)" \
	'^devtrust_http_requests_total\{route="est_simpleenroll",status="200"\} [1-9]' "$(cat "$W/metrics")"
check_eq "devtrust_certificates_issued_total counts the EST enrollments" "$(grep -c . "$ENROLLED")" \
	"$(metric devtrust_certificates_issued_total "$W/metrics")"
check_match "metrics count 401s" 'route="est_simpleenroll",status="401"\} [1-9]' "$(cat "$W/metrics")"
check_match "metrics show the memory the store holds (devtrust_store_memory_bytes > 0)" \
	'^devtrust_store_memory_bytes [1-9][0-9]*$' "$(cat "$W/metrics")"
# The heap malloc holds: what is allocated (more than the store's part of it) and
# what it keeps after frees; a growing RSS is read against these (RELIABILITY soak 7).
heap=$(metric devtrust_heap_in_use_bytes "$W/metrics")
if [ "${SANITIZED:-0}" = 1 ]; then # ASan's allocator replaces malloc's arenas
	echo "# not checked under ASan: the heap in use ($heap bytes)"
else
	check_true "metrics show the heap in use, more than the store's share ($heap)" \
		test "${heap:-0}" -gt "$(metric devtrust_store_memory_bytes "$W/metrics")"
fi
check_match "  ... and the freed heap malloc keeps (devtrust_heap_free_bytes)" \
	'^devtrust_heap_free_bytes [0-9]+$' "$(cat "$W/metrics")"
check_eq "metrics are not on the plain listener (404)" 404 "$(http_code /metrics)"

# --- abuse basics -------------------------------------------------------------
head -c 1048576 /dev/zero | tr '\0' A >"$W/big"
code=$(https_code $EST/simpleenroll -u "dev-1:x" -H 'Content-Type: application/pkcs10' --data-binary @"$W/big")
check_match "a 1 MB POST to simpleenroll is 413 (or the connection is closed)" "^(413|000)$" "$code"
check_eq "  ... and the server still answers /healthz" 200 "$(https_code /healthz)"
# Abuse must show in the request log like any other request: a body over our
# 32 KB limit but under libevent's hard cap (which drops larger ones unlogged).
head -c 102400 /dev/zero | tr '\0' A >"$W/big100k"
code=$(https_code $EST/simpleenroll -u "dev-1:x" -H 'Content-Type: application/pkcs10' --data-binary @"$W/big100k")
check_eq "a 100 KB POST to simpleenroll is 413" 413 "$code"
check_match "  ... and the refusal has its JSON log line (status 413)" \
	'"path":"/.well-known/est/simpleenroll".*"status":413' "$(cat "$SERVE_LOG")"
code=$(http_code /ocsp -H 'Content-Type: application/ocsp-request' --data-binary @"$W/big")
check_match "a 1 MB POST to /ocsp is 413 (or the connection is closed)" "^(413|000)$" "$code"
code=$(https_code /healthz -H "X-Big: $(head -c 40000 "$W/big")")
check_match "40 KB of headers is refused (400/413/431 or closed)" "^(400|413|431|000)$" "$code"
check_eq "unknown path on HTTPS is 404" 404 "$(https_code /nope)"
check_eq "unknown path on HTTP is 404" 404 "$(http_code /nope)"
check_eq "the server still answers on both listeners" "200 200" "$(https_code /healthz) $(http_code /healthz)"

n0=$(grep -c '"route":"healthz"' "$SERVE_LOG")
for _ in 1 2 3 4 5; do https_code /healthz >/dev/null; done
sleep 0.2
check_eq "one log line per request (5 more healthz lines after 5 requests)" $((n0 + 5)) \
	"$(grep -c '"route":"healthz"' "$SERVE_LOG")"
bad=$(python3 -c '
import json, sys
bad = 0
for line in open(sys.argv[1]):
    try:
        o = json.loads(line)
        if "event" not in o and not all(k in o for k in ("ts", "method", "path", "status")): bad += 1
    except Exception:
        bad += 1
print(bad)' "$SERVE_LOG" 2>&1)
check_eq "every server log line is a JSON object (request lines: ts, method, path, status)" 0 "$bad"
check_match "the log names the enrolled device" '"route":"est_simpleenroll","status":200.*"device":"dev-1"' \
	"$(cat "$SERVE_LOG")"

# --- graceful stop ----------------------------------------------------------
# A device on a slow link: headers and part of its enrollment now, the rest
# 1.5 s later. SIGTERM comes in between; a graceful drain answers it.
T6=$(token dev-6)
mkcsr "$W/d6.csr"
csr_b64 "$W/d6.csr" "$W/d6.b64"
slow_enroll() {
	local len
	len=$(wc -c <"$W/d6.b64")
	{
		printf 'POST %s/simpleenroll HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic %s\r\n' \
			"$EST" "$(printf 'dev-6:%s' "$T6" | base64 -w0)"
		printf 'Content-Type: application/pkcs10\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' "$len"
		head -c 100 "$W/d6.b64"
		sleep 1.5
		tail -c +101 "$W/d6.b64"
		sleep 1.5
	} | openssl s_client -quiet -connect "127.0.0.1:$HTTPS_PORT" -CAfile "$W/root.pem" \
		>"$W/slow.out" 2>/dev/null
}
slow_enroll &
slow=$!
sleep 0.7
t0=$(now_ms)
serve_stop 5
rc=$?
echo "# stop took $(($(now_ms) - t0)) ms"
check_eq "SIGTERM: the server drains and exits 0 within 5 s" 0 "$rc"
wait "$slow"
# Served, or refused cleanly so the device retries (est.c refuses new issuance
# jobs once stopping): never a dropped connection.
slow_status=$(head -1 "$W/slow.out" | tr -d '\r')
slow_retry=$(tr -d '\r' <"$W/slow.out" | sed -n 's/^Retry-After: *//Ip')
check_match "an enrollment still arriving at SIGTERM gets an answer before the exit: 200, or 503 with Retry-After" \
	"^HTTP/1.1 200 .*|^HTTP/1.1 503 .*retry=[1-9]" "$slow_status retry=$slow_retry"
if [ "${slow_status:0:12}" = "HTTP/1.1 503" ]; then
	check_eq "  ... refused at shutdown, dev-6's token is not burnt (still registered)" registered \
		"$(dt --json device show dev-6 | jstr state)"
else
	check_eq "  ... served at shutdown, dev-6 is active" active "$(dt --json device show dev-6 | jstr state)"
fi
check_match "the log records draining and stopped" '"event":"stopped"' "$(tail -2 "$SERVE_LOG")"
check "the ports are released after the stop" port_free "$HTTPS_PORT"
leaks=""
check_eq "the suite handed out 7 tokens (all checked below)" 7 "$(grep -c . "$TOKENS")"
echo "dev-2 0123456789abcdef0123456789abcdef" >>"$TOKENS" # the wrong one tried
while read -r id t; do
	grep -qF "$t" "$SERVE_LOG" && leaks="$leaks $t"
	grep -qF "$(printf '%s:%s' "$id" "$t" | base64 -w0)" "$SERVE_LOG" && leaks="$leaks Basic($id)"
done <"$TOKENS"
check_eq "the server log never contains an enrollment token (or a Basic header)" "" "$leaks"
