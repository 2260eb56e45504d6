/* auth.c — PBKDF2 on one worker thread so the loop never stalls on it, random tokens
 * (only their SHA-256 is ever stored), and the failed-login throttle.
 * The worker and the loop share only the two job lists, under one mutex; the worker
 * wakes the loop by writing a byte to a pipe the loop polls. */
#include "auth.h"
#include "buf.h"
#include "crypto.h"
#include "store.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *hasher_main(void *arg)
{
    hasher *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->todo && !h->stop) pthread_cond_wait(&h->cv, &h->mu);
        if (h->stop) break;
        hash_job *j = h->todo;
        h->todo = j->next;
        if (!h->todo) h->todo_tail = NULL;
        h->nwait--;
        pthread_mutex_unlock(&h->mu);
        int64_t t0 = mono_ms();
        pbkdf2_sha256(j->password, j->pwlen, j->salt, sizeof j->salt, j->iters, j->out, sizeof j->out);
        if (j->password2 && ct_equal(j->out, j->want, sizeof j->want))   /* the right current password */
            pbkdf2_sha256(j->password2, j->pw2len, j->salt2, sizeof j->salt2, j->iters2, j->out2, 32);
        pthread_mutex_lock(&h->mu);
        h->last_ms = (uint32_t)(mono_ms() - t0);
        j->next = NULL;
        if (h->done_tail) h->done_tail->next = j; else h->done = j;
        h->done_tail = j;
        char one = 1;
        ssize_t w = write(h->pipe[1], &one, 1);   /* a full pipe already means "wake up" */
        (void)w;
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

int hasher_start(hasher *h)
{
    memset(h, 0, sizeof *h);
    if (pipe(h->pipe) < 0) return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(h->pipe[i], F_SETFL, O_NONBLOCK);
        fcntl(h->pipe[i], F_SETFD, FD_CLOEXEC);
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (pthread_create(&h->th, NULL, hasher_main, h) != 0) return -1;
    h->started = 1;
    return 0;
}

