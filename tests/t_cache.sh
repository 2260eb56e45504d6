#!/usr/bin/env bash
# The read cache (--cache-mb: the log's tail in memory, src/cache.c) never changes an answer:
# every page of a conversation (both directions, several limits), the all-conversations
# listing and single messages are byte-identical with --cache-mb 0 and with the cache on; a
# 1 MiB cache under a 2+ MiB log (old pages come from pread, recent ones from the ring, which
# has wrapped); edits and deletes of recent and evicted messages show at once; after a restart
# (the tail loaded from the file) and after an online compaction (a new file: offsets mean
# other bytes) nothing stale is served. Correctness only: no timing is checked here.
. "$(dirname "$0")/lib.sh"

# dump FILE: every page and some messages, as the server answers them (status + body)
dump() {
    python3 - "$PORT" "$A_TOK" "$C1" "$C2" >"$1" <<'EOF' || fail "dump failed"
import http.client, json, sys
port, tok, convs = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
c = http.client.HTTPConnection("127.0.0.1", port)
def get(path):
    c.request("GET", path, headers={"Authorization": "Bearer " + tok})
    r = c.getresponse(); b = r.read()
    print(r.status, path, b.decode().rstrip("\n"))   # one line per answer
    return json.loads(b)
ids = set()
for cid in convs + [None]:
    q = "conversation_id=%s&" % cid if cid else ""
    for limit in (50, 7, 200):
        before = None
        while True:   # newest first, walking back
            p = get("/api/messages?%slimit=%d%s" % (q, limit, "&before=%d" % before if before else ""))
            ids.update(m["id"] for m in p["messages"])
            if not p["has_more"] or not p["messages"]: break
            before = p["messages"][0]["id"]
        after = 1
        while True:   # oldest first, walking on
            p = get("/api/messages?%slimit=%d&after=%d" % (q, limit, after))
            if not p["has_more"] or not p["messages"]: break
            after = p["messages"][-1]["id"]
for i in sorted(ids)[::17] + [max(ids)]: get("/api/messages/%d" % i)
EOF
}
# post N BODY_BYTES CONV...: N messages round-robin over the conversations, bodies "m<i> x..."
post_many() {
    python3 - "$PORT" "$A_TOK" "$@" <<'EOF' || fail "posting failed"
import http.client, json, sys
port, tok, n, size, convs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
c = http.client.HTTPConnection("127.0.0.1", port)
for i in range(n):
    body = json.dumps({"conversation_id": int(convs[i % len(convs)]), "body": ("m%d " % i).ljust(size, "x")})
    c.request("POST", "/api/messages", body, {"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    if r.status != 201: sys.exit("POST %d" % r.status)
EOF
}
same() {   # DESCRIPTION FILE_A FILE_B
    if cmp -s "$2" "$3"; then ok
    else LAST_REQ= STATUS=; fail "$1 (first difference: $(diff "$2" "$3" | head -3 | cut -c1-200))"; fi
}
body_of() { req GET "/api/messages/$1" "" "$A_TOK"; jqb .message.body; }

# ---- 1. a 1 MiB cache under a log of more than 2 MiB
start_server --cache-mb 1
new_user A alice
new_user B bob
new_conv "$A_TOK" "one" "[$B_ID]"; C1=$CONV_ID
new_conv "$A_TOK" "two" "[$B_ID]"; C2=$CONV_ID
post_many 700 3000 "$C1" "$C1" "$C2"
D=$SERVER_DATA_DIR
LOG_BYTES=$(stat -c %s "$D/chatd.log")
expect_true "the log ($LOG_BYTES B) is more than twice the 1 MiB cache: the ring has wrapped" \
    test "$LOG_BYTES" -gt $((2 << 20))
dump "$TMP_ROOT/on1"
expect_eq "pages walked (cache on)" 1 "$(grep -c "^200 /api/messages?conversation_id=$C1&limit=50 " "$TMP_ROOT/on1")"
expect_eq "no error answers" 0 "$(grep -vc '^200 ' "$TMP_ROOT/on1")"
restart_server   # same flags: the cache is loaded from the file's tail
dump "$TMP_ROOT/on1b"
same "after a restart with the cache on, every answer is the same" "$TMP_ROOT/on1" "$TMP_ROOT/on1b"
stop_server
DATA_DIR=$D start_server --cache-mb 0
dump "$TMP_ROOT/off1"
same "--cache-mb 0 and --cache-mb 1 give identical pages and messages" "$TMP_ROOT/off1" "$TMP_ROOT/on1"
stop_server

# ---- 2. edits and deletes, of a recent (cached) and an old (evicted) message
DATA_DIR=$D start_server --cache-mb 1
req GET "/api/messages?conversation_id=$C1&limit=1" "" "$A_TOK"; NEW=$(jqb '.messages[0].id')
req GET "/api/messages?conversation_id=$C1&limit=2&after=1" "" "$A_TOK"; OLD=$(jqb '.messages[0].id')
req GET "/api/messages?conversation_id=$C2&limit=3" "" "$A_TOK"; DEL_NEW=$(jqb '.messages[1].id')
req GET "/api/messages?conversation_id=$C2&limit=3&after=1" "" "$A_TOK"; DEL_OLD=$(jqb '.messages[1].id')
old_body=$(body_of "$OLD")
expect_eq "the old message's body before the edit" "m1 " "${old_body:0:3}"
for id in "$NEW" "$OLD"; do
    req PUT "/api/messages/$id" "{\"body\":\"edited $id\"}" "$A_TOK"
    expect_status 200
    expect_eq "GET right after the edit of $id: the new body" "edited $id" "$(body_of "$id")"
done
for id in "$DEL_NEW" "$DEL_OLD"; do
    req DELETE "/api/messages/$id" "" "$A_TOK"
    expect_status 204
    req GET "/api/messages/$id" "" "$A_TOK"
    expect_status 404
done
req GET "/api/messages?conversation_id=$C1&limit=1" "" "$A_TOK"
expect_jq '.messages[0].body' "edited $NEW"
post_many 5 2000 "$C1"   # more appends after the edits
dump "$TMP_ROOT/on2"
expect_eq "the edited bodies in the pages" 2 \
    "$(grep "^200 /api/messages?conversation_id=$C1&limit=200" "$TMP_ROOT/on2" | grep -oE '"body":"edited [0-9]+"' | sort -u | wc -l)"
stop_server
DATA_DIR=$D start_server --cache-mb 0
dump "$TMP_ROOT/off2"
same "after edits and deletes: cache off and on agree" "$TMP_ROOT/off2" "$TMP_ROOT/on2"
stop_server

# ---- 3. an online compaction (a new file) with the cache on: nothing stale after it
DATA_DIR=$D start_server --cache-mb 1 --erase-within 1   # the bodies edits and deletes left
n=300
while ((n-- > 0)) && [ "$(metric chatd_compactions_total)" = 0 ]; do nap 0.1; done
expect_true "a compaction ran" test "$(metric chatd_compactions_total)" -ge 1
expect_true "the log shrank (dead records dropped, so offsets moved)" test "$(stat -c %s "$D/chatd.log")" -lt "$LOG_BYTES"
dump "$TMP_ROOT/on3"   # the same process, right after it adopted the new file
stop_server
DATA_DIR=$D start_server --cache-mb 0
dump "$TMP_ROOT/off3"
same "after the compaction: cache off and on agree" "$TMP_ROOT/off3" "$TMP_ROOT/on3"
DATA_DIR=$D start_server --cache-mb 1
post_many 3 100 "$C1" "$C2"
req DELETE "/api/messages/$OLD" "" "$A_TOK"
expect_status 204
dump "$TMP_ROOT/on4"
stop_server
DATA_DIR=$D start_server --cache-mb 0
dump "$TMP_ROOT/off4"
same "writes after the compaction: cache off and on agree" "$TMP_ROOT/off4" "$TMP_ROOT/on4"
stop_server

# ---- 4. flag errors
"$CHATD" --cache-mb -1 --data-dir "$TMP_ROOT/x" >/dev/null 2>&1
expect_eq "--cache-mb -1 is a usage error" 2 $?
"$CHATD" --cache-mb 1025 --data-dir "$TMP_ROOT/x" >/dev/null 2>&1
expect_eq "--cache-mb 1025 is a usage error" 2 $?
