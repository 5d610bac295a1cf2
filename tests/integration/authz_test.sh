#!/bin/bash
# nginx in front of a backend, asking devtrust's /authz before every request
# (auth_request), with mutual TLS to the device and a gateway certificate of
# its own towards devtrust: the configuration of examples/nginx/. What a
# backend relies on: the right device gets through with its identity
# forwarded; a route its class may not use, a certificate of another issuing
# CA, an expired certificate, a suspended or retired device are refused (a
# lifecycle change within 1 s); only callers allowed devtrust-authz get an
# answer; a certificate seen from two addresses becomes a clone finding; and
# decisions leave last-seen times behind.
. "$(dirname "$0")/lib.sh"

W=$WORK
D=$DEVTRUST_DATA
NG=$W/nginx

if ! command -v nginx >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light \
		>"$W/apt.log" 2>&1
fi
check_out "nginx is installed (auth_request, \$ssl_client_escaped_cert: >= 1.13.5)" \
	"nginx/1\.(1[3-9]|[2-9][0-9])\." nginx -v
command -v nginx >/dev/null || exit 1
command -v faketime >/dev/null ||
	fail "faketime is installed (scripts/deps.sh test): needed to issue an expired certificate"

# The hierarchy is made 10 minutes in the past (faketime), so a certificate of a
# 60 s class issued 3 minutes ago is expired now, inside its CA's validity.
PAST="faketime -f -10m"
command -v faketime >/dev/null || PAST=""
setup() {
	$PAST "$DT" init --org testorg --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null &&
		$PAST "$DT" ca add pumps >/dev/null && $PAST "$DT" ca add imaging >/dev/null &&
		dt class add pump --ca pumps >/dev/null &&
		dt class add imaging --ca imaging >/dev/null &&
		dt class add gateway --ca default >/dev/null &&
		dt class add shortlived --ca pumps --lifetime 60s >/dev/null
}
check "devtrust serve starts" serve_start setup --workers 2
[ -n "$SERVE_PID" ] || exit 1
export_ca root && export_ca pumps && export_ca imaging && export_ca default
# What nginx trusts for device certificates: the issuing CAs of the classes it serves.
cat "$W/root.pem" "$W/pumps.pem" "$W/imaging.pem" >"$W/trust.pem"

check "policy: pump may GET and POST below /v1" dt policy allow pump telemetry '/v1/**' GET,POST
check "policy: imaging may only GET below /v1/images" \
	dt policy allow imaging telemetry '/v1/images/**' GET
check "policy: shortlived may use telemetry" dt policy allow shortlived telemetry
check "policy: gateway may ask /authz" dt policy allow gateway devtrust-authz
check_out "policy list shows the four rules" "pump +telemetry +/v1/\*\* +GET,POST" dt policy list

for d in pump-1:pump pump-2:pump img-1:imaging gw-1:gateway quiet-1:pump; do
	new_device "${d%%:*}" "${d#*:}"
done
issue pump-1 "$W/p1.pem" >/dev/null
issue pump-2 "$W/p2.pem" >/dev/null
issue img-1 "$W/i1.pem" >/dev/null
issue gw-1 "$W/gw.pem" >/dev/null
issue quiet-1 "$W/q1.pem" >/dev/null # active, and never presented anywhere
new_device old-1 shortlived
mkcsr "$W/old.pem.csr"
if [ -n "$PAST" ]; then
	faketime -f -3m "$DT" cert issue --device old-1 --csr "$W/old.pem.csr" --out "$W/old.pem" >/dev/null
fi
check_exit "old-1's certificate (60 s class, issued 3 minutes ago) has expired" 1 \
	openssl x509 -in "$W/old.pem" -noout -checkend 0

# A certificate for pump-1 (same CN and devtrust URN) made with the imaging CA's
# key: what a compromised vendor CA could mint for another vendor's class.
openssl pkey -in "$D/keys/imaging.key" -passin "file:$D/secrets/passphrase" -out "$W/imaging.key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/forged.pem.csr.key" 2>/dev/null
openssl req -new -key "$W/forged.pem.csr.key" -subj "/O=testorg/CN=pump-1" -out "$W/forged.csr"
printf 'subjectAltName=URI:urn:devtrust:testorg:pump:pump-1\nextendedKeyUsage=clientAuth\n' \
	>"$W/forged.ext"
check "a forged pump-1 certificate is signed by the imaging CA" \
	openssl x509 -req -in "$W/forged.csr" -CA "$W/imaging.pem" -CAkey "$W/imaging.key" \
	-CAcreateserial -days 1 -extfile "$W/forged.ext" -out "$W/forged.pem"
check "it chains to the root like any other (nginx's own check passes)" \
	openssl verify -CAfile "$W/root.pem" -untrusted "$W/imaging.pem" "$W/forged.pem"

