#!/bin/bash
# CRLs checked with OpenSSL and GnuTLS: signatures, CRL numbers, and that each
# lifecycle step and revocation shows up with the right RFC 5280 reason.
. "$(dirname "$0")/lib.sh"

check "init and a class" setup_basic
export_ca root
export_ca default

for d in hold retire comp super ok; do new_device "d-$d"; done
s_hold=$(issue d-hold "$WORK/hold.pem")
s_retire=$(issue d-retire "$WORK/retire.pem")
s_comp=$(issue d-comp "$WORK/comp.pem")
s_super=$(issue d-super "$WORK/super.pem")
s_ok=$(issue d-ok "$WORK/ok.pem")
check_match "five certificates issued" "^([0-9a-f]{32} ){4}[0-9a-f]{32}$" "$s_hold $s_retire $s_comp $s_super $s_ok"

# --- an empty CRL, verified by two independent implementations ---------------
check "crl --ca default --out" dt crl --ca default --out "$WORK/c1.crl"
check_out "openssl verifies the CRL signature with the issuing CA" "verify OK" \
	openssl crl -inform DER -in "$WORK/c1.crl" -CAfile "$WORK/default.pem" -noout
check_out "GnuTLS certtool verifies the CRL with the issuing CA" "Verification output: Verified" \
	certtool --verify-crl --inder --load-ca-certificate "$WORK/default.der" --infile "$WORK/c1.crl"
check_rejects "certtool does not verify the issuing CA's CRL with the root" "Not verified" \
	certtool --verify-crl --inder --load-ca-certificate "$WORK/root.der" --infile "$WORK/c1.crl"
t=$(crl_text "$WORK/c1.crl")
check_match "CRL is v2" "Version 2" "$t"
check_match "a fresh CRL lists nothing" "No Revoked Certificates" "$t"
check_match "CRL carries an AKI" "Authority Key Identifier" "$t"
n1=$(crl_number "$WORK/c1.crl")

# --- suspend / resume: certificateHold comes and goes ---------------------------
check_out "device suspend" "suspended" dt device suspend d-hold --reason maintenance
dt crl --ca default --out "$WORK/c2.crl" >/dev/null
n2=$(crl_number "$WORK/c2.crl")
check_true "CRL number increases ($n1 -> $n2)" test "$n2" -gt "$n1"
check_eq "suspended device's cert is listed as certificateHold" "Certificate Hold" "$(crl_reason "$WORK/c2.crl" "$s_hold")"
check_eq "other certs are not listed" "absent" "$(crl_reason "$WORK/c2.crl" "$s_ok")"
crl_pem "$WORK/c2.crl" "$WORK/c2.pem.crl"
check_rejects "openssl verify -crl_check rejects the held cert" "certificate revoked" \
	openssl verify -crl_check -CAfile "$WORK/root.pem" -untrusted "$WORK/default.pem" \
	-CRLfile "$WORK/c2.pem.crl" "$WORK/hold.pem"
check_out "openssl verify -crl_check accepts a valid cert" "ok.pem: OK" \
	openssl verify -crl_check -CAfile "$WORK/root.pem" -untrusted "$WORK/default.pem" \
	-CRLfile "$WORK/c2.pem.crl" "$WORK/ok.pem"

check_out "device resume" "active" dt device resume d-hold
dt crl --ca default --out "$WORK/c3.crl" >/dev/null
n3=$(crl_number "$WORK/c3.crl")
check_true "CRL number increases again ($n2 -> $n3)" test "$n3" -gt "$n2"
check_eq "resumed device's cert is gone from the CRL" "absent" "$(crl_reason "$WORK/c3.crl" "$s_hold")"
crl_pem "$WORK/c3.crl" "$WORK/c3.pem.crl"
check_out "openssl verify -crl_check accepts the resumed cert" "hold.pem: OK" \
	openssl verify -crl_check -CAfile "$WORK/root.pem" -untrusted "$WORK/default.pem" \
	-CRLfile "$WORK/c3.pem.crl" "$WORK/hold.pem"

# A cert revoked while on hold stays revoked when the device resumes.
new_device d-mixed
m1=$(issue d-mixed "$WORK/m1.pem")
m2=$(issue d-mixed "$WORK/m2.pem")
check_out "suspend puts both certs of a device on hold" "2 certificates changed" dt device suspend d-mixed
check "revoke one held cert for keyCompromise" dt cert revoke "$m1" --reason keyCompromise
check_out "resume lifts only the remaining hold" "1 certificate changed" dt device resume d-mixed
dt crl --ca default --out "$WORK/c3b.crl" >/dev/null
check_eq "the cert revoked during the hold stays listed as keyCompromise" "Key Compromise" "$(crl_reason "$WORK/c3b.crl" "$m1")"
check_eq "the other cert is back to valid" "absent" "$(crl_reason "$WORK/c3b.crl" "$m2")"

