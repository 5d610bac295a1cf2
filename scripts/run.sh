#!/bin/bash
# make run: create the data dir on first run, then start the server on it.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DATA=${DATA:-./devtrust-data}
DT="$BUILD/devtrust"
export DEVTRUST_DATA="$DATA"

if [ ! -f "$DATA/devtrust.db" ]; then
	echo "== first run: creating $DATA"
	"$DT" init --org "${DEVTRUST_ORG:-example-hospital}"
	"$DT" class add infusion-pump --ca default --lifetime 30d --key-types ec-p256,ec-p384
	"$DT" device add pump-0001 --class infusion-pump --serial SN-0001 \
		--manufacturer Acme --model P100 --criticality life-critical
fi
echo "== data dir $DATA"
"$DT" ca list
"$DT" class list
if "$DT" serve --help >/dev/null 2>&1; then
	exec "$DT" serve
fi
cat <<'MSG'

devtrust serve (EST, OCSP and CRL over HTTP) is not built yet: it is the next
issue. Everything else works from the command line, for example:

  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out pump.key
  openssl req -new -key pump.key -subj /CN=ignored -out pump.csr
  build/devtrust cert issue --device pump-0001 --csr pump.csr --out pump.pem
  build/devtrust ca cert default --out ca.pem; build/devtrust ca cert root --out root.pem
  openssl verify -CAfile root.pem -untrusted ca.pem pump.pem
  build/devtrust device suspend pump-0001 --reason maintenance
  build/devtrust crl --ca default --out default.crl
  build/devtrust report drift
  build/devtrust audit verify
MSG
