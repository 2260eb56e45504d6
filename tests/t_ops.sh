#!/usr/bin/env bash
# Operations: /healthz, /metrics, connection cap, idle timeout, command line, default PBKDF2
# cost, tokens kept out of the log, SIGTERM.
. "$(dirname "$0")/lib.sh"

# --- command line --------------------------------------------------------------------------
LAST_REQ="chatd --help"
out=$(timeout 10 "$CHATD" --help 2>&1)
rc=$?
expect_eq "chatd --help exit status" 0 "$rc"
in_out() { [[ $out == *"$1"* ]]; }   # (by bash: no grep process per flag)
for f in --port --bind --data-dir --fsync --max-conns --cors-origin; do
    expect_true "--help mentions $f" in_out "$f"
done
LAST_REQ="chatd --version"
out=$(timeout 10 "$CHATD" --version 2>&1)
rc=$?
expect_eq "chatd --version exit status" 0 "$rc"
expect_match "chatd --version prints a version" '[0-9]+\.[0-9]+\.[0-9]+' "$out"
LAST_REQ="chatd --no-such-flag"
timeout 10 "$CHATD" --no-such-flag >/dev/null 2>&1
rc=$?
expect_true "an unknown flag is refused (exit $rc)" test "$rc" != 0 -a "$rc" != 124
LAST_REQ="chatd --fsync sometimes"
timeout 10 "$CHATD" --port 0 --bind 127.0.0.1 --data-dir "$TMP_ROOT/x" --fsync sometimes >/dev/null 2>&1
rc=$?
expect_true "a bad --fsync value is refused (exit $rc)" test "$rc" != 0 -a "$rc" != 124
LAST_REQ=

# --- connection cap (first thing on a fresh server: nothing else is connected) ------------------
start_server --max-conns 5
LAST_REQ="5 keep-alive connections, then a 6th"
RAW=$(timeout 60 "$PYTHON" "$RAW_PY" conncap "$PORT" 5)
expect_eq "the 5 connections under the cap are served" "[200,200,200,200,200]" "$(jq -c .held <<<"$RAW")"
STATUS=$(jq -r '.extra.status // "none"' <<<"$RAW")
BODY=$(jq -r '.extra.body // ""' <<<"$RAW")
HEADERS=$(jq -r '(.extra.headers // {}) | to_entries[] | .key as $k | .value[] | "\($k): \(.)"' <<<"$RAW")
expect_status 503
expect_error_shape
expect_header Date "$DATE_RE"
# after they are closed, the server answers again (it notices the closes on its own time: poll)
n=0
until req GET /healthz && [ "$STATUS" == 200 ]; do
    n=$((n + 1)); [ $n -ge 250 ] && break; nap 0.02
done
expect_status 200
expect_jq .status ok
stop_server

# --- idle timeout ------------------------------------------------------------------------------
start_server --idle-timeout 1
raw_send "" --timeout 15
expect_raw_closed
expect_eq "an idle connection gets nothing but a close (or a 408)" "" "$(raw_statuses | sed 's/^408$//')"
req GET /healthz
expect_status 200
stop_server

# --- /healthz, /metrics, log redaction -----------------------------------------------------------
start_server
req GET /healthz
expect_status 200
expect_header Content-Type "$JSON_CT_RE"
expect_jq . '{"status":"ok"}'
req HEAD /healthz
expect_status 200

metric_sum() {   # the sum of every sample whose metric name contains "requests"
    awk '!/^#/ && NF >= 2 { split($1, a, "{"); if (a[1] ~ /requests/) s += $2 } END { printf "%d", s }' <<<"$BODY"
}
req GET /metrics
expect_status 200
expect_header Content-Type '^text/plain'
expect_true "metrics has a request counter (a metric name with 'requests')" \
    grep -qE '^[a-zA-Z_:][a-zA-Z0-9_:]*requests[a-zA-Z0-9_:]*(\{[^}]*\})? ' <<<"$BODY"
