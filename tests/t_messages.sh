#!/usr/bin/env bash
# Messages: post, get, edit, delete, pagination, listing across conversations, Idempotency-Key
# (a retry returns the first message; the key with another conversation or body is 409
# idempotency_key_reused and stores nothing; a key is forgotten with its message; issue 10, 7b).
. "$(dirname "$0")/lib.sh"
start_server

new_user A alice
new_user B bob
new_user C carol
new_conv "$A_TOK" "ab" "[$B_ID]"
CAB=$CONV_ID
new_conv "$C_TOK" "c only" "[$C_ID]"
CC=$CONV_ID

expect_msg_shape() {
    expect_jq '.message | (.id|type) == "number" and .id > 0 and (.id|floor) == .id' true
    expect_jq '.message | (.conversation_id|type) == "number" and (.author_id|type) == "number" and (.body|type) == "string" and (.edited|type) == "boolean"' true
    expect_ts .message.created_at
    expect_ts .message.updated_at
}

# --- post ------------------------------------------------------------------------------------
req POST /api/messages "$(mbody "$CAB" "hello bob")" "$A_TOK"
expect_status 201
expect_header Content-Type "$JSON_CT_RE"
expect_msg_shape
expect_jq .message.conversation_id "$CAB"
expect_jq .message.author_id "$A_ID"
expect_jq .message.body "hello bob"
expect_jq .message.edited false
expect_jq '.message.created_at == .message.updated_at' true
expect_jq 'keys' '["message"]'
M1=$(jqb .message.id)
M1_CREATED=$(jqb .message.created_at)
post_msg "$B_TOK" "$CAB" "hi alice"
M2=$MSG_ID
expect_true "message ids increase ($M1 < $M2)" test "$M1" -lt "$M2"

# bodies round-trip exactly (escapes, unicode, astral plane, control characters)
for b in 'quote " backslash \ slash /' $'line1\nline2\ttab\r' 'ünïcödé €' '😀 astral' $'\x01\x1f ctl' '<script>&amp;</script>' ' '; do
    req POST /api/messages "$(mbody "$CAB" "$b")" "$A_TOK"
    expect_status 201
    expect_jq '.message.body' "$b"
done
req POST /api/messages "{\"conversation_id\":$CAB,\"body\":\"\\ud83d\\ude00 \\u00e9\\u0041\"}" "$A_TOK"
expect_status 201
expect_jq .message.body "😀 éA"
# an escaped NUL: either stored and returned exactly, or refused with 400 — never truncated
req POST /api/messages "{\"conversation_id\":$CAB,\"body\":\"a\\u0000b\"}" "$A_TOK"
if [ "$STATUS" == 201 ]; then
    ok
    expect_jq '.message.body == "a\u0000b"' true
    NULID=$(jqb .message.id)
    req GET "/api/messages/$NULID" "" "$A_TOK"
    expect_jq '.message.body == "a\u0000b"' true
else
    expect_error 400 ""
fi

# body size: 1..16384 bytes
req POST /api/messages "$(mbody "$CAB" "$(rep x 16384)")" "$A_TOK"
expect_status 201
expect_jq '.message.body | length' 16384
BIG=$(jqb .message.id)
req GET "/api/messages/$BIG" "" "$B_TOK"
expect_jq '.message.body == ("x" * 16384)' true
req POST /api/messages "$(mbody "$CAB" "$(rep x 16385)")" "$A_TOK"
expect_error 400 validation_failed
req POST /api/messages "$(mbody "$CAB" "$(rep é 8192)")" "$A_TOK"      # 16384 bytes
expect_status 201
req POST /api/messages "$(mbody "$CAB" "$(rep é 8192)x")" "$A_TOK"     # 16385 bytes, 8193 chars
expect_error 400 validation_failed
req POST /api/messages "$(mbody "$CAB" "")" "$A_TOK"
expect_error 400 validation_failed
# other validation
for b in "{\"body\":\"x\"}" "{\"conversation_id\":$CAB}" "{\"conversation_id\":\"$CAB\",\"body\":\"x\"}" \
    "{\"conversation_id\":$CAB,\"body\":5}" "{\"conversation_id\":$CAB,\"body\":null}" "{\"conversation_id\":$CAB,\"body\":[\"x\"]}" \
    "{\"conversation_id\":[$CAB],\"body\":\"x\"}" "{\"conversation_id\":$CAB.5,\"body\":\"x\"}" '[]' '"x"' '{}'; do
    req POST /api/messages "$b" "$A_TOK"
    expect_error 400 validation_failed