# --- nginx: backend, door (verify on), inspection door (optional_no_ca) --------
mkdir -p "$NG/tmp"
cp "$D/tls/server.pem" "$NG/server.pem"
openssl pkey -in "$D/keys/tls.key" -passin "file:$D/secrets/passphrase" -out "$NG/server.key"
NGINX_PORT=$(free_port "$HTTPS_PORT" "$HTTP_PORT")
LOOSE_PORT=$(free_port "$HTTPS_PORT" "$HTTP_PORT" "$NGINX_PORT")
BACKEND_PORT=$(free_port "$HTTPS_PORT" "$HTTP_PORT" "$NGINX_PORT" "$LOOSE_PORT")
# The configuration of examples/nginx, with this test's paths.
EXN="$(cd "$(dirname "$0")/../.." && pwd)/examples/nginx"
mkdir -p "$NG/devtrust"
for f in devtrust-authz.conf devtrust-protect.conf device-api.conf; do
	sed -e "s|/etc/nginx/devtrust/gateway.pem|$W/gw.pem|; s|/etc/nginx/devtrust/gateway.key|$W/gw.pem.csr.key|" \
		-e "s|/etc/nginx/devtrust/root.pem|$W/root.pem|; s|/etc/nginx/devtrust/trust.pem|$W/trust.pem|" \
		-e "s|/etc/nginx/devtrust/|$NG/devtrust/|; s|proxy_ssl_name devtrust.example|proxy_ssl_name localhost|" \
		-e "s|/etc/nginx/tls/device-api.pem|$NG/server.pem|; s|/etc/nginx/tls/device-api.key|$NG/server.key|" \
		-e "s|devtrust.example:8443|127.0.0.1:$HTTPS_PORT|; s|listen 443 ssl|listen 127.0.0.1:$NGINX_PORT ssl|" \
		"$EXN/$f" >"$NG/devtrust/$f"
done
# examples/nginx/device-api.conf as shipped (paths aside) is valid nginx.
printf 'events { worker_connections 16; }\npid %s/check.pid;\nhttp { include %s/devtrust/device-api.conf; }\n' \
	"$NG" "$NG" >"$NG/check.conf"
check "nginx -t accepts examples/nginx/device-api.conf" \
	nginx -t -p "$NG" -c "$NG/check.conf" -e "$NG/check.log"
