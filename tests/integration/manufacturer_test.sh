#!/bin/bash
# Manufacturer trust anchors through the CLI: add (PEM and DER), list (text
# and --json), the refusals (not a CA, duplicate, bad input), the audit event.
. "$(dirname "$0")/lib.sh"

check "init and a class" setup_basic
M="$WORK/maker"
mkdir -p "$M"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$M/root.key" \
	-subj "/O=Acme/CN=Acme IDevID Root" -days 3650 -addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$M/root.pem" 2>/dev/null
openssl x509 -in "$M/root.pem" -outform DER -out "$M/root.der"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$M/leaf.key" \
	-subj "/O=Acme/CN=idevid/serialNumber=ACME-1" -out "$M/leaf.csr" 2>/dev/null
openssl x509 -req -in "$M/leaf.csr" -CA "$M/root.pem" -CAkey "$M/root.key" -CAcreateserial \
	-days 365 -extfile <(printf 'basicConstraints=CA:FALSE\n') -out "$M/leaf.pem" 2>/dev/null
fp=$(openssl x509 -in "$M/root.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : |
	tr 'A-F' 'a-f')

check_out "manufacturer add (PEM) prints the fingerprint" "added anchor $fp" \
	dt manufacturer add "Acme Medical GmbH" --anchor "$M/root.pem"
check "manufacturer add (DER) --json for a second maker" \
	dt --json manufacturer add "Acme OEM" --anchor "$M/root.der"
check_eq "add --json names the manufacturer" "Acme OEM" "$(jstr manufacturer <"$WORK/last.out")"
check_eq "add --json gives the SHA-256 fingerprint" "$fp" "$(jstr fingerprint <"$WORK/last.out")"
check_err "the same anchor twice is refused" 1 "already has this anchor" \
	dt manufacturer add "Acme Medical GmbH" --anchor "$M/root.pem"
check_err "a leaf is not an anchor" 1 "CA:TRUE" dt manufacturer add Acme --anchor "$M/leaf.pem"
printf 'garbage' >"$M/garbage"
check_err "garbage is refused" 1 "neither a PEM nor a DER" \
	dt manufacturer add Acme --anchor "$M/garbage"
check_err "a missing file is refused" 1 "cannot open" \
	dt manufacturer add Acme --anchor "$M/nosuch.pem"
check_err "an empty name is refused" 1 "empty" dt manufacturer add "" --anchor "$M/root.pem"
check_exit "add without --anchor is a usage error" 2 dt manufacturer add Acme
check_exit "add without a name is a usage error" 2 dt manufacturer add --anchor "$M/root.pem"
check_exit "an unknown subcommand is a usage error" 2 dt manufacturer remove Acme

check_out "manufacturer list shows the anchor" "Acme Medical GmbH +$fp" dt manufacturer list
list=$(dt --json manufacturer list)
check_eq "list --json has both anchors" "2" "$(printf '%s\n' "$list" | grep -c '"fingerprint"')"
check_match "list --json has the subject" '"subject": "CN=Acme IDevID Root,O=Acme"' "$list"
check_eq "two manufacturer.add audit events" "2" \
	"$(sqlite3 "$DEVTRUST_DATA/devtrust.db" "select count(*) from audit where action='manufacturer.add'")"
check "audit chain verifies" dt audit verify
