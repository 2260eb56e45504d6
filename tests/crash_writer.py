#!/usr/bin/python3
"""crash_writer.py — concurrent writers and a checker for chatd crash, backup and compaction tests.
stdlib only. Every acknowledged (2xx) write is journalled with what the state must be afterwards.

  write  --port P --state F [--threads N] [--tag T] [--seed S] [--ready F] [--stop-file F]
         [--max-seconds S] [--max-acks N] [--mark-file F] [--trace-file F --acks-out F]
      Loads the (settled) state F if it exists, registers N writer users with a conversation
      each, touches --ready, then N threads register users, create conversations (with some
      of those users as members), post, edit and delete messages and delete some of the users
      they registered, until a request fails (the server was killed), --stop-file appears or
      --max-seconds pass (or N writes were acknowledged). A write whose answer never came is "in flight": it may or may not be
      there. SIGUSR1 writes the number of writes acknowledged so far to --mark-file (a backup
      taken after that must hold all of them). With --trace-file (the power-cut explorer's
      trace), the trace's size when each answer arrived is noted: --acks-out gets the list, in
      acknowledgement order (write n's position is element n-1). Saves F; prints a JSON summary.
  check  --port P --state F [--mark N|--mark-file F] [--settle] [--final-write]
      Verifies through the API that every write acknowledged (up to the mark) is there in its
      last acknowledged state (or a later one that was sent), that no message has a body nobody
      sent, that ids are unique. --settle rewrites F with what was observed (in-flight writes
      resolved) so the next round checks against it; --final-write posts one more message (the
      server still accepts writes) and journals it. Prints a JSON summary; exit 1 on a violation.
  fill   --port P --out F [--messages N] [--edits E] [--deletes D]
      One user, one conversation, N messages each edited E times, D of them deleted; saves the
      expected final state (for compaction tests).
  verify --port P --expect F
      Every expected message is there with its body and edited flag, deleted ones are absent,
      nothing else is there. Exit 1 on a difference.
  serve
      Runs the commands above, one per stdin line (`check --port P --state F --out F ...`,
      split as a shell would), each as its own process would run it, its output to --out; prints
      its exit status, a line each. Tests that check many crash points start python once, not
      per point.
"""
import json
import os
import random
import signal
import socket
import sys
import threading
import time

PASSWORD = "crash-password-1"


def die(msg):
    print(json.dumps({"fatal": msg}))
    sys.exit(2)


def parse_args(argv):
    opts = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("--"):
            die("bad argument %r" % a)
        key = a[2:].replace("-", "_")
        if key in ("settle", "final_write"):
            opts[key] = True
            i += 1
        else:
            if i + 1 >= len(argv):
                die("missing value for %s" % a)
            opts[key] = argv[i + 1]
            i += 2
    return opts


class Client:
    """One keep-alive HTTP/1.1 connection on a plain socket: http.client cost ~50 ms of CPU to
    import and several times this per request (the fill makes 12,000). Any transport error, an
    answer cut off or one that is not HTTP raises an OSError (the caller decides)."""

    def __init__(self, port, timeout=15):
        self.port = port
        self.timeout = timeout
        self.sock = None
        self.buf = b""

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk

    def request(self, method, path, body=None, token=None):
        return self.pipeline([(method, path, body, token)])[0]

    def pipeline(self, reqs):
        """Requests (method, path, body, token) sent in one write, their (status, doc) read in
        order (HTTP/1.1 pipelining; the fill sends its 12,000 writes so, a batch at a time)."""
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
            self.buf = b""
        out = []
        try:
            self.sock.sendall(b"".join(self._encode(*r) for r in reqs))
            for i, r in enumerate(reqs):
                status, hdrs, raw = self._answer(r[0])
                doc = None
                if raw:
                    try:
                        doc = json.loads(raw)
                    except ValueError:
                        doc = {"_raw": raw[:200].decode("latin-1")}
                out.append((status, doc))
                if hdrs.get("connection", "").lower() == "close":
                    if i + 1 < len(reqs):
                        raise ConnectionError("closed after %d of %d pipelined requests" % (i + 1, len(reqs)))
                    self.close()
        except OSError:
            self.close()
            raise
        except (ValueError, IndexError) as e:
            self.close()
            raise ConnectionError("not an HTTP answer: %s" % e)
        return out

    def _encode(self, method, path, body=None, token=None):
        data = b"" if body is None else json.dumps(body).encode()
        head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (method, path, self.port)
        if body is not None:
            head += "Content-Type: application/json\r\n"
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head += "Content-Length: %d\r\n" % len(data)
        if token:
            head += "Authorization: Bearer %s\r\n" % token
        return head.encode() + b"\r\n" + data

    def _answer(self, method):
        """The next answer on the connection: status, headers (lower-case names), body bytes."""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        end = self.buf.index(b"\r\n\r\n")
        lines = self.buf[:end].decode("latin-1").split("\r\n")
        self.buf = self.buf[end + 4:]
        version, status = lines[0].split(" ", 2)[:2]
        if not version.startswith("HTTP/1."):
            raise ValueError(lines[0])
        status = int(status)
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if method == "HEAD" or status in (204, 304):
            n = 0
        elif "content-length" in hdrs:
            n = int(hdrs["content-length"])
        else:      # no length: the body ends when the server closes
            try:
                while True:
                    self._more()
            except ConnectionError:
                pass
            n = len(self.buf)
            hdrs["connection"] = "close"
        while len(self.buf) < n:
            self._more()
        raw, self.buf = self.buf[:n], self.buf[n:]
        return status, hdrs, raw

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.buf = b""


