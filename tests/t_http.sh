#!/usr/bin/env bash
# HTTP layer: HEAD, Date, Content-Type, 204, 404/405, keep-alive, pipelining, chunked bodies,
# Expect: 100-continue, HTTP/1.0, Host rules, absolute form, limits (413/414/431), smuggling,
# malformed requests (400/505), which errors close the connection and which do not.
. "$(dirname "$0")/lib.sh"
start_server --max-response 4194304   # the big response read slowly below is 1.3 MB

new_user A alice
new_user B bob
new_conv "$A_TOK" "http" "[$B_ID]"
C=$CONV_ID
post_msg "$A_TOK" "$C" "first"
M=$MSG_ID
CRLF=$'\r\n'
AUTH="Authorization: Bearer $A_TOK"
H="Host: 127.0.0.1:$PORT"
expect_date() { expect_header Date "$DATE_RE"; }
# the raw response was a JSON error
expect_raw_error() {   # STATUS
    raw_pick 0
    expect_status "$1"
    expect_error_shape
    expect_date
}

# --- HEAD works wherever GET does ---------------------------------------------------------------
for p in /healthz /metrics "/api/users/$A_ID" /api/conversations "/api/conversations/$C" \
    "/api/messages?conversation_id=$C" "/api/messages/$M" /api/messages /api/users/999999 \
    /api/conversations/999999 /api/does-not-exist; do
    req GET "$p" "" "$A_TOK"
    gs=$STATUS gct=$(hdr Content-Type) gcl=$(hdr Content-Length)
    req HEAD "$p" "" "$A_TOK"
    expect_status "$gs"
    expect_eq "HEAD $p Content-Type same as GET" "$gct" "$(hdr Content-Type)"
    expect_date
    if has_hdr Content-Length && [ "$p" != /metrics ]; then
        expect_eq "HEAD $p Content-Length same as GET" "$gcl" "$(hdr Content-Length)"
    fi
done
req HEAD "/api/users/$A_ID"
expect_status 401
# no body after a HEAD response: the next response on the connection follows at once
raw_send "HEAD /api/users/$A_ID HTTP/1.1$CRLF$H$CRLF$AUTH$CRLF${CRLF}HEAD /healthz HTTP/1.1$CRLF$H$CRLF${CRLF}GET /healthz HTTP/1.1$CRLF$H${CRLF}Connection: close$CRLF$CRLF" --methods HEAD,HEAD,GET
expect_raw_statuses 200,200,200
expect_eq "nothing left after the responses" "" "$(jq -r .rest <<<"$RAW")"
raw_pick 2
expect_jq .status ok

# --- Date, Content-Type, 204 -------------------------------------------------------------------
req GET /healthz
expect_status 200
expect_date
expect_header Content-Type "$JSON_CT_RE"
expect_jq .status ok
req POST /api/users/register '{"username":"dated","password":"password123"}'
expect_status 201
expect_date
DATED_TOK=$(jqb .token)
req POST /api/users/register '{'
expect_status 400
expect_date
req GET /api/conversations
expect_status 401
expect_date
expect_header Content-Type "$JSON_CT_RE"
req POST /api/users/logout "" "$DATED_TOK"
expect_status 204
expect_date
expect_empty_body
expect_no_header Content-Length        # RFC 9110 8.6: not in a 204
expect_no_header Content-Type
req DELETE "/api/messages/$M" "" "$A_TOK"
expect_status 204
expect_empty_body

