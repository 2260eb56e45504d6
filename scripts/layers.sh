#!/usr/bin/env bash
# scripts/layers.sh — the layer check: no file of src/ includes a header of, or calls a function
# defined in, a layer above its own. The layers are listed in src/README.md between the lines
# "layers:" and "end of layers", top first, one layer a line: "NAME: file file ...".
#   scripts/layers.sh [OBJDIR]   OBJDIR holds the objects of src/*.c (default build/rel)
# Prints each upward include or call and exits 1 if there is any; 0 and a summary otherwise.
set -u
cd "$(dirname "$0")/.." || exit 2
objdir=${1:-build/rel}
declare -A layer
n=0
while read -r line; do   # top layer first: give it the highest number
    names=${line#*:}
    n=$((n + 1))
    for f in $names; do layer[$f]=$n; done
done < <(sed -n '/^layers:/,/^end of layers/p' src/README.md | grep -E '^ +[a-z]+:' | sed 's/^ *//')
[ "$n" -gt 0 ] || { echo "layers.sh: no layer list in src/README.md" >&2; exit 2; }
for f in "${!layer[@]}"; do layer[$f]=$((n + 1 - ${layer[$f]})); done   # bottom = 1

# Three processes in all (grep, two nm): a process per file cost 8 CPU-s on the 2-core VM.
bad=0 files=0 inc_re='^#include "([a-z0-9_]+)\.h"'
for src in src/*.c src/*.h; do
    base=${src##*/}; base=${base%.*}
    if [ -n "${layer[$base]:-}" ]; then files=$((files + 1)); else echo "not in any layer: $src"; bad=$((bad + 1)); fi
done
while IFS=: read -r src inc; do   # src/x.c:#include "y.h"
    base=${src##*/}; base=${base%.*}
    [[ $inc =~ $inc_re ]] || continue
    inc=${BASH_REMATCH[1]}
    [ -n "${layer[$base]:-}" ] && [ -n "${layer[$inc]:-}" ] || continue
    if [ "${layer[$inc]}" -gt "${layer[$base]}" ]; then
        echo "upward include: $src includes $inc.h"; bad=$((bad + 1))
    fi
done < <(grep -H '^#include "' src/*.c src/*.h)

# Calls: who defines each global symbol, then every object's undefined symbols
# (nm -A: "DIR/x.o:VALUE TYPE SYMBOL" defined, "DIR/x.o: U SYMBOL" undefined).
declare -A owner
while read -r o type sym; do   # o: "DIR/x.o:VALUE"
    [[ $type == [TDBR] ]] || continue
    o=${o%.o:*}; owner[$sym]=${o##*/}
done < <(nm -A -g --defined-only "$objdir"/*.o)
calls=0
while read -r o _ sym; do
    base=${o%.o:*}; base=${base##*/}
    def=${owner[$sym]:-}
    [ -n "${layer[$base]:-}" ] && [ -n "$def" ] && [ -n "${layer[$def]:-}" ] || continue
    calls=$((calls + 1))
    if [ "${layer[$def]}" -gt "${layer[$base]}" ]; then
        echo "upward call: $base.c uses $sym from $def.c"; bad=$((bad + 1))
    fi
done < <(nm -A -u "$objdir"/*.o)
if [ "$bad" -gt 0 ]; then echo "layers: $bad upward dependencies"; exit 1; fi
echo "layers: $files files in $n layers, $calls cross-file calls, none upward"
