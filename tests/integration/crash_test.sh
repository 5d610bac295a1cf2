#!/bin/bash
# Crash consistency of devtrust serve: under concurrent EST enrollments the
# server is killed with SIGKILL at a random moment, restarted on the same data
# dir, and the store is checked against what clients received:
#   - every certificate answered with 200 is in the store, byte for byte, for
#     the device that enrolled it (a certificate is durable before anyone
#     receives it);
#   - the database passes `PRAGMA integrity_check`, serials are unique, every
#     certificate's device exists and is active, and its token is spent;
#   - `devtrust audit verify` passes and every stored certificate has its
#     cert.issue audit event;
#   - OCSP and the CRL agree with the store, including for a certificate
#     revoked between two crashes.
# CRASH_ROUNDS (default 4) and CRASH_PER_ROUND (enrollments attempted per
# round, default 120) scale it; docs/RELIABILITY.md records a large run.
. "$(dirname "$0")/lib.sh"

ROUNDS=${CRASH_ROUNDS:-4}
PER=${CRASH_PER_ROUND:-120}
CLASS=crash
export DEVTRUST_PASSPHRASE=crash-test-passphrase
DB=$DEVTRUST_DATA/devtrust.db
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

HTTPS_PORT=$(free_port) && HTTP_PORT=$(free_port "$HTTPS_PORT") || {
	fail "no free ports"
	exit 1
}
dt init --org crasht --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null &&
	dt class add "$CLASS" --ca default >/dev/null || {
	fail "init and class add"
	exit 1
}
total=$((ROUNDS * PER))
{
	echo "id,class,serial,manufacturer,model,firmware,owner,location,criticality"
	for i in $(seq 1 "$total"); do
		printf 'dev-%05d,%s,SN%05d,Acme,M1,1.0.0,team,site,high\n' "$i" "$CLASS" "$i"
	done
} >"$WORK/devices.csv"
dt device import "$WORK/devices.csv" --tokens-out "$WORK/tokens.csv" >/dev/null || {
	fail "device import with tokens"
	exit 1
}
read -r -a SSL_LIBS <<<"$(pkg-config --libs openssl)"
cc -std=c11 -D_DEFAULT_SOURCE -O2 -o "$WORK/csrs" "$ROOT/bench/serve_csrs.c" "${SSL_LIBS[@]}" \
	-lpthread && "$WORK/csrs" "$WORK/tokens.csv" "$WORK/est.txt" 2>/dev/null || {
	fail "CSRs for $total devices"
	exit 1
}
dt ca cert root --out "$WORK/root.pem" >/dev/null
dt ca cert default --out "$WORK/ca.pem" >/dev/null
cat "$WORK/ca.pem" "$WORK/root.pem" >"$WORK/chain.pem"

start() {
	"$DT" serve --listen "127.0.0.1:$HTTPS_PORT" --listen-http "127.0.0.1:$HTTP_PORT" \
		2>>"$SERVE_LOG" &
	SERVE_PID=$!
	BG_PIDS="$BG_PIDS $SERVE_PID"
	# Generous: a loaded machine once needed more than 20 s (a restart replays the
	# WAL, checks the store and pre-signs OCSP answers before it listens).
	poll_ms 60000 curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:$HTTP_PORT/healthz"
}
SERVE_LOG=$WORK/serve.log

# The load: 8 threads, each on a keep-alive TLS connection, enroll their share
# of the round's lines and write "id status" per answer; a 200's body goes to
# got/ID.b64. When the server dies a thread stops at its first error.
cat >"$WORK/load.py" <<'PY'
import http.client, os, ssl, sys, threading
lines, port, out_dir, first, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
victim, target = int(sys.argv[6]), int(sys.argv[7])
with open(lines) as f:
    work = [l.rstrip("\n").split("\t") for l in f][first:first + count]
ctx = ssl.create_default_context(cafile=os.environ["ROOT_PEM"])
results, lock = [], threading.Lock()
def run(k):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=20)
    for basic, body in work[k::8]:
        dev = __import__("base64").b64decode(basic).split(b":")[0].decode()
        try:
            conn.request("POST", "/.well-known/est/crash/simpleenroll", body,
                         {"Authorization": "Basic " + basic, "Content-Type": "application/pkcs10"})
            r = conn.getresponse()
            data = r.read()
        except Exception:
            with lock:
                results.append("%s error" % dev)
            return
        if r.status == 200:
            with open(os.path.join(out_dir, dev + ".b64"), "wb") as f:
                f.write(data)
        with lock:
            results.append("%s %d" % (dev, r.status))
            if len(results) == target:
                os.kill(victim, 9)
