/* disk_ceiling.c — the disk's ceiling for a durable, group-committed append log.
 *
 *   disk_ceiling DIR [RECORD_BYTES] [BATCH] [SECONDS] [append|overwrite|fallocate|keepsize]
 *                                                    defaults: 150 64 2 append
 *
 * Appends to a new file in DIR (removed at the end) as a group-committing server at best
 * could: each round is one write() of BATCH records of RECORD_BYTES (one batch: what BATCH
 * concurrent writers hand in between two syncs), then one fdatasync(). append: the file
 * grows, as chatd's log does, so every sync also carries the size change (a journal commit
 * on ext4/xfs). overwrite: the file is first filled with 64 MiB of zeros and synced, then
 * written from the start, so a sync carries data only (what a log preallocated with zeros
 * ahead of its end would pay; not counted in the time). fallocate: the 64 MiB are reserved
 * with fallocate(2) instead (1 GiB: unwritten extents, the size set): no zeros are written, but the
 * first write into each extent converts it to written, a metadata change the sync carries.
 * keepsize: fallocate with FALLOC_FL_KEEP_SIZE, appended to: blocks reserved, the size still
 * grows with every write. Runs for SECONDS and
 * prints records/s (the ceiling: no server that acknowledges only after fdatasync can do
 * better with BATCH writers), syncs/s and the sync latency p50/p99, then one JSON line.
 * Build: cc -O2 -o build/disk_ceiling scripts/disk_ceiling.c */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 6) {
        fprintf(stderr, "usage: disk_ceiling DIR [RECORD_BYTES] [BATCH] [SECONDS] [append|overwrite|fallocate|keepsize]\n");
        return 2;
    }
    const char *dir = argv[1];
    long rec = argc > 2 ? atol(argv[2]) : 150, batch = argc > 3 ? atol(argv[3]) : 64;
    double secs = argc > 4 ? atof(argv[4]) : 2.0;
    const char *mode = argc > 5 ? argv[5] : "append";
    int overwrite = !strcmp(mode, "overwrite"), falloc = !strcmp(mode, "fallocate"), keep = !strcmp(mode, "keepsize");
    if (rec < 1 || batch < 1 || secs <= 0 || !(overwrite || falloc || keep || !strcmp(mode, "append"))) {
        fprintf(stderr, "disk_ceiling: bad arguments\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/disk_ceiling.%d", dir, (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (overwrite || falloc ? 0 : O_APPEND), 0600);
    if (fd < 0) { fprintf(stderr, "disk_ceiling: %s: %s\n", path, strerror(errno)); return 1; }
    /* fallocate reserves 1 GiB (free): a run never wraps into extents it already converted */
    const size_t prealloc = (size_t)(falloc || keep ? 1024 : 64) << 20;
    if (overwrite) {
        static char zero[1 << 16];
        for (size_t done = 0; done < prealloc; done += sizeof zero)
            if (write(fd, zero, sizeof zero) != (ssize_t)sizeof zero) { fprintf(stderr, "disk_ceiling: write: %s\n", strerror(errno)); return 1; }
        if (fsync(fd) < 0 || lseek(fd, 0, SEEK_SET) < 0) { fprintf(stderr, "disk_ceiling: fsync: %s\n", strerror(errno)); return 1; }
    }
    if (falloc || keep) {
        if (fallocate(fd, keep ? FALLOC_FL_KEEP_SIZE : 0, 0, (off_t)prealloc) < 0 || fsync(fd) < 0) {
            fprintf(stderr, "disk_ceiling: fallocate: %s\n", strerror(errno));
            return 1;
        }
    }
    overwrite |= falloc;   /* written from the start, wrapping at the end, like overwrite */
    size_t written = 0;
    size_t n = (size_t)(rec * batch);
    char *buf = malloc(n);
    if (!buf) return 1;
    for (size_t i = 0; i < n; i++) buf[i] = (char)('a' + i % 26);
    size_t cap = 1 << 20, nlat = 0;
    double *lat = malloc(cap * sizeof *lat);
    if (!lat) return 1;
    double t0 = now_s(), t = t0;
    long rounds = 0;
    while (t - t0 < secs && nlat < cap) {
        if (overwrite && written + n > prealloc) { lseek(fd, 0, SEEK_SET); written = 0; }
        if (write(fd, buf, n) != (ssize_t)n) { fprintf(stderr, "disk_ceiling: write: %s\n", strerror(errno)); return 1; }
        written += n;
        if (fdatasync(fd) < 0) { fprintf(stderr, "disk_ceiling: fdatasync: %s\n", strerror(errno)); return 1; }
        double t1 = now_s();
        lat[nlat++] = t1 - t;
        t = t1;
        rounds++;
    }
    double el = t - t0;
    close(fd);
    unlink(path);
    qsort(lat, nlat, sizeof *lat, cmp_d);
    double p50 = lat[nlat / 2], p99 = lat[nlat * 99 / 100 < nlat ? nlat * 99 / 100 : nlat - 1];
    double rps = rounds * batch / el;
    printf("disk ceiling (%s): %ld-byte records, %ld per write+fdatasync: %.0f records/s, %.0f syncs/s, "
           "sync p50 %.3f ms p99 %.3f ms (%.1f s)\n", mode, rec, batch, rps, rounds / el, p50 * 1e3, p99 * 1e3, el);
    printf("{\"mode\":\"%s\",\"record_bytes\":%ld,\"batch\":%ld,\"records_per_s\":%.0f,\"syncs_per_s\":%.1f,"
           "\"sync_p50_ms\":%.3f,\"sync_p99_ms\":%.3f,\"seconds\":%.2f}\n",
           mode, rec, batch, rps, rounds / el, p50 * 1e3, p99 * 1e3, el);
    free(buf);
    free(lat);
    return 0;
}
