#!/usr/bin/env bash
# Users: register, login (+ throttling), logout, GET/PUT/DELETE /api/users/:id, auth errors.
. "$(dirname "$0")/lib.sh"
start_server

# user object shape: id (positive int), username, display_name, created_at; nothing secret
expect_user_shape() {   # JQ_PATH_TO_USER
    expect_jq "$1 | (.id|type) == \"number\" and .id > 0 and (.id|floor) == .id" true
    expect_jq "$1 | (.username|type), (.display_name|type)" $'string\nstring'
    expect_ts "$1.created_at"
    expect_jq "[$1 | keys[] | select(test(\"pass|hash|salt|token|secret\"; \"i\"))] | length" 0
}
expect_no_secret() {   # the response body does not contain the password
    if [[ $BODY == *"$PASSWORD"* || $BODY == *"${1:-$PASSWORD}"* ]]; then
        fail "response contains the password" "(no password)" "$BODY"
    else ok; fi
}

# --- register ------------------------------------------------------------------------------
req POST /api/users/register '{"username":"alice","password":"password123","display_name":"Alice A."}'
expect_status 201
expect_header Content-Type "$JSON_CT_RE"
expect_user_shape .user
expect_jq .user.username alice
expect_jq .user.display_name "Alice A."
expect_jq '.token | type == "string" and length >= 16' true
expect_no_secret
ALICE_ID=$(jqb .user.id)
ALICE_TOK=$(jqb .token)

# display_name defaults to the username
req POST /api/users/register '{"username":"bob_1.x-Y","password":"password123"}'
expect_status 201
expect_jq .user.display_name "bob_1.x-Y"
expect_jq .user.username "bob_1.x-Y"
expect_user_shape .user
expect_no_secret
BOB_ID=$(jqb .user.id)
BOB_TOK=$(jqb .token)
expect_true "ids increase ($ALICE_ID < $BOB_ID)" test "$ALICE_ID" -lt "$BOB_ID"
expect_true "tokens differ between users" test "$ALICE_TOK" != "$BOB_TOK"

# unknown fields are ignored
req POST /api/users/register '{"username":"carol","password":"password123","favourite":{"x":[1,2]},"id":999999}'
expect_status 201
expect_jq '.user.id != 999999' true
CAROL_ID=$(jqb .user.id)
CAROL_TOK=$(jqb .token)

# a JSON body is parsed whatever Content-Type says (curl -d sends form-urlencoded)
req POST /api/users/register '' '' --data-binary '{"username":"formtype","password":"password123"}' -H 'Content-Type: application/x-www-form-urlencoded'
expect_status 201

