/* scripts/loggen.c — write a valid chatd data directory fast, for the scaling benchmarks.
 *
 *   loggen DIR --users N [--convs C] [--messages M] [--body-size B] [--members K]
 *              [--seed S] [--password P] [--iters I] [--time MS] [--no-fsync]
 *
 * DIR/chatd.log gets, in this order: N users (REC_USER_CREATE), C conversations
 * (REC_CONV_CREATE) and M messages (REC_MSG_CREATE), with seqs 1.. and ids 1.. of each kind,
 * encoded by chatd's own codec (src/rec.c) and framed by its own store_stage (src/store.c), so
 * the file is byte for byte what chatd would have written for the same requests (no tokens:
 * log in). Built by scripts/bench.mk into build/bench/loggen.
 *
 *   users          username: three pseudo-random letters + the id, 7 digits ("qxa0000001"), so
 *                  a prefix search (GET /api/users?q=) meets ~1/26 (one letter) or ~1/676 (two)
 *                  of them; display name "First Last" from two small lists. Every user has the
 *                  same password (P, default "loggen-password") with one salt and I PBKDF2
 *                  iterations (default 1000, chatd's lowest), hashed once, so logins work.
 *   conversations  conversation c has K members (default min(N, 2)): users (c-1)*K+1 .. c*K,
 *                  wrapping around N; its first member created and owns it. Conversation 1
 *                  holds user 1.
 *   messages       message m goes to conversation (m-1) % C + 1 (all in conversation 1 when C
 *                  is 1), written by its members in turn; B bytes of ASCII body (default 100).
 *   times          one millisecond apart, the last record's MS (Unix ms; default now): the same
 *                  flags with the same --seed and --time write the same bytes.
 *   --no-fsync     leave the log in the page cache (for a dir that is removed right after use:
 *                  its bytes then never reach the disk); by default it is fsync'd before exit.
 *
 * The last line on stdout, for scripts: "loggen dir=... users=N convs=C messages=M records=R
 * bytes=F seconds=S user1=NAME password=P". DIR must not hold a chatd.log yet. */
#include "crypto.h"
#include "rec.h"
#include "store.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FLUSH_AT (4u << 20)

static int out_fd = -1;
static buf_t out;          /* framed records waiting for a write() */
static store st;           /* only its framing: store_stage, never a file */
static buf_t rec;          /* one record's payload */
static uint64_t nbytes = STORE_MAGIC_LEN;

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "loggen: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(1);
}

static void flush_out(void)
{
    if (out.len && store_write_all(out_fd, out.data, out.len) < 0) die("write: %s", strerror(errno));
    buf_reset(&out);
}

/* Encode r, frame it as the next record (chatd's framing: store_stage), queue the bytes. */
static void emit(const rec_t *r)
{
    rec_encode(&rec, r);
    store_stage(&st, r->type, rec.data, (uint32_t)rec.len, NULL, NULL);
    buf_append(&out, st.staged.data, st.staged.len);
    nbytes += st.staged.len;
    st.nstaged = 0;   /* each record is a change of its own, as chatd writes these */
    st.last_seq++;
    if (out.len >= FLUSH_AT) flush_out();
}

static uint64_t rng_state;
static uint32_t rnd(void)   /* xorshift64*: deterministic for a --seed */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static const char *first[] = { "Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines",
    "Jamal", "Kira", "Liam", "Maya", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Uma",
    "Victor", "Wen", "Ximena", "Yusuf", "Zoe" };
static const char *last[] = { "Abe", "Brandt", "Costa", "Dubois", "Eze", "Fischer", "Garcia", "Haddad",
    "Ivanova", "Jensen", "Kowalski", "Lopez", "Mensah", "Novak", "Okafor", "Park", "Quispe", "Rossi",
    "Silva", "Tanaka", "Ueda", "Varga", "Wang", "Xu", "Yilmaz", "Zhou" };
#define NFIRST (sizeof first / sizeof *first)
#define NLAST (sizeof last / sizeof *last)

