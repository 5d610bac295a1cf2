#!/usr/bin/env python3
"""
Abuse load against a running `devtrust serve` (issue 7, "Abuse"): phases of
hostile connections, each while a normal client is timed once a second, the
server's RSS and open descriptors are sampled once a second, and its log is
read for what it said. Python 3 standard library only (asyncio holds the
10,000 sockets). bench/abuse.sh starts a server and runs this;
tests/integration/abuse_test.sh runs it at a small scale.

Phases (--phases, in this order):
  base   no abuse: the normal client's reference latency
  idle   N TCP connections to both listeners that send nothing; each one the
         server closes is opened again (the attacker keeps N)
  slow   N slowloris connections, half in clear and half inside TLS: a request
         line, then one header byte every --drip seconds; reopened when closed
  tls    N connections to the TLS listener that send a ClientHello and nothing
         more (the server does its half of the handshake), reopened when closed
  bad    one-shot connections, each timed to the server's answer or close (so
         below the cap, not to time the backlog): --garbage-rate a second send
         malformed TLS (random bytes, HTTP in clear, a mutated ClientHello, a
         record header over the RFC 8446 5.1 limit) to the TLS listener and TLS
         or binary to the plain one; --big-rate a second send requests just above
         each limit of src/http/http.h: headers over --max-headers, bodies over
         --max-body (POST /ocsp in clear, EST over TLS) and over --max-body-hard,
         chunked, a huge Content-Length
  ka     N keep-alive connections, each a GET /ocsp/<b64> every --ka-interval
         seconds (jittered), opened at --ramp connections a second
The normal client, every second: curl GET /ocsp/<b64> on the plain listener
(a new connection each time) and curl EST simpleenroll with a fresh device's
token over verified TLS, both with --max-time --normal-timeout; a request
that is not a 200 within it is a failure. With --normal-retry the OCSP GET,
idempotent, is retried once at once if its connection fails: at the cap with
none idle the server closes a new connection at accept (DECISIONS.md 73), and
a client that tries again is served when a slot frees.

Writes a JSON summary (--json) and a Markdown table on standard output.
"""
import argparse
import asyncio
import base64
import json
import os
import random
import resource
import ssl
import statistics
import sys
import time
import urllib.parse

now = time.monotonic


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def med(xs):
    return statistics.median(xs) if xs else None


class Server:
    def __init__(self, pid, log):
        self.pid, self.log = pid, log

    def alive(self):
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        try:
            with open("/proc/%d/status" % self.pid) as f:
                return not any(l.startswith("State:") and "Z" in l.split()[1] for l in f)
        except OSError:
            return False

    def status_kb(self, key):
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for l in f:
                    if l.startswith(key + ":"):
                        return int(l.split()[1])
        except OSError:
            pass
        return None

    def nfds(self):
        try:
            return len(os.listdir("/proc/%d/fd" % self.pid))
        except OSError:
            return None

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def log_since(self, off):
        """What the server logged since offset off: counts by event, by status,
        lines that are not JSON (first few kept)."""
        ev, st, other, samples = {}, {}, 0, []
        try:
            with open(self.log, "rb") as f:
                f.seek(off)
                data = f.read()
        except OSError:
            data = b""
        for line in data.splitlines():
            try:
                o = json.loads(line)
            except ValueError:
                other += 1
                if len(samples) < 3:
                    samples.append(line[:200].decode(errors="replace"))
                continue
            if "event" in o:
                ev[o["event"]] = ev.get(o["event"], 0) + 1
            elif "status" in o:
                k = "%s %s" % (o.get("route", "?"), o["status"])
                st[k] = st.get(k, 0) + 1
        return {"events": ev, "statuses": st, "non_json": other, "non_json_samples": samples}