def load_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def save_json(path, doc):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


def empty_state():
    return {"round": 0, "users": {}, "convs": {}, "msgs": {}}


# ------------------------------------------------------------------------------------------
# write

class Journal:
    def __init__(self, state):
        self.state = state
        self.lock = threading.Lock()
        self.acks = 0          # acknowledged writes of this run
        self.inflight = 0
        self.errors = []
        self.max_acks = float("inf")
        self.trace = None      # power-cut trace: its size at each acknowledgement
        self.positions = []

    def ack(self):
        with self.lock:
            self.acks += 1
            if self.trace:
                self.positions.append(os.stat(self.trace).st_size)
            return self.acks


def rand_text(rng, n):
    alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?-_\u00e9\u00fc\u4e2d\U0001F600\"\\/"
    return "".join(rng.choice(alphabet) for _ in range(n))


def writer_thread(j, port, tag, t, ukey, rng, deadline, stop_file):
    st = j.state
    cl = Client(port)
    me = st["users"][ukey]
    tok = me["token"]
    my_convs = [k for k, c in st["convs"].items() if c["creator"] == ukey and c["id"]]
    my_live = []          # message keys whose last state is acked and not deleted
    other_ids = [u["id"] for k, u in st["users"].items() if u.get("writer_of") == tag and k != ukey]
    my_users = []         # users this thread registered (acked, not deleted): members, then deleted
    n = 0
    while time.time() < deadline and not (stop_file and os.path.exists(stop_file)) and j.acks < j.max_acks:
        n += 1
        r = rng.random()
        try:
            if r < 0.05:
                key = "%s-t%d-u%d" % (tag, t, n)
                uname = ("u%s_%d_%d" % (tag, t, n))[:32]
                pw = PASSWORD + rand_text(rng, 3).replace("\\", "x")
                rec = {"username": uname, "password": pw, "id": None, "token": None, "ack": None}
                with j.lock:
                    st["users"][key] = rec
                status, doc = cl.request("POST", "/api/users/register", {"username": uname, "password": pw})
                if status != 201:
                    raise Unexpected("register", status, doc)
                rec["id"] = doc["user"]["id"]
                rec["token"] = doc["token"]
                rec["ack"] = j.ack()
                my_users.append(key)
            elif r < 0.07 and my_users:
                key = rng.choice(my_users)
                rec = st["users"][key]
                rec["del_ack"] = None
                status, doc = cl.request("DELETE", "/api/users/%d" % rec["id"], {"password": rec["password"]},
                                         rec["token"])
                if status != 204:
                    raise Unexpected("delete account", status, doc)
                rec["del_ack"] = j.ack()
                my_users.remove(key)
            elif r < 0.10 or not my_convs:
                key = "%s-t%d-c%d" % (tag, t, n)
                title = "%s-t%d-c%d %s" % (tag, t, n, rand_text(rng, rng.randint(0, 20)))
                members = rng.sample(other_ids, min(len(other_ids), rng.randint(0, 2)))
                members += [st["users"][k]["id"] for k in rng.sample(my_users, min(len(my_users), rng.randint(0, 2)))]
                rec = {"title": title, "creator": ukey, "id": None, "ack": None}
                with j.lock:
                    st["convs"][key] = rec
                status, doc = cl.request("POST", "/api/conversations", {"title": title, "member_ids": members}, tok)
                if status != 201:
                    raise Unexpected("create conversation", status, doc)
                rec["id"] = doc["conversation"]["id"]
                rec["ack"] = j.ack()
                my_convs.append(key)
            elif r < 0.60 or not my_live:
                ckey = rng.choice(my_convs)
                key = "%s-t%d-m%d" % (tag, t, n)
                body = "%s-t%d-m%d:%s" % (tag, t, n, rand_text(rng, rng.randint(0, 120)))
                ent = {"body": body, "edited": False, "deleted": False, "ack": None}
                rec = {"conv": ckey, "author": ukey, "id": None, "hist": [ent]}
                with j.lock:
                    st["msgs"][key] = rec
                status, doc = cl.request("POST", "/api/messages",
                                         {"conversation_id": st["convs"][ckey]["id"], "body": body}, tok)
                if status != 201:
                    raise Unexpected("post", status, doc)
                m = doc["message"]
                if m.get("body") != body:
                    j.errors.append("post %s answered with body %r" % (key, m.get("body")))
                rec["id"] = m["id"]
                ent["ack"] = j.ack()
                my_live.append(key)
            elif r < 0.82:
                key = rng.choice(my_live)
                rec = st["msgs"][key]
                body = "%s-t%d-e%d:%s" % (tag, t, n, rand_text(rng, rng.randint(1, 120)))
                ent = {"body": body, "edited": True, "deleted": False, "ack": None}
                with j.lock:
                    rec["hist"].append(ent)
                status, doc = cl.request("PUT", "/api/messages/%d" % rec["id"], {"body": body}, tok)
                if status != 200:
                    raise Unexpected("edit", status, doc)
                ent["ack"] = j.ack()
            else:
                key = rng.choice(my_live)
                rec = st["msgs"][key]
                ent = {"body": None, "edited": True, "deleted": True, "ack": None}
                with j.lock:
                    rec["hist"].append(ent)
                status, doc = cl.request("DELETE", "/api/messages/%d" % rec["id"], None, tok)
                if status != 204:
                    raise Unexpected("delete", status, doc)
                ent["ack"] = j.ack()
                my_live.remove(key)
        except Unexpected as e:
            # an answer that is not 2xx: nothing was stored (the journal entry stays unacked,
            # which the checker treats as "may or may not be there")
            j.errors.append(str(e))
            break
        except OSError:
            with j.lock:
                j.inflight += 1
            break
    cl.close()


