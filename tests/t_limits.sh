#!/usr/bin/env bash
# t_limits.sh — the limits against abuse (contract: "Limits against abuse"): responses bounded
# by --max-response while they are built (message pages end early with has_more, the
# conversation list keeps the most recently active), memory held by clients that do not read,
# connections per address, streams per user, writes per user.
source "$(dirname "$0")/lib.sh"

# py_post PORT TOKEN CONV COUNT CHARS: post COUNT messages of CHARS control characters each
# (every one escapes to \u00XX in JSON: 6 bytes out per byte stored) over one connection;
# prints the ids as a JSON array
py_post() {
    "$PYTHON" - "$@" <<'EOF'
import http.client, json, sys
port, tok, conv, count, chars = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
ids = []
for i in range(count):
    body = "%04d" % i + "".join(chr(1 + (i + k) % 7) for k in range(chars - 4))
    c.request("POST", "/api/messages", json.dumps({"conversation_id": conv, "body": body}),
              {"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
    r = c.getresponse(); data = r.read()
    if r.status != 201:
        print(json.dumps({"error": r.status, "body": data[:200].decode("latin-1")})); sys.exit(0)
    ids.append(json.loads(data)["message"]["id"])
print(json.dumps(ids))
EOF
}

# walk PATH_WITHOUT_CURSOR DIR(before|after) TOKEN [FIRST_CURSOR]: follow the pages to the end; WALK = every id
# seen in page order, WALK_PAGES = number of pages, WALK_MAX = the largest body in bytes (without its final
# newline), WALK_BAD = a description of the first page that broke the rules ("" if none). One python process
# for all the pages of a walk (~30 of ~512 KiB each): a jq process per page cost more than the walk.
walk() {
    local out
    out=$("$PYTHON" - "$PORT" "$@" <<'EOF2'
import http.client, json, sys
port, path, d, tok = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
cur = sys.argv[5] if len(sys.argv) > 5 else ""
c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
every, pages, biggest, bad = [], 0, 0, ""
while not bad:
    if pages == 300:
        bad = "more than 300 pages"; break
    pages += 1
    try:
        c.request("GET", path + ("&%s=%s" % (d, cur) if cur else ""), headers={"Authorization": "Bearer " + tok})
        r = c.getresponse(); body = r.read()
        if r.status != 200:
            bad = "page %d: status %d" % (pages, r.status); break
        biggest = max(biggest, len(body.rstrip(b"\n")))
        page = json.loads(body)
        ids = [m["id"] for m in page["messages"]]
    except Exception as e:
        bad = "page %d: %s" % (pages, e); break
    if not ids:
        bad = "page %d: empty" % pages
    elif ids != sorted(ids):
        bad = "page %d: not ascending" % pages
    elif d == "before":
        every = ids + every; cur = ids[0]
    else:
        every += ids; cur = ids[-1]
    if page["has_more"] is not True:
        break
print(json.dumps(every, separators=(",", ":")), pages, biggest, bad)
EOF2
)
    read -r WALK WALK_PAGES WALK_MAX WALK_BAD <<<"$out"
}

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$SERVER_PID/status"; }

# ---------------------------------------------------------------------------------------------
# --max-response (default 512 KiB): 200 messages of ~10,900 control characters each are 13 MB
# of JSON; a page stops before the cap with has_more true, and the next page goes on from it
start_server --write-rate 0
new_user A alice
new_user B bob
new_conv "$A_TOK" "ctl" "[$B_ID]"
C=$CONV_ID
IDS=$(py_post "$PORT" "$A_TOK" "$C" 200 10900 | jq -c .)
expect_eq "200 messages posted" 200 "$(jq 'length' <<<"$IDS" 2>&1)"
CAP=$((512 * 1024))

req GET "/api/messages?conversation_id=$C&limit=200" "" "$B_TOK"
expect_status 200
expect_true "the page body (${#BODY} bytes) is within 512 KiB" test "${#BODY}" -le $CAP
expect_jq .has_more true
N=$(jqb '.messages | length')
expect_jq '[.messages[].id]' "$(jq -c --argjson n "$N" '.[-$n:]' <<<"$IDS")"
expect_true "the page is not empty and not all 200" test "$N" -ge 1 -a "$N" -lt 200
req HEAD "/api/messages?conversation_id=$C&limit=200" "" "$B_TOK"
expect_status 200

walk "/api/messages?conversation_id=$C&limit=200" before "$B_TOK"
expect_eq "backwards pages: no broken page" "" "$WALK_BAD"
expect_eq "backwards pages: every message once, in order" "$IDS" "$WALK"
expect_true "backwards pages: the largest body ($WALK_MAX) within the cap" test "$WALK_MAX" -le $CAP
expect_true "backwards pages: more than one ($WALK_PAGES)" test "$WALK_PAGES" -gt 1
walk "/api/messages?conversation_id=$C&limit=200" after "$B_TOK" 1
expect_eq "forwards pages: no broken page" "" "$WALK_BAD"
expect_eq "forwards pages: every message once, in order" "$(jq -c '[.[] | select(. > 1)]' <<<"$IDS")" "$WALK"
expect_true "forwards pages: the largest body ($WALK_MAX) within the cap" test "$WALK_MAX" -le $CAP
# across all the caller's conversations
walk "/api/messages?limit=200" before "$B_TOK"
expect_eq "all conversations, backwards: every message once" "$IDS" "$WALK"
expect_true "all conversations: the largest body ($WALK_MAX) within the cap" test "$WALK_MAX" -le $CAP

# clients that send that request and never read: the memory they hold stays bounded
# (before the fix, each held the whole 13 MB response: 10 of them +130 MB)
RSS0=$(rss_kb)
"$PYTHON" - "$PORT" "$B_TOK" "$C" 10 >"$TMP_ROOT/nr.out" 2>&1 <<'EOF' &
import socket, sys, time
port, tok, conv, k = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
socks = []
for i in range(k):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET /api/messages?conversation_id=%s&limit=200&nr=%d HTTP/1.1\r\nHost: t\r\n"
               "Authorization: Bearer %s\r\n\r\n" % (conv, i, tok)).encode())
    socks.append(s)
