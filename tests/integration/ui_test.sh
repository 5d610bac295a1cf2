#!/bin/bash
# The dashboard (/ui) in headless Chromium (Debian's chromium, driven by
# playwright-core from tests/ui/node_modules; scripts/deps.sh test installs
# both): sign in with a token, the overview's counts, chart and findings,
# suspending a device through the page and the API agreeing, markup in device
# data shown as text, and a vendor seeing only its manufacturer's devices.
# Screenshots are kept in $BUILD/test-artifacts/ui/.
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ART=${UI_ARTIFACTS:-$(dirname "$DT")/test-artifacts/ui}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export CHROMIUM

if ! command -v node >/dev/null || [ ! -x "$CHROMIUM" ] ||
	[ ! -f "$ROOT/tests/ui/node_modules/playwright-core/package.json" ]; then
	fail "ui: prerequisites: node, $CHROMIUM and tests/ui/node_modules/playwright-core (run scripts/deps.sh test)"
	exit 1
fi

# The browser runs in its own process group (playwright starts it detached): if
# the driver dies without closing it, the group is killed here; its profile and
# temporary files are under $WORK/tmp, removed with $WORK.
CHROME_PIDFILE="$WORK/chromium.pid"
ui_cleanup() {
	local p
	p=$(cat "$CHROME_PIDFILE" 2>/dev/null)
	[ -n "$p" ] && kill -KILL -- "-$p" 2>/dev/null
	bg_cleanup
}
trap ui_cleanup EXIT

setup() {
	dt init --org testorg --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null &&
		dt class add pump --ca default >/dev/null &&
		dt class add monitor --ca default >/dev/null || return 1
	dt device add pump-1 --class pump --serial SN-P1 --manufacturer acme --model IP-9 \
		--firmware 4.2.0 --owner icu --location "ICU bed 3" --criticality life-critical >/dev/null &&
		dt device add pump-2 --class pump --serial SN-P2 --manufacturer acme \
			--criticality high >/dev/null &&
		dt device add pump-3 --class pump --serial SN-P3 --manufacturer globex >/dev/null &&
		dt device add mon-1 --class monitor --serial SN-M1 --manufacturer globex \
			--criticality low >/dev/null &&
		dt device add mon-2 --class monitor --serial SN-M2 --manufacturer acme \
			--location '<img src=x onerror=alert(1)>' --owner 'O"Brien & <b>co</b>' >/dev/null
}
check "devtrust serve starts" serve_start setup --workers 2
[ -n "$SERVE_PID" ] || exit 1
export_ca root
for d in pump-1 pump-2 mon-1; do
	check "certificate issued to $d" issue "$d" "$WORK/$d.pem"
done
check "mon-1 suspended" dt device suspend mon-1 --reason "set up"

token() { dt --json admin add "$@" --token | sed -n 's/^ *"token": "\(dta_[0-9a-f_]*\)".*/\1/p'; }
OP_TOKEN=$(token ui-ops --role operator --expires 1h)
VENDOR_TOKEN=$(token acme-tech --role vendor --manufacturer acme --expires 1h)
check_match "operator and vendor tokens created" '^dta_.*dta_' "$OP_TOKEN $VENDOR_TOKEN"
mkdir -p "$WORK/certop"
check "an operator certificate created" dt admin add cert-ops --role operator --out "$WORK/certop"

# api PATH: GET with the operator's token; the status code, the body in $WORK/body.
api() { https_code "/api/v1$1" -H "Authorization: Bearer $OP_TOKEN"; }
check_eq "pump-1 is active before the browser" 200 "$(api /devices/pump-1)"
check_match "pump-1 is active before the browser (state)" '"state":"active"' "$(cat "$WORK/body")"
check_eq "the dashboard is served at /ui/" 200 "$(https_code /ui/)"
check_match "/ui/ carries a strict CSP" "default-src 'self'" "$(header Content-Security-Policy)"

mkdir -p "$ART" "$WORK/tmp"
rm -f "$ART"/*.png
(
	cd "$ROOT/tests/ui" &&
		UI_BASE="https://127.0.0.1:$HTTPS_PORT" UI_OP_TOKEN="$OP_TOKEN" UI_OP_NAME=ui-ops \
			UI_VENDOR_TOKEN="$VENDOR_TOKEN" UI_VENDOR_MFR=acme UI_DEVICE=pump-1 UI_HOSTILE=mon-2 \
			UI_EXPECT='{"total":5,"registered":2,"active":2,"suspended":1,"retired":0,"compromised":0,
				"by_class":{"pump":3,"monitor":2},"valid_certs":2,"certs":3,"held_after":2,
				"silent":2,"vendor_devices":3}' \
			UI_CERT_DIR="$WORK/certop" UI_CERT_NAME=cert-ops \
			UI_ARTIFACTS="$ART" UI_PIDFILE="$CHROME_PIDFILE" TMPDIR="$WORK/tmp" \
			exec timeout -k 5 150 node dashboard.mjs
) &
NODE_PID=$!
BG_PIDS="$BG_PIDS $NODE_PID"
wait "$NODE_PID"
rc=$?
check_eq "the browser session ended cleanly" 0 "$rc"

# What the page did, as the API sees it.
check_eq "GET /devices/pump-1 after the browser" 200 "$(api /devices/pump-1)"
check_match "the API says pump-1 is suspended" '"state":"suspended"' "$(cat "$WORK/body")"
check_match "pump-1's certificate is on hold" '"status":"on-hold","reason":"certificateHold"' "$(cat "$WORK/body")"
api /devices/pump-1/audit >/dev/null
check_match "the audit trail names the operator and the reason" \
	'"actor":"api:ui-ops","action":"device.suspend","object":"pump-1","reason":"ui test: maintenance"' \
	"$(cat "$WORK/body")"
for f in signin overview device-suspended certificates policies audit vendor-devices; do
	check "screenshot $f.png kept" test -s "$ART/$f.png"
done
echo "# screenshots in $ART"
browser_gone() {
	local p
	p=$(cat "$CHROME_PIDFILE" 2>/dev/null)
	[ -n "$p" ] && ! kill -0 "$p" 2>/dev/null
}
check "the browser exited with the session" browser_gone
check "serve stops cleanly" serve_stop
