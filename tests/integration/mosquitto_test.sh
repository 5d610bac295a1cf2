#!/bin/bash
# mosquitto (Debian's) as an MQTT broker relying on devtrust, configured as in
# examples/mosquitto/: mutual TLS with only the class's issuing CA trusted,
# the certificate's CN (the device id) as the MQTT user name, an ACL that
# keeps each device in its own topic tree, and a CRL file that
# examples/devtrust-crl-sync keeps fresh from devtrust's public listener.
# What a broker relies on: an enrolled device publishes; a device of another
# CA cannot connect; after revocation and a CRL refresh the device cannot
# connect any more, while others still can.
. "$(dirname "$0")/lib.sh"

W=$WORK
D=$DEVTRUST_DATA
MQ=$W/mosquitto
SYNC="$(cd "$(dirname "$0")/../.." && pwd)/examples/devtrust-crl-sync"
MQ_PID=""

if ! command -v mosquitto >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto \
		mosquitto-clients >"$W/apt.log" 2>&1
fi
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
check_match "mosquitto 2.x is installed" "mosquitto version 2\." "$("$MOSQUITTO" -h 2>&1 | head -1)"
check "mosquitto_pub and mosquitto_sub are installed" command -v mosquitto_pub mosquitto_sub
[ -x "$MOSQUITTO" ] && command -v mosquitto_pub >/dev/null || exit 1

setup() {
	dt init --org testorg --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null &&
		dt ca add sensors >/dev/null && dt ca add imaging >/dev/null &&
		dt class add vital-sensor --ca sensors >/dev/null &&
		dt class add imaging --ca imaging >/dev/null
}
check "devtrust serve starts" serve_start setup --workers 1
[ -n "$SERVE_PID" ] || exit 1
export_ca root

for d in sensor-1:vital-sensor sensor-2:vital-sensor monitor:vital-sensor img-1:imaging; do
	new_device "${d%%:*}" "${d#*:}"
	issue "${d%%:*}" "$W/${d%%:*}.pem" >/dev/null
done

# --- the helper fetches the class CA and the CRLs ------------------------------------
mkdir -p "$MQ"
sync_crl() { "$SYNC" --url "http://127.0.0.1:$HTTP_PORT" --root "$W/root.pem" --ca sensors \
	--out "$MQ/rp" "$@"; }
check_out "devtrust-crl-sync writes the trust bundle and the CRLs" "updated" sync_crl
check_eq "trust.pem holds the root and the sensors CA only" 2 \
	"$(grep -c 'BEGIN CERTIFICATE' "$MQ/rp/trust.pem")"
check_eq "crl.pem holds the CRLs of the sensors CA and the root" 2 \
	"$(grep -c 'BEGIN X509 CRL' "$MQ/rp/crl.pem")"
check_eq "a second run with nothing new changes nothing (and says nothing)" "" "$(sync_crl 2>&1)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/evil.key" \
	-subj /CN=evil -days 1 -out "$W/evil-root.pem" 2>/dev/null
cp -a "$MQ/rp" "$MQ/rp.before"
check_rejects "a root that is not the pinned one: refused, nothing replaced" "does not (chain|verify)" \
	"$SYNC" --url "http://127.0.0.1:$HTTP_PORT" --root "$W/evil-root.pem" --ca sensors --out "$MQ/rp"
check "... the files are as before" diff -r "$MQ/rp" "$MQ/rp.before"

# --- the broker -------------------------------------------------------------------------
cp "$D/tls/server.pem" "$MQ/server.pem"
openssl pkey -in "$D/keys/tls.key" -passin "file:$D/secrets/passphrase" -out "$MQ/server.key"
MQ_PORT=$(free_port "$HTTPS_PORT" "$HTTP_PORT")
# examples/mosquitto, with this test's paths and port.
EXM="$(cd "$(dirname "$0")/../.." && pwd)/examples/mosquitto"
cp "$EXM/acl" "$MQ/acl"
{
	printf 'persistence false\nlog_dest file %s/mosquitto.log\nlog_type all\npid_file %s/mosquitto.pid\n' \
		"$MQ" "$MQ"
	sed -e "s|/etc/mosquitto/devtrust/acl|$MQ/acl|; s|/etc/mosquitto/devtrust/rp/|$MQ/rp/|" \
		-e "s|/etc/mosquitto/tls/broker.pem|$MQ/server.pem|; s|/etc/mosquitto/tls/broker.key|$MQ/server.key|" \
		-e "s|^listener 8883\$|listener $MQ_PORT 127.0.0.1|" "$EXM/devtrust.conf"
} >"$MQ/mosquitto.conf"
check_match "the example's listener, files and options are in use" \
	"listener $MQ_PORT 127.0.0.1.*crlfile $MQ/rp/crl.pem.*use_identity_as_username true" \
	"$(tr '\n' ' ' <"$MQ/mosquitto.conf")"
