#!/bin/bash
# FreeRADIUS (Debian's 3.2) doing EAP-TLS (802.1X) for devices, configured from
# examples/freeradius/, and wpa_supplicant's eapol_test as the device: what a
# hospital's network access relies on. An active device authenticates and
# gets its class's VLAN; a device whose issuing CA this network does not
# admit is refused in the handshake; a class the policy keeps off the network
# is refused by devtrust; a suspended or retired device is refused as soon as
# devtrust's OCSP responder says so (FreeRADIUS asks it on every
# authentication), and a resumed one gets back on.
. "$(dirname "$0")/lib.sh"

W=$WORK
D=$DEVTRUST_DATA
R=$W/raddb
EX="$(cd "$(dirname "$0")/../.." && pwd)/examples"
SECRET=testing123

if [ "$(id -u)" -eq 0 ] && ! { command -v freeradius && command -v eapol_test; } >/dev/null 2>&1; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends freeradius \
		eapoltest >"$W/apt.log" 2>&1
fi
if ! command -v freeradius >/dev/null 2>&1 || ! command -v eapol_test >/dev/null 2>&1; then
	# Not a failure of devtrust: the packages (freeradius, eapoltest) are missing
	# and could not be installed here (scripts/deps.sh test installs them).
	echo "SKIP radius: freeradius or eapol_test is not installed and cannot be installed" \
		"(apt-get install freeradius eapoltest)"
	exit 0
fi
check_match "FreeRADIUS 3.2 is installed" "FreeRADIUS Version 3\.2" "$(freeradius -v 2>&1 | head -1)"

setup() {
	dt init --org testorg --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null &&
		dt ca add pumps >/dev/null && dt ca add monitors >/dev/null &&
		dt ca add imaging >/dev/null &&
		dt class add infusion-pump --ca pumps >/dev/null &&
		dt class add pump-service --ca pumps >/dev/null &&
		dt class add patient-monitor --ca monitors >/dev/null &&
		dt class add imaging --ca imaging >/dev/null &&
		dt class add gateway --ca default >/dev/null
}
check "devtrust serve starts" serve_start setup --workers 1
[ -n "$SERVE_PID" ] || exit 1
export_ca root
check "policy: infusion pumps and patient monitors may join the network" \
	sh -c "'$DT' policy allow infusion-pump network && '$DT' policy allow patient-monitor network"
check "policy: the RADIUS server's gateway certificate may ask /authz" \
	dt policy allow gateway devtrust-authz
for d in pump-1:infusion-pump pump-2:infusion-pump mon-1:patient-monitor \
	svc-1:pump-service img-1:imaging radius-1:gateway; do
	new_device "${d%%:*}" "${d#*:}"
	issue "${d%%:*}" "$W/${d%%:*}.pem" >/dev/null
done

# --- the server's directory, from examples/freeradius -----------------------------------
mkdir -p "$R/log" "$R/run"
check_out "devtrust-crl-sync: the bundle of the CAs this network admits (pumps, monitors)" \
	updated "$EX/devtrust-crl-sync" --url "http://127.0.0.1:$HTTP_PORT" --root "$W/root.pem" \
	--ca pumps --ca monitors --out "$R/rp"
cp "$R/rp/trust.pem" "$R/trust.pem"
check_nomatch "... which holds no imaging CA" "imaging" \
	"$(openssl crl2pkcs7 -nocrl -certfile "$R/trust.pem" | openssl pkcs7 -print_certs -noout)"
cp "$D/tls/server.pem" "$R/server.pem"
openssl pkey -in "$D/keys/tls.key" -passin "file:$D/secrets/passphrase" -out "$R/server.key"
cp "$EX/freeradius/devtrust-radius-authz" "$R/"
printf 'url=https://127.0.0.1:%s\ncert=%s\nkey=%s\nca=%s\nservice=network\n' "$HTTPS_PORT" \
	"$W/radius-1.pem" "$W/radius-1.pem.csr.key" "$W/root.pem" >"$R/radius-authz.conf"
: >"$R/dictionary"
for _ in $(seq 1 50); do
	RPORT=$((20000 + RANDOM % 12000)) # below the ephemeral range (lib.sh free_port)
	ss -Hlun "sport = :$RPORT" 2>/dev/null | grep -q . || break
