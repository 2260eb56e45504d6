/* fuzz_store.c — libFuzzer harness for log replay (src/store.h) and the index decoders
 * (src/db.h). Input: [mode][file bytes...]. The file gets the magic (STORE_MAGIC) in front
 * unless mode is 0xFF; mode bit 1 recomputes the records' CRCs (so mutations reach
 * db_apply), bit 0 lets the replay go on past records the index rejects, bits 2-3 pick
 * STORE_RUN / CHECK / REPAIR. It is written to chatd.log in a fresh temp dir and opened;
 * each record goes to db_apply. After a good open the log is read back (read_rec below,
 * db_live), the indexes are checked against each other and the file, a record is
 * appended, and a second replay must agree. */
#include "db.h"
#include "store.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK failed: %s\n", \
    __FILE__, __LINE__, #c); abort(); } } while (0)
/* db_apply refuses ids above their record's seq (and 2^31), but a crafted seq can still be
 * large and the arrays are sized by the largest id: the harness caps ids lower, so each
 * run stays cheap (corpus/store/regress_*_id_* hung or exhausted memory before the fix). */
#define ID_CAP 4096

static int lax;

static int apply(void *d, uint64_t seq, uint8_t type, const uint8_t *p, uint32_t len, uint64_t off)
{
    int big = len >= 4 && (type == REC_USER_CREATE || type == REC_CONV_CREATE ||
                           type == REC_MSG_CREATE || type == REC_META) && le32(p) > ID_CAP;
    for (uint32_t i = 4; type == REC_META && i + 4 <= len && i < 12; i += 4) big |= le32(p + i) > ID_CAP;
    return (big || db_apply(d, seq, type, p, len, off)) && !lax;
}

/* The record at off, read and checked as compaction reads it: 0, or -1 past the last one. */
static int read_rec(const store *s, uint64_t off, buf_t *b, store_rec *r)
{
    if (store_read_ahead(s, off, 0, b) < 0 || store_rec_parse((uint8_t *)b->data, b->len, off, r) < 0) return -1;
    return store_rec_ok(r) ? 0 : -1;
}

static void verify(const store *s, db *d)
{
    buf_t b;
    store_rec rec;
    uint64_t off = STORE_MAGIC_LEN, n = 0, seq = 0;
    uint32_t users = 0, convs = 0, msgs = 0, inconv = 0;
    buf_init(&b);
    for (; read_rec(s, off, &b, &rec) == 0; off = rec.next_off, n++, seq = rec.seq) {
        CHECK(rec.seq > seq && rec.payload_off == off + STORE_REC_HDR);
        CHECK(db_live(d, NULL, rec.seq, rec.type, rec.payload, rec.len, rec.payload_off) <= 1);
    }
    CHECK(off == s->size && n == s->nrecords && seq == s->last_seq);
    for (uint32_t i = 1; i <= d->nusers; i++) users += db_user(d, i) != NULL;
    for (uint32_t i = 1; i <= d->nmsgs; i++) {
        msg *m = db_msg(d, i);
        if (!m) continue;
        msgs++;
        CHECK(m->body_off + m->body_len <= s->size && db_conv(d, m->conv_id));
        buf_reserve(&b, m->body_len);
        CHECK(store_pread(s, m->body_off, b.data, m->body_len) == 0);
    }
    for (uint32_t i = 1; i <= d->nconvs; i++) {
        conv *c = db_conv(d, i);
        for (uint32_t j = 0; c && j < c->nmsgs; j++)   /* ascending ids of live messages here */
            CHECK(db_msg(d, c->msgs[j]) && d->msgs[c->msgs[j] - 1].conv_id == i &&
                  (j == 0 || c->msgs[j - 1] < c->msgs[j]));
        convs += c != NULL, inconv += c ? c->nmsgs : 0;
    }
    CHECK(users == d->live_users && convs == d->live_convs && msgs == d->live_msgs && inconv == msgs);
    map_slot *t;
    for (size_t i = 0; (t = map_next(&d->tokens, &i));) CHECK(db_user(d, (uint32_t)t->val));
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int modes[] = { STORE_RUN, STORE_CHECK, STORE_REPAIR, STORE_RUN };
    char dir[64], path[400], err[256];
    if (size < 1) return 0;
    buf_t f;
    buf_init(&f);
    if (data[0] != 0xFF) buf_append(&f, STORE_MAGIC, STORE_MAGIC_LEN);
    buf_append(&f, data + 1, size - 1);
    uint8_t *p = (uint8_t *)f.data;
    for (size_t off = 8, n; data[0] != 0xFF && (data[0] & 2) && off + 8 <= f.len; off += 8 + n) {
        n = le32(p + off);
        if (n < 9 || n > f.len - off - 8) break;
        put_le32(p + off + 4, crc32c(0, p + off + 8, n));
    }
    /* tmpfs when there is one: a torn tail costs an fsync */
    if (!mkdtemp(strcpy(dir, "/dev/shm/fuzz_store.XXXXXX"))) CHECK(mkdtemp(strcpy(dir, "/tmp/fuzz_store.XXXXXX")));
    snprintf(path, sizeof path, "%s/%s", dir, STORE_LOG_NAME);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && write(fd, f.data, f.len) == (ssize_t)f.len);
    close(fd);
    db d;
    store s;
    int mode = modes[data[0] >> 2 & 3];
    db_init(&d);
    lax = data[0] & 1;
    if (store_open_mode(&s, dir, mode, 0, apply, &d, err, sizeof err) == 0) {
        verify(&s, &d);
        uint32_t live[3] = { d.live_users, d.live_convs, d.live_msgs };
        db_rec_meta(&f, &d);   /* append to the recovered log (may fail): it must replay the same */
        if (mode != STORE_CHECK)
            store_append(&s, REC_META, f.data, (uint32_t)f.len, NULL, NULL);
        uint64_t n = s.nrecords;
        store_close(&s);
        db_free(&d), db_init(&d);
        CHECK(store_open_mode(&s, dir, STORE_CHECK, 0, apply, &d, err, sizeof err) == 0);
        CHECK(s.nrecords == n && live[0] == d.live_users && live[1] == d.live_convs && live[2] == d.live_msgs);
        store_close(&s);
    }
    db_free(&d);
    buf_free(&f);
    DIR *dd = opendir(dir);   /* the log, and REPAIR's chatd.log.damaged-<off> */
    for (struct dirent *e; dd && (e = readdir(dd));)
        if (e->d_name[0] != '.') unlink((snprintf(path, sizeof path, "%s/%s", dir, e->d_name), path));
    if (dd) closedir(dd);
    rmdir(dir);
    return 0;
}
