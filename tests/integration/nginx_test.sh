#!/bin/bash
# nginx as a relying party of devtrust serve: mutual TLS with the device
# certificate a device got over EST, and nginx's own OCSP client (ssl_ocsp,
# no cache) asking devtrust's plain listener on every handshake, so a
# suspension, resumption and retirement show at the door within ~1.5 s.
. "$(dirname "$0")/lib.sh"

W=$WORK
D=$DEVTRUST_DATA
NG=$W/nginx
NGINX_PID=""

if ! command -v nginx >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light \
		>"$W/apt.log" 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends nginx-light; } >>"$W/apt.log" 2>&1
fi
check_out "nginx is installed and supports ssl_ocsp (>= 1.19)" "nginx/1\.(19|[2-9][0-9])\." nginx -v
command -v nginx >/dev/null || exit 1

setup() {
	dt init --org testorg --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null &&
		dt class add pump --ca default --lifetime 30d --key-types ec-p256 >/dev/null
}
check "devtrust serve starts" serve_start setup --workers 2
[ -n "$SERVE_PID" ] || exit 1
export_ca root && export_ca default
cat "$W/root.pem" "$W/default.pem" >"$W/chain.pem"

# A device enrolls over EST (curl, HTTP Basic with its one-time token).
tok=$(dt --json device add gw-1 --class pump --serial SN-gw-1 | jstr enrollment_token)
mkcsr "$W/gw.csr"
csr_b64 "$W/gw.csr" "$W/gw.b64"
check_eq "gw-1 enrolls over EST" 200 "$(https_code /.well-known/est/simpleenroll -u "gw-1:$tok" \
	-H 'Content-Type: application/pkcs10' --data-binary @"$W/gw.b64")"
cp "$W/body" "$W/gw.p7"
check "the EST reply holds gw-1's certificate" p7_certs "$W/gw.p7" "$W/gw.pem"
KEY=$W/gw.csr.key

# A second device with a certificate from the CLI, to show one device's fate
# does not touch another's.
new_device gw-2
issue gw-2 "$W/gw2.pem" >/dev/null

# --- nginx: private prefix, loopback, mutual TLS + OCSP ----------------------
mkdir -p "$NG/tmp"
cp "$D/tls/server.pem" "$NG/server.pem"
check "decrypt devtrust's TLS key for nginx (openssl pkey -passin)" \
	openssl pkey -in "$D/keys/tls.key" -passin "file:$D/secrets/passphrase" -out "$NG/server.key"
NGINX_PORT=$(free_port "$HTTPS_PORT" "$HTTP_PORT")
cat >"$NG/nginx.conf" <<EOF
worker_processes 1;
error_log $NG/error.log info;
pid $NG/nginx.pid;
events { worker_connections 64; }
http {
	access_log $NG/access.log;
$(nginx_temp_paths "$NG")
	server {
		listen 127.0.0.1:$NGINX_PORT ssl;
		ssl_certificate $NG/server.pem;
		ssl_certificate_key $NG/server.key;
		ssl_client_certificate $W/chain.pem;
		ssl_verify_client on;
		ssl_verify_depth 2;
		# Leaf and issuing CA, each asked over OCSP at the URL in its AIA.
		ssl_ocsp on;
		ssl_ocsp_cache off;
		ssl_session_cache off;
		ssl_session_tickets off;
		location / { return 200 "hello \$ssl_client_s_dn\n"; }
	}
}
EOF
# Running as root, nginx's worker would drop to nobody, who cannot enter $WORK.
[ "$(id -u)" -eq 0 ] && sed -i '1i user root;' "$NG/nginx.conf"
check "nginx -t accepts the configuration" nginx -t -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log"
nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" -g 'daemon off;' >"$NG/stdout" 2>&1 &
NGINX_PID=$!
BG_PIDS="$BG_PIDS $NGINX_PID"
nginx_up() { curl -sk --max-time 1 -o /dev/null "https://127.0.0.1:$NGINX_PORT/"; }
check "nginx starts on loopback" poll_ms 10000 nginx_up

# door CERT KEY: the HTTP status nginx gives a client with that certificate.
door() {
	curl -sS --max-time 5 --cacert "$W/root.pem" --cert "$1" --key "$2" -o "$W/door.body" \
		-w '%{http_code}' "https://localhost:$NGINX_PORT/" 2>"$W/door.err"
}
door_is() { [ "$(door "$@")" = "$DOOR_WANT" ]; }
check_eq "curl with gw-1's EST certificate gets 200 from nginx" 200 "$(door "$W/gw.pem" "$KEY")"
check_match "nginx saw gw-1's subject" "CN=gw-1" "$(cat "$W/door.body")"
check_eq "curl without a client certificate gets 400" 400 \
	"$(curl -sS --cacert "$W/root.pem" -o /dev/null -w '%{http_code}' "https://localhost:$NGINX_PORT/")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/self.key" \
	-subj /CN=gw-1 -days 1 -out "$W/self.pem" 2>/dev/null
check_eq "a self-made certificate for gw-1 gets 400" 400 "$(door "$W/self.pem" "$W/self.key")"
check_eq "gw-2 (CLI-issued) gets 200" 200 "$(door "$W/gw2.pem" "$W/gw2.pem.csr.key")"
n_ocsp=$(grep -c '"route":"ocsp"' "$SERVE_LOG")
check_true "nginx asked devtrust's OCSP responder (GET /ocsp/... in the server log)" [ "$n_ocsp" -gt 0 ]

dt device suspend gw-1 >/dev/null
DOOR_WANT=400
check "after device suspend, nginx refuses gw-1 within 1.5 s" poll_ms 1500 door_is "$W/gw.pem" "$KEY"
check_match "nginx logged the revocation" "certificate revoked|OCSP response.*revoked|certificate status \"revoked\"" \
	"$(cat "$NG/error.log")"
check_eq "gw-2 is still let in" 200 "$(door "$W/gw2.pem" "$W/gw2.pem.csr.key")"
dt device resume gw-1 >/dev/null
DOOR_WANT=200
check "after device resume, nginx lets gw-1 in again within 1.5 s" poll_ms 1500 door_is "$W/gw.pem" "$KEY"
dt device retire gw-1 >/dev/null
DOOR_WANT=400
check "after device retire, nginx refuses gw-1 within 1.5 s" poll_ms 1500 door_is "$W/gw.pem" "$KEY"
check_eq "gw-1 stays refused" 400 "$(door "$W/gw.pem" "$KEY")"

# --- stop both ----------------------------------------------------------------
kill -QUIT "$NGINX_PID" 2>/dev/null
for _ in $(seq 1 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$NGINX_PID" 2>/dev/null && echo "# nginx had to be killed"
wait "$NGINX_PID"
check_eq "nginx stops gracefully (SIGQUIT, exit 0)" 0 "$?"
serve_stop 5
check_eq "devtrust serve drains and exits 0 on SIGTERM" 0 "$?"