done
req POST /api/messages "{\"conversation_id\":$CAB,\"body\":\"x\"" "$A_TOK"
expect_error 400 invalid_json
req POST /api/messages $'{"conversation_id":'"$CAB"$',"body":"\xc3\x28"}' "$A_TOK"
expect_error 400 invalid_json
# not a member / no such conversation → 404
req POST /api/messages "$(mbody "$CC" "intrusion")" "$A_TOK"
expect_error 404 ""
req POST /api/messages "$(mbody 999999 "nowhere")" "$A_TOK"
expect_error 404 ""
req POST /api/messages "$(mbody "$CAB" "anon")"
expect_error 401 ""

# --- get -------------------------------------------------------------------------------------
req GET "/api/messages/$M1" "" "$B_TOK"
expect_status 200
expect_msg_shape
expect_jq .message.id "$M1"
expect_jq .message.body "hello bob"
expect_jq .message.author_id "$A_ID"
expect_jq .message.created_at "$M1_CREATED"
req GET "/api/messages/$M1" "" "$C_TOK"
expect_error 404 ""
for bad in 999999 0 -1 abc 1.5; do
    req GET "/api/messages/$bad" "" "$A_TOK"
    expect_error 404 ""
done
req GET "/api/messages/$M1"
expect_error 401 ""

# --- edit ------------------------------------------------------------------------------------
tick
req PUT "/api/messages/$M1" '{"body":"hello bob (edited)"}' "$A_TOK"
expect_status 200
expect_msg_shape
expect_jq .message.id "$M1"
expect_jq .message.body "hello bob (edited)"
expect_jq .message.edited true
expect_jq .message.created_at "$M1_CREATED"
expect_jq .message.author_id "$A_ID"
expect_jq .message.conversation_id "$CAB"
U1=$(jqb .message.updated_at)
expect_true "updated_at moved on edit ($M1_CREATED < $U1)" test "$M1_CREATED" \< "$U1"
req GET "/api/messages/$M1" "" "$B_TOK"
expect_jq .message.body "hello bob (edited)"
expect_jq .message.edited true
expect_jq .message.updated_at "$U1"
req PUT "/api/messages/$M1" '{"body":"by bob"}' "$B_TOK"        # another member
expect_error 403 ""
req PUT "/api/messages/$M1" '{"body":"by carol"}' "$C_TOK"      # not a member
expect_error 404 ""
req PUT "/api/messages/$M1" '{"body":"anon"}'
expect_error 401 ""
for b in '{"body":""}' '{}' '{"body":5}' "{\"body\":\"$(rep y 16385)\"}" '[]'; do
    req PUT "/api/messages/$M1" "$b" "$A_TOK"
    expect_error 400 validation_failed
done
req PUT "/api/messages/$M1" '{"body":' "$A_TOK"
expect_error 400 invalid_json
req PUT "/api/messages/999999" '{"body":"x"}' "$A_TOK"
expect_error 404 ""
req PUT "/api/messages/$M1" "{\"body\":\"$(rep z 16384)\"}" "$A_TOK"
expect_status 200
req GET "/api/messages/$M1" "" "$B_TOK"
expect_jq '.message.body == ("z" * 16384)' true

# --- delete ----------------------------------------------------------------------------------
post_msg "$A_TOK" "$CAB" "to be deleted"
MD=$MSG_ID
req DELETE "/api/messages/$MD" "" "$B_TOK"      # another member
expect_error 403 ""
req DELETE "/api/messages/$MD" "" "$C_TOK"      # not a member
expect_error 404 ""
req DELETE "/api/messages/$MD"
expect_error 401 ""
req GET "/api/messages/$MD" "" "$B_TOK"
expect_status 200
req DELETE "/api/messages/$MD" "" "$A_TOK"
expect_status 204
expect_empty_body
req GET "/api/messages/$MD" "" "$A_TOK"
expect_error 404 ""
req GET "/api/messages/$MD" "" "$B_TOK"
expect_error 404 ""
req DELETE "/api/messages/$MD" "" "$A_TOK"
expect_error 404 ""
req PUT "/api/messages/$MD" '{"body":"revive"}' "$A_TOK"
expect_error 404 ""
req GET "/api/messages?conversation_id=$CAB&limit=200" "" "$A_TOK"
expect_jq "[.messages[].id] | index($MD)" null
post_msg "$A_TOK" "$CAB" "after delete"
expect_true "ids never reused ($MSG_ID > $MD)" test "${MSG_ID:-0}" -gt "$MD"

