#!/usr/bin/env bash
# t_inbox.sh — the inbox in one request (contract v2 Objects): every conversation object a REST
# answer gives its caller has "last_message", the full message object that "last_message_id"
# names (the newest live message, as GET /api/messages/:id shows it now), or null; conversation
# objects inside events have no last_message; the conversation list stays within --max-response
# with it (the most recently active first); it survives a restart and an offline --compact.
source "$(dirname "$0")/lib.sh"

start_server
new_user A alice
new_user B bob
new_user C carol

# last_message is exactly GET /api/messages/ID's message (or null with a null id), right after
# last_message_id; FILTER selects one conversation object of BODY. The checks run in lib.sh's
# batched jq (not 4 jq processes a call): the message as GET answered it goes into the filter as
# a JSON literal, compared as jq -c prints both (key order included)
expect_last() {   # FILTER TOKEN WANT_ID ("null" for none)
    local want=null
    if [ "$3" != null ]; then
        local save=$BODY
        req GET "/api/messages/$3" "" "$2"
        if [[ $BODY =~ ^\{\"message\":(\{.*\})\}$ ]]; then want=${BASH_REMATCH[1]}; else want=$(jqb .message); fi
        BODY=$save
    fi
    expect_jq "$1 | .last_message_id" "$3"
    expect_jq "$1 | if (.last_message | tojson) == ($want | tojson) then \"message $3 as it is now\"
               else {last_message, \"GET /api/messages/$3\": $want} end" "message $3 as it is now"
    expect_jq "$1 | keys_unsorted | index(\"last_message\") == index(\"last_message_id\") + 1" true
}

# --- a new conversation: null, in the create answer, GET and the list
req POST /api/conversations "{\"title\":\"ab\",\"member_ids\":[$B_ID]}" "$A_TOK"
expect_status 201
expect_last .conversation "$A_TOK" null
AB=$(jqb .conversation.id)
req GET "/api/conversations/$AB" "" "$B_TOK"
expect_last .conversation "$B_TOK" null
req GET /api/conversations "" "$B_TOK"
expect_last ".conversations[0]" "$B_TOK" null
new_conv "$C_TOK" "bc" "[$B_ID]"
BC=$CONV_ID

# --- after posts: the newest, whoever wrote it, in every REST answer
post_msg "$A_TOK" "$AB" "one"
M1=$MSG_ID
post_msg "$B_TOK" "$AB" "two"
M2=$MSG_ID
req GET "/api/conversations/$AB" "" "$A_TOK"
expect_last .conversation "$A_TOK" "$M2"
expect_jq '.conversation.last_message | [.author_id, .body, .reply_to_id]' "[$B_ID,\"two\",null]"
req POST /api/messages "{\"conversation_id\":$BC,\"body\":\"re\",\"reply_to_id\":null}" "$C_TOK"
C1=$(jqb .message.id)
req GET /api/conversations "" "$B_TOK"
expect_jq '[.conversations[] | [.id, .last_message.id, .last_message.conversation_id]]' "[[$BC,$C1,$BC],[$AB,$M2,$AB]]"
expect_last ".conversations[0]" "$B_TOK" "$C1"
expect_last ".conversations[1]" "$B_TOK" "$M2"
req PUT "/api/conversations/$AB" '{"title":"renamed"}' "$B_TOK"
expect_status 200
expect_last .conversation "$B_TOK" "$M2"
req PUT "/api/conversations/$AB" '{}' "$B_TOK"   # nothing to change
expect_last .conversation "$B_TOK" "$M2"
# a reply as the last message carries its reply_to_id
req POST /api/messages "{\"conversation_id\":$AB,\"body\":\"re: one\",\"reply_to_id\":$M1}" "$A_TOK"
M3=$(jqb .message.id)
req GET "/api/conversations/$AB" "" "$B_TOK"
expect_last .conversation "$B_TOK" "$M3"
expect_jq .conversation.last_message.reply_to_id "$M1"

# --- edited: its current body; deleted: the newest live one before it, then null
req PUT "/api/messages/$M3" '{"body":"re: one (edited)"}' "$A_TOK"
req GET "/api/conversations/$AB" "" "$B_TOK"
expect_last .conversation "$B_TOK" "$M3"
expect_jq '.conversation.last_message | [.body, .edited]' '["re: one (edited)",true]'
req DELETE "/api/messages/$M3" "" "$A_TOK"
expect_status 204
req GET "/api/conversations/$AB" "" "$B_TOK"
expect_last .conversation "$B_TOK" "$M2"
req DELETE "/api/messages/$M1" "" "$A_TOK"   # an older one gone changes nothing
req GET "/api/conversations/$AB" "" "$B_TOK"
expect_last .conversation "$B_TOK" "$M2"
req DELETE "/api/messages/$M2" "" "$B_TOK"
req GET /api/conversations "" "$A_TOK"
expect_last ".conversations[] | select(.id == $AB)" "$A_TOK" null
post_msg "$A_TOK" "$AB" "again"
M4=$MSG_ID
req GET "/api/conversations/$AB" "" "$B_TOK"
expect_last .conversation "$B_TOK" "$M4"

# --- events carry no per-caller field: no last_message (nor read state) in conversation objects
curl -sN --max-time 3 "$BASE/api/events?token=$B_TOK&last_event_id=0" >"$TMP_ROOT/sse" 2>/dev/null
got=$(sed -n 's/^data: //p' "$TMP_ROOT/sse" | jq -sc '[.[] | select(.conversation.title != null) | .conversation
    | (has("last_message") or has("last_read_message_id") or has("unread_count"))] | [length > 2, any]')
expect_eq "conversation events have no last_message, last_read_message_id or unread_count" "[true,false]" "$got"

# --- restart and offline compaction: the same
check_inbox() {
    req GET /api/conversations "" "$B_TOK"
    expect_jq '[.conversations[] | [.id, .last_message.id]]' "[[$AB,$M4],[$BC,$C1]]"
    expect_last ".conversations[0]" "$B_TOK" "$M4"
    expect_last ".conversations[1]" "$B_TOK" "$C1"
}
restart_server
check_inbox
stop_server
D=$SERVER_DATA_DIR
compact_offline "$D"
DATA_DIR=$D start_server
check_inbox
stop_server

# --- --max-response bounds the list with last_message in it: the most recently active that fit
start_server --max-response 8192
new_user A alice
new_user B bob
BIG=$(rep x 1500)
CONVS=()
for i in $(seq 12); do
    new_conv "$A_TOK" "c$i" "[$B_ID]"
    CONVS+=("$CONV_ID")
    post_msg "$A_TOK" "$CONV_ID" "$i $BIG"
    tick
done
req GET /api/conversations "" "$B_TOK"
expect_status 200
expect_true "the conversation list (${#BODY} bytes) is within 8192 bytes" test "${#BODY}" -le 8192
N=$(jqb '.conversations | length')
expect_true "some conversations listed, not all 12 ($N)" test "$N" -ge 2 -a "$N" -lt 6
NEWEST=
for ((i = ${#CONVS[@]} - 1; i >= ${#CONVS[@]} - N && i >= 0; i--)); do NEWEST+=${NEWEST:+,}${CONVS[i]}; done
NEWEST="[$NEWEST]"   # the last N created, newest first
expect_jq '[.conversations[].id]' "$NEWEST"
expect_jq '[.conversations[] | .last_message.body | startswith("\(. | split(" ")[0]) xxx")] | all' true
# one conversation always fits, however long its last message
post_msg "$B_TOK" "${CONVS[0]}" "$(rep y 16384)"
req GET /api/conversations "" "$A_TOK"
expect_status 200
expect_jq '[.conversations[0].id, (.conversations | length), (.conversations[0].last_message.body | length)]' \
    "[${CONVS[0]},1,16384]"
stop_server