# --- 404 / 405 ---------------------------------------------------------------------------------
req GET /api/does-not-exist "" "$A_TOK"
expect_error 404 ""
expect_date
req GET /api/conversations/1/extra "" "$A_TOK"
expect_error 404 ""
req POST /api/users/nope/more "" "$A_TOK"
expect_status 404
expect_allow() {   # METHODS_PRESENT... -- METHODS_ABSENT...
    local allow m absent=0
    allow=$(hdr Allow)
    if ! has_hdr Allow; then fail "405 has an Allow header" "Allow: ..." "(absent)"; return; fi
    for m in "$@"; do
        if [ "$m" == -- ]; then absent=1; continue; fi
        local present=0
        [[ ",${allow// /}," == *",$m,"* ]] && present=1
        if ((present != absent)); then ok
        elif ((absent)); then fail "Allow lacks $m" "no $m" "$allow"
        else fail "Allow has $m" "$m" "$allow"; fi
    done
}
req DELETE /api/conversations "" "$A_TOK"
expect_error 405 ""
expect_date
expect_allow GET POST -- DELETE PUT
req PATCH "/api/users/$A_ID" '{"display_name":"x"}' "$A_TOK"
expect_error 405 ""
expect_allow GET PUT DELETE -- POST PATCH
req POST /healthz
expect_error 405 ""
expect_allow GET -- POST
req GET /api/users/register
expect_error 405 ""
expect_allow POST -- GET
req PUT /api/messages '{}' "$A_TOK"
expect_error 405 ""
expect_allow GET POST -- PUT
req POST "/api/messages/1" '{}' "$A_TOK"
expect_error 405 ""
expect_allow GET PUT DELETE -- POST
req POST /api/users '{}' "$A_TOK"                 # the user search: GET only
expect_error 405 ""
expect_allow GET -- POST PUT DELETE

# --- keep-alive --------------------------------------------------------------------------------
conns=$(curl -s -o /dev/null -o /dev/null -o /dev/null -w '%{http_code}:%{num_connects} ' \
    "$BASE/healthz" "$BASE/api/does-not-exist" "$BASE/healthz")
expect_eq "three requests on one connection (status:new-connections)" "200:1 404:0 200:0 " "$conns"
conns=$(curl -s -o /dev/null -o /dev/null -w '%{http_code}:%{num_connects} ' \
    -H "$AUTH" -d '{' "$BASE/api/users/register" --next -s -o /dev/null -w '%{http_code}:%{num_connects} ' "$BASE/healthz")
expect_eq "invalid_json keeps the connection (status:new-connections)" "400:1 200:0 " "$conns"

# --- pipelining --------------------------------------------------------------------------------
raw_send "GET /healthz HTTP/1.1$CRLF$H$CRLF${CRLF}GET /api/users/$A_ID HTTP/1.1$CRLF$H$CRLF$AUTH$CRLF${CRLF}GET /api/nope HTTP/1.1$CRLF$H$CRLF$AUTH${CRLF}Connection: close$CRLF$CRLF"
expect_raw_statuses 200,200,404
expect_raw_closed
raw_pick 0; expect_jq .status ok
raw_pick 1; expect_jq .user.id "$A_ID"
raw_pick 2; expect_error_shape
b1=$(mbody "$C" "piped one")
b2=$(mbody "$C" "piped two")
raw_send "POST /api/messages HTTP/1.1$CRLF$H$CRLF$AUTH${CRLF}Content-Length: ${#b1}$CRLF$CRLF${b1}POST /api/messages HTTP/1.1$CRLF$H$CRLF$AUTH${CRLF}Content-Length: ${#b2}$CRLF$CRLF${b2}GET /api/messages?conversation_id=$C HTTP/1.1$CRLF$H$CRLF$AUTH${CRLF}Connection: close$CRLF$CRLF"
expect_raw_statuses 201,201,200
raw_pick 0; P1=$(jqb .message.id); expect_jq .message.body "piped one"
raw_pick 1; P2=$(jqb .message.id); expect_jq .message.body "piped two"
expect_true "pipelined writes in order ($P1 < $P2)" test "${P1:-0}" -lt "${P2:-0}"
raw_pick 2; expect_jq '[.messages[].body][-2:]' '["piped one","piped two"]'
# API-level errors keep the connection open
raw_send "POST /api/users/register HTTP/1.1$CRLF$H${CRLF}Content-Length: 1$CRLF$CRLF{GET /api/nope HTTP/1.1$CRLF$H$CRLF$AUTH$CRLF${CRLF}GET /api/conversations HTTP/1.1$CRLF$H$CRLF${CRLF}DELETE /api/conversations HTTP/1.1$CRLF$H$CRLF$AUTH$CRLF${CRLF}POST /api/users/register HTTP/1.1$CRLF$H${CRLF}Content-Length: 2$CRLF$CRLF[]GET /healthz HTTP/1.1$CRLF$H${CRLF}Connection: close$CRLF$CRLF"
expect_raw_statuses 400,404,401,405,400,200
raw_pick 0; expect_error_code invalid_json
raw_pick 4; expect_error_code validation_failed
# a request sent in small pieces
b3=$(mbody "$C" "trickled")
raw_send "POST /api/messages HTTP/1.1$CRLF$H$CRLF$AUTH${CRLF}Content-Length: ${#b3}${CRLF}Connection: close$CRLF$CRLF$b3" --pieces 3
expect_raw_statuses 201
raw_pick 0; expect_jq .message.body trickled
# Connection: close is honoured
raw_send "GET /healthz HTTP/1.1$CRLF$H${CRLF}Connection: close$CRLF$CRLF"
expect_raw_statuses 200
expect_raw_closed

