#!/usr/bin/env bash
# The password hashing cost: new hashes use 600,000 PBKDF2-HMAC-SHA256 iterations by default
# (OWASP 2023), read back from the user's record in the log; --pbkdf2-iters still sets it; a
# user whose hash was made with another count (an older default) still signs in, and keeps it.
. "$(dirname "$0")/lib.sh"

# iters_of USERNAME: the iteration count in the user record of USERNAME registered without a
# display name (the record holds: u32 length + username, the same again as the display name,
# u32 iterations)
iters_of() {
    "$PYTHON" - "$SERVER_DATA_DIR/chatd.log" "$1" <<'PYEOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
name = sys.argv[2].encode()
key = (struct.pack("<I", len(name)) + name) * 2
at = data.rfind(key)
print(struct.unpack_from("<I", data, at + len(key))[0] if at >= 0 else "absent")
PYEOF
}

# default: no --pbkdf2-iters at all
NO_FAST_DEFAULTS=1 start_server --fsync never
req POST /api/users/register '{"username":"defaultcost","password":"password123"}'
expect_status 201
expect_eq "iterations of a hash made with the default" 600000 "$(iters_of defaultcost)"
t0=$(date +%s.%N)
req POST /api/users/login '{"username":"defaultcost","password":"password123"}'
expect_status 200
note "one login at the default cost: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f s", b - a }')"
stop_server

# the flag sets it; a hash made at 100,000 (the old default) keeps working under the new one
start_server --pbkdf2-iters 100000
D=$SERVER_DATA_DIR
req POST /api/users/register '{"username":"oldcost","password":"password123"}'
expect_status 201
expect_eq "iterations with --pbkdf2-iters 100000" 100000 "$(iters_of oldcost)"
stop_server
NO_FAST_DEFAULTS=1 DATA_DIR=$D start_server --fsync never
req POST /api/users/login '{"username":"oldcost","password":"password123"}'
expect_status 200
req POST /api/users/login '{"username":"oldcost","password":"password124"}'
expect_status 401
expect_eq "an old hash is not rewritten by a login" 100000 "$(iters_of oldcost)"
stop_server
