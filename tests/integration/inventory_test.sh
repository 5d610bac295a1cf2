#!/bin/bash
# Inventory through the CLI: device records, list filters, all-or-nothing CSV
# import, enrollment tokens, the lifecycle rules, and the key-reuse rules.
. "$(dirname "$0")/lib.sh"

D=$DEVTRUST_DATA
check "init and a class" setup_basic
dt class add monitor --ca default >/dev/null

# --- device add ----------------------------------------------------------
check "device add with every field --json" dt --json device add pump-001 --class pump --serial SN-1 \
	--manufacturer Acme --model P100 --firmware 2.4.1 --owner icu --location "ward 3" \
	--criticality life-critical
j=$(cat "$WORK/last.out")
check_eq "json id" "pump-001" "$(printf '%s' "$j" | jstr id)"
check_eq "json state is registered" "registered" "$(printf '%s' "$j" | jstr state)"
tok=$(printf '%s' "$j" | jstr enrollment_token)
check_match "json enrollment_token is 32 hex digits" "^[0-9a-f]{32}$" "$tok"
check_eq "json echoes the record" "SN-1|Acme|P100|2.4.1|icu|ward 3|life-critical" \
	"$(for k in serial manufacturer model firmware owner location criticality; do printf '%s' "$j" | jstr $k; done | paste -sd'|')"
check_eq "the token is not stored in clear" "0" "$(cat "$D"/devtrust.db* | grep -c "$tok")"

check_err "duplicate device id exits 1" 1 "already exists" dt device add pump-001 --class pump
check_err "unknown class exits 1" 1 "class" dt device add pump-002 --class nosuch
got=$(
	dt device add pump-003 --class pump --criticality extreme >/dev/null 2>&1
	echo $?
)
check_match "bad criticality exits 2 (usage) or 1" "^[12]$" "$got"
check_exit "device add without --class is a usage error" 2 dt device add pump-004
check_eq "refused adds created nothing" "pump-001" "$(sqlite3 "$D/devtrust.db" 'select group_concat(id) from devices')"

# --- list filters ----------------------------------------------------------
dt device add m-1 --class monitor --owner radiology --manufacturer Zeta >/dev/null
dt device add m-2 --class monitor --owner icu --manufacturer Zeta >/dev/null
dt device add p-2 --class pump --owner radiology --manufacturer Acme >/dev/null
ids() { dt --json device list "$@" | jstr_all id; }
jstr_all() { sed -n "s/^ *\"$1\": \"\\([^\"]*\\)\",\\{0,1\\}\$/\\1/p" | sort | paste -sd' '; }
check_eq "list --class monitor" "m-1 m-2" "$(ids --class monitor)"
check_eq "list --owner radiology" "m-1 p-2" "$(ids --owner radiology)"
check_eq "list --manufacturer Acme" "p-2 pump-001" "$(ids --manufacturer Acme)"
check_eq "list --class pump --owner icu" "pump-001" "$(ids --class pump --owner icu)"
mkcsr "$WORK/m2.csr"
dt cert issue --device m-2 --csr "$WORK/m2.csr" --out "$WORK/m2.pem" >/dev/null
check_eq "first issuance activates a registered device" "active" "$(dt --json device show m-2 | jstr state)"
check_eq "list --state active" "m-2" "$(ids --state active)"
check_eq "list --state registered" "m-1 p-2 pump-001" "$(ids --state registered)"
check_exit "list --state bogus is a usage error" 2 dt device list --state bogus

dt device suspend m-2 --reason "battery swap" >/dev/null
show=$(dt --json device show m-2)
check_match "device show --json lists its certificate" "\"serial\": \"$(serial_of "$WORK/m2.pem")\"" "$show"
check_match "device show --json shows the cert on hold" '"status": "on-hold"' "$show"
check_match "device show --json timeline has add, activate, suspend" \
	'device\.add.*device\.activate.*device\.suspend' "$(printf '%s' "$show" | tr -d '\n')"
