#!/bin/bash
# Hostile and broken input: every bad CSR is refused with exit 1 and a clear
# message, changes nothing in the store, and no error leaks the CA passphrase.
. "$(dirname "$0")/lib.sh"

D=$DEVTRUST_DATA
check "init and a class" setup_basic
new_device dev-1
PASS_TEXT=$(cat "$D/secrets/passphrase")
: >"$WORK/all.err"

# refuse NAME REGEX CSRFILE: cert issue exits 1 with REGEX on stderr, and the
# certificate, audit and device counts and the device's state do not change.
refuse() {
	local n=$1 re=$2 csr=$3 before after
	before="$(db_counts) $(sqlite3 "$D/devtrust.db" "select state from devices where id='dev-1'")"
	check_err "$n: exit 1, /$re/" 1 "$re" dt cert issue --device dev-1 --csr "$csr" --out "$WORK/out.pem"
	cat "$WORK/last.err" >>"$WORK/all.err"
	after="$(db_counts) $(sqlite3 "$D/devtrust.db" "select state from devices where id='dev-1'")"
	if [ "$before" = "$after" ] && [ ! -e "$WORK/out.pem" ]; then
		pass "$n: store unchanged"
	else
		fail "$n: store changed: $before -> $after, out.pem $([ -e "$WORK/out.pem" ] && echo exists)"
	fi
	rm -f "$WORK/out.pem"
}

mkcsr "$WORK/good.csr"
openssl req -in "$WORK/good.csr" -outform DER -out "$WORK/good.der"

head -c 600 /dev/urandom >"$WORK/random.bin"
refuse "random bytes" "not a PKCS#10" "$WORK/random.bin"

head -c $(($(stat -c %s "$WORK/good.der") / 2)) "$WORK/good.der" >"$WORK/trunc.der"
refuse "truncated DER" "not a PKCS#10" "$WORK/trunc.der"

{
	echo "-----BEGIN CERTIFICATE REQUEST-----"
	head -c 300 /dev/urandom | base64
	echo "-----END CERTIFICATE REQUEST-----"
} >"$WORK/garbage.pem"
refuse "PEM armour around garbage" "not a PKCS#10" "$WORK/garbage.pem"

sed '2s/^..../AAAA/' "$WORK/good.csr" >"$WORK/mangled.pem"
refuse "PEM with a corrupted body" "CSR" "$WORK/mangled.pem"

{
	cat "$WORK/good.der"
	printf 'trailing'
} >"$WORK/trailing.der"
refuse "DER with trailing bytes" "after its DER" "$WORK/trailing.der"

# RFC 7468 / csr.c's own contract: no trailing bytes, whether DER or PEM. A file
# with more after the request (junk, or a second request) is ambiguous input.
mkcsr "$WORK/other.csr"
{
	cat "$WORK/good.csr"
	head -c 200 /dev/urandom
} >"$WORK/trailing.pem"
refuse "PEM followed by garbage" "after|trailing|CSR" "$WORK/trailing.pem"
cat "$WORK/good.csr" "$WORK/other.csr" >"$WORK/two.pem"
refuse "two PEM requests in one file" "after|trailing|one|CSR" "$WORK/two.pem"

{
	cat "$WORK/good.csr"
	head -c 17000 /dev/zero | tr '\0' '#'
} >"$WORK/big.pem"
refuse "oversized CSR (> 16384 bytes)" "16384" "$WORK/big.pem"

# Flip one byte of the signature (the last byte of the DER) of a valid CSR.
cp "$WORK/good.der" "$WORK/badsig.der"
last=$(($(stat -c %s "$WORK/badsig.der") - 1))
b=$(od -An -tu1 -j "$last" -N1 "$WORK/badsig.der" | tr -d ' ')
printf "$(printf '\\%03o' $((b ^ 0x01)))" | dd of="$WORK/badsig.der" bs=1 seek="$last" conv=notrunc 2>/dev/null
check_fails "the tampered CSR differs from the original" cmp -s "$WORK/good.der" "$WORK/badsig.der"
check_out "openssl agrees the tampered CSR's signature is bad" "verify failure" \
	openssl req -in "$WORK/badsig.der" -inform DER -verify -noout
refuse "tampered CSR signature" "signature does not verify" "$WORK/badsig.der"

# RFC 2986 section 4: DER only. OpenSSL parses BER and its signature check covers the
# signed part as sent, so a re-encoded envelope still verifies: the refusal is ours.
# ber_indefinite DER OUT: the outer SEQUENCE of a DER CSR with an indefinite length.
ber_indefinite() {
	python3 - "$1" "$2" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
assert d[0] == 0x30
h = 2 + (d[1] & 0x7f if d[1] & 0x80 else 0)
open(sys.argv[2], 'wb').write(b'\x30\x80' + d[h:] + b'\x00\x00')
PY
}
ber_indefinite "$WORK/good.der" "$WORK/indefinite.der"
check_out "openssl verifies the BER (indefinite-length) CSR's signature" "verify OK" \
	openssl req -in "$WORK/indefinite.der" -inform DER -verify -noout
refuse "BER CSR (indefinite length)" "not DER-encoded" "$WORK/indefinite.der"
python3 -c "import base64,sys; d=open(sys.argv[1],'rb').read(); open(sys.argv[2],'w').write('-----BEGIN CERTIFICATE REQUEST-----\n'+base64.encodebytes(d).decode()+'-----END CERTIFICATE REQUEST-----\n')" \
	"$WORK/indefinite.der" "$WORK/indefinite.pem"
