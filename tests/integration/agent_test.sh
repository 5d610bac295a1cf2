#!/bin/bash
# devtrust-agent end to end against devtrust serve on loopback: enrollment with
# a token (CA file and SHA-256 pins), with an IDevID, csrattrs, refusals; the
# daemon renewing a 2-minute certificate by itself with a new key each time;
# an outage in the renewal window; suspended and retired devices; expired
# certificates falling back to the bootstrap credential; SIGKILL at many
# points of installation; a new issuing CA chain published by a stand-in EST
# server. Total run time is about 2.5 minutes (the expiry checks wait for a
# 2-minute certificate to lapse).
. "$(dirname "$0")/lib.sh"

W=$WORK
AGENT=${DEVTRUST_AGENT_BIN:-$(dirname "$DT")/devtrust-agent}
T0=$(date +%s)
[ -x "$AGENT" ] || {
	fail "devtrust-agent binary $AGENT missing (make all builds it)"
	exit 1
}
# Debian's libcurl loads GnuTLS (through librtmp); the agent turns off its
# load-time initialisation (src/agent/main.c), 0.8 MB of peak RSS.
if ldd "$AGENT" | grep -q 'libgnutls'; then
	check_out "GnuTLS's implicit initialisation is skipped: its hook binds to the agent" \
		"libgnutls[^ ]* \[[0-9]+\] to [^ ]*$(basename "$AGENT") \[[0-9]+\]: normal symbol .?_gnutls_global_init_skip" \
		env LD_DEBUG=bindings "$AGENT" --version
fi

setup() {
	dt init --org testorg --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null &&
		dt class add pump --ca default --lifetime 30d --key-types ec-p256,ec-p384 >/dev/null &&
		dt class add p384 --ca default --lifetime 30d --key-types ec-p384 >/dev/null &&
		dt class add short --ca default --lifetime 2m >/dev/null
}
check "serve starts for the agent tests" serve_start setup
[ -n "$SERVE_PID" ] || exit 1
export_ca root && export_ca default
ROOT=$W/root.pem

# serve_restart: devtrust serve again on the same data dir and ports.
serve_restart() {
	"$DT" serve --listen "127.0.0.1:$HTTPS_PORT" --listen-http "127.0.0.1:$HTTP_PORT" \
		2>>"$SERVE_LOG" &
	SERVE_PID=$!
	BG_PIDS="$BG_PIDS $SERVE_PID"
	poll_ms 15000 curl -skf --max-time 1 "https://127.0.0.1:$HTTPS_PORT/healthz"
}

# token ID [CLASS]: a new device and its enrollment token.
token() {
	dt --json device add "$1" --class "${2:-pump}" --serial "SN-$1" | jstr enrollment_token
}

