#!/bin/bash
# One devtrust serve per data dir and per address. The workers share their
# ports through SO_REUSEPORT, which would let a second server of the same user
# silently take half of the connections: a second server on the same data dir,
# or on an address anyone listens on, must refuse to start and say why.
. "$(dirname "$0")/lib.sh"

setup() { dt init --org one --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null; }

serve_start setup --workers 2 || {
	fail "the first server starts"
	exit 1
}
pass "the first server starts"
D=$DEVTRUST_DATA
check_eq "DATA/serve.lock holds its pid" "$SERVE_PID" "$(tr -d '\n' <"$D/serve.lock")"
check_eq "DATA/serve.lock is 0600" 600 "$(mode_of "$D/serve.lock")"
P1=$(free_port "$HTTPS_PORT" "$HTTP_PORT")
P2=$(free_port "$HTTPS_PORT" "$HTTP_PORT" "$P1")
OTHER="$WORK/other"
dt --data "$OTHER" init --org two >/dev/null
served() { grep -c '"route":"healthz"' "$SERVE_LOG"; }
before=$(served)

check_err "a second serve on the same data dir exits 1, naming the first one's pid" 1 \
	"another devtrust serve \(pid $SERVE_PID\) is running on the data dir" \
	timeout 20 "$DT" serve --listen "127.0.0.1:$P1" --listen-http "127.0.0.1:$P2"
check_true "and did not listen" port_free "$P1"

check_err "a server of another data dir on the same HTTPS address exits 1" 1 \
	"cannot listen on 127\.0\.0\.1:$HTTPS_PORT: address already in use" \
	timeout 20 "$DT" --data "$OTHER" serve --listen "127.0.0.1:$HTTPS_PORT" \
	--listen-http "127.0.0.1:$P2"
check_true "and did not keep its other address" port_free "$P2"
check_err "... on the same HTTP address" 1 \
	"cannot listen on 127\.0\.0\.1:$HTTP_PORT: address already in use" \
	timeout 20 "$DT" --data "$OTHER" serve --listen "127.0.0.1:$P1" \
	--listen-http "127.0.0.1:$HTTP_PORT"
check_err "... on the same port of the wildcard address" 1 \
	"cannot listen on 0\.0\.0\.0:$HTTPS_PORT: address already in use" \
	timeout 20 "$DT" --data "$OTHER" serve --listen "0.0.0.0:$HTTPS_PORT" \
	--listen-http "127.0.0.1:$P2"

for _ in $(seq 1 40); do
	curl -s -o /dev/null --max-time 3 "http://127.0.0.1:$HTTP_PORT/healthz"
done
poll_ms 2000 test "$(($(served) - before))" -ge 40
check_eq "all 40 requests since reached the first server" 40 "$(($(served) - before))"

# Another program that listens with SO_REUSEPORT, as this user: without the probe
# the kernel would share the port with it.
python3 - "$P1" >"$WORK/squatter.out" 2>&1 <<'PY' &
import signal, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
print("listening", flush=True)
time.sleep(30)
PY
squatter=$!
BG_PIDS="$BG_PIDS $squatter"
poll_ms 5000 grep -q listening "$WORK/squatter.out"
check_err "a port another program holds with SO_REUSEPORT is refused" 1 \
	"cannot listen on 127\.0\.0\.1:$P1: address already in use \(another process" \
	timeout 20 "$DT" --data "$OTHER" serve --listen "127.0.0.1:$P1" \
	--listen-http "127.0.0.1:$P2"
kill "$squatter" 2>/dev/null
wait "$squatter" 2>/dev/null

check_err "the same address for both listeners is refused" 1 "different addresses" \
	timeout 20 "$DT" --data "$OTHER" serve --listen "127.0.0.1:$P1" \
	--listen-http "127.0.0.1:$P1"
check_true "the first server still runs" kill -0 "$SERVE_PID"

# A crash leaves the lock file behind, but no lock: the kernel drops it.
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
"$DT" serve --listen "127.0.0.1:$HTTPS_PORT" --listen-http "127.0.0.1:$HTTP_PORT" \
	2>"$WORK/second.log" &
SERVE_PID=$!
BG_PIDS="$BG_PIDS $SERVE_PID"
poll_ms 15000 curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:$HTTP_PORT/healthz"
check_eq "after a crash (SIGKILL) a new server starts on the data dir and its ports" 200 \
	"$(http_code /healthz)"
check_eq "and serve.lock names the new pid" "$SERVE_PID" "$(tr -d '\n' <"$D/serve.lock")"
serve_stop 5
check_eq "SIGTERM exits 0" 0 "$?"

# Two servers of different data dirs started at the same instant on the same
# addresses: exactly one serves, every time.
dt --data "$WORK/third" init --org three >/dev/null
for round in 1 2 3; do
	"$DT" --data "$OTHER" serve --listen "127.0.0.1:$P1" --listen-http "127.0.0.1:$P2" \
		2>"$WORK/race-a.log" &
	a=$!
	"$DT" --data "$WORK/third" serve --listen "127.0.0.1:$P1" --listen-http "127.0.0.1:$P2" \
		2>"$WORK/race-b.log" &
	b=$!
	BG_PIDS="$BG_PIDS $a $b"
	poll_ms 15000 curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:$P2/healthz"
	sleep 0.5
	alive=0
	for p in $a $b; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
	refused=$(cat "$WORK/race-a.log" "$WORK/race-b.log" | grep -c 'address already in use')
	check_eq "race $round: one server runs, the other refused the address" "1 1" \
		"$alive $refused"
	for p in $a $b; do kill -TERM "$p" 2>/dev/null; done
	for p in $a $b; do wait "$p" 2>/dev/null; done
done
check_true "no server is left running" port_free "$P2"
