#!/usr/bin/python3
"""pcut.py — the replaying half of the power-cut explorer (tests/t_powercut.sh, make powercut).

It reads the trace that preload.c recorded while chatd ran, and writes out, for chosen crash
points, the data directory as a power cut at that point could have left it:

  * a file holds everything up to its last completed fsync/fdatasync, plus a prefix of the writes
    and truncations made after it, the last of them torn at any byte (mode "prefix"); or the torn
    part's new bytes read back as zeros (the size reached the disk, the data did not); or nothing
    after the sync ("synced"); or everything ("all", what kill -9 leaves); or, per 4 KiB page,
    either the synced or the newest contents ("pages": write-back out of order);
  * the directory holds the names as of its last fsync, plus a prefix of the later creates,
    renames and unlinks (a name's file keeps its own contents whichever name it ends up under).

A crash point k means operations 0..k-1 happened and k did not. The writer (crash_writer.py
--trace-file) noted for each acknowledged write the trace size when its answer arrived; every
write acknowledged at a size <= the end of operation k-1 must survive a crash at k: that count
is the point's "mark" (crash_writer.py check --mark).

  pcut.py states --trace T --init DIR --acks A --out OUT [-n N] [--seed S] [--plant P] [--focus F]
      DIR: the data directory as it was before the traced run (all of it synced). A: the ack
      positions (JSON list). Writes OUT/pNNNN/data and OUT/pNNNN/info.json (point, mark, mode).
      --plant simulates a server bug on the same trace, to show the explorer catches it:
        no-dirsync   the directory fsync that follows a rename never happened
        late-sync    each fsync makes durable only what the previous one covered (responses sent
                     one sync too early)
      --focus rename: crash points only after the first rename (where no-dirsync matters);
      --focus sync: only just before syncs complete. -n all: every point (small traces).
      --modes m,m: the modes to draw from (default: all four, "prefix" most often; "torn-last":
      every write but the last, that one torn at a random byte, for --focus sync).
  pcut.py batch               runs of `states`, their options a line each on stdin (split as a
      shell would), each one's summary to its OUT.summary: the trace is read once (t_powercut
      makes its four sets of crash states so).
  pcut.py dump --trace T      print the operations (debugging)
"""
import bisect
import json
import os
import random
import struct
import sys

OP_OPEN, OP_WRITE, OP_TRUNC, OP_SYNC, OP_DIRSYNC, OP_RENAME, OP_UNLINK, OP_CLOSE = range(1, 9)
OPNAMES = {1: "open", 2: "write", 3: "trunc", 4: "sync", 5: "dirsync", 6: "rename", 7: "unlink", 8: "close"}
F_CREATED, F_TRUNC, F_DIR = 1, 2, 4
HDR = struct.Struct("<IBBHiIQQ")
PAGE = 4096


def die(msg):
    print("pcut.py: " + msg, file=sys.stderr)
    sys.exit(2)


TRACES = {}     # path -> its operations (read once by a batch)


def read_trace(path):
    """[(op, flags, fd, name1, name2, off, len, data, end_offset)]"""
    if path in TRACES:
        return TRACES[path]
    raw = open(path, "rb").read()
    ops, at = [], 0
    while at < len(raw):
        if at + HDR.size > len(raw):
            die("trace cut short at %d" % at)
        total, op, flags, n1, fd, n2, off, ln = HDR.unpack_from(raw, at)
        p = at + HDR.size
        a = raw[p:p + n1].decode()
        b = raw[p + n1:p + n1 + n2].decode()
        data = raw[p + n1 + n2:at + total] if op == OP_WRITE else None
        at += total
        ops.append((op, flags, fd, a, b, off, ln, data, at))
    TRACES[path] = ops
    return ops


def apply_op(buf, o):
    if o[0] == "w":
        _, off, data = o
        if len(buf) < off:
            buf.extend(bytes(off - len(buf)))
        buf[off:off + len(data)] = data
    else:
        n = o[1]
        if n < len(buf):
            del buf[n:]
        else:
            buf.extend(bytes(n - len(buf)))


