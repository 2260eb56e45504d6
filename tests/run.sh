#!/usr/bin/env bash
# tests/run.sh — run every tests/t_*.sh against the chatd binary in $CHATD.
#   CHATD=/abs/path/chatd tests/run.sh [NAME...]   (NAME: run only t_NAME.sh / matching files)
#   tests/run.sh LABEL=/abs/path/chatd [NAME...] LABEL2=/other/chatd [NAME...]
#            several suites in one run, one scheduler over all their files (make test runs the
#            gcc and the ASan+UBSan build's files so); each line says LABEL/t_x.sh; a suite
#            without NAMEs runs every file
#   JOBS=N   how many test files run at once (default: 2; each starts its own servers)
#   VERBOSE=1  print every file's output, not only the failing ones'
# Prints PASS/FAIL/SKIP per file as it finishes, then a summary; exits non-zero if any file failed.
set -u
caller=$PWD   # a relative binary path is relative to where run.sh was started
cd "$(dirname "$0")" || exit 2
here=$PWD

for tool in curl jq python3 timeout mktemp; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 2; }
done

abs_bin() {   # BINARY -> absolute path, checked to be executable
    local b=$1
    case $b in /*) ;; *) b=$(cd "$caller" && cd "$(dirname "$b")" && pwd)/$(basename "$b") ;; esac
    if [ ! -x "$b" ]; then echo "run.sh: $b is not an executable file" >&2; exit 2; fi
    ABS=$b
}

# the jobs: suite label, binary, file (one entry per file per suite)
J_LABEL=() J_BIN=() J_FILE=()
add_files() {   # LABEL BINARY [NAME...]
    local label=$1 bin=$2 n f list=()
    shift 2
    if [ $# -gt 0 ]; then
        for n in "$@"; do
            if [[ $n == t_*.sh && -f $n ]]; then list+=("$n"); continue; fi   # an exact file name
            n=${n%.sh}; n=${n#t_}
            for f in t_*"$n"*.sh; do [ -f "$f" ] && list+=("$f"); done
        done
    else   # the deployment and TLS files need their builds: make test-deploy / test-tls name them
        for f in t_*.sh; do
            case $f in t_tls.sh | t_static.sh | t_arm.sh) continue ;; esac
            [ -f "$f" ] && list+=("$f")
        done
    fi
    for f in ${list[@]+"${list[@]}"}; do J_LABEL+=("$label") J_BIN+=("$bin") J_FILE+=("$f"); done
}
suite_label= suite_bin= suite_names=() suites=0
flush_suite() { [ -n "$suite_bin" ] && add_files "$suite_label" "$suite_bin" ${suite_names[@]+"${suite_names[@]}"}; suite_names=(); }
for a in "$@"; do
    if [[ $a =~ ^([a-z][a-z0-9_-]*)=(.+)$ ]]; then
        flush_suite
        abs_bin "${BASH_REMATCH[2]}"
        suite_label=${BASH_REMATCH[1]} suite_bin=$ABS suites=$((suites + 1))
    else
        if [ -z "$suite_bin" ]; then
            [ -z "${CHATD:-}" ] && { echo "run.sh: set CHATD to the chatd binary" >&2; exit 2; }
            abs_bin "$CHATD"; suite_bin=$ABS
        fi
        suite_names+=("$a")
    fi
done
if [ -z "$suite_bin" ]; then
    [ -z "${CHATD:-}" ] && { echo "run.sh: set CHATD to the chatd binary" >&2; exit 2; }
    abs_bin "$CHATD"; suite_bin=$ABS
fi
flush_suite
if [ ${#J_FILE[@]} -eq 0 ]; then
    echo "run.sh: no tests found" >&2
    exit 2
fi

# Longest first: with JOBS files at once, a long file started last would leave the other
# slots idle at the end. A file's time: its last run with this binary (build/test-times/, one
# file per binary), else its last time with another binary, else tests/test-times (measured on
# the 2-core machine, for a fresh clone as in CI); a file with no time at all goes first.
times_dir=$here/../build/test-times
declare -A TF
for b in $(printf '%s\n' "${J_BIN[@]}" | sort -u); do TF[$b]=$times_dir/$(cksum <<<"$b" | cut -d' ' -f1); done
tfs=()
for tf in "$times_dir"/* "$here/test-times"; do [ -f "$tf" ] && tfs+=("$tf"); done
order=$(for ((i = 0; i < ${#J_FILE[@]}; i++)); do echo "$i ${J_FILE[$i]} ${TF[${J_BIN[$i]}]}"; done |
    awk -v def="$here/test-times" '
        /^#/ { next }
        FILENAME == "-" { x = (($3, $2) in t) ? t[$3, $2] : ($2 in any) ? any[$2] : ($2 in d) ? d[$2] : 999
                          print x, $1; next }
        FILENAME == def { if (!($2 in d)) d[$2] = $1; next }
        { if (!((FILENAME, $2) in t)) t[FILENAME, $2] = $1; if (!($2 in any)) any[$2] = $1 }' \
        ${tfs[@]+"${tfs[@]}"} - | sort -rn -k1,1 | cut -d' ' -f2)
mapfile -t order <<<"$order"

JOBS=${JOBS:-2}
out=$(mktemp -d "${TMPDIR:-/tmp}/chatd-run.XXXXXX")
trap 'rm -rf "$out"' EXIT
PER_TEST_TIMEOUT=${PER_TEST_TIMEOUT:-300}

# Per file, without a process (~15 awk/grep/sed/cat processes per file before, 88 files a make
# test): cpu_tenths FILE -> TENTHS: the CPU time (user + system) of the finished children in the
# output of `times` (its second line, "XmY.YYYs XmY.YYYs"), in tenths of a second; tenths N ->
# TXT "N/10.N%10". (`times` runs in the shell itself, not in a $(...) subshell, which has no
# children of its own.)
cpu_tenths() {
    local u s f sec ms=0
    { read -r _ && read -r u s; } <"$1" || { TENTHS=0; return; }
    for f in "$u" "$s"; do
        sec=${f#*m} && sec=${sec%s}
        ms=$((ms + ${f%%m*} * 60000 + 10#${sec%.*} * 1000 + 10#${sec#*.}))
    done
    TENTHS=$(((ms + 50) / 100))
}
tenths() { printf -v TXT '%d.%d' $(($1 / 10)) $(($1 % 10)); }

name_of() { NAME=${J_LABEL[$1]:+${J_LABEL[$1]}/}${J_FILE[$1]}; }   # JOB -> NAME: LABEL/t_x.sh
SUMMARY_RE='^t_[a-z0-9_]+: [0-9]+ checks, [0-9]+ failed$'

# A file that prints "SKIP: why" and exits 0 could not run here: SKIP, and a failure under CI=true.
# Each line shows the file's wall time and its CPU time (it, its servers and clients).
run_one() {   # JOB: run its file with its binary, then print its line at once (progress as files finish)
    local j=$1 f=${J_FILE[$1]} n start end rc t summary= why= cpu line
    name_of "$j"
    n=$NAME
    start=${EPOCHREALTIME/[.,]/}
    CHATD=${J_BIN[$j]} timeout -k 5 "$PER_TEST_TIMEOUT" bash "$here/$f" >"$out/$j.out" 2>&1
    rc=$?
    end=${EPOCHREALTIME/[.,]/}
    tenths $(((end - start + 50000) / 100000))   # microseconds -> tenths of a second
    t=$TXT
    times >"$out/$j.times"
    cpu_tenths "$out/$j.times"
    tenths "$TENTHS"
    cpu=$TXT
    while IFS= read -r line; do   # the last summary line, the first SKIP line
        [[ $line =~ $SUMMARY_RE ]] && summary=$line
        [[ -z $why && $line == 'SKIP: '* ]] && why=$line
    done <"$out/$j.out"
    echo "$summary" >"$out/$j.summary"
    if [ "$rc" == 0 ] && [ -n "$why" ]; then
        if [ -n "${CI:-}" ]; then rc=3; summary="skipped under CI=true (${why#SKIP: })"
        else echo skip >"$out/$j.skip"; printf 'SKIP %-22s %6ss cpu %5ss  %s\n' "$n" "$t" "$cpu" "${why#SKIP: }"; fi
    fi
    echo "$rc" >"$out/$j.rc"
    echo "$t" >"$out/$j.time"
    if [ "$rc" == 0 ] && [ -z "$why" ]; then printf 'PASS %-22s %6ss cpu %5ss  %s\n' "$n" "$t" "$cpu" "${summary#*: }"
    elif [ "$rc" != 0 ]; then
        [ "$rc" == 124 ] && summary="timed out after ${PER_TEST_TIMEOUT}s; $summary"
        printf 'FAIL %-22s %6ss cpu %5ss  %s (exit %s)\n' "$n" "$t" "$cpu" "${summary#*: }" "$rc"
    fi
}

if ((suites > 1)); then
    echo "chatd shell tests: ${#J_FILE[@]} files of $suites suites ($(for ((i = 0; i < ${#J_FILE[@]}; i++)); do
        echo "${J_LABEL[$i]}=${J_BIN[$i]}"; done | uniq | paste -sd' ')), $JOBS at a time"
else
    echo "chatd shell tests: ${J_BIN[0]} (${#J_FILE[@]} files, $JOBS at a time)"
fi
t0=$(date +%s)
running=0
for j in "${order[@]}"; do
    run_one "$j" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

pass=0 skipped=0 failed=() total_checks=0 total_fails=0 cpu=0
declare -A s_checks s_fails s_files s_cpu
for ((j = 0; j < ${#J_FILE[@]}; j++)); do
    f=${J_FILE[$j]} l=_${J_LABEL[$j]}   # (a key may not be empty)
    rc=99 summary= c= x= fc=0
    { rc=$(<"$out/$j.rc"); } 2>/dev/null
    { summary=$(<"$out/$j.summary"); } 2>/dev/null
    [[ $summary =~ :\ ([0-9]+)\ checks,\ ([0-9]+)\ failed$ ]] && c=${BASH_REMATCH[1]} x=${BASH_REMATCH[2]}
    total_checks=$((total_checks + ${c:-0}))
    total_fails=$((total_fails + ${x:-0}))
    s_checks[$l]=$((${s_checks[$l]:-0} + ${c:-0})) s_files[$l]=$((${s_files[$l]:-0} + 1))
    [ -f "$out/$j.times" ] && cpu_tenths "$out/$j.times" && fc=$TENTHS
    cpu=$((cpu + fc))   # (tenths of a second)
    s_cpu[$l]=$((${s_cpu[$l]:-0} + fc))
    name_of "$j"
    if [ -f "$out/$j.skip" ]; then skipped=$((skipped + 1))
    elif [ "$rc" == 0 ]; then
        pass=$((pass + 1))
        [ -n "${VERBOSE:-}" ] && { echo "== $NAME"; sed 's/^/    /' "$out/$j.out"; }
    else
        failed+=("$NAME")
        [ "${x:-0}" == 0 ] && total_fails=$((total_fails + 1)) && s_fails[$l]=$((${s_fails[$l]:-0} + 1))
        echo "== FAIL $NAME"
        sed 's/^/    /' "$out/$j.out"
    fi
    s_fails[$l]=$((${s_fails[$l]:-0} + ${x:-0}))
done
# this run's times for the next one, per binary (files not run this time keep their last time)
mkdir -p "$times_dir"
for b in $(printf '%s\n' "${J_BIN[@]}" | sort -u); do
    tf=${TF[$b]}
    { for ((j = 0; j < ${#J_FILE[@]}; j++)); do
          [ "${J_BIN[$j]}" == "$b" ] && [ -f "$out/$j.time" ] && echo "$(<"$out/$j.time") ${J_FILE[$j]}"; done
      [ -f "$tf" ] && cat "$tf"; } | awk '!seen[$2]++' >"$tf.$$" && mv "$tf.$$" "$tf"
done
echo "----"
if ((suites > 1)); then
    for l in $(printf '_%s\n' "${J_LABEL[@]}" | uniq); do
        tenths "${s_cpu[$l]}"
        echo "${l#_}: ${s_files[$l]} files, ${s_checks[$l]} checks, ${s_fails[$l]:-0} failed (cpu ${TXT}s)"
    done
fi
tenths "$cpu"
echo "$pass/${#J_FILE[@]} files passed, $skipped skipped, $total_checks checks, $total_fails failed, $(($(date +%s) - t0))s (cpu ${TXT}s)"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
exit 0
