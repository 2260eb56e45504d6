#!/usr/bin/env bash
# t_direct.sh — direct (1:1) conversations (contract v2 Conversations, Objects): POST
# /api/conversations {"direct":true,"member_ids":[B]} is get-or-create for the pair (201 new,
# 200 the existing one from either side, never two, also when many ask in the same loop turn);
# direct:true, title "", member_ids [creator, other]; "direct":false on groups; exactly one id,
# not the caller's, an existing user, else 400; a PUT setting title or member_ids is 400 (before
# the owner rule); either member deletes it; when one deletes their account the other keeps it
# (a new account of the same name is another user: another pair). Pairs survive a restart and an
# offline --compact; a log from before the field (tests/fixtures/v1) reads every one as a group.
source "$(dirname "$0")/lib.sh"

start_server
for u in A:alice B:bob C:carol D:dave E:erin F:frank G:gina; do new_user "${u%%:*}" "${u#*:}"; done

direct() {   # TOKEN OTHER_ID -> STATUS BODY (and DID: the conversation id)
    req POST /api/conversations "{\"direct\":true,\"member_ids\":[$2]}" "$1"
    DID=$(jqb .conversation.id)
}
nconvs() { req GET /api/conversations "" "$1"; jqb '.conversations | length'; }

# --- create, then the same one from either side
direct "$A_TOK" "$B_ID"
expect_status 201
expect_jq '.conversation | [.direct, .title, .member_ids, .created_by, .owner_id, .last_message_id, .last_message]' \
    "[true,\"\",[$A_ID,$B_ID],$A_ID,$A_ID,null,null]"
expect_jq '.conversation | keys_unsorted | index("direct") == index("title") + 1' true
AB=$DID
direct "$A_TOK" "$B_ID"
expect_status 200
expect_jq '.conversation | [.id, .member_ids]' "[$AB,[$A_ID,$B_ID]]"
direct "$B_TOK" "$A_ID"
expect_status 200
expect_jq '.conversation | [.id, .direct, .member_ids, .created_by]' "[$AB,true,[$A_ID,$B_ID],$A_ID]"
req GET "/api/conversations/$AB" "" "$B_TOK"
expect_jq '.conversation.direct' true
# a title in the request is not used: a direct conversation has none
req POST /api/conversations "{\"direct\":true,\"title\":\"ours\",\"member_ids\":[$C_ID]}" "$A_TOK"
expect_status 201
expect_jq '.conversation | [.title, .direct, .member_ids]' "[\"\",true,[$A_ID,$C_ID]]"
AC=$(jqb .conversation.id)

# --- groups are direct:false, and a group of the same two is not their direct conversation
req POST /api/conversations "{\"title\":\"pair group\",\"member_ids\":[$D_ID]}" "$A_TOK"
expect_status 201
expect_jq .conversation.direct false
GAD=$(jqb .conversation.id)
for f in '"direct":false,' '"direct":null,'; do
    req POST /api/conversations "{$f\"member_ids\":[$D_ID]}" "$A_TOK"
    expect_status 201
    expect_jq '.conversation | [.direct, (.id != '"$GAD"')]' '[false,true]'
done
direct "$D_TOK" "$A_ID"
expect_status 201
expect_jq '.conversation | [.direct, .member_ids, (.id != '"$GAD"')]' "[true,[$D_ID,$A_ID],true]"
AD=$DID
req GET /api/conversations "" "$A_TOK"
expect_jq "[.conversations[] | select(.direct) | .id] | sort" "$(jq -nc "[$AB,$AC,$AD] | sort")"
expect_jq '[.conversations[] | .direct | type] | unique' '["boolean"]'

# --- errors: 400 validation_failed, nothing created
n_before=$(nconvs "$A_TOK")
for body in "{\"direct\":true,\"member_ids\":[]}" "{\"direct\":true,\"member_ids\":[$A_ID]}" \
    "{\"direct\":true,\"member_ids\":[$B_ID,$C_ID]}" "{\"direct\":true,\"member_ids\":[$B_ID,$B_ID]}" \
    "{\"direct\":true,\"member_ids\":[$A_ID,$B_ID]}" "{\"direct\":true,\"member_ids\":[999999]}" \
    "{\"direct\":true,\"member_ids\":[0]}" "{\"direct\":true,\"member_ids\":[\"$B_ID\"]}" \
    "{\"direct\":true}" "{\"direct\":true,\"member_ids\":$B_ID}" "{\"direct\":true,\"member_ids\":null}" \
    "{\"direct\":\"yes\",\"member_ids\":[$B_ID]}" "{\"direct\":1,\"member_ids\":[$B_ID]}" \
    "{\"direct\":[true],\"member_ids\":[$B_ID]}" "{\"direct\":{},\"member_ids\":[$B_ID]}" \
    "{\"direct\":true,\"title\":5,\"member_ids\":[$B_ID]}"; do
    req POST /api/conversations "$body" "$A_TOK"
    expect_error 400 validation_failed