class Unexpected(Exception):
    def __init__(self, what, status, doc):
        Exception.__init__(self, "%s: unexpected status %s: %s" % (what, status, json.dumps(doc)[:200]))


def cmd_write(o):
    port = int(o["port"])
    path = o["state"]
    nthreads = int(o.get("threads", 6))
    seed = int(o.get("seed", random.randrange(1 << 30)))
    st = load_json(path, empty_state())
    st["round"] = st.get("round", 0) + 1
    tag = o.get("tag", "r%d" % st["round"])
    rng = random.Random(seed)
    j = Journal(st)
    j.trace = o.get("trace_file")
    if o.get("max_acks"):
        j.max_acks = int(o["max_acks"])
    mark_file = o.get("mark_file")
    if mark_file:
        def on_usr1(signum, frame):
            save_json(mark_file, {"mark": j.acks})
        signal.signal(signal.SIGUSR1, on_usr1)
    # set-up: one user and one conversation per writer thread (acknowledged writes too)
    cl = Client(port)
    ukeys = []
    try:
        for t in range(nthreads):
            key = "%s-w%d" % (tag, t)
            uname = "w%s_%d" % (tag, t)
            rec = {"username": uname, "password": PASSWORD, "id": None, "token": None, "ack": None, "writer_of": tag}
            st["users"][key] = rec
            status, doc = cl.request("POST", "/api/users/register", {"username": uname, "password": PASSWORD})
            if status != 201:
                raise Unexpected("register writer", status, doc)
            rec["id"], rec["token"], rec["ack"] = doc["user"]["id"], doc["token"], j.ack()
            ukeys.append(key)
        for t, ukey in enumerate(ukeys):
            key = "%s-w%d-c0" % (tag, t)
            rec = {"title": "%s-w%d-c0" % (tag, t), "creator": ukey, "id": None, "ack": None}
            st["convs"][key] = rec
            others = [st["users"][k]["id"] for k in ukeys if k != ukey]
            status, doc = cl.request("POST", "/api/conversations", {"title": rec["title"], "member_ids": others},
                                     st["users"][ukey]["token"])
            if status != 201:
                raise Unexpected("create writer conversation", status, doc)
            rec["id"], rec["ack"] = doc["conversation"]["id"], j.ack()
    except (OSError, Unexpected) as e:
        save_json(path, st)
        print(json.dumps({"acked": j.acks, "inflight": 1, "errors": ["set-up failed: %s" % e], "seed": seed}))
        return 1
    cl.close()
    if o.get("ready"):
        open(o["ready"], "w").close()
    deadline = time.time() + float(o.get("max_seconds", 30))
    threads = []
    for t, ukey in enumerate(ukeys):
        th = threading.Thread(target=writer_thread, daemon=True,
                              args=(j, port, tag, t, ukey, random.Random(seed * 131 + t), deadline, o.get("stop_file")))
        th.start()
        threads.append(th)
    for th in threads:
        while th.is_alive():
            th.join(0.1)     # short joins so SIGUSR1 is handled promptly
    save_json(path, st)
    if o.get("acks_out"):
        save_json(o["acks_out"], j.positions)
    print(json.dumps({"acked": j.acks, "inflight": j.inflight, "errors": j.errors, "seed": seed}))
    return 1 if j.errors else 0