int hasher_submit(hasher *h, hash_job *j, size_t max_wait, size_t max_addr)
{
    j->next = NULL;
    pthread_mutex_lock(&h->mu);
    size_t same = 0;   /* the queue is short (bounded): counting by walking it is cheap */
    for (hash_job *w = h->todo; max_addr && w; w = w->next) same += strcmp(w->addr, j->addr) == 0;
    int full = (max_wait && h->nwait >= max_wait) || (max_addr && same >= max_addr);
    if (!full) {
        if (h->todo_tail) h->todo_tail->next = j; else h->todo = j;
        h->todo_tail = j;
        h->nwait++;
        pthread_cond_signal(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    return full ? -1 : 0;
}

hash_job *hasher_cancel(hasher *h, uint64_t conn_id)
{
    pthread_mutex_lock(&h->mu);
    hash_job *prev = NULL, *j = h->todo;
    while (j && j->conn_id != conn_id) prev = j, j = j->next;
    if (j) {
        if (prev) prev->next = j->next; else h->todo = j->next;
        if (h->todo_tail == j) h->todo_tail = prev;
        h->nwait--;
        j->next = NULL;
    }
    pthread_mutex_unlock(&h->mu);
    return j;
}

int hasher_retry_after(hasher *h)
{
    pthread_mutex_lock(&h->mu);
    uint64_t ms = (uint64_t)(h->nwait + 1) * h->last_ms;
    pthread_mutex_unlock(&h->mu);
    return ms < 1000 ? 1 : (int)((ms + 999) / 1000);
}

hash_job *hasher_take(hasher *h)
{
    char drain[64];
    while (read(h->pipe[0], drain, sizeof drain) > 0) {}
    pthread_mutex_lock(&h->mu);
    hash_job *list = h->done;
    h->done = h->done_tail = NULL;
    pthread_mutex_unlock(&h->mu);
    return list;
}

static void free_list(hash_job *j) { while (j) { hash_job *n = j->next; hash_job_free(j); j = n; } }

void hasher_stop(hasher *h)
{
    if (!h->started) return;
    pthread_mutex_lock(&h->mu);
    h->stop = 1;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->th, NULL);
    free_list(h->todo);
    free_list(h->done);
    close(h->pipe[0]);
    close(h->pipe[1]);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    h->started = 0;
}

void hash_job_free(hash_job *j)
{
    if (j->password) explicit_bzero(j->password, j->pwlen);   /* it must not linger in the heap */
    if (j->password2) explicit_bzero(j->password2, j->pw2len);
    free(j->password);
    free(j->password2);
    free(j->username);
    free(j->display);
    free(j);
}

int random_bytes(void *p, size_t n)
{
    unsigned char *b = p;
    while (n) {
        ssize_t r = getrandom(b, n, 0);
        if (r < 0) { if (errno == EINTR) continue; return -1; }
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

void token_new(char text[TOKEN_CHARS + 1], uint8_t hash[32])
{
    uint8_t raw[TOKEN_BYTES];
    if (random_bytes(raw, sizeof raw) < 0) abort();   /* no entropy: never hand out weak tokens */
    base64url_encode(raw, sizeof raw, text);
    sha256(raw, sizeof raw, hash);
}

int token_hash(const char *text, size_t n, uint8_t hash[32])
{
    uint8_t raw[TOKEN_BYTES + 3];
    if (n != TOKEN_CHARS || base64url_decode(text, n, raw) != TOKEN_BYTES) return -1;
    sha256(raw, TOKEN_BYTES, hash);
    return 0;
}

/* A throttle entry packs the window's start (seconds), the pending attempts and the
 * failures in the window: start << 16 | pending << 8 | fails. */
static int64_t window_end(uint64_t v) { return (int64_t)(v >> 16) + LOGIN_WINDOW_S; }
static uint64_t pack(int64_t start, unsigned pending, unsigned fails)
{
    pending = pending > 0xff ? 0xff : pending;
    return (uint64_t)start << 16 | (uint64_t)pending << 8 | (fails > 0xff ? 0xff : fails);
}

int throttle_wait(map *m, const char *key, size_t n, int64_t now_s)
{
    uint64_t *v = map_get(m, key, n);
    if (!v) return 0;
    unsigned fails = now_s < window_end(*v) ? (unsigned)(*v & 0xff) : 0, pending = (unsigned)(*v >> 8 & 0xff);
    if (fails + pending < LOGIN_MAX_FAILS) return 0;
    return now_s < window_end(*v) ? (int)(window_end(*v) - now_s) : 1;
}

void throttle_begin(map *m, const char *key, size_t n, int64_t now_s)
{
    if (m->live >= 4096) {   /* drop ended windows, so made-up usernames cannot grow the map */
        size_t i = 0;
        map_slot *e;
        while ((e = map_next(m, &i)))
            if (window_end(e->val) <= now_s && !(e->val >> 8 & 0xff)) map_del(m, e->key, e->keylen);
    }
    uint64_t *v = map_get(m, key, n);
    if (!v) map_put(m, key, n, pack(now_s, 1, 0));
    else if (window_end(*v) <= now_s) *v = pack(now_s, (unsigned)(*v >> 8 & 0xff) + 1, 0);
    else *v = pack((int64_t)(*v >> 16), (unsigned)(*v >> 8 & 0xff) + 1, (unsigned)(*v & 0xff));
}

void throttle_end(map *m, const char *key, size_t n, int64_t now_s, int outcome)
{
    uint64_t *v = map_get(m, key, n);
    if (!v) return;
    int64_t start = (int64_t)(*v >> 16);
    unsigned pending = (unsigned)(*v >> 8 & 0xff), fails = (unsigned)(*v & 0xff);
    pending -= pending > 0;
    if (window_end(*v) <= now_s) start = now_s, fails = 0;   /* a failure now starts a new window */
    if (outcome == TH_FAILED) fails++;
    else if (outcome == TH_OK) fails = 0;
    if (!pending && !fails) map_del(m, key, n);
    else *v = pack(start, pending, fails);
}

static int64_t *reg_ring(map *m, const char *addr, int n, int create)
{
    uint64_t *v = map_get(m, addr, strlen(addr));
    if (v || !create) return v ? (int64_t *)(uintptr_t)*v : NULL;
    int64_t *r = xcalloc((size_t)n + 1, sizeof *r);   /* r[0]: the oldest's index - 1 */
    map_put(m, addr, strlen(addr), (uint64_t)(uintptr_t)r);
    return r;
}

int reg_wait(map *m, const char *addr, int n, int64_t now_ms)
{
    int64_t *r = n ? reg_ring(m, addr, n, 0) : NULL, oldest = r ? r[1 + r[0]] : 0;
    int64_t left = oldest ? oldest + REG_WINDOW_MS - now_ms : 0;
    return left > 0 ? (int)((left + 999) / 1000) : 0;
}

void reg_note(map *m, const char *addr, int n, int64_t now_ms)
{
    int64_t *r = n ? reg_ring(m, addr, n, 1) : NULL;
    if (r) r[1 + r[0]] = now_ms, r[0] = (r[0] + 1) % n;
}

void reg_sweep(map *m, int n, int64_t now_ms)
{
    map_slot *e;
    for (size_t i = 0; (e = map_next(m, &i));) {
        int64_t *r = (int64_t *)(uintptr_t)e->val;
        if (now_ms - r[1 + (r[0] + n - 1) % n] >= REG_WINDOW_MS) { free(r); map_del(m, e->key, e->keylen); }
    }
}
