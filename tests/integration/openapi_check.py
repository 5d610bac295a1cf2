#!/usr/bin/env python3
"""
The contract check of docs/openapi.json, run by openapi_test.sh (which starts
`devtrust serve` and sets the scene). Three parts, each printing "PASS name" or
"FAIL name: why" lines like tests/integration/lib.sh:

  static    the document itself: its JSON Schemas are valid, every $ref resolves,
            each operation names its roles (x-roles and the description), its
            path parameters and its 401/403; and its operations are exactly the
            route table of src/api/api.c (method, path, roles, handler), so a
            route the document lacks, or an operation the server does not have,
            fails.
  live      every operation of the document called against the server: success
            and error cases, each real status checked against the operation's
            documented ones and each body (and documented header) validated
            against the document's schema for that status (and a body the server
            accepted against the documented request schema); 401 without a
            credential, 400 for a malformed query and 403 for every role x-roles
            leaves out, on every operation; paging sees each item once; an
            operation answered "no such API endpoint" (404) or 405 fails; and at
            the end every documented status of every operation must have been
            seen (bar 413, 500 and 503).
  selftest  the drift detection itself: copies of the document with a route
            missing, an invented operation, other roles and a field dropped from a
            schema must each be caught.

Needs python3-jsonschema (Debian 12: 4.10; newer works too). Usage:
  openapi_check.py --doc docs/openapi.json --routes src/api/api.c [--static-only]
                   [--self-test] [--live-only]
                   [--base https://127.0.0.1:PORT --cacert root.pem]
The live part reads OA_* variables (see openapi_test.sh).
"""
import argparse
import copy
import http.client
import json
import os
import re
import ssl
import sys
import time
import urllib.parse

import jsonschema

ROLES = ["admin", "operator", "auditor", "vendor"]
ROLE_BITS = {"RA": "admin", "RO": "operator", "RU": "auditor", "RV": "vendor"}
METHODS = ("get", "post", "delete", "put", "patch", "head", "options")
# Statuses a test cannot provoke cheaply (or at all): documented, never required to be seen.
UNSEEN_OK = {"413", "500", "503"}

failures = 0


def passed(name):
    print("PASS " + name, flush=True)


def failed(name, why):
    global failures
    failures += 1
    why = " ".join(str(why).split())
    print("FAIL %s: %s" % (name, why[:600]), flush=True)


# --------------------------------------------------------------------------------------
# The document


