#!/bin/bash
# The request deadline of devtrust serve (--request-timeout): a client that
# trickles its request a byte at a time (slowloris), in clear or inside TLS or
# during the TLS handshake, is disconnected when the deadline passes, while
# normal clients are served; the closes are logged and counted.
. "$(dirname "$0")/lib.sh"

setup() { dt init --org slowt --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null; }

# 3 s, so the suite stays short; the idle timeout (10 s) would never fire on these
# clients, which send a byte every second.
serve_start setup --workers 1 --request-timeout 3 --max-connections 6 || {
	fail "serve starts with --request-timeout 3"
	exit 1
}
pass "serve starts with --request-timeout 3"
dt ca cert root --out "$WORK/root.pem" >/dev/null

# slow.py MODE PORT: prints "closed after N.N s" or "answered ..." or "never closed".
#   drip        a plain HTTP request, one byte a second
#   tls-drip    the same inside TLS (handshake done at full speed)
#   handshake   a TLS ClientHello, one byte a second
#   keepalive   one request, 2 s of quiet, a second request at full speed, then a
#               third one dripped: prints both status lines, then how the third ends
cat >"$WORK/slow.py" <<'PY'
import socket, ssl, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
req = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * 40 + b"\r\n\r\n"
t0 = time.time()

def drip(send, recv, data):
    for i in range(len(data)):
        try:
            send(data[i:i + 1])
        except OSError:
            break
        end = time.time() + 1.0
        while time.time() < end:
            try:
                d = recv()
            except (socket.timeout, ssl.SSLWantReadError, BlockingIOError):
                time.sleep(0.05)
                continue
            except (OSError, ssl.SSLError):
                d = b""
            if not d:
                print("closed after %.1f s" % (time.time() - t0))
                return
            print("answered " + d.split(b"\r\n")[0].decode(errors="replace"))
            return
    print("never closed")

s = socket.create_connection(("127.0.0.1", port))
if mode == "drip":
    s.settimeout(0.1)
    drip(s.send, lambda: s.recv(200), req)
elif mode == "tls-drip":
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t = ctx.wrap_socket(s)
    t.settimeout(0.1)
    t0 = time.time()
    drip(t.send, lambda: t.recv(200), req)
elif mode == "handshake":
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    o = ctx.wrap_bio(inc, out)
    try:
        o.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    s.settimeout(0.1)
    drip(s.send, lambda: s.recv(200), hello)
elif mode == "keepalive":
    s.settimeout(5)
    for pause in (0, 2):
        time.sleep(pause)
        s.sendall(req)
        d = s.recv(400)
        print("answered " + d.split(b"\r\n")[0].decode(errors="replace"))
    t0 = time.time()
    s.settimeout(0.1)
    drip(s.send, lambda: s.recv(200), req)
PY
slow() { timeout 60 python3 "$WORK/slow.py" "$@"; }
# closed_in OUT: the client was closed between 2 and 6 s (the deadline is 3 s).
closed_in() {
	local t
	t=$(printf '%s\n' "$1" | sed -n 's/^closed after \([0-9]*\)\..*/\1/p' | tail -1)
	[ -n "$t" ] && [ "$t" -ge 2 ] && [ "$t" -le 6 ]
}

# A normal client is served all along, on both listeners.
(
	for _ in $(seq 1 20); do
		curl -s -o /dev/null -w '%{http_code}\n' --max-time 3 "http://127.0.0.1:$HTTP_PORT/healthz"
		curl -s -o /dev/null -w '%{http_code}\n' --max-time 3 --cacert "$WORK/root.pem" \
			"https://127.0.0.1:$HTTPS_PORT/healthz"
		sleep 0.25
	done
) >"$WORK/normal.out" &
normal=$!

out=$(slow drip "$HTTP_PORT")
check_true "a request dripped a byte a second is cut off at the deadline ($out)" closed_in "$out"
out=$(slow tls-drip "$HTTPS_PORT")
check_true "inside TLS too ($out)" closed_in "$out"
out=$(slow handshake "$HTTPS_PORT")
check_true "and a TLS handshake dripped a byte a second ($out)" closed_in "$out"

