#!/usr/bin/env bash
# t_tls.sh — the TLS build (make TLS=1 -> chatd-tls): HTTPS with a self-signed certificate
# made here, TLS 1.2+ only, SSE and WebSocket over TLS. Skips unless CHATD_TLS is set.
. "$(dirname "$0")/lib.sh"
if [ -z "${CHATD_TLS:-}" ]; then echo "SKIP: CHATD_TLS not set (make test-tls sets it)"; exit 0; fi
command -v openssl >/dev/null || { echo "SKIP: openssl not installed"; exit 0; }
CHATD=$CHATD_TLS
PY=/usr/bin/python3
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$TMP_ROOT/key.pem" -out "$TMP_ROOT/cert.pem" 2>/dev/null
export CURL_CA_BUNDLE=$TMP_ROOT/cert.pem   # every curl here, lib.sh's req included, trusts it
CA=()

start_server --tls-cert "$TMP_ROOT/cert.pem" --tls-key "$TMP_ROOT/key.pem"
BASE=https://127.0.0.1:$PORT

req GET /healthz
expect_status 200
expect_jq .status ok

new_user A alice
new_user B bob
expect_true "register over TLS gave tokens" test -n "$A_TOK" -a -n "$B_TOK"
req POST /api/conversations "{\"title\":\"tls\",\"member_ids\":[$B_ID]}" "$A_TOK"
expect_status 201
CID=$(jqb .conversation.id)

# TLS 1.1 and older are refused; plain HTTP on the TLS port gets no HTTP answer.
curl -s --tls-max 1.1 "$BASE/healthz" >/dev/null 2>&1
expect_true "TLS 1.1 handshake refused" test $? -ne 0
curl -s --tlsv1.2 --tls-max 1.2 "$BASE/healthz" -o "$TMP_ROOT/t12"
expect_eq "TLS 1.2 works" '{"status":"ok"}' "$(cat "$TMP_ROOT/t12")"
got=$(curl -s --max-time 3 "http://127.0.0.1:$PORT/healthz" 2>/dev/null)
expect_true "plain HTTP on the TLS port is not served" test "$got" != '{"status":"ok"}'

# SSE over TLS: bob's stream gets alice's message.
: >"$TMP_ROOT/sse"
timeout 10 curl -sN "$BASE/api/events?token=$B_TOK" >"$TMP_ROOT/sse" &
SSE=$!
for _ in $(seq 50); do grep -q retry "$TMP_ROOT/sse" && break; sleep 0.1; done
req POST /api/messages "{\"conversation_id\":$CID,\"body\":\"over tls\"}" "$A_TOK"
expect_status 201
for _ in $(seq 50); do grep -q '"over tls"' "$TMP_ROOT/sse" && break; sleep 0.1; done
expect_true "SSE over TLS delivered the message" grep -q 'event: message.created' "$TMP_ROOT/sse"
kill $SSE 2>/dev/null; wait $SSE 2>/dev/null

# WebSocket over TLS (wss://) with python3-websockets: replay from 0 then a typing relay.
out=$(timeout 20 $PY - "$PORT" "$A_TOK" "$B_TOK" "$TMP_ROOT/cert.pem" "$CID" <<'PYEOF'
import asyncio, json, ssl, sys, websockets
port, ta, tb, cert, cid = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
ctx = ssl.create_default_context(cafile=cert)
async def main():
    url = "wss://127.0.0.1:%s/api/ws?token=" % port
    async with websockets.connect(url + tb + "&last_event_id=0", ssl=ctx) as b, websockets.connect(url + ta, ssl=ctx) as a:
        seen, ev = [], {}   # presence events (a's stream opening) may come in between: not counted
        while "message.created" not in seen:
            t = json.loads(await asyncio.wait_for(b.recv(), 5))["type"]
            seen += [] if t == "presence" else [t]
        await a.send(json.dumps({"type": "typing", "conversation_id": cid}))
        while ev.get("type") in (None, "presence"):
            ev = json.loads(await asyncio.wait_for(b.recv(), 5))
        print(",".join(seen), ev["type"], ev["conversation_id"] == cid)
asyncio.run(main())
PYEOF
)
expect_eq "WSS replay and typing" "conversation.created,message.created typing True" "$out"

stop_server
