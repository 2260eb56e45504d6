#!/usr/bin/env bash
# t_presence_burst.sh — a presence burst keeps the contract (API.md Presence): 150 users in three
# overlapping conversations open their streams (WebSocket and SSE) all at once, more than one
# loop turn tells (presence.c tells a few changes a turn) and more than one turn writes (streams
# take turns to write, loop.c). Every user is told of every user it shares a conversation with
# that came online after it (for each such pair, at least one of the two was told of the other),
# never twice, and never of anyone else; /healthz answers meanwhile. Then the SSE half closes at
# once (--presence-grace 0): every WebSocket user is told each closed user it shares a
# conversation with went offline, once, with a last_seen_at, and nothing about the others. No
# check asserts on timing (bounded waits only).
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

start_server --presence-grace 0 --max-streams-per-user 0

OUT=$TMP_ROOT/burst.json
timeout 120 "$PY" - "$PORT" "$PASSWORD" "$TMP_ROOT/healthz" >"$OUT" 2>"$TMP_ROOT/burst.err" <<'EOF' &
import http.client, json, os, selectors, socket, sys, time
port, password, healthz_out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
N = 150
h = http.client.HTTPConnection("127.0.0.1", port)
def call(method, path, body=None, token=None):
    hd = {"Authorization": "Bearer " + token} if token else {}
    h.request(method, path, body=json.dumps(body) if body is not None else None, headers=hd)
    r = h.getresponse(); d = r.read()
    if r.status >= 300: sys.exit("%s %s: %d %s" % (method, path, r.status, d[:200]))
    return json.loads(d)
users = []   # (id, token)
for i in range(N):
    j = call("POST", "/api/users/register", {"username": "pb%03d" % i, "password": password})
    users.append((j["user"]["id"], j["token"]))
ids = [u[0] for u in users]
groups = [list(range(0, 100)), [1] + list(range(101, N, 2)), list(range(100, N, 2))]
for g in groups:   # created by the group's first user, with the others as members
    call("POST", "/api/conversations", {"title": "g", "member_ids": [ids[k] for k in g[1:]]}, users[g[0]][1])
share = [set() for _ in range(N)]
for g in groups:
    for a in g: share[a] |= set(g) - {a}
index = {uid: k for k, uid in enumerate(ids)}
sse = [k % 3 == 0 for k in range(N)]

class Stream:
    def __init__(self, k):
        self.k, self.buf, self.head, self.status, self.closed = k, b"", False, None, False
        self.online, self.offline, self.seen_missing, self.other = [], [], 0, 0
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setblocking(False)
        tok = users[k][1]
        if sse[k]:
            req = "GET /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % tok
        else:
            req = ("GET /api/ws?token=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" % tok)
        self.sock.sendall(req.encode())
    def event(self, d):
        if d.get("type") != "presence": self.other += 1; return
        (self.online if d["online"] else self.offline).append(d["user_id"])
        if not d["online"] and not d.get("last_seen_at"): self.seen_missing += 1
    def feed(self, data):
        self.buf += data
        if not self.head:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0: return
            self.status = int(self.buf.split(b" ", 2)[1]); self.head = True; self.buf = self.buf[end + 4:]
        if sse[self.k]:
            while b"\n\n" in self.buf:
                block, self.buf = self.buf.split(b"\n\n", 1)
                for line in block.split(b"\n"):
                    if line.startswith(b"data: "): self.event(json.loads(line[6:]))
            return
        while len(self.buf) >= 2:
            op, n, at = self.buf[0] & 15, self.buf[1] & 127, 2
            if n == 126: n, at = int.from_bytes(self.buf[2:4], "big"), 4
            elif n == 127: n, at = int.from_bytes(self.buf[2:10], "big"), 10
            if len(self.buf) < at + n: return
            payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
            if op == 1: self.event(json.loads(payload))