# conf NAME [SETTING=VALUE...]: $W/NAME.conf for a device whose state dir is $W/NAME.
conf() {
	local n=$1 kv
	shift
	mkdir -p "$W/$n"
	{
		echo "# agent $n"
		echo "server = https://127.0.0.1:$HTTPS_PORT"
		echo "state-dir = $W/$n"
		for kv in "$@"; do echo "${kv%%=*} = ${kv#*=}"; done
	} >"$W/$n.conf"
}
# token_conf NAME CLASS [SETTING=VALUE...]: a device NAME with its token in a file.
token_conf() {
	local n=$1 c=$2
	shift 2
	token "$n" "$c" >"$W/$n.token"
	conf "$n" "label=$c" "device-id=$n" "token-file=$W/$n.token" "ca-file=$ROOT" "$@"
}
ag() {
	local n=$1
	shift
	"$AGENT" --config "$W/$n.conf" "$@"
}
# daemon NAME [FLAG...]: `run` for NAME in the background, its log in $W/NAME.log;
# its pid in DAEMON_PID (and BG_PIDS, for the cleanup).
daemon() {
	local n=$1
	shift
	"$AGENT" --config "$W/$n.conf" run "$@" 2>"$W/$n.log" &
	DAEMON_PID=$!
	BG_PIDS="$BG_PIDS $DAEMON_PID"
}
# consistent DIR: the key, certificate and chain at DIR/{key,cert,chain}.pem
# (symlinks) belong together and verify against the root.
consistent() {
	[ "$(openssl x509 -in "$1/cert.pem" -noout -pubkey 2>/dev/null)" = \
		"$(openssl pkey -in "$1/key.pem" -pubout 2>/dev/null)" ] &&
		openssl verify -CAfile "$ROOT" -untrusted "$1/chain.pem" "$1/cert.pem" >/dev/null 2>&1
}
spki() { openssl x509 -in "$1" -noout -pubkey | openssl sha256 | cut -d' ' -f2; }
gen_of() { readlink "$W/$1/current"; }
jnum() { sed -n "s/^ *\"$1\": \\([0-9-]*\\),\\{0,1\\}\$/\\1/p" | head -1; }
RUN_FAST=(--renew-at 0.5 --jitter 2s --backoff-min 1s --backoff-max 5s --poll-interval 1s)
# Conditions for poll_ms (evaluated on every poll).
state_is() { [ "$(ag "$1" status --json | jstr state)" = "$2" ]; }
status_has() { ag "$1" status --json | grep -q -- "$2"; }
gen_changed() { [ "$(gen_of "$1")" != "$2" ]; }
bundle_has() {
	openssl crl2pkcs7 -nocrl -certfile "$W/$1/cacerts.pem" | openssl pkcs7 -print_certs -noout |
		grep -q -- "$2"
}

# --- background: devices whose 2-minute certificates must lapse -------------
# sexp enrolls with an IDevID, stok with a token; both are checked after expiry.
M=$W/maker
mkdir -p "$M"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$M/root.key" \
	-subj "/O=Acme/CN=Acme IDevID Root" -days 3650 -addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$M/root.pem" 2>/dev/null
dt manufacturer add Acme --anchor "$M/root.pem" >/dev/null
# idevid NAME SERIAL: an IDevID certificate and key with subject serialNumber SERIAL.
idevid() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$M/$1.key" \
		-subj "/O=Acme/CN=idevid/serialNumber=$2" -out "$M/$1.csr" 2>/dev/null &&
		openssl x509 -req -in "$M/$1.csr" -CA "$M/root.pem" -CAkey "$M/root.key" \
			-CAcreateserial -days 365 -extfile <(printf 'basicConstraints=CA:FALSE\n') \
			-out "$M/$1.pem" 2>/dev/null
}
idevid sexp ACME-2
dt device add sexp --class short --manufacturer Acme --serial ACME-2 >/dev/null
conf sexp "label=short" "idevid-cert=$M/sexp.pem" "idevid-key=$M/sexp.key" "ca-file=$ROOT"
check "IDevID enrollment of a 2-minute certificate (checked again after it expires)" ag sexp enroll
token_conf stok short
check "token enrollment of a 2-minute certificate (checked again after it expires)" ag stok enroll
EXPIRES=$(($(date +%s) + 125))

# --- background: the daemon renewing a 2-minute certificate ------------------
token_conf sr short "reload-hook=cp \"\$DEVTRUST_AGENT_CERT\" $W/sr-\$DEVTRUST_AGENT_SERIAL.pem; echo \"\$DEVTRUST_AGENT_EVENT \$DEVTRUST_AGENT_SERIAL\" >>$W/sr.hooks"
: >"$W/sr.hooks"
daemon sr "${RUN_FAST[@]}"
SR_PID=$DAEMON_PID