wait "$normal"
check_eq "meanwhile every normal request was answered 200" "40 200" \
	"$(grep -c '^200$' "$WORK/normal.out") $(sort -u "$WORK/normal.out" | tr '\n' ' ' | sed 's/ $//')"

out=$(slow keepalive "$HTTP_PORT")
check_match "keep-alive: a request after 2 s of quiet is served (the clock starts at its first byte)" \
	"^answered HTTP/1.1 200(.|$)+answered HTTP/1.1 200" "$(printf '%s\n' "$out" | tr '\n' ' ')"
check_true "keep-alive: a dripped request on it is cut off ($(printf '%s' "$out" | tail -1))" \
	closed_in "$(printf '%s' "$out" | tail -1)"

# A request that is slow but whole within the deadline is served.
code=$(python3 - "$HTTP_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for part in (b"GET /healthz HTTP/1.1\r\n", b"Host: t\r\n", b"\r\n"):
    s.sendall(part)
    time.sleep(0.6)
s.settimeout(5)
print(s.recv(200).split(b" ")[1].decode())
PY
)
check_eq "a request sent in three parts over 1.8 s is served" 200 "$code"

# Six dripping connections fill --max-connections 6; at the cap they are closed
# after half the deadline (DECISIONS 80), which frees their slots.
python3 - "$HTTP_PORT" >"$WORK/flood.out" <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(6)]
for s in socks:
    s.settimeout(0.01)
open_ = set(range(6))
t0 = time.time()
while open_ and time.time() - t0 < 20:
    for i in list(open_):
        try:
            socks[i].send(b"G")
            if socks[i].recv(100) == b"":
                open_.discard(i)
        except socket.timeout:
            pass
        except OSError:
            open_.discard(i)
    time.sleep(1)
print("closed %d of 6 in %.0f s" % (6 - len(open_), time.time() - t0))
PY
flood=$!
capped() { grep -q '"event":"connection-cap"' "$SERVE_LOG"; }
poll_ms 3000 capped
check_true "six dripping connections reach the connection cap" capped
wait "$flood"
check_match "the server closes every one of them" "^closed 6 of 6 in [1-6] s" "$(cat "$WORK/flood.out")"
poll_ms 3000 grep -q '"event":"accepting"' "$SERVE_LOG"
check_eq "after that the server accepts again" 200 "$(http_code /healthz)"

check_true "every cut-off by the deadline is logged once, with its peer" \
	test "$(grep -c '"event":"request-timeout".*"peer":"127.0.0.1:' "$SERVE_LOG")" -ge 4
check_eq "GET /metrics is 200" 200 "$(https_code /metrics)"
n=$(metric devtrust_http_request_timeouts_total)
check_eq "and counts them (devtrust_http_request_timeouts_total)" \
	"$(grep -c '"event":"request-timeout"' "$SERVE_LOG")" "$n"
check_nomatch "no normal request failed" '"route":"healthz","status":[^2]' "$(cat "$SERVE_LOG")"
# drip, tls-drip, handshake and the keep-alive's third request by the deadline; the
# six of the flood at the cap.
check_eq "no request-timeout for the normal clients: only the four slow ones below the cap are cut off" 4 \
	"$(grep -c '"event":"request-timeout"' "$SERVE_LOG")"
n=$(metric devtrust_http_stalled_closed_total)
check_eq "the six at the cap were closed as stalled (devtrust_http_stalled_closed_total)" 6 "$n"
# Cap lines are at most one a second: the last count may come with the next.
stalled_logged() { [ "$(log_sum stalled_closed)" = 6 ]; }
check "  ... and logged with the cap lines (within 3 s)" poll_ms 3000 stalled_logged

serve_stop 10
check_eq "SIGTERM still exits 0" 0 "$?"

check_exit "--request-timeout 0 is a usage error" 2 dt serve --request-timeout 0
check_exit "--request-timeout 3601 is a usage error" 2 dt serve --request-timeout 3601
