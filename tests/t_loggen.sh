#!/usr/bin/env bash
# scripts/loggen.c (the benchmarks' data generator) writes a data directory chatd takes as its
# own: 1,000 users and 10,000 messages over 10 conversations of 5 members; chatd --check passes
# on it, chatd starts on it with every record, user 1 logs in with loggen's password, lists its
# conversation, finds users by prefix, posts; the same seed gives the same bytes.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOGGEN=$TMP_ROOT/loggen
SRCS=()
for f in rec store cache crc32c buf crypto; do SRCS+=("$ROOT/src/$f.c"); done
LAST_REQ="cc scripts/loggen.c"
if ! ${CC:-cc} -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 -O1 -Wall -Wextra \
    -Werror -I"$ROOT/src" -o "$LOGGEN" "$ROOT/scripts/loggen.c" "${SRCS[@]}" 2>"$TMP_ROOT/cc.err"; then
    fail "loggen builds" "" "$(head -c 500 "$TMP_ROOT/cc.err")"
    exit 1
fi
ok

D=$TMP_ROOT/gen
OUT=$("$LOGGEN" "$D" --users 1000 --convs 10 --messages 10000 --members 5 2>&1); rc=$?
expect_eq "loggen exit status ($OUT)" 0 "$rc"
expect_match "loggen's summary line" 'users=1000 convs=10 messages=10000 records=11010 ' "$OUT"
U1=$(sed -n 's/.* user1=\([^ ]*\) .*/\1/p' <<<"$OUT")
PW=$(sed -n 's/.* password=\([^ ]*\)$/\1/p' <<<"$OUT")
expect_match "user 1's name: three letters and the id" '^[a-z]{3}0000001$' "$U1"

LAST_REQ="chatd --check $D"
OUT=$("$CHATD" --check "$D" 2>&1); rc=$?
expect_eq "chatd --check on loggen's dir ($OUT)" 0 "$rc"
expect_match "--check counts" '11010 records, last seq 11010, .*1000 users, 10 conversations, 10000 messages: ok' "$OUT"

# refusals: no --users, a bad number, a log already there (left as it was)
SUM=$(cksum <"$D/chatd.log")
for args in "$TMP_ROOT/x" "$TMP_ROOT/x --users 0" "$TMP_ROOT/x --users 5 --members 6" "$D --users 5"; do
    # shellcheck disable=SC2086
    "$LOGGEN" $args >/dev/null 2>&1; rc=$?
    expect_eq "loggen $args refused" 1 "$rc"
done
expect_eq "an existing log is not touched" "$SUM" "$(cksum <"$D/chatd.log")"
expect_true "no log left by a refused run" test ! -e "$TMP_ROOT/x/chatd.log"

DATA_DIR=$D start_server
expect_match "replayed every record" '11010 records replayed in .*\(1000 users, 10 conversations, 10000 messages\)' \
    "$(cat "$SERVER_LOG")"
req POST /api/users/login "{\"username\":\"$U1\",\"password\":\"$PW\"}"
expect_status 200
T=$(jqb .token)
expect_jq '.user.id' 1
req POST /api/users/login "{\"username\":\"$U1\",\"password\":\"wrong-password\"}"
expect_status 401

req GET /api/conversations "" "$T"
expect_status 200
expect_jq '[.conversations[].id]' '[1]'                     # members 1-5 of conversation 1
expect_jq '.conversations[0] | [.member_ids, .owner_id, .last_message.id]' '[[1,2,3,4,5],1,9991]'
req GET "/api/messages?conversation_id=1&limit=50" "" "$T"
expect_status 200
expect_jq '[(.messages | length), .messages[0].id, .messages[-1].id, (.messages[-1].body | length)]' '[50,9501,9991,100]'
expect_jq '.messages[-1].body | startswith("message 9991: ")' true
expect_jq '[.messages[].author_id] | unique' '[1,2,3,4,5]'
req GET "/api/messages?conversation_id=2&limit=1" "" "$T"
expect_status 404                                            # not a member of conversation 2

req GET "/api/users?q=${U1:0:3}" "" "$T"
expect_status 200
expect_jq "[.users[].username] | index(\"$U1\") != null" true
req GET "/api/users?q=${U1:0:1}&limit=50" "" "$T"
expect_jq "[(.users | length > 20), all(.users[]; .username | startswith(\"${U1:0:1}\"))]" '[true,true]'
req GET /api/users/1000 "" "$T"
expect_jq '.user.username | test("^[a-z]{3}0001000$")' true
expect_jq '.user.display_name | test("^[A-Z][a-z]+ [A-Z][a-z]+$")' true

req POST /api/messages '{"conversation_id":1,"body":"after loggen"}' "$T"
expect_status 201
expect_jq '.message.id' 10001
restart_server
req GET "/api/messages?conversation_id=1&limit=1" "" "$T"
expect_jq '[.messages[0].id, .messages[0].body]' '[10001,"after loggen"]'
stop_server
LAST_REQ="chatd --check $D"
OUT=$("$CHATD" --check "$D" 2>&1); rc=$?
expect_eq "chatd --check after chatd wrote to it ($OUT)" 0 "$rc"

# the same flags, seed and --time: the same bytes; another seed: other names
for g in g1 g2; do "$LOGGEN" "$TMP_ROOT/$g" --users 100 --messages 100 --time 1700000000000 >/dev/null; done
"$LOGGEN" "$TMP_ROOT/g3" --users 100 --messages 100 --time 1700000000000 --seed 2 >/dev/null
expect_true "same seed and time: same log" cmp "$TMP_ROOT/g1/chatd.log" "$TMP_ROOT/g2/chatd.log"
expect_eq "another seed: other names" differ "$(cmp -s "$TMP_ROOT/g1/chatd.log" "$TMP_ROOT/g3/chatd.log" || echo differ)"
