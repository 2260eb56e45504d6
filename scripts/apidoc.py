#!/usr/bin/env python3
"""scripts/apidoc.py — keeps the examples of docs/API.md true.

    scripts/apidoc.py check  URL [docs/API.md]   run the examples against a fresh server at URL,
                                                 exit 1 naming each example whose answer differs
    scripts/apidoc.py update URL [docs/API.md]   the same, but write the answers into the file

Every ```sh block of the file runs, in order, in one bash (variables carry over), with
"http://localhost:8000" replaced by URL. A ```json block (or ```sse, for a stream) right after a
```sh block is that block's documented output: the JSON values it printed (pretty-printed in the
file, one line on the terminal), status codes printed by `-w '%{http_code}\\n'` (JSON numbers
too) and other lines ("data: {...}" lines of a stream are compared as JSON; blank lines do not
count). Times and tokens differ on every run: an RFC 3339 time compares equal to any time, a
"token" value to any token; everything else must be equal. A ```sh block with no ```json block
after it runs unchecked.
"""
import json
import os
import re
import subprocess
import sys

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MARK = "\x1eAPIDOC-END\x1e"


def blocks(text):
    """[(kind, body, start, end)] of the fenced blocks; start/end: offsets of the body."""
    out = []
    for m in re.finditer(r"^```([a-z]*)\n(.*?)^```$", text, re.M | re.S):
        out.append((m.group(1), m.group(2), m.start(2), m.end(2)))
    return out


def normal(v, key=None):
    if key == "token" and isinstance(v, str):
        return "<token>"
    if isinstance(v, str) and TIME_RE.match(v):
        return "<time>"
    if isinstance(v, dict):
        return {k: normal(x, k) for k, x in v.items()}
    if isinstance(v, list):
        return [normal(x) for x in v]
    return v


def items(text):
    """The output as a list: ("json", value) or ("line", text), blank lines left out."""
    dec = json.JSONDecoder()
    out, i, n = [], 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            break
        if text[i] in "{[0123456789-\"tfn":
            try:
                v, j = dec.raw_decode(text, i)
                out.append(("json", v))
                i = j
                continue
            except ValueError:
                pass
        j = text.find("\n", i)
        j = n if j < 0 else j
        line = text[i:j].rstrip("\r")
        if line.startswith("data: "):
            try:
                out.append(("data", json.loads(line[6:])))
                i = j
                continue
            except ValueError:
                pass
        out.append(("line", line))
        i = j
    return out


def pretty(text):
    """The output as the file shows it: JSON pretty-printed (short values on one line)."""
    parts = []
    for kind, v in items(text):
        if kind == "json":
            one = json.dumps(v, ensure_ascii=False, separators=(",", ":"))
            parts.append(one if len(one) <= 96 else json.dumps(v, ensure_ascii=False, indent=2))
        elif kind == "data":
            parts.append("data: " + json.dumps(v, ensure_ascii=False, separators=(",", ":")) + "\n")
        else:
            parts.append(v)
    return "\n".join(parts) + "\n"


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("check", "update"):
        sys.exit(__doc__)
    mode, url = sys.argv[1], sys.argv[2].rstrip("/")
    path = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(__file__), "..", "docs", "API.md")
    text = open(path, encoding="utf-8").read()
    bl = blocks(text)
    runs = []  # (index in bl of the sh block, index of its json block or None)
    for k, (kind, body, s, e) in enumerate(bl):
        if kind != "sh":
            continue
        nxt = k + 1 if k + 1 < len(bl) and bl[k + 1][0] in ("json", "sse") and \
            re.fullmatch(r"```\n\s*```(json|sse)\n", text[e:bl[k + 1][2]]) else None
        runs.append((k, nxt))
    ws = url.replace("http://", "ws://")
    script = "set -u\n"
    for k, _ in runs:
        body = bl[k][1].replace("ws://localhost:8000", ws).replace("http://localhost:8000", url)
        script += body + "\nprintf '%s' '" + MARK + "'\n"
    top = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    p = subprocess.run(["bash", "-c", script], cwd=top, capture_output=True, text=True, timeout=300)
    outs = p.stdout.split(MARK)
    if len(outs) != len(runs) + 1:
        sys.exit("apidoc: the examples stopped after block %d of %d (exit %d): %s"
                 % (len(outs) - 1, len(runs), p.returncode, p.stderr[-500:]))
    bad, edits = 0, []
    for (k, j), got in zip(runs, outs):
        if j is None:
            continue
        want = bl[j][1]
        first = bl[k][1].strip().splitlines()[-1][:100]
        ng = [(a, normal(b)) for a, b in items(got)]
        nw = [(a, normal(b)) for a, b in items(want)]
        if ng != nw:
            if mode == "check":
                bad += 1
                print("DIFFERS: example ending `%s`\n  documented: %s\n  answered:   %s"
                      % (first, json.dumps(nw)[:600], json.dumps(ng)[:600]))
            edits.append((bl[j][2], bl[j][3], pretty(got)))
    checked = sum(1 for _, j in runs if j is not None)
    if mode == "update":
        for s, e, new in sorted(edits, reverse=True):
            text = text[:s] + new + text[e:]
        open(path, "w", encoding="utf-8").write(text)
        print("apidoc: %d examples, %d rewritten" % (checked, len(edits)))
        return
    print("apidoc: %d examples run, %d checked, %d differ; stderr: %s"
          % (len(runs), checked, bad, p.stderr.strip()[:300] or "(none)"))
    sys.exit(1 if bad or p.stderr.strip() else 0)


if __name__ == "__main__":
    main()
