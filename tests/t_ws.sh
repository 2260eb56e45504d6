#!/usr/bin/env bash
# t_ws.sh — GET /api/ws (WebSocket, RFC 6455): handshake (accept key, extensions declined,
# 426 for other versions / no upgrade, 401 without a valid token), events as text frames,
# typing relay, error frames that keep the connection usable, ping/pong, the close handshake,
# size and protocol limits (1009, 1007, 1002), ?last_event_id= replay, and streams closed
# with 1008 by logout, password change and account deletion.
# Clients: tests/ws_client.py on the Debian python with python3-websockets (asyncio API), plus
# its raw-socket mode for frames the library will not send. No check asserts on timing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/stream_lib.sh"   # wsc: one ws_client.py for the file; jq_each; look_again
MAXMSG=4096
WSC_WAIT=40   # seconds for a ws_send or ws_raw session

# ---------------------------------------------------------------------------------------------
# helpers (this file's own)

# ws_listen NAME TOKEN [QUERY]: a background client (in the wsc process) writing JSON lines to
# $TMP_ROOT/ws.NAME; waits (bounded) for the handshake's outcome (an "open" or "error" line).
# It lives up to 295 s (stop_clients ends it): on a loaded machine this file runs past a minute.
ws_listen() {
    local name=$1 tok=$2 q=${3-} url
    url="ws://127.0.0.1:$PORT/api/ws?token=$tok$q"
    [ -z "$tok" ] && url="ws://127.0.0.1:$PORT/api/ws${q:+?${q#&}}"
    : >"$TMP_ROOT/ws.$name"
    wsc listen "$url" "$TMP_ROOT/ws.$name" --max-time 295
    poll 15 _ws_started "$name"
    _ws_outcome "$name"
}
ws_has() {   # NAME TEXT: the client's lines hold TEXT (read by bash: no process per poll)
    local l=
    { l=$(<"$TMP_ROOT/ws.$1"); } 2>/dev/null
    [[ $l == *"$2"* ]]
}
_ws_outcome() { ws_has "$1" '"k": "open"' || ws_has "$1" '"k": "error"'; }
_ws_started() { _ws_outcome "$1" || ! proc_alive "$WSC_PID"; }

# the text frames' data
WS_EVENTS='[.[] | select(.k == "text") | .data]'
ws_events() { jq -sc "$WS_EVENTS" "$TMP_ROOT/ws.$1" 2>/dev/null || echo '"unparsable"'; }

# ws_jq NAME JQ_ARGS... FILTER: FILTER over ws_events NAME in one jq process; when that jq
# fails, the two-step way, for the same output and message
ws_jq() {
    local n=$1 out a=("${@:2:$#-2}") f=${*: -1}
    if out=$(jq -s "${a[@]}" "$WS_EVENTS | ($f)" "$TMP_ROOT/ws.$n" 2>/dev/null); then
        printf '%s\n' "$out"
    else ws_events "$n" | jq "${a[@]}" "$f"; fi
}
# NAME JQ_FILTER(over ws_events) [SECONDS]: its jq runs again only when the file changed
wait_ws() { new_wait; poll "${3:-15}" _ws_true "$1" "$2"; }
_ws_true() { look_again "$TMP_ROOT/ws.$1" && [ "$(ws_jq "$1" -r "$2" 2>/dev/null)" == true ]; }

# NAME [SECONDS]: until the client logged the end of the connection
wait_ws_closed() { poll "${2:-15}" ws_has "$1" '"k": "close"'; }

