#!/usr/bin/env python3
"""An independent verifier of a devtrust audit export (`devtrust audit export`),
written from the formats in docs/ARCHITECTURE.md ("The audit chain") and using
no devtrust code: Python's hashlib and the `cryptography` package only.

It checks that
  - the root certificate is the one the caller trusts (--root-fingerprint),
  - every audit key's certificate is issued by that root, and its key id is the
    SHA-256 of its SubjectPublicKeyInfo,
  - every checkpoint's ECDSA P-256/SHA-256 signature verifies over its
    to-be-signed text with the key it names, dated within that key's validity,
  - every event's link recomputes, the sequence is contiguous and each event
    points to the previous link (zeros before event 1),
  - every checkpoint's hash is the chain's link at its seq, and no checkpoint
    lies beyond the last event (a truncated log),
  - the end line's counts match (a cut-off file).

Usage: audit_export_verify.py EXPORT.jsonl [--root-fingerprint HEX]
Exit 0 with a summary when everything holds, 1 naming the first problem, 2 on
usage errors.
"""
import argparse
import base64
import hashlib
import json
import struct
import sys

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

FORMAT = "devtrust-audit-export-v1"
FIELDS = ("actor", "action", "object", "reason", "details")


class Broken(Exception):
    pass


def u64(v):
    return struct.pack(">Q", v & 0xFFFFFFFFFFFFFFFF)


def link(prev, ev):
    """SHA-256("devtrust-audit-v1" || prev || u64be(seq) || u64be(time)
    || for each field: u64be(len) || UTF-8 bytes)."""
    h = hashlib.sha256()
    h.update(b"devtrust-audit-v1")
    h.update(prev)
    h.update(u64(ev["seq"]))
    h.update(u64(ev["time"]))
    for f in FIELDS:
        b = ev[f].encode("utf-8")
        h.update(u64(len(b)))
        h.update(b)
    return h.digest()


def checkpoint_tbs(cp):
    return ("devtrust-audit-checkpoint-v1\nseq=%d\nhash=%s\ntime=%d\nkey=%s\n"
            % (cp["seq"], cp["hash"], cp["time"], cp["key_id"])).encode("ascii")


def load_key(root, line):
    cert = x509.load_der_x509_certificate(base64.b64decode(line["cert"], validate=True))
    try:
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature) as e:
        raise Broken("audit key %s: its certificate is not issued by the root (%s)"
                     % (line["key_id"][:16], e))
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    if hashlib.sha256(spki).hexdigest() != line["key_id"]:
        raise Broken("audit key %s: id is not the SHA-256 of its public key"
                     % line["key_id"][:16])
    pub = cert.public_key()
    if not isinstance(pub, ec.EllipticCurvePublicKey) or pub.curve.name != "secp256r1":
        raise Broken("audit key %s: not a P-256 key" % line["key_id"][:16])
    return (pub, int(cert.not_valid_before_utc.timestamp()),
            int(cert.not_valid_after_utc.timestamp()))


def verify(path, pin):
    root = None
    keys = {}
    cps = {}
    header = end = None
    prev = None
    next_seq = None
    events = verified_cps = 0
    last_cp = 0
    head = None
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = json.loads(raw)
            except ValueError as e:
                raise Broken("line %d is not JSON: %s" % (n, e))
            t = line.get("type")
            if end is not None:
                raise Broken("line %d follows the end line" % n)
            if n == 1:
                if t != "header" or line.get("format") != FORMAT:
                    raise Broken("line 1 is not a %s header" % FORMAT)
                header = line
                head = line["after_seq"]
                next_seq = line["after_seq"] + 1
            elif t == "root":
                der = base64.b64decode(line["cert"], validate=True)
                fp = hashlib.sha256(der).hexdigest()
                if fp != line["fingerprint"]:
                    raise Broken("the root line's fingerprint is not its certificate's")
                if pin and fp != pin:
                    raise Broken("the export's root (%s) is not the trusted root (%s)"
                                 % (fp, pin))
                root = x509.load_der_x509_certificate(der)
            elif t == "audit_key":
                if root is None:
                    raise Broken("line %d: an audit key before the root" % n)
                keys[line["key_id"]] = load_key(root, line)
            elif t == "checkpoint":
                k = keys.get(line["key_id"])
                if k is None:
                    raise Broken("the checkpoint at event %d names an unknown audit key %s"
                                 % (line["seq"], line["key_id"][:16]))
                try:
                    k[0].verify(base64.b64decode(line["signature"], validate=True),
                                checkpoint_tbs(line), ec.ECDSA(hashes.SHA256()))
                except InvalidSignature:
                    raise Broken("the checkpoint at event %d: bad signature (forged)"
                                 % line["seq"])
                if not k[1] <= line["time"] <= k[2]:
                    raise Broken("the checkpoint at event %d is dated outside its key's "
                                 "validity" % line["seq"])
                cps[line["seq"]] = line
            elif t == "event":
                seq = line["seq"]
                if seq != next_seq:
                    raise Broken("event %d: expected sequence %d" % (seq, next_seq))
                stored_prev = bytes.fromhex(line["prev_hash"])
                if prev is None:
                    # The first event of an export --since N links to event N, which
                    # the reader checked in an earlier export; from 0, to zeros.
                    prev = bytes(32) if header["after_seq"] == 0 else stored_prev
                if stored_prev != prev:
                    raise Broken("event %d: its link to the previous event does not match"
                                 % seq)
                h = link(prev, line)
                if h.hex() != line["hash"]:
                    raise Broken("event %d: its content does not match its hash (edited)"
                                 % seq)
                cp = cps.get(seq)
                if cp is not None:
                    if cp["hash"] != h.hex():
                        raise Broken("event %d: the chain does not match the signed "
                                     "checkpoint (rewritten chain)" % seq)
                    verified_cps += 1
                    last_cp = seq
                prev = h
                next_seq = seq + 1
                head = seq
                events += 1
            elif t == "end":
                end = line
            else:
                raise Broken("line %d: unknown type %r" % (n, t))
    if header is None or root is None:
        raise Broken("no header or no root certificate")
    if end is None:
        raise Broken("no end line: the export is cut off")
    if end["events"] != events or end["checkpoints"] != len(cps) or end["head"] != head:
        raise Broken("the end line's counts (%d events, %d checkpoints, head %s) do not "
                     "match the file (%d, %d, %s)" % (end["events"], end["checkpoints"],
                                                       end["head"], events, len(cps), head))
    beyond = [s for s in cps if s > head]
    if beyond:
        raise Broken("a signed checkpoint covers event %d but the log ends at %d "
                     "(truncated)" % (max(beyond), head))
    return events, verified_cps, last_cp, head


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("export")
    ap.add_argument("--root-fingerprint", default=None)
    a = ap.parse_args()
    pin = a.root_fingerprint.replace(":", "").lower() if a.root_fingerprint else None
    try:
        events, cps, last, head = verify(a.export, pin)
    except (Broken, KeyError, TypeError, ValueError) as e:
        print("audit export NOT verified: %s" % (e if isinstance(e, Broken) else
                                                   "malformed export: %r" % e))
        return 1
    print("audit export verified: %d events, %d checkpoints, the last at event %d, "
          "%d events after it" % (events, cps, last, head - last))
    return 0


if __name__ == "__main__":
    sys.exit(main())
