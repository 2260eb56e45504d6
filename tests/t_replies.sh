#!/usr/bin/env bash
# t_replies.sh — replies (contract v2: Objects, Messages): POST /api/messages takes
# "reply_to_id" (absent or null: none; else the id of a live message of the same conversation,
# anything else 400 validation_failed and nothing stored); every message object has
# "reply_to_id" (null or the id), in REST answers, live events and replays; it stays after the
# original is edited or deleted, after a restart and an offline --compact (also when the
# compaction erases the reply's own first body); a log from before the field (tests/fixtures/v1)
# reads every message as no reply.
source "$(dirname "$0")/lib.sh"

start_server
new_user A alice
new_user B bob
new_user C carol
new_conv "$A_TOK" "ab" "[$B_ID]"
AB=$CONV_ID
new_conv "$A_TOK" "ac" "[$C_ID]"
AC=$CONV_ID
new_conv "$C_TOK" "c only" "[]"
CO=$CONV_ID

# a stream opened before the posts: the live events
curl -sN --max-time 20 -D "$TMP_ROOT/live.h" "$BASE/api/events?token=$B_TOK" >"$TMP_ROOT/live.e" 2>/dev/null &
EXTRA_PIDS+=" $!"
poll 10 test -s "$TMP_ROOT/live.h" || fail "the event stream did not open"

