#!/bin/bash
# docs/openapi.json against the real admin API: the document's operations are
# exactly the route table of src/api/api.c (methods, paths, roles, handlers);
# every operation is called on a running `devtrust serve` (successes and the
# 400/401/403/404/409 cases, 401 and 403 for every operation) and each reply's
# status, body and documented headers are validated against the document's
# schema for that operation and status (openapi_check.py, python3-jsonschema);
# and the drift checks themselves catch a missing route, an invented operation,
# other roles and a changed schema.
. "$(dirname "$0")/lib.sh"

W=$WORK
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DOC=${OPENAPI_DOC:-$ROOT/docs/openapi.json} # (another document: to try the checks)
CHECK=$ROOT/tests/integration/openapi_check.py

# A python3 with jsonschema: Debian's (scripts/deps.sh test installs python3-jsonschema),
# else the first on PATH that has it.
PY=""
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import jsonschema' 2>/dev/null; then
		PY=$p
		break
	fi
done
if [ -z "$PY" ]; then
	fail "python3-jsonschema is installed (scripts/deps.sh test)"
	exit 1
fi

# checker CHECK-ARGS...: runs openapi_check.py (it prints its own PASS/FAIL lines and exits
# 1 after a FAIL); any other end is a failure of its own.
checker() {
	local rc
	"$PY" "$CHECK" --doc "$DOC" --routes "$ROOT/src/api/api.c" "$@"
	rc=$?
	[ "$rc" -le 1 ] || fail "openapi_check.py $1 ended with status $rc"
}

# The document alone against the route table, and the drift checks (no server needed).
checker --static-only --self-test

# A pump class on the default CA with a clone policy, and a gateway class that may ask /authz
# (to make a clone finding).
setup() {
	dt init --org testorg --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null &&
		dt class add pump --ca default --lifetime 30d >/dev/null &&
		dt class add gateway --ca default >/dev/null &&
		dt policy allow pump telemetry >/dev/null &&
		dt policy allow gateway devtrust-authz >/dev/null &&
		dt policy clone pump --window 60s --action deny >/dev/null
}
check "devtrust serve starts" serve_start setup --workers 2
[ -n "$SERVE_PID" ] || exit 1
export_ca root && export_ca default

# Devices: acme's (the vendor's) and globex's; a-2, a-4 and a-5 stay registered, the others
# are active with a certificate issued by `devtrust cert issue`.
{
	echo "id,class,serial,manufacturer,criticality"
	for d in a-1 a-2 a-3 a-4 a-5 a-6 a-7; do echo "$d,pump,SN-$d,acme,high"; done
	echo "g-1,pump,SN-g-1,globex,medium"
	echo "gw-1,gateway,,,low"
} >"$W/devices.csv"
check "device import" dt device import "$W/devices.csv" --tokens-out "$W/tokens.csv"
for d in a-1 a-3 a-6 a-7 g-1 gw-1; do
	check "cert issue $d" issue "$d" "$W/$d.pem"
done

# A clone finding: a-1's certificate presented to a backend from two addresses.
CERT_ENC=$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read(), safe=""))' "$W/a-1.pem")
authz_from() {
	https_code /authz --cert "$W/gw-1.pem" --key "$W/gw-1.pem.csr.key" \
		-H "X-Devtrust-Client-Cert: $CERT_ENC" -H "X-Devtrust-Service: telemetry" \
		-H "X-Devtrust-Method: GET" -H "X-Devtrust-URI: /v1/vitals" \
		-H "X-Devtrust-Client-Addr: $1"
}
check_eq "a-1 seen by a backend from 10.0.0.1" 200 "$(authz_from 10.0.0.1)"
check_eq "a-1 seen from 10.0.0.2 too: a clone finding" 403 "$(authz_from 10.0.0.2)"
check "the clone finding is recorded" poll_ms 5000 sh -c "'$DT' report clones | grep -q a-1"

# Credentials: a token for each role, and an operator certificate of the Admin CA.
token() { dt --json admin add "$@" --token | sed -n 's/^ *"token": "\(dta_[0-9a-f_]*\)".*/\1/p'; }
export OA_TOKEN_ADMIN OA_TOKEN_OPERATOR OA_TOKEN_AUDITOR OA_TOKEN_VENDOR
OA_TOKEN_ADMIN=$(token root-admin --role admin)
OA_TOKEN_OPERATOR=$(token ops --role operator)
OA_TOKEN_AUDITOR=$(token audit-1 --role auditor)
OA_TOKEN_VENDOR=$(token acme-tech --role vendor --manufacturer acme --expires 2h)
check_match "a token for each role" '^(dta_[0-9a-f]{16}_[0-9a-f]{64} ){4}$' \
	"$OA_TOKEN_ADMIN $OA_TOKEN_OPERATOR $OA_TOKEN_AUDITOR $OA_TOKEN_VENDOR "
check "an operator certificate of the Admin CA" \
	dt admin add alice --role operator --expires 1h --out "$W"

export OA_CLIENT_CERT="$W/alice.pem" OA_CLIENT_KEY="$W/alice.key"
export OA_SERIAL_A1 OA_SERIAL_G1 OA_SERIAL_A6 OA_SERIAL_A7
OA_SERIAL_A1=$(serial_of "$W/a-1.pem")
OA_SERIAL_G1=$(serial_of "$W/g-1.pem")
OA_SERIAL_A6=$(serial_of "$W/a-6.pem")
OA_SERIAL_A7=$(serial_of "$W/a-7.pem")
export OA_ROOT_PEM="$W/root.pem" OA_DEFAULT_PEM="$W/default.pem"

# Every operation against the server, each reply validated.
checker --live-only --base "https://127.0.0.1:$HTTPS_PORT" --cacert "$W/root.pem"

check "the server survived every call (healthz)" \
	curl -skf --max-time 5 "https://127.0.0.1:$HTTPS_PORT/healthz"
check "SIGTERM stops the server" serve_stop