# ------------------------------------------------------------------------------------------
# check

def list_messages(cl, conv_id, tok, errors):
    """Every message of a conversation, oldest first: the newest page, then pages before it."""
    pages = []
    before = None
    for _ in range(100000):
        q = "/api/messages?conversation_id=%d&limit=200" % conv_id + ("&before=%d" % before if before else "")
        status, doc = cl.request("GET", q, None, tok)
        if status != 200:
            errors.append("list messages of conversation %d before %s: status %s %s" % (conv_id, before, status, doc))
            break
        ms = doc.get("messages", [])
        pages.append(ms)
        if not ms or not doc.get("has_more"):
            break
        before = ms[0]["id"]
    return [m for page in reversed(pages) for m in page]


def cmd_check(o):
    port = int(o["port"])
    path = o["state"]
    st = load_json(path, None)
    if st is None:
        die("no state file %s" % path)
    mark = float("inf")
    if o.get("mark") is not None:
        mark = int(o["mark"])
    elif o.get("mark_file"):
        mark = load_json(o["mark_file"], {"mark": None})["mark"]
        if mark is None:
            die("no mark in %s" % o["mark_file"])
    errors = []
    cl = Client(port)
    acked_checked = 0

    def required(ack):
        return ack is not None and ack <= mark

    def err(msg):
        if len(errors) < 50:
            errors.append(msg)

    # --- users
    seen_uids = {}
    any_tok = next((u["token"] for u in st["users"].values() if required(u.get("ack")) and "del_ack" not in u
                    and u.get("writer_of")), None)
    for key, u in list(st["users"].items()):
        if required(u.get("del_ack")):
            # an acknowledged account deletion: the account, its name and its tokens are gone
            status, doc = cl.request("GET", "/api/users/%d" % u["id"], None, any_tok)
            if status != 404:
                err("user %s (id %s, deletion acked): GET is %s, want 404" % (key, u["id"], status))
            status, doc = cl.request("GET", "/api/users/%d" % u["id"], None, u["token"])
            if status != 401:
                err("user %s (id %s, deletion acked): its token still works: %s" % (key, u["id"], status))
            acked_checked += (1 if u["del_ack"] > 0 else 0) + (1 if u["ack"] > 0 else 0)
            u["_gone"] = True
            continue
        if required(u.get("ack")) and "del_ack" not in u:
            status, doc = cl.request("GET", "/api/users/%d" % u["id"], None, u["token"])
            if status != 200 or doc["user"]["username"] != u["username"]:
                err("user %s (id %s, acked) : GET with its own token: %s %s" % (key, u["id"], status, doc))
            acked_checked += 1 if u["ack"] > 0 else 0
        else:
            # in flight (or acknowledged after the mark): there or not, but if there, intact;
            # an acknowledged registration whose account deletion is in flight: either
            acked_checked += 1 if required(u.get("ack")) and u["ack"] > 0 else 0
            status, doc = cl.request("POST", "/api/users/login", {"username": u["username"], "password": u["password"]})
            if status == 200:
                if u.get("id") is not None and doc["user"]["id"] != u["id"]:
                    err("user %s: login gives id %s, registration said %s" % (key, doc["user"]["id"], u["id"]))
                u["id"], u["token"], u["ack"] = doc["user"]["id"], doc["token"], 0
            elif status == 401:
                u["_gone"] = True
            else:
                err("user %s (in flight): login: %s %s" % (key, status, doc))
        if u.get("id") is not None and not u.get("_gone"):
            if u["id"] in seen_uids:
                err("user id %d given to both %s and %s" % (u["id"], seen_uids[u["id"]], key))
            seen_uids[u["id"]] = key

    # --- conversations
    users = st["users"]
    seen_cids = {}
    by_title = {}
    for key, c in st["convs"].items():
        by_title[c["title"]] = key
        cu = users.get(c["creator"], {})
        if required(c.get("ack")):
            status, doc = cl.request("GET", "/api/conversations/%d" % c["id"], None, cu["token"])
            if status != 200:
                err("conversation %s (id %d, acked): %s %s" % (key, c["id"], status, doc))
            else:
                cv = doc["conversation"]
                if cv["title"] != c["title"] or cv["created_by"] != cu["id"]:
                    err("conversation %s (id %d): got title %r created_by %s, want %r %s"
                        % (key, c["id"], cv["title"], cv["created_by"], c["title"], cu["id"]))
            acked_checked += 1 if c["ack"] > 0 else 0
    # every conversation any known user sees is one somebody created
    for ukey, u in users.items():
        if u.get("_gone") or not u.get("token"):
            continue
        status, doc = cl.request("GET", "/api/conversations", None, u["token"])
        if status != 200:
            err("list conversations of %s: %s %s" % (ukey, status, doc))
            continue
        for cv in doc["conversations"]:
            ck = by_title.get(cv["title"])
            if ck is None:
                err("conversation %d (%r) that nobody created" % (cv["id"], cv["title"]))
                continue
            c = st["convs"][ck]
            if c.get("id") is None:
                c["id"], c["ack"] = cv["id"], 0     # an in-flight create that made it
            elif c["id"] != cv["id"]:
                err("conversation %s is id %d, its creation said %d" % (ck, cv["id"], c["id"]))
            if cv["id"] in seen_cids and seen_cids[cv["id"]] != ck:
                err("conversation id %d used by both %s and %s" % (cv["id"], seen_cids[cv["id"]], ck))
            seen_cids[cv["id"]] = ck
    for key, c in st["convs"].items():
        if c.get("id") is None or (not required(c.get("ack")) and c["id"] not in seen_cids):
            c["_gone"] = c.get("id") is None or c["id"] not in seen_cids

    # --- messages
    body_of = {}      # body -> (key, index)
    for key, m in st["msgs"].items():
        for i, e in enumerate(m["hist"]):
            if not e["deleted"]:
                body_of[e["body"]] = (key, i)
    observed = {}     # key -> message object
    seen_mids = {}
    for ckey, c in st["convs"].items():
        if c.get("_gone") or c.get("id") is None:
            continue
        tok = users[c["creator"]]["token"]
        for mo in list_messages(cl, c["id"], tok, errors):
            if mo["id"] in seen_mids:
                err("message id %d listed twice" % mo["id"])
            seen_mids[mo["id"]] = True
            hit = body_of.get(mo["body"])
            if hit is None:
                err("message %d in conversation %d has a body nobody sent: %r" % (mo["id"], c["id"], mo["body"][:80]))
                continue
            key, idx = hit
            m = st["msgs"][key]
            if m["conv"] != ckey:
                err("message %d (%s) is in conversation %d, was posted to %s" % (mo["id"], key, c["id"], m["conv"]))
            if m.get("id") is not None and m["id"] != mo["id"]:
                err("message %s: id %d, its post said %d" % (key, mo["id"], m["id"]))
            if key in observed:
                err("message %s seen twice (ids %d and %d)" % (key, observed[key]["id"], mo["id"]))
            observed[key] = dict(mo, _idx=idx)
    for key, m in st["msgs"].items():
        hist = m["hist"]
        lo = 0     # the oldest state allowed: the last one acknowledged before the mark
        for i, e in enumerate(hist):
            if required(e.get("ack")):
                lo = i
                acked_checked += 1 if e["ack"] > 0 else 0
        must_exist = required(hist[0].get("ack"))
        mo = observed.get(key)
        if mo is not None:
            idx = mo["_idx"]
            if idx < lo:
                err("message %s (id %d) has state %d (%r), but state %d (%s) was acknowledged"
                    % (key, mo["id"], idx, mo["body"][:60], lo, "deleted" if hist[lo]["deleted"] else repr(hist[lo]["body"][:60])))
            if mo["edited"] != hist[idx]["edited"]:
                err("message %s (id %d): edited %s, want %s" % (key, mo["id"], mo["edited"], hist[idx]["edited"]))
            if mo["author_id"] != users[m["author"]]["id"]:
                err("message %s (id %d): author %s, want %s" % (key, mo["id"], mo["author_id"], users[m["author"]]["id"]))
        elif must_exist and not any(e["deleted"] for e in hist[lo:]):
            err("message %s (id %s, acked %r) is missing" % (key, m.get("id"), hist[lo]["body"][:60] if hist[lo]["body"] else None))
        elif must_exist and hist[lo]["deleted"] and m.get("id") is not None:
            status, doc = cl.request("GET", "/api/messages/%d" % m["id"], None, users[m["author"]]["token"])
            if status != 404:
                err("deleted message %s (id %d): GET is %s, want 404" % (key, m["id"], status))

    summary = {"acked_checked": acked_checked, "users": len(seen_uids), "conversations": len(seen_cids),
               "messages_listed": len(seen_mids), "errors": errors}

    if o.get("settle"):
        settle(st, observed)
    if o.get("final_write") and not errors:
        ok = final_write(cl, st)
        if ok is not True:
            errors.append(ok)
    if o.get("settle") or o.get("final_write"):
        save_json(path, st)
    cl.close()
    summary["errors"] = errors
    print(json.dumps(summary))
    return 1 if errors else 0


