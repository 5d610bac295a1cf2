#!/bin/bash
# The hash-chained audit log: intact after real work, and each kind of
# tampering done behind devtrust's back with the sqlite3 CLI is caught at the
# first event it breaks.
. "$(dirname "$0")/lib.sh"

D=$DEVTRUST_DATA
check "init and a class" setup_basic
# A realistic series of operations, each appending audit events.
for i in 1 2 3; do new_device "a-$i"; done
issue a-1 "$WORK/a1.pem" >/dev/null
issue a-2 "$WORK/a2.pem" >/dev/null
dt device suspend a-1 --reason "check" >/dev/null
dt device resume a-1 >/dev/null
dt device retire a-2 --reason "replaced" >/dev/null
dt cert revoke "$(serial_of "$WORK/a1.pem")" --reason superseded >/dev/null
dt crl --ca default --out "$WORK/x.crl" >/dev/null
dt ca add vendor-x >/dev/null
dt device token a-3 >/dev/null

N=$(sqlite3 "$D/devtrust.db" 'select count(*) from audit')
check_true "the operations wrote audit events ($N)" test "$N" -ge 12
check_out "audit verify passes on an untouched log" "intact: $N events verified" dt audit verify
check_out "audit verify --json says ok" '"ok": true' dt --json audit verify
check_match "audit verify --json counts every event" "\"verified\": $N," "$(cat "$WORK/last.out")"
check_out "audit list shows the lifecycle actions" "device\.retire" dt audit list

# copy_data NAME: a fresh copy of the data dir to tamper with.
copy_data() {
	rm -rf "${WORK:?}/${1:?}"
	cp -a "$D" "$WORK/$1"
	echo "$WORK/$1"
}
sq() { sqlite3 "$1/devtrust.db" "$2"; }
M=$((N / 2)) # a middle event

C=$(copy_data edit)
sq "$C" "update audit set reason = 'nothing to see' where seq = $M"
check_err "edited reason: verify exits 1 naming event $M" 1 "broken at event $M\b" dt --data "$C" audit verify
dt --data "$C" --json audit verify >"$WORK/j.out" 2>/dev/null
check_match "edited reason: --json first_broken is $M" "\"first_broken\": $M," "$(cat "$WORK/j.out")"
check_match "edited reason: --json ok is false" '"ok": false' "$(cat "$WORK/j.out")"

C=$(copy_data edit-actor)
sq "$C" "update audit set actor = 'someone-else' where seq = 2"
check_err "edited actor of event 2: verify names event 2" 1 "broken at event 2\b" dt --data "$C" audit verify

C=$(copy_data edit-last)
sq "$C" "update audit set details = '{}' where seq = $N"
check_err "edited details of the last event: verify names event $N" 1 "broken at event $N\b" dt --data "$C" audit verify

C=$(copy_data delete)
sq "$C" "delete from audit where seq = $M"
check_err "deleted middle row: verify exits 1 naming the gap at $M/$((M + 1))" 1 \
	"broken at event ($M|$((M + 1)))\b" dt --data "$C" audit verify

C=$(copy_data delete-first)
sq "$C" "delete from audit where seq = 1"
check_err "deleted first row: verify exits 1 naming event 1 or 2" 1 "broken at event (1|2)\b" dt --data "$C" audit verify

C=$(copy_data insert)
# Make room at $M and forge an event there that links to its predecessor.
sq "$C" "update audit set seq = seq + 100000 where seq >= $M;
	update audit set seq = seq - 99999 where seq >= 100000;
	insert into audit(seq, time, actor, action, object, reason, details, prev_hash, hash)
	  select $M, time, actor, 'cert.revoke', 'a-3', 'forged', '{}', hash, hash
	  from audit where seq = $((M - 1));"
check_eq "insert: the forged row is in place" "$((N + 1))" "$(sq "$C" 'select count(*) from audit')"
check_err "inserted row: verify exits 1 naming event $M" 1 "broken at event $M\b" dt --data "$C" audit verify

C=$(copy_data append)
sq "$C" "insert into audit(seq, time, actor, action, object, reason, details, prev_hash, hash)
	  select seq + 1, time, actor, action, object, 'appended', details, hash, hash
	  from audit where seq = $N;"
check_err "appended forged row: verify names event $((N + 1))" 1 "broken at event $((N + 1))\b" dt --data "$C" audit verify

C=$(copy_data swap)
sq "$C" "update audit set seq = -1 where seq = $M;
	update audit set seq = $M where seq = $((M + 1));
	update audit set seq = $((M + 1)) where seq = -1;"
check_err "swapped seq of events $M and $((M + 1)): verify names event $M" 1 "broken at event $M\b" \
	dt --data "$C" audit verify

C=$(copy_data hash)
sq "$C" "update audit set hash = randomblob(32) where seq = $M"
check_err "overwritten hash: verify names event $M" 1 "broken at event $M\b" dt --data "$C" audit verify

# The tampering happened on copies: the real log still verifies.
check_out "original data dir still verifies" "intact" dt audit verify
