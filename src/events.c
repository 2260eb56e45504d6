/* events.c — real-time delivery. Every record that changes a conversation or a message is
 * an event whose id is the record's seq. This file renders events from records (the same
 * code for live fan-out and for replay from the log; a message as it is now), decides who
 * may see them, fans them out to SSE and WebSocket streams, replays the log after a
 * reconnect, heartbeats, and closes streams whose token is revoked or whose reader falls
 * too far behind. */
#include "server.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Replay is bounded per loop turn by the log bytes it reads (a stream that sees nothing
 * produces no output but would otherwise read the whole log at once) and by its output. */
#define REPLAY_SLICE (64 * 1024)    /* replay output per stream per loop turn */
#define REPLAY_READ (256 * 1024)    /* log bytes one stream's replay reads per loop turn */
#define REPLAY_TURN (1024 * 1024)   /* ... and all replays together, so other work waits little */

/* ---- where replay starts ---- */

void events_note(server *s, uint64_t seq, uint8_t type, uint64_t rec_off)
{
    events *e = &s->ev;
    if (type == REC_META) e->history_from = seq;
    if (e->nrecords++ % EVENT_MARK_EVERY == 0)
        push2(&e->mark_seq, &e->mark_off, &e->nmarks, &e->capmarks, seq, rec_off);
}

/* Offset of a record at or before the first one with seq > after. */
uint64_t replay_start(const events *e, uint64_t after)
{
    size_t lo = 0, hi = e->nmarks;
    while (lo < hi) {   /* last mark with seq <= after + 1 */
        size_t mid = lo + (hi - lo) / 2;
        if (e->mark_seq[mid] <= after + 1) lo = mid + 1; else hi = mid;
    }
    return lo ? e->mark_off[lo - 1] : STORE_MAGIC_LEN;
}

void events_rebase(server *s, uint64_t upto, uint64_t nrec, uint64_t *mk_seq, uint64_t *mk_off, size_t nmk,
                   uint64_t (*new_off)(const server *, uint64_t))
{
    events *e = &s->ev;
    for (size_t i = 0; i < s->nconns; i++) {
        conn *c = s->conns[i];
        if (!c->replay_off) continue;
        int gone = c->replay_after + 1 < upto;   /* the events it still needs may be gone */
        if (gone) stream_resync(s, c);
        c->replay_off = gone ? 0 : new_off(s, c->replay_off);
    }
    free(e->mark_seq); free(e->mark_off);
    e->mark_seq = mk_seq; e->mark_off = mk_off;
    e->nmarks = e->capmarks = nmk;
    e->nrecords = nrec;
    e->history_from = upto;
}

void events_free(events *e)
{
    free(e->mark_seq); free(e->mark_off); free(e->rcpt); free(e->flag);
    buf_free(&e->json); buf_free(&e->frame); buf_free(&e->rd);
}

/* ---- rendering ---- */

/* Recipients: a list plus a per-user flag, so adding is O(1) even for 1000 members and
 * "may this user see it" is one lookup. render() clears the previous event's flags. */
static void rcpt_add(void *ctx, uint32_t uid)
{
    events *e = ctx;
    if (uid >= e->capflag) {
        uint32_t cap = uid + 1024;
        e->flag = xrealloc(e->flag, cap);
        memset(e->flag + e->capflag, 0, cap - e->capflag);
        e->capflag = cap;
    }
    if (e->flag[uid]) return;
    e->flag[uid] = 1;
    if (e->nrcpt == e->caprcpt) {
        e->caprcpt = e->caprcpt ? e->caprcpt * 2 : 64;
        e->rcpt = xrealloc(e->rcpt, e->caprcpt * sizeof *e->rcpt);
    }
    e->rcpt[e->nrcpt++] = uid;
}

static int may_see(const events *e, uint32_t uid) { return uid < e->capflag && e->flag[uid]; }

/* Render the event of a record into e->json and its recipients into e->rcpt.
 * 0 when the record is not an event. */