# --- token enrollment ----------------------------------------------------------
token_conf d1 pump
check_out "enroll with a token prints the serial and the files" "^enrolled: serial [0-9a-f]{32}" ag d1 enroll
D=$W/d1
check "key, certificate and chain match and verify against the root (openssl)" consistent "$D"
check_eq "key.pem is a symlink into the state dir's current generation" "$D/current/key.pem" "$(readlink "$D/key.pem")"
check_eq "the private key is mode 0600" 600 "$(stat -L -c %a "$D/key.pem")"
check_match "the key is P-256 by default (class allows P-256 and P-384)" "prime256v1|P-256" \
	"$(openssl pkey -in "$D/key.pem" -noout -text 2>&1)"
check_match "the certificate's names come from the inventory (CN=d1)" "CN ?= ?d1" \
	"$(openssl x509 -in "$D/cert.pem" -noout -subject)"
check "cacerts.pem holds the issuing CA and the root" \
	test "$(grep -c 'BEGIN CERTIFICATE' "$D/cacerts.pem")" -eq 2
ag d1 status --json >"$W/d1.json"
check "status --json is valid JSON (python3 -m json.tool)" python3 -m json.tool "$W/d1.json"
check_eq "status --json: serial is the certificate's" "$(serial_of "$D/cert.pem")" "$(jstr serial <"$W/d1.json")"
check_eq "status --json: not_after_epoch is the certificate's notAfter" \
	"$(cert_epoch "$D/cert.pem" end)" "$(jnum not_after_epoch <"$W/d1.json")"
check_eq "status --json: state valid, device d1" "valid d1" \
	"$(jstr state <"$W/d1.json") $(jstr device_id <"$W/d1.json")"
nr=$(jnum next_renewal_epoch <"$W/d1.json")
nb=$(cert_epoch "$D/cert.pem" start)
na=$(cert_epoch "$D/cert.pem" end)
check_true "status --json: next renewal is at 2/3 of the lifetime" \
	test "$((nr - nb - (na - nb) * 2 / 3))" -ge -1 -a "$((nr - nb - (na - nb) * 2 / 3))" -le 1
check_exit "status exits 0 while the certificate is valid" 0 ag d1 status
check_out "enroll again: already enrolled, nothing sent" "already enrolled" ag d1 enroll
check_err "enroll --force: the spent token is not offered again (exit 4)" 4 "spent at enrollment" \
	ag d1 enroll --force
check_out "... and the certificate stays valid in status" '"state": "valid"' ag d1 status --json
cp "$D/cert.pem" "$W/d1-first.pem"
check_out "renew: re-enrollment with the current certificate" "^renewed: serial" ag d1 renew
check "... the renewed set is consistent" consistent "$D"
check_true "... with a new key (SPKI differs)" test "$(spki "$W/d1-first.pem")" != "$(spki "$D/cert.pem")"
check_true "... and the previous generation kept" \
	test -L "$D/previous" -a "$(readlink "$D/previous")" = gen-1 -a "$(gen_of d1)" = gen-2
check_exit "status of a state dir with nothing installed exits 1" 1 "$AGENT" status --state-dir "$W/nothing"

# --- csrattrs, labels, refusals -------------------------------------------------
token_conf d384 p384
check "a class that allows only P-384 (csrattrs) gets a P-384 key" ag d384 enroll
check_match "... the key is P-384" "secp384r1|P-384" "$(openssl pkey -in "$W/d384/key.pem" -noout -text 2>&1)"
token_conf dbad pump
echo 0123456789abcdef0123456789abcdef >"$W/dbad.token"
check_err "a wrong token is refused by the server (401, exit 4)" 4 "answered 401" ag dbad enroll
token_conf dlab pump "label=p384"
check_err "a device enrolling under another class's label: the server's reason (400)" 1 \
	"is in class 'pump', not 'p384'" ag dlab enroll
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/evil.key" \
	-subj "/CN=Evil Root" -days 30 -addext "basicConstraints=critical,CA:TRUE" -out "$W/evil.pem" 2>/dev/null