# --- terminal transitions and single revocation -----------------------------
check "device retire" dt device retire d-retire --reason decommissioned
check "device compromised" dt device compromised d-comp --reason stolen
check_out "cert revoke SERIAL --reason superseded" "revoked 1 certificate" \
	dt cert revoke "$s_super" --reason superseded
check_err "revoking it again is refused" 1 "already revoked" dt cert revoke "$s_super" --reason keyCompromise
check_err "cert revoke --reason certificateHold is refused (holds are suspend's)" 1 "suspend" \
	dt cert revoke "$s_ok" --reason certificateHold
check_exit "cert revoke with an unknown reason is a usage error" 2 dt cert revoke "$s_ok" --reason bored
check_exit "cert revoke of an unknown serial exits 1" 1 dt cert revoke 0123456789abcdef0123456789abcdef --reason superseded
new_device d-unspec
s_unspec=$(issue d-unspec "$WORK/unspec.pem")
check "cert revoke --reason unspecified" dt cert revoke "$s_unspec" --reason unspecified
check_exit "cert revoke --reason removeFromCRL is refused" 1 dt cert revoke "$s_ok" --reason removeFromCRL
dt crl --ca default --out "$WORK/c4.crl" >/dev/null
check_eq "unspecified: listed without a reasonCode (RFC 5280 5.3.1)" "none" "$(crl_reason "$WORK/c4.crl" "$s_unspec")"
check_eq "retired device: cessationOfOperation" "Cessation Of Operation" "$(crl_reason "$WORK/c4.crl" "$s_retire")"
check_eq "compromised device: keyCompromise" "Key Compromise" "$(crl_reason "$WORK/c4.crl" "$s_comp")"
check_eq "revoked serial: superseded" "Superseded" "$(crl_reason "$WORK/c4.crl" "$s_super")"
check_eq "valid cert still not listed" "absent" "$(crl_reason "$WORK/c4.crl" "$s_ok")"
check_eq "the failed double revocation did not change the reason" "Superseded" "$(crl_reason "$WORK/c4.crl" "$s_super")"
check_true "CRL number strictly increasing over four CRLs" test "$(crl_number "$WORK/c4.crl")" -gt "$n3"
check_out "cert list shows the retired cert as revoked" "revoked" dt cert list --device d-retire

# --- revoke a whole class ----------------------------------------------------
dt class add fleet --ca default >/dev/null
fleet=""
for i in 1 2 3; do
	new_device "f-$i" fleet
	fleet="$fleet $(issue "f-$i" "$WORK/f$i.pem")"
done
check_out "cert revoke --class fleet revokes all three" "revoked 3 certificates" \
	dt cert revoke --class fleet --reason affiliationChanged
check_exit "cert revoke --class of an unknown class exits 1" 1 dt cert revoke --class nosuch --reason superseded
dt crl --ca default --out "$WORK/c5.crl" >/dev/null
bad=""
for s in $fleet; do
	r=$(crl_reason "$WORK/c5.crl" "$s")
	[ "$r" = "Affiliation Changed" ] || bad="$bad $s:$r"
done
check_eq "every fleet cert listed as affiliationChanged" "3 " "$(echo $fleet | wc -w) $bad"
check_eq "class revocation left other classes alone" "absent" "$(crl_reason "$WORK/c5.crl" "$s_ok")"
check_out "final issuing CA CRL verifies (openssl)" "verify OK" \
	openssl crl -inform DER -in "$WORK/c5.crl" -CAfile "$WORK/default.pem" -noout
check_out "final issuing CA CRL verifies (certtool)" "Verification output: Verified" \
	certtool --verify-crl --inder --load-ca-certificate "$WORK/default.der" --infile "$WORK/c5.crl"

# --- revoking an issuing CA at the root ------------------------------------
dt ca add vendor-b >/dev/null
export_ca vendor-b
dt class add vb --ca vendor-b >/dev/null
new_device vb-1 vb
issue vb-1 "$WORK/vb.pem" >/dev/null
dt crl --ca root --out "$WORK/r0.crl" >/dev/null
dt crl --ca vendor-b --out "$WORK/vb.crl" >/dev/null
crl_pem "$WORK/r0.crl" "$WORK/r0.pem.crl"
crl_pem "$WORK/vb.crl" "$WORK/vb.pem.crl"
cat "$WORK/r0.pem.crl" "$WORK/vb.pem.crl" >"$WORK/crls0.pem"
check_out "before: verify -crl_check_all accepts a vendor-b cert" "vb.pem: OK" \
	openssl verify -crl_check_all -CAfile "$WORK/root.pem" -untrusted "$WORK/vendor-b.pem" \
	-CRLfile "$WORK/crls0.pem" "$WORK/vb.pem"

check_out "ca revoke vendor-b --reason cACompromise" "revoked issuing CA vendor-b" \
	dt ca revoke vendor-b --reason cACompromise
