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

bad=0 files=0
for src in src/*.c src/*.h; do
    base=$(basename "$src"); base=${base%.*}
    [ -n "${layer[$base]:-}" ] || { echo "not in any layer: $src"; bad=$((bad + 1)); continue; }
    files=$((files + 1))
    while read -r inc; do
        inc=${inc%.h}
        [ -n "${layer[$inc]:-}" ] || continue
        if [ "${layer[$inc]}" -gt "${layer[$base]}" ]; then
            echo "upward include: $src includes $inc.h"; bad=$((bad + 1))
        fi
    done < <(sed -n 's/^#include "\([a-z0-9_]*\.h\)".*/\1/p' "$src")
done

# Calls: who defines each global symbol, then every object's undefined symbols.
declare -A owner
for o in "$objdir"/*.o; do
    base=$(basename "$o" .o)
    for sym in $(nm -g --defined-only "$o" | awk '$2 ~ /^[TDBR]$/ { print $3 }'); do owner[$sym]=$base; done
done
calls=0
for o in "$objdir"/*.o; do
    base=$(basename "$o" .o)
    [ -n "${layer[$base]:-}" ] || continue
    for sym in $(nm -u "$o" | awk '{ print $2 }'); do
        def=${owner[$sym]:-}
        [ -n "$def" ] && [ -n "${layer[$def]:-}" ] || continue
        calls=$((calls + 1))
        if [ "${layer[$def]}" -gt "${layer[$base]}" ]; then
            echo "upward call: $base.c uses $sym from $def.c"; bad=$((bad + 1))
        fi
    done
done
if [ "$bad" -gt 0 ]; then echo "layers: $bad upward dependencies"; exit 1; fi
echo "layers: $files files in $n layers, $calls cross-file calls, none upward"
