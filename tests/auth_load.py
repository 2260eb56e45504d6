#!/usr/bin/env python3
"""tests/auth_load.py — load shapes for the password-hashing tests (t_auth_*.sh).

  flood PORT N SRC            N connect-send-close cycles, each a login of a made-up username,
                              from source address SRC; prints {"n","seconds"}
  burst PORT N BODY [PATH]    N connections, all sent before any is read, each one POST of BODY
                              (default /api/users/login); prints {"statuses":[...],"retry_after":[...]}
  queue PORT QUEUE_SCRIPT     see queue() below
A request is answered when its final status line has arrived; nothing here asserts anything.
"""
import json, os, random, re, socket, string, sys, time


def post(path, body, extra=""):
    b = body.encode()
    return ("POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n"
            % (path, extra, len(b))).encode() + b


def login(name, pw="wrongpass1"):
    return post("/api/users/login", json.dumps({"username": name, "password": pw}))


def connect(port, src=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=30,
                                 source_address=(src, 0) if src else None)
    return s


def read_answer(s, timeout):
    """(status, headers dict) of one response, or (None, {}) on timeout/close."""
    s.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            c = s.recv(65536)
            if not c:
                break
            data += c
    except (socket.timeout, OSError):
        pass
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    if not m:
        return None, {}
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    hdrs = {}
    for h in head:
        k, _, v = h.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(m.group(1)), hdrs


def flood(port, n, src):
    t0 = time.time()
    for i in range(n):
        name = "x" + "".join(random.choice(string.ascii_lowercase) for _ in range(12))
        try:
            s = connect(port, src)
            s.sendall(login(name))
            s.close()
        except OSError:
            pass
    print(json.dumps({"n": n, "seconds": round(time.time() - t0, 3)}))


def burst(port, n, body, path="/api/users/login"):
    socks = [connect(port) for _ in range(n)]
    for s in socks:
        s.sendall(post(path, body))
    out = {"statuses": [], "retry_after": []}
    for s in socks:
        st, h = read_answer(s, 60)
        out["statuses"].append(st)
        if "retry-after" in h:
            out["retry_after"].append(h["retry-after"])
        s.close()
    print(json.dumps(out))


def queue(port, script):
    """script: steps separated by ';'. Each step:
         open NAME SRC      connect from SRC and send a login as NAME (kept open)
         reg NAME SRC       ... a registration of NAME instead
         close NAME         hang up that connection
         sleep S
         peek NAME S        its answer if one comes within S seconds (else status null)
         metrics KEY        the chatd_hash_* counters of /metrics now, as out[KEY]
         mark FILE          create FILE (tells a waiting shell how far the script is)
         wait FILE S        until FILE exists (the waiting shell is done), at most S seconds
       Prints {"NAME": {"status":..,"retry_after":..}, ...} for every peeked NAME."""
    conns, out = {}, {}
    for step in script.split(";"):
        a = step.split()
        if not a:
            continue
        if a[0] in ("open", "reg"):
            s = connect(port, a[2])
            body = (login(a[1]) if a[0] == "open" else
                    post("/api/users/register", json.dumps({"username": a[1], "password": "password123"})))
            s.sendall(body)
            conns[a[1]] = s
        elif a[0] == "close":
            conns.pop(a[1]).close()
        elif a[0] == "sleep":
            time.sleep(float(a[1]))
        elif a[0] == "mark":
            open(a[1], "w").close()
        elif a[0] == "wait":
            end = time.time() + float(a[2])
            while not os.path.exists(a[1]) and time.time() < end:
                time.sleep(0.02)
        elif a[0] == "metrics":
            m = connect(port)
            m.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            text = b""
            while True:
                c = m.recv(65536)
                if not c:
                    break
                text += c
            m.close()
            out[a[1]] = {k[6:]: int(v) for k, v in re.findall(r"^(chatd_hash_\w+) (\d+)$", text.decode(), re.M)}
        elif a[0] == "peek":
            st, h = read_answer(conns[a[1]], float(a[2]))
            out[a[1]] = {"status": st, "retry_after": h.get("retry-after")}
    for s in conns.values():
        s.close()
    print(json.dumps(out))


if __name__ == "__main__":
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "flood":
        flood(port, int(sys.argv[3]), sys.argv[4])
    elif cmd == "burst":
        burst(port, int(sys.argv[3]), sys.argv[4], *sys.argv[5:6])
    elif cmd == "queue":
        queue(port, sys.argv[3])
