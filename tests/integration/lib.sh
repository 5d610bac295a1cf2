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
