#!/usr/bin/env bash
# scripts/test.sh — what `make test` runs: every build and test step, each reported as it
# finishes (PASS/FAIL, its counts, its time; the shell suites also print one line per test file,
# prefixed with the suite: "PASS shell/t_users.sh", "PASS san-shell/t_ws.sh"), going on after a
# failure so one run shows everything, and ending with the slowest steps and test files and the
# line "N passed, M failed" over all checks (unit checks, shell checks, fuzz seeds; a step that
# fails without counting, e.g. a build, counts as one failure). Exit status 1 if anything failed.
# Full output of each step: build/test-logs/STEP.log.
#
# The steps run in four lanes at once (each lane in order):
#   plain:  build -> layers -> size -> unit
#   san:    san-build -> san-unit
#   shell:  (once both builds are there) one tests/run.sh over the shell test files of both: the
#           gcc -O2 build's ("shell/t_x.sh") and the ASan+UBSan build's ("san-shell/t_x.sh"; see
#           SAN_SKIP and PLAIN_SKIP), JOBS (default 6) files at once, the longest first, so the
#           long files of both start at once and the slots stay busy to the end: most of a shell
#           test's time is spent in curl/jq/python processes and in waits, not in the server
#   other:  clang -> deploy (static, ARM under qemu) -> tls -> fuzz-regress
# LANES=1 runs the same steps one after another (for a timing comparison, or a quiet log).
set -u
cd "$(dirname "$0")/.." || exit 2
logs=build/test-logs
rm -rf "$logs"
mkdir -p "$logs"
MAKE=${MAKE:-make}
t_all=$(date +%s)

# The counts a step's log holds: unit binaries and test files print "NAME: N checks, M failed",
# tests/run.sh ends with "... X checks, Y failed, ...", fuzz-regress prints "fuzz_x: N seed inputs ok".
count() {   # LOG -> "checks fails"
    awk '/^[a-z0-9_]+: [0-9]+ checks, [0-9]+ failed$/ { c += $2; f += $4 }
         /files passed, .* checks, .* failed/ { for (i = 1; i <= NF; i++) {
             if ($(i + 1) ~ /^checks,?$/) c += $i; if ($(i + 1) ~ /^failed,?$/) f += $i } }
         /^fuzz_[a-z]+: [0-9]+ seed inputs ok$/ { c += $2 }
         END { printf "%d %d\n", c, f }' "$1"
}

# cpu FILE: CPU seconds (user + system) of the finished children in the output of `times`
# (run in the lane's shell itself: a $(...) subshell has no children of its own)
cpu() { awk 'END { s = 0; for (i = 1; i <= NF; i++) { split($i, b, "m"); s += b[1] * 60 + b[2] }
                   printf "%.1f", s }' "$1"; }

# step NAME COMMAND...: run it; stream its per-file lines (PASS/FAIL/SKIP at the start) with the
# step's name before the file; leave "rc checks fails seconds cpu-seconds" in $logs/NAME.result
step() {
    local name=$1 t0 rc c f secs c0 cs
    shift
    t0=$(date +%s)
    times >"$logs/$name.times"
    c0=$(cpu "$logs/$name.times")
    echo "== $name: $*"
    "$@" >"$logs/$name.log" 2>&1 &
    local pid=$!
    tail -n +1 -f --pid=$pid "$logs/$name.log" 2>/dev/null |   # lines of labelled suites as they are
        sed -u -nE -e '/^(PASS|FAIL|SKIP) +[a-z][a-z0-9_-]*\/t_[a-z0-9_]+\.sh/{p;d;}' \
            -e "s#^(PASS|FAIL|SKIP) +(t_[a-z0-9_]+\.sh)#\1 $name/\2#p"
    wait $pid
    rc=$?
    secs=$(($(date +%s) - t0))
    times >"$logs/$name.times"
    cs=$(awk -v a="$c0" -v b="$(cpu "$logs/$name.times")" 'BEGIN { printf "%d", b - a + 0.5 }')
    read -r c f < <(count "$logs/$name.log")
    echo "$rc $c $f $secs $cs" >"$logs/$name.result"
    if [ "$rc" == 0 ]; then
        printf 'PASS %s: %d checks, %ds (cpu %ds)\n' "$name" "$c" "$secs" "$cs"
    else
        { printf 'FAIL %s (exit %d, %ds, cpu %ds); last lines of %s:\n' "$name" "$rc" "$secs" "$cs" "$logs/$name.log"
          grep -v -E '^(PASS|SKIP) ' "$logs/$name.log" | tail -n 40 | sed 's/^/    /'; } >"$logs/$name.fail"
        cat "$logs/$name.fail"   # one write: whole even when another lane prints meanwhile
    fi
    [ "$rc" == 0 ]
}

