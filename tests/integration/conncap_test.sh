#!/bin/bash
# The connection cap of devtrust serve (--max-connections): idle connections
# beyond it wait in the kernel's backlog instead of holding server memory;
# when they close, the server serves again.
. "$(dirname "$0")/lib.sh"

setup() { dt init --org capt --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null; }

serve_start setup --workers 2 --max-connections 4 || {
	fail "serve starts with --max-connections 4"
	exit 1
}
pass "serve starts with --max-connections 4"

# Twelve idle connections that never send a request (a slowloris opening).
for i in $(seq 1 12); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$HTTP_PORT"
	eval "idle$i=$fd"
done
# Each worker checks every 100 ms; wait until both have paused.
capped() { [ "$(grep -c '"event":"connection-cap"' "$SERVE_LOG")" -ge 2 ]; }
poll_ms 3000 capped
check_true "at the cap both workers stop accepting (logged)" capped
code=$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/healthz")
check_eq "a new request waits while the cap is reached" 000 "$code"
check_true "the server is still running" kill -0 "$SERVE_PID"

for i in $(seq 1 12); do
	eval "exec {idle$i}>&-"
done
# The closed connections still in the backlog are accepted, each taking a slot until
# the worker sees its end (at most HTTP_CAP_CHECK_MS later): a request arriving in
# that moment is refused at accept (the hard cap, docs/DECISIONS.md 73), the next one
# is served.
served() { [ "$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/healthz")" = 200 ]; }
check "after they close, requests are served again (within 5 s)" poll_ms 5000 served
check_eq "  ... and the next one too" 200 "$(http_code /healthz)"
check_match "and the workers accept again (logged)" '"event":"accepting"' "$(cat "$SERVE_LOG")"
serve_stop 5
check_eq "SIGTERM still exits 0" 0 "$?"
