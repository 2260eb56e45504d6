/* test_store.c — unit tests of the log store: CRC-32C vectors, payload codecs, append and
 * replay, torn tails cut at every byte, damage refused, and a failed write rolled back.
 * Works in a fresh mkdtemp directory under /tmp, removed at the end. */
#include "t.h"
#include "store.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[64];
#define AHEAD (1 << 20)   /* with fsync on, the store writes zeros ahead up to the next MiB */

/* ---- helpers ---- */

static void path_of(char *out, const char *name) { snprintf(out, 200, "%s/%s", tmp, name); }

static void log_of(char *out, const char *dir) { snprintf(out, 240, "%s/%s", dir, STORE_LOG_NAME); }

static long file_size(const char *dir)
{
    char p[240];
    struct stat st;
    log_of(p, dir);
    return stat(p, &st) < 0 ? -1 : (long)st.st_size;
}

static uint8_t *slurp(const char *dir, size_t *n)
{
    char p[240];
    log_of(p, dir);
    long size = file_size(dir);
    uint8_t *data = xmalloc(size > 0 ? (size_t)size : 1);
    int fd = open(p, O_RDONLY);
    *n = fd >= 0 && read(fd, data, (size_t)size) == size ? (size_t)size : 0;
    if (fd >= 0) close(fd);
    return data;
}

static void spit(const char *dir, const void *p, size_t n)
{
    char path[240];
    log_of(path, dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && write(fd, p, n) == (ssize_t)n);
    if (fd >= 0) close(fd);
}

static void patch(const char *dir, long off, const void *p, size_t n)
{
    char path[240];
    log_of(path, dir);
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, p, n, off) == (ssize_t)n);
    if (fd >= 0) close(fd);
}

static void flip(const char *dir, long off)
{
    size_t n;
    uint8_t *d = slurp(dir, &n);
    uint8_t b = d[off] ^ 0x40;
    patch(dir, off, &b, 1);
    free(d);
}

/* Deterministic payload bytes, different for every seq. */
static void fill(uint8_t *p, uint32_t len, uint64_t seq)
{
    for (uint32_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seq * 131 + i * 7 + (i >> 8));
}

/* A record built by hand, so the test does not trust the code under test. */
static size_t craft(uint8_t *out, uint32_t len_field, uint64_t seq, uint8_t type, const char *payload)
{
    uint32_t n = (uint32_t)strlen(payload);
    put_le32(out, len_field);
    put_le64(out + 8, seq);
    out[16] = type;
    memcpy(out + 17, payload, n);
    put_le32(out + 4, crc32c(0, out + 8, 9 + n));
    return 17 + n;
}

typedef struct rec { uint64_t seq, off; uint8_t type; uint32_t len; uint8_t *data; } rec;
typedef struct seen { int n; uint64_t reject_seq; rec r[32]; } seen;

static int collect(void *ctx, uint64_t seq, uint8_t type, const uint8_t *p, uint32_t len, uint64_t off)
{
    seen *sn = ctx;
    if (seq == sn->reject_seq || sn->n == 32) return 1;
    rec *r = &sn->r[sn->n++];
    r->seq = seq; r->type = type; r->len = len; r->off = off;
    r->data = xmalloc(len);
    memcpy(r->data, p, len);
    return 0;
}

static void seen_reset(seen *sn)
{
    for (int i = 0; i < sn->n; i++) free(sn->r[i].data);
    memset(sn, 0, sizeof *sn);
}

/* store_open with stderr sent to a file; *noise = bytes it printed there. */
static int open_quiet(store *s, const char *dir, seen *sn, char *err, long *noise)
{
    char cap[200];
    path_of(cap, "stderr");
    seen_reset(sn);
    fflush(stderr);
    int saved = dup(2), fd = open(cap, O_RDWR | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    err[0] = 0;
    int rc = store_open(s, dir, 1, collect, sn, err, 512);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    struct stat st;
    *noise = fstat(fd, &st) == 0 ? (long)st.st_size : -1;
    close(fd);
    return rc;
}

/* A fresh log in tmp/name holding records seq 1..n with payload sizes sizes[] (--fsync never:
 * no zeros written ahead, the file ends with the last record). */
static void make_log(char *dir, const char *name, const uint32_t *sizes, int n)
{
    store s;
    char err[512];
    uint8_t p[256];
    path_of(dir, name);
    CHECK_EQ_INT(store_open(&s, dir, 0, NULL, NULL, err, sizeof err), 0);
    for (int i = 0; i < n; i++) {
        fill(p, sizes[i], (uint64_t)i + 1);
        CHECK_EQ_INT(store_append(&s, (uint8_t)(i + 1), p, sizes[i], NULL, NULL), 0);
    }
    store_close(&s);
}

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char sub[512];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) rm_tree(sub);
        else unlink(sub);
    }
    if (d) closedir(d);
    rmdir(path);
}