class Phase:
    """What one phase measured."""

    def __init__(self, name, target):
        self.name, self.target = name, target
        self.open = 0          # abusive connections established, client side
        self.pending = 0       # abusive connects in progress
        self.opened = 0        # connects that completed
        self.connect_fail = 0
        self.closed_by_server = []  # seconds from the connect call to the server's close
        self.answered = 0      # responses the abusive side got (statuses below)
        self.statuses = {}
        self.ka_lat = []       # keep-alive phase: per-request latency
        self.ka_conns_served = set()
        self.outcomes = {}     # garbage / oversized: kind -> {outcome: [seconds]}
        self.samples = []      # (t, rss_kb, fds, open, pending)
        self.normal = {"ocsp": [], "est": []}  # (ok, seconds, code)

    def outcome(self, kind, what, secs):
        self.outcomes.setdefault(kind, {}).setdefault(what, []).append(secs)

    def status(self, code):
        self.statuses[code] = self.statuses.get(code, 0) + 1


class Spec:
    """What an abusive connection does: its protocol, its number, where it goes,
    the bytes it starts with, and drip (Held: seconds between further bytes,
    None for none; KeepAlive: mean seconds between requests)."""

    def __init__(self, proto, i, port, tls=False, first=None, drip=None):
        self.proto, self.i, self.port, self.tls, self.first, self.drip = \
            proto, i, port, tls, first, drip
        self.phase = None


class Conn(asyncio.Protocol):
    """An abusive connection, opened again (as its Spec says) when the server
    closes it, until the phase ends."""

    def __init__(self, ab, ph, spec, t0):
        self.ab, self.ph, self.spec, self.t0 = ab, ph, spec, t0
        self.tr = self.timer = None
        self.aborted = False

    def connection_made(self, tr):
        self.tr = tr
        self.ph.open += 1
        self.ph.opened += 1
        self.ab.live.add(self)
        self.started()

    def started(self):
        pass

    def eof_received(self):
        return False  # close

    def connection_lost(self, exc):
        if self.timer:
            self.timer.cancel()
        self.ph.open -= 1
        self.ab.live.discard(self)
        if self.aborted or self.ab.stop:
            return
        self.ph.closed_by_server.append(now() - self.t0)
        asyncio.get_running_loop().call_later(self.reopen_after(), self.ab.open_conn, self.spec)

    def reopen_after(self):
        return random.uniform(0, 0.1)  # an attacker is back at once

    def abort(self):
        self.aborted = True
        self.tr.abort()


class Held(Conn):
    """Sends its first bytes, then one byte of an endless header every drip
    seconds (none if drip is None), and reads whatever comes."""
    FILLER = b"X-Slow-Header: " + b"a" * 64 + b"\r\n"

    def started(self):
        self.i = 0
        if self.spec.first:
            self.tr.write(self.spec.first)
        if self.spec.drip:
            self.timer = asyncio.get_running_loop().call_later(self.spec.drip, self.drip)

    def drip(self):
        f = self.FILLER
        self.tr.write(f[self.i % len(f):self.i % len(f) + 1])
        self.i += 1
        self.timer = asyncio.get_running_loop().call_later(self.spec.drip, self.drip)

    def data_received(self, d):
        if d.startswith(b"HTTP/1."):
            self.ph.answered += 1
            self.ph.status(d.split(b" ", 2)[1].decode(errors="replace"))


class KeepAlive(Conn):
    """Sends its request (first), reads the answer, sends it again after about
    drip seconds (0.5 to 1.5 times), on the same connection."""

    def started(self):
        self.buf = b""
        self.send()

    def reopen_after(self):
        # As an HTTP client with a pool of connections: when it next has a request.
        return self.spec.drip * random.uniform(0.5, 1.5)

    def send(self):
        self.timer = None
        self.sent = now()
        self.tr.write(self.spec.first)

    def data_received(self, d):
        self.buf += d
        head = self.buf.find(b"\r\n\r\n")
        if head < 0:
            return
        lines = self.buf[:head].split(b"\r\n")
        clen, close = 0, False
        for l in lines[1:]:
            k, _, v = l.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                clen = int(v)
            elif k == b"connection" and v.strip().lower() == b"close":
                close = True
        if len(self.buf) < head + 4 + clen:
            return
        self.buf = self.buf[head + 4 + clen:]
        ph = self.ph
        ph.ka_lat.append(now() - self.sent)
        ph.answered += 1
        ph.status(lines[0].split(b" ", 2)[1].decode(errors="replace"))
        ph.ka_conns_served.add(self.spec.i)
        if not close:
            self.timer = asyncio.get_running_loop().call_later(
                self.spec.drip * random.uniform(0.5, 1.5), self.send)


