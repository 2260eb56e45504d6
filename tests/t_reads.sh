#!/usr/bin/env bash
# t_reads.sh — read state (contract: Conversations "Read state", Objects, Real time
# conversation.read): POST /api/conversations/:id/read moves the caller's marker forward only
# (a live message of the conversation, else 400; at or below: 200 and nothing stored or sent);
# a post moves its author's marker without an event; last_read_message_id and unread_count in
# the caller's conversation objects (REST only, never inside events); GET .../reads in
# member_ids order; a marker stays on a deleted message; updated_at does not move; a member
# added (again) starts with none; the conversation.read event to every member, replayed after
# a reconnect (SSE and WebSocket); markers survive a restart and an offline --compact, which
# keeps one REC_READ per (conversation, member) and none of members who left or of deleted
# conversations; the v1 fixture loads with no markers.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/stream_lib.sh"   # wsc (one ws_client.py for the file), SSE_JQ, look_again; PY

# reads_in_log DIR: "conv:user:message" of every REC_READ (type 13) record in DIR's log
reads_in_log() {
    "$PY" - "$1/chatd.log" <<'EOF'
import struct, sys
d = open(sys.argv[1], 'rb').read(); off = 8
while off + 17 <= len(d):
    n, = struct.unpack_from('<I', d, off)
    if d[off + 16] & 0x7f == 13: print("%d:%d:%d" % struct.unpack_from('<III', d, off + 17))
    off += 8 + n
EOF
}
records() { metric chatd_store_records; }
conv_get() { req GET "/api/conversations/$2" "" "$1"; }   # TOKEN ID
expect_mine() {   # DESCRIPTION EXPECTED TOKEN ID: [last_read_message_id, unread_count] of GET
    conv_get "$3" "$4"
    expect_jq_of "$BODY" '.conversation | [.last_read_message_id, .unread_count]' "$2" "$1"   # (batched)
}
sse_open() {   # NAME TOKEN [QUERY]: a background SSE client into $TMP_ROOT/sse.NAME
    : >"$TMP_ROOT/sse.$1.h"
    timeout 200 curl -sN --max-time 190 -D "$TMP_ROOT/sse.$1.h" -H "Authorization: Bearer $2" \
        "$BASE/api/events${3-}" >"$TMP_ROOT/sse.$1" 2>/dev/null &
    EXTRA_PIDS="${EXTRA_PIDS:-} $!"
    poll 10 has "sse.$1.h" $'\n\r\n'   # (the blank line after the head)
}
has() {   # FILE TEXT: $TMP_ROOT/FILE holds TEXT (read by bash: no process per poll)
    local o=
    { o=$(<"$TMP_ROOT/$1"); } 2>/dev/null
    [[ $o$'\n' == *"$2"* ]]
}
# NAME [JQ_ARGS... FILTER]: the event objects (the data of each complete event; SSE_JQ), or
# FILTER over them, by one jq
SSE_DATA="$SSE_JQ [sse_events[].data]"
sse_events() {
    local n=$1
    shift
    (($#)) || set -- .
    jq -R -s -c "${@:1:$#-1}" "$SSE_DATA | (${*: -1})" "$TMP_ROOT/sse.$n"
}
sse_ids() { jq -R -s -c "$SSE_JQ [sse_events[].sid | select(. != null) | tonumber]" "$TMP_ROOT/sse.$1"; }
ws_open() {   # NAME TOKEN [QUERY]: a listener in the wsc process
    : >"$TMP_ROOT/ws.$1"
    wsc listen "ws://127.0.0.1:$PORT/api/ws?token=$2${3-}" "$TMP_ROOT/ws.$1" --max-time 190
    poll 15 has "ws.$1" '"k": "open"'
}
WS_DATA='[.[] | select(.k == "text") | .data]'
ws_events() {
    local n=$1
    shift
    (($#)) || set -- .
    jq -s -c "${@:1:$#-1}" "$WS_DATA | (${*: -1})" "$TMP_ROOT/ws.$n"
}
# KIND NAME USER MSG: the stream got conversation.read of USER at MSG (a poll's check: its jq
# runs again only when the stream's file changed; new_wait before the poll)
has_read_event() {
    look_again "$TMP_ROOT/$1.$2" || return 1   # (sse.NAME, ws.NAME)
    [ "$("${1}_events" "$2" --argjson u "$3" --argjson m "$4" \
        'any(.[]; .type == "conversation.read" and .user_id == $u and .last_read_message_id == $m)')" == true ]
}
wait_read() { new_wait; poll 10 has_read_event "$@"; }   # KIND NAME USER MSG
# wait_ev KIND NAME JQ_FILTER WANT: poll (10 s) until the filter over the stream's events gives
# WANT (compact); its jq runs again only when the stream's file changed
wait_ev() { new_wait; poll 10 _ev_is "$@"; }
_ev_is() { look_again "$TMP_ROOT/$1.$2" && [ "$("${1}_events" "$2" "$3")" == "$4" ]; }

start_server
for u in A:ann B:bob C:cat D:dan E:eve; do new_user "${u%%:*}" "${u#*:}"; done

# --- no marker before anything; the fields are in every REST conversation object
req POST /api/conversations "{\"title\":\"t\",\"member_ids\":[$B_ID,$C_ID]}" "$A_TOK"
expect_status 201
expect_jq '.conversation | [.last_read_message_id, .unread_count]' '[null,0]'
T=$(jqb .conversation.id)
expect_true "streams: headers" sse_open b "$B_TOK"
expect_true "streams: headers" sse_open c "$C_TOK"
expect_true "streams: headers" sse_open d "$D_TOK"
expect_true "streams: headers" ws_open c "$C_TOK"

# --- a post moves its author's marker, without an event
post_msg "$B_TOK" "$T" one; M1=$MSG_ID
post_msg "$B_TOK" "$T" two; M2=$MSG_ID
post_msg "$B_TOK" "$T" three; M3=$MSG_ID
expect_mine "the author's marker is its last post" "[$M3,0]" "$B_TOK" "$T"
expect_mine "another member has none: all unread" "[null,3]" "$A_TOK" "$T"
conv_get "$A_TOK" "$T"
UPD=$(jqb .conversation.updated_at)
R0=$(records)

# --- POST .../read moves it forward: 200 {"conversation"} as the caller sees it
req POST "/api/conversations/$T/read" "{\"message_id\":$M2}" "$A_TOK"
expect_status 200
expect_jq '.conversation | [.id, .last_read_message_id, .unread_count]' "[$T,$M2,1]"
expect_jq '.conversation.updated_at' "$UPD"
R1=$(records)
expect_eq "one record for the move" 1 $((R1 - R0))
req GET /api/conversations "" "$A_TOK"
expect_jq "[.conversations[] | select(.id == $T) | .last_read_message_id, .unread_count, .updated_at]" "[$M2,1,\"$UPD\"]"
# at or below the marker: 200, unchanged, nothing stored
for m in "$M2" "$M1"; do
    req POST "/api/conversations/$T/read" "{\"message_id\":$m}" "$A_TOK"
    expect_status 200
    expect_jq '.conversation | [.last_read_message_id, .unread_count]' "[$M2,1]"
done
expect_eq "no record for a move that is none" "$R1" "$(records)"
expect_true "members get conversation.read (SSE)" wait_read sse b "$A_ID" "$M2"
expect_true "members get conversation.read (WebSocket)" wait_read ws c "$A_ID" "$M2"
EVS=$(sse_events b)
# (checks on a JSON value by lib.sh's expect_jq_of: batched, no jq each)
expect_jq_of "$EVS" '[.[] | select(.type == "conversation.read")][0] | [keys, .conversation_id]' \
    "[[\"conversation_id\",\"id\",\"last_read_message_id\",\"type\",\"user_id\"],$T]" \
    "conversation.read: exactly the contract's fields"
expect_jq_of "$EVS" '[.[] | select(.type == "conversation.read")] | length' 1 \
    "one conversation.read: none for the moves that were not, none for posts"
READ_ID=$(jq '[.[] | select(.type == "conversation.read")][0].id' <<<"$EVS")
expect_jq_of "$(sse_ids b)" "index($READ_ID) != null" true "its id is an SSE id"
expect_eq "a non-member gets nothing of it" '[]' "$(sse_events d)"

# --- errors
req POST /api/conversations "{\"title\":\"o\",\"member_ids\":[$D_ID]}" "$A_TOK"
O=$(jqb .conversation.id)
post_msg "$A_TOK" "$O" other; MO=$MSG_ID
R1=$(records)
for bad in '{}' '{"message_id":"2"}' '{"message_id":1.5}' '{"message_id":0}' '{"message_id":-1}' \
           '{"message_id":null}' '{"message_id":99999}' '{"message_id":[1]}'; do
    req POST "/api/conversations/$T/read" "$bad" "$A_TOK"
    expect_error 400 validation_failed
done
req POST "/api/conversations/$T/read" "{\"message_id\":$MO}" "$A_TOK"   # another conversation's
expect_error 400 validation_failed
req POST "/api/conversations/$T/read" '[1]' "$A_TOK"
expect_error 400 validation_failed
req POST "/api/conversations/$T/read" '{"message_id":' "$A_TOK"
expect_error 400 invalid_json
req POST "/api/conversations/$T/read" "{\"message_id\":$M3}" ""
expect_error 401 ""
req POST "/api/conversations/$T/read" "{\"message_id\":$M3}" "$D_TOK"   # not a member
expect_error 404 not_found
req GET "/api/conversations/$T/reads" "" "$D_TOK"
expect_error 404 not_found
req POST "/api/conversations/99999/read" "{\"message_id\":$M3}" "$A_TOK"
expect_error 404 not_found
req POST "/api/conversations/x1/read" "{\"message_id\":$M3}" "$A_TOK"
expect_error 404 not_found
req GET "/api/conversations/$T/read" "" "$A_TOK"
expect_error 405 method_not_allowed
expect_header Allow '^POST, OPTIONS$'
req POST "/api/conversations/$T/reads" "{}" "$A_TOK"
expect_error 405 method_not_allowed
expect_header Allow '^GET, HEAD, OPTIONS$'
req GET "/api/conversations/$T/read/x" "" "$A_TOK"
expect_status 404
expect_eq "errors stored nothing" "$R1" "$(records)"

# --- read receipts: one entry per member in member_ids order, null without a marker
req GET "/api/conversations/$T/reads" "" "$C_TOK"
expect_status 200
expect_jq . "{\"reads\":[{\"user_id\":$A_ID,\"last_read_message_id\":$M2},{\"user_id\":$B_ID,\"last_read_message_id\":$M3},{\"user_id\":$C_ID,\"last_read_message_id\":null}]}"

# --- unread counts with deletions; a marker stays on a deleted message
post_msg "$B_TOK" "$T" four; M4=$MSG_ID
post_msg "$B_TOK" "$T" five; M5=$MSG_ID
post_msg "$B_TOK" "$T" six; M6=$MSG_ID
expect_mine "unread: live messages above the marker" "[$M2,4]" "$A_TOK" "$T"
req DELETE "/api/messages/$M4" "" "$B_TOK"
expect_mine "a deleted one above the marker no longer counts" "[$M2,3]" "$A_TOK" "$T"
req DELETE "/api/messages/$M1" "" "$B_TOK"
expect_mine "nor does one below it" "[$M2,3]" "$A_TOK" "$T"
expect_mine "no marker: every live message" "[null,4]" "$C_TOK" "$T"
req POST "/api/conversations/$T/read" "{\"message_id\":$M5}" "$A_TOK"
expect_jq '.conversation | [.last_read_message_id, .unread_count]' "[$M5,1]"
req DELETE "/api/messages/$M5" "" "$B_TOK"
expect_mine "the marker stays on its deleted message" "[$M5,1]" "$A_TOK" "$T"
req POST "/api/conversations/$T/read" "{\"message_id\":$M5}" "$A_TOK"
expect_error 400 validation_failed
req DELETE "/api/messages/$M6" "" "$B_TOK"   # the author's own marker's message
expect_mine "the author's marker stays on its deleted post" "[$M6,0]" "$B_TOK" "$T"
expect_mine "... and the others' count drops" "[$M5,0]" "$A_TOK" "$T"
req GET "/api/conversations/$T/reads" "" "$A_TOK"
expect_jq '[.reads[].last_read_message_id]' "[$M5,$M6,null]"

# --- nothing per-caller inside events: conversation objects there have none of the three
req PUT "/api/conversations/$T" '{"title":"renamed"}' "$C_TOK"
expect_jq '.conversation | [.last_read_message_id, .unread_count]' "[null,2]"
expect_true "conversation.updated reached b" wait_ev sse b 'any(.[]; .type == "conversation.updated")' true
expect_true "conversation.updated reached c (WebSocket)" wait_ev ws c 'any(.[]; .type == "conversation.updated")' true
for k in sse:b ws:c; do
    EVK=$("${k%%:*}_events" "${k#*:}")
    expect_jq_of "$EVK" '[([.[] | .conversation? // empty | select(has("last_read_message_id") or
            has("unread_count") or has("last_message"))] | length), ([.[] | .conversation? // empty] | length >= 1)]' '[0,true]' \
        "$k: conversation objects in events lack last_read_message_id, unread_count, last_message"
    expect_jq_of "$EVK" '[.. | objects | select(has("unread_count") or has("last_message"))] | length' 0 \
        "$k: no unread_count or last_message anywhere in events"
done

# --- members who leave lose their marker; added again they start with none
post_msg "$B_TOK" "$T" seven; M7=$MSG_ID
req POST "/api/conversations/$T/read" "{\"message_id\":$M7}" "$C_TOK"
expect_jq '.conversation | [.last_read_message_id, .unread_count]' "[$M7,0]"
req PUT "/api/conversations/$T" "{\"member_ids\":[$A_ID,$B_ID]}" "$C_TOK"   # cat leaves
expect_status 200
req PUT "/api/conversations/$T" "{\"member_ids\":[$A_ID,$B_ID,$C_ID,$E_ID]}" "$A_TOK"   # back, with eve
expect_jq '.conversation | [.last_read_message_id, .unread_count]' "[$M5,1]"
expect_mine "added again: no marker" "[null,3]" "$C_TOK" "$T"
expect_mine "added: no marker" "[null,3]" "$E_TOK" "$T"
req GET "/api/conversations/$T/reads" "" "$E_TOK"
expect_jq '[.reads[] | [.user_id, .last_read_message_id]]' "[[$A_ID,$M5],[$B_ID,$M7],[$C_ID,null],[$E_ID,null]]"

# --- replay of conversation.read after a reconnect, SSE and WebSocket, with its id
req POST "/api/conversations/$T/read" "{\"message_id\":$M7}" "$E_TOK"
expect_true "e's read reached b live" wait_read sse b "$E_ID" "$M7"
{ read -r LIVE; read -r LIVE1; } < <(sse_events b "[.[] | select(.type == \"conversation.read\" and .id >= $READ_ID)] | ., .[1:]")
expect_jq_of "$LIVE" '[.[].user_id]' "[$A_ID,$A_ID,$C_ID,$E_ID]" "b saw four conversation.read live: a's two, c's, e's"
READS='[.[] | select(.type == "conversation.read" and .id > 0)]'
expect_true "replay (SSE, Last-Event-ID = a's read): headers" sse_open b2 "$B_TOK" "?last_event_id=$READ_ID"
expect_true "the SSE replay has the later conversation.read events as they were sent" wait_ev sse b2 "$READS" "$LIVE1"
expect_true "replay (WS, from before a's read): open" ws_open c2 "$C_TOK" "&last_event_id=$((READ_ID - 1))"
expect_true "the WebSocket replay has all four, with their ids, in order" wait_ev ws c2 "$READS" "$LIVE"
stop_clients

# --- account deletion: the user's markers go with their membership
req POST /api/conversations "{\"title\":\"g\",\"member_ids\":[$D_ID,$E_ID]}" "$A_TOK"
G=$(jqb .conversation.id)
post_msg "$A_TOK" "$G" g1; MG=$MSG_ID
req POST "/api/conversations/$G/read" "{\"message_id\":$MG}" "$D_TOK"
req POST "/api/conversations/$G/read" "{\"message_id\":$MG}" "$E_TOK"
post_msg "$A_TOK" "$G" g2; MG2=$MSG_ID   # a's marker, set by its post, stays on it once deleted
req DELETE "/api/messages/$MG2" "" "$A_TOK"
req DELETE "/api/users/$D_ID" '{"password":"password123"}' "$D_TOK"
expect_status 204
req GET "/api/conversations/$G/reads" "" "$A_TOK"
expect_jq '[.reads[] | [.user_id, .last_read_message_id]]' "[[$A_ID,$MG2],[$E_ID,$MG]]"
# a deleted conversation's markers go with it
req POST /api/conversations "{\"title\":\"z\",\"member_ids\":[$B_ID]}" "$A_TOK"
Z=$(jqb .conversation.id)
post_msg "$A_TOK" "$Z" z1; MZ=$MSG_ID
req POST "/api/conversations/$Z/read" "{\"message_id\":$MZ}" "$B_TOK"
req DELETE "/api/conversations/$Z" "" "$A_TOK"
expect_status 204

# --- members whose joining record a compaction drops keep the markers they had: c and e are
# added by an update, c reads and e posts; a later rename is the conversation's only update kept.
# b posts, leaves and is added back: none, though b's post (kept) set one before
req POST /api/conversations "{\"title\":\"j\",\"member_ids\":[$B_ID]}" "$A_TOK"
J=$(jqb .conversation.id)
req PUT "/api/conversations/$J" "{\"member_ids\":[$A_ID,$B_ID,$C_ID,$E_ID]}" "$A_TOK"
post_msg "$A_TOK" "$J" j1; MJ1=$MSG_ID
req POST "/api/conversations/$J/read" "{\"message_id\":$MJ1}" "$C_TOK"
post_msg "$B_TOK" "$J" j2; MJ2=$MSG_ID
post_msg "$E_TOK" "$J" j3; MJ3=$MSG_ID
req PUT "/api/conversations/$J" '{"title":"j2"}' "$B_TOK"
req PUT "/api/conversations/$J" "{\"member_ids\":[$A_ID,$C_ID,$E_ID]}" "$B_TOK"
req PUT "/api/conversations/$J" "{\"member_ids\":[$A_ID,$C_ID,$E_ID,$B_ID]}" "$A_TOK"
req PUT "/api/conversations/$J" '{"title":"j3"}' "$C_TOK"

check_all() {   # WHEN
    expect_mine "$1: a" "[$M5,1]" "$A_TOK" "$T"
    expect_mine "$1: b" "[$M7,0]" "$B_TOK" "$T"
    expect_mine "$1: c" "[null,3]" "$C_TOK" "$T"
    expect_mine "$1: e" "[$M7,0]" "$E_TOK" "$T"
    req GET "/api/conversations/$T/reads" "" "$A_TOK"
    expect_jq '[.reads[] | [.user_id, .last_read_message_id]]' "[[$A_ID,$M5],[$B_ID,$M7],[$C_ID,null],[$E_ID,$M7]]"
    req GET "/api/conversations/$G/reads" "" "$A_TOK"
    expect_jq '[.reads[] | [.user_id, .last_read_message_id]]' "[[$A_ID,$MG2],[$E_ID,$MG]]"
    expect_mine "$1: a in g (its deleted post)" "[$MG2,0]" "$A_TOK" "$G"
    req GET "/api/conversations/$J/reads" "" "$A_TOK"
    expect_jq '[.reads[] | [.user_id, .last_read_message_id]]' "[[$A_ID,$MJ1],[$C_ID,$MJ1],[$E_ID,$MJ3],[$B_ID,null]]"
    expect_mine "$1: c in j" "[$MJ1,2]" "$C_TOK" "$J"
    expect_mine "$1: e in j" "[$MJ3,0]" "$E_TOK" "$J"
    expect_mine "$1: b in j (left, back)" "[null,3]" "$B_TOK" "$J"
}
check_all "live"
restart_server
check_all "after a restart"
stop_server
DD=$SERVER_DATA_DIR
BEFORE=$(reads_in_log "$DD" | wc -l)
LAST_REQ="chatd --compact $DD"
out=$("$CHATD" --compact "$DD" 2>&1); rc=$?   # before the message's $(...) resets $?
expect_eq "chatd --compact exit status (output: $(head -c 200 <<<"$out"))" 0 "$rc"
AFTER=$(reads_in_log "$DD")
# kept: the markers set by a read, pinned on a deleted post, or cleared for one added again;
# one set by a live post needs none (its message's record sets it)
expect_eq "after --compact: at most one REC_READ per (conversation, member), the marker's own" \
    "$(printf '%s\n' "$T:$A_ID:$M5" "$T:$C_ID:0" "$T:$E_ID:$M7" "$G:$A_ID:$MG2" "$G:$E_ID:$MG" \
        "$J:$C_ID:$MJ1" "$J:$B_ID:0" | sort)" "$(sort <<<"$AFTER")"
expect_true "the compaction dropped REC_READs ($BEFORE -> $(wc -l <<<"$AFTER"))" test "$BEFORE" -gt "$(wc -l <<<"$AFTER")"
DATA_DIR=$DD start_server
check_all "after --compact"
# and they move on from there, and compact again to the same
req POST "/api/conversations/$J/read" "{\"message_id\":$MJ2}" "$B_TOK"
expect_jq '.conversation | [.last_read_message_id, .unread_count]' "[$MJ2,1]"
stop_server
"$CHATD" --compact "$DD" >/dev/null 2>&1
DATA_DIR=$DD start_server
expect_mine "a second compaction" "[$MJ2,1]" "$B_TOK" "$J"
expect_mine "a second compaction: c" "[$MJ1,2]" "$C_TOK" "$J"
expect_mine "a second compaction: a in g" "[$MG2,0]" "$A_TOK" "$G"
stop_server

# --- a v1 log (before read state): its posts set their authors' markers (alice wrote every
# message), nobody else has one
if start_v1_fixture; then
    V1=$V1_TOKEN
    req GET /api/conversations "" "$V1"
    expect_status 200
    expect_jq '[.conversations[] | [.title, .last_message_id, .last_read_message_id, .unread_count]]' \
        '[["side2",6,6,0],["team",5,5,0]]'
    TEAM=$(jqb '.conversations[] | select(.title == "team") | .id')
    req POST /api/users/login '{"username":"bob","password":"password123"}'
    BOB=$(jqb .token)
    expect_mine "v1 log: bob has no marker" "[null,4]" "$BOB" "$TEAM"
    req POST "/api/conversations/$TEAM/read" '{"message_id":3}' "$BOB"
    expect_jq '.conversation | [.last_read_message_id, .unread_count]' '[3,1]'
    req GET "/api/conversations/$TEAM/reads" "" "$BOB"
    expect_jq '[.reads[].last_read_message_id]' '[5,3,null]'
    restart_server
    expect_mine "v1 log: a marker set after the upgrade survives a restart" "[3,1]" "$BOB" "$TEAM"
    stop_server
fi