class Doc:
    def __init__(self, doc):
        self.doc = doc
        self.components = doc.get("components", {})
        self.ops = []  # (method, template, op)
        for path, item in doc.get("paths", {}).items():
            for m, op in item.items():
                if m in METHODS:
                    self.ops.append((m.upper(), path, op))
        self._validators = {}

    def resolve(self, node):
        """Follows a local $ref (components) to its target, repeatedly."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node and len(node) == 1:
            node = pointer(self.doc, node["$ref"])
            seen += 1
            if seen > 20:
                raise ValueError("$ref loop")
        return node

    def validator(self, schema):
        key = json.dumps(schema, sort_keys=True)
        v = self._validators.get(key)
        if v is None:
            # The schema inside a root that holds the document's components, so
            # "#/components/schemas/X" resolves without a resolver of our own (works with
            # jsonschema 4.10's RefResolver and with newer versions' referencing).
            root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                    "components": self.components, "allOf": [schema]}
            v = jsonschema.Draft202012Validator(root)
            self._validators[key] = v
        return v

    def errors(self, schema, instance):
        errs = sorted(self.validator(schema).iter_errors(instance),
                      key=lambda e: len(list(e.absolute_path)))
        return [describe(e) for e in errs]

    def find(self, method, path):
        """The operation a concrete request (path under /api/v1, no query) is."""
        best = None
        for m, tmpl, op in self.ops:
            if m != method or not template_re(tmpl).match(path):
                continue
            # A literal path beats a template (/reports/blast-radius vs /reports/{kind}).
            score = tmpl.count("{")
            if best is None or score < best[0]:
                best = (score, tmpl, op)
        return (best[1], best[2]) if best else (None, None)

    def path_known(self, path):
        return any(template_re(t).match(path) for _, t, _ in self.ops)


def pointer(doc, ref):
    if not ref.startswith("#/"):
        raise KeyError("not a local $ref: " + ref)
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[part]
    return node


def template_re(tmpl):
    return re.compile("^" + re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(tmpl)) + "$")


def normalize(tmpl):
    return re.sub(r"\{[^}/]*\}", "{}", tmpl)


def describe(e):
    where = "/".join(str(p) for p in e.absolute_path) or "(body)"
    return "%s: %s" % (where, e.message[:200])


def walk_refs(node, out, here="#"):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                out.append((here, v))
            else:
                walk_refs(v, out, here + "/" + str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk_refs(v, out, here + "/" + str(i))


# --------------------------------------------------------------------------------------
# Static checks


def parse_routes(path):
    """The route table of src/api/api.c: [(METHOD, pattern, [roles], handler)]."""
    text = open(path, encoding="utf-8").read()
    m = re.search(r"static const struct route routes\[\] = \{(.*?)\n\};", text, re.S)
    if not m:
        raise ValueError("no route table in " + path)
    routes = []
    for r in re.finditer(r'\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*([A-Z |]+?)\s*,\s*(\w+)\s*\}',
                         m.group(1)):
        roles = [ROLE_BITS[b.strip()] for b in r.group(3).split("|")]
        routes.append((r.group(1), r.group(2), sorted(roles, key=ROLES.index), r.group(4)))
    if not routes:
        raise ValueError("empty route table in " + path)
    return routes


def reply_schemas(d):
    """The names of the component schemas replies use, directly or through others."""
    refs = []
    for _, _, op in d.ops:
        for r in op.get("responses", {}).values():
            walk_refs(d.resolve(r), refs)
    names, todo = set(), [ref for _, ref in refs]
    while todo:
        ref = todo.pop()
        if not ref.startswith("#/components/schemas/"):
            continue
        name = ref.rsplit("/", 1)[1]
        if name in names:
            continue
        names.add(name)
        more = []
        walk_refs(d.doc.get("components", {}).get("schemas", {}).get(name, {}), more)
        todo += [r for _, r in more]
    return names


def check_document(d):
    """Problems of the document on its own, as (name, why) pairs."""
    probs = []
    doc = d.doc
    if not str(doc.get("openapi", "")).startswith("3.1"):
        probs.append(("openapi version", "want 3.1.x, got %r" % doc.get("openapi")))
    refs = []
    walk_refs(doc, refs)
    bad = []
    for here, ref in refs:
        try:
            pointer(doc, ref)
        except (KeyError, TypeError, IndexError):
            bad.append("%s -> %s" % (here, ref))
    if bad:
        probs.append(("every $ref resolves", "; ".join(bad[:5])))
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("Device", "Certificate", "CA", "Class", "Policy", "Finding", "AuditEvent",
                 "Credential", "Error", "DevicePage", "CertificatePage", "AuditPage"):
        if name not in schemas:
            probs.append(("components.schemas has " + name, "missing"))
    for name, s in schemas.items():
        try:
            jsonschema.Draft202012Validator.check_schema(s)
        except jsonschema.SchemaError as e:
            probs.append(("schema %s is valid JSON Schema" % name, e.message[:200]))
    # The objects the server sends are strict: no field the document does not know, and
    # (bar the documented optional ones) every field required.
    optional = {"CADetail": {"ocsp_signer"}, "BulkRevokeResult": {"serials"}}
    for name in sorted(reply_schemas(d)):
        s = schemas.get(name, {})
        if s.get("type") != "object" or "properties" not in s:
            continue
        if s.get("additionalProperties") is not False:
            probs.append(("schema %s is strict" % name, "additionalProperties is not false"))
        missing = set(s["properties"]) - set(s.get("required", [])) - optional.get(name, set())
        if missing:
            probs.append(("schema %s requires its fields" % name, sorted(missing)))
    ids = {}
    for m, tmpl, op in d.ops:
        name = "%s %s" % (m, tmpl)
        oid = op.get("operationId")
        if not oid:
            probs.append((name + " has an operationId", "missing"))
        elif oid in ids:
            probs.append((name + " has a unique operationId", "also " + ids[oid]))
        else:
            ids[oid] = name
        roles = op.get("x-roles")
        if not isinstance(roles, list) or not roles or not set(roles) <= set(ROLES):
            probs.append((name + " lists its roles (x-roles)", repr(roles)))
            continue
        want = "Roles: " + ", ".join(roles) + "."
        if want not in op.get("description", ""):
            probs.append((name + " names its roles in the description", "no %r" % want))
        resp = op.get("responses", {})
        if "401" not in resp:
            probs.append((name + " documents 401", "missing"))
        if set(roles) != set(ROLES) and "403" not in resp:
            probs.append((name + " documents 403 (some roles may not)", "missing"))
        if not any(s.startswith("2") for s in resp):
            probs.append((name + " documents a success", "no 2xx"))
        declared = {p.get("name") for p in map(d.resolve, op.get("parameters", []))
                    if p.get("in") == "path"}
        needed = set(re.findall(r"\{([^}/]+)\}", tmpl))
        if declared != needed:
            probs.append((name + " declares its path parameters",
                          "template has %s, declared %s" % (sorted(needed), sorted(declared))))
        for status, r in resp.items():
            r = d.resolve(r)
            if not isinstance(r, dict) or "description" not in r:
                probs.append(("%s %s is a response" % (name, status), "no description"))
            elif "application/json" not in r.get("content", {}):
                probs.append(("%s %s is JSON" % (name, status), "no application/json content"))
    return probs


def compare_routes(d, routes):
    """Drift between the document and the route table, as (name, why) pairs."""
    probs = []
    table = {(m, p): (roles, h) for m, p, roles, h in routes}
    docops = {}
    for m, tmpl, op in d.ops:
        docops[(m, normalize(tmpl))] = (tmpl, op)
    for key in table:
        if key not in docops:
            probs.append(("route %s /api/v1%s is documented" % key,
                          "the server has it (src/api/api.c), the document does not"))
    for key, (tmpl, op) in docops.items():
        name = "%s %s" % (key[0], tmpl)
        if key not in table:
            probs.append(("operation %s is a route of the server" % name,
                          "the document has it, src/api/api.c does not"))
            continue
        roles, handler = table[key]
        if sorted(op.get("x-roles") or [], key=ROLES.index) != roles:
            probs.append(("%s x-roles match the route table" % name,
                          "document %s, server %s" % (op.get("x-roles"), roles)))
        if op.get("x-handler") != handler:
            probs.append(("%s x-handler matches the route table" % name,
                          "document %s, server %s" % (op.get("x-handler"), handler)))
    return probs


def run_static(d, routes):
    for name, why in check_document(d):
        failed("document: " + name, why)
    probs = compare_routes(d, routes)
    for name, why in probs:
        failed("routes: " + name, why)
    if not probs:
        passed("routes: the document's %d operations are exactly the %d routes of "
               "src/api/api.c (methods, paths, roles, handlers)" % (len(d.ops), len(routes)))
    if not check_document(d):
        passed("document: OpenAPI 3.1, valid JSON Schemas, every $ref resolves, every "
               "operation names its roles, path parameters, 401 and 403")


# --------------------------------------------------------------------------------------
# Live checks


class Client:
    def __init__(self, base, cacert, env):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.env = env
        self.ctx = ssl.create_default_context(cafile=cacert)
        self.ctx.check_hostname = False  # the listener's certificate names the server
        self.cert_ctx = None
        if env.get("OA_CLIENT_CERT"):
            self.cert_ctx = ssl.create_default_context(cafile=cacert)
            self.cert_ctx.check_hostname = False
            self.cert_ctx.load_cert_chain(env["OA_CLIENT_CERT"], env["OA_CLIENT_KEY"])

    def request(self, who, method, path, body=None, ctype=None):
        """who: a role (its token), "cert" (the operator certificate), "bad" (a forged
        token) or None (no credential). Returns (status, headers, raw body)."""
        headers = {}
        ctx = self.ctx
        if who == "cert":
            ctx = self.cert_ctx
        elif who == "bad":
            tok = self.env["OA_TOKEN_ADMIN"]
            headers["Authorization"] = "Bearer " + tok[:-1] + ("0" if tok[-1] != "0" else "1")
        elif who:
            headers["Authorization"] = "Bearer " + self.env["OA_TOKEN_" + who.upper()]
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else (
                body.encode() if isinstance(body, str) else json.dumps(body).encode())
            headers["Content-Type"] = ctype or "application/json"
        conn = http.client.HTTPSConnection(self.host, self.port, context=ctx, timeout=15)
        try:
            conn.request(method, "/api/v1" + path, body=data, headers=headers)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()


class Live:
    def __init__(self, d, client):
        self.d = d
        self.c = client
        self.seen = {}  # (METHOD, template) -> set of statuses
        self.exists = {}  # (METHOD, template) -> True once answered by a route
        self.last = None

    def call(self, name, who, method, path, want, body=None, ctype=None, routed=True,
             quiet=False):
        """One request; checks its status is want and that the document describes the
        reply. Returns the parsed JSON body (or None). routed: the reply comes from the
        operation's route (not from a check made before routing)."""
        label = "%s: %s %s" % (name, method, path if len(path) < 90 else path[:87] + "...")
        try:
            status, headers, raw = self.c.request(who, method, path, body, ctype)
        except (OSError, http.client.HTTPException) as e:
            failed(label, "no HTTP answer: %s" % e)
            return None
        problems = []
        js = None
        ctype_got = headers.get("content-type", "").split(";")[0].strip()
        if ctype_got == "application/json":
            try:
                js = json.loads(raw)
            except ValueError:
                problems.append("the body is not JSON: %r" % raw[:100])
        if status != want:
            problems.append("want %d, got %d: %s" % (want, status, raw[:200].decode("utf-8",
                                                                                    "replace")))
        bare = path.split("?")[0]
        tmpl, op = self.d.find(method, bare)
        err = (js or {}).get("error") if isinstance(js, dict) else None
        unknown = (status == 404 and isinstance(err, dict) and
                   err.get("message") == "no such API endpoint") or status == 405
        if op is None:
            if status != 401:
                # Not in the document: only the generic error replies are expected.
                if ctype_got != "application/json" or js is None:
                    problems.append("undocumented path answered %s" % ctype_got)
                else:
                    problems += ["Error: " + e for e in
                                 self.d.errors({"$ref": "#/components/schemas/Error"}, js)]
                    if self.d.path_known(bare) and status == 404 and unknown:
                        problems.append("the path is documented but the server has no route")
        else:
            key = (method, tmpl)
            self.seen.setdefault(key, set()).add(str(status))
            if who is not None and status != 401:
                if unknown:
                    problems.append("the server does not have this operation (%d %s)" %
                                    (status, (err or {}).get("message")))
                elif routed and status not in (413, 503):  # (413, 503: the HTTP layer's)
                    self.exists[key] = True
            problems += self.check_reply(op, status, headers, ctype_got, js, raw)
            if 200 <= status < 300 and body is not None:
                problems += self.check_request(op, body, ctype)
        if problems:
            failed(label, "; ".join(problems))
        elif not quiet:
            passed("%s -> %d%s" % (label, status, " (documented, schema ok)" if op else ""))
        self.last = (status, js)
        return js

    def check_reply(self, op, status, headers, ctype_got, js, raw):
        probs = []
        resp = op.get("responses", {})
        r = resp.get(str(status))
        if r is None:
            return ["status %d is not documented for this operation (has %s)" %
                    (status, ", ".join(sorted(resp)))]
        r = self.d.resolve(r)
        content = r.get("content", {})
        if content and ctype_got not in content:
            return ["content type %r, documented %s" % (ctype_got, sorted(content))]
        media = content.get(ctype_got)
        if media and "schema" in media:
            if ctype_got == "application/json":
                if js is not None:
                    probs += self.d.errors(media["schema"], js)
            else:
                probs += self.d.errors(media["schema"], raw.decode("utf-8", "replace"))
        for hname, h in r.get("headers", {}).items():
            h = self.d.resolve(h)
            v = headers.get(hname.lower())
            if v is None:
                if h.get("required"):
                    probs.append("no %s header" % hname)
                continue
            if "schema" in h:
                probs += ["header %s: %s" % (hname, e) for e in self.d.errors(h["schema"], v)]
        return probs

    def check_request(self, op, body, ctype):
        """A body the server accepted must be one the document allows."""
        rb = self.d.resolve(op.get("requestBody") or {})
        if not rb:
            return ["the server took a body the document does not describe"]
        media = rb.get("content", {}).get(ctype or "application/json")
        if media is None:
            return ["request content type %s is not documented" % (ctype or "application/json")]
        if (ctype or "application/json") == "application/json" and "schema" in media:
            inst = json.loads(body) if isinstance(body, (str, bytes)) else body
            return ["the document refuses the request body the server accepted: " + e
                    for e in self.d.errors(media["schema"], inst)]
        return []

    def walk(self, name, who, path, key, limit):
        """Pages through a list; checks every item is seen once, as in one big page."""
        sep = "&" if "?" in path else "?"
        whole = self.call(name + " (one page)", who, "GET", "%s%slimit=1000" % (path, sep), 200)
        if not whole:
            return
        got, cur, pages = [], None, 0
        while pages < 200:
            pg = self.call(name, who, "GET", "%s%slimit=%d%s" % (
                path, sep, limit, "&cursor=" + urllib.parse.quote(cur) if cur else ""), 200,
                quiet=True)
            if pg is None:
                return
            got += [x.get(key) for x in pg.get("items", [])]
            pages += 1
            cur = pg.get("next_cursor")
            if not cur:
                break
        want = [x.get(key) for x in whole.get("items", [])]
        # (The server may append meanwhile, e.g. to the audit log: those come last.)
        if got[:len(want)] == want and len(set(got)) == len(got) and \
                whole.get("next_cursor") is None:
            passed("%s: %d pages of %d hold each of the %d items once, in order" %
                   (name, pages, limit, len(want)))
        else:
            failed(name + ": paging sees each item once", "paged %s, whole %s" % (got, want))

    def fill(self, tmpl):
        """A concrete path for a template (parameters that need not exist)."""
        return re.sub(r"\{[^}/]*\}", lambda m: {"{kind}": "expiring",
                                                "{serial}": "0123"}.get(m.group(0), "x-1"),
                      tmpl)


