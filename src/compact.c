/* compact.c — log compaction. When enough records are obsolete, the live ones are copied,
 * a slice per loop turn, to "<log>.compact"; records appended meanwhile follow them; then
 * the new file is synced, renamed over the log, the directory synced, and the indexes'
 * file offsets translated — all in one turn, so the server never stops for a whole copy.
 * A crash before the rename leaves the old log (the stale copy is removed at start-up);
 * after it, the new log is complete. Records keep their seq: event ids do not change.
 *
 * At the start a META record (the id counters) is appended; its seq P is where history
 * is cut: after a compaction, replay reaches back to P, older ids get "resync". */
#include "server.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COMPACT_SLICE 2048          /* records examined per loop turn */
#define COMPACT_FLUSH (1u << 20)    /* write the copy out in pieces this big */
#define COMPACT_BACKOFF_MAX (300 * 1000)   /* ms between attempts when they keep failing */

void compact_cleanup(const char *dir)
{
    char *p = xmalloc(strlen(dir) + sizeof STORE_LOG_NAME + 10);
    sprintf(p, "%s/%s.compact", dir, STORE_LOG_NAME);
    if (unlink(p) == 0) fprintf(stderr, "chatd: removed %s left by an interrupted compaction\n", p);
    free(p);
}

static void compact_reset(compactor *cp)
{
    if (cp->fd >= 0) close(cp->fd);
    free(cp->tmp); free(cp->map_old); free(cp->map_new); free(cp->mk_seq); free(cp->mk_off);
    buf_free(&cp->out);
    buf_free(&cp->rd);
    db_alive_free(&cp->alive);
    compactor keep = { .retry_ms = cp->retry_ms, .backoff_ms = cp->backoff_ms,
                       .stale_since_ms = cp->stale_since_ms };
    *cp = keep;   /* the rest starts over */
    cp->fd = -1;
}

static int abort_compaction(server *s, const char *what)
{
    compactor *cp = &s->cp;
    /* a full disk fails every attempt: wait 1 s, then twice as long each time, up to 5 min */
    cp->backoff_ms = cp->backoff_ms ? cp->backoff_ms * 2 : 1000;
    if (cp->backoff_ms > COMPACT_BACKOFF_MAX) cp->backoff_ms = COMPACT_BACKOFF_MAX;
    cp->retry_ms = now_ms() + cp->backoff_ms;
    fprintf(stderr, "chatd: compaction abandoned: %s: %s; next try in %lld s\n", what, strerror(errno),
            (long long)cp->backoff_ms / 1000);
    if (cp->tmp) unlink(cp->tmp);
    compact_reset(cp);
    return -1;
}

static int compact_start(server *s)
{
    compactor *cp = &s->cp;
    compact_reset(cp);
    db_rec_meta(&s->rec, &s->db);
    uint64_t off;
    if (server_append(s, REC_META, &cp->upto, &off) < 0) return abort_compaction(s, "appending META");
    /* What existed at P decides what is kept from before P: an object deleted while the
     * copy runs keeps its create record, because its delete record lands in the tail. */
    db_alive_take(&s->db, &cp->alive);
    cp->stale_at_start = s->db.stale_bodies;   /* every one of them is erased by this copy */
    cp->tmp = xmalloc(strlen(s->st.path) + sizeof ".compact");
    sprintf(cp->tmp, "%s.compact", s->st.path);
    cp->fd = open(cp->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);   /* it becomes the log */
    if (cp->fd < 0) return abort_compaction(s, cp->tmp);
    buf_append(&cp->out, STORE_MAGIC, STORE_MAGIC_LEN);
    cp->read_off = STORE_MAGIC_LEN;
    cp->active = 1;
    cp->started_ms = now_ms();
    cp->old_size = s->st.size;
    fprintf(stderr, "chatd: compaction started at seq %llu (%llu records, ~%llu obsolete)\n",
            (unsigned long long)cp->upto, (unsigned long long)s->st.nrecords, (unsigned long long)s->db.dead);
    return 0;
}

