#!/usr/bin/env python3
"""
Load and checks of the 30-minute soak (bench/soak.sh, docs/RELIABILITY.md
"Soak"). One role per process, each at a paced, steady rate (not maximum
throughput: the soak looks for leaks):

  enroll    EST simpleenroll over TLS (verified against the root), a new
            connection per request, HTTP Basic with a fresh device's
            one-time token and the CSR prepared for it (bench/serve_csrs.c
            lines "base64(id:token) TAB base64(DER CSR)"); every certificate
            answered with 200 goes to WORK/enrolled.txt
  reenroll  a pool of devices is enrolled with their tokens first; then, in
            turn, each re-enrolls (EST simplereenroll) with its current
            certificate and key as TLS client certificate and a new key; the
            new certificate becomes current. Issued certificates go to
            WORK/reenrolled.txt, the superseded serials (the class revokes
            them) to WORK/expect.txt
  ocsp      OCSP GET /ocsp/<b64> and POST /ocsp on keep-alive connections to
            the plain listener (reconnecting every --reconnect requests),
            about random serials enrolled so far; a share of the requests
            carries a nonce (the server signs those fresh); a sample of the
            answers is parsed
  crl       GET /crl/<ca>.crl (parsed, signature checked) and now and then
            GET /ca/<ca>.crt
  check     after the load: every certificate a client received with 200 is
            in the store (WORK/data/devtrust.db), byte for byte, for its
            device; OCSP (POST, signature checked) and the served CRL agree
            with WORK/expect.txt ("serial expected" lines written by the
            load and by bench/soak.sh's admin loop) and say good for a sample
            of untouched certificates

Each load role writes WORK/stats-ROLE.json every 2 s: requests sent, answers
by status, connection errors, latency of the last interval.
Python 3 with the `cryptography` package.
"""
import argparse
import base64
import collections
import datetime
import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import ssl
import sys
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

now = time.monotonic
STOP = threading.Event()


def on_term(*_):
    STOP.set()


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)


def serial_hex(n):
    return "%032x" % n


class Stats:
    """Counts by status, connection errors, latencies of the last interval."""

    def __init__(self, role, work, extra=None):
        self.role, self.path = role, os.path.join(work, "stats-%s.json" % role)
        self.lock = threading.Lock()
        self.sent = 0
        self.codes = collections.Counter()
        self.errors = collections.Counter()
        self.lat = []
        self.lat_total = 0.0
        self.extra = extra or {}
        self.t0 = now()

    def add(self, code, secs, err=None):
        with self.lock:
            self.sent += 1
            if err:
                self.errors[err] += 1
            else:
                self.codes[str(code)] += 1
            self.lat.append(secs)
            self.lat_total += secs

    def write(self):
        with self.lock:
            lat = sorted(self.lat)
            self.lat = []
            d = {
                "role": self.role,
                "elapsed": round(now() - self.t0, 1),
                "sent": self.sent,
                "codes": dict(self.codes),
                "errors": dict(self.errors),
                "lat_ms_p50": round(1000 * lat[len(lat) // 2], 2) if lat else None,
                "lat_ms_p99": round(1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2)
                if lat
                else None,
                "lat_ms_mean_all": round(1000 * self.lat_total / self.sent, 2) if self.sent else None,
            }
            d.update(self.extra)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(d, f)
        os.replace(tmp, self.path)

    def writer(self):
        while not STOP.wait(2.0):
            self.write()


class Pacer:
    """Hands out slots at RATE a second; a caller more than 1 s late skips
    the missed slots (steady rate, never a burst to catch up)."""

    def __init__(self, rate, deadline):
        self.rate, self.deadline = rate, deadline
        self.lock = threading.Lock()
        self.t0 = now()
        self.i = 0

    def wait(self):
        with self.lock:
            due = self.t0 + self.i / self.rate
            t = now()
            if t - due > 1.0:
                self.t0, self.i = t, 0
                due = t
            self.i += 1
        while True:
            t = now()
            if STOP.is_set() or t >= self.deadline:
                return False
            if t >= due:
                return True
            STOP.wait(min(due - t, 0.5))


def tls_ctx(cacert, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=cacert)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def https_post(args, ctx, path, body, headers):
    """One request on a new TLS connection: (status, body)."""
    c = http.client.HTTPSConnection("127.0.0.1", args.https, context=ctx, timeout=args.timeout)
    try:
        c.request("POST", path, body=body, headers=headers)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def p7_certs(body):
    return pkcs7.load_der_pkcs7_certificates(base64.b64decode(body))


def new_csr(dev_id):
    k = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dev_id)]))
        .sign(k, hashes.SHA256())
    )
    return k, csr.public_bytes(serialization.Encoding.DER)