[ "$(id -u)" -eq 0 ] && echo "user root" >>"$MQ/mosquitto.conf"
"$MOSQUITTO" -c "$MQ/mosquitto.conf" >"$MQ/stdout" 2>&1 &
MQ_PID=$!
BG_PIDS="$BG_PIDS $MQ_PID"
mq_up() { grep -q "Opening ipv4 listen socket on port $MQ_PORT" "$MQ/mosquitto.log"; }
check "mosquitto starts on loopback with the devtrust files" poll_ms 5000 mq_up

# pub DEVICE TOPIC [MSG]: publishes with the device's certificate (QoS 1).
pub() {
	mosquitto_pub -h localhost -p "$MQ_PORT" --cafile "$W/root.pem" --cert "$W/$1.pem" \
		--key "$W/$1.pem.csr.key" -i "$1-$RANDOM" -q 1 -t "$2" -m "${3:-hello from $1}" \
		>"$W/pub.out" 2>&1
}
mosquitto_sub -h localhost -p "$MQ_PORT" --cafile "$W/root.pem" --cert "$W/monitor.pem" \
	--key "$W/monitor.pem.csr.key" -i monitor -t 'devices/#' -v >"$W/sub.out" 2>"$W/sub.err" &
SUB_PID=$!
BG_PIDS="$BG_PIDS $SUB_PID"
sub_ready() { grep -q "monitor" "$MQ/mosquitto.log" && grep -q "Sending SUBACK to monitor" "$MQ/mosquitto.log"; }
check "the monitor subscribes to devices/#" poll_ms 5000 sub_ready

check "sensor-1 publishes to its own topic" pub sensor-1 devices/sensor-1/vitals "hr=72"
got_msg() { grep -q "^devices/sensor-1/vitals hr=72$" "$W/sub.out"; }
check "... and the monitor receives it" poll_ms 3000 got_msg
check_match "mosquitto took the user name from the certificate (the device id)" \
	"as sensor-1|u'sensor-1'" "$(cat "$MQ/mosquitto.log")"
pub sensor-1 devices/sensor-2/vitals "spoofed" || true
pub sensor-2 devices/sensor-2/vitals "hr=80"
got_80() { grep -q "^devices/sensor-2/vitals hr=80$" "$W/sub.out"; }
check "sensor-2 publishes too" poll_ms 3000 got_80
check_nomatch "sensor-1's message to sensor-2's topic was dropped by the ACL" "spoofed" \
	"$(cat "$W/sub.out")"
check_fails "img-1 (another issuing CA) cannot connect" pub img-1 devices/img-1/x
check_match "... refused in the TLS handshake" "certificate verify failed|Protocol error|Error" \
	"$(cat "$W/pub.out") $(tail -5 "$MQ/mosquitto.log")"

# --- revocation reaches the broker through the CRL file ------------------------------------
dt device retire sensor-1 --reason "returned to vendor" >/dev/null
crl_lists() { # devtrust's CRL (regenerated within 200 ms) lists sensor-1
	curl -sf "http://127.0.0.1:$HTTP_PORT/crl/sensors.crl" -o "$W/now.crl" &&
		[ "$(crl_reason "$W/now.crl" "$(serial_of "$W/sensor-1.pem")")" = "Cessation Of Operation" ]
}
check "devtrust's CRL lists sensor-1 within 1 s of device retire" poll_ms 1000 crl_lists
check "sensor-1 still connects while the broker has the old CRL" pub sensor-1 devices/sensor-1/x
check_out "devtrust-crl-sync fetches the new CRL and reloads mosquitto (SIGHUP)" "updated" \
	sync_crl --reload "kill -HUP $MQ_PID"
check_eq "the sensors CRL now lists sensor-1" "Cessation Of Operation" \
	"$(crl_reason "$MQ/rp/sensors.crl" "$(serial_of "$W/sensor-1.pem")")"
pub_refused() { ! pub sensor-1 devices/sensor-1/x; }
check "after the refresh sensor-1 cannot connect" poll_ms 3000 pub_refused
check_match "... mosquitto says why" "certificate revoked|OpenSSL Error" "$(cat "$MQ/mosquitto.log")"
check "sensor-2 still can" pub sensor-2 devices/sensor-2/x

kill -TERM "$SUB_PID" "$MQ_PID" 2>/dev/null
wait "$MQ_PID"
check_eq "mosquitto stops on SIGTERM" 0 "$?"
serve_stop 5
check_eq "devtrust serve exits 0" 0 "$?"
