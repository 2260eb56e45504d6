/* preload.c — the recording half of the power-cut explorer (tests/t_powercut.sh, make powercut).
 * LD_PRELOAD'ed into a dynamically linked chatd, it records every call that changes the data
 * directory: open (with O_CREAT/O_TRUNC, and opens of the directory itself), write, writev,
 * pwrite, ftruncate, fsync, fdatasync, rename, unlink, close. Each record goes to the trace file
 * with one write() on an O_APPEND descriptor, after the real call has returned, so when a client
 * sees a response, every operation that came before it is already in the trace (pcut.py turns
 * the trace into the states a power cut could leave; see its header).
 *
 *   PCUT_DIR=DIR       the data directory (must exist); calls on anything else pass through
 *   PCUT_TRACE=FILE    the trace, appended to
 *   PCUT_FAIL=dirsync  fault injection: every fsync of the directory fails with EIO (not traced)
 *
 * Trace record (host byte order; pcut.py reads it little-endian): u32 total length, u8 op, u8 flags,
 * u16 name1 length, i32 fd, u32 name2 length, u64 offset, u64 length; then name1, name2 and, for a
 * write, the bytes written. Names are relative to DIR ("" for DIR itself). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

enum { OP_OPEN = 1, OP_WRITE, OP_TRUNC, OP_SYNC, OP_DIRSYNC, OP_RENAME, OP_UNLINK, OP_CLOSE };
enum { F_CREATED = 1, F_TRUNC = 2, F_DIR = 4 };
enum { K_NONE, K_FILE, K_DIR };
#define MAXFD 65536

struct hdr {
    uint32_t total;
    uint8_t op, flags;
    uint16_t n1;
    int32_t fd;
    uint32_t n2;
    uint64_t off, len;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int trace_fd = -1, fail_dirsync;
static char dir[PATH_MAX];
static size_t dirlen;
static unsigned char kind[MAXFD];

#define REAL(name) static __typeof__(name) *real_##name; \
    if (!real_##name) real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

static void emit(uint8_t op, uint8_t flags, int fd, const char *a, const char *b, uint64_t off,
                 uint64_t len, const void *data)
{
    struct hdr h = { 0, op, flags, (uint16_t)(a ? strlen(a) : 0), fd, (uint32_t)(b ? strlen(b) : 0), off,
                     len };
    uint64_t dlen = op == OP_WRITE ? len : 0;
    h.total = (uint32_t)(sizeof h + h.n1 + h.n2 + dlen);
    struct iovec iov[4] = { { &h, sizeof h }, { (void *)a, h.n1 }, { (void *)b, h.n2 }, { (void *)data, dlen } };
    REAL(writev);
    ssize_t w = real_writev(trace_fd, iov, 4);
    if (w != (ssize_t)h.total) { perror("pcut preload: trace write"); abort(); }
}

__attribute__((constructor)) static void init(void)
{
    const char *d = getenv("PCUT_DIR"), *t = getenv("PCUT_TRACE"), *f = getenv("PCUT_FAIL");
    if (!d || !t || !realpath(d, dir)) { fprintf(stderr, "pcut preload: set PCUT_DIR and PCUT_TRACE\n"); abort(); }
    dirlen = strlen(dir);
    REAL(open);
    trace_fd = real_open(t, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (trace_fd < 0) { perror(t); abort(); }
    fail_dirsync = f && !strcmp(f, "dirsync");
}

/* K_DIR for the data directory itself, K_FILE (name set) for an entry directly in it. */
static int classify(const char *path, char *name)
{
    char abs[PATH_MAX * 2], parent[PATH_MAX], real[PATH_MAX];
    if (path[0] == '/') snprintf(abs, sizeof abs, "%s", path);
    else if (getcwd(parent, sizeof parent)) snprintf(abs, sizeof abs, "%s/%s", parent, path);
    else return K_NONE;
    if (realpath(abs, real) && !strcmp(real, dir)) return K_DIR;
    char *slash = strrchr(abs, '/');
    const char *base = slash + 1;
    if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) return K_NONE;
    *slash = 0;
    if (!realpath(*abs ? abs : "/", real) || strcmp(real, dir)) return K_NONE;
    snprintf(name, NAME_MAX + 1, "%s", base);
    return K_FILE;
}