# --- chunked request bodies --------------------------------------------------------------------
req POST /api/messages "$(mbody "$C" "chunked via curl")" "$A_TOK" -H 'Transfer-Encoding: chunked'
expect_status 201
expect_jq .message.body "chunked via curl"
b=$(mbody "$C" "in three chunks")
c1=${b:0:5} c2=${b:5:10} c3=${b:15}
raw_send "POST /api/messages HTTP/1.1$CRLF$H$CRLF$AUTH${CRLF}Transfer-Encoding: chunked${CRLF}Connection: close$CRLF$CRLF$(printf %x ${#c1})$CRLF$c1$CRLF$(printf %X ${#c2})$CRLF$c2$CRLF$(printf %x ${#c3})$CRLF$c3${CRLF}0$CRLF$CRLF"
expect_raw_statuses 201
raw_pick 0; expect_jq .message.body "in three chunks"
b=$(mbody "$C" "chunk ext and trailer")
raw_send "POST /api/messages HTTP/1.1$CRLF$H$CRLF$AUTH${CRLF}Transfer-Encoding: chunked${CRLF}Connection: close$CRLF$CRLF$(printf %x ${#b});name=value$CRLF$b${CRLF}0${CRLF}X-Trailer: yes$CRLF$CRLF"
expect_raw_statuses 201
raw_pick 0; expect_jq .message.body "chunk ext and trailer"
b=$(mbody "$C" "chunked then pipelined")
raw_send "POST /api/messages HTTP/1.1$CRLF$H$CRLF$AUTH${CRLF}Transfer-Encoding: chunked$CRLF$CRLF$(printf %x ${#b})$CRLF$b${CRLF}0$CRLF${CRLF}GET /healthz HTTP/1.1$CRLF$H${CRLF}Connection: close$CRLF$CRLF"
expect_raw_statuses 201,200
raw_send "POST /api/messages HTTP/1.1$CRLF$H$CRLF$AUTH${CRLF}Transfer-Encoding: chunked$CRLF${CRLF}zz$CRLF{}${CRLF}0$CRLF$CRLF"
expect_raw_statuses 400
expect_raw_closed

# --- Expect: 100-continue ----------------------------------------------------------------------
printf '%s' "$(mbody "$C" "expecting")" >"$TMP_ROOT/expect-body"
LAST_REQ="POST /api/messages with Expect: 100-continue"
STATUS=$(curl -s -g --max-time 20 -D "$TMP_ROOT/h" -o "$TMP_ROOT/b" -w '%{http_code}' -H "$AUTH" \
    -H 'Content-Type: application/json' -H 'Expect: 100-continue' --expect100-timeout 10 \
    --data-binary "@$TMP_ROOT/expect-body" "$BASE/api/messages")
BODY=$(<"$TMP_ROOT/b")
expect_status 201
expect_jq .message.body expecting
expect_true "a '100 Continue' came before the final response" grep -q '^HTTP/1.1 100' "$TMP_ROOT/h"