check_match "timeline keeps the suspend reason" '"reason": "battery swap"' "$show"
check_exit "device show of an unknown device exits 1" 1 dt device show nosuch

# --- CSV import ---------------------------------------------------------------
H=id,class,serial,manufacturer,model,firmware,owner,location,criticality
printf '%s\r\nc-1,pump,S-c1,Acme,P100,1.0,ops,"room 1, bed 2",high\r\nc-2,monitor,S-c2,Zeta,M9,2.0,ops,room 2,\r\nc-3,pump,S-c3,Acme,P100,1.0,ops,room 3,low\r\n' "$H" >"$WORK/good.csv"
check_out "import a good file (CRLF, quoted comma)" "imported 3 devices" \
	dt device import "$WORK/good.csv" --tokens-out "$WORK/tokens.csv"
check_eq "imported devices are registered with their fields" "c-1|pump|room 1, bed 2|high" \
	"$(sqlite3 "$D/devtrust.db" "select id||'|'||class||'|'||location from devices where id='c-1'")|$(dt --json device show c-1 | jstr criticality)"
check_eq "empty criticality defaults to medium" "medium" "$(dt --json device show c-2 | jstr criticality)"
check_eq "--tokens-out file is 0600" "600" "$(mode_of "$WORK/tokens.csv")"
check_eq "--tokens-out has one token per device" "c-1 c-2 c-3" \
	"$(tail -n +2 "$WORK/tokens.csv" | grep -E '^[^,]+,[0-9a-f]{32}$' | cut -d, -f1 | sort | paste -sd' ')"
check_eq "tokens are distinct" 3 "$(tail -n +2 "$WORK/tokens.csv" | cut -d, -f2 | sort -u | wc -l)"
check_err "--tokens-out never overwrites a file" 1 "exists" \
	dt device import "$WORK/good.csv" --tokens-out "$WORK/tokens.csv"

before=$(db_counts)
printf '%s\nn-1,pump,S1,Acme,P,1,o,l,high\nn-2,pump,S2,Acme,P,1,o,l,low\nn-3,pump,S3,Acme,P,1,o,l,extreme\nn-4,pump,S4,Acme,P,1,o,l,low\n' "$H" >"$WORK/badcrit.csv"
check_err "a bad criticality on the 3rd data row is refused, naming line 4 and the field" 1 \
	"line 4.*criticality" dt device import "$WORK/badcrit.csv" --tokens-out "$WORK/t2.csv"
check_eq "nothing from that file was imported (devices, audit)" "$before" "$(db_counts)"
check_eq "no token file (or temp file) is left by a failed import" "" "$(ls "$WORK" | grep '^t2\.csv')"
check_exit "rows before the bad one are not in the inventory" 1 dt device show n-1

printf '%s\nd-1,pump,,,,,,,\nd-2,pump,,,,,,,\nd-1,pump,,,,,,,\n' "$H" >"$WORK/dup.csv"
check_err "duplicate id inside the file is refused, naming line 4 and id" 1 "line 4.*id" \
	dt device import "$WORK/dup.csv"
check_eq "duplicate file imported nothing" "$before" "$(db_counts)"
printf '%s\nu-1,pump,,,,,,,\nu-2,ghost,,,,,,,\n' "$H" >"$WORK/cls.csv"
check_err "unknown class in the file is refused, naming line 3 and class" 1 "line 3.*class" \
	dt device import "$WORK/cls.csv"
check_eq "unknown-class file imported nothing" "$before" "$(db_counts)"
printf '%s\nc-1,pump,,,,,,,\n' "$H" >"$WORK/exists.csv"
check_err "an id already in the inventory is refused" 1 "line 2.*already exists" dt device import "$WORK/exists.csv"
printf 'id,class,colour\nz-1,pump,red\n' >"$WORK/hdr.csv"
check_err "an unknown column is refused" 1 "line 1.*colour" dt device import "$WORK/hdr.csv"
check_eq "still nothing imported" "$before" "$(db_counts)"

# --- lifecycle -------------------------------------------------------------------
check_err "resume of a registered device names its state and the allowed ones" 1 \
	"registered.*retire, compromised" dt device resume pump-001