static int tracked(int fd) { return fd >= 0 && fd < MAXFD && kind[fd]; }

static int do_open(int dirfd, const char *path, int flags, mode_t mode)
{
    REAL(openat);
    char name[NAME_MAX + 1] = "";
    int k = dirfd == AT_FDCWD || path[0] == '/' ? classify(path, name) : K_NONE;
    if (!k) return real_openat(dirfd, path, flags, mode);
    pthread_mutex_lock(&mu);
    struct stat st;
    int existed = k == K_DIR || stat(path, &st) == 0;
    int fd = real_openat(dirfd, path, flags, mode), e = errno;
    if (fd >= 0 && fd < MAXFD) {
        kind[fd] = (unsigned char)k;
        uint8_t fl = (uint8_t)((!existed ? F_CREATED : 0) | (flags & O_TRUNC ? F_TRUNC : 0) | (k == K_DIR ? F_DIR : 0));
        emit(OP_OPEN, fl, fd, name, NULL, 0, 0, NULL);
    }
    pthread_mutex_unlock(&mu);
    errno = e;
    return fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
    va_list ap; va_start(ap, flags); mode_t m = mode_arg(flags, ap); va_end(ap);
    return do_open(AT_FDCWD, path, flags, m);
}
int open64(const char *path, int flags, ...)
{
    va_list ap; va_start(ap, flags); mode_t m = mode_arg(flags, ap); va_end(ap);
    return do_open(AT_FDCWD, path, flags, m);
}
int openat(int dfd, const char *path, int flags, ...)
{
    va_list ap; va_start(ap, flags); mode_t m = mode_arg(flags, ap); va_end(ap);
    return do_open(dfd, path, flags, m);
}
int openat64(int dfd, const char *path, int flags, ...)
{
    va_list ap; va_start(ap, flags); mode_t m = mode_arg(flags, ap); va_end(ap);
    return do_open(dfd, path, flags, m);
}
int __open_2(const char *path, int flags) { return do_open(AT_FDCWD, path, flags, 0); }
int __open64_2(const char *path, int flags) { return do_open(AT_FDCWD, path, flags, 0); }
int creat(const char *path, mode_t m) { return do_open(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, m); }
int creat64(const char *path, mode_t m) { return do_open(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, m); }

/* Where the next write(v) on fd lands: its position, or the end for O_APPEND. */
static uint64_t write_pos(int fd)
{
    struct stat st;
    if ((fcntl(fd, F_GETFL) & O_APPEND) && fstat(fd, &st) == 0) return (uint64_t)st.st_size;
    return (uint64_t)lseek(fd, 0, SEEK_CUR);
}

ssize_t write(int fd, const void *p, size_t n)
{
    REAL(write);
    if (!tracked(fd)) return real_write(fd, p, n);
    pthread_mutex_lock(&mu);
    uint64_t off = write_pos(fd);
    ssize_t w = real_write(fd, p, n);
    int e = errno;
    if (w > 0) emit(OP_WRITE, 0, fd, NULL, NULL, off, (uint64_t)w, p);
    pthread_mutex_unlock(&mu);
    errno = e;
    return w;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    REAL(writev);
    if (!tracked(fd)) return real_writev(fd, iov, cnt);
    pthread_mutex_lock(&mu);
    uint64_t off = write_pos(fd);
    ssize_t w = real_writev(fd, iov, cnt);
    int e = errno;
    if (w > 0) {
        char *all = malloc((size_t)w);
        size_t at = 0;
        for (int i = 0; i < cnt && at < (size_t)w; i++) {
            size_t n = iov[i].iov_len < (size_t)w - at ? iov[i].iov_len : (size_t)w - at;
            memcpy(all + at, iov[i].iov_base, n);
            at += n;
        }
        emit(OP_WRITE, 0, fd, NULL, NULL, off, (uint64_t)w, all);
        free(all);
    }
    pthread_mutex_unlock(&mu);
    errno = e;
    return w;
}