# --- HTTP/1.0 ----------------------------------------------------------------------------------
req GET /healthz "" "" --http1.0
expect_status 200
expect_jq .status ok
req POST /api/messages "$(mbody "$C" "from 1.0")" "$A_TOK" --http1.0
expect_status 201
raw_send "GET /healthz HTTP/1.0$CRLF$CRLF"
expect_raw_statuses 200
expect_raw_closed
raw_send "GET /healthz HTTP/1.0${CRLF}Connection: keep-alive$CRLF${CRLF}GET /healthz HTTP/1.0$CRLF$CRLF"
expect_raw_statuses 200,200
expect_raw_closed

# --- Host, absolute form -----------------------------------------------------------------------
raw_send "GET /healthz HTTP/1.1$CRLF${CRLF}GET /healthz HTTP/1.1$CRLF$H$CRLF$CRLF"
expect_raw_statuses 400
expect_raw_closed
expect_raw_error 400
raw_send "GET /healthz HTTP/1.1$CRLF${H}${CRLF}Host: other$CRLF${CRLF}GET /healthz HTTP/1.1$CRLF$H$CRLF$CRLF"
expect_raw_statuses 400
expect_raw_closed
req GET / "" "" --request-target "http://127.0.0.1:$PORT/healthz"
expect_status 200
expect_jq .status ok
req GET / "" "$A_TOK" --request-target "http://127.0.0.1:$PORT/api/users/$A_ID"
expect_status 200
expect_jq .user.id "$A_ID"
raw_send "GET http://127.0.0.1:$PORT/api/conversations/$C HTTP/1.1$CRLF$H$CRLF$AUTH${CRLF}Connection: close$CRLF$CRLF"
expect_raw_statuses 200
raw_pick 0; expect_jq .conversation.id "$C"

