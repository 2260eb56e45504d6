#!/usr/bin/python3
"""scripts/fanout.py — WebSocket fan-out load tool for chatd.

    scripts/fanout.py --base http://127.0.0.1:8000 --clients N --messages M [--rate R] [--pid PID]

Registers N users (prefix0..prefixN-1; an existing one is logged in instead), creates one
conversation holding all of them (the contract allows at most 1000 members), opens one WebSocket
per user, then posts M messages from the first user, R per second (default: back to back, each
POST waiting for the previous answer). For every delivery it measures the time from just before
the POST was sent to the frame's arrival at that client, and prints p50/p90/p99/max delivery
latency, deliveries per second, missing/duplicate deliveries, the POSTs' own latency and, with
--pid, the server's resident memory (VmRSS from /proc/PID/status) before the clients connected,
once all were connected, and at the end (plus VmHWM, the peak).

The clients run in --procs worker processes, asyncio, each connection a small built-in
WebSocket client (--client raw: handshake with the accept key checked, frames parsed in place,
pings answered), or with --client websockets the python3-websockets library (the Debian package:
run the tool with /usr/bin/python3 then). The tool raises its own RLIMIT_NOFILE; the server needs
--max-conns above N, and its limits against abuse off (all N clients come from one address and
the poster writes back to back, the clients register at once): --max-conns-per-ip 0
--max-streams-per-user 0 --write-rate 0 --register-rate 0. Latencies include the clients' own processing: with many clients on few
cores the tool itself can be the bottleneck (the CPU line shows the server's and the tool's
share) — compare with fewer clients or more --procs.
Exit status: 0 when every client got every message exactly once, 1 otherwise, 2 on setup errors.
"""
import argparse
import asyncio
import base64
import hashlib
import http.client
import json
import math
import multiprocessing as mp
import os
import re
import resource
import sys
import threading
import time
import urllib.parse

BODY_RE = re.compile(rb'"body":"fanout (\d+) ')
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def die(msg):
    print("fanout: " + msg, file=sys.stderr)
    sys.exit(2)


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Http:
    """One keep-alive HTTP/1.1 connection with JSON in and out."""

    def __init__(self, base, timeout=30):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port or 80
        self.timeout = timeout
        self.c = None

    def call(self, method, path, body=None, token=None):
        hdrs = {"Content-Type": "application/json"}
        if token:
            hdrs["Authorization"] = "Bearer " + token
        data = json.dumps(body) if body is not None else None
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.c.request(method, path, data, hdrs)
                r = self.c.getresponse()
                raw = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return r.status, (json.loads(raw) if raw else None)
            except (http.client.HTTPException, ConnectionError, OSError):
                self.c.close()
                self.c = None
                if attempt:
                    raise
        raise RuntimeError("unreachable")


def read_mem(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])   # kB
    except OSError:
        pass
    return out