# --- pagination ------------------------------------------------------------------------------
new_conv "$A_TOK" "pages" "[$B_ID]"
P=$CONV_ID
ids=()
for i in 1 2 3 4 5 6 7; do
    if ((i % 2)); then post_msg "$A_TOK" "$P" "p$i"; else post_msg "$B_TOK" "$P" "p$i"; fi
    ids+=("$MSG_ID")
done
m() { local IFS=,; echo "[$*]"; }        # m ids... -> JSON array
page() {   # QUERY EXPECTED_IDS EXPECTED_HAS_MORE
    req GET "/api/messages?conversation_id=$P${1:+&$1}" "" "$B_TOK"
    expect_status 200
    expect_jq '[.messages[].id]' "$2"
    expect_jq .has_more "$3"
}
page "" "$(m "${ids[@]}")" false
req GET "/api/messages?conversation_id=$P" "" "$B_TOK"
expect_header Content-Type "$JSON_CT_RE"
expect_jq '.messages | all(has("id") and has("conversation_id") and has("author_id") and has("body") and has("created_at") and has("updated_at") and has("edited"))' true
expect_jq '[.messages[].body]' '["p1","p2","p3","p4","p5","p6","p7"]'
expect_jq '.has_more | type' boolean
page "limit=3" "$(m "${ids[@]:4:3}")" true
page "limit=6" "$(m "${ids[@]:1:6}")" true
page "limit=7" "$(m "${ids[@]}")" false
page "limit=200" "$(m "${ids[@]}")" false
page "limit=1" "$(m "${ids[6]}")" true
page "before=${ids[4]}&limit=2" "$(m "${ids[2]}" "${ids[3]}")" true
page "before=${ids[2]}&limit=2" "$(m "${ids[0]}" "${ids[1]}")" false
page "before=${ids[4]}" "$(m "${ids[@]:0:4}")" false
page "before=${ids[0]}" "[]" false
page "before=999999&limit=2" "$(m "${ids[5]}" "${ids[6]}")" true
page "after=${ids[1]}&limit=3" "$(m "${ids[2]}" "${ids[3]}" "${ids[4]}")" true
page "after=${ids[3]}&limit=3" "$(m "${ids[4]}" "${ids[5]}" "${ids[6]}")" false
page "after=${ids[3]}" "$(m "${ids[4]}" "${ids[5]}" "${ids[6]}")" false
page "after=${ids[6]}" "[]" false
page "limit=2&after=${ids[0]}" "$(m "${ids[1]}" "${ids[2]}")" true
# a deleted message is skipped, and counts for nothing
req DELETE "/api/messages/${ids[5]}" "" "$B_TOK"
expect_status 204
page "limit=3" "$(m "${ids[3]}" "${ids[4]}" "${ids[6]}")" true
page "after=${ids[4]}" "$(m "${ids[6]}")" false
# bad parameters
for q in "before=${ids[3]}&after=${ids[1]}" limit=0 limit=201 limit=abc limit=-1 limit=1.5 limit= \
    before=0 before=-1 before=x before=1.5 before= after=0 after=-5 after=y; do
    req GET "/api/messages?conversation_id=$P&$q" "" "$B_TOK"
    expect_error 400 validation_failed
done
for q in conversation_id=abc conversation_id=0 conversation_id=-1; do
    req GET "/api/messages?$q" "" "$B_TOK"
    expect_error 400 validation_failed
done
req GET "/api/messages?conversation_id=$P" "" "$C_TOK"         # not a member
expect_error 404 ""
req GET "/api/messages?conversation_id=999999" "" "$C_TOK"
expect_error 404 ""
req GET "/api/messages?conversation_id=$P"
expect_error 401 ""