static uint32_t num(const char *flag, const char *v, uint32_t lo, uint32_t hi)
{
    char *end;
    errno = 0;
    unsigned long long n = v ? strtoull(v, &end, 10) : 0;
    if (!v || errno || *end || end == v || n < lo || n > hi) die("%s: a number in range", flag);
    return (uint32_t)n;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *password = "loggen-password";
    uint32_t users = 0, convs = 1, msgs = 0, body = 100, members = 0, iters = 1000, seed = 1;
    int64_t end_ms = 0;
    int sync = 1;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (f[0] != '-') { if (dir) die("one DIR only: %s", f); dir = f; continue; }
        if (!strcmp(f, "--no-fsync")) { sync = 0; continue; }
        i++;
        if (!strcmp(f, "--users")) users = num(f, v, 1, 100000000);
        else if (!strcmp(f, "--convs")) convs = num(f, v, 0, 100000000);
        else if (!strcmp(f, "--messages")) msgs = num(f, v, 0, 1000000000);
        else if (!strcmp(f, "--body-size")) body = num(f, v, 1, MSG_BODY_MAX);
        else if (!strcmp(f, "--members")) members = num(f, v, 1, 1000);
        else if (!strcmp(f, "--iters")) iters = num(f, v, 1, 10000000);
        else if (!strcmp(f, "--seed")) seed = num(f, v, 0, 0xffffffffu);
        else if (!strcmp(f, "--time") && v) end_ms = strtoll(v, NULL, 10);
        else if (!strcmp(f, "--password") && v && strlen(v) >= 8 && strlen(v) <= 256) password = v;
        else die("unknown or bad flag %s (loggen DIR --users N [--convs C] [--messages M] [--body-size B] "
                 "[--members K] [--seed S] [--password P] [--iters I] [--time MS] [--no-fsync])", f);
    }
    if (!dir || !users) die("%s", "usage: loggen DIR --users N [--convs C] [--messages M] [--body-size B] "
                            "[--members K] [--seed S] [--password P] [--iters I] [--time MS] [--no-fsync]");
    if (!members) members = users < 2 ? users : 2;
    if (members > users) die("%s", "--members: at most --users");
    if (msgs && !convs) die("%s", "--messages needs a conversation (--convs)");
    if ((uint64_t)users + convs + msgs >= STORE_MAX_SEQ) die("%s", "too many records");
    rng_state = 0x9E3779B97F4A7C15ull ^ seed;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) die("mkdir: %s", strerror(errno));
    char *path = xmalloc(strlen(dir) + sizeof STORE_LOG_NAME + 1);
    sprintf(path, "%s/%s", dir, STORE_LOG_NAME);
    if ((out_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) die("%s", strerror(errno));
    buf_append(&out, STORE_MAGIC, STORE_MAGIC_LEN);

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (end_ms <= 0) end_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    int64_t ms = end_ms + 1 - (int64_t)users - convs - msgs;   /* one ms apart, the last end_ms */

    uint8_t salt[SALT_LEN], hash[HASH_LEN];
    for (size_t i = 0; i < sizeof salt; i++) salt[i] = (uint8_t)rnd();
    pbkdf2_sha256(password, strlen(password), salt, sizeof salt, iters, hash, sizeof hash);
    char user1[24] = "";
    for (uint32_t id = 1; id <= users; id++) {
        char name[24], display[40];
        snprintf(name, sizeof name, "%c%c%c%07u", 'a' + rnd() % 26, 'a' + rnd() % 26, 'a' + rnd() % 26, id);
        snprintf(display, sizeof display, "%s %s", first[rnd() % NFIRST], last[rnd() % NLAST]);
        if (id == 1) snprintf(user1, sizeof user1, "%s", name);
        emit(&(rec_t){ .type = REC_USER_CREATE,
                       .user_create = { id, ms++, rec_cstr(name), rec_cstr(display), iters, salt, hash } });
    }

    uint32_t *m = xmalloc((size_t)members * sizeof *m);
    for (uint32_t c = 1; c <= convs; c++) {
        char title[32];
        snprintf(title, sizeof title, "conversation %u", c);
        for (uint32_t j = 0; j < members; j++)
            m[j] = (uint32_t)(((uint64_t)(c - 1) * members + j) % users) + 1;
        emit(&(rec_t){ .type = REC_CONV_CREATE, .conv = { c, m[0], ms++, rec_cstr(title),
                       { m, NULL, members }, { NULL, NULL, 0 }, 0, m[0], 0 } });
    }

    static const char words[] = "the quick brown fox jumps over the lazy dog and then some more words ";
    char *text = xmalloc(body + 1);
    for (uint32_t id = 1; id <= msgs; id++) {
        uint32_t c = (id - 1) % convs + 1, turn = (id - 1) / convs % members;
        uint32_t author = (uint32_t)(((uint64_t)(c - 1) * members + turn) % users) + 1;
        int n = snprintf(text, body + 1, "message %u: ", id);
        for (uint32_t i = n < 0 ? 0 : (uint32_t)n; i < body; i++)
            text[i] = words[(i + id) % (sizeof words - 1)];
        text[body] = 0;
        emit(&(rec_t){ .type = REC_MSG_CREATE, .msg_create = { id, c, author, ms++, { NULL, 0 },
                       { text, body }, 0 } });
    }
    flush_out();
    if ((sync && fsync(out_fd) < 0) || close(out_fd) < 0) die("fsync: %s", strerror(errno));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("loggen dir=%s users=%u convs=%u messages=%u records=%llu bytes=%llu seconds=%.2f user1=%s "
           "password=%s\n",
           dir, users, convs, msgs, (unsigned long long)st.last_seq, (unsigned long long)nbytes,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, user1, password);
    free(m); free(text); free(path);
    buf_free(&out); buf_free(&rec); buf_free(&st.staged);
    return 0;
}