token_conf dtrust pump "ca-file=$W/evil.pem"
check_err "a server that does not verify against the anchor is refused (exit 1)" 1 \
	"does not verify against the trust anchor" ag dtrust enroll
check_err "no trust anchor configured is a configuration error (exit 2)" 2 "RFC 7030 section 4.1.1" \
	"$AGENT" enroll --server "https://127.0.0.1:$HTTPS_PORT" --state-dir "$W/x"
check_err "an unknown option is a usage error (exit 2)" 2 "unknown option --nope" \
	ag d1 status --nope 1
check_err "an http:// server is refused (exit 2)" 2 "want https://" ag d1 status --server http://x

# --- first contact with a SHA-256 pin (RFC 7030 section 4.1.1) ------------------
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }
token_conf dpin pump "ca-file="
echo "pin = sha256:$(fp "$W/evil.pem")" >>"$W/dpin.conf"
n0=$(grep -c 'simpleenroll' "$SERVE_LOG")
check_err "a pin that matches nothing: refused before any credential is sent" 1 \
	"no certificate of the server matches pin" ag dpin enroll
sleep 0.3
check_eq "... no enrollment request reached the server" "$n0" "$(grep -c 'simpleenroll' "$SERVE_LOG")"
sed -i '/^pin = /d' "$W/dpin.conf"
echo "pin = sha256:$(fp "$ROOT")" >>"$W/dpin.conf"
check "a pin of the root (openssl -fingerprint form): enrolls with the same token" ag dpin enroll
check "... the set verifies against the root" consistent "$W/dpin"
check_match "... the anchor is kept with the pin that chose it" "^# pinned at first contact: sha256:" \
	"$(head -1 "$W/dpin/anchor.pem")"
openssl s_client -connect "127.0.0.1:$HTTPS_PORT" </dev/null 2>/dev/null |
	openssl x509 -out "$W/server.pem" 2>/dev/null
token_conf dpin2 pump "ca-file="
echo "pin = sha256:$(fp "$W/server.pem")" >>"$W/dpin2.conf"
check "a pin of the server's TLS certificate: the /cacerts root becomes the anchor" ag dpin2 enroll
check_eq "... and the anchor kept is the root" "$(fp "$ROOT")" "$(fp "$W/dpin2/anchor.pem")"

# --- IDevID ----------------------------------------------------------------------
idevid i1 ACME-1
dt device add i1 --class pump --manufacturer Acme --serial ACME-1 >/dev/null
conf i1 "label=pump" "idevid-cert=$M/i1.pem" "idevid-key=$M/i1.key" "ca-file=$ROOT"
check_out "enroll with an IDevID from a registered manufacturer" "^enrolled: serial" ag i1 enroll
check "... the set is consistent" consistent "$W/i1"
check_match "... the certificate names the inventory's device (CN=i1)" "CN ?= ?i1" \
	"$(openssl x509 -in "$W/i1/cert.pem" -noout -subject)"
check_out "... status names the device from the certificate" '"device_id": "i1"' ag i1 status --json
idevid i2 ACME-999
conf i2 "label=pump" "idevid-cert=$M/i2.pem" "idevid-key=$M/i2.key" "ca-file=$ROOT"
check_err "an IDevID whose serialNumber names no device is refused (401, exit 4)" 4 "answered 401" ag i2 enroll

# --- suspended and retired ------------------------------------------------------
# renew-at 0.34 of a 180 s validity (backdated 60 s) is one second after issuance.
RUN_SLOW_RETRY=(--renew-at 0.34 --jitter 0 --backoff-min 1s --backoff-max 3s --poll-interval 1s)
token_conf ssus short
check "suspended: enrolled" ag ssus enroll
dt device suspend ssus --reason "maintenance" >/dev/null
daemon ssus "${RUN_SLOW_RETRY[@]}"
SSUS_PID=$DAEMON_PID
check "suspended device: the agent reports suspended and keeps retrying" \
	poll_ms 15000 state_is ssus suspended