ts = [threading.Thread(target=run, args=(k,)) for k in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print("\n".join(results))
PY

revoked_serial=""
: >"$WORK/received.txt"
for round in $(seq 1 "$ROUNDS"); do
	start || {
		fail "round $round: the server restarts on the data dir it was killed on" \
			"(alive: $(kill -0 "$SERVE_PID" 2>/dev/null && echo yes || echo no); log: $(tail -c 400 "$SERVE_LOG" | tr '\n' ' '))"
		break
	}
	mkdir -p "$WORK/got-$round"
	# The load kills the server itself once a random share of the round's
	# enrollments has been answered, so that others are at every stage of
	# their way (signing, committing, replying) at that instant.
	ROOT_PEM=$WORK/root.pem python3 "$WORK/load.py" "$WORK/est.txt" "$HTTPS_PORT" \
		"$WORK/got-$round" $(((round - 1) * PER)) "$PER" "$SERVE_PID" \
		$((PER / 10 + RANDOM % (PER * 7 / 10))) >"$WORK/load-$round.out" 2>&1 &
	load=$!
	wait "$SERVE_PID" 2>/dev/null
	wait "$load"
	ok=$(grep -c ' 200$' "$WORK/load-$round.out")
	other=$(grep -vc ' 200$' "$WORK/load-$round.out")
	echo "round $round: $ok enrolled, $other cut off or refused before the kill"

	start || {
		fail "round $round: the server restarts after SIGKILL"
		break
	}
	# Decode what this round's clients received once; every round checks all
	# of it so far against the store in one query.
	bad=0
	for f in "$WORK/got-$round"/*.b64; do
		[ -e "$f" ] || continue
		p7_certs "$f" "${f%.b64}.pem" || bad=$((bad + 1))
	done
	check_eq "round $round: every 200 carried a certs-only PKCS#7 with a certificate" 0 "$bad"
	python3 - "$WORK/got-$round" >>"$WORK/received.txt" <<'PY'
import base64, glob, os, sys
for pem in sorted(glob.glob(os.path.join(sys.argv[1], "*.pem"))):
    text = open(pem).read()
    b64 = text.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    print("%s|%s" % (os.path.basename(pem)[:-4], base64.b64decode(b64).hex()))
PY
	read -r checked missing < <(sqlite3 -separator ' ' "$DB" <<SQL
CREATE TEMP TABLE r(dev TEXT, der TEXT);
.separator |
.import $WORK/received.txt r
.separator ' '
SELECT count(*), sum(NOT EXISTS (SELECT 1 FROM certs c WHERE c.device_id = r.dev AND lower(hex(c.der)) = r.der)) FROM r;
SQL
	)
	check_eq "round $round: all $checked certificates clients received are in the store, byte for byte, for their device" 0 "$missing"
	check_eq "round $round: PRAGMA integrity_check" ok "$(sqlite3 "$DB" 'PRAGMA integrity_check')"
	check_eq "round $round: serials are unique" 0 \
		"$(sqlite3 "$DB" 'SELECT count(*) - count(DISTINCT serial) FROM certs')"
	check_eq "round $round: every certificate's device is active with its token spent" 0 \
		"$(sqlite3 "$DB" "SELECT count(*) FROM certs c JOIN devices d ON d.id = c.device_id WHERE d.state != 1 OR d.token_hash IS NOT NULL")"
	check_eq "round $round: every stored certificate has its cert.issue audit event" 0 \
		"$(sqlite3 "$DB" "SELECT count(*) FROM certs c WHERE NOT EXISTS (SELECT 1 FROM audit a WHERE a.action = 'cert.issue' AND a.object = c.serial)")"
	check "round $round: audit verify passes" dt audit verify

	# OCSP agrees with the store for a received certificate, and for the one
	# revoked in the previous round (if any): revoked, and on the CRL.
	f=$(ls "$WORK/got-$round"/*.b64 2>/dev/null | head -1)
	if [ -n "$f" ] && p7_certs "$f" "$WORK/one.pem"; then
		st=$(sqlite3 "$DB" "SELECT status FROM certs WHERE ltrim(serial, '0') = ltrim(lower('$(openssl x509 -in "$WORK/one.pem" -noout -serial | cut -d= -f2)'), '0')")
		want=good
		[ "$st" = 0 ] || want="revoked"
		got_st=$(ocsp_status "$WORK/ca.pem" -cert "$WORK/one.pem" | cut -d' ' -f1)
		check_eq "round $round: OCSP agrees with the store for a received certificate" "$want" "$got_st"
	fi
	if [ -n "$revoked_serial" ]; then
		check_eq "round $round: the certificate revoked before the crash is revoked in OCSP" \
			"revoked keyCompromise" "$(ocsp_status "$WORK/ca.pem" -serial "0x$revoked_serial")"
		curl -sf -o "$WORK/crl.der" "http://127.0.0.1:$HTTP_PORT/crl/default.crl"
		check_match "round $round: ... and on the served CRL" \
			"serial number: $(echo "$revoked_serial" | tr 'A-F' 'a-f')" \
			"$(crl_text "$WORK/crl.der" | tr 'A-Z' 'a-z')"
	fi
	# Revoke one certificate of this round for the next round to check.
	f=$(ls "$WORK/got-$round"/*.b64 2>/dev/null | head -1)
	if [ -n "$f" ] && p7_certs "$f" "$WORK/rv.pem"; then
		revoked_serial=$(openssl x509 -in "$WORK/rv.pem" -noout -serial | cut -d= -f2)
		dt cert revoke "$revoked_serial" --reason keyCompromise >/dev/null ||
			fail "round $round: cert revoke $revoked_serial"
	fi
	kill -KILL "$SERVE_PID" 2>/dev/null
	wait "$SERVE_PID" 2>/dev/null
done
enrolled=$(wc -l <"$WORK/received.txt")
check_true "the load enrolled devices in the crashed rounds ($enrolled)" test "$enrolled" -gt 0