# ids are not truncated to 32 bits anywhere
W=4294967296
page "before=$((W + ids[1]))" "$(m "${ids[@]:0:5}" "${ids[6]}")" false
page "after=$((W + ids[0]))" "[]" false
req GET "/api/messages/$((W + ids[0]))" "" "$B_TOK"
expect_error 404 ""
req GET "/api/messages?conversation_id=$((W + P))" "" "$B_TOK"
expect_error 404 ""
req POST /api/messages "$(mbody "$((W + P))" "wrapped")" "$B_TOK"
expect_error 404 ""
req PUT "/api/messages/$((W + ids[0]))" '{"body":"wrapped"}' "$A_TOK"
expect_error 404 ""

# default limit 50
new_conv "$A_TOK" "many" "[$A_ID]"
MANY=$CONV_ID
many=()
for i in $(seq 1 53); do post_msg "$A_TOK" "$MANY" "n$i"; many+=("$MSG_ID"); done
req GET "/api/messages?conversation_id=$MANY" "" "$A_TOK"
expect_status 200
expect_jq '.messages | length' 50
expect_jq '[.messages[].id]' "$(m "${many[@]:3:50}")"
expect_jq .has_more true
req GET "/api/messages?conversation_id=$MANY&limit=200" "" "$A_TOK"
expect_jq '.messages | length' 53
expect_jq .has_more false
req GET "/api/messages?conversation_id=$MANY&after=${many[0]}" "" "$A_TOK"
expect_jq '[.messages[].id]' "$(m "${many[@]:1:50}")"
expect_jq .has_more true

# --- across all the caller's conversations --------------------------------------------------
new_user X xavier
new_user Y yvonne
new_user Z zed
new_conv "$X_TOK" "xy" "[$Y_ID]"
XY=$CONV_ID
new_conv "$Y_TOK" "yz" "[$Z_ID,$X_ID]"
YZ=$CONV_ID
new_conv "$Z_TOK" "z only" "[$Y_ID]"
ZO=$CONV_ID
post_msg "$X_TOK" "$XY" a1; a1=$MSG_ID
post_msg "$Z_TOK" "$ZO" hidden1
post_msg "$Y_TOK" "$YZ" a2; a2=$MSG_ID
post_msg "$Y_TOK" "$XY" a3; a3=$MSG_ID
post_msg "$Z_TOK" "$ZO" hidden2
post_msg "$Z_TOK" "$YZ" a4; a4=$MSG_ID
req GET /api/messages "" "$X_TOK"
expect_status 200
expect_jq '[.messages[].id]' "$(m "$a1" "$a2" "$a3" "$a4")"
expect_jq .has_more false
if ((XY < YZ)); then want="[$XY,$YZ]"; else want="[$YZ,$XY]"; fi
expect_jq "[.messages[].conversation_id] | unique | sort" "$want"
req GET "/api/messages?limit=2" "" "$X_TOK"
expect_jq '[.messages[].id]' "$(m "$a3" "$a4")"
expect_jq .has_more true
req GET "/api/messages?before=$a3" "" "$X_TOK"
expect_jq '[.messages[].id]' "$(m "$a1" "$a2")"
expect_jq .has_more false
req GET "/api/messages?after=$a1&limit=2" "" "$X_TOK"
expect_jq '[.messages[].id]' "$(m "$a2" "$a3")"
expect_jq .has_more true
req GET "/api/messages" "" "$Y_TOK"
expect_jq '.messages | length' 6
# a conversation without messages among the caller's conversations
new_conv "$X_TOK" "silent" "[$Y_ID]"
req GET /api/messages "" "$X_TOK"
expect_status 200
expect_jq '[.messages[].id]' "$(m "$a1" "$a2" "$a3" "$a4")"
req GET "/api/messages?before=$a4&limit=1" "" "$Y_TOK"
expect_status 200
req GET "/api/messages?conversation_id=$CONV_ID" "" "$Y_TOK"
expect_status 200
expect_jq . '{"messages":[],"has_more":false}'
new_user N newbie                        # in no conversation at all
req GET /api/messages "" "$N_TOK"
expect_status 200
expect_jq . '{"messages":[],"has_more":false}'
req GET /api/messages "" "$A_TOK"         # alice is in none of these
expect_jq "[.messages[].conversation_id] | map(select(. == $XY or . == $YZ or . == $ZO)) | length" 0