static ssize_t do_pwrite(int fd, const void *p, size_t n, off_t off)
{
    REAL(pwrite);
    if (!tracked(fd)) return real_pwrite(fd, p, n, off);
    pthread_mutex_lock(&mu);
    ssize_t w = real_pwrite(fd, p, n, off);
    int e = errno;
    if (w > 0) emit(OP_WRITE, 0, fd, NULL, NULL, (uint64_t)off, (uint64_t)w, p);
    pthread_mutex_unlock(&mu);
    errno = e;
    return w;
}
ssize_t pwrite(int fd, const void *p, size_t n, off_t off) { return do_pwrite(fd, p, n, off); }
ssize_t pwrite64(int fd, const void *p, size_t n, off_t off) { return do_pwrite(fd, p, n, off); }

static int do_ftruncate(int fd, off_t len)
{
    REAL(ftruncate);
    if (!tracked(fd)) return real_ftruncate(fd, len);
    pthread_mutex_lock(&mu);
    int rc = real_ftruncate(fd, len), e = errno;
    if (rc == 0) emit(OP_TRUNC, 0, fd, NULL, NULL, 0, (uint64_t)len, NULL);
    pthread_mutex_unlock(&mu);
    errno = e;
    return rc;
}
int ftruncate(int fd, off_t len) { return do_ftruncate(fd, len); }
int ftruncate64(int fd, off_t len) { return do_ftruncate(fd, len); }

/* A sync is recorded once it has returned: only then may anything depend on it. */
static int do_sync(int fd, int data_only)
{
    REAL(fsync);
    REAL(fdatasync);
    if (!tracked(fd)) return data_only ? real_fdatasync(fd) : real_fsync(fd);
    pthread_mutex_lock(&mu);
    int rc, e;
    if (kind[fd] == K_DIR && fail_dirsync) rc = -1, e = EIO;
    else rc = data_only ? real_fdatasync(fd) : real_fsync(fd), e = errno;
    if (rc == 0) emit(kind[fd] == K_DIR ? OP_DIRSYNC : OP_SYNC, 0, fd, NULL, NULL, 0, 0, NULL);
    pthread_mutex_unlock(&mu);
    errno = e;
    return rc;
}
int fsync(int fd) { return do_sync(fd, 0); }
int fdatasync(int fd) { return do_sync(fd, 1); }

int rename(const char *from, const char *to)
{
    REAL(rename);
    char a[NAME_MAX + 1], b[NAME_MAX + 1];
    pthread_mutex_lock(&mu);
    int ka = classify(from, a), kb = classify(to, b);
    int rc = real_rename(from, to), e = errno;
    if (rc == 0 && ka == K_FILE && kb == K_FILE) emit(OP_RENAME, 0, -1, a, b, 0, 0, NULL);
    else if (rc == 0 && (ka == K_FILE || kb == K_FILE)) {
        fprintf(stderr, "pcut preload: rename across the data directory is not modelled\n");
        abort();
    }
    pthread_mutex_unlock(&mu);
    errno = e;
    return rc;
}

int unlink(const char *path)
{
    REAL(unlink);
    char a[NAME_MAX + 1];
    pthread_mutex_lock(&mu);
    int k = classify(path, a);
    int rc = real_unlink(path), e = errno;
    if (rc == 0 && k == K_FILE) emit(OP_UNLINK, 0, -1, a, NULL, 0, 0, NULL);
    pthread_mutex_unlock(&mu);
    errno = e;
    return rc;
}

int close(int fd)
{
    REAL(close);
    if (!tracked(fd)) return real_close(fd);
    pthread_mutex_lock(&mu);
    kind[fd] = K_NONE;
    emit(OP_CLOSE, 0, fd, NULL, NULL, 0, 0, NULL);
    int rc = real_close(fd);
    pthread_mutex_unlock(&mu);
    return rc;
}