bad=$(grep -vE '^(#.*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+]?([0-9.]+([eE][-+]?[0-9]+)?|NaN|[-+]?Inf)( [0-9]+)?)?$' <<<"$BODY" | head -n 3)
expect_eq "every metrics line is Prometheus text (comment or 'name{labels} value')" "" "$bad"
expect_true "metrics has an open-connections gauge (a name with 'conn')" \
    grep -qE '^[a-zA-Z_:]*conn[a-zA-Z0-9_:]*(\{[^}]*\})? [0-9]' <<<"$BODY"
expect_true "metrics has a store size (a name with 'store' or 'log')" \
    grep -qE '^[a-zA-Z_:]*(store|log)[a-zA-Z0-9_:]*(\{[^}]*\})? [0-9]' <<<"$BODY"
before=$(metric_sum)
new_user A alice
for i in 1 2 3; do req GET /healthz; done
req GET /api/nope "" "$A_TOK"
expect_status 404
req GET /metrics
after=$(metric_sum)
expect_true "request counters grew by at least 5 ($before -> $after)" test "$after" -ge $((before + 5))
# requests by status: samples labelled with a status ("404" or a class such as "4xx")
status_sum() {   # FIRST_DIGIT -> sum of the requests samples whose label value starts with it
    awk -v d="$1" '!/^#/ && NF >= 2 { split($1, a, "{"); if (a[1] ~ /requests/ && $1 ~ ("=\"" d "[0-9x]")) s += $2 }
                   END { printf "%d", s }' <<<"$BODY"
}
expect_true "a requests sample labelled with a 2xx status" test "$(status_sum 2)" -gt 0
expect_true "a requests sample labelled with a 4xx status" test "$(status_sum 4)" -gt 0
four=$(status_sum 4)
two=$(status_sum 2)
req GET /api/nope "" "$A_TOK"
req GET /api/conversations
req GET /metrics
expect_true "the 4xx count grew by 2 ($four -> $(status_sum 4))" test "$(status_sum 4)" -ge $((four + 2))
expect_true "the 2xx count grew by 1 ($two -> $(status_sum 2))" test "$(status_sum 2)" -ge $((two + 1))

# tokens never reach the log; a token query value is logged as REDACTED
req POST /api/users/login '{"username":"alice","password":"password123"}'
TOK2=$(jqb .token)
new_conv "$A_TOK" "logged" "[$A_ID]"
req GET "/api/users/$A_ID?token=$A_TOK" "" "$A_TOK"
expect_status 200
req GET "/api/conversations?x=1&token=$TOK2&y=2" "" "$TOK2"
expect_status 200
req GET "/api/users/$A_ID" "" "$TOK2"
req POST /api/users/logout "" "$TOK2"
expect_status 204
req GET "/api/users/$A_ID?token=$TOK2" "" "$TOK2"
expect_status 401
req POST /api/users/login '{"username":"alice","password":"wrong-password-xyz"}'
expect_status 401
stop_server
LAST_REQ=
LOG=$(<"$SERVER_LOG")   # (read by bash: no grep process per check)
in_log() { [[ $LOG == *"$1"* ]]; }
not_in_log() { ! in_log "$1"; }
expect_true "the server log has access lines (one per request: /healthz seen)" in_log /healthz
expect_true "first token not in the server log" not_in_log "$A_TOK"
expect_true "second token not in the server log" not_in_log "$TOK2"
expect_true "a token query value is logged as REDACTED" in_log token=REDACTED
expect_true "passwords not in the server log" bash -c "! grep -qE -- 'password123|wrong-password-xyz' '$SERVER_LOG'"

# --- the default PBKDF2 cost works ---------------------------------------------------------------
NO_FAST_DEFAULTS=1 start_server --fsync never
req POST /api/users/register '{"username":"slowhash","password":"password123"}'
expect_status 201
req POST /api/users/login '{"username":"slowhash","password":"password123"}'
expect_status 200
req GET "/api/users/$(jqb .user.id)" "" "$(jqb .token)"
expect_status 200
req POST /api/users/login '{"username":"slowhash","password":"password124"}'
expect_status 401
# --- SIGTERM: clean exit 0 (checked by stop_server), data intact afterwards ---------------------
NO_FAST_DEFAULTS=1 restart_server
req POST /api/users/login '{"username":"slowhash","password":"password123"}'
expect_status 200
stop_server