print("sent", flush=True)
time.sleep(30)
EOF
NR_PID=$!
EXTRA_PIDS="${EXTRA_PIDS:-} $NR_PID"
nr_done() { [ "$(grep -c 'limit=200&nr=' "$SERVER_LOG")" -ge 10 ]; }
expect_true "the 10 non-reading requests were answered" poll 30 nr_done
sleep 0.5
RSS1=$(rss_kb)
note "RSS before $RSS0 KiB, with 10 non-reading clients $RSS1 KiB (+$(((RSS1 - RSS0) / 1024)) MiB)"
expect_true "10 non-reading clients hold less than 40 MiB (+$(((RSS1 - RSS0) / 1024)) MiB)" test $((RSS1 - RSS0)) -lt $((40 * 1024))
kill "$NR_PID" 2>/dev/null
wait "$NR_PID" 2>/dev/null
req GET /healthz
expect_status 200
stop_server

# --- a small cap: a page holds at least one message, however big; the conversation list keeps
# the most recently active conversations that fit
start_server --max-response 4096
new_user A alice
new_user B bob
new_conv "$A_TOK" "big" "[$B_ID]"
C=$CONV_ID
IDS=$(py_post "$PORT" "$A_TOK" "$C" 3 2000 | jq -c .)
req GET "/api/messages?conversation_id=$C" "" "$B_TOK"
expect_status 200
expect_jq '[.messages[].id]' "$(jq -c '.[-1:]' <<<"$IDS")"
expect_jq .has_more true
walk "/api/messages?conversation_id=$C" before "$B_TOK"
expect_eq "one message per page, all of them" "$IDS" "$WALK"
TITLE=$(rep '\u0001' 128)
CONVS=()
for ((i = 1; i <= 12; i++)); do
    req POST /api/conversations "{\"title\":\"$TITLE\",\"member_ids\":[$B_ID]}" "$A_TOK"
    _jid conversation   # (lib.sh: the id read by bash when the answer has its usual shape)
    CONVS+=("$JID")
    tick
