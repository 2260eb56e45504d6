#!/usr/bin/env bash
# The built-in web client in a real Chromium: tests/web/chat.mjs (playwright-core driving
# Debian's chromium) against a fresh server; each of its "ok"/"not ok" lines is one check.
# Needs node, tests/web/node_modules (cd tests/web && npm install --no-package-lock) and
# chromium ($CHROMIUM, default /usr/bin/chromium); without them: SKIP (a failure under CI=true).
# Screenshots of the main views go to build/web-shots/ (build/ is ignored by git): each checked;
# a binary in build/X/ (the ASan lane, run beside the plain one) writes build/web-shots-X/.
here=$(cd "$(dirname "$0")" && pwd)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { echo "SKIP: no chromium at $CHROMIUM (apt-get install chromium)"; exit 0; }
command -v node >/dev/null || { echo "SKIP: node not installed (apt-get install nodejs npm)"; exit 0; }
[ -d "$here/web/node_modules/playwright-core" ] ||
    { echo "SKIP: playwright-core not installed (cd tests/web && npm install --no-package-lock)"; exit 0; }
export CHROMIUM
. "$here/lib.sh"

start_server --presence-grace 0   # presence: offline the moment the last stream closes
SHOTS=$here/../build/web-shots   # the sanitizer lane runs at the same time: its own directory
case $CHATD in */build/*/chatd) SHOTS=$SHOTS-$(basename "$(dirname "$CHATD")") ;; esac
mkdir -p "$SHOTS"
rm -f "$SHOTS"/*.png
LAST_REQ="node tests/web/chat.mjs $BASE"
out=$(cd "$here/web" && timeout 280 node chat.mjs "$BASE" "$SHOTS" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/  | /'
while IFS= read -r line; do
    case $line in
        "ok - "*) ok ;;
        "not ok - "*) fail "${line#not ok - }" ;;
    esac
done <<<"$out"
expect_eq "chat.mjs exit status" 0 "$rc"
expect_true "chat.mjs ran its checks" test "$(grep -c '^ok - \|^not ok - ' <<<"$out")" -ge 30
for f in sign-in unread conversation main after-reload reconnecting disk-full signed-out phone; do
    expect_eq "screenshot build/web-shots/$f.png was written (a PNG)" PNG "$(head -c 4 "$SHOTS/$f.png" 2>/dev/null | tail -c 3)"
done
stop_server