def scenario(L, env):
    """Every operation, in an order that keeps each call's state known."""
    A, O, U, V = "admin", "operator", "auditor", "vendor"
    SA1, SG1, S6, S7 = env["OA_SERIAL_A1"], env["OA_SERIAL_G1"], env["OA_SERIAL_A6"], \
        env["OA_SERIAL_A7"]
    root_pem = open(env["OA_ROOT_PEM"], "rb").read()
    default_pem = open(env["OA_DEFAULT_PEM"], "rb").read()
    c = L.call

    # -- who, overview ----------------------------------------------------------------
    me = c("whoami (token)", A, "GET", "/me", 200)
    if me and me.get("role") != "admin":
        failed("whoami names the role", me)
    me = c("whoami (Admin CA client certificate, mutual TLS)", "cert", "GET", "/me", 200)
    if me and (me.get("kind"), me.get("role")) != ("certificate", "operator"):
        failed("mutual TLS signs in as the certificate's operator", me)
    c("a forged token", "bad", "GET", "/me", 401)
    ov = c("overview", A, "GET", "/overview", 200)
    kinds = {f.get("kind") for f in (ov or {}).get("findings", [])}
    if ov and not {"clone", "silent"} <= kinds:
        failed("overview shows the open clone and silent findings", sorted(kinds))

    # -- devices ----------------------------------------------------------------------
    c("list devices", A, "GET", "/devices", 200)
    pg = c("a page of 2 devices", O, "GET", "/devices?limit=2", 200)
    cur = (pg or {}).get("next_cursor")
    if not cur:
        failed("a short page has a next_cursor", pg)
    else:
        c("the next page", U, "GET", "/devices?limit=2&cursor=" + urllib.parse.quote(cur), 200)
    c("active devices of a class", A, "GET", "/devices?state=active&class=pump", 200)
    c("limit=0", A, "GET", "/devices?limit=0", 400)
    c("an unknown state", A, "GET", "/devices?state=sleeping", 400)
    vd = c("a vendor's devices", V, "GET", "/devices", 200)
    if vd and any(x.get("manufacturer") != "acme" for x in vd.get("items", [])):
        failed("a vendor lists only its manufacturer's devices", vd)
    c("a vendor asking for another maker", V, "GET", "/devices?manufacturer=globex", 200)
    c("show a device", A, "GET", "/devices/a-1", 200)
    c("a vendor shows its device", V, "GET", "/devices/a-1", 200)
    c("a vendor shows another maker's device", V, "GET", "/devices/g-1", 404)
    c("an unknown device", A, "GET", "/devices/nope", 404)
    c("a device's audit events", U, "GET", "/devices/a-1/audit", 200)
    c("an unknown device's audit events", A, "GET", "/devices/nope/audit", 404)
    c("register a device", O, "POST", "/devices",
      201, {"id": "new-1", "class": "pump", "serial": "SN-new-1", "manufacturer": "acme",
            "model": "P-100", "firmware": "1.2.0", "owner": "icu", "location": "ward 3",
            "criticality": "high"})
    c("register without a body", A, "POST", "/devices", 400)
    c("register with malformed JSON", A, "POST", "/devices", 400, '{"id":')
    c("register with a body that is not an object", A, "POST", "/devices", 400, "[1]")
    c("register without a class", A, "POST", "/devices", 400, {"id": "new-2"})
    c("register with a bad criticality", A, "POST", "/devices", 400,
      {"id": "new-2", "class": "pump", "criticality": "extreme"})
    c("register in an unknown class", A, "POST", "/devices", 404,
      {"id": "new-2", "class": "nope"})
    c("register an existing id", A, "POST", "/devices", 409, {"id": "a-1", "class": "pump"})
    csv = "id,class,serial,manufacturer,criticality\nimp-1,pump,S-1,acme,low\n" \
          "imp-2,pump,S-2,globex,life-critical\n"
    im = c("import CSV", A, "POST", "/devices/import", 201, csv, "text/csv")
    if im and im.get("imported") != 2:
        failed("import reports 2 imported", im)
    c("import garbage", A, "POST", "/devices/import", 400, "garbage\n", "text/csv")
    c("import an empty body", A, "POST", "/devices/import", 400)
    c("import into an unknown class", A, "POST", "/devices/import", 404,
      "id,class\nimp-3,nope\n", "text/csv")
    c("import an existing id", O, "POST", "/devices/import", 409,
      "id,class\nimp-1,pump\n", "text/csv")
    c("import a body over 32 KiB", A, "POST", "/devices/import", 413,
      "id,class\n" + "x" * 40000 + "\n", "text/csv")
    c("a new enrollment token (registered device)", A, "POST", "/devices/a-2/token", 200)
    c("a vendor re-tokens its device", V, "POST", "/devices/a-2/token", 200)
    c("a token for an unknown device", A, "POST", "/devices/nope/token", 404)
    c("a vendor re-tokens another maker's device", V, "POST", "/devices/g-1/token", 404)

    # -- lifecycle --------------------------------------------------------------------
    t = c("a vendor suspends its device", V, "POST", "/devices/a-3/suspend", 200,
          {"reason": "maintenance"})
    if t and (t.get("state"), t.get("certificates_changed")) != ("suspended", 1):
        failed("suspend puts the device's certificate on hold", t)
    c("certificates on hold", A, "GET", "/certificates?status=on-hold", 200)
    c("suspend a suspended device", A, "POST", "/devices/a-3/suspend", 409)
    c("suspend an unknown device", A, "POST", "/devices/nope/suspend", 404)
    c("suspend with a reason that is not a string", A, "POST", "/devices/a-3/suspend", 400,
      {"reason": 5})
    c("resume with a body that is not JSON", O, "POST", "/devices/a-3/resume", 400, "reason")
    c("resume (no body)", O, "POST", "/devices/a-3/resume", 200)
    c("resume an active device", O, "POST", "/devices/a-3/resume", 409)
    c("resume an unknown device", O, "POST", "/devices/nope/resume", 404)
    c("a vendor resumes another maker's device", V, "POST", "/devices/g-1/resume", 404)
    c("retire", A, "POST", "/devices/a-4/retire", 200, {"reason": "replaced"})
    c("retire a retired device", A, "POST", "/devices/a-4/retire", 409)
    c("retire an unknown device", O, "POST", "/devices/nope/retire", 404)
    c("retire with a body that is not an object", O, "POST", "/devices/a-5/retire", 400, "[1]")
    c("a token for a retired device", A, "POST", "/devices/a-4/token", 409)
    c("mark compromised", O, "POST", "/devices/a-5/compromised", 200, {"reason": "lost"})
    c("mark a compromised device compromised", O, "POST", "/devices/a-5/compromised", 409)
    c("mark an unknown device compromised", A, "POST", "/devices/nope/compromised", 404)
    c("mark compromised with a bad reason", A, "POST", "/devices/a-1/compromised", 400,
      {"reason": ["x"]})
    c("clear an open clone finding", O, "POST", "/devices/a-1/clear-clone", 200,
      {"reason": "test rig"})
    c("clear when none is open", A, "POST", "/devices/a-1/clear-clone", 404)
    c("clear-clone of an unknown device", A, "POST", "/devices/nope/clear-clone", 404)
    c("clear-clone with a bad reason", A, "POST", "/devices/a-1/clear-clone", 400,
      {"reason": 1})

    # -- classes ----------------------------------------------------------------------
    c("list classes", U, "GET", "/classes", 200)
    c("create a class", O, "POST", "/classes", 201,
      {"name": "sensor", "ca": "default", "lifetime": "7d", "key_types": "ec-p256,ed25519",
       "eku": "clientAuth,serverAuth", "renew_at": 0.5, "min_firmware": "2.0",
       "revoke_superseded": True})
    c("create an existing class", A, "POST", "/classes", 409, {"name": "sensor", "ca": "default"})
    c("create a class on an unknown CA", A, "POST", "/classes", 404,
      {"name": "other", "ca": "nope"})
    c("create a class without a CA", A, "POST", "/classes", 400, {"name": "other"})
    c("create a class with an unknown key type", A, "POST", "/classes", 400,
      {"name": "other", "ca": "default", "key_types": "rsa-1024"})
    c("show a class", U, "GET", "/classes/pump", 200)
    c("show an unknown class", A, "GET", "/classes/nope", 404)
    c("change a class's lifetime", O, "POST", "/classes/sensor", 200,
      {"lifetime": "14d", "revoke_superseded": False})
    c("change a class's CA", A, "POST", "/classes/sensor", 400, {"ca": "vendor-b"})
    c("a renewal point that is not a number", A, "POST", "/classes/sensor", 400,
      {"renew_at": "half"})
    c("change an unknown class", A, "POST", "/classes/nope", 404, {"lifetime": "1d"})

    # -- CAs --------------------------------------------------------------------------
    c("list CAs", U, "GET", "/cas", 200)
    c("create an issuing CA", A, "POST", "/cas", 201, {"name": "vendor-b"})
    c("create an existing CA", A, "POST", "/cas", 409, {"name": "vendor-b"})
    c("create a CA without a name", A, "POST", "/cas", 400, {})
    c("create a CA with a bad name", A, "POST", "/cas", 400, {"name": "Vendor B"})
    c("show a CA", O, "GET", "/cas/default", 200)
    c("show the root", A, "GET", "/cas/root", 200)
    c("show an unknown CA", A, "GET", "/cas/nope", 404)
    c("renew an OCSP signer", A, "POST", "/cas/vendor-b/renew-ocsp", 200, {"lifetime": "2d"})
    c("renew with a bad lifetime", A, "POST", "/cas/vendor-b/renew-ocsp", 400,
      {"lifetime": "soon"})
    c("renew an unknown CA's signer", A, "POST", "/cas/nope/renew-ocsp", 404)
    c("bulk revoke by CA (admin)", A, "POST", "/certificates/revoke", 200, {"ca": "vendor-b"})
    c("revoke an issuing CA", A, "POST", "/cas/vendor-b/revoke", 200, {"reason": "cACompromise"})
    c("revoke a revoked CA", A, "POST", "/cas/vendor-b/revoke", 409)
    c("renew a revoked CA's signer", A, "POST", "/cas/vendor-b/renew-ocsp", 409)
    c("revoke the root", A, "POST", "/cas/root/revoke", 400)
    c("revoke with an unknown reason", A, "POST", "/cas/default/revoke", 400,
      {"reason": "boredom"})
    c("revoke an unknown CA", A, "POST", "/cas/nope/revoke", 404)

    # -- manufacturers ----------------------------------------------------------------
    c("list manufacturer anchors (none)", O, "GET", "/manufacturers", 200)
    c("add globex's anchor (DER? no: PEM)", O, "POST", "/manufacturers/globex", 201,
      default_pem, "application/x-pem-file")
    ma = c("add acme's anchor", A, "POST", "/manufacturers/acme", 201, root_pem,
           "application/x-pem-file")
    if ma and any(a.get("manufacturer") != "acme" for a in ma.get("anchors", [])):
        failed("adding acme's anchor answers acme's anchors",
               [a.get("manufacturer") for a in ma.get("anchors", [])])
    c("add the same anchor again", A, "POST", "/manufacturers/acme", 409, root_pem,
      "application/x-pem-file")
    c("add an anchor that is not a certificate", A, "POST", "/manufacturers/acme", 400,
      b"junk", "application/pkix-cert")
    c("list manufacturer anchors", U, "GET", "/manufacturers", 200)

    # -- certificates -----------------------------------------------------------------
    c("list certificates", U, "GET", "/certificates", 200)
    pg = c("a page of 1 certificate", A, "GET", "/certificates?limit=1", 200)
    cur = (pg or {}).get("next_cursor")
    if not cur:
        failed("a short page of certificates has a next_cursor", pg)
    else:
        c("the next page of certificates", A, "GET",
          "/certificates?limit=1&cursor=" + urllib.parse.quote(cur), 200)
    L.walk("page through certificates", U, "/certificates", "serial", 2)
    c("a device's valid certificates", A, "GET", "/certificates?device=a-1&status=valid", 200)
    c("a CA's and a class's certificates", A, "GET", "/certificates?ca=default&class=pump", 200)
    c("an unknown status", A, "GET", "/certificates?status=expired", 400)
    c("a malformed cursor", A, "GET", "/certificates?cursor=yesterday", 400)
    c("a vendor lists without ?device=", V, "GET", "/certificates", 403)
    c("a vendor lists another maker's device's", V, "GET", "/certificates?device=g-1", 404)
    c("a vendor lists its device's", V, "GET", "/certificates?device=a-1", 200)
    c("show a certificate", A, "GET", "/certificates/" + SA1, 200)
    c("a vendor shows its device's certificate", V, "GET", "/certificates/" + SA1, 200)
    c("a vendor shows another maker's", V, "GET", "/certificates/" + SG1, 404)
    c("show an unknown serial", A, "GET", "/certificates/0123", 404)
    c("show a serial that is not hex", A, "GET", "/certificates/xyz", 400)
    c("revoke a certificate", O, "POST", "/certificates/%s/revoke" % S6, 200,
      {"reason": "keyCompromise", "why": "key found on a forum"})
    c("revoke it again", O, "POST", "/certificates/%s/revoke" % S6, 409)
    c("revoke an unknown serial", A, "POST", "/certificates/0123/revoke", 404)
    c("revoke with an unknown reason", A, "POST", "/certificates/%s/revoke" % SA1, 400,
      {"reason": "boredom"})
    r = c("revoke listed serials", A, "POST", "/certificates/revoke", 200,
          {"serials": [S7], "reason": "superseded", "why": "test"})
    if r and r.get("serials") != [S7]:
        failed("bulk revoke names the serials it revoked", r)
    c("revoke a revoked serial in a list", O, "POST", "/certificates/revoke", 409,
      {"serials": [S7]})
    c("revoke an unknown serial in a list", O, "POST", "/certificates/revoke", 404,
      {"serials": ["0123"]})
    c("revoke a class's certificates", O, "POST", "/certificates/revoke", 200,
      {"class": "sensor"})
    c("revoke an unknown class's certificates", O, "POST", "/certificates/revoke", 404,
      {"class": "nope"})
    c("bulk revoke by CA (operator)", O, "POST", "/certificates/revoke", 403, {"ca": "default"})
    c("bulk revoke naming two scopes", A, "POST", "/certificates/revoke", 400,
      {"class": "pump", "ca": "default"})
    c("bulk revoke naming none", A, "POST", "/certificates/revoke", 400, {})

    # -- policies ---------------------------------------------------------------------
    c("list policy rules", U, "GET", "/policies", 200)
    c("a class's rules for a service", U, "GET", "/policies?class=pump&service=telemetry", 200)
    c("allow a class a service", O, "POST", "/policies", 201,
      {"class": "pump", "service": "mqtt", "pattern": "/v1/**", "methods": "GET,POST"})
    c("allow with the defaults", A, "POST", "/policies", 201,
      {"class": "sensor", "service": "mqtt"})
    c("allow an unknown class", A, "POST", "/policies", 404, {"class": "nope", "service": "x"})
    c("allow without a service", A, "POST", "/policies", 400, {"class": "pump"})
    c("allow an unknown method", A, "POST", "/policies", 400,
      {"class": "pump", "service": "mqtt", "methods": "FETCH"})
    c("remove a rule", O, "DELETE", "/policies?class=pump&service=mqtt&pattern=%2Fv1%2F%2A%2A",
      200)
    c("remove a class's rules for a service", A, "DELETE",
      "/policies?class=sensor&service=mqtt", 200)
    c("remove rules that do not exist", A, "DELETE", "/policies?class=pump&service=mqtt", 404)
    c("remove without naming a service", A, "DELETE", "/policies?class=pump", 400)

    # -- reports ----------------------------------------------------------------------
    c("blast radius of a CA", U, "GET", "/reports/blast-radius?ca=default", 200)
    c("blast radius of a class", O, "GET", "/reports/blast-radius?class=pump", 200)
    c("blast radius of nothing", A, "GET", "/reports/blast-radius", 400)
    c("blast radius of an unknown class", A, "GET", "/reports/blast-radius?class=nope", 404)
    for kind in ("expiring", "drift", "duplicates", "weak", "silent", "clones"):
        rep = c("report " + kind, U, "GET", "/reports/" + kind, 200)
        if rep and rep.get("report") != kind:
            failed("report %s names itself" % kind, rep.get("report"))
    rep = c("report expiring within 90 days", A, "GET", "/reports/expiring?within=90d", 200)
    if rep is not None and not rep.get("items"):
        failed("the expiring report lists the test's certificates", rep)
    c("report silent for 1 hour", A, "GET", "/reports/silent?silent=1h", 200)
    c("report expiring within a bad duration", A, "GET", "/reports/expiring?within=soon", 400)
    c("an unknown report", A, "GET", "/reports/nothing", 404)

    # -- audit ------------------------------------------------------------------------
    pg = c("a page of the audit log", U, "GET", "/audit?limit=5", 200)
    cur = (pg or {}).get("next_cursor")
    if not cur:
        failed("a short page of the audit log has a next_cursor", pg)
    else:
        c("the next page of the audit log", U, "GET", "/audit?limit=5&cursor=" + cur, 200)
    c("one object's audit events", A, "GET", "/audit?object=a-1", 200)
    L.walk("page through the audit log", U, "/audit", "seq", 25)
    L.walk("page through devices", O, "/devices", "id", 3)
    c("a malformed audit cursor", A, "GET", "/audit?cursor=-1", 400)
    c("a malformed audit limit", A, "GET", "/audit?limit=1001", 400)
    v = c("verify the audit log", U, "GET", "/audit/verify", 200)
    if v and v.get("ok") is not True:
        failed("the audit log verifies", v)

    # -- operator credentials ---------------------------------------------------------
    c("list credentials", A, "GET", "/admins", 200)
    c("one operator's credentials", A, "GET", "/admins?name=ops", 200)
    tok = c("create a token", A, "POST", "/admins", 201,
            {"name": "temp-1", "role": "auditor", "expires": "1h"})
    c("create a vendor token", A, "POST", "/admins", 201,
      {"name": "temp-v", "role": "vendor", "manufacturer": "acme", "expires": "2h",
       "kind": "token"})
    c("create a certificate", A, "POST", "/admins", 201,
      {"name": "temp-2", "role": "operator", "kind": "certificate"})
    c("a vendor without a manufacturer", A, "POST", "/admins", 400,
      {"name": "temp-3", "role": "vendor"})
    c("an unknown role", A, "POST", "/admins", 400, {"name": "temp-3", "role": "root"})
    c("an unknown kind", A, "POST", "/admins", 400,
      {"name": "temp-3", "role": "auditor", "kind": "password"})
    if tok and tok.get("token"):
        L.c.env["OA_TOKEN_TEMP"] = tok["token"]
        c("the new token signs in", "temp", "GET", "/me", 200)
    c("revoke an operator's credentials", A, "DELETE", "/admins/temp-1", 200)
    if tok and tok.get("token"):
        c("a revoked token", "temp", "GET", "/me", 401)
    c("revoke them again", A, "DELETE", "/admins/temp-1", 404)

    # -- outside the document: the generic replies ------------------------------------
    c("an unknown endpoint", A, "GET", "/nothing", 404)
    c("a known path with another method", A, "DELETE", "/devices", 405)
    c("an unknown endpoint without a credential", None, "GET", "/nothing", 401)


