#!/usr/bin/env bash
# t_owner.sh — conversation ownership (contract: Conversations): owner_id is the creator at
# first; any member renames, adds members and leaves; only the owner drops others (403
# forbidden, nothing changed) and deletes; ownership passes to the first remaining member when
# the owner leaves or deletes their account; it survives a restart and shows in events; a log
# written before owner_id existed (tests/fixtures/v1) reads the creator as the owner.
source "$(dirname "$0")/lib.sh"

start_server
for u in A:alice B:bob C:carol D:dave E:erin F:frank G:gina H:hank; do new_user "${u%%:*}" "${u#*:}"; done

conv_get() {   # TOKEN ID -> BODY of GET /api/conversations/ID
    req GET "/api/conversations/$2" "" "$1"
}

# --- the creator owns it
req POST /api/conversations "{\"title\":\"team\",\"member_ids\":[$B_ID,$C_ID,$D_ID]}" "$A_TOK"
expect_status 201
expect_jq '.conversation | [.created_by, .owner_id]' "[$A_ID,$A_ID]"
T=$(jqb .conversation.id)
expect_jq '.conversation | keys_unsorted | index("owner_id") == (index("created_by") + 1)' true
req GET /api/conversations "" "$B_TOK"
expect_jq '.conversations[0].owner_id' "$A_ID"

# --- any member renames and adds members
req PUT "/api/conversations/$T" '{"title":"renamed by bob"}' "$B_TOK"
expect_status 200
expect_jq .conversation.owner_id "$A_ID"
req PUT "/api/conversations/$T" "{\"member_ids\":[$A_ID,$B_ID,$C_ID,$D_ID,$E_ID]}" "$B_TOK"
expect_status 200
expect_jq .conversation.member_ids "[$A_ID,$B_ID,$C_ID,$D_ID,$E_ID]"

# --- only the owner drops anyone else: 403 forbidden, and nothing of the request changes
req PUT "/api/conversations/$T" "{\"title\":\"coup\",\"member_ids\":[$B_ID,$C_ID,$D_ID,$E_ID]}" "$B_TOK"
expect_error 403 forbidden
req PUT "/api/conversations/$T" "{\"member_ids\":[$A_ID,$B_ID,$D_ID,$E_ID,$F_ID]}" "$B_TOK"   # drops C, adds F
expect_error 403 forbidden
conv_get "$A_TOK" "$T"
expect_jq '.conversation | [.title, .member_ids, .owner_id]' "[\"renamed by bob\",[$A_ID,$B_ID,$C_ID,$D_ID,$E_ID],$A_ID]"
# ... and deletes it
req DELETE "/api/conversations/$T" "" "$B_TOK"
expect_error 403 forbidden
conv_get "$B_TOK" "$T"
expect_status 200

# --- a member leaves (drops itself, and may add someone at the same time)
req PUT "/api/conversations/$T" "{\"member_ids\":[$A_ID,$C_ID,$D_ID,$E_ID,$F_ID]}" "$B_TOK"
expect_status 200
expect_jq '.conversation | [.member_ids, .owner_id]' "[[$A_ID,$C_ID,$D_ID,$E_ID,$F_ID],$A_ID]"
conv_get "$B_TOK" "$T"
expect_status 404
req DELETE "/api/conversations/$T" "" "$B_TOK"
expect_status 404

# --- the owner drops others
req PUT "/api/conversations/$T" "{\"member_ids\":[$A_ID,$E_ID,$C_ID,$D_ID]}" "$A_TOK"
expect_status 200
expect_jq '.conversation | [.member_ids, .owner_id]' "[[$A_ID,$E_ID,$C_ID,$D_ID],$A_ID]"

# --- the owner leaves: the first remaining member in the new list's order owns it
req PUT "/api/conversations/$T" "{\"member_ids\":[$E_ID,$C_ID,$D_ID]}" "$A_TOK"
expect_status 200
expect_jq '.conversation | [.member_ids, .owner_id, .created_by]' "[[$E_ID,$C_ID,$D_ID],$E_ID,$A_ID]"
req PUT "/api/conversations/$T" "{\"member_ids\":[$C_ID,$E_ID]}" "$C_TOK"   # the old order's first, no owner
expect_error 403 forbidden
req DELETE "/api/conversations/$T" "" "$C_TOK"
expect_error 403 forbidden
req PUT "/api/conversations/$T" "{\"member_ids\":[$E_ID,$C_ID]}" "$E_TOK"   # the new owner drops D
expect_status 200
expect_jq .conversation.owner_id "$E_ID"

