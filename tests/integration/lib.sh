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