/* ---- tests ---- */

static void test_crc32c(void)
{
    uint8_t b[32];
    CHECK_EQ_INT(crc32c(0, "123456789", 9), 0xE3069283);
    CHECK_EQ_INT(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xE3069283);   /* continued */
    CHECK_EQ_INT(crc32c(0, NULL, 0), 0);
    memset(b, 0, 32);
    CHECK_EQ_INT(crc32c(0, b, 32), 0x8A9136AA);
    memset(b, 0xff, 32);
    CHECK_EQ_INT(crc32c(0, b, 32), 0x62A8AB43);
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)i;
    CHECK_EQ_INT(crc32c(0, b, 32), 0x46DD794E);
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)(31 - i);
    CHECK_EQ_INT(crc32c(0, b, 32), 0x113FDB5C);
}

static void test_le(void)
{
    uint8_t b[16] = {0};
    put_le32(b + 1, 0x12345678);   /* odd address: no alignment assumed */
    CHECK_MEM(b + 1, "\x78\x56\x34\x12", 4);
    CHECK_EQ_INT(le32(b + 1), 0x12345678);
    put_le64(b + 5, 0x0102030405060708ull);
    CHECK_MEM(b + 5, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
    CHECK(le64(b + 5) == 0x0102030405060708ull);
    put_le64(b, UINT64_MAX);
    CHECK(le64(b) == UINT64_MAX);
}

static void test_new_dir(void)
{
    char dir[200], err[512], p[240];
    store s;
    seen sn = {0};
    long noise;
    struct stat st;
    size_t n;
    path_of(dir, "new");
    CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), 0);
    CHECK_EQ_INT(noise, 0);
    CHECK_EQ_INT(s.size, 8);
    CHECK_EQ_INT(s.last_seq, 0);
    CHECK_EQ_INT(s.nrecords, 0);
    log_of(p, dir);
    CHECK_STR(s.path, p);
    CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
    uint8_t *d = slurp(dir, &n);
    CHECK_EQ_INT(n, 8);
    CHECK_MEM(d, STORE_MAGIC, 8);
    free(d);
    store_close(&s);
    CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), 0);   /* reopen: nothing to do */
    CHECK_EQ_INT(noise, 0);
    CHECK_EQ_INT(sn.n, 0);
    CHECK_EQ_INT(file_size(dir), 8);
    store_close(&s);

    path_of(dir, "no/such/parent");
    CHECK_EQ_INT(store_open(&s, dir, 1, NULL, NULL, err, sizeof err), -1);
    CHECK(strstr(err, "mkdir") != NULL);
    CHECK_EQ_INT(s.fd, -1);
    store_close(&s);   /* harmless after a failed open */
}

