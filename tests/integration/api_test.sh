#!/bin/bash
# The admin REST API with curl: every role against every endpoint, for a
# vendor's own manufacturer's devices and another's, each cell asserted; the
# credentials themselves (tokens kept as hashes, Admin CA certificates, a
# vendor's maintenance window, revocation, device certificates refused); the
# error shape; and the audit trail naming the operator.
. "$(dirname "$0")/lib.sh"

W=$WORK
setup() {
	dt init --org testorg --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null &&
		dt class add pump --ca default >/dev/null
}
check "devtrust serve starts" serve_start setup --workers 2
[ -n "$SERVE_PID" ] || exit 1
export_ca root

# Devices: acme's (the vendor's) and globex's, some active with a certificate.
for d in a-1 a-2 a-3 a-4 a-5 a-6 a-7 a-8 a-9; do
	dt device add "$d" --class pump --manufacturer acme --criticality high >/dev/null
done
for d in g-1 g-2; do dt device add "$d" --class pump --manufacturer globex >/dev/null; done
SA=$(issue a-1 "$W/a1.pem")
SG=$(issue g-1 "$W/g1.pem")
for d in a-2 a-3 a-4 a-5 a-6 a-7 a-8 a-9 g-2; do issue "$d" "$W/$d.pem" >/dev/null; done

token() { dt --json admin add "$@" --token | sed -n 's/^ *"token": "\(dta_[0-9a-f_]*\)".*/\1/p'; }
TOK_admin=$(token root-admin --role admin)
TOK_operator=$(token ops --role operator)
TOK_auditor=$(token audit-1 --role auditor)
TOK_vendor=$(token acme-tech --role vendor --manufacturer acme --expires 2h)
check_match "admin add --token prints a dta_ token once" '^dta_[0-9a-f]{16}_[0-9a-f]{64}$' "$TOK_admin"
# The secret part is nowhere in the data dir (database, WAL, logs); its id is, so the
# search itself works.
check_eq "the data dir holds no token secret, only its hash" "" \
	"$(grep -rl "${TOK_admin##*_}" "$DEVTRUST_DATA")"
ID=${TOK_admin#dta_}
check_true "the data dir holds the token's id (the search can find what is there)" \
	grep -rq "${ID%%_*}" "$DEVTRUST_DATA"

# api ROLE METHOD PATH [BODY]: the status of a call with ROLE's token.
api() {
	local role=$1 m=$2 p=$3 tokvar="TOK_$1"
	shift 3
	https_code "/api/v1$p" -X "$m" -H "Authorization: Bearer ${!tokvar}" \
		${1+-H "Content-Type: application/json" --data-binary "$1"}
}
# cell ROLE METHOD PATH WANT [BODY]: one cell of the authorization matrix.
cell() {
	local role=$1 m=$2 p=$3 want=$4 got
	shift 4
	got=$(api "$role" "$m" "$p" "$@")
	if [ "$got" = "$want" ]; then
		pass "matrix: $role $m $p -> $want"
	else
		fail "matrix: $role $m $p: want $want, got $got: $(head -c 300 "$W/body")"
	fi
}
# row METHOD PATH ADMIN OPERATOR AUDITOR VENDOR [BODY]: the four roles on one call.
row() {
	local m=$1 p=$2 i=0 r
	local -a want=("$3" "$4" "$5" "$6")
	shift 6
	for r in admin operator auditor vendor; do
		cell "$r" "$m" "$p" "${want[$i]}" "$@"
		i=$((i + 1))
	done
}

# --- reads -------------------------------------------------------------------
row GET /me 200 200 200 200
row GET /overview 200 200 200 403
row GET /devices 200 200 200 200
row GET /devices/a-1 200 200 200 200
row GET /devices/g-1 200 200 200 404
row GET /devices/a-1/audit 200 200 200 200
row GET /devices/g-1/audit 200 200 200 404
row GET /classes 200 200 200 403
row GET /classes/pump 200 200 200 403
row GET /cas 200 200 200 403
row GET /cas/default 200 200 200 403
row GET /certificates 200 200 200 403
row GET "/certificates?device=a-1" 200 200 200 200
row GET "/certificates?device=g-1" 200 200 200 404
row GET "/certificates/$SA" 200 200 200 200
row GET "/certificates/$SG" 200 200 200 404
row GET /policies 200 200 200 403
row GET /reports/expiring 200 200 200 403
row GET /reports/drift 200 200 200 403
row GET /audit 200 200 200 403
row GET /audit/verify 200 403 200 403
row GET /admins 200 403 403 403

# --- writes: each allowed role acts on objects of its own --------------------
for r in admin operator auditor vendor; do
	case $r in admin | operator) w=201 ;; *) w=403 ;; esac
	cell $r POST /devices $w "{\"id\":\"new-$r\",\"class\":\"pump\",\"manufacturer\":\"acme\"}"
	cell $r POST /devices/import $w "$(printf 'id,class,serial,manufacturer,model,firmware,owner,location,criticality\nimp-%s,pump,S-%s,acme,m,1.0,o,l,low\n' $r $r)"
	cell $r POST /classes $w "{\"name\":\"cls-$r\",\"ca\":\"default\",\"lifetime\":\"7d\"}"
	cell $r POST /policies $w "{\"class\":\"pump\",\"service\":\"svc-$r\"}"
