# scripts/bench_search.sh — people search at BENCH_SEARCH_USERS users (default 10k and 1M;
# QUICK=1: 10k and 100k), sourced by scripts/bench.sh (it uses its helpers: start_chatd,
# wrk_run, row, rss_kb, ...). Per size: loggen writes a data dir of n users (three random
# letters + the id, "wxd0000001"; --no-fsync); chatd --fsync never starts on it (page cache):
#   search_start_N  "records replayed in X ms"; the first lookup after it (a login), which sorts
#                   the name index (db.c names_sync), minus a second login (the same PBKDF2 of
#                   1000 iterations, no sort); RSS after both
#   search_c1_N     wrk, 1 connection: GET /api/users?q=XY&limit=20, XY the 676 two-letter
#                   prefixes in turn (n/676 users each), or below 13,520 users (10k) the 26
#                   one-letter ones, so that every answer holds 20 users at every size: p50/p99
#                   (server time + loopback) and the server's CPU per search
#   search_cN_N     the same at BENCH_CONNS connections: req/s
# Each wrk run lasts 3 s (QUICK: 1 s). BENCH_RT=1 (root): the 1-connection run with chatd and wrk
# at SCHED_FIFO priority 10, so that other work on a shared machine does not preempt them: its
# p99 is then the server's time plus loopback, not the machine's scheduling (the kernel still
# leaves other processes 5% of each second; the other rows never run so).
# Memory per user: the RSS difference between the largest and the smallest size / the users.
# shellcheck shell=bash disable=SC2154   # sourced: bench.sh sets TMP, PID, PORT, ...
SEARCH_USERS=${BENCH_SEARCH_USERS:-${Q:+10000 100000}}; SEARCH_USERS=${SEARCH_USERS:-10000 1000000}
SEARCH_SECS=${Q:+1}; SEARCH_SECS=${SEARCH_SECS:-3}
SEARCH_RT=${BENCH_RT:-0}
T_SEARCH=$(date +%s%N)
for n in $SEARCH_USERS; do
    cat >"$TMP/search.lua" <<EOF
local i, two = 0, $(( n >= 13520 ))
request = function()
    i = i + 1
    local q = string.char(97 + i % 26) .. (two == 1 and string.char(97 + math.floor(i / 26) % 26) or "")
    return wrk.format(nil, "/api/users?q=" .. q .. "&limit=20")
end
EOF
    g=$TMP/search-$n
    "${LOAD[@]}" "$TOOLS/loggen" "$g" --users "$n" --no-fsync >"$TMP/search-$n.out" \
        || { cat "$TMP/search-$n.out" >&2; die "loggen --users $n failed"; }
    GEN=$(tail -1 "$TMP/search-$n.out")
    start_chatd "search-$n" never "$g"
    login=$(printf '{"username":"%s","password":"%s"}' "$(sed -n 's/.* user1=\([^ ]*\).*/\1/p' <<<"$GEN")" \
        "$(sed -n 's/.* password=\([^ ]*\).*/\1/p' <<<"$GEN")")
    t1=$(curl -sf -o "$TMP/search-login" -w '%{time_total}' "http://127.0.0.1:$PORT/api/users/login" -d "$login") \
        || die "login on loggen's $n users failed"
    t2=$(curl -sf -o "$TMP/search-login" -w '%{time_total}' "http://127.0.0.1:$PORT/api/users/login" -d "$login") \
        || die "login on loggen's $n users failed"
    st=$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' "$TMP/search-login")
    r=$(grep -o '[0-9]* records replayed in [0-9]* ms' "$TMP/search-$n.log" | head -1)
    first=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", (a - b) * 1000 }')
    row "search_start_$n" users="$n" replay_ms="$(awk '{ print $5 }' <<<"$r")" first_lookup_ms="$first" \
        start_ms="$START_MS" rss_kb="$(rss_kb "$PID")" idle_rss_kb="$IDLE_RSS_GLIBC" rt="$SEARCH_RT"
    printf '  %-22s %s users: replayed in %s ms, first lookup +%s ms (the sort); RSS %s KiB\n' "search_start_$n" \
        "$n" "$(awk '{ print $5 }' <<<"$r")" "$first" "$(rss_kb "$PID")"
    if [ "$SEARCH_RT" = 1 ]; then chrt -f -p 10 "$PID"; L0=("${LOAD[@]}"); LOAD=(chrt -f 10 "${LOAD[@]}"); fi
    # shellcheck disable=SC2097,SC2098
    DUR=$SEARCH_SECS CONNS=1 wrk_run "search_c1_$n" "$PID" "http://127.0.0.1:$PORT/" -s "$TMP/search.lua" -H "Authorization: Bearer $st"
    if [ "$SEARCH_RT" = 1 ]; then chrt -o -p 0 "$PID"; LOAD=("${L0[@]}"); fi
    printf '  %-22s %s\n' "search_c1_$n" "$(tail -1 "$ROWS" | python3 -c 'import json, sys; r = json.load(sys.stdin)
print("1 connection: %.0f req/s, p50 %.3f ms, p99 %.3f ms, server %.1f us/search" % (r["rps"], r["p50_ms"], r["p99_ms"],
      r["cpu_s"] * 1e6 / (r["rps"] * r["seconds"])))')"
    DUR=$SEARCH_SECS wrk_run "search_cN_$n" "$PID" "http://127.0.0.1:$PORT/" -s "$TMP/search.lua" -H "Authorization: Bearer $st"
    printf '  %-22s %s connections: %s req/s\n' "search_cN_$n" "$CONNS" "$(awk '/^Requests\/sec:/ { print $2 }' "$TMP/search_cN_$n.wrk")"
    stop_pid "$PID"
    rm -rf "$g"
done
echo "  people search rows: $(( ($(date +%s%N) - T_SEARCH) / 1000000000 )) s with loggen's data"