static int render(server *s, uint64_t seq, uint8_t type, const uint8_t *p, uint32_t len)
{
    events *e = &s->ev;
    rec_t r;
    for (; e->nrcpt; e->nrcpt--) e->flag[e->rcpt[e->nrcpt - 1]] = 0;   /* the last event's */
    if (rec_decode(&r, type, p, len) < 0 || !(e->name = view_event_name(type))) return 0;
    buf_reset(&e->json);
    if (!view_event(&e->json, &s->db, &s->st, seq, &r)) return 0;
    policy_recipients(&s->db, &r, rcpt_add, e);
    return 1;
}

/* ---- delivery ---- */

int is_stream(const conn *c) { return c->kind != KIND_HTTP && !c->close_after; }

/* Queue one event (JSON object text) on a stream in its wire form. */
void stream_send(server *s, conn *c, uint64_t id, const char *type, const buf_t *json)
{
    if (c->kind == KIND_WS) {
        ws_frame(&c->out, WS_TEXT, json->data, json->len);
    } else {
        if (id) buf_printf(&c->out, "id: %llu\n", (unsigned long long)id);
        buf_printf(&c->out, "event: %s\ndata: ", type);
        buf_append(&c->out, json->data, json->len);
        buf_puts(&c->out, "\n\n");
    }
    c->lazy = 0;
    conn_ready(c);
}

/* Tell a stream its history is gone: refetch with the REST API, then go on live. */
void stream_resync(server *s, conn *c)
{
    buf_puts(buf_reset(&s->ev.frame), "{\"type\":\"resync\"}");
    stream_send(s, c, 0, "resync", &s->ev.frame);
}

/* A reader this far behind would grow our memory without bound: drop it. SSE clients
 * reconnect with Last-Event-ID and lose nothing; WebSocket ones get 1008. */
void check_backlog(server *s, conn *c)
{
    if (c->out.len - c->out_sent <= s->cfg.stream_queue) return;
    if (c->kind == KIND_WS) ws_close_frame(&c->out, 1008, "too slow: event queue full");
    conn_close(c);
    fprintf(stderr, "%s stream dropped: %zu bytes queued\n", c->addr, c->out.len - c->out_sent);
}

void events_publish(server *s, uint64_t seq, uint8_t type, const uint8_t *p, uint32_t len)
{
    events *e = &s->ev;
    if (!s->nstreams || !render(s, seq, type, p, len)) return;   /* nobody listening: no work */
    for (size_t i = 0; i < s->nconns; i++) {
        conn *c = s->conns[i];
        if (!is_stream(c) || c->replay_off || !may_see(e, c->uid)) continue;
        stream_send(s, c, seq, e->name, &e->json);
        check_backlog(s, c);
    }
}

/* A presence event (no id: not stored) to those sharing a conversation with uid, replaying or not. */
void events_presence(server *s, uint32_t uid, int online, int64_t seen_ms)
{
    events *e = &s->ev;
    for (; e->nrcpt; e->nrcpt--) e->flag[e->rcpt[e->nrcpt - 1]] = 0;   /* the last event's */
    policy_presence(&s->db, uid, rcpt_add, e);
    view_presence(buf_reset(&e->frame), uid, online, seen_ms);
    for (size_t i = 0; i < s->nconns; i++) {
        conn *c = s->conns[i];
        if (!is_stream(c) || !may_see(e, c->uid)) continue;
        int lazy = c->lazy || c->out_sent == c->out.len;   /* nothing else waits to go out */
        stream_send(s, c, 0, "presence", &e->frame);
        c->lazy = lazy;
        check_backlog(s, c);
    }
}

/* Replay a slice of the log to one stream, reading at most about max bytes of it; live
 * once it reaches the end. Returns the bytes read. */