# --- size limits -------------------------------------------------------------------------------
# body: 65536 bytes is fine (unknown fields are ignored), 65537 is 413
pre='{"username":"padded","password":"password123","pad":"'
pad=$((65536 - ${#pre} - 2))
req POST /api/users/register "$pre$(rep x $pad)\"}"
expect_status 201
expect_jq .user.username padded
head="POST /api/users/register HTTP/1.1$CRLF$H${CRLF}Content-Type: application/json${CRLF}Content-Length: 65537$CRLF$CRLF"
raw_send "$head" --progressive 65537
expect_raw_statuses 413
expect_raw_closed
expect_raw_error 413
raw_send "POST /api/messages HTTP/1.1$CRLF$H$CRLF$AUTH${CRLF}Transfer-Encoding: chunked$CRLF$CRLF" --progressive 73728 --chunked
expect_raw_statuses 413
expect_raw_closed
req POST /api/users/login '{"username":"padded","password":"password123"}'
expect_status 200
# request target: 8192 bytes fine, 8193 is 414
t="/healthz?p="
raw_send "GET $t$(rep a $((8192 - ${#t}))) HTTP/1.1$CRLF$H${CRLF}Connection: close$CRLF$CRLF"
expect_raw_statuses 200
raw_send "GET $t$(rep a $((8193 - ${#t}))) HTTP/1.1$CRLF$H$CRLF${CRLF}GET /healthz HTTP/1.1$CRLF$H$CRLF$CRLF"
expect_raw_statuses 414
expect_raw_closed
expect_raw_error 414
req GET "/api/users/$A_ID?x=$(rep b 9000)" "" "$A_TOK"
expect_status 414
# head: 16384 bytes in all (request line + headers + blank line) is fine; over 16 KiB is 431
l1="GET /healthz HTTP/1.1$CRLF$H${CRLF}Connection: close${CRLF}X-Pad: "
raw_send "$l1$(rep p $((16384 - ${#l1} - 4)))$CRLF$CRLF"
expect_raw_statuses 200
raw_send "GET /healthz HTTP/1.1$CRLF$H${CRLF}X-Pad: $(rep p 16400)$CRLF${CRLF}GET /healthz HTTP/1.1$CRLF$H$CRLF$CRLF"
expect_raw_statuses 431
expect_raw_closed
expect_raw_error 431
many=""
v24=$(rep v 24)
for ((i = 1; i <= 600; i++)); do many+="X-H$i: $v24$CRLF"; done
raw_send "GET /healthz HTTP/1.1$CRLF$H$CRLF$many$CRLF"
expect_raw_statuses 431
expect_raw_closed
req GET /healthz "" "" -H "X-Big: $(rep q 17000)"
expect_status 431

# --- smuggling and malformed requests: 400, closed, nothing after it answered --------------------
smuggled="GET /api/users/$A_ID HTTP/1.1$CRLF$H$CRLF$AUTH$CRLF$CRLF"
raw_send "POST /api/users/login HTTP/1.1$CRLF$H${CRLF}Content-Length: 5${CRLF}Transfer-Encoding: chunked$CRLF${CRLF}0$CRLF$CRLF$smuggled"
expect_raw_statuses 400
expect_raw_closed
expect_raw_error 400
raw_send "POST /api/users/login HTTP/1.1$CRLF$H${CRLF}Transfer-Encoding: chunked${CRLF}Content-Length: ${#smuggled}$CRLF${CRLF}0$CRLF$CRLF$smuggled"
expect_raw_statuses 400
expect_raw_closed
raw_send "POST /api/users/login HTTP/1.1$CRLF$H${CRLF}Content-Length: 2${CRLF}Content-Length: 3$CRLF$CRLF{}x$smuggled"
expect_raw_statuses 400
expect_raw_closed
raw_send "POST /api/users/login HTTP/1.1$CRLF$H${CRLF}Content-Length: abc$CRLF$CRLF$smuggled"
expect_raw_statuses 400
expect_raw_closed
raw_send "POST /api/users/login HTTP/1.1$CRLF$H${CRLF}Content-Length: -1$CRLF$CRLF$smuggled"
expect_raw_statuses 400
expect_raw_closed
raw_send "POST /api/users/login HTTP/1.1$CRLF$H${CRLF}Transfer-Encoding: gzip, chunked$CRLF${CRLF}0$CRLF$CRLF$smuggled"
st=$(raw_statuses)
expect_match "unsupported transfer coding rejected, one response (400/501)" '^(400|501)$' "$st"
expect_raw_closed
# obs-fold
raw_send "GET /healthz HTTP/1.1$CRLF$H${CRLF}X-Folded: a$CRLF  b$CRLF$CRLF$smuggled"
expect_raw_statuses 400
expect_raw_closed
expect_raw_error 400
# whitespace between field name and colon
raw_send "GET /healthz HTTP/1.1$CRLF$H${CRLF}X-Space : v$CRLF$CRLF$smuggled"
expect_raw_statuses 400
expect_raw_closed
raw_send "GET /healthz HTTP/1.1$CRLF$H${CRLF}Transfer-Encoding : chunked$CRLF$CRLF$smuggled"
expect_raw_statuses 400
expect_raw_closed
# unsupported versions
raw_send "GET /healthz HTTP/2.0$CRLF$H$CRLF$CRLF$smuggled"
expect_raw_statuses 505
expect_raw_closed
expect_raw_error 505
raw_send "GET /healthz HTTP/3.0$CRLF$H$CRLF$CRLF"
expect_raw_statuses 505
expect_raw_closed
# garbage
raw_send $'\x01\x02\x03\x7f garbage \xff\xfe'"$CRLF$CRLF$smuggled"
expect_raw_statuses 400
expect_raw_closed
expect_raw_error 400
raw_send "HELLO$CRLF$CRLF$smuggled"
expect_raw_statuses 400
expect_raw_closed
raw_send "GET /healthz$CRLF$H$CRLF$CRLF$smuggled"
expect_raw_statuses 400
expect_raw_closed
raw_send "GET /healthz HTTP/1.1$CRLF$H${CRLF}No colon here$CRLF$CRLF$smuggled"
expect_raw_statuses 400
expect_raw_closed
raw_send "GET /healthz HTTP/1.1$CRLF$H${CRLF}Bad"$'\x01'"Name: x$CRLF$CRLF$smuggled"
expect_raw_statuses 400
expect_raw_closed

# --- clients that hang up mid-request, or reset the connection ----------------------------------
raw_abort "GET /healthz HTTP/1.1$CRLF$H${CRLF}X-Partial: "
raw_abort "POST /api/messages HTTP/1.1$CRLF$H$CRLF$AUTH${CRLF}Content-Length: 100$CRLF$CRLF{\"conversation_id\":"
raw_abort "POST /api/messages HTTP/1.1$CRLF$H$CRLF$AUTH${CRLF}Transfer-Encoding: chunked$CRLF${CRLF}10${CRLF}abc"
raw_abort "GET /api/messages?conversation_id=$C HTTP/1.1$CRLF$H$CRLF$AUTH$CRLF$CRLF" rst
raw_abort "POST /api/messages HTTP/1.1$CRLF$H$CRLF$AUTH${CRLF}Content-Length: 100$CRLF$CRLF{" rst
raw_abort "GET /healthz HTTP/1.1$CRLF$H$CRLF${CRLF}GET /healthz HTTP/1.1$CRLF$H$CRLF$CRLF" rst
raw_abort ""
req GET /healthz
expect_status 200

# --- many clients at once ---------------------------------------------------------------------------
# (8 threads of one python process, each posting 10 times, a new connection each time as a curl
# process would: 80 curl processes cost ~2.5 s of CPU, the server's part a few ms)
LAST_REQ="8 parallel workers x 10 POST /api/messages, a connection each"
"$PYTHON" - "$PORT" "$A_TOK" "$(mbody "$C" "parallel")" >"$TMP_ROOT/par-out" <<'EOF'
import http.client, sys, threading
port, tok, body = int(sys.argv[1]), sys.argv[2], sys.argv[3]
codes = []
def worker():
    for _ in range(10):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            c.request("POST", "/api/messages", body, {"Authorization": "Bearer " + tok,
                                                      "Content-Type": "application/json"})
            r = c.getresponse(); r.read(); c.close()
            codes.append(r.status)
        except Exception as e:
            codes.append(repr(e))
ts = [threading.Thread(target=worker) for _ in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print("\n".join(map(str, codes)))
EOF
mapfile -t codes <"$TMP_ROOT/par-out"
n=0
for c in "${codes[@]}"; do [ "$c" == 201 ] && n=$((n + 1)); done
expect_eq "80 parallel posts, all 201 (statuses: $(_snip "${codes[*]}" 100))" 80 "$n"
req GET "/api/messages?conversation_id=$C&limit=200" "" "$B_TOK"
expect_jq '[.messages[] | select(.body == "parallel")] | length' 80
expect_jq '[.messages[].id] | (. == (sort | unique))' true

# --- big pipelined writes, then a big response read slowly -------------------------------------------
new_conv "$A_TOK" "big" "[$B_ID]"
BIGC=$CONV_ID
burst=""
letters=(a b c d e f g h i j k l m n o p q r s t u v w x y z)
declare -A fill
for l in "${letters[@]}"; do fill[$l]=$(rep "$l" 16380); done
for i in $(seq 0 79); do
    printf -v n4 '%04d' "$i"
    l=${letters[$((i % 26))]}
    b="{\"conversation_id\":$BIGC,\"body\":\"$n4${fill[$l]}\"}"
    burst+="POST /api/messages HTTP/1.1$CRLF$H$CRLF$AUTH${CRLF}Content-Length: ${#b}$CRLF$CRLF$b"
done
raw_send "$burst" -n 80 --timeout 20
all201=$(rep 201, 80)
expect_eq "80 pipelined 16 KiB posts, all 201" "${all201%,}" "$(raw_statuses)"
req GET "/api/messages?conversation_id=$BIGC&limit=200" "" "$B_TOK" --limit-rate 4M
expect_status 200
expect_jq '.messages | length' 80
expect_jq '[.messages[].body | length] | unique' '[16384]'
expect_jq '[.messages[].body[0:4]] == [range(0;80) | tostring | ("000" + .)[-4:]]' true
expect_jq '[.messages[] | .body[4:] == (.body[4:5] * 16380)] | all' true

# --- the server is still fine after all that ------------------------------------------------------
req GET "/api/messages?conversation_id=$C" "" "$B_TOK"
expect_status 200
expect_jq '[.messages[].body] | index("first")' null

stop_server

# --- limits from the command line ----------------------------------------------------------------
start_server --max-body 1000 --max-target 600 --max-head 2000
H="Host: 127.0.0.1:$PORT"
pre='{"username":"smallbody","password":"password123","pad":"'
req POST /api/users/register "$pre$(rep x $((1000 - ${#pre} - 2)))\"}"
expect_status 201
raw_send "POST /api/users/register HTTP/1.1$CRLF$H${CRLF}Content-Length: 1001$CRLF$CRLF" --progressive 1001
expect_raw_statuses 413
expect_raw_closed
raw_send "GET /healthz?$(rep a 600) HTTP/1.1$CRLF$H${CRLF}Connection: close$CRLF$CRLF"
expect_raw_statuses 414
raw_send "GET /healthz?$(rep a 580) HTTP/1.1$CRLF$H${CRLF}Connection: close$CRLF$CRLF"
expect_raw_statuses 200
raw_send "GET /healthz HTTP/1.1$CRLF$H${CRLF}X-Pad: $(rep p 2000)${CRLF}Connection: close$CRLF$CRLF"
expect_raw_statuses 431
raw_send "GET /healthz HTTP/1.1$CRLF$H${CRLF}X-Pad: $(rep p 1900)${CRLF}Connection: close$CRLF$CRLF"
expect_raw_statuses 200
stop_server

# --- the access log: a token query parameter is redacted by its decoded name (any spelling,
# every occurrence); request lines are logged with '"', '\' and control bytes escaped --------------
start_server
H="Host: 127.0.0.1:$PORT"
new_user L logger
TOKS=()
for q in '%74oken=' 'tok%65n=' 'x=token=&token=' 'TOKEN=' '%74%6F%6B%65%6E=' 'x=1&token=' 'a=b;token='; do
    req POST /api/users/login '{"username":"logger","password":"password123"}'
    t=$(jqb .token)
    TOKS+=("$t")
    req HEAD "/api/events?$q$t" "" ""
    case $q in TOKEN=* | a=b*) ;; *) expect_status 200 ;; esac   # the server takes it as a token
done
req POST /api/users/login '{"username":"logger","password":"password123"}'
T1=$(jqb .token)
req POST /api/users/login '{"username":"logger","password":"password123"}'
T2=$(jqb .token)
TOKS+=("$T1" "$T2")
req HEAD "/api/events?token=$T1&tok%65n=$T2&token=$T2" "" ""
expect_status 200
raw_send "GET /healthz?q=\"x\\y\"+z HTTP/1.1$CRLF$H${CRLF}Connection: close$CRLF$CRLF"
expect_raw_statuses 200
stop_server
LAST_REQ=
LOG=$(<"$SERVER_LOG")   # (read by bash: no grep process per token)
not_in_log() { [[ $LOG != *"$1"* ]]; }
for t in "${TOKS[@]}"; do
    expect_true "token ${t:0:6}... not in the server log" not_in_log "$t"
done
unredacted=${LOG//REDACTED/}
expect_eq "redacted values in the log" 10 "$(((${#LOG} - ${#unredacted}) / 8))"
line=$(grep -F 'GET /healthz?q=' "$SERVER_LOG")
expect_eq "the quote and backslash are escaped" 'GET /healthz?q=\"x\\y\"+z' "$(sed -E 's/^[^"]*"(.*)" [0-9]{3} .*$/\1/' <<<"$line")"
expect_match "the logged line parses as one quoted string" '^[^ ]+ "([^"\\]|\\.)*" 200 [0-9]+ [0-9]+ms$' "$line"