static void test_append_replay(void)
{
    static const uint32_t sizes[] = {0, 1, 7, 80, 255, 4096, 300000, STORE_MAX_PAYLOAD, 0, 13};
    enum { N = sizeof sizes / sizeof sizes[0] };
    char dir[200], err[512];
    store s;
    seen sn = {0};
    long noise;
    uint64_t seq, poff, off = 8, offs[N];
    uint8_t *p = xmalloc(STORE_MAX_PAYLOAD + 1), *q = xmalloc(STORE_MAX_PAYLOAD);
    path_of(dir, "ar");
    CHECK_EQ_INT(store_open(&s, dir, 1, NULL, NULL, err, sizeof err), 0);
    for (int i = 0; i < N; i++) {
        fill(p, sizes[i], (uint64_t)i + 1);
        CHECK_EQ_INT(store_append(&s, (uint8_t)(i * 13 + 1), p, sizes[i], &seq, &poff), 0);
        CHECK_EQ_INT(seq, i + 1);
        CHECK_EQ_INT(poff, off + 17);
        offs[i] = poff;
        off += 17 + sizes[i];
    }
    CHECK_EQ_INT(s.size, off);
    CHECK_EQ_INT(s.unsynced, off - 8);
    CHECK_EQ_INT(store_sync(&s), 0);
    CHECK_EQ_INT(s.unsynced, 0);
    errno = 0;
    CHECK_EQ_INT(store_append(&s, 1, p, STORE_MAX_PAYLOAD + 1, NULL, NULL), -1);
    CHECK_EQ_INT(errno, EINVAL);
    CHECK_EQ_INT(s.size, off);
    CHECK_EQ_INT(s.alloc, (off / AHEAD + 1) * AHEAD);   /* zeros ahead, to the next MiB */
    CHECK_EQ_INT(file_size(dir), (long)s.alloc);
    store_close(&s);

    CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), 0);
    CHECK_EQ_INT(noise, 0);
    CHECK_EQ_INT(sn.n, N);
    CHECK_EQ_INT(s.last_seq, N);
    CHECK_EQ_INT(s.nrecords, N);
    CHECK_EQ_INT(s.size, off);
    for (int i = 0; i < sn.n && i < N; i++) {
        fill(p, sizes[i], (uint64_t)i + 1);
        CHECK_EQ_INT(sn.r[i].seq, i + 1);
        CHECK_EQ_INT(sn.r[i].type, i * 13 + 1);
        CHECK_EQ_INT(sn.r[i].len, sizes[i]);
        CHECK_EQ_INT(sn.r[i].off, offs[i]);
        CHECK_MEM(sn.r[i].data, p, sizes[i]);
        CHECK_EQ_INT(store_pread(&s, sn.r[i].off, q, sizes[i]), 0);
        CHECK_MEM(q, p, sizes[i]);
    }
    CHECK_EQ_INT(store_pread(&s, s.alloc - 4, q, 5), -1);   /* runs past the end */
    fill(p, 3, N + 1);
    CHECK_EQ_INT(store_append(&s, 120, p, 3, &seq, &poff), 0);   /* seq continues */
    CHECK_EQ_INT(seq, N + 1);
    CHECK_EQ_INT(poff, off + 17);
    store_close(&s);
    CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), 0);
    CHECK_EQ_INT(sn.n, N + 1);
    CHECK_EQ_INT(sn.r[N].seq, N + 1);
    CHECK_EQ_INT(sn.r[N].type, 120);
    CHECK_EQ_INT(sn.r[N].len, 3);
    CHECK_MEM(sn.r[N].data, p, 3);
    CHECK_EQ_INT(s.size, off + 20);
    store_close(&s);
    seen_reset(&sn);
    free(p);
    free(q);
}

/* Many small records: replay slides its window across the file many times. */
typedef struct verify { uint64_t next, off; int bad; } verify;

static int check_seq(void *ctx, uint64_t seq, uint8_t type, const uint8_t *p, uint32_t len, uint64_t off)
{
    verify *v = ctx;
    uint8_t want[300];
    fill(want, len, seq);
    if (seq != v->next || type != (uint8_t)(seq % 128) || len != (seq * 37) % 300 || off != v->off + 17
        || memcmp(p, want, len) != 0)
        v->bad++;
    v->next++;
    v->off += 17 + len;
    return 0;
}

static void test_many(void)
{
    char dir[200], err[512];
    store s;
    uint8_t p[300];
    verify v = {1, 8, 0};
    path_of(dir, "many");
    CHECK_EQ_INT(store_open(&s, dir, 0, NULL, NULL, err, sizeof err), 0);
    for (uint64_t seq = 1; seq <= 20000; seq++) {
        uint32_t len = (uint32_t)((seq * 37) % 300);
        fill(p, len, seq);
        if (store_append(&s, (uint8_t)(seq % 128), p, len, NULL, NULL) != 0) { CHECK(0); break; }
    }
    CHECK_EQ_INT(store_sync(&s), 0);
    store_close(&s);
    CHECK_EQ_INT(store_open(&s, dir, 0, check_seq, &v, err, sizeof err), 0);
    CHECK_EQ_INT(v.next, 20001);
    CHECK_EQ_INT(v.bad, 0);
    CHECK_EQ_INT(s.size, v.off);
    CHECK_EQ_INT(file_size(dir), (long)v.off);
    store_close(&s);
}

