#!/usr/bin/env bash
# Conversations: create, list (order), get, update (title, member_ids), delete.
. "$(dirname "$0")/lib.sh"
start_server

new_user A alice
new_user B bob
new_user C carol
new_user D dave

expect_conv_shape() {   # conversation object at .conversation
    expect_jq '.conversation | (.id|type) == "number" and .id > 0 and (.id|floor) == .id' true
    expect_jq '.conversation | (.title|type) == "string" and (.member_ids|type) == "array" and (.created_by|type) == "number"' true
    expect_jq '.conversation.member_ids | all(type == "number")' true
    expect_ts .conversation.created_at
    expect_ts .conversation.updated_at
    expect_jq '.conversation | has("last_message_id")' true
}
sorted() {   # JSON array of integers -> the same sorted, as jq -c prints it (bash: no process)
    local a i j t
    IFS=, read -ra a <<<"${1//[][ ]/}"
    for ((i = 1; i < ${#a[@]}; i++)); do
        for ((j = i; j > 0 && a[j - 1] > a[j]; j--)); do t=${a[j]} a[j]=${a[j - 1]} a[j - 1]=$t; done
    done
    local IFS=,
    echo "[${a[*]}]"
}
printf -v IDS1001 '%s,' {1..1001}
IDS1001=${IDS1001%,}   # 1,2,...,1001

# --- create ----------------------------------------------------------------------------------
req POST /api/conversations "{\"title\":\"Team\",\"member_ids\":[$B_ID]}" "$A_TOK"
expect_status 201
expect_header Content-Type "$JSON_CT_RE"
expect_conv_shape
expect_jq .conversation.title Team
expect_jq '.conversation.member_ids | sort' "$(sorted "[$A_ID,$B_ID]")"
expect_jq .conversation.created_by "$A_ID"
expect_jq .conversation.last_message_id null
C1=$(jqb .conversation.id)
C1_UPDATED=$(jqb .conversation.updated_at)

# title defaults to ""; listing the caller explicitly does not duplicate it
req POST /api/conversations "{\"member_ids\":[$A_ID,$B_ID,$B_ID]}" "$A_TOK"
expect_status 201
expect_jq .conversation.title ""
expect_jq '.conversation.member_ids | sort' "$(sorted "[$A_ID,$B_ID]")"
C2=$(jqb .conversation.id)
expect_true "conversation ids increase ($C1 < $C2)" test "$C1" -lt "$C2"

# only the caller
req POST /api/conversations '{"title":"solo","member_ids":[]}' "$A_TOK"
if [ "$STATUS" == 201 ]; then
    ok
    expect_jq .conversation.member_ids "[$A_ID]"
else
    expect_error 400 validation_failed     # an empty list may be refused as on PUT
fi

# title 0..128 characters
req POST /api/conversations "{\"title\":\"$(rep t 128)\",\"member_ids\":[$B_ID]}" "$A_TOK"
expect_status 201
expect_jq '.conversation.title | length' 128
req POST /api/conversations "{\"title\":\"$(rep é 128)\",\"member_ids\":[$B_ID]}" "$A_TOK"
expect_status 201
expect_jq .conversation.title "$(rep é 128)"
req POST /api/conversations "{\"title\":\"$(rep t 129)\",\"member_ids\":[$B_ID]}" "$A_TOK"
expect_error 400 validation_failed
req POST /api/conversations "{\"title\":\"$(rep é 129)\",\"member_ids\":[$B_ID]}" "$A_TOK"
expect_error 400 validation_failed

# validation
for b in "{\"title\":\"x\"}" '{"member_ids":5}' "{\"member_ids\":\"$B_ID\"}" '{"member_ids":null}' \
    '{"member_ids":{"a":1}}' "{\"member_ids\":[\"$B_ID\"]}" "{\"member_ids\":[$B_ID,\"x\"]}" \
    '{"member_ids":[1.5]}' '{"member_ids":[0]}' '{"member_ids":[-3]}' '{"member_ids":[999999]}' \
    "{\"member_ids\":[$B_ID,999999]}" "{\"member_ids\":[$((4294967296 + B_ID))]}" '{"member_ids":[null]}' "{\"title\":7,\"member_ids\":[$B_ID]}" \
    '[]' '"x"' '12'; do
    req POST /api/conversations "$b" "$A_TOK"
    expect_error 400 validation_failed
done
req POST /api/conversations '{"member_ids":[' "$A_TOK"
expect_error 400 invalid_json
req POST /api/conversations $'{"title":"\xff","member_ids":[]}' "$A_TOK"
expect_error 400 invalid_json
# more than 1000 members
req POST /api/conversations "{\"member_ids\":[$IDS1001]}" "$A_TOK"
expect_error 400 validation_failed
printf -v b "$B_ID,%.0s" {1..1001}
req POST /api/conversations "{\"member_ids\":[${b%,}]}" "$A_TOK"   # bob 1001 times
if [ "$STATUS" == 201 ]; then ok; expect_jq '.conversation.member_ids | length' 2; else expect_error 400 validation_failed; fi
# no token
req POST /api/conversations "{\"member_ids\":[$B_ID]}"
expect_error 401 ""

# --- get -------------------------------------------------------------------------------------
req GET "/api/conversations/$C1" "" "$B_TOK"
expect_status 200
expect_conv_shape
expect_jq .conversation.id "$C1"
expect_jq .conversation.title Team
expect_jq .conversation.created_by "$A_ID"
expect_jq 'keys' '["conversation"]'
req GET "/api/conversations/$C1" "" "$C_TOK"          # not a member
expect_error 404 ""
for bad in 999999 0 -1 abc 1.5 "${C1}x" $((4294967296 + C1)) "0$C1" "+$C1"; do
    req GET "/api/conversations/$bad" "" "$A_TOK"
    expect_error 404 ""
done
req GET "/api/conversations/$C1"
expect_error 401 ""

# --- list ------------------------------------------------------------------------------------
new_user L lister
new_conv "$L_TOK" first "[$B_ID]"
L1=$CONV_ID
new_conv "$L_TOK" second "[$C_ID]"
L2=$CONV_ID
new_conv "$L_TOK" third "[$C_ID]"
L3=$CONV_ID
new_conv "$B_TOK" "not lister's" "[$C_ID]"
OTHER=$CONV_ID
req GET /api/conversations "" "$L_TOK"
expect_status 200
expect_header Content-Type "$JSON_CT_RE"
expect_jq '[.conversations[].id]' "[$L3,$L2,$L1]"
expect_jq '.conversations | all(has("title") and has("member_ids") and has("created_by") and has("updated_at") and has("last_message_id"))' true
# sorted by updated_at desc, ties by id desc
ORDER_OK='[.conversations[] | [.updated_at, .id]] as $x | $x == ($x | sort | reverse)'
expect_jq "$ORDER_OK" true
# a new message moves the oldest conversation to the front
tick
post_msg "$B_TOK" "$L1" "bump"
M1=$MSG_ID
req GET /api/conversations "" "$L_TOK"
expect_jq '[.conversations[].id]' "[$L1,$L3,$L2]"
expect_jq "$ORDER_OK" true
expect_jq ".conversations[0].last_message_id" "$M1"
# a change (title) moves it too
tick
req PUT "/api/conversations/$L2" '{"title":"second, renamed"}' "$L_TOK"
expect_status 200
req GET /api/conversations "" "$L_TOK"
expect_jq '[.conversations[].id]' "[$L2,$L1,$L3]"
expect_jq "$ORDER_OK" true
# B sees only its own conversations
req GET /api/conversations "" "$B_TOK"
expect_jq "[.conversations[].id] | (index($L2), index($L3))" $'null\nnull'
expect_jq "[.conversations[].id] | (index($L1) != null) and (index($OTHER) != null) and (index($C1) != null)" true
req GET /api/conversations "" "$D_TOK"           # a user in no conversation
expect_status 200
expect_jq .conversations '[]'
req GET /api/conversations
expect_error 401 ""

# --- updated_at / last_message_id --------------------------------------------------------------
new_conv "$A_TOK" "timeline" "[$B_ID]"
T=$CONV_ID
T_CREATED=$(jqb .conversation.created_at)
T_UPDATED0=$(jqb .conversation.updated_at)
expect_eq "updated_at == created_at on creation" "$T_CREATED" "$T_UPDATED0"
tick
post_msg "$B_TOK" "$T" "one"
TM1=$MSG_ID
TM1_AT=$(jqb .message.created_at)
req GET "/api/conversations/$T" "" "$A_TOK"
expect_jq .conversation.last_message_id "$TM1"
T_UPDATED1=$(jqb .conversation.updated_at)
expect_true "updated_at moved on a new message ($T_UPDATED0 < $T_UPDATED1)" test "$T_UPDATED0" \< "$T_UPDATED1"
expect_true "updated_at >= the message's created_at" test ! "$T_UPDATED1" \< "$TM1_AT"
expect_jq .conversation.created_at "$T_CREATED"
tick
post_msg "$A_TOK" "$T" "two"
TM2=$MSG_ID
req GET "/api/conversations/$T" "" "$A_TOK"
expect_jq .conversation.last_message_id "$TM2"
T_UPDATED2=$(jqb .conversation.updated_at)
expect_true "updated_at moved again ($T_UPDATED1 < $T_UPDATED2)" test "$T_UPDATED1" \< "$T_UPDATED2"
tick
req PUT "/api/conversations/$T" '{"title":"timeline 2"}' "$B_TOK"
expect_status 200
expect_conv_shape
expect_jq .conversation.title "timeline 2"
expect_jq .conversation.last_message_id "$TM2"
expect_jq .conversation.created_by "$A_ID"
expect_jq .conversation.created_at "$T_CREATED"
T_UPDATED3=$(jqb .conversation.updated_at)
expect_true "updated_at moved on a title change ($T_UPDATED2 < $T_UPDATED3)" test "$T_UPDATED2" \< "$T_UPDATED3"
req GET "/api/conversations/$T" "" "$A_TOK"
expect_jq .conversation.title "timeline 2"
expect_jq .conversation.updated_at "$T_UPDATED3"

# --- update ----------------------------------------------------------------------------------
new_conv "$A_TOK" "upd" "[$B_ID]"
U=$CONV_ID
req PUT "/api/conversations/$U" "{\"title\":\"$(rep é 128)\"}" "$B_TOK"      # any member
expect_status 200
expect_jq .conversation.title "$(rep é 128)"
expect_jq '.conversation.member_ids | sort' "$(sorted "[$A_ID,$B_ID]")"
req PUT "/api/conversations/$U" '{"title":""}' "$B_TOK"
expect_status 200
expect_jq .conversation.title ""
req PUT "/api/conversations/$U" '{}' "$B_TOK"
expect_status 200
expect_jq .conversation.title ""
for b in "{\"title\":\"$(rep t 129)\"}" '{"title":5}' '{"member_ids":[]}' '{"member_ids":[999999]}' \
    '{"member_ids":"x"}' '{"member_ids":[0]}' "{\"member_ids\":[$A_ID,\"$B_ID\"]}" '[]' \
    "{\"member_ids\":[$IDS1001]}"; do
    req PUT "/api/conversations/$U" "$b" "$A_TOK"
    expect_error 400 validation_failed
done
req PUT "/api/conversations/$U" '{"title":' "$A_TOK"
expect_error 400 invalid_json
req GET "/api/conversations/$U" "" "$A_TOK"
expect_jq '.conversation.member_ids | sort' "$(sorted "[$A_ID,$B_ID]")"
expect_jq .conversation.title ""
req PUT "/api/conversations/$U" '{"title":"nope"}' "$C_TOK"       # non-member
expect_error 404 ""
req PUT "/api/conversations/999999" '{"title":"nope"}' "$A_TOK"
expect_error 404 ""
req PUT "/api/conversations/$U" '{"title":"nope"}'
expect_error 401 ""
# member_ids replaces the list
req PUT "/api/conversations/$U" "{\"member_ids\":[$A_ID,$B_ID,$C_ID]}" "$B_TOK"
expect_status 200
expect_jq '.conversation.member_ids | sort' "$(sorted "[$A_ID,$B_ID,$C_ID]")"
req GET "/api/conversations/$U" "" "$C_TOK"
expect_status 200
req PUT "/api/conversations/$U" "{\"member_ids\":[$A_ID,$B_ID]}" "$A_TOK"
expect_status 200
expect_jq '.conversation.member_ids | sort' "$(sorted "[$A_ID,$B_ID]")"
req GET "/api/conversations/$U" "" "$C_TOK"
expect_error 404 ""
# dropping the caller is allowed; afterwards the caller gets 404
req PUT "/api/conversations/$U" "{\"member_ids\":[$A_ID,$D_ID]}" "$B_TOK"
expect_status 200
expect_jq '.conversation.member_ids | sort' "$(sorted "[$A_ID,$D_ID]")"
req GET "/api/conversations/$U" "" "$B_TOK"
expect_error 404 ""
req PUT "/api/conversations/$U" '{"title":"back?"}' "$B_TOK"
expect_error 404 ""
req GET /api/conversations "" "$B_TOK"
expect_jq "[.conversations[].id] | index($U)" null
req GET "/api/conversations/$U" "" "$D_TOK"
expect_status 200
req GET /api/conversations "" "$D_TOK"
expect_jq "[.conversations[].id] | index($U) != null" true
# a removed member no longer sees the conversation's messages; an added one does
post_msg "$A_TOK" "$U" "after B left"
UM=$MSG_ID
req GET "/api/messages/$UM" "" "$B_TOK"
expect_error 404 ""
req GET "/api/messages?conversation_id=$U" "" "$B_TOK"
expect_error 404 ""
req GET /api/messages "" "$B_TOK"
expect_jq "[.messages[] | select(.conversation_id == $U)] | length" 0
req POST /api/messages "{\"conversation_id\":$U,\"body\":\"let me in\"}" "$B_TOK"
expect_error 404 ""
req GET "/api/messages/$UM" "" "$D_TOK"
expect_status 200
req GET /api/messages "" "$D_TOK"
expect_jq "[.messages[] | select(.conversation_id == $U) | .id]" "[$UM]"

# --- delete ----------------------------------------------------------------------------------
new_conv "$A_TOK" "doomed" "[$B_ID]"
X=$CONV_ID
post_msg "$B_TOK" "$X" "m1"
XM1=$MSG_ID
post_msg "$A_TOK" "$X" "m2"
XM2=$MSG_ID
req DELETE "/api/conversations/$X" "" "$B_TOK"          # member, not the creator
expect_error 403 ""
req GET "/api/conversations/$X" "" "$B_TOK"
expect_status 200
req DELETE "/api/conversations/$X" "" "$C_TOK"          # not a member
expect_error 404 ""
req DELETE "/api/conversations/$X"
expect_error 401 ""
req DELETE "/api/conversations/$X" "" "$A_TOK"
expect_status 204
expect_empty_body
req GET "/api/conversations/$X" "" "$A_TOK"
expect_error 404 ""
req GET "/api/conversations/$X" "" "$B_TOK"
expect_error 404 ""
req DELETE "/api/conversations/$X" "" "$A_TOK"
expect_error 404 ""
req PUT "/api/conversations/$X" '{"title":"zombie"}' "$A_TOK"
expect_error 404 ""
req GET "/api/messages/$XM1" "" "$B_TOK"
expect_error 404 ""
req GET "/api/messages/$XM2" "" "$A_TOK"
expect_error 404 ""
req GET "/api/messages?conversation_id=$X" "" "$A_TOK"
expect_error 404 ""
req GET /api/messages "" "$B_TOK"
expect_jq "[.messages[].id] | (index($XM1), index($XM2))" $'null\nnull'
req POST /api/messages "{\"conversation_id\":$X,\"body\":\"late\"}" "$B_TOK"
expect_error 404 ""
req GET /api/conversations "" "$A_TOK"
expect_jq "[.conversations[].id] | index($X)" null
# ids are never reused
new_conv "$A_TOK" "after delete" "[$B_ID]"
expect_true "new conversation id > deleted one ($CONV_ID > $X)" test "${CONV_ID:-0}" -gt "$X"

stop_server