check_match "... last_error quotes the server" "is suspended" "$(ag ssus status --json | jstr last_error)"
g=$(gen_of ssus)
dt device resume ssus >/dev/null
check "resumed: the agent renews on its next slow retry" poll_ms 10000 gen_changed ssus "$g"
kill -TERM "$SSUS_PID"
wait "$SSUS_PID"
check_eq "SIGTERM: the daemon stops with exit 0" 0 "$?"
check_match "... and logs that it stopped" "devtrust-agent: stopped" "$(tail -1 "$W/ssus.log")"

token_conf sret short
check "retired: enrolled" ag sret enroll
dt device retire sret --reason "returned" >/dev/null
daemon sret "${RUN_SLOW_RETRY[@]}"
SRET_PID=$DAEMON_PID
code=124
for _ in $(seq 1 100); do
	kill -0 "$SRET_PID" 2>/dev/null || {
		wait "$SRET_PID"
		code=$?
		break
	}
	sleep 0.1
done
check_eq "retired device: the daemon stops by itself with exit 3" 3 "$code"
check_eq "... status says retired and exits 3" "retired 3" "$(ag sret status --json | jstr state) $(ag sret status >/dev/null; echo $?)"
check_match "... last_error carries the server's reason" "is retired" "$(ag sret status --json | jstr last_error)"
check_err "... run refuses to start again (exit 3) without asking the server" 3 "retired" ag sret run

# --- SIGKILL during installation ------------------------------------------------
token_conf k1 pump
ag k1 enroll >/dev/null 2>&1
bad=0 new=0 old=0
for i in $(seq 1 60); do
	before=$(gen_of k1)
	# Odd rounds pause 25 ms between installation steps so kills land inside it.
	DEVTRUST_AGENT_STEP_DELAY_MS=$((i % 2 * 25)) "$AGENT" --config "$W/k1.conf" renew >/dev/null 2>&1 &
	pid=$!
	sleep "0.$(printf %03d $((RANDOM % 320)))"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	if consistent "$W/k1"; then
		[ "$(gen_of k1)" = "$before" ] && old=$((old + 1)) || new=$((new + 1))
	else
		bad=$((bad + 1))
		echo "round $i: inconsistent set: $(ls -l "$W/k1")"
	fi
done
check_eq "SIGKILL at 60 random points of renewal: key, cert and chain always match and verify ($new new, $old old)" 0 "$bad"
check_true "... kills landed both before and after the switch" test "$new" -gt 0 -a "$old" -gt 0
check "... the next renewal after the kills succeeds" ag k1 renew
check_eq "... and leaves only the current and previous generations, no temporary files" "2 0" \
	"$(find "$W/k1" -maxdepth 1 -name 'gen-*' | wc -l) $(find "$W/k1" -name '*.tmp' | wc -l)"

# --- a new issuing CA chain published ---------------------------------------------
# devtrust cannot move a class to another CA, so a stand-in EST server serves
# /cacerts from a file: first a chain with a new issuing CA signed by our root,
# then one from a foreign root. The agent (renewal not due) only refreshes cacerts.
R=$W/roll
mkdir -p "$R"
PASS_FILE=$DEVTRUST_DATA/secrets/passphrase
sign_by_root() { # CSR OUT EXTFILE-TEXT
	openssl x509 -req -in "$1" -CA "$ROOT" -CAkey "$DEVTRUST_DATA/keys/root.key" \
		-passin "file:$PASS_FILE" -CAcreateserial -CAserial "$R/root.srl" -days 30 \
		-extfile <(printf '%b' "$3") -out "$2" 2>/dev/null
}
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$R/new.key" \
	-subj "/O=testorg/CN=rollover Issuing CA" -out "$R/new.csr" 2>/dev/null
sign_by_root "$R/new.csr" "$R/new.pem" 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n'
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$R/tls.key" \
	-subj "/CN=localhost" -out "$R/tls.csr" 2>/dev/null
