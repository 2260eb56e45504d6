#!/usr/bin/env bash
# scripts/valgrind.sh — the shell tests with every chatd process (servers and the offline
# --check/--repair/--compact runs) under valgrind memcheck; reports memory errors and leaks.
# Builds nothing: run `make` first (the plain build, -O2 -g).
#
#   scripts/valgrind.sh [--chatd PATH] [--all] [TEST...]
#     TEST     test names as for tests/run.sh (default: the subset below)
#     --all    every tests/t_*.sh (some depend on short timeouts and may be flaky under valgrind)
#     --chatd  the binary (default ./chatd)
#     KEEP=1   keep the valgrind logs (their directory is printed)
#     CUT_STEP=N  t_recovery cuts the log at every Nth offset (default 5 here; 1 = every byte)
#
# Each chatd process runs as
#   valgrind --leak-check=full --error-exitcode=99 --errors-for-leak-kinds=definite,indirect
#            --show-leak-kinds=definite,indirect --log-file=LOGDIR/vg.%p.log ./chatd ...
# so a memory error or a definite/indirect leak makes a server exit 99 (the test's stop_server
# then fails) and is listed here from the logs. Processes killed with SIGKILL (the crash tests
# do that on purpose) leave a log without a summary: counted, not an error. Exit 0 only when
# every test passed and no log shows an error.
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
# not timing-sensitive (no sub-second deadlines that valgrind's slowdown would break)
SUBSET=(users conversations messages durability recovery compact crash sse http ops)
chatd=./chatd all= tests=()
while [ $# -gt 0 ]; do
    case $1 in
        --chatd) chatd=$2; shift 2 ;;
        --all) all=1; shift ;;
        -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) tests+=("$1"); shift ;;
    esac
done
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
case $chatd in /*) ;; *) chatd=$ROOT/$chatd ;; esac
[ -x "$chatd" ] || { echo "valgrind.sh: $chatd is not executable (run make first)" >&2; exit 2; }
if [ -n "$all" ]; then tests=()
elif [ ${#tests[@]} -eq 0 ]; then tests=("${SUBSET[@]}"); fi

work=$(mktemp -d "${TMPDIR:-/tmp}/chatd-valgrind.XXXXXX")
logs=$work/logs
mkdir -p "$logs"
[ -z "${KEEP:-}" ] && trap 'rm -rf "$work"' EXIT
cat >"$work/chatd" <<EOF
#!/bin/sh
exec valgrind --leak-check=full --error-exitcode=99 --errors-for-leak-kinds=definite,indirect \\
    --show-leak-kinds=definite,indirect --num-callers=30 --log-file=$logs/vg.%p.log "$chatd" "\$@"
EOF
chmod +x "$work/chatd"

echo "valgrind: $chatd; tests: ${tests[*]:-all}"
t0=$(date +%s)
CUT_STEP=${CUT_STEP:-5} CHATD=$work/chatd PER_TEST_TIMEOUT=${PER_TEST_TIMEOUT:-600} JOBS=${JOBS:-2} tests/run.sh "${tests[@]}" >"$work/run.out" 2>&1
rc=$?
grep -E '^(PASS|FAIL) |^[0-9]+/[0-9]+ files passed|^FAILED' "$work/run.out"
[ "$rc" != 0 ] && { echo "--- failing output:"; grep -A12 -E '^FAIL ' "$work/run.out" | grep -vE '^(PASS|FAIL) ' | head -n 60; }

# the logs
n=0 clean=0 killed=0 bad=0 errors=0 def=0 ind=0
badlogs=()
for f in "$logs"/vg.*.log; do
    [ -e "$f" ] || continue
    n=$((n + 1))
    if ! grep -q 'ERROR SUMMARY' "$f"; then killed=$((killed + 1)); continue; fi
    e=$(sed -nE 's/.*ERROR SUMMARY: ([0-9]+) errors.*/\1/p' "$f" | tail -n 1)
    d=$(sed -nE 's/.*definitely lost: ([0-9,]+) bytes.*/\1/p' "$f" | tr -d , | tail -n 1)
    i=$(sed -nE 's/.*indirectly lost: ([0-9,]+) bytes.*/\1/p' "$f" | tr -d , | tail -n 1)
    errors=$((errors + ${e:-0})) def=$((def + ${d:-0})) ind=$((ind + ${i:-0}))
    if [ "${e:-0}" != 0 ] || [ "${d:-0}" != 0 ] || [ "${i:-0}" != 0 ]; then bad=$((bad + 1)); badlogs+=("$f"); else clean=$((clean + 1)); fi
done
echo "----"
echo "valgrind: $n chatd processes: $clean clean, $bad with errors or leaks, $killed killed (SIGKILL, no summary)"
echo "valgrind: $errors errors in all; definitely lost $def bytes, indirectly lost $ind bytes"
for f in "${badlogs[@]:0:5}"; do
    echo "--- $(basename "$f"): $(sed -nE 's/^==[0-9]+== Command: //p' "$f" | head -n 1)"
    grep -E '^==[0-9]+== ' "$f" | sed -E 's/^==[0-9]+== //' |
        awk '/^(Invalid|Conditional|Use of|Syscall param|Mismatched|Source and destination|[0-9,]+ bytes in [0-9,]+ blocks are (definitely|indirectly))/ { show = 12 } show > 0 { print "  " $0; show-- }' | head -n 60
done
[ -n "${KEEP:-}" ] && echo "logs: $logs"
echo "valgrind: $(($(date +%s) - t0)) s"
if [ "$rc" != 0 ] || [ "$bad" != 0 ]; then exit 1; fi
exit 0
