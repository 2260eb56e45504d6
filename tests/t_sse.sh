#!/usr/bin/env bash
# t_sse.sh — GET /api/events (Server-Sent Events): auth, content type, who gets which event
# with which payload and in what order, replay (Last-Event-ID / ?last_event_id=) with no gap
# and no duplicate, members added and removed, heartbeat comments, typing relayed from a
# WebSocket client, and streams closed by logout, password change and account deletion.
# Streams are `curl -N` processes writing to files; checks poll those files with bounded
# waits and never assert on timing. "Nothing arrived" is proven with a later event to the
# same stream (events arrive in id order, so anything earlier would already be there).
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/stream_lib.sh"   # SSE_JQ, jq_each, look_again; PY, WSC

# ---------------------------------------------------------------------------------------------
# SSE helpers (this file's own)


# sse_open NAME TOKEN [QUERY] [curl args...]: start a stream into $TMP_ROOT/sse.NAME.{out,h};
# TOKEN goes in an Authorization header ("" for none); QUERY is appended to the URL as is.
# Waits (bounded) for the response headers; 1 if they did not come.
sse_open() {
    local name=$1 tok=$2 q=${3-}
    shift 2
    [ $# -gt 0 ] && shift
    local args=(-sN --max-time 280 -D "$TMP_ROOT/sse.$name.h" -H 'Accept: text/event-stream')
    [ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
    : >"$TMP_ROOT/sse.$name.out"
    : >"$TMP_ROOT/sse.$name.h"
    timeout 290 curl "${args[@]}" "$@" "$BASE/api/events$q" >"$TMP_ROOT/sse.$name.out" 2>/dev/null &
    local pid=$!
    printf -v "SSE_PID_$name" '%s' "$pid"
    EXTRA_PIDS="${EXTRA_PIDS:-} $pid"
    poll 10 _sse_head_or_gone "$name" "$pid"
    _sse_head "$name"
}
_sse_head() {   # NAME: its header block is complete (a line that is only a CR; read by bash)
    local h=
    { h=$(<"$TMP_ROOT/sse.$1.h"); } 2>/dev/null
    [[ $'\n'$h$'\n' == *$'\n\r\n'* ]]
}
_sse_head_or_gone() { _sse_head "$1" || ! proc_alive "$2"; }


sse_pid() { local v="SSE_PID_$1"; echo "${!v}"; }

# sse_events NAME: the complete events so far as a JSON array of
# {"sid": "<id line>"|null, "ev": "<event line>", "data": <data parsed as JSON>} (SSE_JQ)
sse_events() { jq -R -s -c "$SSE_JQ sse_events" "$TMP_ROOT/sse.$1.out" 2>/dev/null || echo '"unparsable stream"'; }
# sse_jq NAME JQ_ARGS... FILTER: FILTER over sse_events NAME in one jq process; when that jq
# fails, the two-step way, for the same output and message
sse_jq() {
    local n=$1 out a=("${@:2:$#-2}") f=${*: -1}
    if out=$(jq -R -s "${a[@]}" "$SSE_JQ sse_events | ($f)" "$TMP_ROOT/sse.$n.out" 2>/dev/null); then
        printf '%s\n' "$out"
    else sse_events "$n" | jq "${a[@]}" "$f"; fi
}

# wait_sse NAME JQ_FILTER [SECONDS]: poll until the filter over sse_events is true (its jq runs
# again only when the stream's file changed)
wait_sse() { new_wait; poll "${3:-15}" _sse_true "$1" "$2"; }
_sse_true() { look_again "$TMP_ROOT/sse.$1.out" && [ "$(sse_jq "$1" -r "$2" 2>/dev/null)" == true ]; }

# expect_sse NAME JQ_FILTER EXPECTED [JQ_FILTER EXPECTED]... [--arg/--argjson for jq...]:
# checks over the events of NAME, all in one jq (the jq args for all of them)
expect_sse() {
    local name=$1 f=() want=() i
    shift
    while (($# >= 2)) && [[ $1 != --arg* ]]; do f+=("$1") want+=("$2"); shift 2; done
    local JQ_EACH_IN=$TMP_ROOT/sse.$name.out JQ_EACH_OPTS=(-R -s "$@")
    jq_each "$SSE_JQ sse_events" "${f[@]}"
    for i in "${!f[@]}"; do
        if [ "${JQ_GOT[i]}" == "${want[i]}" ]; then ok
        else LAST_REQ="stream $name: jq '${f[i]}'" STATUS= fail "events of stream $name (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]})" "${want[i]}" "${JQ_GOT[i]}"; fi
    done
}

# the stream's events are well formed: data.id == id line, event line == data.type, ids increase
# (a filter for expect_sse)
WELL_FORMED='[.[] | select(.sid != null)] | (all(.[]; (.sid|tonumber) == .data.id)) and
        (all(.[]; .ev == .data.type)) and ([.[].data.id] | . == (sort | unique))'

wait_exit() { poll "$2" _gone "$1"; }   # PID SECONDS -> 0 when it exited in time
_gone() { ! proc_alive "$1"; }

TYPES_X='["conversation.created","message.created","message.created","message.updated","message.deleted","conversation.updated","conversation.created","conversation.deleted"]'

# ---------------------------------------------------------------------------------------------
start_server --heartbeat 1

# --- authentication
req GET /api/events
expect_error 401 ""
req GET "/api/events?token=not-a-token"
expect_error 401 ""
req GET /api/events "" not-a-token
expect_error 401 ""

new_user A alice
new_user B bob
new_user C carol
new_user D dave

# --- connect: headers at once, before any event exists for the user
expect_true "stream a: headers sent at once on connect" sse_open a "$A_TOK"
expect_true "stream b (?token=): headers" sse_open b "" "?token=$B_TOK"
expect_true "stream c: headers" sse_open c "$C_TOK"
expect_true "stream d: headers" sse_open d "$D_TOK"
HEADERS=$(<"$TMP_ROOT/sse.a.h") LAST_REQ="GET /api/events (stream a)" STATUS=
HEADERS=${HEADERS//$'\r'/}
expect_match "SSE status line" '^HTTP/1\.1 200' "${HEADERS%%$'\n'*}"
expect_header Content-Type '^text/event-stream'
expect_no_header Content-Length

# --- a conversation's life, as seen by members (a: creator, b) and a non-member (c)
new_conv "$A_TOK" "X" "[$B_ID]"
X=$CONV_ID
CX=$(jqb '.conversation | del(.last_message, .last_read_message_id, .unread_count)')   # per-caller: not in events
post_msg "$A_TOK" "$X" "first"
M1=$MSG_ID PM1=$(jqb .message)
post_msg "$A_TOK" "$X" "second"
M2=$MSG_ID PM2=$(jqb .message)
tick
req PUT "/api/messages/$M1" '{"body":"first, edited"}' "$A_TOK"
expect_status 200
UM1=$(jqb .message)
req DELETE "/api/messages/$M2" "" "$A_TOK"
expect_status 204
tick
req PUT "/api/conversations/$X" '{"title":"X renamed"}' "$A_TOK"
expect_status 200
UCX=$(jqb '.conversation | del(.last_message, .last_read_message_id, .unread_count)')   # per-caller: not in events
new_conv "$A_TOK" "Y" "[$B_ID]"
Y=$CONV_ID
CY=$(jqb '.conversation | del(.last_message, .last_read_message_id, .unread_count)')   # per-caller: not in events
req DELETE "/api/conversations/$Y" "" "$A_TOK"
expect_status 204
# carol's own conversation, after all that: her stream must show it and nothing else
new_conv "$C_TOK" "carol's" "[]"
CC=$CONV_ID
post_msg "$C_TOK" "$CC" "carol here"
CM=$MSG_ID

done_y="any(.[]; .ev == \"conversation.deleted\" and .data.conversation.id == $Y)"
expect_true "stream b got conversation.deleted" wait_sse b "$done_y"
expect_true "stream a got conversation.deleted" wait_sse a "$done_y"
expect_true "stream c got its own message" wait_sse c "any(.[]; .data.message.id == $CM)"

for s in a b; do   # (TYPES_X is compact JSON already)
    expect_sse $s '[.[].ev]' "$TYPES_X" \
        '[.[].data.type]' "$TYPES_X" \
        "$WELL_FORMED" true \
        '.[0].data.conversation == $cx' true \
        '.[0].data.conversation | [.title, .member_ids, .created_by, .last_message_id]' "[\"X\",[$A_ID,$B_ID],$A_ID,null]" \
        '.[1].data.message == $m1' true \
        '.[1].data.message | [.id, .conversation_id, .author_id, .body, .edited]' "[$M1,$X,$A_ID,\"first\",false]" \
        '.[2].data.message == $m2' true \
        '.[3].data.message == $um1' true \
        '.[3].data.message | [.id, .body, .edited]' "[$M1,\"first, edited\",true]" \
        '.[4].data.message' "{\"id\":$M2,\"conversation_id\":$X}" \
        '.[5].data.conversation == $ucx' true \
        '.[5].data.conversation.title' "X renamed" \
        '.[6].data.conversation == $cy' true \
        '.[7].data.conversation' "{\"id\":$Y}" \
        --argjson cx "$CX" --argjson m1 "$PM1" --argjson m2 "$PM2" --argjson um1 "$UM1" \
        --argjson ucx "$UCX" --argjson cy "$CY"
done
expect_sse c '[.[].ev]' '["conversation.created","message.created"]' \
    '[.[] | .data.conversation.id // .data.message.conversation_id] | unique' "[$CC]" \
    "$WELL_FORMED" true
expect_sse d 'length' 0

# --- replay from an id in the middle: exactly the later events, then live with no gap
MID=$(sse_jq b '[.[].sid | tonumber][3]')
expect_true "stream b2 (Last-Event-ID: $MID): headers" sse_open b2 "$B_TOK" "" -H "Last-Event-ID: $MID"
expect_true "stream b3 (?last_event_id=$MID): headers" sse_open b3 "" "?token=$B_TOK&last_event_id=$MID"
expect_true "stream b0 (Last-Event-ID: 0): headers" sse_open b0 "$B_TOK" "" -H "Last-Event-ID: 0"
expect_true "stream c0 (?last_event_id=0): headers" sse_open c0 "$C_TOK" "?last_event_id=0"
LIVE=()
for i in 1 2 3; do
    post_msg "$A_TOK" "$X" "live $i"
    LIVE+=("$MSG_ID")
done
M5=${LIVE[2]}
for s in b b2 b3 b0; do
    expect_true "stream $s got the last live message" wait_sse $s "any(.[]; .data.message.id == $M5)"
done
# a replay opened after the live messages too
expect_true "stream b4 (Last-Event-ID: $MID, later): headers" sse_open b4 "$B_TOK" "" -H "Last-Event-ID: $MID"
expect_true "stream b4 got the last live message" wait_sse b4 "any(.[]; .data.message.id == $M5)"
# every event is the same one (id, type, payload) the always-connected stream b got; a
# replayed conversation event carries the last_message_id it had then, as it did live; a message
# shows as it is now (asnow: M2 deleted since is only its message.deleted, M1 edited since its
# current body)
norm='[.[] | {sid, ev, data}]'
# (b's events, and the ids of those a replay from MID shows now, in one jq)
{ read -r B_ALL; read -r B_AFTER; } < <(sse_jq b -c --argjson m "$MID" "$JQ_ASNOW"' '"$norm"',
    [asnow[].sid | tonumber | select(. > $m)]')
printf -v live '%s,' "${LIVE[@]}"
for s in b2 b3 b4; do
    expect_sse $s '[.[].sid | tonumber]' "$B_AFTER" \
        "$JQ_ASNOW $norm"' == ($all | asnow | map(select((.sid|tonumber) > $m)))' true \
        '[.[] | select(.ev == "message.created") | .data.message.id][-3:]' "[${live%,}]" \
        "$WELL_FORMED" true \
        --argjson all "$B_ALL" --argjson m "$MID"
done
expect_sse b0 "$JQ_ASNOW $norm"' == ($all | asnow)' true '.[0].ev' conversation.created --argjson all "$B_ALL"
wait_sse c0 'length >= 2' 5
expect_sse c0 '[.[] | .sid | tonumber]' "$(sse_jq c -c '[.[].sid | tonumber]')"

# --- a member added gets conversation.updated (and then the messages); one removed gets that
# conversation.updated last and nothing of the conversation afterwards
tick
req PUT "/api/conversations/$X" "{\"member_ids\":[$A_ID,$B_ID,$D_ID]}" "$A_TOK"
expect_status 200
ADD=$(jqb '.conversation | del(.last_message, .last_read_message_id, .unread_count)')   # per-caller: not in events
post_msg "$A_TOK" "$X" "hello dave"
MD=$MSG_ID
expect_true "stream d got the message after being added" wait_sse d "any(.[]; .data.message.id == $MD)"
tick
req PUT "/api/conversations/$X" "{\"member_ids\":[$A_ID,$B_ID]}" "$A_TOK"
expect_status 200
REM=$(jqb '.conversation | del(.last_message, .last_read_message_id, .unread_count)')   # per-caller: not in events
post_msg "$A_TOK" "$X" "dave is gone"
MGONE=$MSG_ID
req PUT "/api/conversations/$X" '{"title":"X without dave"}' "$A_TOK"
expect_status 200
new_conv "$A_TOK" "Z" "[$D_ID]"
Z=$CONV_ID
expect_true "stream d got the later conversation Z" wait_sse d "any(.[]; .data.conversation.id == $Z)"
expect_true "stream b got the message posted after dave left" wait_sse b "any(.[]; .data.message.id == $MGONE)"
dx="[.[] | select((.data.conversation.id // .data.message.conversation_id) == $X)]"
expect_sse d "$dx | map(.ev)" '["conversation.updated","message.created","conversation.updated"]' \
    "$dx | .[0].data.conversation == \$add" true \
    "$dx | .[1].data.message.id" "$MD" \
    "$dx | .[-1].data.conversation == \$rem" true \
    "$dx | .[-1].data.conversation.member_ids | index($D_ID)" null \
    "any(.[]; .data.message.id == $MGONE)" false \
    '[.[].ev]' '["conversation.updated","message.created","conversation.updated","conversation.created"]' \
    "$WELL_FORMED" true \
    --argjson add "$ADD" --argjson rem "$REM"

# --- typing from a WebSocket client reaches an SSE member (no id line), not a non-member
WS_OUT=$(timeout 30 "$PY" "$WSC" send "ws://127.0.0.1:$PORT/api/ws?token=$A_TOK" "{\"type\":\"typing\",\"conversation_id\":$X}")
LAST_REQ="ws typing" STATUS=
expect_eq "ws typing: sent and pong received" true "$(jq -r .pong <<<"$WS_OUT" 2>&1)"
expect_true "stream b got typing" wait_sse b 'any(.[]; .ev == "typing")'
expect_sse b '[.[] | select(.ev == "typing")] | length' 1 \
    '[.[] | select(.ev == "typing")][0] | [.sid, .data]' "[null,{\"type\":\"typing\",\"conversation_id\":$X,\"user_id\":$A_ID}]"
expect_eq "typing block has no id line" 0 "$(tr -d '\r' <"$TMP_ROOT/sse.b.out" | grep -B1 '^event: typing$' | grep -c '^id:')"
post_msg "$C_TOK" "$CC" "after typing"
CM2=$MSG_ID
expect_true "stream c got its later message" wait_sse c "any(.[]; .data.message.id == $CM2)"
expect_sse c 'any(.[]; .ev == "typing")' false
expect_sse a 'any(.[]; .ev == "typing")' false

# --- heartbeat: a comment line with --heartbeat 1
hb() {   # a line that starts with ":" (read by bash)
    local o=
    { o=$(<"$TMP_ROOT/sse.c.out"); } 2>/dev/null
    [[ $'\n'$o == *$'\n:'* ]]
}
expect_true "heartbeat comment on stream c (--heartbeat 1)" poll 10 hb

# --- logout closes that token's streams, not the user's other ones
req POST /api/users/login "{\"username\":\"alice\",\"password\":\"$PASSWORD\"}"
expect_status 200
A2_TOK=$(jqb .token)
expect_true "stream a2: headers" sse_open a2 "$A2_TOK"
req POST /api/users/logout "" "$A2_TOK"
expect_status 204
expect_true "logout: stream a2 closed (curl exited)" wait_exit "$(sse_pid a2)" 10
post_msg "$A_TOK" "$X" "a's other stream lives on"
expect_true "stream a (other token) still delivers" wait_sse a "any(.[]; .data.message.id == $MSG_ID)"
expect_true "stream a still open" proc_alive "$(sse_pid a)"

# --- a password change closes the user's other streams; deleting the user closes the rest
new_user E erin
req POST /api/users/login "{\"username\":\"erin\",\"password\":\"$PASSWORD\"}"
E2_TOK=$(jqb .token)
expect_true "stream e1: headers" sse_open e1 "$E_TOK"
expect_true "stream e2: headers" sse_open e2 "$E2_TOK"
req PUT "/api/users/$E_ID" "{\"password\":\"another-password\",\"current_password\":\"$PASSWORD\"}" "$E2_TOK"
expect_status 200
expect_true "password change: the other token's stream closed" wait_exit "$(sse_pid e1)" 10
new_conv "$A_TOK" "for erin" "[$E_ID]"
expect_true "stream e2 (the changer's token) still delivers" wait_sse e2 "any(.[]; .data.conversation.id == $CONV_ID)"
req DELETE "/api/users/$E_ID" '{"password":"another-password"}' "$E2_TOK"
expect_status 204
expect_true "user deleted: its stream closed" wait_exit "$(sse_pid e2)" 10
req GET /api/events "" "$E2_TOK"
expect_error 401 ""

stop_clients
stop_server