static void test_torn_every_byte(void)
{
    static const uint32_t sizes[] = {5, 0, 40};
    char dir[200], err[512];
    store s;
    seen sn = {0};
    long noise;
    size_t n;
    uint64_t seq, poff;
    make_log(dir, "torn", sizes, 3);
    uint8_t *image = slurp(dir, &n);
    CHECK_EQ_INT(n, 104);   /* 8 + 22 + 17 + 57 */
    const long start = 47, end = 104;
    for (long cut = start; cut < end; cut++) {
        spit(dir, image, (size_t)cut);
        CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), 0);
        CHECK(cut == start ? noise == 0 : noise > 0);   /* a boundary is not a torn record */
        CHECK_EQ_INT(sn.n, 2);
        CHECK_EQ_INT(sn.r[0].seq, 1);
        CHECK_EQ_INT(sn.r[1].seq, 2);
        CHECK_EQ_INT(s.last_seq, 2);
        CHECK_EQ_INT(s.nrecords, 2);
        CHECK_EQ_INT(s.size, start);
        CHECK_EQ_INT(file_size(dir), start);
        CHECK_EQ_INT(store_append(&s, 9, "new", 3, &seq, &poff), 0);
        CHECK_EQ_INT(seq, 3);
        CHECK_EQ_INT(poff, start + 17);
        store_close(&s);
        CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), 0);
        CHECK_EQ_INT(noise, 0);
        CHECK_EQ_INT(sn.n, 3);
        CHECK(sn.n == 3 && sn.r[2].seq == 3 && sn.r[2].type == 9 && sn.r[2].len == 3
              && memcmp(sn.r[2].data, "new", 3) == 0);
        CHECK_EQ_INT(s.size, start + 20);
        CHECK_EQ_INT(file_size(dir), AHEAD);   /* the append wrote zeros ahead */
        store_close(&s);
    }
    /* creation torn inside the magic: 1..7 bytes of it, rewritten */
    for (size_t k = 0; k < 8; k++) {
        spit(dir, STORE_MAGIC, k);
        CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), 0);
        CHECK(k == 0 ? noise == 0 : noise > 0);
        CHECK_EQ_INT(sn.n, 0);
        CHECK_EQ_INT(s.size, 8);
        store_close(&s);
        uint8_t *d = slurp(dir, &n);
        CHECK_EQ_INT(n, 8);
        CHECK_MEM(d, STORE_MAGIC, 8);
        free(d);
    }
    spit(dir, "CHATX", 5);   /* short but not the magic: refused, left alone */
    CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), -1);
    CHECK(strstr(err, "offset 0") && strstr(err, "magic"));
    CHECK_EQ_INT(file_size(dir), 5);
    seen_reset(&sn);
    free(image);
}

/* image[0..good) holding nrec records, then tail: opens fine with those records and a
 * stderr line, the file cut back to good. */
static void expect_cut(const char *dir, const uint8_t *image, size_t good, int nrec,
                       const void *tail, size_t tn)
{
    store s;
    seen sn = {0};
    char err[512];
    long noise;
    uint8_t *all = xmalloc(good + tn);
    memcpy(all, image, good);
    memcpy(all + good, tail, tn);
    spit(dir, all, good + tn);
    CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), 0);
    CHECK(noise > 0);
    CHECK_EQ_INT(sn.n, nrec);
    CHECK_EQ_INT(s.last_seq, nrec);
    CHECK_EQ_INT(s.size, good);
    CHECK_EQ_INT(file_size(dir), (long)good);
    store_close(&s);
    seen_reset(&sn);
    free(all);
}

/* image[0..good) holding nrec records, then z zeros: free space (written ahead, or the file grew
 * but the data never landed), kept silently, also by a --check; appends land in it. */
static void expect_kept(const char *dir, const uint8_t *image, size_t good, int nrec, size_t z)
{
    store s;
    seen sn = {0};
    char err[512];
    long noise;
    uint64_t seq, poff;
    uint8_t *all = xcalloc(good + z, 1);
    memcpy(all, image, good);
    spit(dir, all, good + z);
    CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), 0);
    CHECK_EQ_INT(noise, 0);
    CHECK_EQ_INT(sn.n, nrec);
    CHECK_EQ_INT(s.size, good);
    CHECK_EQ_INT(s.alloc, good + z);
    CHECK_EQ_INT(file_size(dir), (long)(good + z));
    CHECK_EQ_INT(store_append(&s, 9, "new", 3, &seq, &poff), 0);   /* over the zeros, from good */
    CHECK_EQ_INT(poff, good + 17);
    CHECK_EQ_INT(s.alloc, z >= 20 ? good + z : AHEAD);   /* past the zeros: more written ahead */
    store_close(&s);
    CHECK_EQ_INT(file_size(dir), (long)(z >= 20 ? good + z : AHEAD));
    CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), 0);   /* the new record replays */
    CHECK(noise == 0 && sn.n == nrec + 1 && s.size == good + 20);
    CHECK(sn.n == nrec + 1 && sn.r[nrec].seq == (uint64_t)nrec + 1 && memcmp(sn.r[nrec].data, "new", 3) == 0);
    store_close(&s);
    spit(dir, all, good + z);
    CHECK_EQ_INT(store_open_mode(&s, dir, STORE_CHECK, 0, NULL, NULL, err, sizeof err), 0);
    CHECK(s.size == good && s.alloc == good + z && s.torn_bytes == 0);
    store_close(&s);
    seen_reset(&sn);
    free(all);
}