static size_t replay_some(server *s, conn *c, size_t max)
{
    events *e = &s->ev;
    size_t start = c->out.len, used = 0;
    uint32_t cid = 0;
    int sees = 0;
    store_rec rec;
    if (c->replay_off >= s->st.size || store_read_ahead(&s->st, c->replay_off, max, &e->rd) < 0) {
        c->replay_off = 0;   /* caught up: from here on, fan-out delivers */
        return 0;
    }
    const uint8_t *p = (const uint8_t *)e->rd.data;
    while (c->out.len - start < REPLAY_SLICE &&
           store_rec_parse(p + used, e->rd.len - used, c->replay_off, &rec) == 0) {
        used += (size_t)(rec.next_off - c->replay_off);
        c->replay_off = rec.next_off;
        if (rec.seq <= c->replay_after) continue;
        if (!policy_sees(&s->db, c->uid, rec.type, rec.payload, rec.len, &cid, &sees)) continue;
        if (!store_rec_ok(&rec)) { used = 0; break; }   /* damaged since start-up: stop */
        if (render(s, rec.seq, rec.type, rec.payload, rec.len) && may_see(e, c->uid))
            stream_send(s, c, rec.seq, e->name, &e->json);
    }
    if (!used || c->replay_off >= s->st.size) c->replay_off = 0;   /* the end, or damage */
    conn_ready(c);
    return used;
}

static int replay_ready(const conn *c)   /* more to read, and room to send it */
{
    return is_stream(c) && c->replay_off && c->out.len - c->out_sent < REPLAY_SLICE;
}

void events_pump(server *s)
{
    size_t left = REPLAY_TURN, n = s->nhot;
    for (size_t k = 0; k < n && left; k++) {   /* a replaying stream is busy, so hot */
        conn *c = s->conns[(s->turn + k) % n];   /* a different one first each turn */
        if (!replay_ready(c)) continue;
        size_t used = replay_some(s, c, left < REPLAY_READ ? left : REPLAY_READ);
        left = used < left ? left - used : 0;
    }
}

/* A replay can go on at once: the loop must not sleep in poll() (a stream whose output is
 * full waits for POLLOUT instead). */
int events_pending(const server *s)
{
    for (size_t i = 0; i < s->nhot; i++)
        if (replay_ready(s->conns[i])) return 1;
    return 0;
}

void events_heartbeat(server *s)
{
    int64_t every = (int64_t)s->cfg.heartbeat_s * 1000;
    for (size_t i = 0; i < s->nconns; i++) {
        conn *c = s->conns[i];
        if (!is_stream(c) || s->now_ms - c->beat_ms < every) continue;
        c->beat_ms = s->now_ms;
        if (c->kind == KIND_WS) ws_frame(&c->out, WS_PING, "", 0);
        else buf_puts(&c->out, ": ping\n\n");
        conn_ready(c);
        check_backlog(s, c);
    }
}

/* After a logout, password change or account deletion, and once a second with --token-ttl:
 * close the streams whose token was revoked or has expired. */
void streams_revoke(server *s)
{
    for (size_t i = 0; i < s->nconns; i++) {
        conn *c = s->conns[i];
        uint64_t *v = is_stream(c) ? map_get(&s->db.tokens, c->tok, sizeof c->tok) : NULL;
        if (!is_stream(c) || (v && !policy_token_expired(*v, s->cfg.token_ttl_s, s->now_ms))) continue;
        if (c->kind == KIND_WS) ws_close_frame(&c->out, 1008, "token revoked");
        conn_close(c);
    }
}

/* Once a second with --token-ttl: close the streams of expired tokens; once a minute, forget
 * those tokens (then a compaction drops their records). */
void tokens_expire(server *s)
{
    map_slot *e;
    if (!s->cfg.token_ttl_s) return;
    for (size_t i = 0; s->now_ms - s->tokens_swept_ms >= 60000 && (e = map_next(&s->db.tokens, &i));)
        if (policy_token_expired(e->val, s->cfg.token_ttl_s, s->now_ms))
            s->db.dead += (uint64_t)map_del(&s->db.tokens, e->key, e->keylen);
    if (s->now_ms - s->tokens_swept_ms >= 60000) s->tokens_swept_ms = s->now_ms;
    streams_revoke(s);
}
