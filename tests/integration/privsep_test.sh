#!/bin/bash
# Privilege separation (DECISIONS.md 78): devtrust serve started as root with
# --user and --signer-user runs as the first user, and its CA key signer as
# the second, through a launcher of the second user's. The server's user can
# read neither a CA key file nor the signer's memory, nor signal it; EST
# issuance, CRLs and signer restarts work as before; CLI commands run as root
# on the live data dir leave files the two users can use. Needs root (CI runs
# as root); elsewhere the suite says so and checks nothing.
# Clients: curl (EST, CRL), openssl (verify, crl), runuser, /proc.
. "$(dirname "$0")/lib.sh"

W=$WORK
EST=/.well-known/est
if [ "$(id -u)" != 0 ] || ! command -v useradd >/dev/null || ! command -v runuser >/dev/null; then
	echo "SKIP privsep_test: needs root, useradd and runuser"
	exit 0
fi
# Two system users of this run only, removed at exit.
SRV=dt-srv-$$
SIG=dt-sig-$$
cleanup_users() {
	bg_cleanup
	userdel "$SRV" 2>/dev/null
	userdel "$SIG" 2>/dev/null
}
trap cleanup_users EXIT
useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$SRV" &&
	useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$SIG" || {
	echo "FAIL cannot create the users $SRV and $SIG"
	exit 1
}
SRV_UID=$(id -u "$SRV")
SRV_GID=$(id -g "$SRV")
SIG_UID=$(id -u "$SIG")
# Both users must reach the data dir inside the private work dir (root's, so that
# neither can replace the data dir). Root's devtrust commands on the data dir run as
# the server's user, and write their files in $W/out.
chmod 0711 "$W"
mkdir -m 0700 "$W/out"
chown "$SRV" "$W/out"