static void test_tails(void)
{
    static const uint32_t sizes[] = {5, 0, 40};
    char dir[200];
    size_t n;
    make_log(dir, "tails", sizes, 3);
    uint8_t *image = slurp(dir, &n);
    uint8_t *tail = xcalloc(4096 + 57, 1);
    /* zeros after valid records, shorter than a record header too: free space */
    expect_kept(dir, image, 104, 3, 4096);
    expect_kept(dir, image, 104, 3, 3);
    expect_kept(dir, image, 104, 3, 17);
    expect_kept(dir, image, 8, 0, 1 << 20);   /* a new log's first extension */
    /* a record cut short, then zeros: still torn, cut (a start writes zeros ahead again) */
    for (size_t cut = 1; cut < 57; cut += 7) {
        memcpy(tail, image + 47, cut);
        memset(tail + cut, 0, 4096 + 57 - cut);
        expect_cut(dir, image, 47, 2, tail, 57 + 4096);
    }
    /* last record with a checksum mismatch: at end of file, or followed by zeros only */
    memcpy(tail, image + 47, 57);
    tail[17 + 20] ^= 0x01;
    expect_cut(dir, image, 47, 2, tail, 57);
    expect_cut(dir, image, 47, 2, tail, 57 + 4096);
    memcpy(tail, image + 47, 57);
    tail[5] ^= 0x80;   /* the stored crc itself */
    expect_cut(dir, image, 47, 2, tail, 57);
    free(tail);
    free(image);
}

/* Damage with data after it: store_open must refuse, name file and offset, and cut nothing. */
static void expect_corrupt(const char *dir, const char *offset, const char *reason)
{
    store s;
    seen sn = {0};
    char err[512], p[240];
    long noise, before = file_size(dir);
    log_of(p, dir);
    CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), -1);
    CHECK(strstr(err, p) != NULL);
    CHECK(strstr(err, offset) != NULL);
    CHECK(strstr(err, reason) != NULL);
    if (!strstr(err, offset) || !strstr(err, reason)) fprintf(stderr, "  err was: %s\n", err);
    CHECK_EQ_INT(noise, 0);
    CHECK_EQ_INT(file_size(dir), before);
    seen_reset(&sn);
}