rbody() {   # CONV BODY REPLY_TO -> the POST /api/messages body (by bash when BODY needs no escapes, else jq)
    if [[ $2 =~ ^[[:print:]]*$ && $2 != *[\"\\]* ]]; then echo "{\"conversation_id\":$1,\"body\":\"$2\",\"reply_to_id\":$3}"
    else jq -nc --argjson c "$1" --arg b "$2" --argjson r "$3" '{conversation_id:$c,body:$b,reply_to_id:$r}'; fi
}

# --- no reply: the field is there, null, right after body
post_msg "$A_TOK" "$AB" "first"
M1=$MSG_ID
expect_jq '.message.reply_to_id' null
expect_jq '.message | keys_unsorted | index("reply_to_id") == index("body") + 1' true
req POST /api/messages "$(rbody "$AB" "explicit null" null)" "$B_TOK"
expect_status 201
expect_jq '.message.reply_to_id' null
M2=$(jqb .message.id)

# --- a reply
req POST /api/messages "$(rbody "$AB" "re: first" "$M1")" "$B_TOK"
expect_status 201
expect_jq '.message | [.reply_to_id, .author_id, .body]' "[$M1,$B_ID,\"re: first\"]"
R1=$(jqb .message.id)
req GET "/api/messages/$R1" "" "$A_TOK"
expect_jq .message.reply_to_id "$M1"
req GET "/api/messages?conversation_id=$AB" "" "$A_TOK"
expect_jq "[.messages[] | [.id, .reply_to_id]]" "[[$M1,null],[$M2,null],[$R1,$M1]]"
req GET "/api/messages" "" "$B_TOK"   # across conversations
expect_jq "[.messages[] | select(.id == $R1) | .reply_to_id]" "[$M1]"
# a reply to a reply, and to one's own message
req POST /api/messages "$(rbody "$AB" "re: re" "$R1")" "$A_TOK"
expect_status 201
expect_jq .message.reply_to_id "$R1"
R2=$(jqb .message.id)
req POST /api/messages "$(rbody "$AB" "me again" "$M1")" "$A_TOK"
expect_jq .message.reply_to_id "$M1"
R3=$(jqb .message.id)

# --- errors: 400 validation_failed, nothing stored
count() { req GET "/api/messages?limit=200" "" "$1"; jqb '.messages | length'; }
n_before=$(count "$A_TOK")
post_msg "$A_TOK" "$AC" "in ac"
AC1=$MSG_ID
post_msg "$A_TOK" "$AB" "to be deleted"
DEL=$MSG_ID
req DELETE "/api/messages/$DEL" "" "$A_TOK"
expect_status 204
post_msg "$C_TOK" "$CO" "carol alone"
CO1=$MSG_ID
n_before=$(count "$A_TOK")
for bad in '"1"' "\"$M1\"" 1.5 "$M1.0" 0 -1 true false '[1]' '{}' 99999999 "$AC1" "$DEL" "$CO1" 1e3 \
    99999999999999999999; do
    req POST /api/messages "{\"conversation_id\":$AB,\"body\":\"bad\",\"reply_to_id\":$bad}" "$A_TOK"
    expect_error 400 validation_failed
done
expect_eq "no bad reply was stored" "$n_before" "$(count "$A_TOK")"
# the same message id is fine in its own conversation
req POST /api/messages "$(rbody "$AC" "re: in ac" "$AC1")" "$C_TOK"
expect_status 201
expect_jq .message.reply_to_id "$AC1"
# a conversation the caller is not in stays 404, whatever the reply names
req POST /api/messages "$(rbody "$CO" "intruder" "$CO1")" "$A_TOK"
expect_error 404 not_found
req POST /api/messages "$(rbody "$CO" "intruder" "$M1")" "$A_TOK"
expect_error 404 not_found
# a bad body is 400 before anything else
req POST /api/messages "{\"conversation_id\":$AB,\"body\":\"\",\"reply_to_id\":$M1}" "$A_TOK"
expect_error 400 validation_failed

# --- an Idempotency-Key retry returns the first reply (200), also once its original is gone
req POST /api/messages "$(rbody "$AB" "keyed reply" "$M2")" "$A_TOK" -H "Idempotency-Key: k1"
expect_status 201
K1=$(jqb .message.id)
req POST /api/messages "$(rbody "$AB" "keyed reply" "$M2")" "$A_TOK" -H "Idempotency-Key: k1"
expect_status 200
expect_jq '.message | [.id, .reply_to_id]' "[$K1,$M2]"

# --- the original edited, then deleted: the replies keep their reply_to_id
req PUT "/api/messages/$M1" '{"body":"first, edited"}' "$A_TOK"
expect_status 200
expect_jq .message.reply_to_id null
req GET "/api/messages/$R1" "" "$B_TOK"
expect_jq .message.reply_to_id "$M1"
req DELETE "/api/messages/$M1" "" "$A_TOK"
expect_status 204
req DELETE "/api/messages/$M2" "" "$B_TOK"
expect_status 204
req POST /api/messages "$(rbody "$AB" "keyed reply" "$M2")" "$A_TOK" -H "Idempotency-Key: k1"
expect_status 200
expect_jq '.message | [.id, .reply_to_id]' "[$K1,$M2]"
req GET "/api/messages/$R1" "" "$B_TOK"
expect_jq '.message | [.reply_to_id, .body]' "[$M1,\"re: first\"]"
# a reply edited keeps its reply_to_id too
req PUT "/api/messages/$R1" '{"body":"re: first (edited)"}' "$B_TOK"
expect_status 200
expect_jq '.message | [.reply_to_id, .edited]' "[$M1,true]"
# replying to the deleted original is refused now
req POST /api/messages "$(rbody "$AB" "too late" "$M1")" "$B_TOK"
expect_error 400 validation_failed

# --- events: live and replayed, message.created and message.updated carry reply_to_id
ev_check() {   # FILE WHAT
    local got
    got=$(sed -n 's/^data: //p' "$1" | jq -sc "[.[] | select(.type == \"message.created\" or .type == \"message.updated\")
        | select(.message.id == $R2 or .message.id == $R1) | [.type, .message.id, .message.reply_to_id]] | unique")
    expect_eq "$2: events of the replies carry reply_to_id" \
        "[[\"message.created\",$R1,$M1],[\"message.created\",$R2,$R1],[\"message.updated\",$R1,$M1]]" "$got"
    got=$(sed -n 's/^data: //p' "$1" | jq -sc '[.[] | select(.type == "message.created" or .type == "message.updated")
        | .message | has("reply_to_id")] | (length > 3 and all)')
    expect_eq "$2: every message in an event has reply_to_id" true "$got"
}
poll 10 grep -q "re: first (edited)" "$TMP_ROOT/live.e" || fail "the live edit did not arrive"
stop_clients
ev_check "$TMP_ROOT/live.e" live
curl -sN --max-time 3 "$BASE/api/events?token=$B_TOK&last_event_id=0" >"$TMP_ROOT/replay.e" 2>/dev/null
ev_check "$TMP_ROOT/replay.e" replay

# --- survives a restart and an offline compaction (which erases R1's first body: the field stays)
check_replies() {   # WHEN
    req GET "/api/messages?conversation_id=$AB" "" "$A_TOK"
    expect_jq "[.messages[] | [.id, .reply_to_id]]" "[[$R1,$M1],[$R2,$R1],[$R3,$M1],[$K1,$M2]]"
    expect_jq "[.messages[] | select(.id == $R1) | .body]" '["re: first (edited)"]'
    req GET "/api/messages/$((AC1 + 3))" "" "$C_TOK"
    expect_jq .message.reply_to_id "$AC1"
}
restart_server
check_replies
stop_server
D=$SERVER_DATA_DIR
compact_offline "$D"
expect_eq "the compaction erased the edited reply's first body" "$(grep -ao 're: first (edited)' "$D/chatd.log" | wc -l)" \
    "$(grep -ao 're: first' "$D/chatd.log" | wc -l)"
DATA_DIR=$D start_server
check_replies
req POST /api/messages "$(rbody "$AB" "after compaction" "$R2")" "$B_TOK"
expect_status 201
expect_jq .message.reply_to_id "$R2"
stop_server

# --- a log from before the field: every message is no reply
if start_v1_fixture; then
    req GET /api/messages "" "$V1_TOKEN"
    expect_status 200
    expect_jq '[.messages[] | has("reply_to_id") and .reply_to_id == null] | (length > 0 and all)' true
    stop_server
fi