class Inode:
    def __init__(self, content=b""):
        self.durable = bytearray(content)
        self.pending = []      # ("w", off, data) / ("t", len) since the last sync
        self.late = 0          # late-sync plant: how many of pending the previous sync covered

    def sync(self, late):
        n = self.late if late else len(self.pending)
        for o in self.pending[:n]:
            apply_op(self.durable, o)
        self.pending = self.pending[n:]
        self.late = len(self.pending)

    def crash(self, rng, mode):
        """The contents a power cut could leave, and a short description."""
        out = bytearray(self.durable)
        if mode == "synced" or not self.pending:
            return out, "synced"
        if mode == "all":
            for o in self.pending:
                apply_op(out, o)
            return out, "all %d" % len(self.pending)
        if mode == "pages":
            full = bytearray(out)
            for o in self.pending:
                apply_op(full, o)
            size = rng.choice([len(out), len(full)])
            mixed = bytearray(size)
            for p in range(0, size, PAGE):
                src = full if rng.random() < 0.5 else out
                chunk = src[p:min(p + PAGE, size)]
                mixed[p:p + len(chunk)] = chunk
            return mixed, "pages size %d of %d..%d" % (size, len(out), len(full))
        n = len(self.pending) - 1 if mode == "torn-last" else rng.randint(0, len(self.pending))
        for o in self.pending[:n]:
            apply_op(out, o)
        desc = "prefix %d/%d" % (n, len(self.pending))
        if n < len(self.pending) and self.pending[n][0] == "w":
            _, off, data = self.pending[n]
            t = rng.randint(0, len(data) - 1) if data else 0
            if off + len(data) <= len(out) and not any(out[off:off + len(data)]):
                desc += " over zeros"   # written ahead by the store (already in the file's size)
            if rng.random() < 0.25 and off + len(data) > len(out):
                apply_op(out, ("w", off, data[:t] + bytes(len(data) - t)))
                desc += " + write of %d torn at %d, rest zeros" % (len(data), t)
            else:
                apply_op(out, ("w", off, data[:t]))
                desc += " + write of %d torn at %d" % (len(data), t)
        return out, desc


class Model:
    def __init__(self, init_dir, plant):
        self.plant = plant
        self.inodes = {}
        self.live = {}         # name -> inode number, every operation applied
        self.durable = {}      # name -> inode number as of the last directory fsync
        self.dir_pending = []  # ("link", name, ino) / ("rename", a, b) / ("unlink", a)
        self.fds = {}
        self.renamed = False   # the last directory operation was a rename (no-dirsync plant)
        for name in sorted(os.listdir(init_dir)):
            path = os.path.join(init_dir, name)
            if os.path.isfile(path):
                ino = self.new_inode(open(path, "rb").read())
                self.live[name] = self.durable[name] = ino

    def new_inode(self, content=b""):
        ino = len(self.inodes) + 1
        self.inodes[ino] = Inode(content)
        return ino

    def do(self, op):
        kind, flags, fd, a, b, off, ln, data, _ = op
        if kind == OP_OPEN:
            if flags & F_DIR:
                self.fds[fd] = None
                return
            ino = self.live.get(a)
            if ino is None:
                ino = self.live[a] = self.new_inode()
                self.dir_pending.append(("link", a, ino))
                self.renamed = False
            if flags & F_TRUNC:
                self.inodes[ino].pending.append(("t", 0))
            self.fds[fd] = ino
        elif kind == OP_WRITE:
            self.inodes[self.fds[fd]].pending.append(("w", off, data))
        elif kind == OP_TRUNC:
            self.inodes[self.fds[fd]].pending.append(("t", ln))
        elif kind == OP_SYNC:
            self.inodes[self.fds[fd]].sync(self.plant == "late-sync")
        elif kind == OP_DIRSYNC:
            if self.plant == "no-dirsync" and self.renamed:
                return
            self.durable = self.apply_dir(self.durable, self.dir_pending)
            self.dir_pending = []
        elif kind == OP_RENAME:
            self.live[b] = self.live.pop(a)
            self.dir_pending.append(("rename", a, b))
            self.renamed = True
        elif kind == OP_UNLINK:
            self.live.pop(a)
            self.dir_pending.append(("unlink", a))
            self.renamed = False
        elif kind == OP_CLOSE:
            self.fds.pop(fd, None)

    @staticmethod
    def apply_dir(names, ops):
        names = dict(names)
        for o in ops:
            if o[0] == "link":
                names[o[1]] = o[2]
            elif o[0] == "rename":
                names[o[2]] = names.pop(o[1])
            else:
                names.pop(o[1], None)
        return names

    def crash(self, rng, mode, out_dir):
        q = 0 if mode == "synced" else len(self.dir_pending) if mode == "all" else \
            rng.randint(0, len(self.dir_pending))
        names = self.apply_dir(self.durable, self.dir_pending[:q])
        os.makedirs(out_dir)
        files = {}
        for name, ino in sorted(names.items()):
            content, desc = self.inodes[ino].crash(rng, mode)
            with open(os.path.join(out_dir, name), "wb") as f:
                f.write(content)
            files[name] = "inode %d, %d bytes, %s" % (ino, len(content), desc)
        return {"dir_ops": "%d/%d" % (q, len(self.dir_pending)), "files": files}