def read_cpu(pid):
    """user+system CPU seconds of a process (None if unreadable)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def fmt_kb(kb):
    return "%.1f MiB" % (kb / 1024.0) if kb is not None else "?"


# ---------------------------------------------------------------------------------------------
# setup

def get_users(args):
    """[(id, token)] for prefix0..prefixN-1: register, or log in when the name is taken."""
    users = [None] * args.clients
    counts = {"registered": 0, "logged_in": 0}
    lock = threading.Lock()
    errors = []
    nxt = [0]

    def work():
        h = Http(args.base)
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= args.clients or errors:
                return
            name = "%s%d" % (args.prefix, i)
            cred = {"username": name, "password": args.password}
            try:
                st, b = h.call("POST", "/api/users/register", cred)
                kind = "registered"
                if st == 409:
                    st, b = h.call("POST", "/api/users/login", cred)
                    kind = "logged_in"
                if st not in (200, 201):
                    errors.append("%s: status %d %s" % (name, st, b))
                    return
            except Exception as e:
                errors.append("%s: %s" % (name, e))
                return
            users[i] = (b["user"]["id"], b["token"])
            with lock:
                counts[kind] += 1

    ts = [threading.Thread(target=work) for _ in range(min(args.concurrency, args.clients))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        die("user setup failed: " + "; ".join(errors[:3]))
    return users, counts


# ---------------------------------------------------------------------------------------------
# client worker processes

class RawWS(asyncio.Protocol):
    """A minimal receive-side WebSocket client (RFC 6455) on an asyncio protocol: the handshake
    (Sec-WebSocket-Accept checked), unmasked server frames parsed in place, pings answered.
    Every frame that arrives in one read gets that read's time."""

    def __init__(self, path, host, on_text, on_close):
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, self.key)).encode()
        self.on_text, self.on_close = on_text, on_close
        self.opened = asyncio.get_running_loop().create_future()
        self.buf = bytearray()
        self.frag = None
        self.upgraded = False
        self.t = None

    def connection_made(self, transport):
        self.t = transport
        transport.write(self.req)

    def connection_lost(self, exc):
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))
        elif self.upgraded:
            self.on_close()

    def send(self, op, payload=b""):   # client frames are masked
        mask = os.urandom(4)
        data = bytes(c ^ mask[k & 3] for k, c in enumerate(payload))
        self.t.write(bytes([0x80 | op, 0x80 | len(payload)]) + mask + data)

    def data_received(self, data):
        now = time.monotonic()
        buf = self.buf
        buf += data
        pos = 0
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).decode("latin-1").split("\r\n")
            hdrs = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in head[1:])}
            want = base64.b64encode(hashlib.sha1((self.key + GUID).encode()).digest()).decode()
            if head[0].split(" ")[1:2] != ["101"] or hdrs.get("sec-websocket-accept") != want:
                self.opened.set_exception(ConnectionError("handshake: " + head[0]))
                self.t.close()
                return
            self.upgraded = True
            self.opened.set_result(True)
            pos = end + 4
        n_buf = len(buf)
        while n_buf - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            h = 2
            if n == 126:
                if n_buf - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2:pos + 4], "big")
                h = 4
            elif n == 127:
                if n_buf - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2:pos + 10], "big")
                h = 10
            if n_buf - pos < h + n:
                break
            payload = bytes(buf[pos + h:pos + h + n])
            pos += h + n
            op = b0 & 0x0F
            if op == 1 or op == 0:
                if not b0 & 0x80:
                    self.frag = (self.frag or b"") + payload
                    continue
                if self.frag is not None:
                    payload, self.frag = self.frag + payload, None
                self.on_text(payload, now)
            elif op == 9:
                self.send(10, payload)
            elif op == 8:
                self.t.close()
                break
        del buf[:pos]


def worker(wid, ws_base, tokens, conv_id, messages, ready_q, result_q, stop_ev, nofile, client):
    raise_nofile(nofile)

    async def run():
        n = len(tokens)
        recv = [[] for _ in range(n)]        # per connection: (seq, monotonic time)
        done = [0]
        all_done = asyncio.Event()
        closed = [0]
        sem = asyncio.Semaphore(100)
        conns = [None] * n
        conv_tag = ('"conversation_id":%d,' % conv_id).encode()
        u = urllib.parse.urlsplit(ws_base)

        def record(i, m, t):
            if b'"type":"message.created"' not in m or conv_tag not in m:
                return
            mt = BODY_RE.search(m)
            if not mt:
                return
            mine = recv[i]
            mine.append((int(mt.group(1)), t))
            if len(mine) == messages:
                done[0] += 1
                if done[0] == n:
                    all_done.set()

        def on_close():
            closed[0] += 1

        async def connect_raw(i):
            loop = asyncio.get_running_loop()
            path = "%s?token=%s" % (u.path, tokens[i])
            _, proto = await loop.create_connection(
                lambda: RawWS(path, u.netloc, lambda m, t: record(i, m, t), on_close), u.hostname, u.port or 80)
            try:
                await asyncio.wait_for(proto.opened, 60)
            except BaseException:
                proto.t.close()
                raise
            return proto

        async def connect_lib(i):
            import websockets
            ws = await websockets.connect("%s?token=%s" % (ws_base, tokens[i]), ping_interval=None, max_size=None,
                                          compression=None, open_timeout=60, close_timeout=2, max_queue=None)

            async def reader():
                try:
                    async for m in ws:
                        t = time.monotonic()
                        record(i, m.encode() if isinstance(m, str) else m, t)
                except websockets.exceptions.ConnectionClosed:
                    pass
                on_close()
            ws.reader_task = asyncio.ensure_future(reader())
            return ws

        async def connect(i):
            async with sem:
                try:
                    conns[i] = await (connect_raw(i) if client == "raw" else connect_lib(i))
                except Exception:
                    conns[i] = None

        t0 = time.monotonic()
        await asyncio.gather(*(connect(i) for i in range(n)))
        failed = sum(1 for c in conns if c is None)
        if failed:   # the ones that never connected count as done (their deliveries: missing)
            done[0] += failed
            if done[0] == n:
                all_done.set()
        ready_q.put((wid, n - failed, failed, time.monotonic() - t0))
        loop = asyncio.get_running_loop()
        stopper = loop.run_in_executor(None, stop_ev.wait)
        await asyncio.wait([asyncio.ensure_future(all_done.wait()), stopper], return_when=asyncio.FIRST_COMPLETED)
        result_q.put((wid, recv, failed, closed[0]))
        if client == "raw":
            for c in conns:
                if c is not None:
                    c.t.close()
        else:
            for c in conns:
                if c is not None:
                    c.reader_task.cancel()
            await asyncio.gather(*(c.close() for c in conns if c is not None), return_exceptions=True)
        stop_ev.set()   # unblock our executor thread if it still waits

    asyncio.run(run())


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, math.ceil(p / 100.0 * len(sorted_vals)) - 1))   # nearest rank
    return sorted_vals[k]