cat >"$NG/nginx.conf" <<EOF
worker_processes 1;
error_log $NG/error.log info;
pid $NG/nginx.pid;
events { worker_connections 256; }
http {
	access_log $NG/access.log;
$(nginx_temp_paths "$NG")
	upstream devtrust {
		server 127.0.0.1:$HTTPS_PORT;
		keepalive 8;
	}
	# The backend: echoes what nginx told it about the device.
	server {
		listen 127.0.0.1:$BACKEND_PORT;
		location / { return 200 "backend: device=\$http_x_device_id class=\$http_x_device_class method=\$request_method uri=\$request_uri\n"; }
	}
	# The door: nginx checks the chain itself, devtrust decides the rest.
	server {
		listen 127.0.0.1:$NGINX_PORT ssl;
		ssl_certificate $NG/server.pem;
		ssl_certificate_key $NG/server.key;
		ssl_client_certificate $W/trust.pem;
		ssl_verify_client on;
		ssl_verify_depth 2;
		include $NG/devtrust/devtrust-authz.conf;
		location / {
			set \$devtrust_service telemetry;
			include $NG/devtrust/devtrust-protect.conf;
			proxy_pass http://127.0.0.1:$BACKEND_PORT;
		}
	}
	# For this test only: nginx passes any certificate, to show devtrust refuses
	# on its own what nginx would have caught (expired, unknown, none).
	server {
		listen 127.0.0.1:$LOOSE_PORT ssl;
		ssl_certificate $NG/server.pem;
		ssl_certificate_key $NG/server.key;
		ssl_verify_client optional_no_ca;
		include $NG/devtrust/devtrust-authz.conf;
		location / {
			set \$devtrust_service telemetry;
			include $NG/devtrust/devtrust-protect.conf;
			proxy_pass http://127.0.0.1:$BACKEND_PORT;
		}
	}
}
EOF
[ "$(id -u)" -eq 0 ] && sed -i '1i user root;' "$NG/nginx.conf"
check "nginx -t accepts the configuration" nginx -t -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log"
nginx_start "$NG"
nginx_up() { curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$BACKEND_PORT/"; }
check "nginx starts on loopback" poll_ms 10000 nginx_up

# door CERT [METHOD] [PATH] [PORT] [CURL-ARGS...]: the status nginx gives a device
# presenting CERT (key CERT.csr.key); body in $W/door.body, headers in $W/door.h.
door() {
	local cert=$1 method=${2:-GET} path=${3:-/v1/vitals} port=${4:-$NGINX_PORT} key
	shift 4 2>/dev/null || shift $#
	key=$cert.csr.key
	curl -sS --max-time 5 --cacert "$W/root.pem" ${cert:+--cert "$cert" --key "$key"} -X "$method" \
		-o "$W/door.body" -D "$W/door.h" -w '%{http_code}' "$@" \
		"https://localhost:$port$path" 2>"$W/door.err"
}
reason() { tr -d '\r' <"$W/door.h" | sed -n 's/^X-Devtrust-Reason: *//Ip' | tail -1; }
door_is() { [ "$(door "$@")" = "$DOOR_WANT" ]; }

check_eq "pump-1 GET /v1/vitals is let through" 200 "$(door "$W/p1.pem")"
check_match "the backend is told the device and its class" \
	"device=pump-1 class=pump method=GET uri=/v1/vitals" "$(cat "$W/door.body")"
check_eq "pump-1 POST /v1/vitals?x=1 is let through" 200 "$(door "$W/p1.pem" POST '/v1/vitals?x=1')"
check_eq "pump-1 GET /admin is refused (no rule for that route)" 403 "$(door "$W/p1.pem" GET /admin)"
check_eq "... with reason not-allowed" not-allowed "$(reason)"
check_eq "pump-1 DELETE /v1/vitals is refused (method not allowed)" 403 \
	"$(door "$W/p1.pem" DELETE /v1/vitals)"
check_eq "pump-1 GET /v1/../admin is refused (dot segment)" 403 \
	"$(door "$W/p1.pem" GET /v1/../admin "$NGINX_PORT" --path-as-is)"
check_eq "... with reason bad-request" bad-request "$(reason)"
check_eq "img-1 (imaging) GET /v1/vitals is refused: its class may not" 403 "$(door "$W/i1.pem")"
check_eq "img-1 GET /v1/images/42 is let through" 200 "$(door "$W/i1.pem" GET /v1/images/42)"
check_eq "a pump-1 certificate from the imaging CA is refused" 403 \
	"$(door "$W/forged.pem")"
check_eq "... with reason wrong-ca" wrong-ca "$(reason)"
check_eq "the expired certificate is refused by nginx (ssl_verify_client on)" 400 \
	"$(door "$W/old.pem")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/self.pem.csr.key" \
	-subj /CN=pump-1 -days 1 -out "$W/self.pem" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$W/stranger.pem.csr.key" -subj /CN=stranger -days 1 -out "$W/stranger.pem" 2>/dev/null
check_eq "a self-made certificate naming pump-1 is refused by devtrust itself: wrong-ca" \
	"403 wrong-ca" "$(door "$W/self.pem" GET /v1/vitals "$LOOSE_PORT") $(reason)"
check_eq "a self-made certificate naming no device of ours: unknown-certificate" \
	"403 unknown-certificate" "$(door "$W/stranger.pem" GET /v1/vitals "$LOOSE_PORT") $(reason)"
check_eq "no client certificate: no-certificate" "403 no-certificate" \
	"$(door "" GET /v1/vitals "$LOOSE_PORT") $(reason)"

# --- lifecycle changes reach decisions within 1 s ------------------------------
dt device suspend pump-1 >/dev/null
DOOR_WANT=403
check "after device suspend, pump-1 is refused within 1 s" poll_ms 1000 door_is "$W/p1.pem"
check_eq "... with reason device-suspended" device-suspended "$(reason)"
dt device resume pump-1 >/dev/null
DOOR_WANT=200
check "after device resume, pump-1 is let through again within 1 s" poll_ms 1000 door_is "$W/p1.pem"
check_eq "pump-2 is let through before its retirement" 200 "$(door "$W/p2.pem")"
t0=$(now_ms)
dt device retire pump-2 >/dev/null
DOOR_WANT=403
if poll_ms 1000 door_is "$W/p2.pem"; then
	pass "after device retire, pump-2 is refused within 1 s ($(($(now_ms) - t0)) ms)"
else
	fail "after device retire, pump-2 is still let through after 1 s"
fi
check_eq "... with reason device-retired" device-retired "$(reason)"
check_eq "pump-1 is not affected" 200 "$(door "$W/p1.pem")"

# --- who may ask /authz ----------------------------------------------------------
ESC=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(open(sys.argv[1]).read(),safe=""))' "$W/p1.pem")
authz() {
	https_code /authz -H "X-Devtrust-Client-Cert: ${AUTHZ_CERT:-$ESC}" -H "X-Devtrust-Service: telemetry" \
		-H "X-Devtrust-Method: GET" -H "X-Devtrust-URI: /v1/vitals" "$@"
}
check_eq "/authz without a client certificate: 403" 403 "$(authz)"
check_eq "... caller-refused, and nothing about the device" "caller-refused -" \
	"$(header X-Devtrust-Reason) $(header X-Devtrust-Device || true)-"