done
row POST /devices/a-1/token 200 200 403 200
row POST /devices/g-2/token 200 200 403 404
# suspend then resume, per role, on acme's active a-2 (the vendor's own)
for r in admin operator auditor vendor; do
	case $r in auditor) w=403 ;; *) w=200 ;; esac
	cell $r POST /devices/a-2/suspend $w '{"reason":"maintenance"}'
	cell $r POST /devices/a-2/resume $w
done
cell vendor POST /devices/g-2/suspend 404
# terminal transitions: each role on a device of its own
cell admin POST /devices/a-3/retire 200 '{"reason":"replaced"}'
cell operator POST /devices/a-4/retire 200
cell auditor POST /devices/a-5/retire 403
cell vendor POST /devices/a-5/retire 403
cell admin POST /devices/a-6/compromised 200 '{"reason":"lost"}'
cell operator POST /devices/a-7/compromised 200
cell auditor POST /devices/a-5/compromised 403
cell vendor POST /devices/a-5/compromised 403
# certificates
S8=$(serial_of "$W/a-8.pem")
S9=$(serial_of "$W/a-9.pem")
cell admin POST "/certificates/$S8/revoke" 200 '{"reason":"superseded"}'
cell operator POST "/certificates/$S9/revoke" 200
cell auditor POST "/certificates/$SA/revoke" 403
cell vendor POST "/certificates/$SA/revoke" 403
S2=$(serial_of "$W/a-2.pem")
SG2=$(serial_of "$W/g-2.pem")
cell admin POST /certificates/revoke 200 "{\"serials\":[\"$S2\"],\"reason\":\"superseded\"}"
cell operator POST /certificates/revoke 200 "{\"serials\":[\"$SG2\"]}"
cell auditor POST /certificates/revoke 403 "{\"serials\":[\"$SA\"]}"
cell vendor POST /certificates/revoke 403 "{\"serials\":[\"$SA\"]}"
cell operator POST /certificates/revoke 403 '{"ca":"default"}'
# policies
for r in admin operator auditor vendor; do
	case $r in admin | operator) w=200 ;; *) w=403 ;; esac
	cell $r DELETE "/policies?class=pump&service=svc-$r" $w
done
row POST /classes/pump 200 200 403 403 '{"lifetime":"20d","revoke_superseded":true}'
check_match "a class update through the API is what the CLI shows" '"lifetime_s": 1728000' \
	"$(dt --json class show pump)"
row GET /manufacturers 200 200 200 403
for r in admin operator auditor vendor; do
	case $r in admin | operator) w=201 ;; *) w=403 ;; esac
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/m.key" \
		-subj "/CN=IDevID root $r" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign -days 30 -out "$W/m-$r.pem" 2>/dev/null
	cell $r POST "/manufacturers/mfr-$r" $w "$(cat "$W/m-$r.pem")"
done
row GET "/reports/blast-radius?ca=default" 200 200 200 403
# no open finding: the allowed roles reach the library, which says so (404)
row POST /devices/a-1/clear-clone 404 404 403 403
# CA operations: admin only
row POST /cas/default/renew-ocsp 200 403 403 403
row POST /cas 201 403 403 403 '{"name":"vendor-b"}'
row POST /cas/vendor-b/revoke 200 403 403 403 '{"reason":"cACompromise"}'
# credentials: admin only
row POST /admins 201 403 403 403 '{"name":"temp-1","role":"auditor","expires":"1h"}'
row DELETE /admins/temp-1 200 403 403 403

