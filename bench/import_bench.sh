#!/usr/bin/env bash
# Inventory at fleet scale: `devtrust device import` of an N-device CSV
# (goal <= 60 s for 1,000,000), with and without --tokens-out, then each
# `devtrust report` on that inventory with synthetic certificates beside it
# (goal <= 1 s each; median of REPORT_RUNS runs).
# Usage: BUILD=build-bench bench/import_bench.sh [N_DEVICES] [N_CERTS]
set -euo pipefail

N=${1:-1000000}
NCERTS=${2:-100000}
REPORT_RUNS=${REPORT_RUNS:-3}
BUILD=${BUILD:-build-bench}
BIN=$(cd "$(dirname "$BUILD/devtrust")" && pwd)/devtrust
IMPORT_GOAL=60
REPORT_GOAL=1
export DEVTRUST_PASSPHRASE=${DEVTRUST_PASSPHRASE:-bench-passphrase-not-secret}

[ -x "$BIN" ] || { echo "import_bench: $BIN missing: make BUILD=$BUILD first" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "import_bench: needs the sqlite3 CLI" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/devtrust-import-XXXXXX")
trap 'rm -rf "$WORK"' EXIT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", b - a }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v <= g ? "MET" : "NOT MET") }'; }

# A fleet: 3 classes, 24 manufacturers, 60 models, 250 owners, 120 sites,
# criticality skewed towards medium. Deterministic (awk's default seed).
t0=$(now)
awk -v n="$N" 'BEGIN {
	OFS = ","
	split("sensor gateway camera", cls, " ")
	split("low medium medium medium high life-critical", crit, " ")
	print "id,class,serial,manufacturer,model,firmware,owner,location,criticality"
	for (i = 0; i < n; i++) {
		m = int(rand() * 24)
		printf "dev-%07d,%s,SN%010d,Maker %02d Inc.,M%02d-%d,%d.%d.%d,team-%03d,site-%03d,%s\n", \
			i, cls[i % 3 + 1], i * 7 + 3, m, m, int(rand() * 60), \
			1 + int(rand() * 3), int(rand() * 10), int(rand() * 20), \
			int(rand() * rand() * 250), int(rand() * 120), crit[int(rand() * 6) + 1]
	}
}' >"$WORK/fleet.csv"
echo "setup: $N-device CSV ($(du -h "$WORK/fleet.csv" | cut -f1)) in $(secs "$t0" "$(now)") s"

# Two identical data dirs: one imports without tokens, one with --tokens-out.
for d in plain tokens; do
	"$BIN" --data "$WORK/$d" init --org BenchOrg >/dev/null
	"$BIN" --data "$WORK/$d" class add sensor --ca default --key-types ec-p256 >/dev/null
	"$BIN" --data "$WORK/$d" class add gateway --ca default --key-types ec-p256,ec-p384 >/dev/null
	"$BIN" --data "$WORK/$d" class add camera --ca default --key-types ec-p256,rsa-2048 >/dev/null
done

t0=$(now)
"$BIN" --data "$WORK/plain" device import "$WORK/fleet.csv" >/dev/null
t_plain=$(secs "$t0" "$(now)")
echo "device import:               ${t_plain} s"
t0=$(now)
"$BIN" --data "$WORK/tokens" device import "$WORK/fleet.csv" --tokens-out "$WORK/tokens.csv" >/dev/null
t_tokens=$(secs "$t0" "$(now)")
echo "device import --tokens-out:  ${t_tokens} s ($(($(wc -l <"$WORK/tokens.csv") - 1)) tokens)"
rm -rf "$WORK/tokens" "$WORK/tokens.csv"

# Certificates beside the inventory, straight into the store (issuing them for
# real would take longer than the whole benchmark): every 10th device holds a
# valid certificate, and is active; a few findings of each kind are planted.
t0=$(now)
sqlite3 "$WORK/plain/devtrust.db" >/dev/null <<SQL
PRAGMA journal_mode=OFF;
PRAGMA synchronous=OFF;
PRAGMA cache_size=-1000000;
BEGIN;
CREATE TEMP TABLE holders AS SELECT rowid AS r, id, class FROM devices WHERE rowid % 10 = 0 LIMIT $NCERTS;
INSERT INTO certs(serial,device_id,ca,class,key_type,spki_hash,not_before,not_after,status,
                  reason,revoked_at,issued_at,der)
SELECT lower(hex(randomblob(16))), id, 'default', class,
       -- 1 in 100 an RSA-2048 key: weak in classes sensor and gateway
       CASE WHEN r % 1000 = 70 THEN 4 ELSE 1 END,
       -- pairs of devices sharing a key: duplicates
       CASE WHEN r % 10000 IN (0, 10) THEN CAST(printf('%032d', r / 10000) AS BLOB)
            ELSE randomblob(32) END,
       unixepoch() - 86400, unixepoch() + 3600 + abs(random() % (90 * 86400)), 0, 0, 0,
       unixepoch() - 86400, x'00'
FROM holders;
UPDATE devices SET state = 1 WHERE rowid IN (SELECT r FROM holders);
-- drift: suspended devices with a valid certificate, active ones without
UPDATE devices SET state = 2 WHERE rowid % 2000 = 0;
UPDATE devices SET state = 1 WHERE rowid % 5000 = 1;
COMMIT;
PRAGMA journal_mode=WAL;
SQL
echo "setup: $(sqlite3 "$WORK/plain/devtrust.db" 'SELECT count(*) FROM certs WHERE status = 0') synthetic valid certificates in $(secs "$t0" "$(now)") s"

declare -A rep_n
reports=("expiring --within 30d" "drift" "duplicates" "weak")
for k in "${reports[@]}"; do : >"$WORK/times.$k"; done
# Alternate the four reports, REPORT_RUNS rounds.
for ((r = 0; r < REPORT_RUNS; r++)); do
	for k in "${reports[@]}"; do
		t0=$(now)
		# shellcheck disable=SC2086 # $k is the report and its options
		"$BIN" --data "$WORK/plain" report $k >"$WORK/out"
		secs "$t0" "$(now)" >>"$WORK/times.$k"
		rep_n[$k]=$(wc -l <"$WORK/out")
	done
done

echo
echo "RESULT inventory, $N devices, $NCERTS valid certificates"
printf '%-36s %8s s   goal <= %d s: %s\n' "device import" "$t_plain" $IMPORT_GOAL "$(verdict "$t_plain" $IMPORT_GOAL)"
printf '%-36s %8s s   goal <= %d s: %s\n' "device import --tokens-out" "$t_tokens" $IMPORT_GOAL "$(verdict "$t_tokens" $IMPORT_GOAL)"
for k in "${reports[@]}"; do
	m=$(median <"$WORK/times.$k")
	printf '%-36s %8s s   goal <= %d s: %-7s (median of %d; %s lines of output)\n' \
		"report $k" "$m" $REPORT_GOAL "$(verdict "$m" $REPORT_GOAL)" "$REPORT_RUNS" "${rep_n[$k]}"
done