# --- Idempotency-Key -------------------------------------------------------------------------
new_conv "$A_TOK" "idem" "[$B_ID]"
I=$CONV_ID
req POST /api/messages "$(mbody "$I" "once")" "$A_TOK" -H 'Idempotency-Key: key-1'
expect_status 201
K1=$(jqb .message.id)
K1_MSG=$(jqb .message)
req POST /api/messages "$(mbody "$I" "once")" "$A_TOK" -H 'Idempotency-Key: key-1'
expect_status 200
expect_jq .message.id "$K1"
expect_jq .message "$K1_MSG"
req POST /api/messages "$(mbody "$I" "once, but different")" "$A_TOK" -H 'Idempotency-Key: key-1'
expect_error 409 idempotency_key_reused   # another body than the first request's
req POST /api/messages "$(mbody "$I" "once")" "$A_TOK" -H 'Idempotency-Key: key-2'
expect_status 201
K2=$(jqb .message.id)
expect_true "another key stores a new message ($K2 != $K1)" test "$K2" != "$K1"
req POST /api/messages "$(mbody "$I" "once")" "$B_TOK" -H 'Idempotency-Key: key-1'   # keys are per user
expect_status 201
expect_jq .message.author_id "$B_ID"
KB=$(jqb .message.id)
expect_true "another user's key-1 is its own ($KB not in $K1 $K2)" test "$KB" != "$K1" -a "$KB" != "$K2"
req POST /api/messages "$(mbody "$I" "once")" "$B_TOK" -H 'Idempotency-Key: key-1'
expect_status 200
expect_jq .message.id "$KB"
req POST /api/messages "$(mbody "$I" "no key")" "$A_TOK"
expect_status 201
req POST /api/messages "$(mbody "$I" "no key")" "$A_TOK"
expect_status 201
req GET "/api/messages?conversation_id=$I" "" "$A_TOK"
expect_jq "[.messages[] | select(.body == \"once\")] | length" 3
expect_jq "[.messages[] | select(.body == \"no key\")] | length" 2
# key length 1..128 bytes
req POST /api/messages "$(mbody "$I" "k128")" "$A_TOK" -H "Idempotency-Key: $(rep k 128)"
expect_status 201
K128=$(jqb .message.id)
req POST /api/messages "$(mbody "$I" "k128")" "$A_TOK" -H "Idempotency-Key: $(rep k 128)"
expect_status 200
expect_jq .message.id "$K128"
req POST /api/messages "$(mbody "$I" "k129")" "$A_TOK" -H "Idempotency-Key: $(rep k 129)"
expect_error 400 ""
req POST /api/messages "$(mbody "$I" "k1")" "$A_TOK" -H "Idempotency-Key: 1"
expect_status 201
req GET "/api/messages?conversation_id=$I" "" "$A_TOK"
expect_jq "[.messages[] | select(.body == \"k129\")] | length" 0
# a failed request does not claim the key
req POST /api/messages "$(mbody "$I" "")" "$A_TOK" -H 'Idempotency-Key: key-3'
expect_error 400 validation_failed
req POST /api/messages "$(mbody "$I" "now valid")" "$A_TOK" -H 'Idempotency-Key: key-3'
expect_status 201
# once the message is deleted, the key stores a new one
req DELETE "/api/messages/$K1" "" "$A_TOK"
expect_status 204
req POST /api/messages "$(mbody "$I" "once again")" "$A_TOK" -H 'Idempotency-Key: key-1'
expect_status 201
K1B=$(jqb .message.id)
expect_jq .message.body "once again"
expect_true "a new id after the keyed message was deleted ($K1B > $K1)" test "${K1B:-0}" -gt "$K1"
req POST /api/messages "$(mbody "$I" "once again")" "$A_TOK" -H 'Idempotency-Key: key-1'
expect_status 200
expect_jq .message.id "$K1B"

