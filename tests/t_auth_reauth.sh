#!/usr/bin/env bash
# Re-authentication (contract: Users): a password change needs current_password, an account
# deletion needs password; missing -> 400 validation_failed, wrong -> 403 wrong_password, which
# counts as a failed login for the throttle; while the user is throttled, login, PUT with a
# password and DELETE are all 429. When the hashing queue is full they are 503 busy.
. "$(dirname "$0")/lib.sh"
AL=$(cd "$(dirname "$0")" && pwd)/auth_load.py
start_server
new_user A alice
new_user B bob
req POST /api/users/login '{"username":"alice","password":"password123"}'
A_TOK2=$(jqb .token)

# --- password change ---------------------------------------------------------------------------
req PUT "/api/users/$A_ID" '{"password":"newpassword1"}' "$A_TOK"
expect_error 400 validation_failed
for b in '{"password":"newpassword1","current_password":""}' '{"password":"newpassword1","current_password":7}' \
    '{"password":"newpassword1","current_password":null}'; do
    req PUT "/api/users/$A_ID" "$b" "$A_TOK"
    expect_error 400 validation_failed
done
req PUT "/api/users/$A_ID" '{"password":"newpassword1","current_password":"wrongpass1"}' "$A_TOK"
expect_error 403 wrong_password
req PUT "/api/users/$A_ID" '{"password":"newpassword1","current_password":"wrongpass1","display_name":"X"}' "$A_TOK"
expect_error 403 wrong_password
req GET "/api/users/$A_ID" "" "$A_TOK2"
expect_status 200
expect_jq .user.display_name alice           # nothing changed
req POST /api/users/login '{"username":"alice","password":"password123"}'
expect_status 200                            # the old password still works; the failures clear
# someone else's account: 403 forbidden before any password check
req PUT "/api/users/$A_ID" '{"password":"newpassword1","current_password":"password123"}' "$B_TOK"
expect_error 403 forbidden
# the display name alone needs no password
req PUT "/api/users/$A_ID" '{"display_name":"Alice"}' "$A_TOK"
expect_status 200
expect_jq .user.display_name Alice
req PUT "/api/users/$A_ID" '{"password":"newpassword1","current_password":"password123","display_name":"Al"}' "$A_TOK"
expect_status 200
expect_jq .user.display_name Al
req GET "/api/users/$A_ID" "" "$A_TOK2"      # other tokens revoked, the request's kept
expect_error 401 ""
req GET "/api/users/$A_ID" "" "$A_TOK"
expect_status 200
req POST /api/users/login '{"username":"alice","password":"password123"}'
expect_error 401 ""
req POST /api/users/login '{"username":"alice","password":"newpassword1"}'
expect_status 200

# --- account deletion --------------------------------------------------------------------------
new_user D dave
req DELETE "/api/users/$D_ID" "" "$D_TOK"                        # no body
expect_error 400 validation_failed
for b in '{}' '{"password":""}' '{"password":5}' '[]'; do
    req DELETE "/api/users/$D_ID" "$b" "$D_TOK"
    expect_error 400 validation_failed
done
req DELETE "/api/users/$D_ID" '{"password":"wrongpass1"}' "$D_TOK"
expect_error 403 wrong_password
req GET "/api/users/$D_ID" "" "$D_TOK"
expect_status 200                                                 # still there
req DELETE "/api/users/$D_ID" '{"password":"password123"}' "$B_TOK"
expect_error 403 forbidden
req DELETE "/api/users/$D_ID" '{"password":"password123"}' "$D_TOK"
expect_status 204
req GET "/api/users/$D_ID" "" "$B_TOK"
expect_error 404 ""

# --- wrong passwords count for the throttle, and the throttle covers PUT and DELETE -------------
new_user T tom
for i in $(seq 1 5); do
    req PUT "/api/users/$T_ID" '{"password":"newpassword1","current_password":"wrongpass1"}' "$T_TOK"
    expect_error 403 wrong_password
done
for i in $(seq 1 5); do
    req DELETE "/api/users/$T_ID" '{"password":"wrongpass1"}' "$T_TOK"
    expect_error 403 wrong_password
