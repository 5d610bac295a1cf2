#!/bin/bash
# Renewal of the delegated OCSP signers. With signers made to live 60 s, the
# running server renews them (fresh key, encrypted 0600, audit event) once a
# third of their validity is left, switches to them and signs its answers
# again; openssl ocsp verifies the answers with the new signer, the responder
# certificate in them changes, and `ca renew-ocsp` renews from the CLI while
# the server runs.
. "$(dirname "$0")/lib.sh"

D=$DEVTRUST_DATA
setup() {
	dt init --org renew --public-url "http://127.0.0.1:$HTTP_PORT" --ocsp-lifetime 60s \
		>/dev/null &&
		dt class add pump --ca default >/dev/null &&
		new_device dev-1
}
serve_start setup --workers 2 || {
	fail "serve starts on a data dir whose OCSP signers live 60 s"
	exit 1
}
pass "serve starts on a data dir whose OCSP signers live 60 s"
export_ca root && export_ca default && cat "$WORK/default.pem" "$WORK/root.pem" >"$WORK/chain.pem"
issue dev-1 "$WORK/dev1.pem" >/dev/null

# signer SERIAL|not_after|renew_at CA: a field of CA's OCSP signer from `ca show`.
signer() { dt --json ca show "$2" | sed -n '/"ocsp_signer"/,$p' | jstr "$1"; }
# responder OUT: the signer certificate carried in the last response ($WORK/ocsp.out).
responder() {
	sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' "$WORK/ocsp.out" >"$1"
	serial_of "$1"
}
# ask_dev1 [ARGS...]: the status of dev-1's certificate, verified with -CAfile chain.pem.
ask_dev1() { ocsp_status "$WORK/default.pem" -cert "$WORK/dev1.pem" "$@"; }

S1=$(signer serial default)
R1=$(signer serial root)
check_match "ca show names the default CA's OCSP signer" "^[0-9a-f]{32}$" "$S1"
na=$(date -u -d "$(signer not_after default)" +%s)
ra=$(date -u -d "$(signer renew_at default)" +%s)
check_eq "its renewal is planned with a third of its validity left (40 of 120 s)" 40 $((na - ra))
check_eq "dev-1 is good" good "$(ask_dev1)"
check_eq "answered by the first signer" "$S1" "$(responder "$WORK/r1.pem")"

# The server renews both signers about 20 s after init, on its own.
renewed() { [ "$(signer serial default)" != "$S1" ] && [ "$(signer serial root)" != "$R1" ]; }
poll_ms 45000 renewed
check_true "the server renewed the default CA's and the root's signers" renewed
S2=$(signer serial default)
R2=$(signer serial root)
check_match "it logged the renewal" "\"event\":\"ocsp-signer-renewed\",\"ca\":\"default\".*\"serial\":\"$S2\"" \
	"$(cat "$SERVE_LOG")"

switched() { [ "$(ask_dev1)" = good ] && [ "$(responder "$WORK/r2.pem")" = "$S2" ]; }
poll_ms 3000 switched
check_true "answers are now signed by the new signer (the cached ones were dropped)" switched
check_out "openssl ocsp verifies them with the new signer as -VAfile" "^Response verify OK" \
	openssl ocsp -issuer "$WORK/default.pem" -cert "$WORK/dev1.pem" \
	-url "http://127.0.0.1:$HTTP_PORT/ocsp" -VAfile "$WORK/r2.pem"
check_rejects "and not with the old one" "Response Verify Failure" \
	openssl ocsp -issuer "$WORK/default.pem" -cert "$WORK/dev1.pem" \
	-url "http://127.0.0.1:$HTTP_PORT/ocsp" -VAfile "$WORK/r1.pem"
check_fails "the responder certificate changed" cmp -s "$WORK/r1.pem" "$WORK/r2.pem"
check_out "the new signer is an OCSPSigning certificate with ocsp-nocheck" "OCSP Signing(.|$)+No Check" \
	sh -c "openssl x509 -in '$WORK/r2.pem' -noout -text | tr '\n' ' '"
check_eq "the root's new signer answers for the issuing CA" good \
	"$(ocsp_status "$WORK/root.pem" -cert "$WORK/default.pem")"
check_eq "... and it is the renewed one" "$R2" "$(responder "$WORK/root-r2.pem")"

# The key: a fresh one, encrypted, private; the replaced one is gone.
K="$D/keys/default-ocsp.$S2.key"
check_eq "the new signer's key file is 0600" 600 "$(mode_of "$K")"
check_true "and encrypted (PKCS#8 with a passphrase)" grep -q "BEGIN ENCRYPTED PRIVATE KEY" "$K"
check_eq "it is the new certificate's key" \
	"$(openssl x509 -in "$WORK/r2.pem" -noout -pubkey)" \
	"$(openssl pkey -in "$K" -passin "file:$D/secrets/passphrase" -pubout 2>&1)"
check_fails "the first signer's key file was removed" test -e "$D/keys/default-ocsp.key"
check_fails "... and the root's" test -e "$D/keys/root-ocsp.key"

# The CLI renews while the server runs, with a longer lifetime; the server follows.
check_out "ca renew-ocsp default renews from the CLI" "renewed the OCSP signer of CA default" \
	dt ca renew-ocsp default --ocsp-lifetime 1h
S3=$(signer serial default)
dt ca renew-ocsp root --ocsp-lifetime 1h >/dev/null
switched3() { [ "$(ask_dev1)" = good ] && [ "$(responder "$WORK/r3.pem")" = "$S3" ]; }
poll_ms 3000 switched3
check_true "the server switched to the CLI's signer within a second or so" switched3
check_fails "the server's signer key file is gone too" test -e "$K"
check_out "ca renew-ocsp --if-due leaves a signer that is not due" "not due before" \
	dt ca renew-ocsp default --if-due
check_eq "... unchanged" "$S3" "$(signer serial default)"

check_true "every renewal is in the audit log" \
	test "$(dt audit list | grep -c 'ca.ocsp_renew')" -ge 4
check "and the audit chain verifies" dt audit verify
check_eq "GET /metrics is 200" 200 "$(https_code /metrics --cacert "$WORK/root.pem")"
check_match "the server counts its own renewals" "^devtrust_ocsp_signer_renewals_total [2-9]" \
	"$(cat "$WORK/body")"
check_match "and no failure" "^devtrust_ocsp_signer_renewal_failures_total 0" "$(cat "$WORK/body")"

# Refusals.
dt ca add vend >/dev/null && dt ca revoke vend --reason keyCompromise >/dev/null
check_err "a revoked CA's signer is not renewed" 1 "revoked" dt ca renew-ocsp vend
check_err "a lifetime under a minute is refused" 1 "between 60s and 366d" \
	dt ca renew-ocsp default --ocsp-lifetime 30s
check_err "... and over a year" 1 "between 60s and 366d" dt ca renew-ocsp default --ocsp-lifetime 2y
check_err "an unknown CA" 1 "no CA named" dt ca renew-ocsp nosuch
check_err "init refuses an OCSP lifetime out of range" 1 "between 60s and 366d" \
	dt --data "$WORK/bad" init --org bad --ocsp-lifetime 10s
check_fails "and leaves nothing behind" test -e "$WORK/bad"
serve_stop 5
check_eq "SIGTERM exits 0" 0 "$?"