static void test_corruption(void)
{
    static const uint32_t sizes[] = {5, 0, 40};
    char dir[200];
    size_t n;
    uint8_t raw[64], *image;
    make_log(dir, "bad", sizes, 3);
    image = slurp(dir, &n);

    flip(dir, 8 + 17 + 1);   /* first record's payload */
    expect_corrupt(dir, "offset 8:", "checksum");
    spit(dir, image, n);
    patch(dir, 8, "\xf0\xff\xff\xff", 4);   /* huge len */
    expect_corrupt(dir, "offset 8:", "invalid length");
    spit(dir, image, n);
    patch(dir, 30, "\x03\0\0\0", 4);   /* len < 9 in the second record */
    expect_corrupt(dir, "offset 30:", "invalid length");
    /* bad last record followed by zeros and then one non-zero byte: not a torn tail */
    memcpy(raw, image + 47, 57);
    raw[30] ^= 1;
    spit(dir, image, 47);
    patch(dir, 47, raw, 57);
    patch(dir, 47 + 57 + 100, "\x01", 1);
    expect_corrupt(dir, "offset 47:", "checksum");
    /* garbage, not zeros, after the last record (an invalid len): refused, not guessed at */
    spit(dir, image, n);
    memset(raw, 0xee, 20);
    patch(dir, 104, raw, 20);
    expect_corrupt(dir, "offset 104:", "invalid length");

    /* non-increasing seq in a record whose checksum is right */
    spit(dir, image, n);
    patch(dir, 104, raw, craft(raw, 12, 3, 1, "abc"));
    expect_corrupt(dir, "offset 104:", "seq 3");
    spit(dir, image, n);
    patch(dir, 104, raw, craft(raw, 12, 4, 1, "abc"));   /* seq 4 is fine: craft() is right */
    store s;
    seen sn = {0};
    char err[512];
    long noise;
    CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), 0);
    CHECK_EQ_INT(sn.n, 4);
    CHECK_EQ_INT(s.last_seq, 4);
    store_close(&s);
    spit(dir, STORE_MAGIC, 8);
    patch(dir, 8, raw, craft(raw, 12, 0, 1, "abc"));   /* seq 0 as the first record */
    expect_corrupt(dir, "offset 8:", "seq 0");

    /* bad magic */
    spit(dir, image, n);
    patch(dir, 7, "X", 1);
    expect_corrupt(dir, "offset 0:", "magic");
    /* log format 1: read, and upgraded to 2 in place (the rest untouched); 3: refused */
    spit(dir, image, n);
    patch(dir, 7, "1", 1);
    seen_reset(&sn);
    CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), 0);
    CHECK(sn.n == 3 && s.last_seq == 3 && s.size == n && noise > 0);
    store_close(&s);
    size_t upn;
    uint8_t *up = slurp(dir, &upn);
    CHECK(upn == n && memcmp(up, image, n) == 0);   /* the image has format 2 */
    free(up);
    patch(dir, 7, "3", 1);
    expect_corrupt(dir, "", "log format 3 is newer than this chatd reads");

    /* the index callback refuses seq 2 */
    spit(dir, image, n);
    seen_reset(&sn);
    sn.reject_seq = 2;
    CHECK_EQ_INT(store_open(&s, dir, 1, collect, &sn, err, sizeof err), -1);
    CHECK(strstr(err, "offset 30 (seq 2)") && strstr(err, "rejected"));
    CHECK_EQ_INT(sn.n, 1);
    CHECK_EQ_INT(file_size(dir), 104);
    seen_reset(&sn);
    free(image);
}

static void test_append_failure(void)
{
    static const uint32_t sizes[] = {10, 20};
    char dir[200], err[512];
    store s;
    seen sn = {0};
    long noise;
    uint8_t p[100];
    uint64_t seq, poff;
    struct rlimit old, lim;
    make_log(dir, "efbig", sizes, 2);
    CHECK_EQ_INT(store_open(&s, dir, 1, NULL, NULL, err, sizeof err), 0);
    const uint64_t size = s.size;
    CHECK_EQ_INT(size, 8 + 27 + 37);
    fill(p, 100, 3);

    CHECK_EQ_INT(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = size;   /* nothing more fits */
    CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
    errno = 0;
    int rc1 = store_append(&s, 1, p, 100, &seq, &poff), e1 = errno;
    lim.rlim_cur = size + 10;   /* 10 bytes of zeros ahead fit (kept), the record does not */
    CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
    errno = 0;
    int rc2 = store_append(&s, 1, p, 100, &seq, &poff), e2 = errno;
    CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &old), 0);

    CHECK_EQ_INT(rc1, -1);
    CHECK_EQ_INT(e1, EFBIG);
    CHECK_EQ_INT(rc2, -1);
    CHECK_EQ_INT(e2, EFBIG);
    CHECK_EQ_INT(file_size(dir), (long)size + 10);
    CHECK_EQ_INT(s.alloc, size + 10);
    size_t n;
    uint8_t *d = slurp(dir, &n), zero[117] = {0};
    CHECK(n == size + 10 && memcmp(d + size, zero, 10) == 0);
    free(d);
    CHECK_EQ_INT(s.size, size);
    CHECK_EQ_INT(s.last_seq, 2);
    CHECK_EQ_INT(s.nrecords, 2);
    CHECK_EQ_INT(store_append(&s, 7, p, 100, &seq, &poff), 0);   /* limit lifted */
    CHECK_EQ_INT(seq, 3);
    CHECK_EQ_INT(poff, size + 17);
    CHECK_EQ_INT(file_size(dir), AHEAD);

    /* a write over the zeros ahead that fails half-way (a limit inside them): the part that
     * landed is zeroed again, the zeros stay, nothing of the record is left to replay */
    const uint64_t size3 = s.size;
    lim.rlim_cur = size3 + 50;
    CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
    errno = 0;
    int rc3 = store_append(&s, 8, p, 100, &seq, &poff), e3 = errno;
    CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, oldsig);
    CHECK(rc3 == -1 && e3 == EFBIG && s.size == size3 && s.last_seq == 3);
    d = slurp(dir, &n);
    CHECK(n == AHEAD && memcmp(d + size3, zero, 117) == 0);
    free(d);
    store_close(&s);

    CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), 0);
    CHECK_EQ_INT(noise, 0);
    CHECK_EQ_INT(sn.n, 3);
    CHECK(sn.n == 3 && sn.r[2].seq == 3 && sn.r[2].type == 7 && sn.r[2].len == 100
          && memcmp(sn.r[2].data, p, 100) == 0);
    CHECK(s.size == size3 && s.alloc == AHEAD);
    store_close(&s);
    seen_reset(&sn);
}

