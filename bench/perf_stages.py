#!/usr/bin/env python3
"""Summarises `perf script -F tid,ip,sym,dso` of a bench run (dwarf call
graphs) into where CPU samples go: per thread role, per call our code makes
(innermost devtrust frame -> the library function it called), and per leaf
symbol. Usage: perf script ... | perf_stages.py BENCH_BINARY SRC_DIR [TOP]"""
import collections
import glob
import re
import sys

ours_dso = sys.argv[1]
top = int(sys.argv[3]) if len(sys.argv) > 3 else 25

# Names of devtrust's functions, static ones included: perf prints a frame
# inlined from them without a dso, so the name is what says it is ours.
ours_names = set()
for path in glob.glob(sys.argv[2] + "/**/*.c", recursive=True):
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.match(r"^(?:static\s+)?(?:inline\s+)?[A-Za-z_][\w \t\*]*?\b([a-z_]\w*)\(", line)
            if m:
                ours_names.add(m.group(1))

# What the OpenSSL-internal callee stands for, given the devtrust caller.
RENAME = {
    ("csr_parse", "ASN1_item_d2i_ex"): "d2i_X509_REQ",
    ("csr_parse", "ASN1_item_verify_ex"): "X509_REQ_verify",
    ("csr_parse", "X509_REQ_verify"): "X509_REQ_verify",
    ("lint", "ASN1_item_d2i_ex"): "d2i_X509 (re-parse)",
    ("ca_issue_device_cert", "ASN1_item_d2i_ex"): "d2i_X509 (lint re-parse)",
    ("ca_issue_device_cert", "X509_PUBKEY_set"): "X509_set_pubkey",
    ("ca_issue_device_cert", "ASN1_item_dup"): "X509_set_issuer_name (X509_NAME dup)",
    ("ca_issue_device_cert", "X509_NAME_set"): "X509_set_issuer_name (X509_NAME dup)",
}


def samples(stream):
    frames = []
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if frames:
                yield frames
            frames = []
            continue
        if not line.startswith("\t") and not line.startswith(" "):
            continue  # the tid header line
        parts = line.strip().split(None, 1)
        if len(parts) < 2:
            continue
        rest = parts[1]
        dso = ""
        if rest.endswith(" (inlined)"):
            sym = rest  # its dso is its caller's, filled in below
        elif rest.endswith(")") and " (" in rest:
            sym, dso = rest.rsplit(" (", 1)
            dso = dso[:-1]
        else:
            sym = rest
        frames.append([parts[0], sym, dso])
    if frames:
        yield frames


# Inclusive: share of samples with a frame whose name contains this.
INCLUSIVE = [
    "OSSL_DECODER_CTX_new_for_pkey",
    "OSSL_DECODER_from_data",
    "OSSL_ENCODER_CTX_new_for_pkey",
    "EVP_KEYMGMT_do_all_provided",
    "EC_POINT_mul",
    "sqlite3_step",
    "sqlite3_exec",
    "fdatasync",
]
# Leaf classes: share of samples whose leaf frame is of this kind.
LEAF_CLASSES = [
    ("pthread_rwlock (OpenSSL provider/name-map locks)", ("rwlock",)),
    ("malloc/free", ("malloc", "free", "tcache", "unlink_chunk", "malloc_consolidate", "cfree")),
    ("kernel", ("[kernel",)),
]


def main():
    incl = collections.Counter()
    leafcls = collections.Counter()
    role = collections.Counter()
    calls = collections.Counter()
    leaf = collections.Counter()
    total = 0
    for fr in samples(sys.stdin):
        # inlined frames carry no dso: they belong to the frame at the same ip
        for i in range(len(fr) - 1, -1, -1):
            if fr[i][1].endswith(" (inlined)"):
                fr[i][1] = fr[i][1][: -len(" (inlined)")]
                if fr[i][1] in ours_names:
                    fr[i][2] = ours_dso
                elif i + 1 < len(fr) and fr[i + 1][0] == fr[i][0]:
                    fr[i][2] = fr[i + 1][2]
        total += 1
        syms = [f[1] for f in fr]
        if "writer_main" in syms:
            role["writer thread (group commit)"] += 1
        elif "dt_cert_issue" in syms:
            role["issuing threads (dt_cert_issue)"] += 1
        else:
            role["other"] += 1  # not issuance: a CRL run, setup
        leaf["%s (%s)" % (fr[0][1], fr[0][2].rsplit("/", 1)[-1])] += 1
        for name in INCLUSIVE:
            if any(name in x for x in syms):
                incl[name] += 1
        leafdesc = fr[0][1] + " " + fr[0][2]
        for cls, keys in LEAF_CLASSES:
            if any(k in leafdesc for k in keys):
                leafcls[cls] += 1
                break
        label = "(no devtrust frame)"
        for i, f in enumerate(fr):
            if f[2] == ours_dso:
                callee = "(self)"
                for j in range(i - 1, -1, -1):
                    if fr[j][1] != "[unknown]" and fr[j][2] != ours_dso:
                        callee = fr[j][1]
                        break
                callee = RENAME.get((f[1], callee), callee)
                if callee.startswith("sqlite3_"):
                    if any("fdatasync" in x for x in syms):
                        callee += " [in fdatasync]"
                    elif any("pwrite" in x for x in syms):
                        callee += " [in pwrite]"
                label = "%s -> %s" % (f[1], callee)
                break
        calls[label] += 1
    if not total:
        print("perf: no samples")
        return
    pct = lambda n: 100.0 * n / total
    print("CPU samples: %d (all threads of the bench process while recorded)" % total)
    if role["other"] != total:
        for k, n in role.most_common():
            print("  %5.1f%%  %s" % (pct(n), k))
    print("By call from devtrust code (innermost devtrust frame -> what it called):")
    for k, n in calls.most_common(top):
        print("  %5.1f%%  %s" % (pct(n), k))
    print("Inclusive (symbol anywhere on the stack):")
    for name in INCLUSIVE:
        print("  %5.1f%%  %s" % (pct(incl[name]), name))
    print("Leaf classes:")
    for cls, _ in LEAF_CLASSES:
        print("  %5.1f%%  %s" % (pct(leafcls[cls]), cls))
    print("By leaf symbol (self time):")
    for k, n in leaf.most_common(15):
        print("  %5.1f%%  %s" % (pct(n), k))


main()
