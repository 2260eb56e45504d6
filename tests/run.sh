#!/usr/bin/env bash
# tests/run.sh — run every tests/t_*.sh against the chatd binary in $CHATD.
#   CHATD=/abs/path/chatd tests/run.sh [NAME...]   (NAME: run only t_NAME.sh / matching files)
#   JOBS=N   how many test files run at once (default: 2; each starts its own servers)
#   VERBOSE=1  print every file's output, not only the failing ones'
# Prints PASS/FAIL per file and a summary; exits non-zero if any file failed.
set -u
cd "$(dirname "$0")" || exit 2
here=$PWD

if [ -z "${CHATD:-}" ]; then
    echo "run.sh: set CHATD to the chatd binary" >&2
    exit 2
fi
case $CHATD in /*) ;; *) CHATD=$(cd "$(dirname "$CHATD")" && pwd)/$(basename "$CHATD") ;; esac
if [ ! -x "$CHATD" ]; then
    echo "run.sh: $CHATD is not an executable file" >&2
    exit 2
fi
export CHATD
for tool in curl jq python3 timeout mktemp; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 2; }
done

tests=()
if [ $# -gt 0 ]; then
    for n in "$@"; do
        n=${n%.sh}; n=${n#t_}
        for f in t_*"$n"*.sh; do [ -f "$f" ] && tests+=("$f"); done
    done
else
    for f in t_*.sh; do [ -f "$f" ] && tests+=("$f"); done
fi
if [ ${#tests[@]} -eq 0 ]; then
    echo "run.sh: no tests found" >&2
    exit 2
fi

JOBS=${JOBS:-2}
out=$(mktemp -d "${TMPDIR:-/tmp}/chatd-run.XXXXXX")
trap 'rm -rf "$out"' EXIT
PER_TEST_TIMEOUT=${PER_TEST_TIMEOUT:-300}

run_one() {   # file
    local f=$1 start end
    start=$(date +%s.%N)
    timeout -k 5 "$PER_TEST_TIMEOUT" bash "$here/$f" >"$out/$f.out" 2>&1
    echo $? >"$out/$f.rc"
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }' >"$out/$f.time"
}

echo "chatd shell tests: $CHATD (${#tests[@]} files, $JOBS at a time)"
t0=$(date +%s)
running=0
for f in "${tests[@]}"; do
    run_one "$f" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

pass=0 failed=() total_checks=0 total_fails=0
for f in "${tests[@]}"; do
    rc=$(cat "$out/$f.rc" 2>/dev/null || echo 99)
    t=$(cat "$out/$f.time" 2>/dev/null || echo '?')
    summary=$(grep -E '^t_[a-z0-9_]+: [0-9]+ checks, [0-9]+ failed$' "$out/$f.out" | tail -n 1)
    c=$(sed -E 's/.*: ([0-9]+) checks.*/\1/' <<<"$summary")
    x=$(sed -E 's/.*, ([0-9]+) failed/\1/' <<<"$summary")
    total_checks=$((total_checks + ${c:-0}))
    total_fails=$((total_fails + ${x:-0}))
    if [ "$rc" == 0 ]; then
        pass=$((pass + 1))
        printf 'PASS %-22s %6ss  %s\n' "$f" "$t" "${summary#*: }"
        [ -n "${VERBOSE:-}" ] && sed 's/^/    /' "$out/$f.out"
    else
        failed+=("$f")
        why=${summary#*: }
        [ "$rc" == 124 ] && why="timed out after ${PER_TEST_TIMEOUT}s; $why"
        printf 'FAIL %-22s %6ss  %s (exit %s)\n' "$f" "$t" "$why" "$rc"
        sed 's/^/    /' "$out/$f.out"
    fi
done
echo "----"
echo "$pass/${#tests[@]} files passed, $total_checks checks, $total_fails failed, $(($(date +%s) - t0))s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
exit 0