check_err "suspend of a registered device is refused" 1 "is registered" dt device suspend pump-001
check_out "resume of a suspended device" "is now active" dt device resume m-2
check_err "resume of an active device is refused (names suspend as allowed)" 1 \
	"is active.*allowed from active: suspend, retire, compromised" dt device resume m-2
check_out "retire an active device" "retired" dt device retire m-2 --reason "end of life"
for v in resume suspend retire compromised; do
	check_err "retired is terminal: $v refused" 1 "terminal" dt device "$v" m-2
done
check_out "compromised from registered" "compromised" dt device compromised p-2
check_err "compromised is terminal" 1 "terminal" dt device retire p-2
check_eq "state after the refusals is still retired" "retired" "$(dt --json device show m-2 | jstr state)"
check_match "retiring revoked the certificate" '"status": "revoked"' "$(dt --json device show m-2)"

# --- enrollment tokens ------------------------------------------------------------
h1=$(sqlite3 "$D/devtrust.db" "select hex(token_hash) from devices where id='m-1'")
t1=$(dt device token m-1)
check_match "device token prints a fresh 32-hex token" "^[0-9a-f]{32}$" "$t1"
t2=$(dt device token m-1)
check_true "each token call gives a different token" test "$t1" != "$t2"
check_true "the stored token hash changed" test "$h1" != "$(sqlite3 "$D/devtrust.db" "select hex(token_hash) from devices where id='m-1'")"
check_err "no token for a retired device" 1 "retired" dt device token m-2

# --- issuance rules ------------------------------------------------------------------
mkcsr "$WORK/r.csr"
check_err "cert issue for a retired device exits 1" 1 "retired" \
	dt cert issue --device m-2 --csr "$WORK/r.csr" --out "$WORK/r.pem"
check_err "cert issue for a compromised device exits 1" 1 "compromised" \
	dt cert issue --device p-2 --csr "$WORK/r.csr" --out "$WORK/r.pem"
dt device add s-1 --class pump >/dev/null
mkcsr "$WORK/s1.csr"
dt cert issue --device s-1 --csr "$WORK/s1.csr" --out "$WORK/s1.pem" >/dev/null
dt device suspend s-1 >/dev/null
check_err "cert issue for a suspended device exits 1" 1 "suspended" \
	dt cert issue --device s-1 --csr "$WORK/r.csr" --out "$WORK/r.pem"
check_err "no enrollment token for a suspended device" 1 "suspended" dt device token s-1
check_err "cert issue for an unknown device exits 1" 1 "nosuch" \
	dt cert issue --device nosuch --csr "$WORK/r.csr" --out "$WORK/r.pem"

mkcsr "$WORK/k.csr"
check "issue for c-1" dt cert issue --device c-1 --csr "$WORK/k.csr" --out "$WORK/k1.pem"
check_err "the same key for a second device is refused" 1 "another device" \
	dt cert issue --device c-3 --csr "$WORK/k.csr" --out "$WORK/k3.pem"
# The same key signed into a new CSR with different names is still the same key.
openssl req -new -key "$WORK/k.csr.key" -subj "/CN=c-3" -out "$WORK/k-again.csr" 2>/dev/null
check_err "a new CSR over the same key is refused too" 1 "another device" \
	dt cert issue --device c-3 --csr "$WORK/k-again.csr" --out "$WORK/k3.pem"
check "the same device may renew with its key" dt cert issue --device c-1 --csr "$WORK/k.csr" --out "$WORK/k1b.pem"
dt cert revoke "$(serial_of "$WORK/k1.pem")" --reason keyCompromise >/dev/null
check_err "a key from a revoked certificate is refused, even for its own device" 1 "revoked" \
	dt cert issue --device c-1 --csr "$WORK/k.csr" --out "$WORK/k1c.pem"
check_eq "c-1 has exactly the two certs issued before" 2 \
	"$(sqlite3 "$D/devtrust.db" "select count(*) from certs where device_id='c-1'")"