def pick_points(ops, n, rng, focus):
    total = len(ops)
    if n == "all":
        return list(range(total + 1))
    n = int(n)
    syncs = [i for i, o in enumerate(ops) if o[0] in (OP_SYNC, OP_DIRSYNC)]
    renames = [i for i, o in enumerate(ops) if o[0] == OP_RENAME]
    lo = renames[0] + 1 if focus == "rename" and renames else 1
    syncs = [i for i in syncs if i >= lo] or [total]
    after_rename = [i + d for i in renames for d in (1, 2, 3) if lo <= i + d <= total]
    points = set()
    for _ in range(n * 20):
        if len(points) >= min(n, total - lo + 1):
            break
        r = rng.random()
        if focus == "sync":
            points.add(rng.choice(syncs))
        elif r < 0.4:
            points.add(rng.randint(lo, total))
        elif r < 0.8 or not after_rename:
            points.add(rng.choice(syncs))          # just before a sync completes: most pending
        else:
            points.add(rng.choice(after_rename))
    return sorted(points)


def opts_of(argv):
    o = {}
    i = 0
    while i < len(argv):
        if not argv[i].startswith("-") or i + 1 >= len(argv):
            die("bad arguments near %r" % argv[i])
        o[argv[i].lstrip("-")] = argv[i + 1]
        i += 2
    return o


def cmd_states(o):
    ops = read_trace(o["trace"])
    acks = json.load(open(o["acks"])) if o.get("acks") else []
    rng = random.Random(int(o.get("seed", 1)))
    model = Model(o["init"], o.get("plant", "none"))
    points = pick_points(ops, o.get("n", "20"), rng, o.get("focus"))
    modes = ["synced"] * 2 + ["all"] * 2 + ["prefix"] * 4 + ["pages"] * 2
    if o.get("modes"):
        modes = o["modes"].split(",")
    i = 0
    for pi, k in enumerate(points):
        while i < k:
            model.do(ops[i])
            i += 1
        end = ops[k - 1][8] if k else 0
        mode = rng.choice(modes)
        pdir = os.path.join(o["out"], "p%04d" % pi)
        info = model.crash(rng, mode, os.path.join(pdir, "data"))
        info.update({"point": k, "of": len(ops), "trace_offset": end, "mode": mode,
                     "mark": bisect.bisect_right(acks, end), "plant": o.get("plant", "none"),
                     "last_op": OPNAMES[ops[k - 1][0]] if k else None})
        with open(os.path.join(pdir, "info.json"), "w") as f:
            json.dump(info, f, indent=1)
    counts = {}
    for op in ops:
        counts[OPNAMES[op[0]]] = counts.get(OPNAMES[op[0]], 0) + 1
    print(json.dumps({"ops": len(ops), "points": len(points), "acks": len(acks), "counts": counts}))


def cmd_dump(o):
    for i, op in enumerate(read_trace(o["trace"])):
        kind, flags, fd, a, b, off, ln, data, end = op
        print("%6d %-7s fd=%d flags=%d %s %s off=%d len=%d end=%d" % (i, OPNAMES[kind], fd, flags, a, b, off, ln, end))


def cmd_batch():
    import contextlib
    import shlex
    for line in sys.stdin:
        o = opts_of(shlex.split(line))
        if "out" not in o:
            die("batch: a line without --out: %r" % line)
        with open(o["out"] + ".summary", "w") as f, contextlib.redirect_stdout(f):
            cmd_states(o)


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "batch":
        return cmd_batch()
    if len(sys.argv) < 2 or sys.argv[1] not in ("states", "dump"):
        print(__doc__)
        sys.exit(2)
    o = opts_of(sys.argv[2:])
    {"states": cmd_states, "dump": cmd_dump}[sys.argv[1]](o)


if __name__ == "__main__":
    main()
