#!/bin/bash
# The connection cap of devtrust serve (--max-connections): idle connections
# beyond it wait in the kernel's backlog instead of holding server memory;
# when they close, the server serves again.
. "$(dirname "$0")/lib.sh"

setup() {
	dt init --org capt --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null &&
		dt ca cert root --out "$WORK/root.pem" >/dev/null
}

serve_start setup --workers 2 --max-connections 4 || {
	fail "serve starts with --max-connections 4"
	exit 1
}
pass "serve starts with --max-connections 4"

# silent_open / silent_close: twelve connections that never send a request (a
# slowloris opening), and their close.
silent_open() {
	for i in $(seq 1 12); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$HTTP_PORT"
		eval "idle$i=$fd"
	done
}
silent_close() {
	for i in $(seq 1 12); do
		eval "exec {idle$i}>&-"
	done
}

silent_open
# Each worker checks every 100 ms; wait until both have paused.
capped() { [ "$(grep -c '"event":"connection-cap"' "$SERVE_LOG")" -ge 2 ]; }
poll_ms 3000 capped
check_true "at the cap both workers stop accepting (logged)" capped
code=$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/healthz")
check_eq "a new request waits while the cap is reached" 000 "$code"
check_true "the server is still running" kill -0 "$SERVE_PID"

silent_close
# The closed connections still in the backlog are accepted, each taking a slot until
# the worker sees its end (at most HTTP_CAP_CHECK_MS later): a request arriving in
# that moment is refused at accept (the hard cap, docs/DECISIONS.md 73), the next one
# is served.
served() { [ "$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/healthz")" = 200 ]; }
check "after they close, requests are served again (within 5 s)" poll_ms 5000 served
# Once the workers have let the closed ones go (only this check's own /metrics
# request open), nothing is left to fill the cap: the next request is served.
drained() { [ "$(https_code /metrics)" = 200 ] && [ "$(metric devtrust_http_connections_open)" = 1 ]; }
check "the closed connections are all let go (within 3 s)" poll_ms 3000 drained
check_eq "  ... and the next request is served too" 200 "$(http_code /healthz)"
check_match "and the workers accept again (logged)" '"event":"accepting"' "$(cat "$SERVE_LOG")"
serve_stop 5
check_eq "SIGTERM still exits 0" 0 "$?"

# At the cap, connections whose request has been arriving for half the request
# deadline are closed (DECISIONS 80): a cap full of stalled connections turns
# over every second here instead of every two, in every worker, so a new client
# is served without a slot ever coming free otherwise.
serve_start setup --workers 2 --max-connections 4 --request-timeout 2 || {
	fail "serve starts with --max-connections 4 --request-timeout 2"
	exit 1
}
silent_open
poll_ms 3000 capped
code=$(curl -s --max-time 15 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/healthz")
check_eq "at a cap held by twelve silent connections, a new request is served" 200 "$code"
check_eq "GET /metrics is 200" 200 "$(https_code /metrics)"
n=$(metric devtrust_http_stalled_closed_total)
check_true "silent connections were closed at the cap after half the deadline ($n)" test "${n:-0}" -ge 4
check_true "  ... and logged with the cap lines ($(log_sum stalled_closed))" test "$(log_sum stalled_closed)" -ge 1
silent_close
serve_stop 5
check_eq "SIGTERM exits 0" 0 "$?"