static int flush_out(compactor *cp)
{
    if (store_write_all(cp->fd, cp->out.data, cp->out.len) < 0) return -1;
    cp->write_off += cp->out.len;
    buf_reset(&cp->out);
    /* sync as we go: the final fdatasync before the rename then has little left to write,
     * so the turn that swaps the files stays short */
    return fdatasync(cp->fd);
}

/* Erasure: a message's create record from before P whose body is no longer the message's
 * (edited since, or deleted during the copy) is copied with an empty body. [*from, *to): the
 * body's length field and bytes in the payload. */
static int stale_body(server *s, const store_rec *r, size_t *from, size_t *to)
{
    if (r->type != REC_MSG_CREATE) return 0;
    rec_t d;
    if (rec_decode(&d, r->type, r->payload, r->len) < 0) return 0;
    uint32_t id = d.msg_create.id, n = d.msg_create.body.n;
    *from = rec_at(&d, d.msg_create.body.p) - 4;   /* its length field */
    *to = *from + 4 + n;
    if (!n || id < 1 || id > s->db.nmsgs) return 0;
    const msg *m = &s->db.msgs[id - 1];
    return !(m->flags & MSG_LIVE) || m->body_off != r->payload_off + *from + 4;
}

/* Copy one record if it is still needed (everything after P is). */
static void copy_record(server *s, const store_rec *r)
{
    compactor *cp = &s->cp;
    if (r->seq < cp->upto &&
        !db_live(&s->db, &cp->alive, r->seq, r->type, r->payload, r->len, r->payload_off))
        return;
    uint64_t old = r->payload_off - STORE_REC_HDR, at = cp->write_off + cp->out.len;
    if (r->seq > cp->upto || r->type == REC_MSG_CREATE || r->type == REC_MSG_UPDATE)
        push2(&cp->map_old, &cp->map_new, &cp->nmap, &cp->capmap, old, at);
    if (cp->nrec++ % EVENT_MARK_EVERY == 0) push2(&cp->mk_seq, &cp->mk_off, &cp->nmk, &cp->capmk, r->seq, at);
    uint8_t h[8] = {0};
    size_t at_raw = cp->out.len + sizeof h, from, to;
    buf_append(&cp->out, h, sizeof h);
    buf_append(&cp->out, r->raw, 9);   /* seq, type */
    int strip = r->seq < cp->upto && stale_body(s, r, &from, &to);
    if (strip) {   /* the body's length becomes 0; fields after it (if any) stay */
        uint8_t zero[4] = {0};
        buf_append(&cp->out, r->payload, from);
        buf_append(&cp->out, zero, sizeof zero);
        buf_append(&cp->out, r->payload + to, r->len - to);
    } else {
        buf_append(&cp->out, r->payload, r->len);
    }
    uint8_t *raw = (uint8_t *)cp->out.data + at_raw;
    uint32_t n = (uint32_t)(cp->out.len - at_raw);
    put_le32(raw - 8, n);
    put_le32(raw - 4, r->crc);
    if (strip || (r->more && r->seq < cp->upto)) {
        /* a change from before P may lose some of its records here: what is kept of it is
         * no longer one change (replay would wait for records that are gone) */
        if (r->seq < cp->upto) raw[8] &= (uint8_t)~STORE_MORE;
        put_le32(raw - 4, crc32c(0, raw, n));
    }
}

/* New offset of an old one: the first copied record at or after it (map is in file order). */
static uint64_t translate(const compactor *cp, uint64_t off, int inside)
{
    size_t lo = 0, hi = cp->nmap;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp->map_old[mid] <= off) lo = mid + 1; else hi = mid;
    }
    if (inside) return lo ? cp->map_new[lo - 1] + (off - cp->map_old[lo - 1]) : off;   /* in record lo-1 */
    if (lo && cp->map_old[lo - 1] == off) return cp->map_new[lo - 1];
    return lo < cp->nmap ? cp->map_new[lo] : cp->write_off;
}

