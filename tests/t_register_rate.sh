#!/usr/bin/env bash
# --register-rate N (contract: Limits against abuse): successful registrations per client
# address in any 60 s; beyond -> 429 rate_limited with Retry-After, and nothing is stored.
# Failed registrations do not count, another address has its own budget, the window slides
# (not a fixed minute), and N registrations sent at once cannot be overtaken by more.
. "$(dirname "$0")/lib.sh"
now_s() { echo "${EPOCHREALTIME%.*}"; }

for v in -1 abc ""; do
    "$CHATD" --register-rate "$v" --port 0 --data-dir "$TMP_ROOT/never" >"$TMP_ROOT/usage" 2>&1
    expect_eq "--register-rate '$v': usage error" 2 $?
    expect_true "--register-rate '$v': the message names the flag" grep -q -- --register-rate "$TMP_ROOT/usage"
done
expect_true "--help states the default 30" sh -c "'$CHATD' --help | grep -- --register-rate | grep -q 'default 30'"

# reg SRC NAME...: register each name from source address SRC, one after another; prints a line
# "NAME STATUS CODE RETRY_AFTER" each (null for no code or no Retry-After), read by bash below
reg() {
    "$PYTHON" - "$PORT" "$@" <<'PY'
import http.client, json, sys
port, src, names = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
out = []
for n in names:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(src, 0))
    c.request("POST", "/api/users/register", json.dumps({"username": n, "password": "password123"}))
    r = c.getresponse(); body = json.loads(r.read() or b"{}")
    out.append("%s %d %s %s" % (n, r.status, body.get("error", {}).get("code") or "null",
                                 r.getheader("Retry-After") or "null"))
    c.close()
print("\n".join(out))
PY
}
st() {   # R NAME [FIELD]: FIELD (1: the status, 2: the code, 3: Retry-After) of NAME's last line
    local line f=()
    while read -r line; do [[ $line == "$2 "* ]] && read -ra f <<<"$line"; done <<<"$1"
    echo "${f[${3:-1}]-}"
}
all_st() {   # R: the statuses, in order
    local n s _ out=()
    while read -r n s _; do out+=("$s"); done <<<"$1"
    echo "${out[*]}"
}

# --- N in a row, then 429; failures do not count; another address -------------------------------
start_server --bind 0.0.0.0 --register-rate 3
t0=$(now_s)
R=$(reg 127.0.0.1 usr1 usr1 usr1 xy usr2)
LAST_REQ="register usr1 usr1 usr1 xy usr2 from 127.0.0.1: $R" STATUS=
expect_eq "usr1, then usr1 twice taken, xy too short, usr2" "201 409 409 400 201" "$(all_st "$R")"
req POST /api/users/register '{"username":"usr1","password":"password123"}'
expect_error 409 username_taken                        # (again: still no count)
nap 20                                                # usr3 and usr4 come 20 s after usr1
R=$(reg 127.0.0.1 usr3 usr4)
LAST_REQ="register usr3 usr4 from 127.0.0.1: $R" STATUS=
expect_eq "usr3 is the third: 201" 201 "$(st "$R" usr3)"
expect_eq "usr4 is the fourth within 60 s: 429 rate_limited" "429 rate_limited" "$(st "$R" usr4) $(st "$R" usr4 2)"
RA=$(st "$R" usr4 3)
el=$(($(now_s) - t0))
expect_true "Retry-After $RA: until usr1 leaves the window (about $((60 - el)) s; 30..41)" \
    test "$RA" -ge 30 -a "$RA" -le 41
req POST /api/users/login '{"username":"usr4","password":"password123"}'
expect_error 401 ""                                    # nothing stored
R=$(reg 127.0.0.2 vic1 vic2 vic3 vic4)
LAST_REQ="register vic1..vic4 from 127.0.0.2: $R" STATUS=
expect_eq "another address has its own budget" "201 201 201 429" "$(all_st "$R")"
req POST /api/users/login '{"username":"vic3","password":"password123"}'
expect_status 200

# --- the window slides: 60 s after usr1 and usr2 two more pass, but usr3 (at +20 s) still counts
while (($(now_s) < t0 + 62)); do nap 1; done
R=$(reg 127.0.0.1 usr4 usr5 usr6)
LAST_REQ="62 s after usr1: register usr4 usr5 usr6: $R" STATUS=
expect_eq "usr1 and usr2 have left the window, usr3 not: 201 201 429" "201 201 429" "$(all_st "$R")"
RA=$(st "$R" usr6 3)
expect_true "Retry-After $RA: until usr3 leaves the window (about 18 s; 1..30)" test "$RA" -ge 1 -a "$RA" -le 30
stop_server

# --- sent at once: exactly N pass --------------------------------------------------------------
start_server --register-rate 3
ATONCE=$("$PYTHON" - "$PORT" <<'PY'
import http.client, json, sys, threading
port = int(sys.argv[1])
codes = [None] * 12
def one(i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", "/api/users/register", json.dumps({"username": "wes%d" % i, "password": "password123"}))
    codes[i] = c.getresponse().status
ts = [threading.Thread(target=one, args=(i,)) for i in range(12)]
for t in ts: t.start()
for t in ts: t.join()
print(" ".join(map(str, codes)))
PY
)
LAST_REQ="12 registrations at once with --register-rate 3: $ATONCE" STATUS=
count_of() { local c n=0; for c in $1; do [ "$c" == "$2" ] && n=$((n + 1)); done; echo "$n"; }   # LIST CODE
expect_eq "3 x 201" 3 "$(count_of "$ATONCE" 201)"
expect_eq "9 x 429" 9 "$(count_of "$ATONCE" 429)"
stop_server

# --- 0: no limit -------------------------------------------------------------------------------
start_server --register-rate 0
R=$(reg 127.0.0.1 zed1 zed2 zed3 zed4 zed5 zed6 zed7 zed8)
LAST_REQ="register zed1..zed8 with --register-rate 0: $R" STATUS=
expect_eq "all 201" "201 201 201 201 201 201 201 201" "$(all_st "$R")"
stop_server