sign_by_root "$R/tls.csr" "$R/tls.pem" 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$R/evil-ca.key" \
	-subj "/O=testorg/CN=evil Issuing CA" -out "$R/evil-ca.csr" 2>/dev/null
openssl x509 -req -in "$R/evil-ca.csr" -CA "$W/evil.pem" -CAkey "$W/evil.key" -CAcreateserial \
	-CAserial "$R/evil.srl" -days 30 -extfile <(printf 'basicConstraints=critical,CA:TRUE\n') \
	-out "$R/evil-ca.pem" 2>/dev/null
bundle() { # OUT CERT-FILES...: base64 certs-only PKCS#7
	local out=$1
	shift
	cat "$@" >"$R/bundle.pem"
	openssl crl2pkcs7 -nocrl -certfile "$R/bundle.pem" -outform DER | base64 >"$out.new" &&
		mv "$out.new" "$out"
}
bundle "$R/cacerts.b64" "$R/new.pem" "$ROOT"
cat >"$R/fake_est.py" <<'EOF'
import http.server, ssl, sys
port, cert, key, body = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if not self.path.endswith("/cacerts"):
            self.send_error(404)
            return
        data = open(body, "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", "application/pkcs7-mime; smime-type=certs-only")
        self.send_header("Content-Transfer-Encoding", "base64")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