done
expect_eq "no conversation was created by the bad requests" "$n_before" "$(nconvs "$A_TOK")"
req POST /api/conversations "{\"direct\":true,\"member_ids\":[$B_ID]}" ""
expect_status 401

# --- title and members never change: 400, also for the non-creator, before the owner rule
for body in '{"title":"x"}' '{"title":""}' "{\"member_ids\":[$A_ID,$B_ID]}" "{\"member_ids\":[$A_ID]}" \
    "{\"member_ids\":[$B_ID]}" "{\"member_ids\":[$A_ID,$B_ID,$C_ID]}" "{\"title\":\"x\",\"member_ids\":[$A_ID,$B_ID]}" \
    '{"member_ids":[]}'; do
    for tok in "$A_TOK" "$B_TOK"; do
        req PUT "/api/conversations/$AB" "$body" "$tok"
        expect_error 400 validation_failed
    done
done
req PUT "/api/conversations/$AB" '{}' "$B_TOK"   # nothing set: 200, unchanged
expect_status 200
expect_jq '.conversation | [.title, .member_ids, .direct]' "[\"\",[$A_ID,$B_ID],true]"
req PUT "/api/conversations/$AB" '{"title":null,"member_ids":null}' "$A_TOK"
expect_status 200
req PUT "/api/conversations/$AB" '{"title":"x"}' "$C_TOK"   # not a member: 404 as ever
expect_status 404
req DELETE "/api/conversations/$AB" "" "$C_TOK"
expect_status 404
req GET "/api/conversations/$AB" "" "$A_TOK"
expect_jq '.conversation | [.title, .member_ids]' "[\"\",[$A_ID,$B_ID]]"

# --- messages as anywhere, then either member deletes it; a later create makes a new one
post_msg "$B_TOK" "$AB" "hi alice"
M1=$MSG_ID
direct "$A_TOK" "$B_ID"
expect_status 200
expect_jq '.conversation | [.id, .last_message.id]' "[$AB,$M1]"
req DELETE "/api/conversations/$AB" "" "$B_TOK"   # B is not the creator (owner)
expect_status 204
req GET "/api/conversations/$AB" "" "$A_TOK"
expect_status 404
direct "$B_TOK" "$A_ID"
expect_status 201
expect_jq '.conversation | [.member_ids, .created_by, .owner_id, .last_message_id]' "[[$B_ID,$A_ID],$B_ID,$B_ID,null]"
AB2=$DID
expect_true "a new conversation after the delete ($AB2 > $AB)" test "$AB2" -gt "$AB"
direct "$A_TOK" "$B_ID"
expect_status 200
expect_jq .conversation.id "$AB2"
req DELETE "/api/conversations/$AC" "" "$A_TOK"   # the creator may, too
expect_status 204

# --- events: direct in conversation.created (live and replayed), even after the delete
curl -sN --max-time 3 "$BASE/api/events?token=$B_TOK&last_event_id=0" >"$TMP_ROOT/sse" 2>/dev/null
got=$(sed -n 's/^data: //p' "$TMP_ROOT/sse" | jq -sc "[.[] | select(.type == \"conversation.created\")
    | [.conversation.id, .conversation.direct, .conversation.title]]")
expect_eq "conversation.created events of bob's direct conversations" "[[$AB,true,\"\"],[$AB2,true,\"\"]]" "$got"

# --- account deletion: the other keeps it (as its owner when the creator went)
direct "$E_TOK" "$F_ID"
expect_status 201
EF=$DID
direct "$G_TOK" "$E_ID"
expect_status 201
GE=$DID
req DELETE "/api/users/$E_ID" "{\"password\":\"$PASSWORD\"}" "$E_TOK"
expect_status 204
req GET "/api/conversations/$EF" "" "$F_TOK"
expect_status 200
expect_jq '.conversation | [.direct, .member_ids, .owner_id, .created_by, .title]' "[true,[$F_ID],$F_ID,$E_ID,\"\"]"
req GET "/api/conversations/$GE" "" "$G_TOK"
expect_jq '.conversation | [.direct, .member_ids, .owner_id]' "[true,[$G_ID],$G_ID]"
post_msg "$F_TOK" "$EF" "still here"
req PUT "/api/conversations/$EF" "{\"member_ids\":[$F_ID,$A_ID]}" "$F_TOK"
expect_error 400 validation_failed
direct "$F_TOK" "$E_ID"   # the deleted user is no user
expect_error 400 validation_failed
# the name registered again is another user: another pair, a new conversation
new_user E2 erin
direct "$F_TOK" "$E2_ID"
expect_status 201
expect_jq '.conversation | [.member_ids, (.id != '"$EF"')]' "[[$F_ID,$E2_ID],true]"
FE2=$DID
req DELETE "/api/conversations/$GE" "" "$G_TOK"
expect_status 204

