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
# seen in page order, WALK_PAGES = number of pages, WALK_MAX = the largest body in bytes,
# WALK_BAD = a description of the first page that broke the rules ("" if none)
walk() {
    local path=$1 dir=$2 tok=$3 cur=${4-} ids n more
    WALK="[]" WALK_PAGES=0 WALK_MAX=0 WALK_BAD=""
    while ((WALK_PAGES < 300)); do
        req GET "$path${cur:+&$dir=$cur}" "" "$tok"
        WALK_PAGES=$((WALK_PAGES + 1))
        [ "$STATUS" != 200 ] && { WALK_BAD="page $WALK_PAGES: status $STATUS"; return; }
        n=${#BODY}
        ((n > WALK_MAX)) && WALK_MAX=$n
        ids=$(jqb '[.messages[].id]')
        more=$(jqb .has_more)
        [ "$(jq 'length' <<<"$ids")" == 0 ] && { WALK_BAD="page $WALK_PAGES: empty"; return; }
        [ "$(jq '. == sort' <<<"$ids")" != true ] && { WALK_BAD="page $WALK_PAGES: not ascending"; return; }
        if [ "$dir" == before ]; then WALK=$(jq -c --argjson p "$ids" '$p + .' <<<"$WALK"); cur=$(jq '.[0]' <<<"$ids")
        else WALK=$(jq -c --argjson p "$ids" '. + $p' <<<"$WALK"); cur=$(jq '.[-1]' <<<"$ids"); fi
        [ "$more" != true ] && return
    done
    WALK_BAD="more than 300 pages"
}

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$SERVER_PID/status"; }

# ---------------------------------------------------------------------------------------------
# --max-response (default 512 KiB): 200 messages of ~10,900 control characters each are 13 MB
# of JSON; a page stops before the cap with has_more true, and the next page goes on from it
start_server
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
expect_jq '[.messages[].id]' "$(jq -c --argjson n "$(jqb '.messages | length')" '.[-$n:]' <<<"$IDS")"
expect_true "the page is not empty and not all 200" test "$(jqb '.messages | length')" -ge 1 -a "$(jqb '.messages | length')" -lt 200
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
TITLE=$(printf '\\u0001%.0s' $(seq 128))
CONVS=()
for i in $(seq 12); do
    req POST /api/conversations "{\"title\":\"$TITLE\",\"member_ids\":[$B_ID]}" "$A_TOK"
    CONVS+=("$(jqb .conversation.id)")
    tick
done
req GET /api/conversations "" "$B_TOK"
expect_status 200
expect_true "the conversation list (${#BODY} bytes) is within 4096 bytes" test "${#BODY}" -le 4096
N=$(jqb '.conversations | length')
expect_true "some conversations listed, not all 13 ($N)" test "$N" -ge 1 -a "$N" -lt 13
NEWEST=$(printf '%s\n' "${CONVS[@]}" | tac | head -n "$N" | jq -sc .)
expect_jq '[.conversations[].id]' "$NEWEST"
post_msg "$A_TOK" "$C" "bump"   # the oldest becomes the most recently active
req GET /api/conversations "" "$B_TOK"
expect_jq '.conversations[0].id' "$C"
stop_server