# --- what the matrix's allowed calls did ------------------------------------
api vendor GET /devices >/dev/null
check_nomatch "vendor's device list holds no globex device" '"manufacturer":"globex"' "$(cat "$W/body")"
check_match "vendor's device list holds acme's" '"id":"a-1"' "$(cat "$W/body")"
api vendor GET "/devices?manufacturer=globex" >/dev/null
check_match "vendor asking for globex's devices gets none" '"items":\[\]' "$(cat "$W/body")"
api admin GET /devices/a-3 >/dev/null
check_match "retire through the API: a-3 is retired" '"state":"retired"' "$(cat "$W/body")"
check_match "retire through the API revoked a-3's certificate" '"status":"revoked"' "$(cat "$W/body")"
api admin GET /devices/a-2 >/dev/null
check_match "suspend and resume by each allowed role leave a-2 active" '"state":"active"' "$(cat "$W/body")"
check_eq "the CLI sees the API's device" "new-operator" "$(dt --json device show new-operator | jstr id)"
check_out "audit names the operator who acted through the API" "api:ops +device\.retire +a-4" \
	dt audit list
check_out "audit names the vendor's maintenance" "api:acme-tech +device\.suspend +a-2" dt audit list
check_out "audit verify passes after the API's changes" "intact" dt audit verify

# --- pagination --------------------------------------------------------------
api admin GET "/devices?limit=3" >/dev/null
C1=$(sed -n 's/.*"next_cursor":"\([^"]*\)".*/\1/p' "$W/body")
check_eq "a page of 3 devices ends at a-3 with a cursor" "a-3" "$C1"
api admin GET "/devices?limit=3&cursor=$C1" >/dev/null
check_match "the next page starts after the cursor" '^\{"items":\[\{"id":"a-4"' "$(cat "$W/body")"
N=0
CUR=""
while :; do
	api admin GET "/devices?limit=4${CUR:+&cursor=$CUR}" >/dev/null
	N=$((N + $(grep -o '"class":' "$W/body" | wc -l)))
	CUR=$(sed -n 's/.*"next_cursor":"\([^"]*\)".*/\1/p' "$W/body")
	[ -n "$CUR" ] || break
done
check_eq "paging through every device sees each once" "$(dt --json device list | grep -c '"id"')" "$N"
check_eq "limit=0 is refused" 400 "$(api admin GET '/devices?limit=0')"
# Certificates page in issuance order (cursor "<issued_at>.<serial>"): one at a time
# gives the same sequence as one page of all of them.
serials() { grep -o '"serial":"[0-9a-f]*"' "$W/body" | cut -d'"' -f4; }
api admin GET "/certificates?limit=1000" >/dev/null
serials >"$W/certs.all"
: >"$W/certs.paged"
CUR=""
for _ in $(seq 200); do
	api admin GET "/certificates?limit=1${CUR:+&cursor=$CUR}" >/dev/null
	serials >>"$W/certs.paged"
	CUR=$(sed -n 's/.*"next_cursor":"\([^"]*\)".*/\1/p' "$W/body")
	[ -n "$CUR" ] || break
done
check_true "paging through certificates one at a time gives the whole list, in order" \
	cmp -s "$W/certs.all" "$W/certs.paged"
check_true "  ... of every certificate in the store (at least 3)" \
	[ "$(wc -l <"$W/certs.paged")" -ge 3 -a "$(wc -l <"$W/certs.paged")" = "$(dt --json cert list | grep -c '"serial"')" ]
check_eq "a malformed certificate cursor is refused" 400 "$(api admin GET '/certificates?cursor=x')"

# --- errors: one shape, right status -----------------------------------------
check_eq "no credential: 401" 401 "$(https_code /api/v1/devices)"
check_match "401 carries the error shape" '^\{"error":\{"code":"unauthenticated","message":' "$(cat "$W/body")"
check_match "401 says how to sign in" 'Bearer' "$(header WWW-Authenticate)"
check_eq "API replies are not cached" "no-store" "$(header Cache-Control)"
check_eq "unknown endpoint: 404" 404 "$(api admin GET /nothing)"
check_match "404 error shape" '"code":"not_found"' "$(cat "$W/body")"
check_eq "wrong method: 405" 405 "$(api admin DELETE /devices)"
check_eq "malformed JSON body: 400" 400 "$(api admin POST /devices '{"id":')"
check_eq "a body that is not an object: 400" 400 "$(api admin POST /devices '[1]')"
check_eq "a field of the wrong type: 400" 400 "$(api admin POST /devices '{"id":7,"class":"pump"}')"
check_eq "duplicate keys are refused: 400" 400 \
	"$(api admin POST /devices '{"id":"d1","id":"d2","class":"pump"}')"