check_exit "ca revoke root is refused" 1 dt ca revoke root --reason cACompromise
new_device vb-2 vb
mkcsr "$WORK/vb2.csr"
check_err "a revoked issuing CA signs no more device certificates" 1 "revoked" \
	dt cert issue --device vb-2 --csr "$WORK/vb2.csr" --out "$WORK/vb2.pem"
check "crl --ca root" dt crl --ca root --out "$WORK/r1.crl"
vb_serial=$(openssl x509 -in "$WORK/vendor-b.pem" -noout -serial | cut -d= -f2)
def_serial=$(openssl x509 -in "$WORK/default.pem" -noout -serial | cut -d= -f2)
check_eq "root CRL lists vendor-b's CA serial as cACompromise" "CA Compromise" "$(crl_reason "$WORK/r1.crl" "$vb_serial")"
check_eq "root CRL does not list the default CA" "absent" "$(crl_reason "$WORK/r1.crl" "$def_serial")"
check_true "root CRL number increases" test "$(crl_number "$WORK/r1.crl")" -gt "$(crl_number "$WORK/r0.crl")"
check_out "root CRL verifies with root.pem (openssl)" "verify OK" \
	openssl crl -inform DER -in "$WORK/r1.crl" -CAfile "$WORK/root.pem" -noout
check_out "root CRL verifies with the root (certtool)" "Verification output: Verified" \
	certtool --verify-crl --inder --load-ca-certificate "$WORK/root.der" --infile "$WORK/r1.crl"
crl_pem "$WORK/r1.crl" "$WORK/r1.pem.crl"
cat "$WORK/r1.pem.crl" "$WORK/vb.pem.crl" >"$WORK/crls1.pem"
check_rejects "after: verify -crl_check_all rejects the vendor-b cert (its CA is revoked)" "certificate revoked" \
	openssl verify -crl_check_all -CAfile "$WORK/root.pem" -untrusted "$WORK/vendor-b.pem" \
	-CRLfile "$WORK/crls1.pem" "$WORK/vb.pem"
crl_pem "$WORK/c5.crl" "$WORK/c5.pem.crl"
cat "$WORK/r1.pem.crl" "$WORK/c5.pem.crl" >"$WORK/crls2.pem"
check_out "after: a default-CA cert still passes -crl_check_all" "ok.pem: OK" \
	openssl verify -crl_check_all -CAfile "$WORK/root.pem" -untrusted "$WORK/default.pem" \
	-CRLfile "$WORK/crls2.pem" "$WORK/ok.pem"
check_exit "crl for an unknown CA exits 1" 1 dt crl --ca nosuch --out "$WORK/x.crl"
check_exit "crl without --ca is a usage error" 2 dt crl --out "$WORK/x.crl"

# --- a large CRL through the server -------------------------------------------
# 25,000 revoked certificates of the default CA, written straight into a second
# store (issuing them would take minutes; a CRL reads only serial, time and reason).
export DEVTRUST_DATA="$WORK/big"
big_setup() {
	dt init --org BigCo --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null &&
		sqlite3 "$DEVTRUST_DATA/devtrust.db" "PRAGMA foreign_keys=OFF; BEGIN;
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 25000)
		INSERT INTO certs(serial, device_id, ca, class, key_type, spki_hash, not_before,
		                  not_after, status, reason, revoked_at, issued_at, der)
		SELECT lower(hex(randomblob(16))), 'gone', 'default', 'gone', 1, randomblob(32),
		       unixepoch() - 86400, unixepoch() + 86400, 2, 1, unixepoch() - 60,
		       unixepoch() - 86400, x'00' FROM n; COMMIT;"
}
if serve_start big_setup; then
	dt ca cert default --out "$WORK/big-ca.pem" >/dev/null
	curl -sf -o "$WORK/big.crl" "http://127.0.0.1:$HTTP_PORT/crl/default.crl"
	check_out "the served CRL of 25,000 entries verifies with the issuing CA (openssl)" "verify OK" \
		openssl crl -inform DER -in "$WORK/big.crl" -CAfile "$WORK/big-ca.pem" -noout
	check_eq "  ... and lists all 25,000 (keyCompromise)" 25000 \
		"$(openssl crl -inform DER -in "$WORK/big.crl" -noout -text | grep -c 'Key Compromise')"
	# A CRL build leaves its per-entry objects' pages in the heap: over 1 MiB of CRLs
	# built, the server gives them back (DECISIONS.md 74 g).
	check "  ... after which the server gives the freed heap back (memory-trimmed, after crl)" \
		poll_ms 10000 grep -q '"event":"memory-trimmed","after":"crl"' "$SERVE_LOG"
	check_match "  ... counted in devtrust_memory_trims_total" '^devtrust_memory_trims_total [1-9]' \
		"$(curl -sk "https://127.0.0.1:$HTTPS_PORT/metrics")"
	check "SIGTERM stops that server" serve_stop 10
else
	fail "the server did not start on a store of 25,000 revoked certificates"
fi
