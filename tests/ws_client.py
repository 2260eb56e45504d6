#!/usr/bin/python3
"""tests/ws_client.py — WebSocket / stream helper for the chatd shell tests.

Run it with the Debian python (/usr/bin/python3) that has python3-websockets (10.x, asyncio API).
Every subcommand prints JSON (or writes JSON lines to a file) for the shell to check with jq;
nothing here decides pass/fail.

  listen URL OUT [--max-time S]
      connect, then append one JSON line per happening to OUT:
        {"k":"open","headers":{lower-name: value}}      after the handshake
        {"k":"text","data":<frame parsed as JSON, or {"_raw": text}>}
        {"k":"binary","len":N}
        {"k":"close","code":N,"reason":"..."}           the connection ended (code null: no close frame)
        {"k":"error","status":N|null,"error":"..."}     the handshake failed
        {"k":"timeout"}                                   --max-time (default 50) reached
  send URL [--close] [--max-time S] MSG...
      connect, send each MSG as a text frame, then ping and wait for the pong; print
      {"open","headers","frames":[data...],"pong":bool,"close":{"code","reason"}|null,
       "close_rcvd":N|null (with --close: the code of the server's answer to our close 1000)}
      "frames" are the text frames that arrived before the pong.
  raw PORT PATH [--header 'K: V']... [--frame JSON]... [--until-op OP] [--timeout S]
      hand-written handshake on a plain socket, then the given frames, e.g.
      {"op":1,"data":"hi"} / {"op":1,"hex":"c328"} / {"op":1,"data":"x","mask":false} /
      {"op":1,"data":"x","rsv":4} / {"op":3,"data":""} / {"op":8,"hex":"03e8"}; then read
      frames until a frame with opcode OP, or a close frame (then on to EOF), EOF or the timeout;
      print {"status","headers","accept_ok" (Sec-WebSocket-Accept checked here),
      "frames":[{"op","len","text"|"code"}],"close_code","eof","timeout","after_close"}
  slow PORT PATH OUT DRAIN_FILE [--kind sse|ws] [--rcvbuf B] [--max-time S]
      a client that reads the response head and then nothing more, with a small receive buffer;
      writes {"k":"ready"} to OUT; once DRAIN_FILE exists it reads everything until EOF and
      writes {"k":"drained","eof":bool,"bytes":N,"events":K,"last_close_code":N|null} (the drain
      gives up after 20 s without EOF)
  fanout WS_URL_BASE TOKENS_FILE OUT [--expect K] [--max-time S]
      one connection per token (one per line); writes {"k":"ready","n":N,"failed":F} to OUT when
      all are open; then collects message.created events until every connection has K of them
      (default 1) or the time is up; writes {"k":"done","ids":[[message ids per connection]...],
      "closed":C}
  serve
      many sessions in one process (a python start costs more than a session): commands on
      stdin, each its argument count and then its arguments, every one NUL-terminated, e.g.
      printf '%s\0' 3 send URL MSG; one JSON line answers each on stdout: listen and send and
      raw as above (listen runs on in the background, answering {"started":OUT} at once),
      drop OUT (that listener's connection ended at once, as by killing its process; nothing
      more is written to OUT) -> {"dropped":bool}; head PORT BYTES [--timeout S] (BYTES sent
      on a new connection; the first response's status from its head) -> {"status":N|null}
  post BASE TOKEN CONV COUNT [SIZE] [--batches B] [--until 'FILE|TEXT|K'] [--max-time S]
      post COUNT messages of SIZE bytes (default 100) over one keep-alive connection; print the
      message ids as a JSON array (a non-201 answer ends it: {"error":...}). With --batches:
      up to B batches of COUNT, each after the first only if FILE holds TEXT fewer than K times
      and S seconds have not passed since the start (one process for a loop of batches)
"""
import asyncio
import base64
import hashlib
import json
import os
import resource
import socket
import struct
import sys
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def parse_data(text):
    try:
        return json.loads(text)
    except ValueError:
        return {"_raw": text}


def lower_headers(h):
    out = {}
    for k, v in h.raw_items():
        out.setdefault(k.lower(), v)
    return out


def opt(args, name, default=None, conv=str):
    if name in args:
        i = args.index(name)
        v = args[i + 1]
        del args[i:i + 2]
        return conv(v)
    return default


def flag(args, name):
    if name in args:
        args.remove(name)
        return True
    return False


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