srv = http.server.HTTPServer(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
EOF
FAKE_PORT=$(free_port "$HTTPS_PORT" "$HTTP_PORT")
python3 "$R/fake_est.py" "$FAKE_PORT" "$R/tls.pem" "$R/tls.key" "$R/cacerts.b64" 2>"$R/fake.log" &
BG_PIDS="$BG_PIDS $!"
# Python and its ssl module start slowly on a loaded machine: the daemon must not
# begin (and back off) before this server answers.
check "a stand-in EST server with a rolled-over chain answers cacerts" \
	poll_ms 30000 curl -sf -o /dev/null --cacert "$ROOT" \
	"https://127.0.0.1:$FAKE_PORT/.well-known/est/pump/cacerts"
token_conf c1 pump "reload-hook=echo \"\$DEVTRUST_AGENT_EVENT\" >>$W/c1.hooks"
ag c1 enroll >/dev/null 2>&1
: >"$W/c1.hooks"
daemon c1 --server "https://127.0.0.1:$FAKE_PORT" --cacerts-interval 1s --poll-interval 1s
C1_PID=$DAEMON_PID
check "a new issuing CA chain that verifies against the anchor is installed" \
	poll_ms 10000 bundle_has c1 "rollover Issuing CA"
check "... and the reload hook ran for it (event cacerts)" poll_ms 3000 grep -qx cacerts "$W/c1.hooks"
check "... while the installed key, certificate and chain are untouched" consistent "$W/c1"
cp "$W/c1/cacerts.pem" "$R/installed.pem"
bundle "$R/cacerts.b64" "$R/evil-ca.pem" "$W/evil.pem"
check "a chain from a foreign root is refused" poll_ms 8000 status_has c1 "cacerts refused"
check "... and the installed bundle stays as it was" cmp -s "$R/installed.pem" "$W/c1/cacerts.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$R/other.key" \
	-subj "/CN=Other Root" -days 30 -addext "basicConstraints=critical,CA:TRUE" -out "$R/other.pem" 2>/dev/null
bundle "$R/cacerts.b64" "$R/new.pem" "$ROOT" "$R/other.pem"
check "a chain that adds a foreign root next to ours is refused too" \
	poll_ms 8000 status_has c1 "cacerts refused: /CN=Other Root does not verify"
check "... and the installed bundle is still the one before" cmp -s "$R/installed.pem" "$W/c1/cacerts.pem"
check_out "... while the state stays valid (the certificate is fine)" '"state": "valid"' ag c1 status --json
check_err "the daemon holds the state dir's lock: a second agent is refused (exit 2)" 2 \
	"another devtrust-agent holds" ag c1 renew
kill -TERM "$C1_PID"
wait "$C1_PID"

# --- the daemon: two renewals by itself, each with a new key -----------------------
renewals_ge() { [ "$(grep -c '^renewed ' "$W/sr.hooks")" -ge "$1" ]; }
check "the daemon enrolled and renewed twice by itself (2-minute certificates, renew at 1/2)" \
	poll_ms 90000 renewals_ge 2
mapfile -t serials < <(awk '{print $2}' "$W/sr.hooks")
check_eq "... the hook ran enrolled, renewed, renewed" "enrolled renewed renewed" \
	"$(head -3 "$W/sr.hooks" | awk '{print $1}' | paste -sd' ')"
check_true "... three different serials" test "$(printf '%s\n' "${serials[@]:0:3}" | sort -u | wc -l)" -eq 3
check_true "... three different keys (SPKI)" test "$(for s in "${serials[@]:0:3}"; do spki "$W/sr-$s.pem"; done | sort -u | wc -l)" -eq 3
check "... each verifies against the root (openssl verify)" \
	openssl verify -CAfile "$ROOT" -untrusted "$W/default.pem" "$W/sr-${serials[1]}.pem" "$W/sr-${serials[2]}.pem"
check "... and the installed set is consistent" consistent "$W/sr"

# --- outage in the renewal window ----------------------------------------------------
serve_stop 10
check_eq "the server stops (SIGTERM)" 0 "$?"
g=$(gen_of sr)
check "server down: the agent reports retrying at its renewal point" poll_ms 40000 state_is sr retrying
check_match "... last_error says the server cannot be reached" "cannot reach https://127.0.0.1:$HTTPS_PORT" \
	"$(ag sr status --json | jstr last_error)"
lapsed=0
for _ in $(seq 1 8); do
	openssl x509 -in "$W/sr/cert.pem" -noout -checkend 0 >/dev/null || lapsed=1
	sleep 1
done
check_eq "... its certificate stays valid while it backs off (sampled for 8 s)" 0 "$lapsed"
check_match "... and the retries back off (capped at 5 s)" "next attempt in [1-5] s" "$(tail -3 "$W/sr.log")"
check "the server restarts on the same data dir" serve_restart
check "the agent recovers: a new generation once the server is back" poll_ms 15000 gen_changed sr "$g"
check "... state valid again, last_error cleared" poll_ms 3000 status_has sr '"last_error": null'
check "... and the certificate never lapsed" openssl x509 -in "$W/sr/cert.pem" -noout -checkend 60

# --- expired certificates --------------------------------------------------------------
now=$(date +%s)
[ "$now" -lt "$EXPIRES" ] && sleep $((EXPIRES - now))
check_out "expired certificate with an IDevID: renew falls back to the IDevID" "^renewed: serial" ag sexp renew
check_match "... and says so in status" "expired at .*enrolled again with the IDevID" \
	"$(ag sexp status --json | jstr note)"
check "... the new set is consistent" consistent "$W/sexp"
check_err "expired certificate, token spent: renew says what to do (exit 4)" 4 \
	"expired at .*spent at enrollment.*devtrust device token stok" ag stok renew
check_eq "... status: needs-credential" needs-credential "$(ag stok status --json | jstr state)"
dt device token stok >"$W/stok.token"
check "... a new token in the token file: enrolled again" ag stok renew
check "... the new set is consistent" consistent "$W/stok"

kill -TERM "$SR_PID"
wait "$SR_PID"
check_eq "the daemon stops cleanly on SIGTERM after all that" 0 "$?"
check_nomatch "no token ever reaches the agent's log" "$(cut -c1-32 "$W"/*.token | paste -sd'|')" \
	"$(cat "$W"/*.log)"
echo "agent tests took $(($(date +%s) - T0)) s"