def settle(st, observed):
    """Replace the journal by what was observed: the base line for the next round."""
    for key in [k for k, u in st["users"].items() if u.get("_gone")]:
        del st["users"][key]
    for u in st["users"].values():
        u["ack"] = 0
    for key in [k for k, c in st["convs"].items() if c.get("_gone")]:
        del st["convs"][key]
    for c in st["convs"].values():
        c["ack"] = 0
    for key in list(st["msgs"]):
        m = st["msgs"][key]
        mo = observed.get(key)
        if m["conv"] not in st["convs"]:
            del st["msgs"][key]
        elif mo is not None:
            m["id"] = mo["id"]
            m["hist"] = [{"body": mo["body"], "edited": mo["edited"], "deleted": False, "ack": 0}]
        elif m.get("id") is not None:
            m["hist"] = [{"body": None, "edited": True, "deleted": True, "ack": 0}]
        else:
            del st["msgs"][key]


def final_write(cl, st):
    """One more message through the restarted server: it must still accept writes."""
    for ckey, c in st["convs"].items():
        if c.get("id") is None or c.get("_gone"):
            continue
        u = st["users"][c["creator"]]
        n = len(st["msgs"])
        while "final-%d-%d" % (st.get("round", 0), n) in st["msgs"]:
            n += 1
        key = "final-%d-%d" % (st.get("round", 0), n)
        body = "%s:%d" % (key, random.randrange(1 << 30))
        status, doc = cl.request("POST", "/api/messages", {"conversation_id": c["id"], "body": body}, u["token"])
        if status != 201:
            return "final write: POST /api/messages: %s %s" % (status, doc)
        st["msgs"][key] = {
            "conv": ckey, "author": c["creator"], "id": doc["message"]["id"],
            "hist": [{"body": body, "edited": False, "deleted": False, "ack": 0}]}
        return True
    return "final write: no conversation to write to"


