#!/usr/bin/env python3
"""Revocation latency probe of bench/serve_bench.sh.

Runs a command that revokes a certificate (`devtrust device retire ID`) and
measures, from the moment the command starts, when the server's answers show
it: an OCSP answer (POST /ocsp) with "Cert Status: revoked", and a CRL
(GET /crl/CA.crl) listing the serial. Two threads poll every INTERVAL seconds
on keep-alive connections; an answer is parsed with the openssl CLI only when
its bytes differ from the previous one (answers are cached and re-signed only
on a change), so a poll costs one HTTP round trip.

Usage: serve_poll.py HOST:PORT CA OCSP_REQ.der SERIAL_HEX -- COMMAND...
Prints one line: cli_ms=N ocsp_ms=N ocsp_polls=N crl_ms=N crl_polls=N
(-1 when the change did not show within 10 s).
"""
import http.client
import subprocess
import sys
import threading
import time

INTERVAL = 0.020
TIMEOUT = 10.0


def fetch(conn, kind, host, ca, req):
    try:
        if kind == "ocsp":
            conn.request("POST", "/ocsp", body=req,
                         headers={"Content-Type": "application/ocsp-request"})
        else:
            conn.request("GET", "/crl/%s.crl" % ca)
        r = conn.getresponse()
        return r.read() if r.status == 200 else None
    except (OSError, http.client.HTTPException):
        conn.close()
        return None


def shows(kind, der, serial):
    if kind == "ocsp":
        cmd = ["openssl", "ocsp", "-respin", "/dev/stdin", "-resp_text", "-noverify"]
        want = "Cert Status: revoked"
    else:
        cmd = ["openssl", "crl", "-inform", "DER", "-noout", "-text"]
        want = "Serial Number: " + serial
    out = subprocess.run(cmd, input=der, capture_output=True).stdout.decode(errors="replace")
    return any(line.strip() == want for line in out.splitlines())


def main():
    if len(sys.argv) < 7 or sys.argv[5] != "--":
        sys.exit(__doc__)
    host, ca, req_file, serial = sys.argv[1:5]
    command = sys.argv[6:]
    with open(req_file, "rb") as f:
        req = f.read()
    serial = serial.upper()
    result = {}
    conns = {k: http.client.HTTPConnection(host, timeout=2) for k in ("ocsp", "crl")}
    before = {}
    for kind, conn in conns.items():
        before[kind] = fetch(conn, kind, host, ca, req)
        if before[kind] is None:
            sys.exit("serve_poll: no %s answer before the change" % kind)
        if shows(kind, before[kind], serial):
            sys.exit("serve_poll: the %s answer shows the change before it" % kind)
    start = threading.Event()
    t0 = [0.0]

    def poll(kind):
        conn, last, n = conns[kind], before[kind], 0
        start.wait()
        while True:
            n += 1
            der = fetch(conn, kind, host, ca, req)
            t = time.monotonic() - t0[0]
            if der is not None and der != last:
                last = der
                if shows(kind, der, serial):
                    result[kind] = (round(t * 1000), n)
                    return
            if t > TIMEOUT:
                result[kind] = (-1, n)
                return
            time.sleep(INTERVAL)

    threads = [threading.Thread(target=poll, args=(k,)) for k in conns]
    for t in threads:
        t.start()
    t0[0] = time.monotonic()
    start.set()
    rc = subprocess.run(command, stdout=subprocess.DEVNULL).returncode
    cli_ms = round((time.monotonic() - t0[0]) * 1000)
    for t in threads:
        t.join()
    if rc != 0:
        sys.exit("serve_poll: %s exited with %d" % (" ".join(command), rc))
    print("cli_ms=%d ocsp_ms=%d ocsp_polls=%d crl_ms=%d crl_polls=%d" %
          (cli_ms, result["ocsp"][0], result["ocsp"][1], result["crl"][0], result["crl"][1]))


if __name__ == "__main__":
    main()