# ---------------------------------------------------------------------------------------------
# listen / send (websockets library)

async def do_listen(url, out, max_time, conns=None):
    import websockets
    f = open(out, "a", buffering=1)

    def put(o):
        if conns is None or conns.get(out) != "dropped":
            f.write(json.dumps(o) + "\n")
            f.flush()

    async def run():
        try:
            ws = await websockets.connect(url, ping_interval=None, max_size=None, open_timeout=10)
            if conns is not None:
                conns[out] = ws
        except websockets.exceptions.InvalidStatusCode as e:
            put({"k": "error", "status": e.status_code, "error": str(e)})
            return
        except Exception as e:
            put({"k": "error", "status": None, "error": "%s: %s" % (type(e).__name__, e)})
            return
        put({"k": "open", "headers": lower_headers(ws.response_headers)})
        try:
            async for m in ws:
                if isinstance(m, str):
                    put({"k": "text", "data": parse_data(m)})
                else:
                    put({"k": "binary", "len": len(m)})
        except websockets.exceptions.ConnectionClosed:
            pass
        rc = ws.close_rcvd
        put({"k": "close", "code": rc.code if rc else None, "reason": rc.reason if rc else None})

    try:
        await asyncio.wait_for(run(), max_time)
    except asyncio.TimeoutError:
        put({"k": "timeout"})


async def do_send(url, msgs, close, max_time):
    import websockets
    res = {"open": False, "headers": {}, "frames": [], "pong": False, "close": None, "close_rcvd": None,
           "error": None}
    try:
        ws = await asyncio.wait_for(websockets.connect(url, ping_interval=None, max_size=None), 10)
    except websockets.exceptions.InvalidStatusCode as e:
        res["error"] = "status %d" % e.status_code
        res["status"] = e.status_code
        return res
    except Exception as e:
        res["error"] = "%s: %s" % (type(e).__name__, e)
        return res
    res["open"] = True
    res["headers"] = lower_headers(ws.response_headers)

    try:
        for m in msgs:
            await ws.send(m)
        waiter = await ws.ping(b"probe")
        await asyncio.wait_for(waiter, max_time)
        res["pong"] = True
    except websockets.exceptions.ConnectionClosed:
        pass
    except asyncio.TimeoutError:
        res["error"] = "timeout"
    # the frames that came before the pong (or the close) are queued by now: take them
    while True:
        try:
            m = await asyncio.wait_for(ws.recv(), 0.05)
        except (asyncio.TimeoutError, websockets.exceptions.ConnectionClosed):
            break
        res["frames"].append(parse_data(m) if isinstance(m, str) else {"_binary": len(m)})
    if close and res["pong"]:
        try:
            await asyncio.wait_for(ws.close(1000, "bye"), max_time)
        except Exception as e:
            res["error"] = "close: %s: %s" % (type(e).__name__, e)
        rc = ws.close_rcvd
        res["close_rcvd"] = rc.code if rc else None
    if ws.close_rcvd is not None:
        res["close"] = {"code": ws.close_rcvd.code, "reason": ws.close_rcvd.reason}
    if not close:
        try:
            await asyncio.wait_for(ws.close(), 5)
        except Exception:
            pass
    return res


# ---------------------------------------------------------------------------------------------
# raw socket WebSocket client

def recv_head(s, limit=65536):
    data = b""
    while b"\r\n\r\n" not in data:
        c = s.recv(1)   # byte by byte: leave everything after the head in the socket
        if not c:
            break
        data += c
        if len(data) > limit:
            break
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = None
    try:
        status = int(lines[0].split(" ")[1])
    except (IndexError, ValueError):
        pass
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdrs.setdefault(k.strip().lower(), v.strip())
    return status, hdrs, rest


def make_frame(spec):
    op = spec.get("op", 1)
    fin = spec.get("fin", True)
    rsv = spec.get("rsv", 0)
    mask = spec.get("mask", True)
    data = bytes.fromhex(spec["hex"]) if "hex" in spec else spec.get("data", "").encode()
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    n = len(data)
    if n < 126:
        hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if mask:
        key = os.urandom(4)
        data = bytes(c ^ key[i % 4] for i, c in enumerate(data))
        hdr += key
    return hdr + data