# ------------------------------------------------------------------------------------------
# fill / verify (compaction tests)

def cmd_fill(o):
    port = int(o["port"])
    n = int(o.get("messages", 3000))
    edits = int(o.get("edits", 3))
    deletes = int(o.get("deletes", 100))
    rng = random.Random(int(o.get("seed", 1)))
    cl = Client(port)
    status, doc = cl.request("POST", "/api/users/register", {"username": "filler", "password": PASSWORD})
    if status != 201:
        die("register: %s %s" % (status, doc))
    tok = doc["token"]
    status, doc = cl.request("POST", "/api/conversations", {"title": "fill", "member_ids": []}, tok)
    if status != 201:
        die("conversation: %s %s" % (status, doc))
    cid = doc["conversation"]["id"]
    B = 50   # writes per pipelined batch: a few KB each way, far below the socket buffers

    def send(reqs, want, what):   # every request in batches; each answer must be WANT -> docs
        docs = []
        for k in range(0, len(reqs), B):
            for status, doc in cl.pipeline(reqs[k:k + B]):
                if status != want:
                    die("%s: %s %s" % (what, status, doc))
                docs.append(doc)
        return docs
    bodies = ["fill %d %s" % (i, rand_text(rng, rng.randint(10, 60))) for i in range(n)]
    docs = send([("POST", "/api/messages", {"conversation_id": cid, "body": b}, tok) for b in bodies], 201, "post")
    msgs = {doc["message"]["id"]: {"body": b, "edited": False} for b, doc in zip(bodies, docs)}
    ids = sorted(msgs)
    for k in range(edits):
        new = {mid: "fill %d edit %d %s" % (mid, k, rand_text(rng, rng.randint(10, 60))) for mid in ids}
        send([("PUT", "/api/messages/%d" % mid, {"body": new[mid]}, tok) for mid in ids], 200, "edit")
        for mid in ids:
            msgs[mid] = {"body": new[mid], "edited": True}
    deleted = rng.sample(ids, min(deletes, len(ids)))
    send([("DELETE", "/api/messages/%d" % mid, None, tok) for mid in deleted], 204, "delete")
    for mid in deleted:
        del msgs[mid]
    save_json(o["out"], {"token": tok, "conversation_id": cid, "password": PASSWORD,
                         "messages": {str(k): v for k, v in msgs.items()}, "deleted": sorted(deleted)})
    print(json.dumps({"messages": len(msgs), "deleted": len(deleted), "writes": 2 + n * (1 + edits) + len(deleted)}))
    return 0