def main():
    ap = argparse.ArgumentParser(description="chatd WebSocket fan-out load tool",
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--base", default="http://127.0.0.1:8000", help="server base URL")
    ap.add_argument("--clients", type=int, default=100, help="users = WebSocket clients = members (max 1000)")
    ap.add_argument("--messages", type=int, default=100, help="messages to post")
    ap.add_argument("--rate", type=float, default=0, help="messages per second (default: back to back)")
    ap.add_argument("--pid", type=int, help="server pid: report its VmRSS/VmHWM")
    ap.add_argument("--procs", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                    help="client worker processes (default: cores, at most 4)")
    ap.add_argument("--prefix", default="fan", help="username prefix (default fan)")
    ap.add_argument("--password", default="fanout-password")
    ap.add_argument("--body-size", type=int, default=100, help="message body bytes (default 100)")
    ap.add_argument("--concurrency", type=int, default=16, help="parallel registrations")
    ap.add_argument("--wait", type=float, default=60, help="seconds to wait for deliveries after the last POST")
    ap.add_argument("--client", choices=("raw", "websockets"), default="raw",
                    help="raw: a minimal built-in WebSocket client (default, little overhead); "
                         "websockets: the python3-websockets library")
    ap.add_argument("--json", action="store_true", help="also print a JSON summary line")
    args = ap.parse_args()
    if not 1 <= args.clients <= 1000:
        die("--clients must be 1..1000 (one conversation holds at most 1000 members)")
    if args.messages < 1:
        die("--messages must be >= 1")
    if args.body_size < 20 or args.body_size > 16384:
        die("--body-size must be 20..16384")
    procs = max(1, min(args.procs, args.clients))
    per_proc = (args.clients + procs - 1) // procs
    nofile = raise_nofile(per_proc + 256)
    if nofile < per_proc + 16:
        die("RLIMIT_NOFILE %d is too low for %d connections per process" % (nofile, per_proc))
    u = urllib.parse.urlsplit(args.base)
    ws_base = "ws://%s:%d/api/ws" % (u.hostname, u.port or 80)
    summary = {"clients": args.clients, "messages": args.messages, "rate": args.rate or None, "procs": procs,
               "client": args.client}
    mem = {}

    print("chatd fan-out: %d clients, %d messages%s, %d client processes (%s client), base %s" %
          (args.clients, args.messages, " at %g/s" % args.rate if args.rate else " back to back", procs,
           args.client, args.base))
    t = time.monotonic()
    users, counts = get_users(args)
    print("users: %d registered, %d logged in (%.1f s)" % (counts["registered"], counts["logged_in"],
                                                          time.monotonic() - t))
    h = Http(args.base)
    poster_tok = users[0][1]
    st, b = h.call("POST", "/api/conversations",
                   {"title": "fanout %d" % int(time.time()), "member_ids": [uid for uid, _ in users[1:]]}, poster_tok)
    if st != 201:
        die("creating the conversation: status %d %s" % (st, b))
    conv_id = b["conversation"]["id"]
    print("conversation %d: %d members" % (conv_id, len(b["conversation"]["member_ids"])))
    if args.pid:
        mem["before_clients"] = read_mem(args.pid)

    ctx = mp.get_context("fork")
    ready_q, result_q, stop_ev = ctx.Queue(), ctx.Queue(), ctx.Event()
    tokens = [tok for _, tok in users]
    workers = []
    for w in range(procs):
        part = tokens[w * per_proc:(w + 1) * per_proc]
        if not part:
            continue
        p = ctx.Process(target=worker, args=(w, ws_base, part, conv_id, args.messages, ready_q, result_q, stop_ev,
                                             nofile, args.client), daemon=True)
        p.start()
        workers.append(p)
    t = time.monotonic()
    opened = failed = 0
    for _ in workers:
        try:
            _, n_ok, n_fail, _ = ready_q.get(timeout=180)
        except Exception:
            stop_ev.set()
            die("client processes did not connect within 180 s")
        opened += n_ok
        failed += n_fail
    print("websockets: %d open, %d failed (%.1f s)" % (opened, failed, time.monotonic() - t))
    summary.update(open=opened, connect_failed=failed)
    if args.pid:
        mem["all_connected"] = read_mem(args.pid)

    # post
    cpu0 = read_cpu(args.pid) if args.pid else None
    self0 = os.times()
    sent_at = [None] * args.messages
    post_lat = []
    t_start = time.monotonic()
    for i in range(args.messages):
        if args.rate:
            delay = t_start + i / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        body = "fanout %d " % i
        body += "x" * (args.body_size - len(body))
        t0 = time.monotonic()
        sent_at[i] = t0
        st, b = h.call("POST", "/api/messages", {"conversation_id": conv_id, "body": body}, poster_tok)
        post_lat.append(time.monotonic() - t0)
        if st != 201:
            stop_ev.set()
            die("POST /api/messages #%d: status %d %s" % (i, st, b))
    t_posted = time.monotonic()

    # collect
    results = []
    deadline = t_posted + args.wait
    while len(results) < len(workers):
        try:
            results.append(result_q.get(timeout=max(0.1, deadline - time.monotonic())))
        except Exception:
            if time.monotonic() >= deadline:
                stop_ev.set()
                try:
                    while len(results) < len(workers):
                        results.append(result_q.get(timeout=30))
                except Exception:
                    pass
                break
    stop_ev.set()
    cpu1 = read_cpu(args.pid) if args.pid else None
    for p in workers:
        p.join(10)
    self1 = os.times()
    if args.pid:
        mem["end"] = read_mem(args.pid)

    lat, last_recv, dup, server_closed = [], t_start, 0, 0
    per_client = []
    for _, recv, _, closed in results:
        server_closed += closed
        for lst in recv:
            seen = set()
            for seq, tr in lst:
                if seq in seen:
                    dup += 1
                    continue
                seen.add(seq)
                lat.append(tr - sent_at[seq])
                if tr > last_recv:
                    last_recv = tr
            per_client.append(len(seen))
    expected = args.clients * args.messages
    got = len(lat)
    lat.sort()
    span = last_recv - t_start
    post_lat.sort()
    ms = lambda v: v * 1000.0
    print("posted %d messages in %.2f s (%.1f/s); POST latency p50 %.2f ms, p99 %.2f ms, max %.2f ms" %
          (args.messages, t_posted - t_start, args.messages / max(t_posted - t_start, 1e-9),
           ms(pct(post_lat, 50)), ms(pct(post_lat, 99)), ms(post_lat[-1])))
    print("deliveries: %d of %d (missing %d, duplicate %d, clients complete %d/%d); %.2f s from the first POST to "
          "the last receipt: %.0f deliveries/s" %
          (got, expected, expected - got, dup, sum(1 for c in per_client if c == args.messages), args.clients,
           span, got / max(span, 1e-9)))
    if lat:
        print("delivery latency (just before POST -> receipt): p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms"
              % (ms(pct(lat, 50)), ms(pct(lat, 90)), ms(pct(lat, 99)), ms(lat[-1])))
    if args.pid:
        print("server RSS (pid %d): before clients %s, all connected %s, end %s; peak (VmHWM) %s" %
              (args.pid, fmt_kb(mem.get("before_clients", {}).get("VmRSS")),
               fmt_kb(mem.get("all_connected", {}).get("VmRSS")), fmt_kb(mem.get("end", {}).get("VmRSS")),
               fmt_kb(mem.get("end", {}).get("VmHWM"))))
    if cpu0 is not None and cpu1 is not None:
        # children's times are counted once they have been joined
        tool = (self1.user + self1.system + self1.children_user + self1.children_system) - \
               (self0.user + self0.system + self0.children_user + self0.children_system)
        print("CPU from the first POST to the end: server %.2f s, this tool (all processes) %.2f s, wall %.2f s" %
              (cpu1 - cpu0, tool, time.monotonic() - t_start))
        summary["server_cpu_s"] = round(cpu1 - cpu0, 3)
        summary["tool_cpu_s"] = round(tool, 3)
    summary.update(deliveries=got, expected=expected, duplicates=dup, span_s=round(span, 3),
                   deliveries_per_s=round(got / max(span, 1e-9), 1),
                   latency_ms={k: round(ms(pct(lat, p)), 3) for k, p in (("p50", 50), ("p90", 90), ("p99", 99))}
                   if lat else None,
                   latency_max_ms=round(ms(lat[-1]), 3) if lat else None,
                   post_latency_ms={"p50": round(ms(pct(post_lat, 50)), 3), "p99": round(ms(pct(post_lat, 99)), 3)},
                   server_memory_kb=mem or None)
    if args.json:
        print(json.dumps(summary))
    sys.exit(0 if got == expected and dup == 0 else 1)


if __name__ == "__main__":
    main()