def parse_frames(buf):
    """Complete server frames in buf -> (list, rest)."""
    out = []
    q = 0   # where the next frame starts (an offset: slicing off each frame would copy the rest)
    while len(buf) - q >= 2:
        b0, b1 = buf[q], buf[q + 1]
        n = b1 & 0x7F
        p = q + 2
        if n == 126:
            if len(buf) - q < 4:
                break
            n = struct.unpack("!H", buf[q + 2:q + 4])[0]
            p = q + 4
        elif n == 127:
            if len(buf) - q < 10:
                break
            n = struct.unpack("!Q", buf[q + 2:q + 10])[0]
            p = q + 10
        masked = bool(b1 & 0x80)
        if masked:
            p += 4
        if len(buf) < p + n:
            break
        out.append({"op": b0 & 0x0F, "fin": bool(b0 & 0x80), "rsv": (b0 >> 4) & 7, "masked": masked,
                    "data": bytes(buf[p:p + n])})
        q = p + n
    return out, buf[q:]


def ws_handshake_bytes(path, extra):
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: " + key]
    if not any(h.lower().startswith("sec-websocket-version:") for h in extra):
        lines.append("Sec-WebSocket-Version: 13")
    lines += extra
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), key


def accept_for(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def do_raw(args):
    port = int(args.pop(0))
    path = args.pop(0)
    timeout = opt(args, "--timeout", 10.0, float)
    until_op = opt(args, "--until-op", None, int)
    headers, frames = [], []
    while args:
        a = args.pop(0)
        if a == "--header":
            headers.append(args.pop(0))
        elif a == "--frame":
            frames.append(json.loads(args.pop(0)))
        else:
            raise SystemExit("raw: unknown argument " + a)
    res = {"status": None, "headers": {}, "accept_ok": False, "frames": [], "close_code": None,
           "eof": False, "timeout": False, "error": None}
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    req, key = ws_handshake_bytes(path, headers)
    s.sendall(req)
    status, hdrs, rest = recv_head(s)
    res["status"], res["headers"] = status, hdrs
    res["accept_ok"] = hdrs.get("sec-websocket-accept") == accept_for(key)
    if status != 101:
        s.close()
        return res
    try:
        for f in frames:
            s.sendall(make_frame(f))
    except OSError as e:
        res["error"] = "send: %s" % e
    buf = rest
    try:
        while True:
            got, buf = parse_frames(buf)
            for g in got:
                d = g["data"]
                e = {"op": g["op"], "len": len(d), "masked": g["masked"], "rsv": g["rsv"]}
                if g["op"] in (1, 9, 10):
                    e["text"] = d.decode("utf-8", "replace")
                if g["op"] == 8:
                    e["code"] = struct.unpack("!H", d[:2])[0] if len(d) >= 2 else None
                    e["reason"] = d[2:].decode("utf-8", "replace")
                    res["close_code"] = e["code"]
                res["frames"].append(e)
            if until_op is not None and any(g["op"] == until_op for g in got):
                break
            if any(g["op"] == 8 for g in got):
                # after the close frame the server should end the TCP connection
                while True:
                    c = s.recv(65536)
                    if not c:
                        res["eof"] = True
                        break
                    res["after_close"] = res.get("after_close", 0) + len(c)
                break
            c = s.recv(65536)
            if not c:
                res["eof"] = True
                break
            buf += c
    except socket.timeout:
        res["timeout"] = True
    except ConnectionResetError:
        res["eof"] = True
        res["error"] = "reset"
    s.close()
    return res


def do_head(args):
    """head PORT BYTES [--timeout S]: send BYTES (latin-1) on a new connection, read the head of
    the first response (until its blank line, EOF or S idle seconds, default 1); its status."""
    port = int(args.pop(0))
    data = args.pop(0).encode("latin-1")
    timeout = opt(args, "--timeout", 1.0, float)
    res = {"status": None, "error": None}
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        s.sendall(data)
        while b"\r\n\r\n" not in got:
            c = s.recv(65536)
            if not c:
                break
            got += c
    except socket.timeout:
        res["error"] = "timeout"
    except OSError as e:
        res["error"] = str(e)
    s.close()
    line = got.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    if len(line) > 1 and line[0].startswith("HTTP/") and line[1].isdigit():
        res["status"] = int(line[1])
    return res


# ---------------------------------------------------------------------------------------------
# a client that stops reading

def do_slow(args):
    port = int(args.pop(0))
    path = args.pop(0)
    out = args.pop(0)
    drain = args.pop(0)
    kind = opt(args, "--kind", "sse")
    rcvbuf = opt(args, "--rcvbuf", 4096, int)
    max_time = opt(args, "--max-time", 50.0, float)
    f = open(out, "a", buffering=1)
    t_end = time.monotonic() + max_time
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)   # before connect: sets the window
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    if kind == "ws":
        req, _ = ws_handshake_bytes(path, [])
    else:
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n" % path).encode()
    s.sendall(req)
    status, hdrs, _ = recv_head(s)
    f.write(json.dumps({"k": "ready", "status": status}) + "\n")
    while not os.path.exists(drain):
        if time.monotonic() > t_end:
            f.write(json.dumps({"k": "timeout"}) + "\n")
            return
        time.sleep(0.05)
    data = bytearray()   # (not bytes: += on bytes copies all of it, quadratic over a few MB)
    eof = False
    t_stop = min(t_end, time.monotonic() + 20)   # the drain itself: at most 20 s
    try:
        while True:
            s.settimeout(max(0.1, t_stop - time.monotonic()))
            c = s.recv(1 << 20)
            if not c:
                eof = True
                break
            data += c
    except socket.timeout:
        pass
    except ConnectionResetError:
        eof = True
    s.close()
    res = {"k": "drained", "eof": eof, "bytes": len(data), "events": 0, "last_close_code": None}
    if kind == "ws":
        frames, _ = parse_frames(data)
        res["events"] = sum(1 for g in frames if g["op"] == 1)
        if frames and frames[-1]["op"] == 8 and len(frames[-1]["data"]) >= 2:
            res["last_close_code"] = struct.unpack("!H", frames[-1]["data"][:2])[0]
    else:
        res["events"] = data.count(b"\nevent: ")
    f.write(json.dumps(res) + "\n")