class Appender:
    def __init__(self, path):
        self.f = open(path, "a")
        self.lock = threading.Lock()

    def line(self, s):
        with self.lock:
            self.f.write(s + "\n")
            self.f.flush()


def run_workers(n, fn):
    ts = [threading.Thread(target=fn, daemon=True) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def err_name(e):
    if isinstance(e, socket.timeout):
        return "timeout"
    return type(e).__name__


# ---------------------------------------------------------------- enroll
def role_enroll(args):
    lines = open(args.bodies).read().splitlines()
    st = Stats("enroll", args.work, {"prepared": len(lines)})
    out = Appender(os.path.join(args.work, "enrolled.txt"))
    ctx = tls_ctx(args.cacert)
    pacer = Pacer(args.rate, now() + args.duration)
    path = "/.well-known/est/%s/simpleenroll" % args.label
    lock = threading.Lock()
    nxt = [0]
    threading.Thread(target=st.writer, daemon=True).start()

    def worker():
        while pacer.wait():
            with lock:
                if nxt[0] >= len(lines):
                    st.extra["exhausted"] = st.extra.get("exhausted", 0) + 1
                    continue
                basic, body = lines[nxt[0]].split("\t")
                nxt[0] += 1
            dev = base64.b64decode(basic).decode().split(":")[0]
            t = now()
            try:
                code, resp = https_post(
                    args, ctx, path, body,
                    {"Authorization": "Basic " + basic, "Content-Type": "application/pkcs10"},
                )
            except Exception as e:  # noqa: BLE001 - counted
                st.add(None, now() - t, err_name(e))
                continue
            st.add(code, now() - t)
            if code == 200:
                try:
                    c = p7_certs(resp)[0]
                    der = c.public_bytes(serialization.Encoding.DER)
                    out.line("%s %s %s" % (dev, serial_hex(c.serial_number), base64.b64encode(der).decode()))
                except Exception:  # noqa: BLE001
                    st.extra["unparsable_200"] = st.extra.get("unparsable_200", 0) + 1

    run_workers(args.threads, worker)
    st.extra["used"] = nxt[0]
    st.write()


# ---------------------------------------------------------------- reenroll
def role_reenroll(args):
    toks = [l.split(",") for l in open(args.tokens).read().splitlines() if l and not l.startswith("id,")]
    st = Stats("reenroll", args.work, {"pool": len(toks)})
    out = Appender(os.path.join(args.work, "reenrolled.txt"))
    expect = Appender(os.path.join(args.work, "expect.txt"))
    d = os.path.join(args.work, "reenroll")
    os.makedirs(d, exist_ok=True)
    ctx0 = tls_ctx(args.cacert)
    base = "/.well-known/est/%s/" % args.label
    pool = collections.deque()
    threading.Thread(target=st.writer, daemon=True).start()

    def save(dev, key, der, cert):
        kp, cp = os.path.join(d, dev + ".key"), os.path.join(d, dev + ".pem")
        with open(kp, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        with open(cp, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        out.line("%s %s %s" % (dev, serial_hex(cert.serial_number), base64.b64encode(der).decode()))
        return cp, kp

    # The pool: every device enrolled once with its token (counted apart).
    boot = collections.Counter()
    for dev, tok in toks:
        key, csr = new_csr(dev)
        basic = base64.b64encode(("%s:%s" % (dev, tok)).encode()).decode()
        try:
            code, resp = https_post(args, ctx0, base + "simpleenroll", base64.b64encode(csr),
                                    {"Authorization": "Basic " + basic,
                                     "Content-Type": "application/pkcs10"})
        except Exception as e:  # noqa: BLE001
            boot[err_name(e)] += 1
            continue
        boot[str(code)] += 1
        if code == 200:
            c = p7_certs(resp)[0]
            der = c.public_bytes(serialization.Encoding.DER)
            cp, kp = save(dev, key, der, c)
            pool.append((dev, serial_hex(c.serial_number), cp, kp))
    st.extra["bootstrap"] = dict(boot)
    plock = threading.Lock()
    pacer = Pacer(args.rate, now() + args.duration)

    def worker():
        while pacer.wait():
            with plock:
                if not pool:
                    continue
                dev, serial, cp, kp = pool.popleft()
            key, csr = new_csr(dev)
            t = now()
            try:
                ctx = tls_ctx(args.cacert, cp, kp)
                code, resp = https_post(args, ctx, base + "simplereenroll", base64.b64encode(csr),
                                        {"Content-Type": "application/pkcs10"})
            except Exception as e:  # noqa: BLE001
                st.add(None, now() - t, err_name(e))
                with plock:
                    pool.append((dev, serial, cp, kp))
                continue
            st.add(code, now() - t)
            if code == 200:
                c = p7_certs(resp)[0]
                der = c.public_bytes(serialization.Encoding.DER)
                cp, kp = save(dev, key, der, c)
                expect.line("%s %s reenroll:%s" % (serial, args.superseded, dev))
                serial = serial_hex(c.serial_number)
            with plock:
                pool.append((dev, serial, cp, kp))

    run_workers(args.threads, worker)
    st.write()


# ---------------------------------------------------------------- ocsp
class SerialSource:
    """Serials enrolled so far (WORK/enrolled.txt, WORK/reenrolled.txt), read again every 5 s."""

    def __init__(self, work):
        self.files = [os.path.join(work, n) for n in ("enrolled.txt", "reenrolled.txt")]
        self.pos = {f: 0 for f in self.files}
        self.serials = []
        self.lock = threading.Lock()
        self.at = 0

    def pick(self):
        with self.lock:
            if now() - self.at > 5:
                self.at = now()
                for f in self.files:
                    try:
                        with open(f) as fh:
                            fh.seek(self.pos[f])
                            data = fh.read()
                    except FileNotFoundError:
                        continue
                    cut = data.rfind("\n") + 1
                    self.pos[f] += cut
                    for l in data[:cut].splitlines():
                        self.serials.append(int(l.split(" ")[1], 16))
            return random.choice(self.serials) if self.serials else None


def validity(cert, name):
    """not_valid_before/after: the _utc form on cryptography 42 and later, the
    plain one on Debian 12's (38)."""
    return getattr(cert, name + "_utc", None) or getattr(cert, name)


def verify_sig(pub, sig, data, h):
    if isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(sig, data, ec.ECDSA(h))
    elif isinstance(pub, rsa.RSAPublicKey):
        pub.verify(sig, data, padding.PKCS1v15(), h)
    else:
        pub.verify(sig, data)


_DUMMY_KEY = ec.generate_private_key(ec.SECP256R1())


def dummy_cert(ca, serial):
    """A certificate of this issuer with this serial: what an OCSP request built
    with add_certificate needs (Debian 12's cryptography has no
    add_certificate_by_hash)."""
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .issuer_name(ca.subject)
        .public_key(_DUMMY_KEY.public_key())
        .serial_number(serial)
        .not_valid_before(validity(ca, "not_valid_before"))
        .not_valid_after(validity(ca, "not_valid_after"))
        .sign(_DUMMY_KEY, hashes.SHA256())
    )


def issuer_hashes(cacert_pem):
    """The issuing CA and what identifies it in a request: (ca, name hash, key hash)."""
    ca = x509.load_pem_x509_certificate(open(cacert_pem, "rb").read())
    r = ocsp.OCSPRequestBuilder().add_certificate(dummy_cert(ca, 1), ca, hashes.SHA1()).build()
    return ca, r.issuer_name_hash, r.issuer_key_hash


def ocsp_req(ca, nh, kh, serial, nonce=False):
    b = ocsp.OCSPRequestBuilder()
    if hasattr(b, "add_certificate_by_hash"):
        b = b.add_certificate_by_hash(nh, kh, serial, hashes.SHA1())
    else:
        b = b.add_certificate(dummy_cert(ca, serial), ca, hashes.SHA1())
    if nonce:
        b = b.add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


def role_ocsp(args):
    st = Stats("ocsp", args.work, {"parsed": 0, "bad_parse": 0})
    src = SerialSource(args.work)
    ca, nh, kh = issuer_hashes(args.cacert_issuing)
    pacer = Pacer(args.rate, now() + args.duration)
    threading.Thread(target=st.writer, daemon=True).start()

    def worker():
        conn, n = None, 0
        while pacer.wait():
            serial = src.pick()
            if serial is None:
                continue
            nonce = random.random() < args.nonce_share
            der = ocsp_req(ca, nh, kh, serial, nonce)
            get = random.random() < 0.5
            if conn is None or n >= args.reconnect:
                if conn:
                    conn.close()
                conn, n = http.client.HTTPConnection("127.0.0.1", args.http, timeout=args.timeout), 0
            n += 1
            t = now()
            try:
                if get:
                    conn.request("GET", "/ocsp/" + urllib.parse.quote(base64.b64encode(der).decode(), safe=""))
                else:
                    conn.request("POST", "/ocsp", body=der, headers={"Content-Type": "application/ocsp-request"})
                r = conn.getresponse()
                body = r.read()
                code = r.status
            except Exception as e:  # noqa: BLE001
                st.add(None, now() - t, err_name(e) + (":GET" if get else ":POST"))
                conn.close()
                conn = None
                continue
            st.add("%d:%s" % (code, "GET" if get else "POST"), now() - t)
            if r.will_close:
                conn.close()
                conn = None
            if code == 200 and random.random() < args.parse_share:
                try:
                    resp = ocsp.load_der_ocsp_response(body)
                    ok = (resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
                          and resp.serial_number == serial)
                except Exception:  # noqa: BLE001
                    ok = False
                with st.lock:
                    st.extra["parsed" if ok else "bad_parse"] += 1

    run_workers(args.threads, worker)
    st.write()


# ---------------------------------------------------------------- crl
def role_crl(args):
    st = Stats("crl", args.work, {"crl_entries": None, "crl_bytes": None, "bad_crl": 0})
    ca = x509.load_pem_x509_certificate(open(args.cacert_issuing, "rb").read())
    pacer = Pacer(args.rate, now() + args.duration)
    threading.Thread(target=st.writer, daemon=True).start()
    i = 0
    while pacer.wait():
        i += 1
        path = "/ca/%s.crt" % args.ca if i % 10 == 0 else "/crl/%s.crl" % args.ca
        c = http.client.HTTPConnection("127.0.0.1", args.http, timeout=args.timeout)
        t = now()
        try:
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
        except Exception as e:  # noqa: BLE001
            st.add(None, now() - t, err_name(e))
            continue
        finally:
            c.close()
        st.add(r.status, now() - t)
        if r.status == 200 and path.startswith("/crl/"):
            try:
                crl = x509.load_der_x509_crl(body)
                ok = crl.is_signature_valid(ca.public_key())
                with st.lock:
                    st.extra["crl_entries"] = len(crl)
                    st.extra["crl_bytes"] = len(body)
                    if not ok:
                        st.extra["bad_crl"] += 1
            except Exception:  # noqa: BLE001
                with st.lock:
                    st.extra["bad_crl"] += 1
    st.write()


# ---------------------------------------------------------------- check
def verify_ocsp(resp, ca):
    """The response is signed by a responder our CA issued (or the CA itself)."""
    signer = resp.certificates[0] if resp.certificates else ca
    if signer is not ca:
        if signer.issuer != ca.subject:
            raise ValueError("OCSP signer not issued by the CA")
        verify_sig(ca.public_key(), signer.signature, signer.tbs_certificate_bytes,
                   signer.signature_hash_algorithm)
    verify_sig(signer.public_key(), resp.signature, resp.tbs_response_bytes,
               resp.signature_hash_algorithm)


def ocsp_status(args, conn, nh, kh, ca, serial):
    der = ocsp_req(ca, nh, kh, serial, nonce=True)
    conn.request("POST", "/ocsp", body=der, headers={"Content-Type": "application/ocsp-request"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        return "http-%d" % r.status
    resp = ocsp.load_der_ocsp_response(body)
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return "ocsp-" + resp.response_status.name
    verify_ocsp(resp, ca)
    if resp.serial_number != serial:
        return "wrong-serial"
    s = resp.certificate_status
    if s == ocsp.OCSPCertStatus.GOOD:
        return "good"
    if s == ocsp.OCSPCertStatus.UNKNOWN:
        return "unknown"
    return resp.revocation_reason.name if resp.revocation_reason else "revoked"


def role_check(args):
    fails = []
    received = []
    for name in ("enrolled.txt", "reenrolled.txt"):
        p = os.path.join(args.work, name)
        if os.path.exists(p):
            for l in open(p).read().splitlines():
                dev, serial, b64 = l.split(" ")
                received.append((name, dev, serial, base64.b64decode(b64)))
    # 1. every certificate received with 200 is in the store, for its device
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(args.work, "data", "devtrust.db"), uri=True)
    missing = wrong = 0
    for name, dev, serial, der in received:
        row = db.execute("SELECT device_id, der FROM certs WHERE serial = ?", (serial,)).fetchone()
        if row is None:
            missing += 1
        elif row[0] != dev or bytes(row[1]) != der:
            wrong += 1
    n_store = db.execute("SELECT count(*) FROM certs").fetchone()[0]
    print("check store: %d certificates received with 200 (%d simpleenroll, %d simplereenroll and its pool), "
          "%d in the store; missing %d, different bytes or device %d"
          % (len(received), sum(1 for r in received if r[0] == "enrolled.txt"),
             sum(1 for r in received if r[0] == "reenrolled.txt"), n_store, missing, wrong))
    if missing or wrong or not received:
        fails.append("store")
    # 2. OCSP and the CRL against the expected statuses (the last word for a serial wins)
    expect = collections.OrderedDict()
    p = os.path.join(args.work, "expect.txt")
    if os.path.exists(p):
        for l in open(p).read().splitlines():
            f = l.split(" ")
            expect.pop(f[0], None)
            expect[f[0]] = f[1]
    touched = set(expect)
    # the current certificate of every re-enrolled device, and a sample of untouched enrolled ones: good
    cur = {}
    for name, dev, serial, der in received:
        if name == "reenrolled.txt":
            cur[dev] = serial
    for s in cur.values():
        if s not in touched:
            expect[s] = "good"
    enrolled = [r[2] for r in received if r[0] == "enrolled.txt" and r[2] not in touched]
    # devices the admin loop touched as a whole (their certificates may be listed by serial above)
    for s in random.Random(7).sample(enrolled, min(len(enrolled), args.good_sample)):
        expect.setdefault(s, "good")
    ca, nh, kh = issuer_hashes(args.cacert_issuing)
    conn = http.client.HTTPConnection("127.0.0.1", args.http, timeout=args.timeout)
    got = collections.Counter()
    bad = []
    for s, want in expect.items():
        try:
            have = ocsp_status(args, conn, nh, kh, ca, int(s, 16))
        except Exception as e:  # noqa: BLE001
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", args.http, timeout=args.timeout)
            have = "error:" + err_name(e)
        got[(want, have)] += 1
        if have != want:
            bad.append("%s want %s got %s" % (s, want, have))
    summary = ", ".join("%s->%s %d" % (w, h, n) for (w, h), n in sorted(got.items()))
    print("check OCSP (POST with nonce, signature verified): %d serials: %s; mismatches %d%s"
          % (len(expect), summary, len(bad), (": " + "; ".join(bad[:5])) if bad else ""))
    if bad or not expect:
        fails.append("ocsp")
    # the served CRL lists exactly the expected revoked serials among those checked,
    # but for those that had expired when it was made (RFC 5280 section 3.3: they leave it)
    conn.request("GET", "/crl/%s.crl" % args.ca)
    r = conn.getresponse()
    body = r.read()
    crl = x509.load_der_x509_crl(body)
    listed = {serial_hex(e.serial_number): e for e in crl}
    made = int(crl.last_update_utc.timestamp()) if hasattr(crl, "last_update_utc") \
        else int(crl.last_update.replace(tzinfo=datetime.timezone.utc).timestamp())
    cbad = []
    expired = 0
    for s, want in expect.items():
        e = listed.get(s)
        row = db.execute("SELECT not_after FROM certs WHERE serial = ?", (s,)).fetchone()
        if row is not None and row[0] <= made:
            expired += 1
            if e is not None:
                cbad.append("%s listed but expired" % s)
        elif want == "good":
            if e is not None:
                cbad.append("%s listed but good" % s)
        else:
            reason = None
            if e is not None:
                try:
                    reason = e.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
                except x509.ExtensionNotFound:
                    reason = "unspecified"
            if reason != want:
                cbad.append("%s want %s listed as %s" % (s, want, reason))
    sig_ok = crl.is_signature_valid(ca.public_key())
    print("check CRL (/crl/%s.crl, %d bytes, %d entries, signature %s): %d expected serials "
          "(%d expired, not listed), mismatches %d%s"
          % (args.ca, len(body), len(crl), "ok" if sig_ok else "BAD", len(expect), expired, len(cbad),
             (": " + "; ".join(cbad[:5])) if cbad else ""))
    if cbad or not sig_ok:
        fails.append("crl")
    if fails:
        print("check: FAILED: " + ", ".join(fails))
        sys.exit(1)


# ---------------------------------------------------------------- report
def median(xs):
    xs = sorted(xs)
    n = len(xs)
    if not n:
        return float("nan")
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2.0


def slope_per_hour(pts):
    """Least-squares slope of (t seconds, v) in v per hour."""
    n = len(pts)
    if n < 2:
        return float("nan")
    mt = sum(t for t, _ in pts) / n
    mv = sum(v for _, v in pts) / n
    den = sum((t - mt) ** 2 for t, _ in pts)
    return 3600.0 * sum((t - mt) * (v - mv) for t, v in pts) / den if den else float("nan")


def role_report(args):
    rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(args.work, "samples.tsv"))]
    head, rows = rows[0], rows[1:]
    R = [dict(zip(head, (float(x) if x not in ("", "-") else float("nan") for x in r))) for r in rows]
    if len(R) < 3:
        print("report: fewer than 3 samples")
        return
    tck = float(os.sysconf("SC_CLK_TCK"))
    mb = lambda kb: kb / 1024.0
    # The table: a row every --table-every seconds, and the last sample.
    pick, nxt = [], 0.0
    for i, r in enumerate(R):
        if r["t"] >= nxt or i == len(R) - 1:
            pick.append(r)
            nxt = (int(r["t"] / args.table_every) + 1) * args.table_every
    anon = "srv_anon" in head
    store = "store_kb" in head
    if store:
        for r in R:
            r["srv_anon_less_store"] = r["srv_anon"] - r["store_kb"]
    print("| time | server RSS%s | signer RSS | server fds / threads | signer fds | DB / WAL | %s"
          "server answers 2xx / 4xx / 5xx (total) | req/s | CPU server / signer / load | load avg |"
          % (" (anon)" if anon else "", "store memory / CRL | " if store else ""))
    print("|---|---|---|---|---|---|---|---|---|---|%s" % ("---|" if store else ""))
    prev = None
    for r in pick:
        if prev is not None and r["t"] > prev["t"]:
            dt = r["t"] - prev["t"]
            rate = "%.0f" % ((r["req_2xx"] + r["req_4xx"] + r["req_5xx"]
                              - prev["req_2xx"] - prev["req_4xx"] - prev["req_5xx"]) / dt)
            cpu = "%.0f%% / %.0f%% / %.0f%%" % tuple(
                100.0 * (r[k] - prev[k]) / tck / dt for k in ("srv_cpu", "sig_cpu", "load_cpu"))
        else:
            rate, cpu = "-", "-"
        print("| %d:%02d | %.1f MB%s | %.1f MB | %d / %d | %d | %.1f / %.1f MB | %s%d / %d / %d | %s | %s | %.2f |" % (
            int(r["t"]) // 60, int(r["t"]) % 60, mb(r["srv_rss"]),
            " (%.1f)" % mb(r["srv_anon"]) if anon else "", mb(r["sig_rss"]), r["srv_fds"],
            r["srv_threads"], r["sig_fds"], mb(r["db_kb"]), mb(r["wal_kb"]),
            "%.1f MB / %d KB | " % (mb(r["store_kb"]), r["crl_kb"]) if store else "",
            r["req_2xx"], r["req_4xx"], r["req_5xx"], rate, cpu, r["loadavg"]))
        prev = r
    T = R[-1]["t"]
    second = [r for r in R if T / 3 <= r["t"] < 2 * T / 3]
    last = [r for r in R if r["t"] >= 2 * T / 3]
    after = [r for r in R if r["t"] >= T / 3]
    first, end = R[0], R[-1]
    dt = end["t"] - first["t"]
    print()
    print("averages over the run: %.0f answers/s; CPU server %.0f%%, signer %.0f%%, load generators and CLI %.0f%% "
          "of one core; server VmHWM %.1f MB" % (
              (end["req_2xx"] + end["req_4xx"] + end["req_5xx"] - first["req_2xx"] - first["req_4xx"]
               - first["req_5xx"]) / dt,
              100.0 * (end["srv_cpu"] - first["srv_cpu"]) / tck / dt,
              100.0 * (end["sig_cpu"] - first["sig_cpu"]) / tck / dt,
              100.0 * (end["load_cpu"] - first["load_cpu"]) / tck / dt, mb(end["srv_hwm"])))
    grew = False
    keys = [("srv_rss", "server RSS")] + ([("srv_anon", "server RssAnon")] if anon else []) + (
        [("srv_anon_less_store", "server RssAnon less the store's memory")] if store else []) + (
        [("heap_kb", "server heap in use (malloc)"), ("heap_free_kb", "server heap freed, held by malloc")]
        if "heap_kb" in head else []) + [("sig_rss", "signer RSS")]
    for key, name in keys:
        a = median([r[key] for r in second])
        b = median([r[key] for r in last])
        g = b - a
        pct = 100.0 * g / a if a else float("nan")
        slope = slope_per_hour([(r["t"], mb(r[key])) for r in after])
        flat = mb(g) <= max(args.flat_mb, mb(a) * args.flat_pct / 100.0)
        grew = grew or not flat
        print("verdict %s: median %.1f MB in the second third (%d samples), %.1f MB in the last third "
              "(%d samples): %+.2f MB (%+.1f%%), slope after warm-up %+.2f MB/hour: %s" % (
                  name, mb(a), len(second), mb(b), len(last), mb(g), pct, slope,
                  "no growth" if flat else "GROWTH"))
    for key, name in (("srv_fds", "server fds"), ("srv_threads", "server threads"), ("sig_fds", "signer fds")):
        a, b = median([r[key] for r in second]), median([r[key] for r in last])
        print("%s: median %.0f in the second third, %.0f in the last (min %.0f, max %.0f over the run)" % (
            name, a, b, min(r[key] for r in R), max(r[key] for r in R)))
    print("growth verdict: %s (threshold: more than %.0f MB and %.0f%%)" % (
        "RSS GROWS" if grew else "no growth", args.flat_mb, args.flat_pct))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("role", choices=["enroll", "reenroll", "ocsp", "crl", "check", "report"])
    ap.add_argument("--work", required=True)
    ap.add_argument("--https", type=int)
    ap.add_argument("--http", type=int)
    ap.add_argument("--cacert", help="root certificate (PEM): the TLS trust anchor")
    ap.add_argument("--cacert-issuing", help="issuing CA certificate (PEM)")
    ap.add_argument("--ca", default="default", help="issuing CA name (CRL path)")
    ap.add_argument("--label", help="EST label (the class)")
    ap.add_argument("--bodies", help="enroll: prepared request lines")
    ap.add_argument("--tokens", help="reenroll: id,token lines of the pool")
    ap.add_argument("--superseded", default="superseded", choices=["superseded", "good"],
                    help="reenroll: what OCSP and the CRL must say of a replaced certificate")
    ap.add_argument("--rate", type=float, default=1.0, help="requests a second")
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--reconnect", type=int, default=200, help="ocsp: requests per connection")
    ap.add_argument("--nonce-share", type=float, default=0.1)
    ap.add_argument("--parse-share", type=float, default=0.02)
    ap.add_argument("--good-sample", type=int, default=300)
    ap.add_argument("--table-every", type=float, default=150, help="report: seconds between table rows")
    ap.add_argument("--flat-mb", type=float, default=1.0, help="report: growth up to this is no growth")
    ap.add_argument("--flat-pct", type=float, default=2.0, help="report: ... or up to this share")
    args = ap.parse_args()
    {"enroll": role_enroll, "reenroll": role_reenroll, "ocsp": role_ocsp, "crl": role_crl,
     "check": role_check, "report": role_report}[args.role](args)


if __name__ == "__main__":
    main()
