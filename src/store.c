/* store.c — the append-only log file (format and contract in store.h): open and replay with
 * torn-tail cut-off, append with one pwrite() over zeros written ahead, group-commit fdatasync,
 * pread of payloads, and the little-endian payload encoders/decoders. */
#include "store.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define REPLAY_WINDOW (256u * 1024)   /* replay buffer; grown only for a record larger than it */
#define AHEAD         (1u << 20)      /* zeros written ahead of the records at a time (store_write) */
#define REC_LEN_MIN   9u              /* seq + type: the len of an empty payload */

/* ---- little-endian integers, byte by byte: no alignment or host-order assumptions ---- */

uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

void put_le64(uint8_t *p, uint64_t v) { put_le32(p, (uint32_t)v); put_le32(p + 4, (uint32_t)(v >> 32)); }

int store_pread(const store *s, uint64_t off, void *dst, size_t n)
{
    uint8_t *p = dst;
    if (cache_get(&s->cache, off, dst, n) == 0) return 0;
    while (n) {
        ssize_t got = pread(s->fd, p, n, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return -1;
        if (got == 0) { errno = EIO; return -1; }   /* asked for bytes past the end */
        p += got; off += (uint64_t)got; n -= (size_t)got;
    }
    return 0;
}

/* The record whose checked bytes start at p, at file offset off. */
static store_rec rec_at(const uint8_t *p, uint64_t off)
{
    uint32_t len = le32(p);
    return (store_rec){ .seq = le64(p + 8), .payload_off = off + STORE_REC_HDR, .next_off = off + 8 + len,
                        .type = p[16] & (uint8_t)~STORE_MORE, .more = (p[16] & STORE_MORE) != 0,
                        .payload = p + STORE_REC_HDR, .len = len - REC_LEN_MIN, .crc = le32(p + 4),
                        .raw = p + 8 };
}

int store_read_ahead(const store *s, uint64_t off, size_t max, buf_t *b)
{
    if (off + STORE_REC_HDR > s->size) return -1;
    size_t n = s->size - off < max ? (size_t)(s->size - off) : max;
    if (n < STORE_REC_HDR) n = STORE_REC_HDR;
    buf_reset(b);
    buf_reserve(b, n);
    if (store_pread(s, off, b->data, n) < 0) return -1;
    uint64_t need = 8 + (uint64_t)le32((const uint8_t *)b->data);   /* the first record, whole */
    if (need > n && need <= s->size - off) {
        buf_reserve(b, (size_t)need);
        if (store_pread(s, off + n, b->data + n, (size_t)need - n) < 0) return -1;
        n = (size_t)need;
    }
    b->len = n;
    return 0;
}

int store_rec_parse(const uint8_t *p, size_t n, uint64_t off, store_rec *out)
{
    uint32_t len = n >= STORE_REC_HDR ? le32(p) : 0;
    if (len < REC_LEN_MIN || len > n - 8) return -1;
    *out = rec_at(p, off);
    return 0;
}

int store_rec_ok(const store_rec *r) { return crc32c(0, r->raw, r->len + REC_LEN_MIN) == r->crc; }

static char *join(const char *dir, const char *name)
{
    char *p = xmalloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

/* A created or renamed file only survives a crash once its directory is synced too. */
static int fsync_dir(const char *dir, const char *sub)
{
    char *path = join(dir, sub);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd < 0 ? -1 : fsync(fd), e = errno;
    if (fd >= 0) close(fd);
    free(path);
    errno = e;
    return rc;
}

/* ---- open and replay ---- */

typedef struct reader {
    store *s;
    uint64_t fsize;        /* file size at open; shrinks if the tail is cut */
    uint8_t *win;          /* file bytes [off, off + len) */
    size_t cap, len;
    uint64_t off;
    uint64_t change_end;   /* end of the change whose records are being replayed (checked whole) */
    int v1;                /* log format 1 (its header becomes 2 once it is replayed) */
    char *err;
    size_t errlen;
} reader;

static __attribute__((format(printf, 2, 3))) int fail(reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (r->err && r->errlen) vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static size_t at_most(uint64_t n, size_t max) { return n < max ? (size_t)n : max; }

/* File bytes [off, off + n) (off + n <= fsize), read in chunks of cap bytes: memory stays
 * bounded by the largest record, not by the file. NULL (err set) on a read error. */
static const uint8_t *window(reader *r, uint64_t off, size_t n)
{
    if (off >= r->off && off + n <= r->off + r->len) return r->win + (off - r->off);
    if (n > r->cap) r->win = xrealloc(r->win, r->cap = n);
    r->off = off;
    r->len = at_most(r->fsize - off, r->cap);
    if (store_pread(r->s, off, r->win, r->len) == 0) return r->win;
    fail(r, "%s: read: %s", r->s->path, strerror(errno));
    return NULL;
}

/* The last write was interrupted (crash, power loss): drop its remains so the next append
 * starts on a record boundary, and say so, since a record is being thrown away. */
static int cut_tail(reader *r, uint64_t off)
{
    store *s = r->s;
    int check = s->mode == STORE_CHECK;
    s->torn_bytes = r->fsize - off;
    if (!check && (ftruncate(s->fd, (off_t)off) < 0 || fsync(s->fd) < 0))
        return fail(r, "%s: cutting torn tail: %s", s->path, strerror(errno));
    fprintf(stderr, "chatd: %s: torn record at offset %" PRIu64 " (%" PRIu64 " bytes)%s\n", s->path, off,
            r->fsize - off, check ? ": a start would cut it" : " cut off");
    r->fsize = off;
    return 0;
}

/* Repair: copy [off, end) to "<log>.damaged-<off>", synced, before cutting it off. */
static int move_aside(reader *r, uint64_t off, const char *why)
{
    store *s = r->s;
    char *side = xmalloc(strlen(s->path) + 32);
    sprintf(side, "%s.damaged-%" PRIu64, s->path, off);
    int fd = open(side, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), rc = fd < 0 ? -1 : 0;
    uint64_t at = off;
    for (size_t n; rc == 0 && at < r->fsize; at += n) {
        n = at_most(r->fsize - at, r->cap);
        const uint8_t *p = window(r, at, n);
        if (!p || write(fd, p, n) != (ssize_t)n) rc = -1;
    }
    /* the copy and its name are on disk before the log loses those bytes */
    if (rc == 0 && (fsync(fd) < 0 || store_fsync_dir(s) < 0 || ftruncate(s->fd, (off_t)off) < 0 ||
                    fsync(s->fd) < 0))
        rc = -1;
    if (fd >= 0) close(fd);
    if (rc == 0)
        fprintf(stderr, "chatd: %s: %s at offset %" PRIu64 "; kept %" PRIu64 " bytes, moved %" PRIu64
                " to %s\n", s->path, why, off, off, r->fsize - off, side);
    else
        fail(r, "%s: moving damage aside to %s: %s", s->path, side, strerror(errno));
    free(side);
    r->fsize = off;
    return rc;
}

/* Damage at off, not a torn write: refused, or moved aside by a repair. */
static int damaged(reader *r, uint64_t off, const char *why)
{
    if (r->s->mode == STORE_REPAIR) return move_aside(r, off, why);
    return fail(r, "%s: corrupt record at offset %" PRIu64 ": %s", r->s->path, off, why);
}

/* REC_FREE: only zeros from a record boundary to the end of the file (written ahead, see
 * store_write): free space, kept. No record is all zeros: its len is at least REC_LEN_MIN. */
enum { REC_OK, REC_TORN, REC_BAD, REC_IOERR, REC_FREE };

/* `zero` if nothing but zero bytes follow from `from` (a bad record then is a torn tail: the
 * file was extended but never written); with real data after it, REC_BAD: damage not to hide. */
static int zeros_after(reader *r, uint64_t from, int zero)
{
    for (size_t n; from < r->fsize; from += n) {
        n = at_most(r->fsize - from, r->cap);
        const uint8_t *p = window(r, from, n);
        if (!p) return REC_IOERR;
        for (size_t i = 0; i < n; i++)
            if (p[i]) return REC_BAD;
    }
    return zero;
}

/* Classify the record at off: REC_OK (*rec: its checked bytes), REC_FREE, REC_TORN (the file
 * ends in it, or it is bad and only zeros follow), REC_BAD (why set) or REC_IOERR (err set). */
static int check_rec(reader *r, uint64_t off, const uint8_t **rec, char *why, size_t n)
{
    uint64_t left = r->fsize - off;
    if (left < STORE_REC_HDR) return zeros_after(r, off, REC_FREE) == REC_FREE ? REC_FREE : REC_TORN;
    const uint8_t *p = window(r, off, STORE_REC_HDR);
    if (!p) return REC_IOERR;
    uint32_t len = le32(p);
    /* A cut-short record still has a valid len: a bad one is garbage, zeros or damage. */
    if (len < REC_LEN_MIN || len - REC_LEN_MIN > STORE_MAX_PAYLOAD) {
        snprintf(why, n, "invalid length %" PRIu32, len);
        return zeros_after(r, off, REC_FREE);
    }
    if (8 + (uint64_t)len > left) return REC_TORN;
    if (!(p = window(r, off, 8 + (size_t)len))) return REC_IOERR;
    if (crc32c(0, p + 8, len) != le32(p + 4)) {
        snprintf(why, n, "checksum mismatch");
        return zeros_after(r, off + 8 + len, REC_TORN);
    }
    *rec = p;
    return REC_OK;
}

/* The change that starts at off (its first record has STORE_MORE): REC_OK when all of it is
 * there (r->change_end set), REC_TORN when the file ends inside it, REC_BAD otherwise. */
static int check_change(reader *r, uint64_t off, char *why, size_t n)
{
    uint64_t seq = 0;
    for (const uint8_t *p;;) {
        int k = check_rec(r, off, &p, why, n);
        if (k != REC_OK) return k == REC_FREE ? REC_TORN : k;
        store_rec rec = rec_at(p, off);
        if (seq && rec.seq != seq + 1) {
            snprintf(why, n, "seq %" PRIu64 " inside a change after seq %" PRIu64, rec.seq, seq);
            return REC_BAD;
        }
        seq = rec.seq;
        off = rec.next_off;
        if (!rec.more) break;
    }
    r->change_end = off;
    return REC_OK;
}

/* Checks the record at s->size, hands it to fn and moves s->size past it; a torn tail is
 * cut instead (fsize becomes s->size). The first record of a change is taken only when the
 * whole change is there: one cut short is a torn tail from its start, damaged from its start.
 * -1 (err set) on damage, rejection, I/O error. */
static int replay_one(reader *r, store_replay_fn fn, void *ctx)
{
    store *s = r->s;
    uint64_t off = s->size;
    const uint8_t *p;
    char why[128];
    int k = check_rec(r, off, &p, why, sizeof why);
    if (k == REC_OK && (p[16] & STORE_MORE) && off >= r->change_end) {
        char inner[80];
        k = check_change(r, off, inner, sizeof inner);
        if (k == REC_BAD) snprintf(why, sizeof why, "change cut short: %s", inner);
        if (k == REC_OK) k = check_rec(r, off, &p, why, sizeof why);   /* the window moved */
    }
    if (k == REC_FREE) { s->alloc = r->fsize; return 0; }
    if (k == REC_TORN) return cut_tail(r, off);
    if (k == REC_BAD) return damaged(r, off, why);
    if (k == REC_IOERR) return -1;
    store_rec rec = rec_at(p, off);
    if (rec.seq <= s->last_seq || rec.seq > STORE_MAX_SEQ) {   /* a valid checksum: not a torn write */
        snprintf(why, sizeof why, "seq %" PRIu64 " not above previous seq %" PRIu64 " or too large", rec.seq,
                 s->last_seq);
        return damaged(r, off, why);
    }
    if (fn && fn(ctx, rec.seq, rec.type, rec.payload, rec.len, rec.payload_off)) {
        if (s->mode == STORE_REPAIR) return move_aside(r, off, "record rejected by index");
        return fail(r, "%s: record at offset %" PRIu64 " (seq %" PRIu64 ") rejected by index", s->path, off,
                    rec.seq);
    }
    s->last_seq = rec.seq;
    s->nrecords++;
    s->size = rec.next_off;
    return 0;
}

/* Opens the log (a new directory's entry needs its parent synced) and checks its magic, or
 * writes it: for a new file, or one whose creation was torn after 1..7 bytes of it. */
static int open_file(reader *r, const char *dir)
{
    store *s = r->s;
    struct stat st;
    if (s->mode != STORE_CHECK && mkdir(dir, 0700) == 0) {
        if (fsync_dir(dir, "..") < 0) return fail(r, "%s/..: fsync: %s", dir, strerror(errno));
    } else if (s->mode != STORE_CHECK && errno != EEXIST) {
        return fail(r, "%s: mkdir: %s", dir, strerror(errno));
    }
    int flags = s->mode == STORE_CHECK ? O_RDONLY : O_RDWR | O_CREAT;
    if ((s->fd = open(s->path, flags | O_CLOEXEC, 0600)) < 0 || fstat(s->fd, &st) < 0)
        return fail(r, "%s: open: %s", s->path, strerror(errno));
    r->fsize = (uint64_t)st.st_size;
    size_t n = at_most(r->fsize, STORE_MAGIC_LEN);
    const uint8_t *m = window(r, 0, n);
    if (!m) return -1;
    r->v1 = n == STORE_MAGIC_LEN && memcmp(m, "CHATDLG1", n) == 0;
    if (n == STORE_MAGIC_LEN && !memcmp(m, STORE_MAGIC, 7) && m[7] > STORE_MAGIC[7] && m[7] <= '9')
        return fail(r, "%s: log format %c is newer than this chatd reads (1-2)", s->path, m[7]);
    if (memcmp(m, STORE_MAGIC, n) != 0 && !r->v1) {
        if (damaged(r, 0, "bad magic") < 0) return -1;
        n = 0;   /* repaired: everything moved aside, start the file over */
    } else if (n == STORE_MAGIC_LEN) {
        return 0;
    }
    if (s->mode == STORE_CHECK) return fail(r, "%s: no log header", s->path);
    if (n) fprintf(stderr, "chatd: %s: torn record at offset 0 (%zu bytes) cut off\n", s->path, n);
    if (pwrite(s->fd, STORE_MAGIC, STORE_MAGIC_LEN, 0) != STORE_MAGIC_LEN || fsync(s->fd) < 0)
        return fail(r, "%s: writing header: %s", s->path, strerror(errno));
    if (n == 0 && fsync_dir(dir, ".") < 0)
        return fail(r, "%s: fsync of the directory: %s", dir, strerror(errno));
    r->fsize = STORE_MAGIC_LEN;
    return 0;
}

int store_open_mode(store *s, const char *dir, int mode, int fsync_always, store_replay_fn fn,
                    void *ctx, char *err, size_t errlen)
{
    *s = (store){ .fd = -1, .mode = mode, .fsync_always = fsync_always && mode == STORE_RUN,
                  .size = STORE_MAGIC_LEN, .path = join(dir, STORE_LOG_NAME) };
    reader r = { .s = s, .cap = REPLAY_WINDOW, .win = xmalloc(REPLAY_WINDOW), .err = err, .errlen = errlen };
    int rc = open_file(&r, dir);
    while (rc == 0 && s->size < r.fsize && !s->alloc)
        rc = replay_one(&r, fn, ctx);
    s->alloc = r.fsize;
    free(r.win);
    /* format 1, replayed: now its header says 2 (an older chatd must not take what follows) */
    if (rc == 0 && r.v1 && mode != STORE_CHECK) {
        if (pwrite(s->fd, STORE_MAGIC, STORE_MAGIC_LEN, 0) != STORE_MAGIC_LEN || fsync(s->fd) < 0)
            rc = fail(&r, "%s: writing header: %s", s->path, strerror(errno));
        else fprintf(stderr, "chatd: %s: log format 1 upgraded to 2\n", s->path);
    }
    if (rc < 0)
        store_close(s);   /* nothing appended yet, so this only closes and frees */
    return rc;
}

void store_close(store *s)
{
    if (s->fd >= 0) { store_sync(s); close(s->fd); }
    s->fd = -1;
    free(s->path);
    s->path = NULL;
    buf_free(&s->staged);
    cache_free(&s->cache);
}

void store_adopt(store *s, int fd, uint64_t size, uint64_t nrecords)
{
    close(s->fd);
    s->fd = fd;
    s->size = s->alloc = size;
    s->nrecords = nrecords;
    s->unsynced = 0;
    cache_load(&s->cache, s->cache.cap, fd, size);   /* a new file: offsets mean other bytes */
}

int store_fsync_dir(const store *s)
{
    char *dir = xstrndup(s->path, strlen(s->path) - strlen(STORE_LOG_NAME));
    int rc = fsync_dir(dir, ".");
    free(dir);
    return rc;
}

/* ---- append and sync ---- */

int store_write_all(int fd, const void *p, size_t n)
{
    struct iovec iov = { (void *)p, n };
    while (iov.iov_len) {
        ssize_t w = writev(fd, &iov, 1);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        if (w == 0) { errno = EIO; return -1; }
        iov.iov_base = (uint8_t *)iov.iov_base + w;
        iov.iov_len -= (size_t)w;
    }
    return 0;
}

void store_stage(store *s, uint8_t type, const void *payload, uint32_t len, uint64_t *seq_out,
                 uint64_t *payload_off)
{
    if (s->nstaged == 0) {   /* a new change: the last one's records are no longer needed */
        buf_reset(&s->staged);
        s->staged_base = s->size;
        s->staged_err = 0;
    }
    uint64_t seq = s->last_seq + s->nstaged + 1;
    if (len > STORE_MAX_PAYLOAD || (type & STORE_MORE)) s->staged_err = EINVAL;
    if (seq > STORE_MAX_SEQ) s->staged_err = EOVERFLOW;
    if (s->staged_err) len = 0;   /* store_write will refuse the change */
    if (s->nstaged) {   /* the previous record is no longer the last: mark it, checksum again */
        uint8_t *prev = (uint8_t *)s->staged.data + s->staged.len - s->staged_last;
        prev[16] |= STORE_MORE;
        put_le32(prev + 4, crc32c(0, prev + 8, le32(prev)));
    }
    uint8_t h[STORE_REC_HDR];
    put_le32(h, REC_LEN_MIN + len);
    put_le64(h + 8, seq);
    h[16] = type;
    put_le32(h + 4, crc32c(crc32c(0, h + 8, REC_LEN_MIN), payload, len));
    if (seq_out) *seq_out = seq;
    if (payload_off) *payload_off = s->staged_base + s->staged.len + STORE_REC_HDR;
    buf_append(&s->staged, h, sizeof h);
    buf_append(&s->staged, payload, len);
    s->staged_last = STORE_REC_HDR + len;
    s->nstaged++;
}

/* pwrite n bytes of p (NULL: zeros) at off, as far as they go (the file position is not used):
 * the number written, fewer only on an error (errno: ENOSPC, EFBIG, EIO) */
static uint64_t write_at(int fd, const uint8_t *p, uint64_t n, uint64_t off)
{
    static uint8_t zeros[64 * 1024];   /* never written to: .bss, no memory */
    uint64_t done = 0;
    for (ssize_t w = 0; done < n; done += (uint64_t)w) {
        size_t k = p ? (size_t)(n - done) : at_most(n - done, sizeof zeros);
        if ((w = pwrite(fd, p ? p + done : zeros, k, (off_t)(off + done))) <= 0) break;
    }
    return done;
}

int store_write(store *s)
{
    uint32_t n = s->nstaged;
    if (n == 0) return 0;
    s->nstaged = 0;
    if (s->staged_err) { errno = s->staged_err; buf_reset(&s->staged); return -1; }
    uint64_t end = s->size + s->staged.len;
    /* zeros ahead, synced by this turn's fdatasync: the next ones then write no file size (not
     * fallocate: converting its unwritten extents costs more). A full disk keeps what fits. */
    if (s->fsync_always && end > s->alloc)
        s->alloc += write_at(s->fd, NULL, end / AHEAD * AHEAD + AHEAD - s->alloc, s->alloc);
    if (write_at(s->fd, (const uint8_t *)s->staged.data, s->staged.len, s->size) < s->staged.len) {
        /* Zeros over any part that reached the file, none of it left past alloc: the log ends on
         * a record boundary. If even that fails, the next append overwrites it from s->size, and
         * replay meets a leftover as a torn tail or refuses it as damage: no stored record is lost. */
        int e = errno;
        if (ftruncate(s->fd, (off_t)s->alloc) < 0) { /* see above */ }
        write_at(s->fd, NULL, (end < s->alloc ? end : s->alloc) - s->size, s->size);
        buf_reset(&s->staged);
        errno = e;
        return -1;
    }
    cache_put(&s->cache, s->size, s->staged.data, s->staged.len);
    s->size = end;
    if (s->alloc < end) s->alloc = end;
    s->unsynced += s->staged.len;
    s->last_seq += n;
    s->nrecords += n;
    return 0;
}

int store_written(const store *s, size_t *pos, store_rec *out)
{
    if (s->nstaged || *pos + STORE_REC_HDR > s->staged.len) return -1;
    const uint8_t *p = (const uint8_t *)s->staged.data + *pos;
    *out = rec_at(p, s->staged_base + *pos);
    *pos += 8 + le32(p);
    return 0;
}

int store_append(store *s, uint8_t type, const void *payload, uint32_t len,
                 uint64_t *seq_out, uint64_t *payload_off)
{
    store_stage(s, type, payload, len, seq_out, payload_off);
    return store_write(s);
}

int store_sync(store *s)
{
    /* with --fsync=never the page cache decides; the counter is still reset */
    if (s->fsync_always && s->unsynced && fdatasync(s->fd) < 0) return -1;
    s->unsynced = 0;
    return 0;
}