# expect_ws NAME JQ_FILTER EXPECTED [JQ_FILTER EXPECTED]... [jq args...]: checks over ws_events
# NAME, all in one jq (the jq args, --arg/--argjson, for all of them)
expect_ws() {
    local name=$1 f=() want=() i
    shift
    while (($# >= 2)) && [[ $1 != --arg* ]]; do f+=("$1") want+=("$2"); shift 2; done
    local JQ_EACH_IN=$TMP_ROOT/ws.$name JQ_EACH_OPTS=(-s "$@")
    jq_each "$WS_EVENTS" "${f[@]}"
    for i in "${!f[@]}"; do
        if [ "${JQ_GOT[i]}" == "${want[i]}" ]; then ok
        else LAST_REQ="ws $name: jq '${f[i]}'" STATUS= fail "frames of ws $name (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]})" "${want[i]}" "${JQ_GOT[i]}"; fi
    done
}

# expect_ws_line NAME JQ_FILTER(over all lines) EXPECTED [JQ_FILTER EXPECTED]...: one jq
expect_ws_line() {
    local name=$1 f=() want=() i
    shift
    while (($# >= 2)); do f+=("$1") want+=("$2"); shift 2; done
    local JQ_EACH_IN=$TMP_ROOT/ws.$name JQ_EACH_OPTS=(-s)
    jq_each . "${f[@]}"
    for i in "${!f[@]}"; do
        if [ "${JQ_GOT[i]}" == "${want[i]}" ]; then ok
        else LAST_REQ="ws $name: jq '${f[i]}'" STATUS= fail "lines of ws $name (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]})" "${want[i]}" "${JQ_GOT[i]}"; fi
    done
}

# ws_send TOKEN [--close] MSG...: one connection, send the messages, ping; sets WSR (JSON)
ws_send() {
    local tok=$1
    shift
    local d
    printf -v d '%s ' "$@"
    LAST_REQ="ws send: ${d:0:200}" STATUS=
    wsc send "ws://127.0.0.1:$PORT/api/ws?token=$tok" "$@"
    WSR=$WSC_OUT
}

# ws_raw PATH [raw options...]: hand-made client; sets WSR (JSON)
ws_raw() {
    local path=$1
    shift
    local d
    printf -v d '%s ' "$@"
    LAST_REQ="ws raw $path ${d:0:200}" STATUS=
    wsc raw "$PORT" "$path" "$@"
    WSR=$WSC_OUT
}

# expect_wsr JQ_FILTER EXPECTED [JQ_FILTER EXPECTED]...: checks over WSR, one jq for all
expect_wsr() {
    local f=() want=() i
    while (($# >= 2)); do f+=("$1") want+=("$2"); shift 2; done
    local JQ_EACH_IN= JQ_EACH_STR=$WSR JQ_EACH_OPTS=()
    jq_each . "${f[@]}"
    for i in "${!f[@]}"; do
        if [ "${JQ_GOT[i]}" == "${want[i]}" ]; then ok
        else fail "jq '${f[i]}' (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]})" "${want[i]}" "${JQ_GOT[i]}  (client: $(_snip "$WSR" 400))"; fi
    done
}

UPGRADE=(-H 'Upgrade: websocket' -H 'Connection: Upgrade' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==')

# ---------------------------------------------------------------------------------------------
start_server --heartbeat 1 --ws-max-message $MAXMSG

new_user A alice
new_user B bob
new_user C carol
# --- handshake failures: plain HTTP answers, no upgrade
req GET /api/ws "" "$A_TOK" "${UPGRADE[@]}" -H 'Sec-WebSocket-Version: 12'
expect_status 426
expect_header Sec-WebSocket-Version '(^|[ ,])13($|[ ,])'
expect_no_header Sec-WebSocket-Accept
req GET /api/ws "" "$A_TOK"
expect_status 426
req GET /api/ws "" "" "${UPGRADE[@]}" -H 'Sec-WebSocket-Version: 13'
expect_error 401 ""
expect_no_header Upgrade
expect_no_header Sec-WebSocket-Accept
req GET "/api/ws?token=not-a-token" "" "" "${UPGRADE[@]}" -H 'Sec-WebSocket-Version: 13'
expect_error 401 ""
req GET /api/ws "" "not-a-token" "${UPGRADE[@]}" -H 'Sec-WebSocket-Version: 13'
expect_error 401 ""
expect_true "ws no-token client: handshake outcome" ws_listen nt ""
expect_ws_line nt '[.[] | select(.k == "error") | .status]' '[401]'
expect_true "ws bad-token client: handshake outcome" ws_listen bt "not-a-token"
expect_ws_line bt '[.[] | select(.k == "error") | .status]' '[401]'

# --- the handshake needs HTTP/1.1 and the Upgrade/Connection tokens themselves (comma-separated
# lists, any case, several header lines), not a substring of some other token
CRLF=$'\r\n'
# ws_hs VERSION HEADER-LINES...: a raw handshake with A's token; WS_HS = the first status
ws_hs() {
    local v=$1 h=""
    shift
    for l in "$@"; do h+="$l$CRLF"; done
    LAST_REQ="ws handshake: HTTP/$v $*" STATUS=
    wsc head "$PORT" "GET /api/ws?token=$A_TOK HTTP/$v${CRLF}Host: t$CRLF${h}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==$CRLF"\
"Sec-WebSocket-Version: 13$CRLF$CRLF" --timeout 1
    WS_HS=none   # the first response's status (from ws_client.py's {"status": N|null, ...})
    [[ $WSC_OUT =~ ^\{\"status\":\ ([0-9]+), ]] && WS_HS=${BASH_REMATCH[1]}
}
ws_hs 1.0 'Upgrade: websocket' 'Connection: Upgrade'
expect_eq "HTTP/1.0 handshake refused" 400 "$WS_HS"
ws_hs 1.1 'Upgrade: websocket' 'Connection: notupgrade'
expect_eq "Connection: notupgrade is no upgrade" 426 "$WS_HS"
ws_hs 1.1 'Upgrade: websocket' 'Connection: upgrade-please, keep-alive'
expect_eq "Connection: upgrade-please is no upgrade" 426 "$WS_HS"
ws_hs 1.1 'Upgrade: notwebsocket' 'Connection: Upgrade'
expect_eq "Upgrade: notwebsocket is no WebSocket" 426 "$WS_HS"
ws_hs 1.1 'Upgrade: websocketx, h2c' 'Connection: Upgrade'
expect_eq "Upgrade: websocketx is no WebSocket" 426 "$WS_HS"
ws_hs 1.1 'Upgrade: h2c, WebSocket' 'Connection: keep-alive, UPGRADE'
expect_eq "token lists in any case: upgraded" 101 "$WS_HS"
ws_hs 1.1 'Upgrade: websocket' 'Connection: keep-alive' 'Connection: Upgrade'
expect_eq "Connection over two header lines: upgraded" 101 "$WS_HS"
ws_hs 1.1 'Upgrade: websocket' 'Connection: keep-alive,,	upgrade ,'
expect_eq "empty list elements and tabs: upgraded" 101 "$WS_HS"

# --- handshake: 101 with the right accept key (the library checks it; so does the raw client),
# permessage-deflate (offered by the library by default) declined
expect_true "ws a: handshake" ws_listen a "$A_TOK"
expect_true "ws b (Authorization-less, ?token=): handshake" ws_listen b "$B_TOK"
expect_true "ws c: handshake" ws_listen c "$C_TOK"
for s in a b c; do
    expect_ws_line $s '.[0].k' open '.[0].headers | has("sec-websocket-extensions")' false
done
expect_ws_line a '.[0].headers.upgrade | ascii_downcase' websocket
ws_raw /api/ws --header "Authorization: Bearer $A_TOK" \
    --header 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-webkit-deflate-frame' \
    --frame '{"op":8,"hex":"03e8"}'
expect_wsr .status 101 \
    .accept_ok true \
    '.headers | has("sec-websocket-extensions")' false \
    '.headers.connection | ascii_downcase | test("upgrade")' true \
    .close_code 1000

# --- conversations made after the clients connected: they see them from the start
new_conv "$A_TOK" "X" "[$B_ID]"
X=$CONV_ID
CX=$(jqb '.conversation | del(.last_message, .last_read_message_id, .unread_count)')   # per-caller: not in events
new_conv "$C_TOK" "carol's" "[]"
CC=$CONV_ID
expect_true "ws b got conversation.created" wait_ws b "any(.[]; .type == \"conversation.created\" and .conversation.id == $X)"
expect_ws b '.[0].conversation == $c' true --argjson c "$CX"
expect_true "ws c got its conversation.created" wait_ws c "any(.[]; .type == \"conversation.created\" and .conversation.id == $CC)"

# --- an event is one text frame holding the event object
post_msg "$A_TOK" "$X" "hello ws"
M1=$MSG_ID PM1=$(jqb .message)
for s in a b; do
    expect_true "ws $s got message.created" wait_ws $s "any(.[]; .type == \"message.created\" and .message.id == $M1)"
    expect_ws $s "[.[] | select(.type == \"message.created\")][0].message == \$m" true \
        "[.[] | select(.type == \"message.created\")][0].id | type" number --argjson m "$PM1"
done
expect_ws_line b '[.[] | select(.k == "binary")] | length' 0
req PUT "/api/messages/$M1" '{"body":"hello again"}' "$A_TOK"
UM1=$(jqb .message)
req DELETE "/api/messages/$M1" "" "$A_TOK"
expect_true "ws b got message.deleted" wait_ws b 'any(.[]; .type == "message.deleted")'
expect_ws b '[.[] | select(.type | startswith("message.")) | .type]' '["message.created","message.updated","message.deleted"]' \
    '[.[] | select(.type == "message.updated")][0].message == $m' true \
    '[.[] | select(.type == "message.deleted")][0].message' "{\"id\":$M1,\"conversation_id\":$X}" \
    '[.[].id] | . == (sort | unique)' true --argjson m "$UM1"

# --- typing: to the other members, not back to the sender, not to a non-member
ws_send "$A_TOK" "{\"type\":\"typing\",\"conversation_id\":$X}"
expect_wsr .pong true '[.frames[] | select(.type == "typing")] | length' 0
expect_true "ws b got typing" wait_ws b 'any(.[]; .type == "typing")'
expect_ws b '[.[] | select(.type == "typing")]' "[{\"type\":\"typing\",\"conversation_id\":$X,\"user_id\":$A_ID}]"
post_msg "$C_TOK" "$CC" "sentinel for carol"
expect_true "ws c got its own message" wait_ws c "any(.[]; .message.id == $MSG_ID)"
expect_ws c 'any(.[]; .type == "typing")' false

# --- error frames: not a member, no such conversation, unknown type, not JSON, not an object;
# the connection stays usable (a typing after them is relayed, and ping gets pong). The typing
# goes to another conversation, Y: a second one in X this soon would be rate-limited.
req POST /api/conversations "{\"title\":\"Y\",\"member_ids\":[$B_ID]}" "$A_TOK"
Y=$(jqb .conversation.id)
expect_true "ws b got Y's conversation.created" wait_ws b "any(.[]; .type == \"conversation.created\" and .conversation.id == $Y)"
ws_send "$A_TOK" "{\"type\":\"typing\",\"conversation_id\":$CC}" '{"type":"typing","conversation_id":99999}' \
    '{"type":"dance"}' 'not json' '[1,2]' "{\"type\":\"typing\",\"conversation_id\":$Y}"
expect_wsr .open true \
    .pong true \
    .close null \
    '.frames | length' 5 \
    '[.frames[] | .type] | unique' '["error"]' \
    '[.frames[] | (.error.code | type == "string" and test("^[a-z][a-z0-9_]*$")) and (.error.message | type == "string" and length > 0)] | all' true \
    '[.frames[] | keys] | unique' '[["error","type"]]'
expect_true "ws b got the typing sent after the errors" wait_ws b '[.[] | select(.type == "typing")] | length == 2'
post_msg "$C_TOK" "$CC" "sentinel 2 for carol"
expect_true "ws c got its own message" wait_ws c "any(.[]; .message.id == $MSG_ID)"
expect_ws c 'any(.[]; .type == "typing")' false 'map(.conversation.id // .message.conversation_id) | unique' "[$CC]"

# --- typing is relayed at most once per 2 s per user per conversation; the extras are dropped
# silently (no error frame). Bounds, not exact counts: a stalled machine may spread a burst.
req POST /api/conversations "{\"title\":\"Z\",\"member_ids\":[$B_ID]}" "$A_TOK"
Z=$(jqb .conversation.id)
expect_true "ws b got Z's conversation.created" wait_ws b "any(.[]; .type == \"conversation.created\" and .conversation.id == $Z)"
burst=()
for i in $(seq 30); do burst+=("{\"type\":\"typing\",\"conversation_id\":$Z}"); done
t0=${EPOCHREALTIME/./}
ws_send "$A_TOK" "${burst[@]}"
ws_send "$A_TOK" "${burst[@]:0:5}"   # another connection of the same user
t1=${EPOCHREALTIME/./}
expect_wsr '.frames | length' 0
expect_true "ws b got a typing in Z" wait_ws b "[.[] | select(.type == \"typing\" and .conversation_id == $Z)] | length >= 1"
ws_send "$B_TOK" "{\"type\":\"typing\",\"conversation_id\":$Z}"   # another user: its own budget
expect_true "ws a got B's typing in Z" wait_ws a "any(.[]; .type == \"typing\" and .conversation_id == $Z and .user_id == $B_ID)"
post_msg "$A_TOK" "$Z" "after the burst"
expect_true "ws b got the message after the burst" wait_ws b "any(.[]; .message.id == $MSG_ID)"
n=$(ws_jq b -c "[.[] | select(.type == \"typing\" and .conversation_id == $Z)] | length")
most=$((1 + (t1 - t0) / 2000000))
expect_true "35 typings from A in Z within $(((t1 - t0) / 1000)) ms: relayed $n times (1..$most)" test "$n" -ge 1 -a "$n" -le "$most"
nap 2.1
ws_send "$A_TOK" "{\"type\":\"typing\",\"conversation_id\":$Z}"
expect_true "ws b got another typing in Z 2 s later" wait_ws b "[.[] | select(.type == \"typing\" and .conversation_id == $Z)] | length == $((n + 1))"

# --- ping/pong (library and raw, payload echoed), server heartbeat pings (--heartbeat 1)
ws_raw /api/ws --header "Authorization: Bearer $A_TOK" --frame '{"op":9,"data":"abc"}' --until-op 10
expect_wsr '[.frames[] | select(.op == 10) | .text]' '["abc"]'
ws_raw /api/ws --header "Authorization: Bearer $A_TOK" --until-op 9
expect_wsr '[.frames[] | select(.op == 9)] | length' 1

# --- close handshake: client 1000 -> server close 1000, then the TCP connection ends
ws_send "$A_TOK" --close
expect_wsr .pong true .close_rcvd 1000
ws_raw /api/ws --header "Authorization: Bearer $A_TOK" --frame '{"op":8,"hex":"03e8"}'
expect_wsr .close_code 1000 .eof true

# --- size limit: a message of exactly --ws-max-message bytes is fine, one byte more is 1009
pad=$(rep x $((MAXMSG - 30)))
m4096='{"type":"dance","pad":"'$pad'"}'
m4096=$m4096$(rep ' ' $((MAXMSG - ${#m4096})))
expect_eq "test message size" $MAXMSG "${#m4096}"
ws_send "$A_TOK" "$m4096"
expect_wsr .pong true '[.frames[].error.code | type] ' '["string"]'
ws_send "$A_TOK" "$m4096 "
expect_wsr .pong false .close.code 1009
# fragments adding up to more than the limit
half=$(rep y $((MAXMSG / 2 + 10)))
ws_raw /api/ws --header "Authorization: Bearer $A_TOK" \
    --frame "{\"op\":1,\"fin\":false,\"data\":\"$half\"}" --frame "{\"op\":0,\"data\":\"$half\"}"
expect_wsr .close_code 1009
# fragments within the limit are one message (here: not JSON -> an error frame)
ws_raw /api/ws --header "Authorization: Bearer $A_TOK" \
    --frame '{"op":1,"fin":false,"data":"{\"type\":"}' --frame '{"op":0,"data":"\"dance\"}"}' \
    --frame '{"op":8,"hex":"03e8"}'
expect_wsr '[.frames[] | select(.op == 1) | .text | fromjson | .error.code | type]' '["string"]' .close_code 1000

# --- invalid UTF-8 in a text frame -> 1007
ws_raw /api/ws --header "Authorization: Bearer $A_TOK" --frame '{"op":1,"hex":"7b2274797065223a22c328227d"}'
expect_wsr .close_code 1007
# split across fragments in the middle of a valid character: fine (é = c3 a9)
ws_raw /api/ws --header "Authorization: Bearer $A_TOK" \
    --frame '{"op":1,"fin":false,"hex":"22c3"}' --frame '{"op":0,"hex":"a922"}' --frame '{"op":8,"hex":"03e8"}'
expect_wsr .close_code 1000

# --- protocol violations -> 1002
ws_raw /api/ws --header "Authorization: Bearer $A_TOK" --frame '{"op":1,"data":"{}","mask":false}'
expect_wsr .status 101 .close_code 1002
ws_raw /api/ws --header "Authorization: Bearer $A_TOK" --frame '{"op":1,"data":"{}","rsv":4}'
expect_wsr .close_code 1002
ws_raw /api/ws --header "Authorization: Bearer $A_TOK" --frame '{"op":3,"data":""}'
expect_wsr .close_code 1002
ws_raw /api/ws --header "Authorization: Bearer $A_TOK" --frame '{"op":0,"data":"x"}'
expect_wsr .close_code 1002
ws_raw /api/ws --header "Authorization: Bearer $A_TOK" --frame '{"op":9,"fin":false,"data":""}'
expect_wsr .close_code 1002

# --- replay with ?last_event_id=: exactly the later events in order, then live
MID=$(ws_jq a '[.[] | select(.id != null) | .id][0]')
expect_true "ws a2 (?last_event_id=$MID): handshake" ws_listen a2 "$A_TOK" "&last_event_id=$MID"
expect_true "ws a0 (?last_event_id=0): handshake" ws_listen a0 "$A_TOK" "&last_event_id=0"
post_msg "$A_TOK" "$X" "live after replay"
ML=$MSG_ID
for s in a a2 a0; do
    expect_true "ws $s got the live message" wait_ws $s "any(.[]; .message.id == $ML)"
done
# (a replay shows each message as it is now: asnow, tests/lib.sh; what a has now, in one jq)
{ read -r A_IDS_AFTER; read -r A_AFTER; read -r A_IDS_ALL; } < <(ws_jq a -c --argjson m "$MID" "$JQ_ASNOW"' asnow
    | [.[] | select(.id != null and .id > $m) | .id], [.[] | select(.id != null and .id > $m)], [.[] | select(.id != null) | .id]')
expect_ws a2 '[.[] | select(.id != null) | .id]' "$A_IDS_AFTER" \
    '[.[] | select(.id != null)] == $all' true --argjson all "$A_AFTER"
expect_ws a0 '[.[] | select(.id != null) | .id]' "$A_IDS_ALL" \
    '.[0].type' conversation.created \
    'map(select(.type == "typing")) | length' 0

# --- logout, password change, deletion close the WebSocket with 1008
req POST /api/users/login "{\"username\":\"alice\",\"password\":\"$PASSWORD\"}"
A2_TOK=$(jqb .token)
expect_true "ws lo: handshake" ws_listen lo "$A2_TOK"
req POST /api/users/logout "" "$A2_TOK"
expect_status 204
expect_true "logout: ws closed" wait_ws_closed lo 10
expect_ws_line lo '[.[] | select(.k == "close") | .code]' '[1008]'
post_msg "$A_TOK" "$X" "a's other stream lives on"
expect_true "ws a (other token) still delivers" wait_ws a "any(.[]; .message.id == $MSG_ID)"

new_user E erin
req POST /api/users/login "{\"username\":\"erin\",\"password\":\"$PASSWORD\"}"
E2_TOK=$(jqb .token)
expect_true "ws e1: handshake" ws_listen e1 "$E_TOK"
expect_true "ws e2: handshake" ws_listen e2 "$E2_TOK"
req PUT "/api/users/$E_ID" "{\"password\":\"another-password\",\"current_password\":\"$PASSWORD\"}" "$E2_TOK"
expect_status 200
expect_true "password change: other token's ws closed" wait_ws_closed e1 10
expect_ws_line e1 '[.[] | select(.k == "close") | .code]' '[1008]'
req DELETE "/api/users/$E_ID" '{"password":"another-password"}' "$E2_TOK"
expect_status 204
expect_true "user deleted: ws closed" wait_ws_closed e2 10
expect_ws_line e2 '[.[] | select(.k == "close") | .code]' '[1008]'
expect_ws_line e1 '[.[] | select(.k == "close")] | length' 1

stop_clients
stop_server