# --- the same moment: 24 requests of both sides on their own connections, sent at once
race() {   # TOKEN_X X_ID TOKEN_Y Y_ID -> RACE: JSON list of [status, conversation id]
    RACE=$("$PYTHON" - "$PORT" "$1" "$2" "$3" "$4" <<'PY'
import json, socket, sys, threading
port, tx, x, ty, y = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
def request(tok, other):
    body = json.dumps({"direct": True, "member_ids": [int(other)]}).encode()
    return (b"POST /api/conversations HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + tok.encode() +
            b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
socks = []
for i in range(24):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    socks.append((s, request(tx, y) if i % 2 == 0 else request(ty, x)))
go = threading.Barrier(len(socks))
out = [None] * len(socks)
def run(i):
    s, data = socks[i]
    go.wait()
    s.sendall(data)
    got = b""
    while True:
        c = s.recv(65536)
        if not c: break
        got += c
    head, _, body = got.partition(b"\r\n\r\n")
    out[i] = [int(head.split()[1]), json.loads(body)["conversation"]["id"]]
ts = [threading.Thread(target=run, args=(i,)) for i in range(len(socks))]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps(out))
PY
)
}
race "$C_TOK" "$C_ID" "$D_TOK" "$D_ID"
expect_jq_in() { expect_eq "$1" "$2" "$(jq -c "$3" <<<"$RACE")"; }
expect_jq_in "24 answers, one 201 and 23 of 200" '[24,1,23]' \
    '[length, ([.[] | select(.[0] == 201)] | length), ([.[] | select(.[0] == 200)] | length)]'
expect_jq_in "all name the same conversation" 1 '[.[][1]] | unique | length'
CD=$(jq '.[0][1]' <<<"$RACE")
req GET /api/conversations "" "$C_TOK"
expect_jq "[.conversations[] | select(.direct and (.member_ids | index($D_ID)))] | length" 1
expect_jq "[.conversations[] | select(.direct) | .id]" "[$CD]"
# ... and after a delete, the race again: again exactly one
req DELETE "/api/conversations/$CD" "" "$D_TOK"
expect_status 204
race "$D_TOK" "$D_ID" "$C_TOK" "$C_ID"
expect_jq_in "again: one 201 and 23 of 200" '[1,23]' \
    '[([.[] | select(.[0] == 201)] | length), ([.[] | select(.[0] == 200)] | length)]'
expect_jq_in "again: one conversation" 1 '[.[][1]] | unique | length'
CD2=$(jq '.[0][1]' <<<"$RACE")
expect_true "a new one ($CD2 > $CD)" test "$CD2" -gt "$CD"

# --- restart and offline compaction: every pair found again, nothing doubled
check_pairs() {
    direct "$A_TOK" "$B_ID"
    expect_status 200
    expect_jq '.conversation | [.id, .direct, .member_ids, .title]' "[$AB2,true,[$B_ID,$A_ID],\"\"]"
    direct "$A_TOK" "$D_ID"
    expect_status 200
    expect_jq '.conversation | [.id, .member_ids]' "[$AD,[$D_ID,$A_ID]]"
    direct "$C_TOK" "$D_ID"
    expect_status 200
    expect_jq .conversation.id "$CD2"
    direct "$F_TOK" "$E2_ID"
    expect_status 200
    expect_jq .conversation.id "$FE2"
    req GET "/api/conversations/$EF" "" "$F_TOK"
    expect_jq '.conversation | [.direct, .member_ids]' "[true,[$F_ID]]"
    req GET "/api/conversations/$GAD" "" "$A_TOK"
    expect_jq .conversation.direct false
    req PUT "/api/conversations/$AD" '{"title":"x"}' "$A_TOK"
    expect_error 400 validation_failed
    direct "$A_TOK" "$C_ID"   # deleted before: a new one
    expect_status 201
    req DELETE "/api/conversations/$DID" "" "$C_TOK"
    expect_status 204
}
restart_server
check_pairs
stop_server
D=$SERVER_DATA_DIR
compact_offline "$D"
DATA_DIR=$D start_server
check_pairs
stop_server

# --- a log from before the field: every conversation is a group
if start_v1_fixture; then
    req GET /api/conversations "" "$V1_TOKEN"
    expect_status 200
    expect_jq '[.conversations[] | .direct == false] | (length > 0 and all)' true
    stop_server
fi