done
req GET /api/conversations "" "$B_TOK"
expect_status 200
expect_true "the conversation list (${#BODY} bytes) is within 4096 bytes" test "${#BODY}" -le 4096
N=$(jqb '.conversations | length')
expect_true "some conversations listed, not all 13 ($N)" test "$N" -ge 1 -a "$N" -lt 13
NEWEST=
for ((i = ${#CONVS[@]} - 1; i >= ${#CONVS[@]} - N && i >= 0; i--)); do NEWEST+=${NEWEST:+,}${CONVS[i]}; done
NEWEST="[$NEWEST]"   # the N created last, newest first
expect_jq '[.conversations[].id]' "$NEWEST"
post_msg "$A_TOK" "$C" "bump"   # the oldest becomes the most recently active
req GET /api/conversations "" "$B_TOK"
expect_jq '.conversations[0].id' "$C"
stop_server

# ---------------------------------------------------------------------------------------------
# --max-conns-per-ip N: one more connection from that address -> 503 and close; other
# addresses and connections after some closed are served. (Bound to 0.0.0.0 so 127.0.0.2
# reaches it as another address; flags given later win.)
start_server --bind 0.0.0.0 --max-conns-per-ip 5 --max-conns 100
perip() {   # K: hold K connections from 127.0.0.1, then one more from there and one from 127.0.0.2
    "$PYTHON" - "$PORT" "$1" <<'PY'
import json, socket, sys
port, k = int(sys.argv[1]), int(sys.argv[2])
def ask(src):
    s = socket.socket(); s.settimeout(5); s.bind((src, 0)); s.connect(("127.0.0.1", port))
    try: s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    except OSError: pass
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            c = s.recv(4096)
            if not c: break
            data += c
    except OSError: pass
    st = int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else None
    return s, st, data
held = [ask("127.0.0.1") for _ in range(k)]
extra = ask("127.0.0.1")
other = ask("127.0.0.2")
print(json.dumps({"held": [h[1] for h in held], "extra": extra[1], "extra_connection": "close" in extra[2].decode("latin-1").lower(),
                  "other": other[1]}))
PY
}
PERIP=$(perip 5)
LAST_REQ="5 + 1 connections from 127.0.0.1, 1 from 127.0.0.2" STATUS=
expect_jq_of "$PERIP" .held '[200,200,200,200,200]' "5 connections held"
expect_jq_of "$PERIP" .extra 503 "the 6th from the same address: 503"
expect_jq_of "$PERIP" .extra_connection true "... with Connection: close"
expect_jq_of "$PERIP" .other 200 "another address is served"
PERIP=$(perip 4)   # the first ones closed: the address has room again
expect_jq_of "$PERIP" .held '[200,200,200,200]' "after they closed: served again"
expect_jq_of "$PERIP" .extra 200 "... up to the limit"
expect_true "rejections counted in /metrics" test "$(metric chatd_connections_rejected_total)" -ge 1
stop_server

# ---------------------------------------------------------------------------------------------
# --max-streams-per-user N: one more stream (SSE or WebSocket) -> 429 too_many_streams
start_server --max-streams-per-user 3
new_user A alice
new_user B bob
SSE_PIDS=()
for i in 1 2 3; do
    curl -sN --max-time 50 -o "$TMP_ROOT/sse.$i" "$BASE/api/events?token=$A_TOK" &
    SSE_PIDS+=($!)
    EXTRA_PIDS="${EXTRA_PIDS:-} $!"
done
sse_open() {   # each of the 3 has a line starting "retry:" (read by bash: no process per poll)
    local f s
    for f in "$TMP_ROOT"/sse.{1,2,3}; do { s=$'\n'$(<"$f"); } 2>/dev/null && [[ $s == *$'\n'retry:* ]] || return 1; done
}
expect_true "3 streams of A open" poll 15 sse_open
req GET /api/events "" "$A_TOK"
expect_error 429 too_many_streams
req GET /api/ws "" "$A_TOK" -H 'Upgrade: websocket' -H 'Connection: Upgrade' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Version: 13'
expect_error 429 too_many_streams
expect_no_header Sec-WebSocket-Accept
req GET /api/conversations "" "$A_TOK"   # plain requests are not streams
expect_status 200
curl -sN --max-time 3 -o "$TMP_ROOT/sse.b" -D "$TMP_ROOT/sse.b.h" "$BASE/api/events?token=$B_TOK"
line=
{ read -r line <"$TMP_ROOT/sse.b.h"; } 2>/dev/null
expect_match "another user's stream opens" '^HTTP/1.1 200' "$line"
kill "${SSE_PIDS[0]}"
wait "${SSE_PIDS[0]}" 2>/dev/null
freed() { [[ $(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$BASE/api/events?token=$A_TOK") == *200* ]]; }
expect_true "a stream closed: A may open one again" poll 10 freed
stop_clients
stop_server

# ---------------------------------------------------------------------------------------------
# --write-rate N: N writes a second per user, bursts of 5N; beyond: 429 rate_limited with
# Retry-After, and nothing stored. Reads, register and login are not writes.
start_server --write-rate 2
new_user A alice
new_user B bob
new_conv "$A_TOK" "rate" "[$B_ID]"   # A's first write
C=$CONV_ID
# burst PORT TOKEN CONV COUNT: COUNT posts over one connection; {"codes":[...],"ms":elapsed}
burst() {
    "$PYTHON" - "$@" <<'PY'
import http.client, json, sys, time
port, tok, conv, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
codes = []; retry = []; t0 = time.time()
for i in range(n):
    c.request("POST", "/api/messages", json.dumps({"conversation_id": conv, "body": "b%d" % i}),
              {"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
    r = c.getresponse(); r.read(); codes.append(r.status)
    if r.status == 429: retry.append(r.getheader("Retry-After"))
print(json.dumps({"codes": codes, "retry": retry, "ms": int((time.time() - t0) * 1000)}))
PY
}
B1=$(burst "$PORT" "$A_TOK" "$C" 30)
LAST_REQ="30 posts by A at once" STATUS=
read -r OKS MS <<<"$(jq -r '"\([.codes[] | select(. == 201)] | length) \(.ms)"' <<<"$B1")"
# the bucket holds 10; the conversation took one; 2 a second come back while posting
expect_true "A's posts accepted: $OKS of 30 in $MS ms (9..$((10 + 2 * MS / 1000 + 1)))" \
    test "$OKS" -ge 9 -a "$OKS" -le $((10 + 2 * MS / 1000 + 1))
expect_jq_of "$B1" '[.codes[] | select(. == 429)] | length' "$((30 - OKS))" "the rest: 429"
expect_jq_of "$B1" '.codes[:9] | all(. == 201)' true "the first 9 accepted"
expect_jq_of "$B1" '.retry | length > 0 and all(test("^[1-9][0-9]*$"))' true "Retry-After is a whole number of seconds >= 1"
req GET "/api/messages?conversation_id=$C&limit=200" "" "$A_TOK"
expect_jq '.messages | length' "$OKS"
# each kind of write, right after the bucket was emptied again (a refill in between would let
# it pass: then the bucket is emptied and it is tried again, up to 3 times)
PROBE=$("$PYTHON" - "$PORT" "$A_TOK" "$C" <<'PY'
import http.client, json, sys
port, tok, conv = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
def call(m, p, b=None, auth=True):
    h = {"Content-Type": "application/json"}
    if auth: h["Authorization"] = "Bearer " + tok
    c.request(m, p, json.dumps(b) if b is not None else None, h)
    r = c.getresponse(); data = r.read()
    return r.status, r.getheader("Retry-After"), data
def empty():
    for _ in range(50):
        if call("POST", "/api/messages", {"conversation_id": conv, "body": "fill"})[0] == 429: return
out = {}
for name, m, p, b in [("put", "PUT", "/api/conversations/%d" % conv, {"title": None}),
                      ("delete", "DELETE", "/api/messages/1", None),
                      ("create", "POST", "/api/conversations", {"title": "new", "member_ids": []}),
                      ("logout", "POST", "/api/users/logout", None)]:
    got = []
    for k in range(3):
        empty()
        if b is not None and "title" in b and b["title"] is None: b = {"title": "renamed%d" % k}
        st, ra, data = call(m, p, b)
        got.append({"status": st, "retry": ra, "code": json.loads(data).get("error", {}).get("code") if data else None,
                    "title": b.get("title") if b else None})
        if st == 429: break
        if b and "title" in b and b["title"].startswith("renamed"): b = {"title": None}
    out[name] = got
empty()
out["get"] = call("GET", "/api/conversations/%d" % conv)[0]
out["login"] = call("POST", "/api/users/login", {"username": "alice", "password": "password123"}, False)[0]
out["register"] = call("POST", "/api/users/register", {"username": "carol", "password": "password123"}, False)[0]
out["title"] = json.loads(call("GET", "/api/conversations/%d" % conv)[2])["conversation"]["title"]
print(json.dumps(out))
PY
)
LAST_REQ="writes right after the bucket was emptied: $PROBE" STATUS=
for w in put delete create logout; do
    expect_jq_of "$PROBE" ".$w[-1]"' | "\(.status) \(.code) \(.retry | test("^[1-9][0-9]*$"))"' \
        '429 rate_limited true' "$w: 429 rate_limited with Retry-After"
done
expect_jq_of "$PROBE" '.title as $t | [.put[] | select(.status == 429) | .title] | index($t) != null' false \
    "a refused PUT stored nothing"
expect_jq_of "$PROBE" .get 200 "reads pass"
expect_jq_of "$PROBE" .login 200 "login is no write"
expect_jq_of "$PROBE" .register 201 "register is no write"
post_msg "$B_TOK" "$C" "B has its own budget"
sleep 1.1
req POST /api/messages "$(mbody "$C" "a second later")" "$A_TOK"
expect_status 201
stop_server