check_eq "existing device: 409" 409 "$(api admin POST /devices '{"id":"a-1","class":"pump"}')"
check_match "409 error shape" '"code":"exists"' "$(cat "$W/body")"
check_eq "a refused transition: 409" 409 "$(api admin POST /devices/a-3/resume)"
check_match "409 explains the lifecycle" '"code":"state"' "$(cat "$W/body")"
check_eq "an unknown report: 404" 404 "$(api admin GET /reports/nothing)"

# --- credentials ---------------------------------------------------------------
BAD="${TOK_admin%?}0"
[ "$BAD" = "$TOK_admin" ] && BAD="${TOK_admin%?}1"
check_eq "a token with one digit changed: 401" 401 \
	"$(https_code /api/v1/me -H "Authorization: Bearer $BAD")"
check_eq "a malformed token: 401" 401 "$(https_code /api/v1/me -H 'Authorization: Bearer dta_x')"
check_out "admin revoke revokes a token by name" "revoked 1 credential" dt admin revoke audit-1
check_eq "a revoked token stops at once: 401" 401 "$(api auditor GET /me)"
check_match "and says it was revoked" 'revoked' "$(cat "$W/body")"
# A vendor window that ended: made 10 minutes ago for 5 minutes.
if command -v faketime >/dev/null; then
	TOK_late=$(faketime -f -10m "$DT" --json admin add late-tech --role vendor \
		--manufacturer acme --expires 5m --token |
		sed -n 's/^ *"token": "\(dta_[0-9a-f_]*\)".*/\1/p')
	check_eq "a vendor token after its maintenance window: 401" 401 "$(api late GET /me)"
	check_match "and says the window has ended" 'maintenance window has ended' "$(cat "$W/body")"
else
	fail "faketime is installed (scripts/deps.sh test): needed for an ended maintenance window"
fi
check_rejects "a vendor credential needs --manufacturer" "needs --manufacturer" \
	dt admin add v2 --role vendor --token
check_rejects "a vendor window is at most 7 days" "at most 7 days" \
	dt admin add v3 --role vendor --manufacturer acme --expires 8d --token
check_rejects "--manufacturer scopes only vendors" "only vendor" \
	dt admin add o2 --role operator --manufacturer acme --token

# Client certificates of the Admin CA.
check "admin add --out writes an operator certificate and key" \
	dt admin add alice --role operator --expires 1h --out "$W"
check_eq "the operator's key file is 0600" 600 "$(mode_of "$W/alice.key")"
dt admin ca >"$W/admin-ca.pem"
check "the operator certificate verifies against the Admin CA (openssl verify)" \
	openssl verify -CAfile "$W/admin-ca.pem" -purpose sslclient "$W/alice.pem"
check_fails "the operator certificate does not verify against the device root" \
	openssl verify -CAfile "$W/root.pem" -partial_chain "$W/alice.pem"
check_eq "mutual TLS with the operator certificate: 200" 200 \
	"$(https_code /api/v1/me --cert "$W/alice.pem" --key "$W/alice.key")"
check_match "signed in as alice, operator" '"name":"alice","role":"operator"' "$(cat "$W/body")"
check_eq "the operator certificate may do what an operator may" 403 \
	"$(https_code /api/v1/admins --cert "$W/alice.pem" --key "$W/alice.key")"
check_eq "a device certificate can never call the admin API: 401" 401 \
	"$(https_code /api/v1/me --cert "$W/a1.pem" --key "$W/a1.pem.csr.key")"
check_match "and is told it is not an operator credential" 'not an operator credential' \
	"$(cat "$W/body")"
check "admin add --p12 writes a PKCS#12" sh -c "printf 'p12-secret-pass\n' >'$W/p12pass' &&
	'$DT' admin add bob --role auditor --p12 '$W/bob.p12' --p12-pass-file '$W/p12pass' --expires 1h"
check "openssl reads the PKCS#12 with its passphrase" \
	openssl pkcs12 -in "$W/bob.p12" -passin "file:$W/p12pass" -nodes -out "$W/bob-all.pem"
check_eq "curl signs in with the PKCS#12's contents" 200 \
	"$(https_code /api/v1/me --cert "$W/bob-all.pem")"
dt admin revoke alice >/dev/null
check_eq "a revoked operator certificate: 401 on the next request" 401 \
	"$(https_code /api/v1/me --cert "$W/alice.pem" --key "$W/alice.key")"
check_out "admin list shows each credential and its state" "alice +operator .*REVOKED" \
	dt admin list
check_out "every credential change is audited" "admin\.revoke +alice" dt audit list
check_rejects "admin add refuses an unknown role (exit 2)" "role" dt admin add x --role root --token

check "SIGTERM stops the server" serve_stop