static uint64_t new_off(const server *s, uint64_t off) { return translate(&s->cp, off, 0); }

/* Point everything that holds a file offset at the new file. */
static void rebase(server *s)
{
    compactor *cp = &s->cp;
    for (uint32_t i = 1; i <= s->db.nmsgs; i++) {
        msg *m = db_msg(&s->db, i);
        if (m) m->body_off = translate(cp, m->body_off, 1);
    }
    events_rebase(s, cp->upto, cp->nrec, cp->mk_seq, cp->mk_off, cp->nmk, new_off);
    cp->mk_seq = cp->mk_off = NULL;
}

static int finish(server *s)
{
    compactor *cp = &s->cp;
    if (flush_out(cp) < 0 || fdatasync(cp->fd) < 0) return abort_compaction(s, "writing the copy");
    if (rename(cp->tmp, s->st.path) < 0) return abort_compaction(s, "rename");
    /* Until the directory is synced the rename may not survive a power cut, and the records
     * of this turn are synced only in the new file: no response may go out. Exit, as for a
     * failed fdatasync; the restart finds the old log or the new one, both complete. */
    if (store_fsync_dir(&s->st) < 0) {
        fprintf(stderr, "chatd: compaction: fsync of the directory after the rename: %s; exiting\n",
                strerror(errno));
        exit(1);
    }
    rebase(s);
    store_adopt(&s->st, cp->fd, cp->write_off, cp->nrec);
    cp->fd = -1;
    s->db.dead = 0;
    s->db.stale_bodies -= cp->stale_at_start;
    /* bodies that went stale during the copy are erased by the next one: count from its start */
    cp->stale_since_ms = s->db.stale_bodies ? cp->started_ms : 0;
    fprintf(stderr, "chatd: compaction done: %llu -> %llu bytes, %llu records, %lld ms\n",
            (unsigned long long)cp->old_size, (unsigned long long)s->st.size,
            (unsigned long long)cp->nrec, (long long)(now_ms() - cp->started_ms));
    s->m.compactions++;
    cp->backoff_ms = 0;
    compact_reset(cp);
    return 1;
}

/* 1: done, 0: more to do, -1: abandoned */
static int compact_step(server *s)
{
    compactor *cp = &s->cp;
    for (int n = 0; n < COMPACT_SLICE && cp->read_off < s->st.size; n++) {
        store_rec r;
        if (store_read_ahead(&s->st, cp->read_off, 0, &cp->rd) < 0 ||   /* max 0: that record alone */
            store_rec_parse((uint8_t *)cp->rd.data, cp->rd.len, cp->read_off, &r) < 0 || !store_rec_ok(&r))
            return abort_compaction(s, "reading the log");
        copy_record(s, &r);
        cp->read_off = r.next_off;
        if (cp->out.len >= COMPACT_FLUSH && flush_out(cp) < 0) return abort_compaction(s, "writing the copy");
    }
    return cp->read_off >= s->st.size ? finish(s) : 0;
}

void compact_maybe(server *s)
{
    if (s->cp.active) { compact_step(s); return; }
    if (s->db.stale_bodies && !s->cp.stale_since_ms) s->cp.stale_since_ms = s->now_ms;
    if (s->now_ms < s->cp.retry_ms) return;
    uint64_t dead = s->db.dead;
    int erase = s->cfg.erase_within_s && s->db.stale_bodies &&
                s->now_ms - s->cp.stale_since_ms >= (int64_t)s->cfg.erase_within_s * 1000;
    if (erase || (s->cfg.compact_pct && dead >= s->cfg.compact_min &&
                  dead * 100 >= s->st.nrecords * s->cfg.compact_pct))
        compact_start(s);
}

int compact_busy(const server *s) { return s->cp.active; }

int compact_offline(server *s)
{
    int rc = compact_start(s);
    while (rc == 0) rc = compact_step(s);
    return rc < 0 ? -1 : 0;
}
