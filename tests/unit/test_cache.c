/* test_cache.c — unit tests of the log's tail cache (cache.c): what it holds is byte for byte
 * what was appended at those offsets, across the ring's wrap; older bytes are evicted (a
 * miss, never other bytes); a load reads a file's last cap bytes; off (cap 0) holds nothing. */
#include "t.h"
#include "cache.h"
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

static uint8_t byte_at(uint64_t off) { return (uint8_t)(off * 7 + off / 251); }   /* the "file" */

static void append(tail_cache *c, uint64_t *end, size_t n)
{
    uint8_t p[5000];
    for (size_t i = 0; i < n; i++) p[i] = byte_at(*end + i);
    cache_put(c, *end, p, n);
    *end += n;
}

/* Every read of n bytes in [from, to) hits exactly when held and then has the right bytes. */
static int reads_ok(const tail_cache *c, uint64_t from, uint64_t to, size_t n, uint64_t lo)
{
    uint8_t got[5000];
    for (uint64_t off = from; off + n <= to; off += 13) {
        int hit = cache_get(c, off, got, n) == 0;
        if (hit != (off >= lo)) return 0;
        for (size_t i = 0; hit && i < n; i++)
            if (got[i] != byte_at(off + i)) return 0;
    }
    return 1;
}

int main(void)
{
    tail_cache c = { 0 };
    uint64_t end = 100;
    cache_load(&c, 1000, -1, end);   /* empty file end: nothing held, nothing read */
    uint8_t x[8];
    CHECK(cache_get(&c, 0, x, 1) == -1);
    CHECK(cache_get(&c, 100, x, 0) == 0);
    append(&c, &end, 300);
    CHECK(reads_ok(&c, 100, end, 50, 100));
    CHECK(cache_get(&c, 99, x, 2) == -1);        /* before what it holds */
    CHECK(cache_get(&c, end - 4, x, 8) == -1);   /* past the end */
    for (int i = 0; i < 40; i++) append(&c, &end, (size_t)(37 * i % 211 + 1));   /* wraps */
    CHECK(c.hi == end && c.lo == end - 1000);
    CHECK(reads_ok(&c, end - 1500, end, 1, end - 1000));
    CHECK(reads_ok(&c, end - 1500, end, 97, end - 1000));
    CHECK(reads_ok(&c, end - 1000, end, 1000, end - 1000));   /* the whole ring, across the wrap */
    append(&c, &end, 2500);   /* bigger than the ring: its last 1000 bytes */
    CHECK(c.lo == end - 1000 && reads_ok(&c, end - 3000, end, 64, end - 1000));
    cache_put(&c, end + 50, "zz", 2);   /* not contiguous: starts over there */
    CHECK(c.lo == end + 50 && c.hi == end + 52 && cache_get(&c, end - 10, x, 4) == -1);
    CHECK(cache_get(&c, end + 50, x, 2) == 0 && x[0] == 'z' && x[1] == 'z');

    char path[] = "/tmp/chatd-test-cache.XXXXXX";   /* a load reads the file's tail */
    int fd = mkstemp(path);
    uint8_t file[3000];
    for (size_t i = 0; i < sizeof file; i++) file[i] = byte_at(i);
    CHECK(fd >= 0 && write(fd, file, sizeof file) == (ssize_t)sizeof file);
    cache_load(&c, 1000, fd, sizeof file);
    CHECK(c.lo == 2000 && c.hi == 3000 && reads_ok(&c, 1500, 3000, 33, 2000));
    cache_load(&c, 4096, fd, sizeof file);   /* a bigger ring holds the whole file */
    CHECK(c.lo == 0 && reads_ok(&c, 0, 3000, 200, 0));
    cache_load(&c, 1000, fd, 5000);   /* shorter than it should be: holds nothing */
    CHECK(c.lo == 5000 && c.hi == 5000 && cache_get(&c, 2500, x, 4) == -1);
    uint64_t e2 = 5000;
    append(&c, &e2, 10);   /* and appends go on from there */
    CHECK(reads_ok(&c, 5000, 5010, 5, 5000));
    close(fd);
    unlink(path);

    cache_load(&c, 0, -1, 0);   /* off */
    cache_put(&c, 0, "ab", 2);
    CHECK(c.ring == NULL && cache_get(&c, 0, x, 1) == -1 && cache_get(&c, 0, x, 0) == -1);
    cache_free(&c);
    return t_report("cache");
}