class Abuse:
    def __init__(self, a):
        self.a = a
        self.srv = Server(a.pid, a.log)
        self.stop = False
        self.tasks = set()
        self.probes = set()  # one-shot requests: run to their end, not cancelled
        self.live = set()  # the abusive connections open
        self.ph = None
        self.est_bodies = []
        if a.est_bodies:
            with open(a.est_bodies) as f:
                self.est_bodies = [l.rstrip("\n").split("\t") for l in f if "\t" in l]
        with open(a.ocsp_req, "rb") as f:
            der = f.read()
        self.ocsp_path = "/ocsp/" + urllib.parse.quote(base64.b64encode(der).decode(), safe="")
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.tls.check_hostname = False
        self.tls.verify_mode = ssl.CERT_NONE
        self.hello = self.client_hello()

    def client_hello(self):
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        o = self.tls.wrap_bio(inc, out, server_hostname="devtrust.test")
        try:
            o.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return out.read()

    # --- tasks: the phase's (cancelled at its end) and the probes (awaited)

    def spawn(self, coro, into=None):
        into = self.tasks if into is None else into
        t = asyncio.ensure_future(coro)
        into.add(t)
        t.add_done_callback(into.discard)
        return t

    # --- the abusive connections: protocols on the loop, no task each, so that
    # the client, not the server, is never what runs out of CPU

    def open_conn(self, spec):
        # Not for a spec of a phase that has ended (a reopen timer set before).
        if not self.stop and spec.phase is self.ph:
            self.spawn(self._open(spec))

    async def _open(self, spec):
        ph = self.ph
        ph.pending += 1
        # From before the connect: the server's deadline starts at its accept,
        # which comes after, and covers a TLS handshake.
        t0 = now()
        made = []
        try:
            await asyncio.get_running_loop().create_connection(
                lambda: made.append(spec.proto(self, ph, spec, t0)) or made[0], "127.0.0.1",
                spec.port, ssl=self.tls if spec.tls else None,
                server_hostname="devtrust.test" if spec.tls else None)
        except (OSError, ssl.SSLError, EOFError):
            ph.connect_fail += 1
            # One connection a spec at a time: once connection_made has run, its
            # connection_lost opens the next one.
            if not self.stop and not (made and made[0].tr):
                asyncio.get_running_loop().call_later(0.2, self.open_conn, spec)
        finally:
            ph.pending -= 1

    async def ramp(self, specs):
        """Opens the connections at --ramp a second."""
        step = 1.0 / self.a.ramp
        t0 = now()
        for i, spec in enumerate(specs):
            if self.stop:
                return
            spec.phase = self.ph
            self.open_conn(spec)
            lag = t0 + (i + 1) * step - now()
            if lag > 0:
                await asyncio.sleep(lag)

    # --- phases

    def ph_idle(self, n):
        return self.ramp([Spec(Held, i, self.a.http if i % 2 else self.a.https)
                          for i in range(n)])

    def ph_slow(self, n):
        line = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % self.ocsp_path).encode()
        tline = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        return self.ramp([Spec(Held, i, self.a.https, True, tline, self.a.drip) if i % 2 else
                          Spec(Held, i, self.a.http, False, line, self.a.drip)
                          for i in range(n)])

    async def garbage_one(self, kind, port, data):
        ph = self.ph
        t0 = now()
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            ph.outcome(kind, "connect failed", now() - t0)
            return
        t0 = now()
        what = "still open after 15 s"
        try:
            w.write(data)
            while True:
                d = await asyncio.wait_for(r.read(1 << 16), 15 - (now() - t0))
                if not d:
                    what = "closed"
                    break
                if d.startswith(b"HTTP/1."):
                    what = "answered " + d.split(b" ", 2)[1].decode(errors="replace")
                    # evhttp closes after an error reply; wait for it
        except asyncio.TimeoutError:
            pass
        except (OSError, ssl.SSLError):
            what = "closed"
        finally:
            w.transport.abort()
            ph.outcome(kind, what, now() - t0)

    def garbage_kinds(self):
        hello = self.hello
        mutated = bytearray(hello)
        for _ in range(8):
            j = random.randrange(5, len(mutated))
            mutated[j] ^= random.randrange(1, 256)
        a = self.a
        return [
            ("tls: random bytes", a.https, lambda: os.urandom(1024)),
            ("tls: HTTP in clear", a.https, lambda: b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("tls: mutated ClientHello", a.https, lambda: bytes(mutated)),
            # RFC 8446 5.1: a TLSPlaintext fragment is at most 2^14 bytes.
            ("tls: record over 2^14", a.https, lambda: b"\x16\x03\x01\xff\xff" + os.urandom(512)),
            ("plain: random bytes", a.http, lambda: os.urandom(1024)),
            ("plain: ClientHello", a.http, lambda: hello),
        ]

    def ph_tls(self, n):
        return self.ramp([Spec(Held, i, self.a.https, first=self.hello) for i in range(n)])

    async def garbage(self):
        kinds = self.garbage_kinds()
        i = 0
        while not self.stop:
            kind, port, data = kinds[i % len(kinds)]
            self.spawn(self.garbage_one(kind, port, data()), self.probes)
            i += 1
            await asyncio.sleep(1.0 / self.a.garbage_rate)

    async def big_one(self, kind, port, tls, head, body):
        ph = self.ph
        t0 = now()
        try:
            r, w = await asyncio.open_connection(
                "127.0.0.1", port, ssl=self.tls if tls else None,
                server_hostname="devtrust.test" if tls else None)
        except (OSError, ssl.SSLError):
            ph.outcome(kind, "connect failed", now() - t0)
            return
        t0 = now()
        what = "no answer in 15 s"
        try:
            w.write(head)
            if body:
                w.write(body)
            try:
                await asyncio.wait_for(w.drain(), 15)
            except (OSError, ssl.SSLError):
                pass  # the server may refuse before the body is sent
            d = await asyncio.wait_for(r.read(1 << 16), 15 - (now() - t0))
            what = ("answered " + d.split(b" ", 2)[1].decode(errors="replace")
                    if d.startswith(b"HTTP/1.") else "closed")
        except asyncio.TimeoutError:
            pass
        except (OSError, ssl.SSLError):
            what = "closed"
        finally:
            w.transport.abort()
            ph.outcome(kind, what, now() - t0)

    async def ph_bad(self, _n):
        self.spawn(self.garbage())
        a = self.a
        over = 1024
        bighdr = ("GET %s HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n" %
                  (self.ocsp_path, "a" * (a.max_headers + over))).encode()
        many = "".join("X-H%d: v\r\n" % i for i in range(a.max_headers // 10 + 100))
        manyhdr = ("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (self.ocsp_path, many)).encode()

        def post(path, n, ctype, extra=""):
            return ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
                    % (path, ctype, n, extra)).encode()
        est = "/.well-known/est/%s/simpleenroll" % a.est_class
        body1 = b"A" * (a.max_body + over)
        body2 = b"A" * (a.max_body_hard + over)
        chunk = 8192
        chunked = b"".join(b"%x\r\n" % chunk + b"A" * chunk + b"\r\n"
                           for _ in range(a.max_body_hard // chunk + 2)) + b"0\r\n\r\n"
        kinds = [
            ("header line over %d B (plain)" % a.max_headers, a.http, False, bighdr, None),
            ("header line over %d B (TLS)" % a.max_headers, a.https, True,
             bighdr.replace(self.ocsp_path.encode(), b"/healthz"), None),
            ("%d headers, over %d B" % (a.max_headers // 10 + 100, a.max_headers), a.http, False,
             manyhdr, None),
            ("POST /ocsp body %d+%d B" % (a.max_body, over), a.http, False,
             post("/ocsp", len(body1), "application/ocsp-request"), body1),
            ("EST body %d+%d B (TLS)" % (a.max_body, over), a.https, True,
             post(est, len(body1), "application/pkcs10"), body1),
            ("POST /ocsp body %d+%d B" % (a.max_body_hard, over), a.http, False,
             post("/ocsp", len(body2), "application/ocsp-request"), body2),
            ("chunked body over %d B" % a.max_body_hard, a.http, False,
             post("/ocsp", 0, "application/ocsp-request", "Transfer-Encoding: chunked\r\n")
             .replace(b"Content-Length: 0\r\n", b""), chunked),
            ("Content-Length 10^15, no body", a.http, False,
             post("/ocsp", 10 ** 15, "application/ocsp-request"), None),
        ]
        i = 0
        while not self.stop:
            k = kinds[i % len(kinds)]
            self.spawn(self.big_one(*k), self.probes)
            i += 1
            await asyncio.sleep(1.0 / a.big_rate)

    def ph_ka(self, n):
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % self.ocsp_path).encode()
        return self.ramp([Spec(KeepAlive, i, self.a.http, first=req, drip=self.a.ka_interval)
                          for i in range(n)])

    # --- the normal client and the samplers

    async def curl(self, which, args, stdin=None):
        t = now()
        p = await asyncio.create_subprocess_exec(
            "curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
            "--max-time", str(self.a.normal_timeout), *args,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        out, _ = await p.communicate(stdin)
        try:
            code, secs = out.decode().split()
            secs = float(secs)
        except ValueError:
            code, secs = "???", now() - t
        self.ph.normal[which].append((code == "200", secs, code))

    async def normal_client(self, until):
        a = self.a
        running = []
        next_t = now()
        while now() < until:
            retry = ["--retry", "1", "--retry-all-errors", "--retry-delay", "0"]
            running.append(asyncio.ensure_future(self.curl(
                "ocsp", (retry if a.normal_retry else []) +
                ["http://127.0.0.1:%d%s" % (a.http, self.ocsp_path)])))
            if self.est_bodies:
                basic, body = self.est_bodies.pop()
                running.append(asyncio.ensure_future(self.curl(
                    "est", ["--cacert", a.cacert, "-H", "Authorization: Basic " + basic,
                            "-H", "Content-Type: application/pkcs10", "--data-binary", "@-",
                            "https://127.0.0.1:%d/.well-known/est/%s/simpleenroll"
                            % (a.https, a.est_class)], body.encode())))
            next_t += 1.0
            await asyncio.sleep(max(0, next_t - now()))
        # Requests still out are part of this phase: wait for them under the load.
        await asyncio.gather(*running)

    async def sampler(self):
        while True:
            ph = self.ph
            ph.samples.append((now(), self.srv.status_kb("VmRSS"), self.srv.nfds(), ph.open,
                               ph.pending))
            await asyncio.sleep(1.0)

    async def run_phase(self, name, n, attack):
        a = self.a
        self.ph = ph = Phase(name, n)
        self.stop = False
        log_off = self.srv.log_size()
        ph.rss_start = self.srv.status_kb("VmRSS")
        ph.fds_start = self.srv.nfds()
        t0 = now()
        samp = asyncio.ensure_future(self.sampler())
        if attack:
            self.spawn(attack(n))
        await self.normal_client(t0 + a.duration)
        ph.seconds = now() - t0
        self.stop = True
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*list(self.tasks), return_exceptions=True)
        for c in list(self.live):
            c.abort()
        # Garbage and oversized requests sent: their outcome (15 s at most).
        await asyncio.gather(*list(self.probes), return_exceptions=True)
        ph.alive_at_end = self.srv.alive()
        # Let the server see the closes before the end figures.
        end = now() + a.settle
        while now() < end and (self.srv.nfds() or 0) > ph.fds_start + 5:
            await asyncio.sleep(0.2)
        await asyncio.sleep(min(1.0, max(0, end - now())))
        samp.cancel()
        ph.rss_end = self.srv.status_kb("VmRSS")
        ph.fds_end = self.srv.nfds()
        ph.alive_after = self.srv.alive()
        ph.log = self.srv.log_since(log_off)
        return ph

    async def main(self):
        phases = {"base": None, "idle": self.ph_idle, "slow": self.ph_slow, "tls": self.ph_tls,
                  "bad": self.ph_bad, "ka": self.ph_ka}
        sizes = {"base": 0, "idle": self.a.n_idle, "slow": self.a.n_slow, "tls": self.a.n_tls,
                 "bad": 0, "ka": self.a.n_ka}
        out = []
        self.t0 = now()
        for name in self.a.phases.split(","):
            print("# %.1f s: phase %s: %d connections, %g s" % (
                now() - self.t0, name, sizes[name], self.a.duration), file=sys.stderr, flush=True)
            ph = await self.run_phase(name, sizes[name], phases[name])
            out.append(summary(ph))
            print("# %.1f s: %s" % (now() - self.t0, json.dumps(out[-1])), file=sys.stderr,
                  flush=True)
            if not ph.alive_after:
                break
        return out


def summary(ph):
    rss = [s[1] for s in ph.samples if s[1]]
    fds = [s[2] for s in ph.samples if s[2]]
    held = [s[3] for s in ph.samples[2:]] or [0]

    def normal(xs):
        ok = [s for good, s, _ in xs if good]
        codes = {}
        for _, _, c in xs:
            codes[c] = codes.get(c, 0) + 1
        return {"n": len(xs), "ok": len(ok),
                "median_ms": round(1000 * med(ok), 1) if ok else None,
                "p99_ms": round(1000 * pct(ok, 99), 1) if ok else None,
                "max_ms": round(1000 * max(ok), 1) if ok else None, "codes": codes}

    outc = {}
    for k, d in ph.outcomes.items():
        outc[k] = {w: {"n": len(v), "median_s": round(med(v), 2), "max_s": round(max(v), 2)}
                   for w, v in d.items()}
    cb = ph.closed_by_server
    return {
        "phase": ph.name, "target": ph.target, "seconds": round(ph.seconds, 1),
        "held_median": int(med(held)), "held_max": max(held),
        "server_fds_start": ph.fds_start, "server_fds_max": max(fds) if fds else None,
        "server_fds_end": ph.fds_end,
        "opened": ph.opened, "connect_failed": ph.connect_fail,
        "pending_max": max([s[4] for s in ph.samples] or [0]),
        "closed_by_server": len(cb),
        "closed_after_median_s": round(med(cb), 2) if cb else None,
        "closed_after_min_s": round(min(cb), 2) if cb else None,
        "closed_after_max_s": round(max(cb), 2) if cb else None,
        "abuse_answered": ph.answered, "abuse_statuses": ph.statuses,
        "ka_requests": len(ph.ka_lat), "ka_conns_served": len(ph.ka_conns_served),
        "ka_median_ms": round(1000 * med(ph.ka_lat), 1) if ph.ka_lat else None,
        "ka_p99_ms": round(1000 * pct(ph.ka_lat, 99), 1) if ph.ka_lat else None,
        "outcomes": outc,
        "rss_start_mb": round(ph.rss_start / 1024, 1) if ph.rss_start else None,
        "rss_peak_mb": round(max(rss) / 1024, 1) if rss else None,
        "rss_end_mb": round(ph.rss_end / 1024, 1) if ph.rss_end else None,
        "normal_ocsp": normal(ph.normal["ocsp"]), "normal_est": normal(ph.normal["est"]),
        "alive_at_end": ph.alive_at_end, "alive_after": ph.alive_after,
        "log": ph.log,
    }


def table(res):
    def f(v, unit=""):
        return "-" if v is None else "%s%s" % (v, unit)
    def log(l):
        ev = l["events"]
        errs = sum(n for k, n in l["statuses"].items() if k.split()[1][0] == "5") + l["non_json"]
        return "%d timeouts, %d cap, %d errors" % (
            ev.get("request-timeout", 0), ev.get("connection-cap", 0), errs)
    rows = ["| phase | abusive conns held (median/max) | server fds max | closed by server, after (median/max) | RSS start / peak / end MB | normal OCSP ok, median / max ms | normal EST ok, median / max ms | server log | server alive |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in res:
        no, ne = r["normal_ocsp"], r["normal_est"]
        rows.append("| %s (%d) | %d / %d | %s | %d, %s / %s s | %s / %s / %s | %d/%d, %s / %s | %d/%d, %s / %s | %s | %s |" % (
            r["phase"], r["target"], r["held_median"], r["held_max"], f(r["server_fds_max"]),
            r["closed_by_server"], f(r["closed_after_median_s"]), f(r["closed_after_max_s"]),
            f(r["rss_start_mb"]), f(r["rss_peak_mb"]), f(r["rss_end_mb"]),
            no["ok"], no["n"], f(no["median_ms"]), f(no["max_ms"]),
            ne["ok"], ne["n"], f(ne["median_ms"]), f(ne["max_ms"]), log(r["log"]),
            "yes" if r["alive_after"] else "NO"))
    return "\n".join(rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pid", type=int, required=True, help="the server's pid")
    p.add_argument("--log", required=True, help="the server's standard error")
    p.add_argument("--http", type=int, required=True, help="plain listener port")
    p.add_argument("--https", type=int, required=True, help="TLS listener port")
    p.add_argument("--cacert", required=True, help="root certificate (PEM) for the normal client")
    p.add_argument("--ocsp-req", required=True, help="a DER OCSP request for a real certificate")
    p.add_argument("--est-bodies", help="lines base64(id:token) TAB base64(DER CSR), one used a second")
    p.add_argument("--est-class", default="pump")
    p.add_argument("--phases", default="base,idle,slow,tls,bad,ka")
    p.add_argument("--duration", type=float, default=25, help="seconds of each phase")
    p.add_argument("--settle", type=float, default=5,
                   help="at most this long after a phase for the server to close its connections")
    p.add_argument("--n-idle", type=int, default=10000)
    p.add_argument("--n-slow", type=int, default=4000)
    p.add_argument("--n-tls", type=int, default=10000)
    p.add_argument("--n-ka", type=int, default=10000)
    p.add_argument("--ramp", type=float, default=2000, help="abusive connections opened a second")
    p.add_argument("--drip", type=float, default=2, help="slowloris: seconds between bytes")
    p.add_argument("--garbage-rate", type=float, default=30, help="malformed TLS connections a second")
    p.add_argument("--big-rate", type=float, default=20, help="oversized requests a second")
    p.add_argument("--ka-interval", type=float, default=3, help="keep-alive: mean seconds between GETs")
    p.add_argument("--normal-timeout", type=float, default=5, help="curl --max-time of the normal client")
    p.add_argument("--normal-retry", action="store_true",
                   help="the normal client retries a failed OCSP connection once (a flood at the cap)")
    p.add_argument("--max-headers", type=int, default=16384)
    p.add_argument("--max-body", type=int, default=32768)
    p.add_argument("--max-body-hard", type=int, default=262144)
    p.add_argument("--json", help="write the summary here")
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    need = max(a.n_idle, a.n_slow, a.n_tls, a.n_ka) + 1000
    if hard < need:
        sys.exit("abuse.py: needs %d descriptors, the hard limit is %d (ulimit -Hn)" % (need, hard))
    res = asyncio.run(Abuse(a).main())
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    print(table(res))
    return 0 if all(r["alive_after"] for r in res) else 1


if __name__ == "__main__":
    sys.exit(main())