def auth_matrix(L):
    """401 without a credential, 400 for a malformed query string and 403 for each role
    x-roles leaves out, everywhere (all answered before the operation runs)."""
    for m, tmpl, op in L.d.ops:
        path = L.fill(tmpl)
        L.call("no credential", None, m, path, 401)
        L.call("a malformed query string", "admin", m, path + "?x", 400, routed=False)
        for role in ROLES:
            if role not in (op.get("x-roles") or []):
                L.call("role %s may not" % role, role, m, path, 403)


def coverage(L):
    for m, tmpl, op in L.d.ops:
        key = (m, tmpl)
        name = "%s %s" % (m, tmpl)
        if not L.exists.get(key):
            failed("coverage: the server has %s" % name,
                   "no signed-in call reached it (404 no such API endpoint, 405, or never "
                   "called)")
        documented = set(op.get("responses", {}))
        seen = L.seen.get(key, set())
        missing = sorted(documented - seen - UNSEEN_OK)
        if missing:
            failed("coverage: %s answered every documented status" % name,
                   "never saw %s (saw %s)" % (", ".join(missing), ", ".join(sorted(seen))))
        else:
            passed("coverage: %s answered each documented status (%s)" %
                   (name, ", ".join(sorted(seen))))


def run_live(d, args):
    env = dict(os.environ)
    L = Live(d, Client(args.base, args.cacert, env))
    t0 = time.time()
    scenario(L, env)
    auth_matrix(L)
    coverage(L)
    print("# live checks took %.1f s" % (time.time() - t0))