setup() {
	dt init --org testorg --public-url "http://127.0.0.1:$HTTP_PORT" >/dev/null &&
		dt class add pump --ca default --lifetime 30d --key-types ec-p256 >/dev/null
}
owner() { stat -c '%U:%G %a' "$1"; }
ids_of() { awk -v k="$2:" '$1 == k { print $2, $3, $4, $5 }' "/proc/$1/status" 2>/dev/null; }
ppid_of() { awk '/^PPid:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
signer_pid() {
	grep -oE '"(signer_pid|event":"signer-started","pid)":[0-9]+' "$SERVE_LOG" | tail -1 |
		grep -oE '[0-9]+$'
}
# enroll ID: a new device over EST with its token; the certificate in $W/ID.pem.
enroll() {
	local code
	dt --json device add "$1" --class pump --serial "SN-$1" | jstr enrollment_token >"$W/$1.token"
	mkcsr "$W/$1.csr"
	csr_b64 "$W/$1.csr" "$W/$1.b64"
	code=$(curl -sS --max-time 20 --cacert "$W/root.pem" -o "$W/$1.out" -w '%{http_code}' \
		-u "$1:$(cat "$W/$1.token")" -H 'Content-Type: application/pkcs10' \
		--data-binary @"$W/$1.b64" "https://127.0.0.1:$HTTPS_PORT$EST/simpleenroll")
	[ "$code" = 200 ] && p7_certs "$W/$1.out" "$W/$1.pem"
}
verify_chain() { openssl verify -CAfile "$W/root.pem" -untrusted "$W/default.pem" "$1"; }

# ---- Refusals: a clear error, and the data dir is left as it was ----
HTTP_PORT=1
rm -rf "$DEVTRUST_DATA"
setup
before=$(find "$DEVTRUST_DATA" -printf '%u:%g %m %p\n' | sort)
check_err "--signer-user without --user is refused" 2 "--signer-user needs --user" \
	dt serve --signer-user "$SIG"
check_err "an unknown --user is refused" 1 "no user 'no-such-user-$$'" \
	dt serve --user "no-such-user-$$"
check_err "--user root is refused" 1 "is root" dt serve --user root
check_err "--signer-user the same as --user is refused" 1 "must be another user" \
	dt serve --user "$SRV" --signer-user "$SRV"
check_err "--signer-user with --no-key-isolation is refused" 2 "needs key isolation" \
	dt serve --user "$SRV" --signer-user "$SIG" --no-key-isolation
if runuser -u "$SRV" -- "$DT" --version >/dev/null 2>&1; then
	check_err "--user by another user than root is refused" 1 "started as root" \
		runuser -u "$SRV" -- "$DT" --data "$DEVTRUST_DATA" serve --user "$SRV"
fi
check_eq "after the refusals the data dir's owners and modes are unchanged" "$before" \
	"$(find "$DEVTRUST_DATA" -printf '%u:%g %m %p\n' | sort)"

# ---- The server, its launcher and its signer ----
check "serve starts as root with --user and --signer-user" serve_start setup --workers 2 \
	--user "$SRV" --signer-user "$SIG"
[ -n "$SERVE_PID" ] || exit 1
check_match "it logs privileges-dropped with both users" \
	"\"event\":\"privileges-dropped\",\"user\":\"$SRV\",\"uid\":$SRV_UID,\"signer_user\":\"$SIG\",\"signer_uid\":$SIG_UID" \
	"$(cat "$SERVE_LOG")"
check_eq "the server runs as --user (real, effective, saved, fs uid)" \
	"$SRV_UID $SRV_UID $SRV_UID $SRV_UID" "$(ids_of "$SERVE_PID" Uid)"
check_eq "  ... with its group and no other" "$SRV_GID $SRV_GID $SRV_GID $SRV_GID|" \
	"$(ids_of "$SERVE_PID" Gid)|$(ids_of "$SERVE_PID" Groups | tr -d ' ')"
S1=$(signer_pid)
L=$(ppid_of "$S1")
check_true "the signer's parent is a launcher, the server's child" \
	[ -n "$L" -a "$L" != "$SERVE_PID" -a "$(ppid_of "$L")" = "$SERVE_PID" ]
check_match "  ... which runs as devtrust serve --key-launcher" "--key-launcher" \
	"$(tr '\0' ' ' <"/proc/$L/cmdline")"
check_eq "the launcher runs as --signer-user" "$SIG_UID $SIG_UID $SIG_UID $SIG_UID" \
	"$(ids_of "$L" Uid)"
check_eq "the signer runs as --signer-user" "$SIG_UID $SIG_UID $SIG_UID $SIG_UID" \
	"$(ids_of "$S1" Uid)"
check_eq "  ... with the server's group as its only other group (to reach the data dir)" \
	"$SRV_GID" "$(ids_of "$S1" Groups | tr -d ' ')"
check_eq "the signer has no capability" "0000000000000000" \
	"$(awk '/^CapEff:/ { print $2 }' "/proc/$S1/status")"

# ---- The files ----
D=$DEVTRUST_DATA
check_eq "the data dir is the server user's, 0750" "$SRV:$SRV 750" "$(owner "$D")"
check_eq "the database is the server user's, 0600" "$SRV:$SRV 600" "$(owner "$D/devtrust.db")"
check_eq "DATA/keys is the signer user's, the server's group, 1770" "$SIG:$SRV 1770" \
	"$(owner "$D/keys")"
check_eq "the root CA key is the signer user's, 0600" "$SIG:$SIG 600" "$(owner "$D/keys/root.key")"
check_eq "the issuing CA key is the signer user's, 0600" "$SIG:$SIG 600" \
	"$(owner "$D/keys/default.key")"
check_eq "the TLS key is the server user's, 0600" "$SRV:$SRV 600" "$(owner "$D/keys/tls.key")"
check_eq "the OCSP signer's key is the server user's, 0600" "$SRV:$SRV 600" \
	"$(owner "$D/keys/default-ocsp.key")"
check_eq "the passphrase can be read by the server's group (the signer), 0640" "$SRV:$SRV 640" \
	"$(owner "$D/secrets/passphrase")"
check_err "the server's user cannot read a CA key file" 1 "Permission denied" \
	runuser -u "$SRV" -- cat "$D/keys/root.key"
check "  ... but its own TLS key (the same directory)" \
	runuser -u "$SRV" -- cat "$D/keys/tls.key"
check_err "the server's user cannot remove a CA key file (sticky directory)" 1 \
	"Operation not permitted" runuser -u "$SRV" -- rm -f "$D/keys/default.key"
check_err "the server's user cannot signal the signer" 1 "Operation not permitted" \
	runuser -u "$SRV" -- kill -0 "$S1"
check_err "the signer's user cannot read the database" 1 "Permission denied" \
	runuser -u "$SIG" -- cat "$D/devtrust.db"

# ---- Work as before ----
for ca in root default; do
	dt ca cert "$ca" --out "$W/out/$ca.pem" >/dev/null && cp "$W/out/$ca.pem" "$W/$ca.pem"
done
cat "$W/root.pem" "$W/default.pem" >"$W/chain.pem"
check "EST enrollment works (curl, token)" enroll d1
check "  ... and the certificate verifies against the chain (openssl verify)" verify_chain "$W/d1.pem"
check_eq "the CRL is served" 200 "$(http_code /crl/default.crl)"
cp "$W/body" "$W/default.crl"
check_out "  ... and verifies against the issuing CA (openssl crl -CAfile)" "verify OK" \
	openssl crl -inform DER -in "$W/default.crl" -CAfile "$W/chain.pem" -noout
kill -KILL "$S1"
restarted() { p=$(signer_pid) && [ -n "$p" ] && [ "$p" != "$S1" ] && kill -0 "$p" 2>/dev/null; }
check "a killed signer is started again" poll_ms 10000 restarted
S2=$(signer_pid)
check_eq "  ... by the launcher, as --signer-user" "$L $SIG_UID" \
	"$(ppid_of "$S2") $(ids_of "$S2" Uid | cut -d' ' -f1)"
check "  ... and enrollment goes on" enroll d2
check "  ... (openssl verify)" verify_chain "$W/d2.pem"

# ---- CLI commands run as root on the live data dir: as the server's user ----
check_err "devtrust serve as root without --user on this data dir is refused, naming the options" \
	1 "belongs to $SRV: as root, start the server with --user $SRV --signer-user $SIG" \
	dt serve --listen 127.0.0.1:1 --listen-http 127.0.0.1:1
check "devtrust ca add, run as root while the server runs" dt ca add sub2
check_eq "  ... its key was made by a signer under the signer user" "$SIG:$SIG 600" \
	"$(owner "$D/keys/sub2.key")"
sub2_crl() { [ "$(http_code /crl/sub2.crl)" = 200 ]; }
check "  ... and the server's signer signs its CRL with it" poll_ms 15000 sub2_crl
check "devtrust ca renew-ocsp, run as root" dt ca renew-ocsp default
mkdir -m 0700 "$W/root-only"
check_err "a root command's output in a directory of root's: refused, saying which user it ran as" \
	1 "Permission denied" dt crl --ca default --out "$W/root-only/x.crl"
check_match "  ... the message says the command runs as $SRV, the data dir's owner" \
	"the command runs as $SRV, its owner" "$(cat "$WORK/last.err")"
check_eq "  ... and leaves nothing behind" "" "$(ls -A "$W/root-only")"
newest=$(ls -t "$D/keys" | grep '^default-ocsp\.' | head -1)
check_eq "  ... the new OCSP key goes to the server user" "$SRV:$SRV 600" "$(owner "$D/keys/$newest")"

serve_stop 10
check_eq "SIGTERM: the server exits 0" 0 "$?"
check_match "  ... and its log says stopped" '"event":"stopped"' "$(cat "$SERVE_LOG")"
left() { pgrep -u "$SRV,$SIG" >/dev/null; }
gone() { ! left; }
check "  ... and no process of either user is left" poll_ms 5000 gone

# ---- What the server's user may have left in the data dir ----
start_refused() { # NAME REGEX [DATA] [SERVE-ARGS]: serve --user ... refuses to start
	local name=$1 re=$2 data=${3:-$D}
	shift 3
	check_err "$name" 1 "$re" timeout 20 "$DT" --data "$data" serve \
		--listen "127.0.0.1:$HTTPS_PORT" --listen-http "127.0.0.1:$HTTP_PORT" \
		--user "$SRV" "$@"
}
# A later start walks nothing (root has not written there since): it only checks that
# the signer user is the same. A renamed DATA/keys, and another in its place:
runuser -u "$SRV" -- mv "$D/keys" "$D/k2"
runuser -u "$SRV" -- mkdir -m 1770 "$D/keys"
start_refused "a DATA/keys that is not the signer user's stops a later start" \
	"keys belongs to uid $SRV_UID, not to $SIG" "$D" --signer-user "$SIG"
check_eq "  ... and the CA keys stay the signer user's" "$SIG:$SIG 600 $SIG:$SIG 600" \
	"$(owner "$D/k2/root.key") $(owner "$D/k2/default.key")"
rmdir "$D/keys"
mv "$D/k2" "$D/keys"
start_refused "--user alone on a data dir given to a signer user is refused (no silent change)" \
	"keys belongs to uid $SIG_UID, not to $SRV" "$D"
# Below a directory the server's user may write, it could swap the data dir for a link
# to /: root refuses to work there at all.
mkdir "$W/uhome"
chown "$SRV" "$W/uhome"
cp -a "$D" "$W/uhome/data"
start_refused "a data dir below a directory the server's user may write: serve --user refuses" \
	"a directory above the data dir .* is not root's or is writable by others" \
	"$W/uhome/data" --signer-user "$SIG"
check_err "  ... and so does any command run as root on it" 1 \
	"a directory above the data dir" dt --data "$W/uhome/data" device list
rm -rf "$W/uhome"
# In a sticky directory the server's user may put a link of its own where root looks
# for the data dir, or move DATA/keys (the signer user's, sticky) into its place.
mkdir -m 1777 "$W/sticky"
runuser -u "$SRV" -- ln -s / "$W/sticky/x"
check_err "a data dir that is a link of the server's user: a root command refuses it" 1 \
	"is a symbolic link of uid $SRV_UID" dt --data "$W/sticky/x" device list
install -d -o "$SIG" -g "$SRV" -m 1770 "$W/sticky/k"
check_err "a DATA/keys in a data dir's place: a root command refuses to become its owner" 1 \
	"is not laid out as a data dir of uid $SIG_UID" dt --data "$W/sticky/k" device list
rm -rf "$W/sticky"

# ---- A restart after root used the data dir ----
dt device add d3 --class pump --serial SN-d3 >/dev/null
# The server's user owns the data dir: what it leaves there (links, a hard link, files
# of others) must not lead root's start to give anything away.
touch "$W/victim" "$W/victim2"
chmod 0644 "$W/victim" "$W/victim2"
runuser -u "$SRV" -- ln -s "$W/victim" "$D/evil"
runuser -u "$SRV" -- ln -s "$W/victim2" "$D/keys/evil.key"
install -m 0644 /dev/null "$W/victim3"
ln "$W/victim3" "$D/hardlink"
install -o nobody -m 0644 /dev/null "$D/stranger"
install -o root -m 0644 /dev/null "$D/rootfile"
"$DT" serve --listen "127.0.0.1:$HTTPS_PORT" --listen-http "127.0.0.1:$HTTP_PORT" \
	--user "$SRV" --signer-user "$SIG" 2>"$W/serve2.log" &
SERVE_PID=$!
BG_PIDS="$BG_PIDS $SERVE_PID"
up() { curl -sf --max-time 1 "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null; }
check "serve starts again after CLI commands as root" poll_ms 15000 up
check_eq "  ... root made no file there (its commands ran as the server's user)" \
	"$(printf '%s\n' "$W/victim3" "$D/hardlink" "$D/rootfile" "$D/stranger" | sort | tr '\n' ' ' | sed 's/ $//')" \
	"$(find "$D" "$W/victim3" ! -user "$SRV" ! -user "$SIG" -printf '%p\n' | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "  ... and nothing planted there was given away or changed" \
	"root:root 644 root:root 644 root:root 644 root:root 644 nobody:root 644" \
	"$(owner "$W/victim") $(owner "$W/victim2") $(owner "$W/victim3") $(owner "$D/rootfile") $(owner "$D/stranger")"
serve_stop 10
check_eq "SIGTERM: it exits 0" 0 "$?"
rm -f "$D/hardlink" "$D/stranger" "$D/rootfile" "$D/evil" "$D/keys/evil.key"

# ---- The first start walks a data dir of root's: what stops it ----
D2=$W/data2
dt --data "$D2" init --org testorg >/dev/null
ln "$W/victim3" "$D2/hardlink"
start_refused "a file with a second hard link stops the first start" \
	"hardlink has 2 hard links" "$D2"
check_eq "  ... and what it links to is untouched, and so is the data dir" \
	"root:root 644 root:root 700 root:root 600" \
	"$(owner "$W/victim3") $(owner "$D2") $(owner "$D2/devtrust.db")"
rm -f "$D2/hardlink"
install -o nobody -m 0644 /dev/null "$D2/stranger"
start_refused "a file of another user stops the first start" \
	"stranger belongs to uid $(id -u nobody)" "$D2"
check_eq "  ... and it stays that user's" "nobody:root 644" "$(owner "$D2/stranger")"
rm -f "$D2/stranger"

# ---- --user alone: the signer runs as the server's user ----
"$DT" --data "$D2" serve --listen "127.0.0.1:$HTTPS_PORT" --listen-http "127.0.0.1:$HTTP_PORT" \
	--user "$SRV" 2>"$W/serve3.log" &
SERVE_PID=$!
BG_PIDS="$BG_PIDS $SERVE_PID"
check "serve starts with --user alone" poll_ms 15000 up
SERVE_LOG=$W/serve3.log
S3=$(signer_pid)
check_eq "  ... its signer is its own child, as --user" "$SERVE_PID $SRV_UID" \
	"$(ppid_of "$S3") $(ids_of "$S3" Uid | cut -d' ' -f1)"
check_eq "  ... and the data dir is the server user's alone (0700, CA keys too)" \
	"$SRV:$SRV 700 $SRV:$SRV 700 $SRV:$SRV 600" \
	"$(owner "$D2") $(owner "$D2/keys") $(owner "$D2/keys/root.key")"
serve_stop 10
check_eq "SIGTERM: it exits 0" 0 "$?"

# ---- A data dir the user cannot reach ----
mkdir -m 0700 "$W/closed"
mv "$D2" "$W/closed/data"
check_err "a data dir below a directory closed to --user is refused, with the reason" 1 \
	"cannot reach the data dir" dt --data "$W/closed/data" serve --user "$SRV"
