#!/usr/bin/env bash
# The built-in web client's files (src/web.c, scripts/webgen.sh): "/" and every file of
# src/web/ served byte for byte with its Content-Type, the security headers (a CSP allowing
# only this server, nosniff, no referrer), ETag + If-None-Match -> 304, gzip only when
# accepted, HEAD, 405/404 around them, no token needed; and the client's source kept to the
# rules a CSP and an XSS-safe client need (no inline script or style, no innerHTML, no
# other origin).
. "$(dirname "$0")/lib.sh"
WEB=$(cd "$(dirname "$0")/../src/web" && pwd)

start_server

path_of() { local n=${1##*/}; [ "$n" == index.html ] && echo / || echo "/$n"; }
ctype_of() {
    case $1 in
        *.html) echo 'text/html; charset=utf-8' ;; *.css) echo 'text/css; charset=utf-8' ;;
        *.js) echo 'text/javascript; charset=utf-8' ;; *.svg) echo 'image/svg+xml' ;;
    esac
}
get_file() {   # PATH OUT [curl args]: body to OUT, headers to HEADERS, status to STATUS
    local p=$1 o=$2
    shift 2
    LAST_REQ="GET $p $*"
    [ "$o" == /dev/null ] || : >"$o"
    STATUS=$(curl -s -g --max-time 20 -D "$TMP_ROOT/h" -o "$o" -w '%{http_code}' "$@" "$BASE$p")
    HEADERS=$(<"$TMP_ROOT/h")
    HEADERS=${HEADERS//$'\r'/}
    HEADERS=${HEADERS%"${HEADERS##*[!$'\n']}"}   # (no final newlines, as $(tr ...) had it)
    BODY=
}
CSP_RE="^default-src 'self'(;|$)"

# ---- 1. every file: 200, its type, byte for byte, security headers, a strong ETag
nfiles=0
for f in "$WEB"/*; do
    p=$(path_of "$f")
    nfiles=$((nfiles + 1))
    get_file "$p" "$TMP_ROOT/got"
    expect_status 200
    ct=$(ctype_of "$f")
    expect_header Content-Type "^${ct//+/\\+}\$"
    expect_true "$p is src/web/${f##*/} byte for byte" cmp -s "$f" "$TMP_ROOT/got"
    expect_header Content-Security-Policy "$CSP_RE"
    expect_eq "$p: the CSP allows nothing inline" "" "$(hdr Content-Security-Policy | grep -oE "unsafe-[a-z]+|\*|data:|http")"
    expect_header X-Content-Type-Options '^nosniff$'
    expect_header Referrer-Policy '^no-referrer$'
    expect_header ETag '^"[0-9a-f]+-[0-9a-f]+"$'
    expect_header Cache-Control 'no-cache'
    expect_no_header Content-Encoding
done
expect_true "src/web holds the client (index.html and its files)" test "$nfiles" -ge 4

# ---- 2. index.html: everything it loads is served; no inline script or style anywhere
get_file / "$TMP_ROOT/index"
refs=$(grep -oE '(src|href)="[^"]*"' "$TMP_ROOT/index" | sed -E 's/^[a-z]+="(.*)"$/\1/')
expect_match "index.html loads its script as a module" '<script type="module" src="/app.js"></script>' "$(<"$TMP_ROOT/index")"
for r in $refs; do
    expect_match "index.html refers only to this server's files ($r)" '^/[a-z0-9._-]*$' "$r"
    get_file "$r" /dev/null
    expect_status 200
done
expect_eq "no inline <script> (every one has src)" "" "$(grep -oE '<script[^>]*>' "$WEB"/*.html | grep -v ' src=')"
expect_eq "no <style> element or style= attribute" "" "$(grep -nE '<style|style=' "$WEB"/*.html)"
expect_eq "no inline event handlers (on...=)" "" "$(grep -nE '<[^>]+ on[a-z]+=' "$WEB"/*.html)"
expect_eq "no innerHTML/outerHTML/insertAdjacentHTML/document.write in the scripts" "" \
    "$(grep -nE 'innerHTML|outerHTML|insertAdjacentHTML|document\.write' "$WEB"/*.js)"
expect_eq "no eval or new Function" "" "$(grep -nE '\beval\(|new Function' "$WEB"/*.js)"
expect_eq "no other origin named (http://, https://, //host)" "" \
    "$(grep -nE "https?://|[\"'(]//[a-z]" "$WEB"/* | grep -v 'www.w3.org/2000/svg')"

# ---- 3. conditional requests
get_file /app.js "$TMP_ROOT/a1"
etag=$(hdr ETag)
get_file /app.js "$TMP_ROOT/a2" -H "If-None-Match: $etag"
expect_status 304
expect_eq "304 has no body" 0 "$(wc -c <"$TMP_ROOT/a2")"
expect_header ETag "^$etag\$"
expect_header Content-Security-Policy "$CSP_RE"
expect_no_header Content-Type
get_file /app.js "$TMP_ROOT/a2" -H "If-None-Match: \"nope\", W/$etag"
expect_status 304
get_file /app.js "$TMP_ROOT/a2" -H 'If-None-Match: *'
expect_status 304
get_file /app.js "$TMP_ROOT/a2" -H 'If-None-Match: "0000-00"'
expect_status 200
expect_true "a stale ETag gets the whole file" cmp -s "$WEB/app.js" "$TMP_ROOT/a2"
get_file / "$TMP_ROOT/a2" -H "If-None-Match: $etag"
expect_status 200   # another file's ETag

# ---- 4. gzip: only when accepted, its own ETag, decompresses to the file
get_file / "$TMP_ROOT/gz" -H 'Accept-Encoding: br, gzip;q=0.8'
expect_status 200
expect_header Content-Encoding '^gzip$'
expect_header Vary 'Accept-Encoding'
expect_true "the gzip body inflates to index.html" cmp -s "$WEB/index.html" <(gzip -dc "$TMP_ROOT/gz")
expect_true "gzip is smaller" test "$(wc -c <"$TMP_ROOT/gz")" -lt "$(wc -c <"$WEB/index.html")"
gzetag=$(hdr ETag)
get_file / /dev/null
expect_true "gzip and identity have different ETags ($gzetag)" test "$gzetag" != "$(hdr ETag)"
get_file / "$TMP_ROOT/gz" -H "Accept-Encoding: gzip" -H "If-None-Match: $gzetag"
expect_status 304
expect_no_header Content-Encoding
for ae in 'gzip;q=0' 'gzip; q=0.000' 'deflate, br' 'identity'; do
    get_file / "$TMP_ROOT/id" -H "Accept-Encoding: $ae"
    expect_no_header Content-Encoding
    expect_true "Accept-Encoding: $ae gets the file as it is" cmp -s "$WEB/index.html" "$TMP_ROOT/id"
done

# ---- 5. HEAD, methods, unknown files, no token needed
req HEAD /
expect_status 200
expect_header Content-Length "^$(wc -c <"$WEB/index.html")\$"
expect_header Content-Security-Policy "$CSP_RE"
req POST / '{}'
expect_error 405 method_not_allowed
expect_header Allow '^GET, HEAD, OPTIONS$'
req DELETE /app.js
expect_status 405
req OPTIONS /app.css
expect_status 204
expect_header Allow 'GET, HEAD'
for p in /nope.js /index.html /app.js/ //app.js /app.js.gz /src/web/app.js /web/app.js; do
    req GET "$p"
    expect_error 404 not_found
done
req GET '/app.js?v=2'
expect_status 200
req GET / '' not-a-token
expect_status 200
req GET /api/conversations   # the API still wants its token
expect_error 401 unauthorized

stop_server