# ---------------------------------------------------------------------------------------------
# many connections at once

async def do_fanout(base, tokens_file, out, expect, max_time):
    import websockets
    tokens = [l.strip() for l in open(tokens_file) if l.strip()]
    raise_nofile(len(tokens) + 256)
    f = open(out, "a", buffering=1)
    ids = [[] for _ in tokens]
    closed = [0]
    full = [0]
    all_full = asyncio.Event()
    sem = asyncio.Semaphore(50)
    conns = [None] * len(tokens)

    async def connect(i):
        async with sem:
            try:
                conns[i] = await websockets.connect("%s?token=%s" % (base, tokens[i]), ping_interval=None,
                                                    max_size=None, open_timeout=20, close_timeout=2)
            except Exception:
                conns[i] = None

    async def reader(i):
        ws = conns[i]
        try:
            async for m in ws:
                if isinstance(m, str) and '"message.created"' in m:
                    ids[i].append(json.loads(m)["message"]["id"])
                    if len(ids[i]) == expect:
                        full[0] += 1
                        if full[0] == len(tokens):
                            all_full.set()
        except websockets.exceptions.ConnectionClosed:
            pass
        closed[0] += 1

    await asyncio.gather(*(connect(i) for i in range(len(tokens))))
    failed = sum(1 for c in conns if c is None)
    readers = [asyncio.ensure_future(reader(i)) for i in range(len(tokens)) if conns[i] is not None]
    f.write(json.dumps({"k": "ready", "n": len(tokens) - failed, "failed": failed}) + "\n")
    try:
        await asyncio.wait_for(all_full.wait(), max_time)
    except asyncio.TimeoutError:
        pass
    # a ping round trip on every connection: a duplicate queued behind the expected event
    # would have arrived before the pong
    async def probe(c):
        try:
            await asyncio.wait_for(await c.ping(), 10)
        except Exception:
            pass
    await asyncio.gather(*(probe(c) for c in conns if c is not None))
    f.write(json.dumps({"k": "done", "ids": ids, "closed": closed[0]}) + "\n")
    for r in readers:
        r.cancel()
    await asyncio.gather(*(c.close() for c in conns if c is not None), return_exceptions=True)


# ---------------------------------------------------------------------------------------------
# posting in bulk