# the same key with another conversation or body: 409, nothing stored (v2)
new_conv "$A_TOK" "idem 2" "[$B_ID]"
I2=$CONV_ID
count_all() {   # TOKEN -> CNT: the messages in I and I2 (where a refused reuse would have gone)
    req GET "/api/messages?conversation_id=$I&limit=200" "" "$1"
    CNT=$(jqb '.messages | length')
    req GET "/api/messages?conversation_id=$I2&limit=200" "" "$1"
    CNT=$((CNT + $(jqb '.messages | length')))
}
count_all "$A_TOK"
N_A=$CNT
req POST /api/messages "$(mbody "$I2" "once again")" "$A_TOK" -H 'Idempotency-Key: key-1'
expect_error 409 idempotency_key_reused
expect_no_header Location
req POST /api/messages "$(mbody "$I2" "other body")" "$A_TOK" -H 'Idempotency-Key: key-1'
expect_error 409 idempotency_key_reused
req POST /api/messages "$(mbody "$I" "once agai")" "$A_TOK" -H 'Idempotency-Key: key-1'
expect_error 409 idempotency_key_reused
req POST /api/messages "$(mbody "$CC" "once again")" "$A_TOK" -H 'Idempotency-Key: key-1'
expect_error 404 not_found                # not a member there: that answer comes first
count_all "$A_TOK"
expect_eq "nothing stored by the refused reuses" "$N_A" "$CNT"
req GET "/api/messages?conversation_id=$I2" "" "$A_TOK"
expect_jq '.messages | length' 0
# the issue's case: a member dropped from the key's conversation reuses the key elsewhere;
# before, the answer was 200 with a message of a conversation the caller no longer sees
req POST /api/messages "$(mbody "$I2" "bob's keyed")" "$B_TOK" -H 'Idempotency-Key: kb'
expect_status 201
KBB=$(jqb .message.id)
N_A=$((N_A + 1))   # (this one is stored)
req PUT "/api/conversations/$I2" "{\"member_ids\":[$A_ID]}" "$A_TOK"
expect_status 200
new_conv "$B_TOK" "bob's own" "[]"
BO=$CONV_ID
req POST /api/messages "$(mbody "$BO" "bob's keyed")" "$B_TOK" -H 'Idempotency-Key: kb'
expect_error 409 idempotency_key_reused
expect_true "the answer holds nothing of message $KBB" test "$(jqb '.message.id // 0')" == 0
req GET "/api/messages?conversation_id=$BO" "" "$B_TOK"
expect_jq '.messages | length' 0
# a retry after the message was edited still gets it (compared with the first request's body)
req PUT "/api/messages/$K1B" '{"body":"edited since"}' "$A_TOK"
expect_status 200
req POST /api/messages "$(mbody "$I" "once again")" "$A_TOK" -H 'Idempotency-Key: key-1'
expect_status 200
expect_jq '[.message.id, .message.body, .message.edited]' "[$K1B,\"edited since\",true]"
req POST /api/messages "$(mbody "$I" "edited since")" "$A_TOK" -H 'Idempotency-Key: key-1'
expect_error 409 idempotency_key_reused
# ... and the same after a restart (the keys are rebuilt from the log)
restart_server
req POST /api/messages "$(mbody "$I" "once again")" "$A_TOK" -H 'Idempotency-Key: key-1'
expect_status 200
expect_jq .message.id "$K1B"
req POST /api/messages "$(mbody "$I2" "once again")" "$A_TOK" -H 'Idempotency-Key: key-1'
expect_error 409 idempotency_key_reused
req POST /api/messages "$(mbody "$BO" "bob's keyed")" "$B_TOK" -H 'Idempotency-Key: kb'
expect_error 409 idempotency_key_reused
count_all "$A_TOK"
expect_eq "nothing stored by the refused reuses (after a restart)" "$N_A" "$CNT"
# keys are forgotten with their message: its conversation deleted ...
new_conv "$A_TOK" "doomed" "[]"
DOOM=$CONV_ID
req POST /api/messages "$(mbody "$DOOM" "doomed")" "$A_TOK" -H 'Idempotency-Key: key-d'
expect_status 201
req DELETE "/api/conversations/$DOOM" "" "$A_TOK"
expect_status 204
req POST /api/messages "$(mbody "$I2" "not doomed")" "$A_TOK" -H 'Idempotency-Key: key-d'
expect_status 201
expect_jq '[.message.conversation_id, .message.body]' "[$I2,\"not doomed\"]"
# ... or its author's account: whoever registers the name again is a new user with own keys
req DELETE "/api/users/$B_ID" "{\"password\":\"$PASSWORD\"}" "$B_TOK"
expect_status 204
new_user B2 bob
new_conv "$B2_TOK" "bob again" "[]"
req POST /api/messages "$(mbody "$CONV_ID" "bob's keyed")" "$B2_TOK" -H 'Idempotency-Key: kb'
expect_status 201
expect_jq .message.author_id "$B2_ID"

stop_server