# --------------------------------------------------------------------------------------
# Self test: the checks catch drift


def self_test(d, routes):
    def caught(name, mutate, want):
        doc = copy.deepcopy(d.doc)
        mutate(doc)
        m = Doc(doc)
        probs = check_document(m) + compare_routes(m, routes)
        text = " | ".join("%s: %s" % p for p in probs)
        if re.search(want, text):
            passed("self-test: " + name)
        else:
            failed("self-test: " + name, "not caught (problems: %s)" % (text or "none"))

    def drop(doc):
        del doc["paths"]["/devices/{id}/audit"]["get"]

    def invent(doc):
        doc["paths"]["/devices/{id}/firmware"] = {
            "post": copy.deepcopy(doc["paths"]["/devices/{id}/token"]["post"])}
        doc["paths"]["/devices/{id}/firmware"]["post"]["operationId"] = "pushFirmware"

    def roles(doc):
        doc["paths"]["/admins"]["get"]["x-roles"] = ["admin", "auditor"]

    caught("a route the document lacks", drop,
           r"route GET /api/v1/devices/\{\}/audit is documented")
    caught("an operation the server does not have", invent,
           r"operation POST /devices/\{id\}/firmware is a route of the server")
    caught("roles that differ from the route table", roles, r"GET /admins x-roles match")

    # A field the server sends but the schema does not know (and one it no longer sends).
    doc = copy.deepcopy(d.doc)
    dev = doc["components"]["schemas"]["Device"]
    del dev["properties"]["owner"]
    dev["required"].remove("owner")
    sample = {"id": "a-1", "class": "pump", "state": "active", "serial": "", "manufacturer": "",
              "model": "", "firmware": "", "owner": "", "location": "", "criticality": "low",
              "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
              "token_expires": ""}
    m = Doc(doc)
    ref = {"$ref": "#/components/schemas/Device"}
    if m.errors(ref, sample) and d.errors(ref, dict(sample, extra=1)) and \
            d.errors(ref, {k: v for k, v in sample.items() if k != "model"}) and \
            not d.errors(ref, sample):
        passed("self-test: a field added to or missing from a reply fails its schema")
    else:
        failed("self-test: a field added to or missing from a reply fails its schema",
               "not caught")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--doc", required=True)
    ap.add_argument("--routes", required=True)
    ap.add_argument("--base")
    ap.add_argument("--cacert")
    ap.add_argument("--static-only", action="store_true")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--live-only", action="store_true", help="skip the static checks")
    args = ap.parse_args()
    try:
        d = Doc(json.load(open(args.doc, encoding="utf-8")))
    except (OSError, ValueError) as e:
        failed("the document is JSON", e)
        return 1
    routes = parse_routes(args.routes)
    if not args.live_only:
        passed("the document is JSON (%d operations)" % len(d.ops))
        run_static(d, routes)
    if args.self_test:
        self_test(d, routes)
    if not args.static_only:
        if not args.base:
            failed("live checks", "--base is needed")
        else:
            run_live(d, args)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # a crash is a failure, never a silent pass
        import traceback
        failed("openapi_check.py runs to its end", "%s: %s" % (
            e, traceback.format_exc().strip().splitlines()[-3:]))
        sys.exit(2)
