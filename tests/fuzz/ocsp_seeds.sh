#!/bin/bash
# Regenerates the seed corpus of ocsp_fuzz in tests/data/fuzz/ocsp/: real
# requests written by `openssl ocsp -reqout` for a throwaway data dir, cut
# and padded copies of them, and hostile requests built with
# `openssl asn1parse -genconf` (OpenSSL's own encoder, no hand-made DER).
#   tests/fuzz/ocsp_seeds.sh [BUILD]      (default build; needs BUILD/devtrust)
# The harness re-aims every CertID at its own data dir, so the CA keys here
# do not matter.
set -eu
cd "$(dirname "$0")/../.."
DT="$PWD/${1:-build}/devtrust"
OUT=tests/data/fuzz/ocsp
W=$(mktemp -d "${TMPDIR:-/tmp}/ocsp-seeds.XXXXXX")
trap 'rm -rf "$W"' EXIT
export DEVTRUST_DATA="$W/data" DEVTRUST_PASSPHRASE=seed-only
mkdir -p "$OUT"
rm -f "$OUT"/*

"$DT" init --org seeds >/dev/null
"$DT" class add pump --ca default >/dev/null
"$DT" device add pump-1 --class pump >/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/k.pem" 2>/dev/null
openssl req -new -key "$W/k.pem" -subj /CN=x -out "$W/k.csr" 2>/dev/null
"$DT" cert issue --device pump-1 --csr "$W/k.csr" --out "$W/leaf.pem" >/dev/null
"$DT" ca cert default --out "$W/ca.pem" >/dev/null
"$DT" ca cert root --out "$W/root.pem" >/dev/null

req() { # NAME OPTIONS...: one real request
	local name=$1
	shift
	openssl ocsp -reqout "$OUT/$name.der" "$@" >/dev/null 2>&1
}
req valid-sha1 -issuer "$W/ca.pem" -cert "$W/leaf.pem" -no_nonce
req valid-sha1-nonce -issuer "$W/ca.pem" -cert "$W/leaf.pem" -nonce
req valid-sha256 -sha256 -issuer "$W/ca.pem" -cert "$W/leaf.pem" -no_nonce
req valid-sha512 -sha512 -issuer "$W/ca.pem" -cert "$W/leaf.pem" -no_nonce
req valid-md5 -md5 -issuer "$W/ca.pem" -cert "$W/leaf.pem" -no_nonce
req valid-root-for-ca -issuer "$W/root.pem" -cert "$W/ca.pem" -no_nonce
req valid-serial -issuer "$W/ca.pem" -serial 0x0123456789abcdef0123456789abcdef -no_nonce
req valid-two -issuer "$W/ca.pem" -cert "$W/leaf.pem" -serial 0x42 -nonce
req valid-signed -issuer "$W/ca.pem" -cert "$W/leaf.pem" -signer "$W/leaf.pem" \
	-signkey "$W/k.pem" -no_nonce
# The harness picks its target from the sum of the serial's octets (mod 8):
# one seed per target, so the corpus alone reaches every status.
for i in 0 1 2 3 4 5 6 7; do
	req "target-$i" -issuer "$W/ca.pem" -serial "$i" -no_nonce
done
req target-2-nonce -issuer "$W/ca.pem" -serial 2 -nonce
eight=() nine=()
for i in 1 2 3 4 5 6 7 8; do eight+=(-serial "0x$i$i"); done
nine=("${eight[@]}" -serial 0x99)
req eight-certids -issuer "$W/ca.pem" "${eight[@]}" -no_nonce
req nine-certids -issuer "$W/ca.pem" "${nine[@]}" -no_nonce

# Cut, extended and padded copies of a real request.
v="$OUT/valid-sha1-nonce.der"
n=$(stat -c %s "$v")
head -c 1 "$v" >"$OUT/truncated-1.der"
head -c $((n / 2)) "$v" >"$OUT/truncated-half.der"
head -c $((n - 1)) "$v" >"$OUT/truncated-last.der"
{ cat "$v" && printf '\0'; } >"$OUT/trailing-byte.der"
{ cat "$v" "$v"; } >"$OUT/two-requests.der"
: >"$OUT/empty.der"
{ cat "$v" && head -c 4096 /dev/zero; } >"$OUT/oversized.der"

gen() { # NAME: the ASN.1 description on stdin, encoded by OpenSSL
	cat >"$W/$1.cnf"
	openssl asn1parse -genconf "$W/$1.cnf" -out "$OUT/$1.der" >/dev/null
}
# One CertID; $1 the algorithm section, $2 the serial, $3 the extensions.
request() {
	cat <<EOF
asn1 = SEQUENCE:req
[req]
tbs = SEQUENCE:tbs
[tbs]
list = SEQUENCE:list
$3
[list]
one = SEQUENCE:one
[one]
id = SEQUENCE:certid
[certid]
alg = SEQUENCE:$1
name = FORMAT:HEX,OCTETSTRING:0102030405060708090a0b0c0d0e0f1011121314
key = FORMAT:HEX,OCTETSTRING:1112131415161718191a1b1c1d1e1f2021222324
serial = $2
[sha1]
oid = OID:sha1
null = NULL
[sha1-noparams]
oid = OID:sha1
[unknown-alg]
oid = OID:1.2.3.4.5
null = NULL
[exts]
e = SEQUENCE:ext
EOF
}
nonce() { # extension section with an extnValue of $1 and criticality $2
	cat <<EOF
exts = EXPLICIT:2,SEQUENCE:extlist
[extlist]
e = SEQUENCE:ext
[ext]
oid = OID:1.3.6.1.5.5.7.48.1.2
$2
val = $1
EOF
}
request sha1 INTEGER:0x01 "" | gen minimal-sha1
request sha1-noparams INTEGER:0x01 "" | gen alg-no-params
request unknown-alg INTEGER:0x01 "" | gen unknown-hash-alg
request sha1 INTEGER:-5 "" | gen negative-serial
request sha1 INTEGER:0 "" | gen zero-serial
request sha1 INTEGER:0x0102030405060708090a0b0c0d0e0f101112131415 "" | gen serial-21-octets
request sha1 "FORMAT:HEX,OCTETSTRING:00" "" | gen serial-not-integer
request sha1 INTEGER:1 "$(nonce 'OCTWRAP,OCTETSTRING:' '')" | gen nonce-empty
request sha1 INTEGER:1 "$(nonce "OCTWRAP,FORMAT:HEX,OCTETSTRING:$(printf '%0258d' 0)" '')" |
	gen nonce-129
request sha1 INTEGER:1 "$(nonce "OCTWRAP,FORMAT:HEX,OCTETSTRING:$(printf '%0256d' 0)" '')" |
	gen nonce-128
request sha1 INTEGER:1 "$(nonce 'FORMAT:HEX,OCTETSTRING:0102030405060708' '')" | gen nonce-raw
request sha1 INTEGER:1 "$(nonce 'OCTWRAP,FORMAT:HEX,OCTETSTRING:0102030405060708' 'crit = BOOLEAN:TRUE')" |
	gen nonce-critical
request sha1 INTEGER:1 "$(nonce 'OCTWRAP,INTEGER:5' '')" | gen nonce-integer
# An unknown critical extension, and two nonces.
request sha1 INTEGER:1 "$(nonce 'OCTWRAP,NULL' 'crit = BOOLEAN:TRUE' | sed 's/48\.1\.2$/99.1/')" |
	gen critical-unknown
request sha1 INTEGER:1 "$(nonce 'OCTWRAP,FORMAT:HEX,OCTETSTRING:01' '' |
	sed 's/^e = SEQUENCE:ext$/e = SEQUENCE:ext\ne2 = SEQUENCE:ext/')" | gen two-nonces
# An empty request list, and a version other than v1.
gen empty-list <<'EOF'
asn1 = SEQUENCE:req
[req]
tbs = SEQUENCE:tbs
[tbs]
list = SEQUENCE:list
[list]
EOF
gen version-2 <<'EOF'
asn1 = SEQUENCE:req
[req]
tbs = SEQUENCE:tbs
[tbs]
version = EXPLICIT:0,INTEGER:1
list = SEQUENCE:list
[list]
one = SEQUENCE:one
[one]
id = SEQUENCE:certid
[certid]
alg = SEQUENCE:sha1
name = FORMAT:HEX,OCTETSTRING:0102030405060708090a0b0c0d0e0f1011121314
key = FORMAT:HEX,OCTETSTRING:1112131415161718191a1b1c1d1e1f2021222324
serial = INTEGER:1
[sha1]
oid = OID:sha1
null = NULL
EOF
# Lengths that lie, indefinite lengths, deep nesting.
printf '\x30\x84\x7f\xff\xff\xff\x30\x00' >"$OUT/huge-length.der"
printf '\x30\x80\x30\x80\x30\x80\x00\x00\x00\x00\x00\x00' >"$OUT/indefinite.der"
{ for _ in $(seq 200); do printf '\x30\x80'; done; } >"$OUT/deep-nesting.der"
echo "ocsp seeds: $(find "$OUT" -type f | wc -l) files in $OUT"
