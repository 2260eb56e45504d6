/* fuzz_store.c — libFuzzer harness for log replay (src/store.h) and the index decoders
 * (src/db.h). Input: [mode][file bytes...]; the file is prefixed with the magic "CHATDLG1"
 * unless mode is 0xFF. It is written to chatd.log in a private temp dir, opened with
 * store_open, each record going to db_apply (mode bit 0: a rejected record does not stop
 * the replay). After a good open the log is read back with store_read and the indexes
 * are checked against each other and the file. */
#include "db.h"
#include "store.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK failed: %s\n", \
    __FILE__, __LINE__, #c); abort(); } } while (0)

static char dir[64], path[96];
static int lax;

static void cleanup(void) { unlink(path); rmdir(dir); }

static int apply(void *d, uint64_t seq, uint8_t type, const uint8_t *p, uint32_t len, uint64_t off)
{
    return db_apply(d, seq, type, p, len, off) && !lax;
}

static void verify(const store *s, db *d)
{
    buf_t b;
    store_rec rec;
    uint64_t off = STORE_MAGIC_LEN, n = 0, seq = 0;
    buf_init(&b);
    for (; store_read(s, off, &b, &rec) == 0; off = rec.next_off, n++, seq = rec.seq)
        CHECK(rec.seq > seq && rec.payload_off == off + STORE_REC_HDR);
    CHECK(off == s->size && n == s->nrecords && seq == s->last_seq);
    uint32_t users = 0, convs = 0, msgs = 0, inconv = 0;
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
        if (!c) continue;
        convs++;
        inconv += c->nmsgs;
        for (uint32_t j = 0; j < c->nmsgs; j++) {   /* ascending ids of live messages here */
            CHECK(db_msg(d, c->msgs[j]) && d->msgs[c->msgs[j] - 1].conv_id == i);
            CHECK(j == 0 || c->msgs[j - 1] < c->msgs[j]);
        }
    }
    CHECK(users == d->live_users && convs == d->live_convs && msgs == d->live_msgs && inconv == msgs);
    map_slot *t;
    for (size_t i = 0; (t = map_next(&d->tokens, &i));) CHECK(db_user(d, (int64_t)t->val));
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (!dir[0]) {   /* tmpfs when there is one: a torn tail costs an fsync */
        if (!mkdtemp(strcpy(dir, "/dev/shm/fuzz_store.XXXXXX")))
            CHECK(mkdtemp(strcpy(dir, "/tmp/fuzz_store.XXXXXX")));
        snprintf(path, sizeof path, "%s/%s", dir, STORE_LOG_NAME);
        atexit(cleanup);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK(data[0] == 0xFF || write(fd, STORE_MAGIC, STORE_MAGIC_LEN) == STORE_MAGIC_LEN);
    CHECK(write(fd, data + 1, size - 1) == (ssize_t)(size - 1));
    close(fd);
    db d;
    store s;
    char err[256];
    db_init(&d);
    lax = data[0] & 1;
    if (store_open(&s, dir, 0, apply, &d, err, sizeof err) == 0) {
        verify(&s, &d);
        store_close(&s);
    }
    db_free(&d);
    unlink(path);
    return 0;
}
