#!/bin/bash
# make run: create the data dir on first run (with a sample class and
# device), print how to enroll that device with curl, and start the server.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DATA=${DATA:-./devtrust-data}
DT="$PWD/$BUILD/devtrust"
export DEVTRUST_DATA="$DATA"
HTTPS=${DEVTRUST_LISTEN:-127.0.0.1:8443}
HTTP=${DEVTRUST_LISTEN_HTTP:-127.0.0.1:8080}

if [ ! -f "$DATA/devtrust.db" ]; then
	echo "== first run: creating $DATA"
	"$DT" init --org "${DEVTRUST_ORG:-example-hospital}" --public-url "http://$HTTP"
	"$DT" class add infusion-pump --ca default --lifetime 30d --key-types ec-p256,ec-p384
	"$DT" device add pump-0001 --class infusion-pump --serial SN-0001 \
		--manufacturer Acme --model P100 --criticality life-critical >/dev/null
fi
"$DT" ca cert root --out "$DATA/root.pem" 2>/dev/null || true
cat <<MSG

== devtrust serve: EST on https://$HTTPS, OCSP and CRLs on http://$HTTP
Enroll the sample device from another shell:

  export DEVTRUST_DATA=$DATA
  TOKEN=\$($DT device token pump-0001)
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out pump.key
  openssl req -new -key pump.key -subj /CN=ignored -outform DER | base64 > pump.b64
  curl --cacert $DATA/root.pem -u pump-0001:\$TOKEN -H 'Content-Type: application/pkcs10' \\
       --data-binary @pump.b64 https://$HTTPS/.well-known/est/infusion-pump/simpleenroll \\
    | base64 -d | openssl pkcs7 -inform DER -print_certs > pump.pem
  openssl ocsp -issuer <($DT ca cert default) -cert pump.pem -url http://$HTTP/ocsp \\
       -CAfile $DATA/root.pem -resp_text | grep 'Cert Status'

Stop the server with Ctrl-C (it drains requests in flight).
MSG
exec "$DT" serve --listen "$HTTPS" --listen-http "$HTTP"
