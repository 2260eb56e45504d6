#!/usr/bin/env bash
# The static musl build ($CHATD_STATIC, set by `make test-deploy`; skipped when unset): no
# interpreter, no shared libraries, under 300 KB, and a REST round in an empty chroot holding
# only /chatd and /data (no /etc, /dev, /proc), run as uid 65532 like the container image.
skip() {
    echo "SKIP: $*"
    if [ -n "${DEPLOY_STRICT:-}" ]; then echo "DEPLOY_STRICT is set: a skip is a failure"; exit 1; fi
    exit 0
}
[ -n "${CHATD_STATIC:-}" ] || { echo "SKIP: CHATD_STATIC not set (make test-deploy sets it)"; exit 0; }
[ -x "$CHATD_STATIC" ] || { echo "FAIL: CHATD_STATIC=$CHATD_STATIC is not an executable file"; exit 1; }
command -v readelf >/dev/null || skip "readelf (binutils) not installed"
command -v file >/dev/null || skip "file not installed"
[ "$(id -u)" == 0 ] || skip "not root: chroot needs root"
command -v chroot >/dev/null || skip "chroot not installed"

CHATD=${CHATD:-$CHATD_STATIC}   # lib.sh wants it set; replaced by the chroot wrapper below
. "$(dirname "$0")/lib.sh"

# ---- 1. static, stripped, small
info=$(file -b "$CHATD_STATIC")
expect_match "file(1) says static" 'statically linked|static-pie linked' "$info"
expect_match "file(1) says stripped" ', stripped' "$info"
expect_eq "no program interpreter (readelf -l)" "" "$(readelf -lW "$CHATD_STATIC" | grep -i 'interp')"
expect_eq "no shared libraries (readelf -d)" "" "$(readelf -dW "$CHATD_STATIC" | grep -i 'NEEDED')"
SIZE=$(stat -c %s "$CHATD_STATIC")
echo "chatd-static: $SIZE bytes ($(( (SIZE + 1023) / 1024 )) KiB)"
expect_true "size under 300 KB ($SIZE bytes)" test "$SIZE" -lt 300000

# ---- 2. an empty root: /chatd and /data (owned by 65532) and nothing else
ROOT=$TMP_ROOT/root
mkdir -m 755 "$ROOT"
cp "$CHATD_STATIC" "$ROOT/chatd"
chmod 755 "$ROOT/chatd"
mkdir -m 700 "$ROOT/data"
chown 65532:65532 "$ROOT/data"
# lib.sh passes host paths (--data-dir $ROOT/data); inside the chroot they lose the $ROOT prefix
cat >"$TMP_ROOT/chroot-chatd" <<EOF
#!/usr/bin/env bash
args=()
for a in "\$@"; do [[ \$a == "$ROOT"/* ]] && a=\${a#"$ROOT"}; args+=("\$a"); done
exec chroot --userspec=65532:65532 "$ROOT" /chatd "\${args[@]}"
EOF
chmod 755 "$TMP_ROOT/chroot-chatd"
CHATD=$TMP_ROOT/chroot-chatd

DATA_DIR=$ROOT/data start_server
req GET /healthz
expect_status 200
new_user A alice
new_user B bob
req POST /api/users/login '{"username":"alice","password":"password123"}'
expect_status 200
A_TOK=$(jqb .token)
new_conv "$A_TOK" "static" "[$B_ID]"
C=$CONV_ID
post_msg "$A_TOK" "$C" "one"
post_msg "$B_TOK" "$C" "two"
post_msg "$A_TOK" "$C" "three"
req GET "/api/messages?conversation_id=$C&limit=2" "" "$B_TOK"
expect_status 200
expect_jq '[.messages[].body]' '["two","three"]'
expect_jq .has_more true
# the container's HEALTHCHECK command, from inside the same root
expect_true "chatd --health-check on the live port exits 0" \
    chroot --userspec=65532:65532 "$ROOT" /chatd --health-check "http://127.0.0.1:$PORT/healthz"
expect_true "chatd --health-check on a closed port exits non-zero" \
    bash -c "! chroot --userspec=65532:65532 '$ROOT' /chatd --health-check http://127.0.0.1:1/healthz 2>/dev/null"

# ---- 3. restart: the data is kept, and passwords still verify (worker thread under musl)
restart_server
req GET "/api/messages?conversation_id=$C" "" "$A_TOK"
expect_status 200
expect_jq '[.messages[].body]' '["one","two","three"]'
req POST /api/users/login '{"username":"bob","password":"password123"}'
expect_status 200
post_msg "$(jqb .token)" "$C" "after restart"
stop_server

# ---- 4. nothing was created outside /data, and what is in /data belongs to 65532
expect_eq "top level of the root" "chatd data" "$(cd "$ROOT" && ls -A | tr '\n' ' ' | sed 's/ $//')"
expect_eq "files in /data not owned by 65532" "" "$(find "$ROOT/data" ! -uid 65532)"
expect_true "the log is in /data" test -s "$ROOT/data/chatd.log"