# ASan+UBSan shell run: every test file except those in SAN_SKIP (space-separated file names),
# which the plain run covers. By default the documentation checks (t_flags: README vs --help,
# t_readme and t_docs: the examples of README.md and docs/API.md): what they check does not
# change under sanitizers, and the requests they make are the ones the API test files make
# under sanitizers too. SAN_SKIP= runs them as well.
SAN_SKIP=${SAN_SKIP-t_flags.sh t_readme.sh t_docs.sh}
# The plain run leaves out PLAIN_SKIP: by default the browser test (t_web_browser: Chromium
# driving the web client). It runs once, against the ASan+UBSan build: what it checks is the
# web client (served by any build the same) and the server's answers to it, which the sanitizer
# run checks as well, with the memory checks besides; Chromium is its cost (~15 CPU-s a run),
# not the server. PLAIN_SKIP= runs it in both.
PLAIN_SKIP=${PLAIN_SKIP-t_web_browser.sh}
# t_tls, t_static, t_arm test other binaries (the tls and deploy steps run them)
san_files=() plain_files=()
for f in tests/t_*.sh; do
    f=${f#tests/}
    case " t_tls.sh t_static.sh t_arm.sh " in *" $f "*) continue ;; esac
    case " $SAN_SKIP " in *" $f "*) ;; *) san_files+=("$f") ;; esac
    case " $PLAIN_SKIP " in *" $f "*) ;; *) plain_files+=("$f") ;; esac
done

lane_plain() {
    step build $MAKE -j2 all && { step layers $MAKE layers; step size $MAKE size; step unit $MAKE -j2 unit; }
}
lane_san() {
    step san-build $MAKE -j2 SAN=1 all && step san-unit $MAKE -j2 SAN=1 unit
}
built() {   # STEP: wait for the build step's result; 0 if it passed
    local rc
    until [ -f "$logs/$1.result" ]; do sleep 1; done
    read -r rc _ <"$logs/$1.result"
    [ "$rc" == 0 ]
}
lane_shell() {   # the suites whose build passed
    local suites=()
    built build && suites+=("shell=$PWD/chatd" "${plain_files[@]}")
    built san-build && suites+=("san-shell=$PWD/build/san/chatd" "${san_files[@]}")
    [ ${#suites[@]} -gt 0 ] && step shell env JOBS="${JOBS:-6}" tests/run.sh "${suites[@]}"
}
lane_other() {
    # clang's -Werror check (front-end warnings: -fsyntax-only); the gcc, sanitizer, static and
    # ARM builds are the ones that generate code
    step clang $MAKE clang-check
    step deploy $MAKE test-deploy
    built build   # (the TLS build links the plain build's objects: only 4 files differ)
    step tls $MAKE test-tls
    step fuzz-regress $MAKE fuzz-regress
}

if [ "${LANES:-3}" == 1 ]; then
    lane_plain; lane_san; lane_shell; lane_other
else
    lane_plain & lane_san & lane_shell & lane_other &
    wait
fi

echo "----"
passed=0 failed=0 failed_steps=()
for r in "$logs"/*.result; do
    name=$(basename "$r" .result)
    read -r rc c f secs _ <"$r"
    if [ "$rc" == 0 ]; then
        passed=$((passed + c - f)); failed=$((failed + f))
    else
        [ "$f" == 0 ] && f=1
        passed=$((passed + (c > f ? c - f : 0))); failed=$((failed + f)); failed_steps+=("$name")
    fi
done
echo "slowest steps: $(for r in "$logs"/*.result; do echo "$(cut -d' ' -f4,5 "$r") $(basename "$r" .result)"; done |
    sort -rn | head -n 5 | awk '{ printf "%s%s %ss (cpu %ss)", (NR > 1 ? ", " : ""), $3, $1, $2 }')"
sed -nE 's/^([a-z-]+: [0-9]+ files, [0-9]+ checks, [0-9]+ failed \(cpu [0-9.]+s\))$/shell suite \1/p' "$logs/shell.log" 2>/dev/null
echo "slowest test files: $(sed -nE 's#^(PASS|FAIL) +([a-z-]+/t_[a-z0-9_]+\.sh) +([0-9.]+)s .*#\3 \2#p' "$logs/shell.log" 2>/dev/null |
    sort -rn | head -n 5 | awk '{ printf "%s%s %ss", (NR > 1 ? ", " : ""), $2, $1 }')"
times >"$logs/all.times"
echo "make test: $(($(date +%s) - t_all))s (cpu $(cpu "$logs/all.times")s)${failed_steps[*]:+; failed steps: ${failed_steps[*]}}"
echo "$passed passed, $failed failed"
[ ${#failed_steps[@]} == 0 ]