# --- register: validation ------------------------------------------------------------------
reg_status() {   # EXPECTED_STATUS USERNAME_JSON PASSWORD_JSON [DISPLAY_NAME_JSON]
    local b
    if [ $# -ge 4 ]; then b="{\"username\":$2,\"password\":$3,\"display_name\":$4}"
    else b="{\"username\":$2,\"password\":$3}"; fi
    req POST /api/users/register "$b"
    if [ "$1" == 201 ]; then expect_status 201; else expect_error 400 validation_failed; fi
}
js() {   # STRING -> a JSON string literal, as jq -nc --arg s STRING '$s' prints it (jq for other controls)
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"} s=${s//$'\t'/\\t} s=${s//$'\n'/\\n} s=${s//$'\r'/\\r}
    if [[ $s == *[[:cntrl:]]* ]]; then jq -nc --arg s "$1" '$s'; return; fi
    printf '"%s"\n' "$s"
}

# username length 3..32
reg_status 400 "$(js ab)" '"password123"'
reg_status 201 "$(js abc)" '"password123"'
reg_status 201 "$(js "$(rep x 32)")" '"password123"'
reg_status 400 "$(js "$(rep y 33)")" '"password123"'
reg_status 400 '""' '"password123"'
# username characters [A-Za-z0-9_.-]
for bad in 'has space' 'excl!' 'sl/ash' 'at@sign' 'plus+' 'üñí' 'tab	x' 'semi;colon' 'quote"d'; do
    reg_status 400 "$(js "$bad")" '"password123"'
done
reg_status 201 "$(js 'A.b_C-9')" '"password123"'
# password 8..256 bytes (bytes, not characters)
reg_status 400 "$(js pw7)" "$(js 1234567)"
reg_status 201 "$(js pw8)" "$(js 12345678)"
reg_status 201 "$(js pw256)" "$(js "$(rep p 256)")"
reg_status 400 "$(js pw257)" "$(js "$(rep p 257)")"
reg_status 201 "$(js pwmb8)" "$(js 'éééé')"                   # 4 chars, 8 bytes
reg_status 400 "$(js pwmb7)" "$(js 'ééé1')"                   # 4 chars, 7 bytes
reg_status 201 "$(js pwmb256)" "$(js "$(rep é 128)")"         # 128 chars, 256 bytes
reg_status 400 "$(js pwmb258)" "$(js "$(rep é 129)")"         # 129 chars, 258 bytes
# display_name 1..64 characters (characters, not bytes)
reg_status 400 "$(js dn0)" '"password123"' '""'
reg_status 201 "$(js dn1)" '"password123"' '"D"'
reg_status 201 "$(js dn64)" '"password123"' "$(js "$(rep d 64)")"
reg_status 400 "$(js dn65)" '"password123"' "$(js "$(rep d 65)")"
reg_status 201 "$(js dnmb64)" '"password123"' "$(js "$(rep é 64)")"     # 64 chars, 128 bytes
expect_jq .user.display_name "$(rep é 64)"
reg_status 201 "$(js dneu64)" '"password123"' "$(js "$(rep € 64)")"     # 64 chars, 192 bytes
reg_status 400 "$(js dnmb65)" '"password123"' "$(js "$(rep é 65)")"
reg_status 201 "$(js dnesc)" '"password123"' '"\u00e9t\u00e9 \ud83d\ude00"'
expect_jq .user.display_name "été 😀"
# wrong types
reg_status 400 123 '"password123"'
reg_status 400 '"numpw"' 12345678
reg_status 400 '"dnnum"' '"password123"' 5
reg_status 400 '["arr"]' '"password123"'
reg_status 400 '"pwobj"' '{"p":"password123"}'
reg_status 400 'true' '"password123"'
reg_status 400 null '"password123"'
# missing fields, body not an object
for b in '{"password":"password123"}' '{"username":"nopw"}' '{}' '[]' '"str"' '42' 'null' '[{"username":"x","password":"password123"}]'; do
    req POST /api/users/register "$b"
    expect_error 400 validation_failed
done
# invalid JSON text (RFC 8259), invalid UTF-8 included
for b in '{' '{"username":"abc","password":"password123"' "{'username':'abc'}" '{"username":"abc",}' \
    '{"username":"abc","password":"password123"} x' '{"a":01}' '{"a":.5}' 'nul' '{"a":"\x"}' '{"a":NaN}' \
    $'{"username":"tab\there","password":"password123"}' \
    $'{"username":"ab\xffcd","password":"password123"}' \
    $'{"username":"abcd","password":"pass\xc3word123"}' \
    $'{"username":"abcd","password":"\xc0\xafpassword123"}' \
    $'{"username":"abcd","password":"\xed\xa0\x80password123"}' \
    $'{"username":"abcd","password":"\xf4\x90\x80\x80password123"}' \
    '/* c */ {"username":"abcd","password":"password123"}'; do
    req POST /api/users/register "$b"
    expect_error 400 invalid_json
done
req POST /api/users/register '' '' -H 'Content-Type: application/json'   # no body at all
expect_error 400 invalid_json
# a lone escaped surrogate: not representable as UTF-8; any 400 will do
req POST /api/users/register '{"username":"surr","password":"password123","display_name":"\ud800"}'
expect_status 400

# absurdly deep nesting is refused (not a crash)
req POST /api/users/register "{\"username\":\"deep\",\"password\":\"password123\",\"x\":$(rep "[" 20000)$(rep "]" 20000)}"
expect_status 400
expect_error_shape
req POST /api/users/register "$(rep '[' 60000)"
expect_error 400 invalid_json
req POST /api/users/login '{"username":"pw256","password":"'"$(rep p 256)"'"}'
expect_status 200
req POST /api/users/login '{"username":"pwmb256","password":"'"$(rep é 128)"'"}'
expect_status 200
req POST /api/users/login '{"username":"pwmb8","password":"\u00e9\u00e9\u00e9\u00e9"}'   # same password, escaped
expect_status 200

# username taken, ignoring case
req POST /api/users/register '{"username":"ALICE","password":"password123"}'
expect_error 409 username_taken
req POST /api/users/register '{"username":"alice","password":"otherpass1"}'
expect_error 409 username_taken
req POST /api/users/register '{"username":"Bob_1.X-y","password":"password123"}'
expect_error 409 username_taken

# --- login ---------------------------------------------------------------------------------
req POST /api/users/login '{"username":"alice","password":"password123"}'
expect_status 200
expect_header Content-Type "$JSON_CT_RE"
expect_user_shape .user
expect_jq .user.id "$ALICE_ID"
expect_jq .user.username alice
expect_jq .user.display_name "Alice A."
expect_jq '.token | type == "string" and length >= 16' true
expect_no_secret
ALICE_TOK2=$(jqb .token)
expect_true "a login issues a new token" test "$ALICE_TOK2" != "$ALICE_TOK"
req POST /api/users/login '{"username":"ALiCe","password":"password123"}'
expect_status 200
expect_jq .user.id "$ALICE_ID"
expect_jq .user.username alice
ALICE_TOK3=$(jqb .token)
req POST /api/users/login '{"username":"alice","password":"wrongpass1"}'
expect_error 401 ""
req POST /api/users/login '{"username":"nosuchuser","password":"password123"}'
expect_error 401 ""
req POST /api/users/login '{"username":"alice","password":"PASSWORD123"}'
expect_error 401 ""
req POST /api/users/login '{"username":"alice"}'
expect_error 400 validation_failed
req POST /api/users/login '{"username":"alice","password":12345678}'
expect_error 400 validation_failed
req POST /api/users/login '[]'
expect_error 400 validation_failed
req POST /api/users/login '{"username":"alice",'
expect_error 400 invalid_json

# --- throttling: 10 failures within a minute → 429 with Retry-After --------------------------
new_user T throttled
for i in $(seq 1 10); do
    req POST /api/users/login '{"username":"throttled","password":"wrongpass1"}'
    expect_status 401
done
req POST /api/users/login '{"username":"throttled","password":"wrongpass1"}'
expect_error 429 ""
expect_header Retry-After '^[0-9]+$'
ra=$(hdr Retry-After)
expect_true "Retry-After in 1..60 (got '$ra')" test "${ra:-0}" -ge 1 -a "${ra:-0}" -le 60
req POST /api/users/login '{"username":"throttled","password":"password123"}'
expect_error 429 ""
expect_header Retry-After '^[0-9]+$'
req POST /api/users/login '{"username":"THROTTLED","password":"password123"}'   # same user, other case
expect_status 429
req POST /api/users/login '{"username":"alice","password":"password123"}'       # others unaffected
expect_status 200
# the throttled user's existing token still works (throttling is about logins only)
req GET "/api/users/$T_ID" "" "$T_TOK"
expect_status 200

# --- auth errors -----------------------------------------------------------------------------
req GET "/api/users/$ALICE_ID"
expect_error 401 ""
req GET "/api/users/$ALICE_ID" "" "not-a-real-token"
expect_error 401 ""
req GET "/api/users/$ALICE_ID" "" "" -H "Authorization: Basic $ALICE_TOK"
expect_error 401 ""
req GET "/api/users/$ALICE_ID" "" "" -H "Authorization: Bearer"
expect_error 401 ""
req GET "/api/users/$ALICE_ID" "" "" -H "Authorization: Bearer ${ALICE_TOK}x"
expect_error 401 ""
req GET "/api/users/$ALICE_ID" "" "" -H "Authorization: bearer $ALICE_TOK"   # scheme is case-insensitive (RFC 9110 11.1)
expect_status 200
req POST /api/users/logout
expect_error 401 ""
req PUT "/api/users/$ALICE_ID" '{"display_name":"x"}'
expect_error 401 ""
req DELETE "/api/users/$ALICE_ID"
expect_error 401 ""

# --- GET /api/users/:id ----------------------------------------------------------------------
req GET "/api/users/$BOB_ID" "" "$ALICE_TOK"
expect_status 200
expect_header Content-Type "$JSON_CT_RE"
expect_user_shape .user
expect_jq .user.id "$BOB_ID"
expect_jq .user.username "bob_1.x-Y"
expect_jq 'keys' '["user"]'
req GET "/api/users/$ALICE_ID" "" "$ALICE_TOK"
expect_status 200
expect_jq .user.username alice
for bad in 999999 0 abc -1 1.5 "$ALICE_ID.0" "${ALICE_ID}x" 99999999999999999999999 $((4294967296 + ALICE_ID)) "0$ALICE_ID" "+$ALICE_ID"; do
    req GET "/api/users/$bad" "" "$ALICE_TOK"
    expect_error 404 ""
done

# --- logout ----------------------------------------------------------------------------------
req POST /api/users/logout "" "$ALICE_TOK3"
expect_status 204
expect_empty_body
req GET "/api/users/$ALICE_ID" "" "$ALICE_TOK3"
expect_error 401 ""
req POST /api/users/logout "" "$ALICE_TOK3"
expect_error 401 ""
req GET "/api/users/$ALICE_ID" "" "$ALICE_TOK2"    # other tokens of the same user unaffected
expect_status 200
req GET "/api/users/$ALICE_ID" "" "$ALICE_TOK"
expect_status 200

# --- PUT /api/users/:id ----------------------------------------------------------------------
req PUT "/api/users/$ALICE_ID" '{"display_name":"Alice Renamed"}' "$ALICE_TOK"
expect_status 200
expect_user_shape .user
expect_jq .user.display_name "Alice Renamed"
expect_jq .user.username alice
expect_jq .user.id "$ALICE_ID"
req GET "/api/users/$ALICE_ID" "" "$BOB_TOK"
expect_jq .user.display_name "Alice Renamed"
req PUT "/api/users/$ALICE_ID" "{\"display_name\":\"$(rep € 64)\"}" "$ALICE_TOK"
expect_status 200
expect_jq .user.display_name "$(rep € 64)"
req PUT "/api/users/$ALICE_ID" '{}' "$ALICE_TOK"
expect_status 200
expect_jq .user.display_name "$(rep € 64)"
for b in '{"display_name":""}' "{\"display_name\":\"$(rep d 65)\"}" '{"display_name":7}' \
    '{"password":"short"}' "{\"password\":\"$(rep p 257)\"}" '{"password":12345678}' '[]' '"x"'; do
    req PUT "/api/users/$ALICE_ID" "$b" "$ALICE_TOK"
    expect_error 400 validation_failed
done
req PUT "/api/users/$ALICE_ID" '{"display_name":' "$ALICE_TOK"
expect_error 400 invalid_json
req GET "/api/users/$ALICE_ID" "" "$BOB_TOK"
expect_jq .user.display_name "$(rep € 64)"
# someone else → 403
req PUT "/api/users/$ALICE_ID" '{"display_name":"Hacked"}' "$BOB_TOK"
expect_error 403 ""
req PUT "/api/users/$ALICE_ID" '{"password":"hackedpass1"}' "$BOB_TOK"
expect_error 403 ""
req GET "/api/users/$ALICE_ID" "" "$BOB_TOK"
expect_jq .user.display_name "$(rep € 64)"
req POST /api/users/login '{"username":"alice","password":"password123"}'
expect_status 200

# password change: revokes the other tokens, the token used keeps working
req POST /api/users/login '{"username":"alice","password":"password123"}'
ALICE_TOK4=$(jqb .token)
req PUT "/api/users/$ALICE_ID" '{"password":"newpassword1","current_password":"password123","display_name":"Alice Again"}' "$ALICE_TOK"
expect_status 200
expect_jq .user.display_name "Alice Again"
expect_no_secret newpassword1
req GET "/api/users/$ALICE_ID" "" "$ALICE_TOK"
expect_status 200
req GET "/api/users/$ALICE_ID" "" "$ALICE_TOK2"
expect_error 401 ""
req GET "/api/users/$ALICE_ID" "" "$ALICE_TOK4"
expect_error 401 ""
req POST /api/users/login '{"username":"alice","password":"password123"}'
expect_error 401 ""
req POST /api/users/login '{"username":"alice","password":"newpassword1"}'
expect_status 200
expect_jq .user.id "$ALICE_ID"
req GET "/api/users/$ALICE_ID" "" "$(jqb .token)"
expect_status 200
req GET "/api/users/$BOB_ID" "" "$BOB_TOK"        # other users' tokens untouched
expect_status 200

# --- DELETE /api/users/:id -------------------------------------------------------------------
new_user D dave
new_user E erin
new_conv "$E_TOK" "erin's room" "[$D_ID,$BOB_ID]"
C_ERIN=$CONV_ID
new_conv "$D_TOK" "dave's room" "[$E_ID]"
C_DAVE=$CONV_ID
post_msg "$D_TOK" "$C_ERIN" "dave was here"
M_DAVE=$MSG_ID
post_msg "$D_TOK" "$C_DAVE" "dave again"
M_DAVE2=$MSG_ID
req POST /api/users/login '{"username":"dave","password":"password123"}'
D_TOK2=$(jqb .token)

req DELETE "/api/users/$D_ID" '{"password":"password123"}' "$E_TOK"   # someone else → 403
expect_error 403 ""
req GET "/api/users/$D_ID" "" "$E_TOK"
expect_status 200

req DELETE "/api/users/$D_ID" '{"password":"password123"}' "$D_TOK"
expect_status 204
expect_empty_body
req GET "/api/users/$D_ID" "" "$E_TOK"
expect_error 404 ""
req GET "/api/users/$E_ID" "" "$D_TOK"
expect_error 401 ""
req GET "/api/users/$E_ID" "" "$D_TOK2"
expect_error 401 ""
req POST /api/users/login '{"username":"dave","password":"password123"}'
expect_error 401 ""
# left every conversation; the conversations and the messages stay
req GET "/api/conversations/$C_ERIN" "" "$E_TOK"
expect_status 200
expect_jq ".conversation.member_ids | index($D_ID)" null
if ((E_ID < BOB_ID)); then want="[$E_ID,$BOB_ID]"; else want="[$BOB_ID,$E_ID]"; fi
expect_jq ".conversation.member_ids | sort" "$want"
req GET "/api/conversations/$C_DAVE" "" "$E_TOK"
expect_status 200
expect_jq ".conversation.member_ids" "[$E_ID]"
req GET "/api/messages/$M_DAVE" "" "$E_TOK"
expect_status 200
expect_jq .message.author_id "$D_ID"
expect_jq .message.body "dave was here"
req GET "/api/messages/$M_DAVE2" "" "$E_TOK"
expect_status 200
expect_jq .message.author_id "$D_ID"
req GET "/api/messages?conversation_id=$C_ERIN" "" "$BOB_TOK"
expect_jq "[.messages[] | select(.author_id == $D_ID) | .id]" "[$M_DAVE]"
# a deleted user is an unknown member id
req POST /api/conversations "{\"member_ids\":[$D_ID]}" "$E_TOK"
expect_error 400 validation_failed
# the username is free again, as a new user with a new id
req POST /api/users/register '{"username":"Dave","password":"password456"}'
expect_status 201
NEW_D_ID=$(jqb .user.id)
NEW_D_TOK=$(jqb .token)
expect_true "re-registered user gets a new, larger id ($NEW_D_ID > $D_ID)" test "${NEW_D_ID:-0}" -gt "$D_ID"
req GET "/api/users/$D_ID" "" "$E_TOK"
expect_error 404 ""
req GET "/api/conversations/$C_ERIN" "" "$NEW_D_TOK"     # the new user is not the old member
expect_error 404 ""

# one keep-alive connection presenting tokens in turn: a token logged out on it stops
# working at once on it too (the connection remembers the last token's hash), another works
req POST /api/users/register '{"username":"keepalive","password":"password789"}'
K_TOK=$(jqb .token)
K_ID=$(jqb .user.id)
req POST /api/users/login '{"username":"keepalive","password":"password789"}'
K_TOK2=$(jqb .token)
G=$'GET /api/users/'"$K_ID"$' HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer '
E=$'\r\n\r\n'
OUT=$'POST /api/users/logout HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nAuthorization: Bearer '
raw_send "$G$K_TOK$E$G$K_TOK$E$OUT$K_TOK$E$G$K_TOK$E$G$K_TOK2$E$G$K_TOK$E" -n 6
expect_eq "same connection: token, token, logout, logged-out token, other token, logged-out token" \
    "200,200,204,401,200,401" "$(raw_statuses)"

stop_server