def cmd_verify(o):
    port = int(o["port"])
    exp = load_json(o["expect"], None)
    if exp is None:
        die("no expectation file")
    cl = Client(port)
    errors = []
    got = list_messages(cl, exp["conversation_id"], exp["token"], errors)
    want = exp["messages"]
    seen = set()
    for mo in got:
        k = str(mo["id"])
        if k in seen:
            errors.append("message %s listed twice" % k)
        seen.add(k)
        w = want.get(k)
        if w is None:
            errors.append("message %s should not be there (body %r)" % (k, mo["body"][:60]))
        elif w["body"] != mo["body"] or w["edited"] != mo["edited"]:
            errors.append("message %s: body %r edited %s, want %r %s" % (k, mo["body"][:60], mo["edited"], w["body"][:60], w["edited"]))
    for k in want:
        if k not in seen:
            errors.append("message %s is missing" % k)
    rng = random.Random()
    for mid in rng.sample(exp["deleted"], min(5, len(exp["deleted"]))):
        status, _ = cl.request("GET", "/api/messages/%d" % mid, None, exp["token"])
        if status != 404:
            errors.append("deleted message %d: GET is %s" % (mid, status))
    cl.close()
    print(json.dumps({"listed": len(got), "expected": len(want), "errors": errors[:20]}))
    return 1 if errors else 0


def run(argv):
    cmd, o = argv[0], parse_args(argv[1:])
    fn = {"write": cmd_write, "check": cmd_check, "fill": cmd_fill, "verify": cmd_verify}.get(cmd)
    if fn is None:
        die("unknown command %s" % cmd)
    if "port" not in o:
        die("--port is required")
    return fn(o)


def serve():
    import contextlib
    import shlex
    for line in sys.stdin:
        argv = shlex.split(line)
        if not argv:
            continue
        out = argv[argv.index("--out") + 1] if "--out" in argv[:-1] else os.devnull
        if "--out" in argv[:-1]:
            del argv[argv.index("--out"):argv.index("--out") + 2]
        with open(out, "w") as f, contextlib.redirect_stdout(f):
            try:
                rc = run(argv)
            except SystemExit as e:     # die(): its message is in the output already
                rc = e.code
            except Exception as e:      # as an uncaught exception ends a process: status 1
                print(json.dumps({"fatal": "%s: %s" % (type(e).__name__, e)}))
                rc = 1
        print(rc or 0, flush=True)
    return 0


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    if sys.argv[1] == "serve":
        return serve()
    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