check_eq "/authz with a device certificate of a class not allowed devtrust-authz: 403" 403 \
	"$(authz --cert "$W/p1.pem" --key "$W/p1.pem.csr.key")"
check_eq "... the caller's reason is not-allowed" not-allowed "$(header X-Devtrust-Caller-Reason)"
check_eq "/authz with the gateway's certificate: 200" 200 \
	"$(authz --cert "$W/gw.pem" --key "$W/gw.pem.csr.key")"
check_eq "... with an empty body (nginx reads none: keep-alive holds)" 0 "$(wc -c <"$W/body")"
https_code '/authz?format=json' -H "X-Devtrust-Client-Cert: $ESC" -H "X-Devtrust-Service: telemetry" \
	-H "X-Devtrust-Method: GET" -H "X-Devtrust-URI: /v1/vitals" --cert "$W/gw.pem" \
	--key "$W/gw.pem.csr.key" >/dev/null
check_match "/authz?format=json: a JSON body with the decision and the device summary" \
	'"decision":"allow".*"id":"pump-1","class":"pump","ca":"pumps"' "$(cat "$W/body")"
ESC_OLD=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(open(sys.argv[1]).read(),safe=""))' "$W/old.pem")
check_eq "the expired certificate (nginx refuses it first) is refused by /authz too" \
	"403 expired" "$(AUTHZ_CERT=$ESC_OLD authz --cert "$W/gw.pem" --key "$W/gw.pem.csr.key") $(header X-Devtrust-Reason)"
dt device retire gw-1 >/dev/null
gw_refused() { [ "$(authz --cert "$W/gw.pem" --key "$W/gw.pem.csr.key")" = 403 ]; }
check "a retired gateway is no longer answered (within 1 s)" poll_ms 1000 gw_refused
check_eq "... nor is nginx, which used it: the door fails closed" 403 "$(door "$W/p1.pem")"
new_device gw-2 gateway
issue gw-2 "$W/gw2.pem" >/dev/null
cp "$W/gw2.pem" "$W/gw.pem" && cp "$W/gw2.pem.csr.key" "$W/gw.pem.csr.key"
kill -HUP "$NGINX_PID"
DOOR_WANT=200
check "with a new gateway certificate (nginx reloaded), pump-1 gets through" \
	poll_ms 5000 door_is "$W/p1.pem"

# --- clone detection ---------------------------------------------------------------
check "policy clone: pump, 60 s window, deny" dt policy clone pump --window 60s --action deny
sleep 0.3
check_eq "pump-1 from 127.0.0.1" 200 "$(door "$W/p1.pem")"
check_eq "pump-1 from 127.0.0.2 (a second address within the window) is refused" 403 \
	"$(door "$W/p1.pem" GET /v1/vitals "$NGINX_PORT" --interface 127.0.0.2)"
check_eq "... with reason clone-suspected" clone-suspected "$(reason)"
check_out "report clones lists pump-1 seen from both addresses" \
	"pump-1 .*from 127\.0\.0\.1 then 127\.0\.0\.2" dt report clones
check_eq "pump-1 stays refused while the finding is open" 403 \
	"$(door "$W/p1.pem" GET /v1/vitals "$NGINX_PORT" --interface 127.0.0.2)"
check "device clear-clone after investigation" dt device clear-clone pump-1 --reason "test rig"
DOOR_WANT=200
check "pump-1 (from its latest address) is let through again within 1 s" \
	poll_ms 1000 door_is "$W/p1.pem" GET /v1/vitals "$NGINX_PORT" --interface 127.0.0.2
check_out "the audit log holds the finding and its clearing" \
	"device.clone_suspected.*pump-1" dt audit list --object pump-1

# --- last seen, metrics ---------------------------------------------------------------
seen_written() { ! dt report silent --for 1h | grep -q '^pump-1 '; }
check "within 6 s the batched last-seen times are written: pump-1 is not silent" \
	poll_ms 6000 seen_written
check_out "quiet-1 (never presented) is reported silent" "^quiet-1 .*never seen" \
	dt report silent --for 1h
check_match "metrics count decisions by reason" \
	'devtrust_authz_decisions_total\{reason="allowed"\} [1-9]' \
	"$(curl -sk "https://127.0.0.1:$HTTPS_PORT/metrics")"
check_match "the request log names the device and the decision, never the certificate" \
	'"route":"authz".*"device":"pump-1","note":"allow allowed"' "$(cat "$SERVE_LOG")"
check_nomatch "... and carries no PEM" "BEGIN|MII" "$(cat "$SERVE_LOG")"

# --- stop both ------------------------------------------------------------------------
nginx_stop
check_eq "nginx stops gracefully" 0 "$?"
serve_stop 5
check_eq "devtrust serve drains and exits 0" 0 "$?"
