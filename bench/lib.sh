# Shared by the bench/ scripts (sourced): free loopback ports and starting
# `devtrust serve` for a run. BENCH_NAME prefixes the messages.

# port_free PORT: nothing listens on it (the cores are shared with other servers).
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port [WANT [NOT...]]: WANT if it is free (0 for none), else a random free port
# that is none of NOT (ports picked before but not bound yet), below Linux's ephemeral
# range (32768 on), where an outgoing connection could take it before the bind.
pick_port() {
	local p want=${1:-0} n
	shift || true
	if [ "$want" != 0 ] && port_free "$want"; then
		echo "$want"
		return
	fi
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 12000))
		for n in "$@"; do [ "$p" != "$n" ] || continue 2; done
		port_free "$p" && { echo "$p"; return; }
	done
	echo "${BENCH_NAME:-bench}: no free port" >&2
	exit 1
}

# serve_up BIN DATA HTTPS_PORT HTTP_PORT LOG [serve options...]: starts devtrust serve
# in the background (SERVE_PID), its stderr appended to LOG, and waits up to 30 s for
# /healthz and its listening line; exits the script if it does not come up.
serve_up() {
	local bin=$1 data=$2 https=$3 http=$4 log=$5
	shift 5
	"$bin" --data "$data" serve --listen "127.0.0.1:$https" --listen-http "127.0.0.1:$http" \
		"$@" 2>>"$log" &
	SERVE_PID=$!
	for _ in $(seq 300); do
		curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$http/healthz" && break
		kill -0 "$SERVE_PID" 2>/dev/null ||
			{ echo "${BENCH_NAME:-bench}: serve exited: $(tail -3 "$log")" >&2; exit 1; }
		sleep 0.1
	done
	grep -q "\"https\":\"127.0.0.1:$https\"" "$log" ||
		{ echo "${BENCH_NAME:-bench}: serve not up: $(tail -3 "$log")" >&2; exit 1; }
}