def do_post(args):
    import http.client
    import urllib.parse
    batches = opt(args, "--batches", 1, int)
    until = opt(args, "--until", None)   # "FILE|TEXT|K": stop once FILE holds TEXT K times
    max_time = opt(args, "--max-time", None, float)
    base, token, conv, count = args[0], args[1], int(args[2]), int(args[3])
    size = int(args[4]) if len(args) > 4 else 100
    u = urllib.parse.urlsplit(base)
    h = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
    ids = []
    t_end = time.monotonic() + max_time if max_time is not None else None

    def enough():
        if until is None:
            return False
        path, text, k = until.rsplit("|", 2)
        with open(path, "rb") as f:
            return f.read().count(text.encode()) >= int(k)

    for b in range(batches):
        if enough() or (t_end is not None and time.monotonic() >= t_end):
            break
        for i in range(count):
            body = ("m%d " % i) + "x" * max(0, size - len("m%d " % i))
            h.request("POST", "/api/messages", json.dumps({"conversation_id": conv, "body": body}),
                      {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
            r = h.getresponse()
            d = r.read()
            if r.status != 201:
                print(json.dumps({"error": "status %d: %s" % (r.status, d[:200].decode("utf-8", "replace")),
                                  "ids": ids}))
                return
            ids.append(json.loads(d)["message"]["id"])
    print(json.dumps(ids))


# ---------------------------------------------------------------------------------------------
# many sessions in one process

async def do_serve():
    loop = asyncio.get_running_loop()
    cmds = asyncio.Queue()
    conns = {}   # a listener's OUT -> its connection (or "dropped")
    tasks = {}

    def reader():   # a thread: stdin's commands (a count, then that many arguments, each NUL-ended)
        buf = b""
        while True:
            c = os.read(0, 65536)
            if not c:
                break
            buf += c
            while True:
                parts = buf.split(b"\0")
                if len(parts) < 2:
                    break
                n = int(parts[0])
                if len(parts) < n + 2:
                    break
                args = [p.decode("utf-8", "surrogateescape") for p in parts[1:n + 1]]
                buf = b"\0".join(parts[n + 1:])
                loop.call_soon_threadsafe(cmds.put_nowait, args)
        loop.call_soon_threadsafe(cmds.put_nowait, None)

    loop.run_in_executor(None, reader)
    while True:
        a = await cmds.get()
        if a is None:
            break
        cmd = a.pop(0)
        try:
            if cmd == "listen":
                mt = opt(a, "--max-time", 50.0, float)
                conns.pop(a[1], None)
                tasks[a[1]] = asyncio.ensure_future(do_listen(a[0], a[1], mt, conns))
                res = {"started": a[1]}
            elif cmd == "drop":
                ws = conns.get(a[0])
                conns[a[0]] = "dropped"   # nothing more to its file: as if its process was killed
                if ws is not None and ws != "dropped":
                    ws.transport.abort()
                t = tasks.pop(a[0], None)
                if t is not None:
                    await asyncio.wait([t], timeout=5)
                res = {"dropped": ws is not None and ws != "dropped"}
            elif cmd == "send":
                mt = opt(a, "--max-time", 10.0, float)
                close = flag(a, "--close")
                url = a.pop(0)
                res = await do_send(url, a, close, mt)
            elif cmd == "raw":
                res = await loop.run_in_executor(None, do_raw, a)
            elif cmd == "head":
                res = await loop.run_in_executor(None, do_head, a)
            else:
                res = {"error": "unknown command " + cmd}
        except Exception as e:
            res = {"error": "ws_client %s failed: %s: %s" % (cmd, type(e).__name__, e)}
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()
    for t in tasks.values():
        t.cancel()


def main():
    a = sys.argv[1:]
    if not a:
        print(__doc__)
        sys.exit(2)
    cmd = a.pop(0)
    if cmd == "listen":
        mt = opt(a, "--max-time", 50.0, float)
        asyncio.run(do_listen(a[0], a[1], mt))
    elif cmd == "send":
        mt = opt(a, "--max-time", 10.0, float)
        close = flag(a, "--close")
        url = a.pop(0)
        print(json.dumps(asyncio.run(do_send(url, a, close, mt))))
    elif cmd == "raw":
        print(json.dumps(do_raw(a)))
    elif cmd == "slow":
        do_slow(a)
    elif cmd == "fanout":
        ex = opt(a, "--expect", 1, int)
        mt = opt(a, "--max-time", 40.0, float)
        asyncio.run(do_fanout(a[0], a[1], a[2], ex, mt))
    elif cmd == "post":
        do_post(a)
    elif cmd == "serve":
        asyncio.run(do_serve())
    else:
        raise SystemExit("unknown subcommand " + cmd)


if __name__ == "__main__":
    main()