/* Fuzz findings: a repair of a log whose magic is bad must leave a log that opens; a seq
 * at the limit refuses further appends instead of wrapping to 0. */
static void test_repair_magic_and_seq_limit(void)
{
    char dir[200], side[260], err[512];
    path_of(dir, "badmagic");
    mkdir(dir, 0700);
    spit(dir, "XXXXXXXXjunk", 12);
    store s;
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    CHECK_EQ_INT(store_open_mode(&s, dir, STORE_REPAIR, 0, NULL, NULL, err, sizeof err), 0);
    store_close(&s);
    CHECK_EQ_INT(store_open(&s, dir, 0, NULL, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(s.size, STORE_MAGIC_LEN);
    store_close(&s);
    snprintf(side, sizeof side, "%s/%s.damaged-0", dir, STORE_LOG_NAME);
    CHECK(access(side, F_OK) == 0);

    path_of(dir, "seqlimit");
    mkdir(dir, 0700);
    uint8_t img[64];
    memcpy(img, STORE_MAGIC, STORE_MAGIC_LEN);
    size_t n = STORE_MAGIC_LEN + craft(img + STORE_MAGIC_LEN, 9 + 1, STORE_MAX_SEQ, 3, "x");
    spit(dir, img, n);
    CHECK_EQ_INT(store_open(&s, dir, 0, NULL, NULL, err, sizeof err), 0);
    uint64_t seq, off;
    errno = 0;
    CHECK_EQ_INT(store_append(&s, 3, "y", 1, &seq, &off), -1);
    CHECK_EQ_INT(errno, EOVERFLOW);
    store_close(&s);
    put_le64(img + STORE_MAGIC_LEN + 8, STORE_MAX_SEQ + 1);   /* beyond the limit: damage */
    put_le32(img + STORE_MAGIC_LEN + 4, crc32c(0, img + STORE_MAGIC_LEN + 8, 10));
    spit(dir, img, n);
    CHECK_EQ_INT(store_open(&s, dir, 0, NULL, NULL, err, sizeof err), -1);
    dup2(saved, 2);
    close(saved);
    close(null);
}

/* A change of several records: written with one write, replayed only whole. Cut at every
 * byte inside it, the whole change is a torn tail; damaged inside with data after it, the
 * change is refused from its start, and a repair keeps what came before it. A change that
 * does not fit is stored not at all. */
static void test_changes(void)
{
    static const uint32_t sizes[] = {5, 6};
    char dir[200], err[512];
    store s;
    seen sn = {0};
    long noise;
    uint8_t p[3][40];
    uint64_t seq[3], poff[3];
    make_log(dir, "change", sizes, 2);
    CHECK_EQ_INT(store_open(&s, dir, 1, NULL, NULL, err, sizeof err), 0);
    const uint64_t start = s.size;
    for (int i = 0; i < 3; i++) {
        fill(p[i], 10 + (uint32_t)i * 7, 100 + (uint64_t)i);
        store_stage(&s, (uint8_t)(20 + i), p[i], 10 + (uint32_t)i * 7, &seq[i], &poff[i]);
        CHECK_EQ_INT(seq[i], 3 + i);
    }
    CHECK_EQ_INT(s.size, start);          /* nothing written yet */
    CHECK_EQ_INT(file_size(dir), (long)start);
    CHECK_EQ_INT(store_write(&s), 0);
    const uint64_t end = s.size;
    CHECK_EQ_INT(end, start + 3 * 17 + 10 + 17 + 24);
    CHECK_EQ_INT(s.last_seq, 5);
    store_rec r;
    size_t pos = 0;
    for (int i = 0; i < 3; i++) {          /* the records just written, in order */
        CHECK_EQ_INT(store_written(&s, &pos, &r), 0);
        CHECK(r.seq == seq[i] && r.payload_off == poff[i] && r.type == 20 + i && r.more == (i < 2));
        CHECK(r.len == 10 + (uint32_t)i * 7 && memcmp(r.payload, p[i], r.len) == 0);
    }
    CHECK_EQ_INT(store_written(&s, &pos, &r), -1);
    errno = 0;
    store_stage(&s, STORE_MORE | 1, "x", 1, NULL, NULL);   /* the type's top bit is the store's */
    CHECK_EQ_INT(store_write(&s), -1);
    CHECK_EQ_INT(errno, EINVAL);
    CHECK_EQ_INT(store_append(&s, 9, "after", 5, NULL, NULL), 0);
    store_close(&s);
    size_t n;
    uint8_t *whole = slurp(dir, &n);
    CHECK_EQ_INT(whole[start + 16], 20 | STORE_MORE);
    CHECK_EQ_INT(whole[end - 24 - 1], 22);

    CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), 0);   /* whole: all of it, types clean */
    CHECK(sn.n == 6 && sn.r[2].type == 20 && sn.r[3].type == 21 && sn.r[4].type == 22 && sn.r[5].type == 9);
    CHECK(sn.n == 6 && sn.r[4].off == poff[2] && memcmp(sn.r[4].data, p[2], 24) == 0);
    store_close(&s);

    for (uint64_t cut = start + 1; cut < end; cut++) {   /* a crash inside the change */
        spit(dir, whole, (size_t)cut);
        CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), 0);
        CHECK_EQ_INT(sn.n, 2);
        CHECK_EQ_INT(s.size, start);
        CHECK(noise > 0);                  /* the torn change is reported */
        store_close(&s);
        CHECK_EQ_INT(file_size(dir), (long)start);
    }
    spit(dir, whole, n);                   /* damage in its second record, data after it */
    flip(dir, (long)(start + 17 + 10 + 20));
    CHECK_EQ_INT(open_quiet(&s, dir, &sn, err, &noise), -1);
    char want[64];
    snprintf(want, sizeof want, "offset %llu", (unsigned long long)start);
    CHECK(strstr(err, want) != NULL);
    CHECK_EQ_INT(sn.n, 2);
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    CHECK_EQ_INT(store_open_mode(&s, dir, STORE_REPAIR, 0, NULL, NULL, err, sizeof err), 0);
    dup2(saved, 2);
    close(saved);
    close(null);
    CHECK_EQ_INT(s.size, start);
    store_close(&s);

    struct rlimit old, lim;                /* a change that does not fit: none of it lands */
    spit(dir, whole, (size_t)start);
    CHECK_EQ_INT(store_open(&s, dir, 1, NULL, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = start + 40;             /* the first record fits, the rest does not */
    CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
    for (int i = 0; i < 3; i++) store_stage(&s, (uint8_t)(20 + i), p[i], 10 + (uint32_t)i * 7, NULL, NULL);
    int rc = store_write(&s);
    CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, oldsig);
    CHECK_EQ_INT(rc, -1);
    CHECK_EQ_INT(file_size(dir), (long)start + 40);   /* 40 bytes of zeros ahead fitted: kept */
    uint8_t *z = slurp(dir, &n);
    CHECK(n == start + 40 && memcmp(z, whole, start) == 0);
    for (size_t i = start; i < n; i++) CHECK_EQ_INT(z[i], 0);   /* the record that landed is zeroed */
    free(z);
    CHECK_EQ_INT(s.last_seq, 2);
    CHECK_EQ_INT(store_append(&s, 9, "x", 1, &seq[0], NULL), 0);
    CHECK_EQ_INT(seq[0], 3);
    store_close(&s);
    free(whole);
    seen_reset(&sn);
}

int main(void)
{
    umask(022);
    snprintf(tmp, sizeof tmp, "/tmp/chatd-test-store.XXXXXX");
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    test_crc32c();
    test_le();
    test_new_dir();
    test_append_replay();
    test_many();
    test_torn_every_byte();
    test_tails();
    test_corruption();
    test_append_failure();
    test_repair_magic_and_seq_limit();
    test_changes();
    rm_tree(tmp);
    return t_report("store");
}
