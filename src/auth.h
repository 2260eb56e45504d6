/* auth.h — password hashing off the loop (one worker thread, a bounded queue), tokens,
 * login throttling. */
#ifndef CHATD_AUTH_H
#define CHATD_AUTH_H
#include "map.h"
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_BYTES 32
#define TOKEN_CHARS 43            /* base64url of 32 bytes, unpadded */
#define LOGIN_MAX_FAILS 10
#define LOGIN_WINDOW_S 60

enum { HJ_REGISTER, HJ_LOGIN, HJ_PASSWORD, HJ_DELETE };
struct server;
struct conn;

/* One or two PBKDF2 computations and what the loop needs to finish the request afterwards.
 * Register hashes the new password (password -> out). Login, a password change and an account
 * deletion check a password (password with the user's salt and iters -> out, to compare with
 * the user's hash); a password change then hashes the new one (password2 -> out2), but only
 * when the check gave want (the user's hash when it was queued). */
typedef struct hash_job {
    struct hash_job *next;
    uint64_t conn_id;
    int kind;                     /* HJ_* */
    char addr[48];                /* the client's address: one address may fill only part of the queue */
    char *password, *password2;   /* owned; wiped before they are freed */
    size_t pwlen, pw2len;
    uint32_t iters, iters2;
    uint8_t salt[16], salt2[16];
    uint8_t out[32], out2[32], want[32];
    uint32_t uid;                 /* the user (login: the one found, 0: none) */
    char *username;               /* owned: register: as given; else lower-cased (the throttle's key) */
    char *display;                /* owned or NULL (register, password change) */
    uint8_t keep[32];             /* password change: the caller's token hash, kept */
    /* what the loop calls once it is hashed (the conn NULL when its client has gone), or dropped unhashed */
    void (*done)(struct server *, struct conn *, struct hash_job *);
    void (*dropped)(struct server *, struct hash_job *);
} hash_job;

typedef struct hasher {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hash_job *todo, *todo_tail, *done, *done_tail;
    size_t nwait;                 /* jobs in todo (the one being hashed is not) */
    uint32_t last_ms;             /* how long the last hash took: for Retry-After */
    int pipe[2];                  /* worker -> loop wake-up; the loop polls pipe[0] */
    int stop, started;
} hasher;

int hasher_start(hasher *h);
/* Queue j, unless max_wait jobs wait already or max_addr of them come from j's address
 * (0: no limit); then -1 and the job stays the caller's. */
int hasher_submit(hasher *h, hash_job *j, size_t max_wait, size_t max_addr);
/* The waiting job of that connection, taken off the queue (its client has gone); NULL when
 * there is none waiting (it may be being hashed, or done). */
hash_job *hasher_cancel(hasher *h, uint64_t conn_id);
int hasher_retry_after(hasher *h);  /* seconds until the queue has likely drained, >= 1 */
hash_job *hasher_take(hasher *h);   /* finished jobs in submit order (a list), or NULL */
void hasher_stop(hasher *h);
void hash_job_free(hash_job *j);

int random_bytes(void *p, size_t n);
/* A fresh token: text (NUL-terminated) for the client, its SHA-256 for the store. */
void token_new(char text[TOKEN_CHARS + 1], uint8_t hash[32]);
/* SHA-256 of a presented token; -1 when it cannot be one of ours. */
int token_hash(const char *text, size_t n, uint8_t hash[32]);

/* Failed-login throttle keyed by lower-cased username. An attempt counts from the moment it
 * is submitted (pending) until its hash has been checked: then it is a failure, or a success
 * that clears the failures, or it was dropped unchecked. So concurrent guesses cannot
 * overtake the count. */
enum { TH_DROPPED, TH_OK, TH_FAILED };
/* Seconds to wait (> 0) while failures in the window plus pending attempts reach
 * LOGIN_MAX_FAILS, else 0. */
int throttle_wait(map *m, const char *key, size_t n, int64_t now_s);
void throttle_begin(map *m, const char *key, size_t n, int64_t now_s);
void throttle_end(map *m, const char *key, size_t n, int64_t now_s, int outcome);   /* TH_* */

/* --register-rate n: per client address, the times of its last n registrations (a ring).
 * reg_wait: seconds until one more may pass (0: now); reg_sweep forgets addresses whose last
 * registration has left the window (now_ms INT64_MAX: all). */
#define REG_WINDOW_MS 60000
int reg_wait(map *m, const char *addr, int n, int64_t now_ms);
void reg_note(map *m, const char *addr, int n, int64_t now_ms);
void reg_sweep(map *m, int n, int64_t now_ms);
#endif
