#!/usr/bin/env bash
# t_replay.sh — event replay (?last_event_id= / Last-Event-ID) under load and as of now:
#  1. ten replays from id 0 of a multi-MB log by a user who can see almost nothing of it must
#     not stall the loop: /healthz keeps answering (worst latency under a generous bound) and
#     every replay ends with exactly that user's events, and a member who sees all of it gets
#     every message once, in order (issue 10, defect 1);
#  2. a replayed conversation.updated carries the last_message_id it had when it was written,
#     not the current one: a removed member learns nothing of later activity (defect 7a);
#  3. replay shows what is true now: a message deleted since only as its message.deleted, one
#     edited since with its current body (as GET shows it), to old and newly added members alike,
#     before and after a restart; an old body is never sent again (defect 5).
# The replaying streams and the /healthz probe are one python loop (tests/lib.sh's conventions:
# bounded waits, a generous latency bound).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/stream_lib.sh"   # SSE_JQ

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
REPLAY_MB=${REPLAY_MB:-24}          # size of the log the replays read
STALL_BOUND_MS=${STALL_BOUND_MS:-400}   # before the fix: 1-2 s; after: under 10 ms

# fill TOKEN CONV MB [MIN MAX]: post messages of MIN-MAX bytes (default 200-2000) into CONV,
# pipelined 100 at a time on one connection, until about MB megabytes were sent; prints the count
fill() {
    "$PY" - "$PORT" "$@" <<'PYEOF'
import json, random, socket, sys
port, tok, conv, mb = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
lo, hi = (int(sys.argv[5]), int(sys.argv[6])) if len(sys.argv) > 6 else (200, 2000)
s = socket.create_connection(("127.0.0.1", port), timeout=60)
rnd = random.Random(7)
words = "the quick brown fox jumps over a lazy dog while chatd keeps its log append only".split()
# the bodies: runs of random words of at least `size` bytes (ending in a space) cut one after
# the other from one long text (a word at a time for each body was most of this file's CPU)
text = " ".join(rnd.choices(words, k=200000)) + " "
pos = 0
sent = n = 0
while sent < mb * 1e6:
    batch = []
    for _ in range(100):
        size = rnd.randint(lo, hi)
        if pos + size + 16 > len(text): pos = 0
        end = text.index(" ", pos + size - 1) + 1
        body = text[pos:end]
        pos = end
        js = json.dumps({"conversation_id": conv, "body": body}).encode()
        batch.append(b"POST /api/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (tok.encode(), len(js), js))
        sent += len(body)
    s.sendall(b"".join(batch))
    data = b""
    while data.count(b"HTTP/1.1 ") < len(batch) or not data.rstrip().endswith(b"}"):
        d = s.recv(65536)
        if not d: sys.exit("connection closed")
        data += d
    if data.count(b"HTTP/1.1 201 ") != len(batch): sys.exit("post failed: %r" % data[:200])
    n += len(batch)
print(n)
PYEOF
}

# replays PORT TOKEN CONV SECONDS FILES...: open one SSE replay from id 0 per FILE, all at once
# (as clients do when they reconnect together after a restart), post a marker message into
# CONV, then GET /healthz on a new connection every 20 ms (draining the streams into FILES in
# between) until every stream holds the marker or SECONDS pass.
# Prints {"worst_ms","n","all_ms","done","marker"}: worst /healthz (or marker post) latency.
replays() {
    "$PY" - "$@" <<'PYEOF'
import json, socket, sys, time
port, tok, conv, secs, files = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5:]
def request(raw):
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    s.sendall(raw)
    data = b""
    while True:
        d = s.recv(65536)
        if not d: break
        data += d
    s.close()
    return data
streams = [socket.create_connection(("127.0.0.1", port), timeout=120) for _ in files]
for s in streams:
    s.sendall(b"GET /api/events?token=%s&last_event_id=0 HTTP/1.1\r\nHost: x\r\n\r\n" % tok.encode())
got = [b""] * len(files)
t0 = a = time.monotonic()
body = json.dumps({"conversation_id": conv, "body": "marker after the replays began"}).encode()
r = request(b"POST /api/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (tok.encode(), len(body), body))
if not r.startswith(b"HTTP/1.1 201"): sys.exit("marker: %r" % r[:200])
marker = json.loads(r[r.index(b"\r\n\r\n") + 4:])["message"]["id"]
worst = time.monotonic() - a; n = 1; done = False
needle = b'"id":%d,' % marker
while time.monotonic() - t0 < secs:
    a = time.monotonic()
    r = request(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    if not r.startswith(b"HTTP/1.1 200"): sys.exit("healthz: %r" % r[:80])
    worst = max(worst, time.monotonic() - a); n += 1
    for i, s in enumerate(streams):
        s.setblocking(False)
        try:
            while True:
                d = s.recv(65536)
                if not d: break
                got[i] += d
        except BlockingIOError:
            pass
    if all(needle in g for g in got):
        done = True
        break
    time.sleep(0.02)
for f, g in zip(files, got): open(f, "wb").write(g.split(b"\r\n\r\n", 1)[-1])
print(json.dumps({"worst_ms": round(worst * 1000, 1), "n": n, "done": done, "marker": marker,
                  "all_ms": round((time.monotonic() - t0) * 1000)}))
PYEOF
}

# sse_q FILE JQ_FILTER: the filter over the events of an SSE capture, a JSON array of
# {"sid","ev","data"} (stream_lib.sh's SSE_JQ: parsed by jq itself, one process)
sse_q() { jq -R -s -c "$SSE_JQ sse_events | ($2)" "$1" 2>/dev/null || echo '"unparsable"'; }
file_has() { local o=; { o=$(<"$1"); } 2>/dev/null; [[ $o == *"$2"* ]]; }   # FILE TEXT (bash reads it)

# =============================================================================================
# 1. Ten replays of a multi-MB log by a user who sees almost none of it
start_server --compact-pct 0
new_user A alice
new_user F fresh
new_conv "$A_TOK" "busy" "[]"
BUSY=$CONV_ID
T0=$EPOCHREALTIME; N=$(fill "$A_TOK" "$BUSY" "$REPLAY_MB")
note "fill: $N messages in $(bc <<<"$EPOCHREALTIME - $T0") s"
expect_match "filled the log" '^[0-9]+$' "$N"
LOG_BYTES=$(stat -c %s "$SERVER_DATA_DIR/chatd.log")
expect_true "the log is over $REPLAY_MB MB ($LOG_BYTES bytes)" test "$LOG_BYTES" -gt $((REPLAY_MB * 1000000))
new_conv "$F_TOK" "mine" "[]"
MINE=$CONV_ID

files=()
for i in $(seq 1 10); do files+=("$TMP_ROOT/replay.$i.out"); done
P=$(replays "$PORT" "$F_TOK" "$MINE" 80 "${files[@]}")
MARK= done= W=
read -r MARK done W < <(jq -r '"\(.marker) \(.done) \(.worst_ms | floor)"' <<<"$P")
echo "  10 replays of $LOG_BYTES bytes ($N messages): $P"
expect_eq "every replay reached the live end" true "$done"
expect_true "/healthz worst latency during the replays ${W} ms < $STALL_BOUND_MS ms" test "${W:-99999}" -lt "$STALL_BOUND_MS"
# (the ten captures in one jq: a line each, in order)
caps=()
for ((i = 0; i < 10; i++)); do caps+=(--rawfile "r$i" "${files[i]}"); done
mapfile -t got < <(jq -n -c "${caps[@]}" "$SSE_JQ"' [$r0, $r1, $r2, $r3, $r4, $r5, $r6, $r7, $r8, $r9][]
    | try (sse_events | [.[] | [.ev, (.data.conversation.id // .data.message.id)]]) catch "unparsable"')
for ((i = 0; i < 10; i++)); do
    LAST_REQ="replay ${files[i]##*/}" STATUS=
    expect_eq "replay holds only fresh's events" \
        "[[\"conversation.created\",$MINE],[\"message.created\",$MARK]]" "${got[i]-}"
done

# the member who sees all of it gets every message once, in order, across the read slices
F_ALL=$TMP_ROOT/replay.all.out
timeout 60 curl -sN --max-time 55 "$BASE/api/events?token=$A_TOK&last_event_id=0" >"$F_ALL" 2>/dev/null &
EXTRA_PIDS="${EXTRA_PIDS:-} $!"
post_msg "$A_TOK" "$BUSY" "the last one"
LAST=$MSG_ID
expect_true "the full replay reached the live end" poll 30 grep -q "\"id\":$LAST," "$F_ALL"
CHK=$("$PY" - "$F_ALL" "$N" "$LAST" <<'PYEOF'
import json, sys
ids, sids = [], []
with open(sys.argv[1], "rb") as f:   # a line at a time: the capture is tens of MB
    for l in f:
        if l.startswith(b"data: "):
            e = json.loads(l[6:])
            sids.append(e["id"])
            if e["type"] == "message.created":
                ids.append(e["message"]["id"])
want = list(range(1, int(sys.argv[2]) + 1)) + [int(sys.argv[3])]
print("%s %d %s" % (ids == want, len(ids), sids == sorted(set(sids))))
PYEOF
)
expect_eq "full replay: messages 1..$N and $LAST in order, once; event ids increasing" "True $((N + 1)) True" "$CHK"
stop_clients
stop_server

# =============================================================================================
# 2. conversation events replay as of their record (last_message_id then, not now)
start_server
new_user A alice
new_user B bob
new_conv "$A_TOK" "x" "[$B_ID]"
X=$CONV_ID
post_msg "$A_TOK" "$X" "before bob leaves"
M1=$MSG_ID
LIVE_A=$TMP_ROOT/live.a.out
timeout 60 curl -sN --max-time 55 "$BASE/api/events?token=$A_TOK" >"$LIVE_A" 2>/dev/null &
EXTRA_PIDS="${EXTRA_PIDS:-} $!"
# its first line (retry:) comes once the server holds it as a stream: the PUT below is then
# live to it (a sleep 0.3 here was too short on a loaded machine: the first update was missed)
poll 15 file_has "$LIVE_A" 'retry:'
req PUT "/api/conversations/$X" "{\"member_ids\":[$A_ID]}" "$A_TOK"   # bob is dropped
expect_status 200
expect_jq .conversation.last_message_id "$M1"
post_msg "$A_TOK" "$X" "after bob left"
M2=$MSG_ID
req PUT "/api/conversations/$X" '{"title":"x renamed"}' "$A_TOK"
expect_status 200
expect_jq .conversation.last_message_id "$M2"
for who in B A; do
    f=$TMP_ROOT/conv.$who.out
    tok=${who}_TOK
    timeout 60 curl -sN --max-time 55 "$BASE/api/events?token=${!tok}&last_event_id=0" >"$f" 2>/dev/null &
    EXTRA_PIDS="${EXTRA_PIDS:-} $!"
done
post_msg "$A_TOK" "$X" "marker"
MK=$MSG_ID
new_conv "$B_TOK" "bob's marker" "[]"
BMK=$CONV_ID
expect_true "bob's replay reached the live end" poll 15 grep -q "\"id\":$BMK," "$TMP_ROOT/conv.B.out"
expect_true "alice's replay reached the live end" poll 15 grep -q "\"id\":$MK," "$TMP_ROOT/conv.A.out"
expect_true "alice's live stream got the marker" poll 15 grep -q "\"id\":$MK," "$LIVE_A"
LAST_REQ="bob's replay" STATUS=
# (bob is no longer a member, so the conversation's messages are not replayed to him)
expect_eq "bob's replayed conversation events: last_message_id as they were written" \
    "[[\"conversation.created\",$X,null],[\"conversation.updated\",$X,$M1],[\"conversation.created\",$BMK,null]]" \
    "$(sse_q "$TMP_ROOT/conv.B.out" '[.[] | [.ev, (.data.conversation // .data.message | .id)] +
        (if .data.conversation then [.data.conversation.last_message_id] else [] end)]')"
LAST_REQ="alice's replay" STATUS=
expect_eq "alice's replayed conversation events, as they were written" \
    "[[$X,null],[$X,$M1],[$X,$M2]]" \
    "$(sse_q "$TMP_ROOT/conv.A.out" '[.[] | select(.data.conversation) | [.data.conversation.id, .data.conversation.last_message_id]]')"
# the replayed conversation events are exactly the ones sent live
expect_eq "replayed conversation.updated == live" \
    "$(sse_q "$LIVE_A" '[.[] | select(.ev == "conversation.updated")]')" \
    "$(sse_q "$TMP_ROOT/conv.A.out" '[.[] | select(.ev == "conversation.updated")]')"
# the same after a restart (the value is in the record, not in memory)
stop_clients
restart_server
f=$TMP_ROOT/conv.B2.out
timeout 30 curl -sN --max-time 25 "$BASE/api/events?token=$B_TOK&last_event_id=0" >"$f" 2>/dev/null &
EXTRA_PIDS="${EXTRA_PIDS:-} $!"
expect_true "bob's replay after a restart reached its end" poll 15 grep -q "\"id\":$BMK," "$f"
expect_eq "after a restart too" "$M1" \
    "$(sse_q "$f" '[.[] | select(.ev == "conversation.updated")][0].data.conversation.last_message_id')"
stop_clients
stop_server

# =============================================================================================
# 3. replay renders messages as they are now: no deleted or pre-edit body, to anyone
start_server
new_user A alice
new_user B bob
new_user C carol
new_conv "$A_TOK" "y" "[$B_ID]"
Y=$CONV_ID
post_msg "$A_TOK" "$Y" "gone-secret-body"
MD=$MSG_ID
post_msg "$A_TOK" "$Y" "first-draft-body"
ME=$MSG_ID
post_msg "$A_TOK" "$Y" "unchanged-body"
MU=$MSG_ID
req PUT "/api/messages/$ME" '{"body":"second-draft-body"}' "$A_TOK"
expect_status 200
req PUT "/api/messages/$ME" '{"body":"final-body"}' "$A_TOK"
expect_status 200
req DELETE "/api/messages/$MD" "" "$A_TOK"
expect_status 204
req PUT "/api/conversations/$Y" "{\"member_ids\":[$A_ID,$B_ID,$C_ID]}" "$A_TOK"   # carol joins later
expect_status 200
req GET "/api/messages/$ME" "" "$C_TOK"
expect_status 200
NOW_E=$(jq -c .message <<<"$BODY")
req GET "/api/messages/$MU" "" "$C_TOK"
NOW_U=$(jq -c .message <<<"$BODY")
for round in first restarted; do
    for who in A B C; do
        f=$TMP_ROOT/now.$round.$who.out
        tok=${who}_TOK
        timeout 60 curl -sN --max-time 55 "$BASE/api/events?token=${!tok}&last_event_id=0" >"$f" 2>/dev/null &
        EXTRA_PIDS="${EXTRA_PIDS:-} $!"
    done
    post_msg "$A_TOK" "$Y" "marker-$round"
    MK=$MSG_ID
    for who in A B C; do
        f=$TMP_ROOT/now.$round.$who.out
        expect_true "$round: $who's replay reached the live end" poll 15 grep -q "\"id\":$MK," "$f"
        LAST_REQ="$round: $who's replay" STATUS=
        expect_eq "$round: $who: no deleted or old body replayed" 0 \
            "$(grep -c -e gone-secret-body -e first-draft-body -e second-draft-body "$f")"
        jd= je= ju=   # (one jq for the three)
        { read -r jd; read -r je; read -r ju; } < <(sse_q "$f" "[.[] | select(.data.message.id == $MD) | [.ev, .data.message]],
            [.[] | select(.data.message.id == $ME) | [.ev, .data.message]], [.[] | select(.data.message.id == $MU) | [.ev, .data.message]]")
        expect_eq "$round: $who: the deleted message only as its message.deleted" \
            "[[\"message.deleted\",{\"id\":$MD,\"conversation_id\":$Y}]]" "$jd"
        expect_eq "$round: $who: the edited message's created and updated events show it as GET does" \
            "[[\"message.created\",$NOW_E],[\"message.updated\",$NOW_E],[\"message.updated\",$NOW_E]]" "$je"
        expect_eq "$round: $who: the unchanged message as it is" "[[\"message.created\",$NOW_U]]" "$ju"
    done
    stop_clients
    [ $round = first ] && restart_server
done
stop_server