refuse "BER CSR in PEM armour" "not DER-encoded" "$WORK/indefinite.pem"
python3 - "$WORK/good.der" "$WORK/longlen.der" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
h = 2 + (d[1] & 0x7f if d[1] & 0x80 else 0)
n = len(d) - h
open(sys.argv[2], 'wb').write(bytes([0x30, 0x84]) + n.to_bytes(4, 'big') + d[h:])
PY
refuse "BER CSR (long-form length with leading zeros)" "not DER-encoded" "$WORK/longlen.der"

mkcsr "$WORK/rsa1024.csr" rsa1024
refuse "RSA-1024 key" "RSA-1024 is not supported" "$WORK/rsa1024.csr"

openssl ecparam -name secp256k1 -genkey -noout -out "$WORK/k1.key" 2>/dev/null
openssl req -new -key "$WORK/k1.key" -subj "/CN=x" -out "$WORK/k1.csr" 2>/dev/null
refuse "EC secp256k1 key" "secp256k1 is not supported" "$WORK/k1.csr"

: >"$WORK/empty.csr"
refuse "empty file" "empty" "$WORK/empty.csr"
refuse "missing file" "cannot open" "$WORK/does-not-exist.csr"

check "the good CSR is still accepted afterwards" \
	dt cert issue --device dev-1 --csr "$WORK/good.csr" --out "$WORK/good.pem"
cat "$WORK/last.err" >>"$WORK/all.err"

# --- the passphrase never shows up in errors ---------------------------------
printf 'not-the-passphrase-%s\n' "$RANDOM" >"$WORK/wrongpass"
chmod 600 "$WORK/wrongpass"
mkcsr "$WORK/p.csr"
new_device dev-2
check_exit "a wrong --passphrase-file refuses to sign" 1 \
	dt --passphrase-file "$WORK/wrongpass" cert issue --device dev-2 --csr "$WORK/p.csr" --out "$WORK/p.pem"
cat "$WORK/last.err" >>"$WORK/all.err"
check_nomatch "the wrong passphrase is not echoed" "$(cat "$WORK/wrongpass")" "$(cat "$WORK/last.err" "$WORK/last.out")"
DEVTRUST_PASSPHRASE="env-wrong-$RANDOM" dt --data "$D" crl --ca default --out "$WORK/p.crl" >"$WORK/env.out" 2>&1
cat "$WORK/env.out" >>"$WORK/all.err"
check_nomatch "a wrong DEVTRUST_PASSPHRASE is not echoed" "env-wrong-" "$(cat "$WORK/env.out")"
check_true "errors collected from every refusal" test -s "$WORK/all.err"
if grep -qF -- "$PASS_TEXT" "$WORK/all.err"; then
	fail "no error message contains the CA passphrase"
else
	pass "no error message contains the CA passphrase"
fi

# --- hostile names ---------------------------------------------------------------
for id in "a:b" "a/b" "a b" "../etc" "-x" "$(printf 'a%.0s' $(seq 65))" $'bad\nid'; do
	check_exit "device id '$(printf '%s' "$id" | head -c 20 | tr '\n' '?')' is refused" 1 \
		dt device add "$id" --class pump
done
check_exit "CA name with a path is refused" 1 dt ca add "../evil"
check_true "no key file escaped the keys dir" test ! -e "$D/evil.key" -a ! -e "$WORK/evil.key"
check_exit "class name with uppercase/URL characters is refused" 1 dt class add "Pump?x=1" --ca default

# --- usage errors exit 2 ------------------------------------------------------------
check_exit "unknown option to cert issue exits 2" 2 dt cert issue --device dev-1 --csr "$WORK/good.csr" --frobnicate
check_exit "unknown option to device list exits 2" 2 dt device list --colour red
check_exit "unknown global-looking option exits 2" 2 dt --bogus device list
check_exit "option missing its value exits 2" 2 dt cert issue --device
check_exit "unknown command exits 2" 2 dt frobnicate
check_exit "no command exits 2" 2 dt
check_err "usage errors print a usage line" 2 "usage:" dt device list --colour red

# --- EST refuses a BER CSR with 400 too ----------------------------------------------
setup_est() {
	dt init --org testorg --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null &&
		dt class add pump --ca default >/dev/null &&
		dt --json device add est-1 --class pump | jstr enrollment_token >"$WORK/est.token"
}
if serve_start setup_est --workers 1; then
	dt ca cert root --out "$WORK/root.pem" >/dev/null
	base64 <"$WORK/indefinite.der" >"$WORK/indefinite.b64"
	check_eq "EST simpleenroll with a BER CSR is 400" 400 \
		"$(https_code /.well-known/est/simpleenroll -u "est-1:$(cat "$WORK/est.token")" \
			-H 'Content-Type: application/pkcs10' --data-binary @"$WORK/indefinite.b64")"
	check_match "and says the CSR is not DER-encoded" "not DER-encoded" "$(cat "$WORK/body")"
	base64 <"$WORK/good.der" >"$WORK/good.b64"
	check_eq "the same request in DER enrolls (the token was not spent)" 200 \
		"$(https_code /.well-known/est/simpleenroll -u "est-1:$(cat "$WORK/est.token")" \
			-H 'Content-Type: application/pkcs10' --data-binary @"$WORK/good.b64")"
	serve_stop 5
else
	fail "serve starts for the EST check"
fi