done
req POST /api/users/login '{"username":"tom","password":"password123"}'
expect_error 429 ""
expect_header Retry-After '^[0-9]+$'
req PUT "/api/users/$T_ID" '{"password":"newpassword1","current_password":"password123"}' "$T_TOK"
expect_error 429 ""
expect_header Retry-After '^[0-9]+$'
req DELETE "/api/users/$T_ID" '{"password":"password123"}' "$T_TOK"
expect_error 429 ""
req PUT "/api/users/$T_ID" '{"display_name":"Tom"}' "$T_TOK"       # no password: not throttled
expect_status 200
req GET "/api/users/$T_ID" "" "$T_TOK"
expect_status 200
# and failed logins throttle PUT and DELETE
new_user U uma
for i in $(seq 1 10); do
    req POST /api/users/login '{"username":"UMA","password":"wrongpass1"}'
    expect_status 401
done
req PUT "/api/users/$U_ID" '{"password":"newpassword1","current_password":"password123"}' "$U_TOK"
expect_error 429 ""
req DELETE "/api/users/$U_ID" '{"password":"password123"}' "$U_TOK"
expect_error 429 ""
# concurrent wrong deletions count when submitted: 10 x 403, the rest 429
new_user W wes
B=$("$PYTHON" - "$PORT" "$W_ID" "$W_TOK" <<'PYEOF'
import json, socket, sys
port, uid, tok = int(sys.argv[1]), sys.argv[2], sys.argv[3]
body = b'{"password":"wrongpass1"}'
req = ("DELETE /api/users/%s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
       % (uid, tok, len(body))).encode() + body
socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(15)]
for s in socks: s.sendall(req)
print(json.dumps(sorted(int(s.recv(65536).split(b" ")[1]) for s in socks), separators=(",", ":")))
PYEOF
)
expect_eq "15 concurrent wrong deletions" "[403,403,403,403,403,403,403,403,403,403,429,429,429,429,429]" "$B"
stop_server

# --- a full hashing queue: PUT with a password and DELETE are 503 busy --------------------------
# One hash holds the queue for ~2.5 s (what 2,000,000 iterations take with the -O2 build here),
# scaled from pat's registration at 100,000 iterations: a fixed count took 5 x longer under ASan,
# and the hash being made when the server stops is finished first.
start_server --pbkdf2-iters 100000
t0=$EPOCHREALTIME
new_user P pat
us=$((${EPOCHREALTIME/./} - ${t0/./}))
iters=$((100000 * 2500000 / (us > 1 ? us : 1)))
((iters < 500000)) && iters=500000
((iters > 10000000)) && iters=10000000
note "a registration at 100,000 iterations took $us us: $iters iterations for ~2.5 s"
D=$SERVER_DATA_DIR
stop_server
DATA_DIR=$D start_server --hash-queue 4 --pbkdf2-iters "$iters"
"$PYTHON" "$AL" queue "$PORT" "open x1 127.0.0.8; sleep 0.5; open x2 127.0.0.9; open x3 127.0.0.10;
    open x4 127.0.0.11; open x5 127.0.0.12; sleep 0.3; mark $TMP_ROOT/filled; sleep 10" >/dev/null &
EXTRA_PIDS=$!
for i in $(seq 100); do [ -e "$TMP_ROOT/filled" ] && break; sleep 0.1; done
req PUT "/api/users/$P_ID" '{"password":"newpassword1","current_password":"password123"}' "$P_TOK"
expect_error 503 busy
expect_header Retry-After '^[1-9][0-9]*$'
req DELETE "/api/users/$P_ID" '{"password":"password123"}' "$P_TOK"
expect_error 503 busy
req PUT "/api/users/$P_ID" '{"display_name":"Pat"}' "$P_TOK"     # needs no hash: served
expect_status 200
kill "$EXTRA_PIDS" 2>/dev/null
wait "$EXTRA_PIDS" 2>/dev/null
EXTRA_PIDS=
stop_server
