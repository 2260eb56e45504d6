#!/usr/bin/env bash
# CORS: --cors-origin ORIGIN (repeatable) / '*' / absent.
. "$(dirname "$0")/lib.sh"

ORIGIN=https://a.example
preflight() {   # ORIGIN PATH [METHOD] [HEADERS]
    req OPTIONS "$2" "" "" -H "Origin: $1" -H "Access-Control-Request-Method: ${3:-POST}" \
        -H "Access-Control-Request-Headers: ${4:-authorization,content-type}"
}
expect_list_has() {   # HEADER ITEM   (comma-separated list, case-insensitive)
    local v item=${2,,}
    v=$(hdr "$1")
    v=${v,,}
    if [[ ",${v// /}," == *",$item,"* ]]; then ok; else fail "$1 lists $2" "$2" "$(hdr "$1")"; fi
}
expect_cors_normal() {   # ORIGIN (echoed) — headers of a non-preflight response
    expect_header Access-Control-Allow-Origin "^$1\$"
    expect_list_has Vary Origin
    expect_list_has Access-Control-Expose-Headers Retry-After
    expect_list_has Access-Control-Expose-Headers Allow
}

# --- one allowed origin --------------------------------------------------------------------
start_server --cors-origin "$ORIGIN"
new_user A alice

preflight "$ORIGIN" /api/messages
expect_status 204
expect_empty_body
expect_header Access-Control-Allow-Origin '^https://a\.example$'
expect_list_has Access-Control-Allow-Methods POST
for h in Authorization Content-Type Idempotency-Key Last-Event-ID; do
    expect_list_has Access-Control-Allow-Headers "$h"
done
expect_header Access-Control-Max-Age '^[0-9]+$'
expect_header Date "$DATE_RE"
for m in GET PUT DELETE; do
    preflight "$ORIGIN" "/api/messages/1" "$m" "authorization"
    expect_status 204
    expect_list_has Access-Control-Allow-Methods "$m"
done
preflight "$ORIGIN" /api/users/register POST content-type
expect_status 204
preflight "$ORIGIN" /api/conversations GET "Authorization, Last-Event-ID"
expect_status 204

# not allowed
preflight https://evil.example /api/messages
expect_error 403 ""
expect_no_header Access-Control-Allow-Origin
preflight http://a.example /api/messages               # scheme is part of the origin
expect_status 403
preflight https://a.example.evil /api/messages
expect_status 403

# normal responses carry the echoed origin (success and errors alike)
req GET /healthz "" "" -H "Origin: $ORIGIN"
expect_status 200
expect_cors_normal "$ORIGIN"
req GET "/api/users/$A_ID" "" "$A_TOK" -H "Origin: $ORIGIN"
expect_status 200
expect_cors_normal "$ORIGIN"
req POST /api/conversations "{\"member_ids\":[$A_ID]}" "$A_TOK" -H "Origin: $ORIGIN"
expect_status 201
expect_cors_normal "$ORIGIN"
req GET "/api/users/$A_ID" "" "" -H "Origin: $ORIGIN"
expect_status 401
expect_cors_normal "$ORIGIN"
req DELETE /api/conversations "" "$A_TOK" -H "Origin: $ORIGIN"
expect_status 405
expect_cors_normal "$ORIGIN"
req POST /api/users/logout "" "$A_TOK" -H "Origin: $ORIGIN"
expect_status 204
expect_cors_normal "$ORIGIN"
# a request from another origin gets no Allow-Origin
req GET /healthz "" "" -H "Origin: https://evil.example"
expect_status 200
expect_no_header Access-Control-Allow-Origin
stop_server

# --- several origins -------------------------------------------------------------------------
start_server --cors-origin "$ORIGIN" --cors-origin http://localhost:3000
preflight http://localhost:3000 /api/messages
expect_status 204
expect_header Access-Control-Allow-Origin '^http://localhost:3000$'
preflight "$ORIGIN" /api/messages
expect_status 204
expect_header Access-Control-Allow-Origin '^https://a\.example$'
req GET /healthz "" "" -H "Origin: http://localhost:3000"
expect_cors_normal http://localhost:3000
preflight https://b.example /api/messages
expect_status 403
stop_server

# --- any origin ------------------------------------------------------------------------------
start_server --cors-origin '*'
preflight https://whoever.example /api/messages
expect_status 204
expect_header Access-Control-Allow-Origin '^\*$'
for h in Authorization Content-Type Idempotency-Key Last-Event-ID; do
    expect_list_has Access-Control-Allow-Headers "$h"
done
expect_header Access-Control-Max-Age '^[0-9]+$'
req GET /healthz "" "" -H "Origin: https://whoever.example"
expect_status 200
expect_header Access-Control-Allow-Origin '^\*$'
expect_list_has Access-Control-Expose-Headers Retry-After
expect_list_has Access-Control-Expose-Headers Allow
req GET /api/conversations "" "" -H "Origin: https://whoever.example"
expect_status 401
expect_header Access-Control-Allow-Origin '^\*$'
stop_server

# --- no flag: no CORS headers at all -------------------------------------------------------------
start_server
new_user A alice
for p in /healthz "/api/users/$A_ID"; do
    req GET "$p" "" "$A_TOK" -H "Origin: $ORIGIN"
    expect_status 200
    expect_no_header Access-Control-Allow-Origin
    expect_no_header Access-Control-Expose-Headers
done
preflight "$ORIGIN" /api/messages
expect_no_header Access-Control-Allow-Origin
expect_no_header Access-Control-Allow-Methods
expect_no_header Access-Control-Allow-Headers
stop_server