sel = selectors.DefaultSelector()
streams = [Stream(k) for k in range(N)]   # the burst: every handshake sent back to back
for s in streams: sel.register(s.sock, selectors.EVENT_READ, s)
hz = socket.create_connection(("127.0.0.1", port))   # a request in the middle of it
hz.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
open(healthz_out, "wb").write(hz.makefile("rb").readline())
def pump(until, done):
    quiet_since = time.time()
    while time.time() < until:
        got = False
        for key, _ in sel.select(0.1):
            s = key.data
            data = s.sock.recv(1 << 16)
            if not data: sel.unregister(s.sock); s.closed = True; continue
            s.feed(data); got = True
        if got: quiet_since = time.time()
        if done() and time.time() - quiet_since > 0.5: return True
    return False
def missing_pairs():
    told = [set(index.get(u, -1) for u in s.online) for s in streams]
    return sum(1 for a in range(N) for b in share[a] if a < b and b not in told[a] and a not in told[b])
complete = pump(time.time() + 60, lambda: missing_pairs() == 0)
res = {"streams": N, "opened": sum(1 for s in streams if s.status in (101, 200)), "complete": complete,
       "missing_pairs": missing_pairs(),
       "online_events": sum(len(s.online) for s in streams),
       "dups": sum(len(s.online) - len(set(s.online)) for s in streams),
       "wrong": sum(1 for s in streams for u in s.online if index.get(u, -1) not in share[s.k]),
       "other_events": sum(s.other for s in streams), "closed_early": sum(s.closed for s in streams)}
# the SSE half closes at once; each WebSocket user must be told of the closed ones it shares with
gone = {k for k in range(N) if sse[k]}
for k in sorted(gone):
    sel.unregister(streams[k].sock); streams[k].sock.close()
ws = [s for s in streams if not sse[s.k]]
def off_ok(): return all(set(index[u] for u in s.offline) >= (share[s.k] & gone) for s in ws)
res["offline_complete"] = pump(time.time() + 60, off_ok)
res["offline_missing"] = sum(len((share[s.k] & gone) - set(index[u] for u in s.offline)) for s in ws)
res["offline_events"] = sum(len(s.offline) for s in ws)
res["offline_dups"] = sum(len(s.offline) - len(set(s.offline)) for s in ws)
res["offline_wrong"] = sum(1 for s in ws for u in s.offline if index[u] not in share[s.k] & gone)
res["offline_no_seen"] = sum(s.seen_missing for s in ws)
res["expected_offline"] = sum(len(share[s.k] & gone) for s in ws)
print(json.dumps(res))
EOF
BPID=$!
EXTRA_PIDS="${EXTRA_PIDS:-} $BPID"
wait "$BPID"
LAST_REQ="presence burst client: $(head -c 300 "$TMP_ROOT/burst.err")" STATUS=
R=$(tail -n1 "$OUT")
expect_true "burst client printed a result" jq -e . <<<"$R"
# (lib.sh's expect_jq_of: the values read from R by one batched jq, not a jq each)
expect_jq_of "$R" .opened 150 "streams opened"
expect_eq "/healthz answered during the burst" "HTTP/1.1 200 OK" "$(tr -d '\r\n' <"$TMP_ROOT/healthz")"
expect_jq_of "$R" '"\(.complete) \(.missing_pairs)"' "true 0" "every pair sharing a conversation: one told of the other"
expect_jq_of "$R" .dups 0 "online told twice (same receiver, same user)"
expect_jq_of "$R" .wrong 0 "online told to a user sharing no conversation"
expect_jq_of "$R" .other_events 0 "events other than presence"
expect_jq_of "$R" .closed_early 0 "streams closed by the server"
expect_jq_of "$R" '"\(.offline_complete) \(.offline_missing)"' "true 0" \
    "offline: every WebSocket user told of each closed one it shares with"
expect_jq_of "$R" .offline_dups 0 "offline: told once each"
expect_jq_of "$R" .offline_wrong 0 "offline: nobody told of a user it shares nothing with"
expect_jq_of "$R" .offline_events "$(jq .expected_offline <<<"$R")" "offline events: exactly the expected ones"
expect_jq_of "$R" .offline_no_seen 0 "offline events without last_seen_at"
note "burst: $(jq -c '{online_events, offline_events}' <<<"$R")"
req GET /healthz
expect_status 200

stop_clients
stop_server