done
sed -e "s|@DIR@|$R|g; s|@PORT@|$RPORT|; s|@LISTEN@|127.0.0.1|; s|@NAS@|127.0.0.1|; s|@SECRET@|$SECRET|" \
	"$EX/freeradius/radiusd.conf" >"$R/radiusd.conf"
check "freeradius -C accepts the configuration" freeradius -XC -d "$R"

freeradius -X -d "$R" >"$R/debug.log" 2>&1 &
FR_PID=$!
BG_PIDS="$BG_PIDS $FR_PID"
fr_ready() { grep -aq "Ready to process requests" "$R/debug.log"; }
check "FreeRADIUS starts on 127.0.0.1:$RPORT/udp" poll_ms 10000 fr_ready

# eap DEVICE: runs eapol_test as DEVICE (EAP-TLS with its certificate); returns its
# exit status (0: Access-Accept); the output is in $W/eap.out.
eap() {
	cat >"$W/eap.conf" <<EOF
network={
	key_mgmt=WPA-EAP
	eap=TLS
	identity="$1"
	ca_cert="$W/root.pem"
	client_cert="$W/$1.pem"
	private_key="$W/$1.pem.csr.key"
	eapol_flags=3
}
EOF
	timeout 20 eapol_test -c "$W/eap.conf" -a 127.0.0.1 -p "$RPORT" -s "$SECRET" -r0 \
		-M "02:00:00:00:00:0${2:-1}" >"$W/eap.out" 2>&1
}
# The value of RADIUS attribute N in the last Access-Accept (hex, as eapol_test prints it).
attr() { grep -a -A1 "Attribute $1 " "$W/eap.out" | sed -n 's/^ *Value: //p' | tail -1; }
reply_msg() { grep -a -A1 "Attribute 18 (Reply-Message)" "$W/eap.out" | sed -n "s/^ *Value: '\(.*\)'/\1/p" | tail -1; }

check "pump-1 authenticates with EAP-TLS" eap pump-1
check_eq "... and gets its class's VLAN (Tunnel-Private-Group-Id 20)" 3230 "$(attr 81)"
check_eq "... Tunnel-Type VLAN (13)" 0000000d "$(attr 64)"
check_match "FreeRADIUS asked devtrust's OCSP responder: good" "ocsp: Cert status: good" \
	"$(cat "$R/debug.log")"
check_eq "devtrust's decision came back in the reply" "devtrust: allow infusion-pump pump-1" \
	"$(reply_msg)"
check "mon-1 (patient-monitor) authenticates" eap mon-1 2
check_eq "... and lands on its own VLAN (30)" 3330 "$(attr 81)"
check_fails "img-1 (issuing CA imaging, not admitted here) is refused" eap img-1 3
check_match "... in the TLS handshake (unknown CA)" "unknown CA|unable to get local issuer" \
	"$(tail -c 20000 "$R/debug.log")"
check_fails "svc-1 (pump-service: admitted CA, no network policy) is refused" eap svc-1 4
check_eq "... by devtrust" "devtrust: deny not-allowed" "$(reply_msg)"

dt device suspend pump-1 >/dev/null
sleep 0.3
check_fails "0.3 s after device suspend, pump-1 is refused" eap pump-1
check_match "... OCSP says certificateHold" "ocsp: Reason: certificateHold" \
	"$(tail -c 20000 "$R/debug.log")"
dt device resume pump-1 >/dev/null
check "after device resume, pump-1 authenticates again" poll_ms 3000 eap pump-1
check "pump-2 authenticates" eap pump-2 5
dt device retire pump-2 >/dev/null
sleep 0.3 # devtrust's OCSP cache follows the audit log within 200 ms
check_fails "0.3 s after device retire, pump-2 is refused" eap pump-2 5
check_match "... because OCSP says revoked (cessationOfOperation)" \
	"ocsp: Reason: cessationOfOperation" "$(tail -c 20000 "$R/debug.log")"
check_match "FreeRADIUS's log (-X: standard output) names the refusal" \
	"Login incorrect.*\[pump-2\]" "$(cat "$R/debug.log")"

kill -TERM "$FR_PID" 2>/dev/null
for _ in $(seq 1 50); do kill -0 "$FR_PID" 2>/dev/null || break; sleep 0.1; done
check "FreeRADIUS stops on SIGTERM" sh -c "! kill -0 $FR_PID 2>/dev/null"
serve_stop 5
check_eq "devtrust serve exits 0" 0 "$?"