# --- the owner deletes their account: the first remaining member owns it
req POST /api/conversations "{\"title\":\"fgh\",\"member_ids\":[$G_ID,$H_ID]}" "$F_TOK"
U=$(jqb .conversation.id)
req DELETE "/api/users/$F_ID" '{"password":"password123"}' "$F_TOK"
expect_status 204
conv_get "$H_TOK" "$U"
expect_jq '.conversation | [.member_ids, .owner_id, .created_by]' "[[$G_ID,$H_ID],$G_ID,$F_ID]"
req DELETE "/api/conversations/$U" "" "$H_TOK"
expect_error 403 forbidden
# a member that is not the owner deleting their account changes nothing of the owner
req POST /api/conversations "{\"title\":\"gh\",\"member_ids\":[$H_ID]}" "$G_TOK"
V=$(jqb .conversation.id)
req DELETE "/api/users/$H_ID" '{"password":"password123"}' "$H_TOK"
expect_status 204
conv_get "$G_TOK" "$V"
expect_jq '.conversation | [.member_ids, .owner_id]' "[[$G_ID],$G_ID]"

# --- the owner is stored, not derived: the creator added back at the front does not own it again
req POST /api/conversations "{\"title\":\"back\",\"member_ids\":[$C_ID,$D_ID]}" "$A_TOK"
W=$(jqb .conversation.id)
req PUT "/api/conversations/$W" "{\"member_ids\":[$C_ID,$D_ID]}" "$A_TOK"
expect_jq .conversation.owner_id "$C_ID"
req PUT "/api/conversations/$W" "{\"member_ids\":[$A_ID,$C_ID,$D_ID]}" "$D_TOK"   # a member adds A
expect_status 200
expect_jq '.conversation | [.member_ids, .owner_id, .created_by]' "[[$A_ID,$C_ID,$D_ID],$C_ID,$A_ID]"
req PUT "/api/conversations/$W" "{\"member_ids\":[$A_ID,$C_ID]}" "$A_TOK"
expect_error 403 forbidden
req PUT "/api/conversations/$W" '{"title":"back again"}' "$D_TOK"   # a later record by a non-owner
expect_jq .conversation.owner_id "$C_ID"

# --- errors come before the owner rule, and a non-member is 404 as ever
req PUT "/api/conversations/$W" '{"member_ids":[]}' "$D_TOK"
expect_error 400 validation_failed
req PUT "/api/conversations/$W" '{"member_ids":[999999]}' "$D_TOK"
expect_error 400 validation_failed
req PUT "/api/conversations/$W" "{\"member_ids\":[$B_ID]}" "$B_TOK"
expect_status 404
req DELETE "/api/conversations/$W" "" "$B_TOK"
expect_status 404

# --- events carry owner_id as of their change (live and replayed alike)
curl -sN --max-time 3 "$BASE/api/events?token=$E_TOK&last_event_id=0" >"$TMP_ROOT/sse.e" 2>/dev/null
owners=$(sed -n 's/^data: //p' "$TMP_ROOT/sse.e" | jq -sc "[.[] | select(.conversation.id == $T and .conversation.owner_id != null) | .conversation.owner_id] | unique")
expect_eq "conversation events of T name its owners, A then E" "[$A_ID,$E_ID]" "$owners"

# --- ownership survives a restart (the transfers too), and a compaction
check_owners() {   # WHEN
    conv_get "$E_TOK" "$T"
    expect_jq '.conversation | [.member_ids, .owner_id]' "[[$E_ID,$C_ID],$E_ID]"
    conv_get "$G_TOK" "$U"
    expect_jq '.conversation | [.member_ids, .owner_id]' "[[$G_ID],$G_ID]"
    conv_get "$A_TOK" "$W"
    expect_jq '.conversation | [.title, .member_ids, .owner_id]' "[\"back again\",[$A_ID,$C_ID,$D_ID],$C_ID]"
}
restart_server
check_owners
stop_server
D=$SERVER_DATA_DIR
S1=$(stat -c %s "$D/chatd.log")
compact_offline "$D"
S2=$(stat -c %s "$D/chatd.log")
expect_true "the compaction dropped the superseded records ($S1 -> $S2 bytes)" test "$S2" -lt "$S1"
DATA_DIR=$D start_server
check_owners
req DELETE "/api/conversations/$U" "" "$G_TOK"
expect_status 204
req DELETE "/api/conversations/$W" "" "$D_TOK"
expect_error 403 forbidden
req DELETE "/api/conversations/$W" "" "$C_TOK"
expect_status 204
req DELETE "/api/conversations/$T" "" "$E_TOK"
expect_status 204
stop_server

# --- a log written before owner_id existed: the creator owns its conversations
if start_v1_fixture; then
    req GET /api/conversations "" "$V1_TOKEN"
    expect_status 200
    expect_jq '[.conversations[] | (.owner_id | type) == "number" and .owner_id == .created_by] | (length > 0 and all)' true
    stop_server
fi
