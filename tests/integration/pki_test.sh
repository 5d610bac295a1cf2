#!/bin/bash
# The CA hierarchy and device certificates, checked with OpenSSL and GnuTLS
# (tools devtrust did not write): data dir protection, encrypted keys, the
# root/issuing/TLS certificates, and every field of an issued certificate.
. "$(dirname "$0")/lib.sh"

D=$DEVTRUST_DATA
check "init and a class" setup_basic

# --- the data dir ---------------------------------------------------------
bad=""
for d in "$D" "$D/keys" "$D/secrets" "$D/tls"; do
	[ -d "$d" ] && [ "$(mode_of "$d")" = 700 ] || bad="$bad $d=$(mode_of "$d" 2>&1)"
done
check_eq "data, keys, secrets, tls dirs are 0700" "" "$bad"

keys=$(ls "$D"/keys/*.key 2>/dev/null)
check_match "init wrote root and issuing CA keys" "root\.key" "$keys"
bad=""
for k in $keys "$D/secrets/passphrase" "$D/devtrust.db"; do
	[ "$(mode_of "$k")" = 600 ] || bad="$bad $k=$(mode_of "$k")"
done
check_eq "key files, passphrase and database are 0600" "" "$bad"

bad=""
for k in $keys; do
	head -1 "$k" | grep -qx -- '-----BEGIN ENCRYPTED PRIVATE KEY-----' || bad="$bad $(basename "$k")"
done
check_eq "every key file is encrypted PKCS#8" "" "$bad"
check_rejects "root key does not open with a wrong passphrase" "bad decrypt|Could not read|unable to load|decrypt" \
	openssl pkey -in "$D/keys/root.key" -passin pass:wrong -noout
check "root key opens with the generated passphrase" \
	openssl pkey -in "$D/keys/root.key" -passin "file:$D/secrets/passphrase" -noout
check "issuing CA key opens with the generated passphrase" \
	openssl pkey -in "$D/keys/default.key" -passin "file:$D/secrets/passphrase" -noout

sum_before=$(sha256sum "$D/keys/root.key" "$D/devtrust.db" | cut -c1-64)
check_err "init on an existing non-empty data dir is refused" 1 "exists|not empty" \
	dt init --org other
check_eq "refused init left keys and store untouched" "$sum_before" \
	"$(sha256sum "$D/keys/root.key" "$D/devtrust.db" | cut -c1-64)"
mkdir -p "$WORK/full" && echo x >"$WORK/full/file"
check_exit "init into a dir holding a stray file exits 1" 1 dt --data "$WORK/full" init --org other
check_eq "the stray file survives" "x" "$(cat "$WORK/full/file")"

# --- CA certificates ------------------------------------------------------
check "export root and issuing CA certificates" export_ca root
export_ca default
root_txt=$(openssl x509 -in "$WORK/root.pem" -noout -text)
ca_txt=$(openssl x509 -in "$WORK/default.pem" -noout -text)
check_match "root key is P-384" "NIST CURVE: P-384" "$root_txt"
check_match "root is CA:TRUE, pathlen:1" "CA:TRUE, pathlen:1" "$root_txt"
check_match "root is self-signed" "^ *Issuer: O = testorg, CN = testorg Root CA" "$root_txt"
check_match "issuing CA is CA:TRUE, pathlen:0" "CA:TRUE, pathlen:0" "$ca_txt"
check "issuing CA verifies against the root (openssl)" \
	openssl verify -CAfile "$WORK/root.pem" "$WORK/default.pem"

check "ca add vendor-a" dt ca add vendor-a
check "ca add vendor-b" dt ca add vendor-b
check_exit "ca add of an existing name exits 1" 1 dt ca add vendor-a
cal=$(dt --json ca list)
names=$(printf '%s\n' "$cal" | sed -n 's/^ *"name": "\(.*\)",$/\1/p' | sort | tr '\n' ' ')
check_eq "ca list --json names root, default, vendor-a, vendor-b" "default root vendor-a vendor-b " "$names"
check_match "ca list --json marks vendor-b as an issuing CA under root" \
	'"name": "vendor-b",[[:space:]]*"kind": "issuing",[[:space:]]*"parent": "root"' "$(printf '%s' "$cal" | tr '\n' ' ')"
export_ca vendor-a
export_ca vendor-b
check "vendor-b CA verifies against the root" openssl verify -CAfile "$WORK/root.pem" "$WORK/vendor-b.pem"

tls_txt=$(openssl x509 -in "$D/tls/server.pem" -noout -ext subjectAltName,extendedKeyUsage 2>&1)
check_match "TLS cert SAN has DNS:localhost" "DNS:localhost" "$tls_txt"
check_match "TLS cert SAN has IP 127.0.0.1" "IP Address:127\.0\.0\.1" "$tls_txt"
check_match "TLS cert EKU is serverAuth" "TLS Web Server Authentication" "$tls_txt"

# --- a device certificate -------------------------------------------------
dt device add pump-001 --class pump --serial SN-4711 --manufacturer Acme >/dev/null
s1=$(issue pump-001 "$WORK/c1.pem")
check "cert issue writes a PEM certificate" test -s "$WORK/c1.pem"
cat "$WORK/c1.pem" "$WORK/default.pem" >"$WORK/chain1.pem"
check_out "openssl verify -purpose sslclient accepts it" "c1.pem: OK" \
	openssl verify -CAfile "$WORK/root.pem" -untrusted "$WORK/default.pem" -purpose sslclient "$WORK/c1.pem"
check_out "GnuTLS certtool verifies leaf+issuing chain against the root" \
	"Chain verification output: Verified" \
	certtool --verify --load-ca-certificate "$WORK/root.pem" --infile "$WORK/chain1.pem"

txt=$(openssl x509 -in "$WORK/c1.pem" -noout -text)
subj=$(openssl x509 -in "$WORK/c1.pem" -noout -subject -nameopt multiline)
check_match "subject CN is the device id" "^ +commonName += pump-001$" "$subj"
check_match "subject serialNumber is the device serial" "^ +serialNumber += SN-4711$" "$subj"
check_nomatch "CSR subject names are not copied (no attacker/Evil Corp)" "attacker|Evil" "$txt"
san=$(openssl x509 -in "$WORK/c1.pem" -noout -ext subjectAltName | tail -n +2 | sed 's/^ *//')
check_eq "SAN is exactly the device URN" "URI:urn:devtrust:testorg:pump:pump-001" "$san"
check_eq "KeyUsage is critical, digitalSignature only (EC key)" \
	"X509v3 Key Usage: critical|Digital Signature" \
	"$(openssl x509 -in "$WORK/c1.pem" -noout -ext keyUsage | sed 's/^ *//; s/ *$//' | paste -sd'|')"
eku=$(openssl x509 -in "$WORK/c1.pem" -noout -ext extendedKeyUsage | tail -n +2 | sed 's/^ *//')
check_eq "EKU is clientAuth only" "TLS Web Client Authentication" "$eku"
check_rejects "openssl refuses it for sslserver (no serverAuth)" "unsuitable certificate purpose" \
	openssl verify -CAfile "$WORK/root.pem" -untrusted "$WORK/default.pem" -purpose sslserver "$WORK/c1.pem"
check_match "basicConstraints is critical CA:FALSE" "Basic Constraints: critical"$'\n'" *CA:FALSE" "$txt"
ski_ca=$(openssl x509 -in "$WORK/default.pem" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')
aki=$(openssl x509 -in "$WORK/c1.pem" -noout -ext authorityKeyIdentifier | tail -n +2 | tr -d ' ' | sed 's/^keyid://' | grep -v '^$' | head -1)
check_eq "AKI equals the issuing CA's SKI" "$ski_ca" "$aki"
ski=$(openssl x509 -in "$WORK/c1.pem" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')
check_match "SKI is a 20-byte key identifier of its own" "^([0-9A-F]{2}:){19}[0-9A-F]{2}$" "$ski"
check_true "leaf SKI differs from the CA's" test "$ski" != "$ski_ca"
check_match "AIA OCSP uses the default public URL" "OCSP - URI:http://127\.0\.0\.1:8080/ocsp$" "$txt"

# serial: devtrust's report matches the cert, 16 random bytes, unique.
check_eq "reported serial is the certificate's serial" "$s1" "$(serial_of "$WORK/c1.pem")"
raw=$(openssl x509 -in "$WORK/c1.pem" -noout -serial | cut -d= -f2)
check_match "certificate serial is a positive 16-byte value (15 if the top byte is 0)" \
	"^([0-9A-F]{30}|[0-9A-F]{32})$" "$raw"
serials="$s1"
for i in 2 3 4 5; do
	new_device "pump-00$i"
	serials="$serials $(issue "pump-00$i" "$WORK/c$i.pem")"
done
check_eq "five issuances give five distinct serials" 5 "$(printf '%s\n' $serials | sort -u | grep -c .)"
# 128 random bits: the top bit is set about half the time; over five serials the
# chance that none has a top byte >= 0x10 is 2^-20 for a real 16-byte random value.
check_match "serials use their top byte (not a counter)" "(^| )[1-9a-f][0-9a-f]{31}" "$serials"

# --- public URL from init -------------------------------------------------
D2=$WORK/data-url
check "init with --public-url" dt --data "$D2" init --org exorg --public-url http://pki.example.test:8080
dt --data "$D2" class add meter --ca default >/dev/null
dt --data "$D2" device add m-1 --class meter >/dev/null
mkcsr "$WORK/m1.csr"
check "issue in the second data dir" dt --data "$D2" cert issue --device m-1 --csr "$WORK/m1.csr" --out "$WORK/m1.pem"
txt2=$(openssl x509 -in "$WORK/m1.pem" -noout -text 2>&1)
check_match "AIA OCSP is <public-url>/ocsp" "OCSP - URI:http://pki\.example\.test:8080/ocsp$" "$txt2"
check_match "AIA caIssuers is <public-url>/ca/default.crt" "CA Issuers - URI:http://pki\.example\.test:8080/ca/default\.crt$" "$txt2"
check_match "CRL DP is <public-url>/crl/default.crl" "URI:http://pki\.example\.test:8080/crl/default\.crl$" "$txt2"
check_nomatch "no default URL left in the certificate" "127\.0\.0\.1" "$txt2"
check_match "URN uses the second org" "URI:urn:devtrust:exorg:meter:m-1$" "$txt2"
check_nomatch "no serialNumber in the subject when the device has none" "serialNumber" \
	"$(openssl x509 -in "$WORK/m1.pem" -noout -subject -nameopt multiline)"

# --- validity ---------------------------------------------------------------
dt class add shortlived --ca default --lifetime 2h >/dev/null
new_device short-1 shortlived
t0=$(date -u +%s)
issue short-1 "$WORK/short.pem" >/dev/null
t1=$(date -u +%s)
nb=$(cert_epoch "$WORK/short.pem" start)
na=$(cert_epoch "$WORK/short.pem" end)
life=$((na - nb))
check_true "lifetime 2h gives notAfter-notBefore of 2h (+ backdate <= 60s): ${life}s" \
	test "$life" -ge 7200 -a "$life" -le 7260
check_true "notBefore backdated by at most 60s: nb=$nb issued in [$t0,$t1]" \
	test "$nb" -ge $((t0 - 61)) -a "$nb" -le "$t1"
check_true "notAfter is 2h from issuance: na=$na" test "$na" -ge $((t0 + 7200 - 1)) -a "$na" -le $((t1 + 7200 + 1))

# --- key types --------------------------------------------------------------
new_device p384-1
check "P-384 key issued for a class allowing ec-p384" issue p384-1 "$WORK/p384.pem" p384
check_match "the P-384 certificate carries the P-384 key" "NIST CURVE: P-384" \
	"$(openssl x509 -in "$WORK/p384.pem" -noout -text)"
new_device rsa-1
mkcsr "$WORK/rsa.csr" rsa2048
check_err "RSA-2048 refused when the class does not allow it" 1 "rsa-2048.*not allowed|not allowed.*rsa" \
	dt cert issue --device rsa-1 --csr "$WORK/rsa.csr" --out "$WORK/rsa.pem"
check_true "no certificate file written after a refusal" test ! -e "$WORK/rsa.pem"
dt class add rsaclass --ca default --key-types rsa-2048 >/dev/null
new_device rsa-2 rsaclass
check "RSA-2048 issued when the class allows it" \
	dt cert issue --device rsa-2 --csr "$WORK/rsa.csr" --out "$WORK/rsa2.pem"
check_match "RSA certificate has digitalSignature, keyEncipherment" "Digital Signature, Key Encipherment" \
	"$(openssl x509 -in "$WORK/rsa2.pem" -noout -ext keyUsage)"
dt class add edclass --ca default --key-types ed25519 >/dev/null
new_device ed-1 edclass
check "Ed25519 issued when the class allows it" issue ed-1 "$WORK/ed.pem" ed25519
check_match "the certificate key is ED25519" "Public Key Algorithm: ED25519" \
	"$(openssl x509 -in "$WORK/ed.pem" -noout -text)"
check_out "Ed25519 certificate verifies (openssl, sslclient)" "OK$" \
	openssl verify -CAfile "$WORK/root.pem" -untrusted "$WORK/default.pem" -purpose sslclient "$WORK/ed.pem"

# --- serverAuth only where the class allows it -------------------------------
dt class add gateway --ca default --eku clientAuth,serverAuth >/dev/null
new_device gw-1 gateway
issue gw-1 "$WORK/gw.pem" >/dev/null
eku=$(openssl x509 -in "$WORK/gw.pem" -noout -ext extendedKeyUsage 2>&1 | tail -n +2 | sed 's/^ *//')
check_eq "class --eku clientAuth,serverAuth gives both EKUs" \
	"TLS Web Client Authentication, TLS Web Server Authentication" "$eku"
check "openssl accepts the gateway cert for sslserver" \
	openssl verify -CAfile "$WORK/root.pem" -untrusted "$WORK/default.pem" -purpose sslserver "$WORK/gw.pem"

# --- CA segregation -----------------------------------------------------------
dt class add vb-pump --ca vendor-b >/dev/null
new_device vb-1 vb-pump
issue vb-1 "$WORK/vb.pem" >/dev/null
check_match "vendor-b class cert is issued by vendor-b" "Issuer: O = testorg, CN = vendor-b" \
	"$(openssl x509 -in "$WORK/vb.pem" -noout -text)"
check_match "vendor-b cert's caIssuers names vendor-b" "/ca/vendor-b\.crt" \
	"$(openssl x509 -in "$WORK/vb.pem" -noout -text)"
check "vendor-b cert verifies against root + vendor-b" \
	openssl verify -CAfile "$WORK/root.pem" -untrusted "$WORK/vendor-b.pem" -purpose sslclient "$WORK/vb.pem"
check_rejects "vendor-b cert does not verify against root + vendor-a (openssl)" "unable to get local issuer" \
	openssl verify -CAfile "$WORK/root.pem" -untrusted "$WORK/vendor-a.pem" -purpose sslclient "$WORK/vb.pem"
cat "$WORK/vb.pem" "$WORK/vendor-a.pem" >"$WORK/vb-wrong.pem"
check_rejects "vendor-b cert does not verify in a vendor-a chain (certtool)" "Not verified|not trusted|issuer" \
	certtool --verify --load-ca-certificate "$WORK/root.pem" --infile "$WORK/vb-wrong.pem"
check_rejects "a default-CA cert does not verify against vendor-a" "unable to get local issuer" \
	openssl verify -CAfile "$WORK/root.pem" -untrusted "$WORK/vendor-a.pem" "$WORK/c1.pem"
