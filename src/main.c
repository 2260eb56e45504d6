/* main.c — command-line flags, start-up (open and replay the log into the indexes,
 * start the password worker, listen), the loop, and the orderly exit. */
#include "server.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: chatd [options]\n"
    "  --port N              listen port (default 8000; 0: any free port)\n"
    "  --bind ADDR           listen address (default 0.0.0.0)\n"
    "  --data-dir DIR        data directory (default ./data)\n"
    "  --fsync always|never  fdatasync before acknowledging writes (default always)\n"
    "  --max-conns N         open connection cap; over it: 503 (default 1024)\n"
    "  --idle-timeout S      close idle connections after S seconds (default 60)\n"
    "  --request-timeout S   a request must arrive whole within S seconds, else 408 (default 30)\n"
    "  --max-body BYTES      request body limit (default 65536)\n"
    "  --max-head BYTES      request line + headers limit (default 16384)\n"
    "  --max-target BYTES    request target limit (default 8192)\n"
    "  --pbkdf2-iters N      password hashing iterations for new hashes (default 600000)\n"
    "  --hash-queue N        password checks that may wait; over it: 503 busy (default 64; 0: no limit)\n"
    "  --heartbeat S         SSE comment / WebSocket ping every S seconds (default 15)\n"
    "  --stream-queue BYTES  a stream further behind than this is dropped (default 1048576)\n"
    "  --ws-max-message B    largest WebSocket message accepted (default 65536)\n"
    "  --max-response BYTES  message pages and the conversation list end before this (default 524288)\n"
    "  --cache-mb N          keep the log's last N MiB in memory for reads (default 4; 0: off)\n"
    "  --max-conns-per-ip N  open connections per client address; over it: 503 (default 256; 0: off)\n"
    "  --max-streams-per-user N  open event streams per user; over it: 429 (default 16; 0: off)\n"
    "  --presence-grace S    offline S seconds after a user's last stream closed (default 10; 0: at once)\n"
    "  --write-rate N        writes per second per user, bursts of 5N; over it: 429 (default 20; 0: off)\n"
    "  --register-rate N     registrations per client address in any 60 s; beyond: 429 (default 30; 0: off)\n"
    "  --token-ttl S         tokens expire S seconds after they were issued (default 2592000; 0: never)\n"
    "  --compact-pct P       compact when obsolete records pass P% of all (default 50; 0: never)\n"
    "  --compact-min N       ... and at least N are obsolete (default 10000)\n"
    "  --erase-within S      compact when a deleted or replaced message body is S seconds old\n"
    "                        (default 3600; 0: only by --compact-pct)\n"
    "  --tls-cert PEM, --tls-key PEM  serve HTTPS/WSS (builds made with `make TLS=1`)\n"
    "  --cors-origin ORIGIN  allow browser requests from ORIGIN (repeatable, or *)\n"
    "  --compact DIR         compact a data directory offline\n"
    "  --check DIR           verify a data directory offline (exit 0: sound)\n"
    "  --repair DIR          keep the longest valid prefix, move the rest aside\n"
    "  --health-check URL    GET http://IP:PORT/path once; exit 0 on 200 (container probes)\n"
    "  --help, --version\n";

/* Every flag's default; parse_flags overwrites what the command line names. */
static const config defaults = {
    .bind_addr = "0.0.0.0", .port = 8000, .data_dir = "./data", .fsync_always = 1,
    .max_conns = 1024, .idle_timeout_s = 60, .request_timeout_s = 30, .shutdown_grace_s = 10,
    .pbkdf2_iters = 600000, .hash_queue = 64, .heartbeat_s = 15, .stream_queue = 1 << 20,
    .ws_max_msg = 64 * 1024, .max_response = 512 * 1024, .max_conns_per_ip = 256, .max_streams_per_user = 16,
    .write_rate = 20, .register_rate = 30, .token_ttl_s = 2592000, .presence_grace_s = 10,
    .cache_mb = 4, .compact_pct = 50, .compact_min = 10000, .erase_within_s = 3600,
    .http = { HTTP_MAX_TARGET, HTTP_MAX_HEAD, HTTP_MAX_BODY },
};

/* A usage error: the message names the flag and what was wrong; exit 2 before anything is touched.
 * Run-time failures (a port in use, an unreadable data directory) exit 1. */
static _Noreturn void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("chatd: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (chatd --help lists the options)\n", stderr);
    exit(2);
}

/* An integer flag value in [lo, hi], or a usage error. */
static long long num(const char *flag, const char *v, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *v == 0 || *end || x < lo || x > hi)
        usage_error("%s: expected an integer in %lld..%lld, got '%s'", flag, lo, hi, v);
    return x;
}

/* --health-check http://IP:PORT/path: GET it, exit 0 on a 200. For HEALTHCHECK in a
 * scratch container, where there is no shell or curl. Numeric addresses only: no DNS. */
static int health_check(const char *url)
{
    char host[64], path[256] = "/healthz";
    int port = 80;
    if (sscanf(url, "http://%63[0-9.]:%d%255s", host, &port, path) < 2 &&
        sscanf(url, "http://%63[0-9.]%255s", host, path) < 1) {
        fprintf(stderr, "chatd: --health-check: expected http://IPv4[:port][/path], got '%s'\n", url);
        return 2;
    }
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 1;
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        fprintf(stderr, "chatd: health check: cannot connect to %s:%d\n", host, port);
        close(fd);
        return 1;
    }
    char req[400], resp[16] = "";
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
    ssize_t got = write(fd, req, (size_t)n) == n ? read(fd, resp, sizeof resp - 1) : -1;
    close(fd);
    int ok = got >= 12 && memcmp(resp, "HTTP/1.1 200", 12) == 0;
    fprintf(stderr, "chatd: health check %s: %s\n", url, ok ? "ok" : "failed");
    return ok ? 0 : 1;
}

static int is_addr(const char *a)
{
    unsigned char x[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, a, x) == 1 || inet_pton(AF_INET6, a, x) == 1;
}

/* Is F a flag --help lists? Then an unknown one is named as such even when it comes last
 * without a value. */
static int in_usage(const char *f)
{
    char pat[48];   /* every flag but --help and --version (handled first) has a space after it */
    if (strncmp(f, "--", 2) || snprintf(pat, sizeof pat, " %s ", f) >= (int)sizeof pat) return 0;
    return strstr(usage, pat) != NULL;
}

/* Every flag is checked here, before any file, socket or thread exists. */
static void parse_flags(config *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--help")) { fputs(usage, stdout); exit(0); }
        if (!strcmp(f, "--version")) { puts("chatd " CHATD_VERSION); exit(0); }
        if (!in_usage(f)) usage_error("unknown option '%s'", f);
        if (i + 1 >= argc) usage_error("%s: missing value", f);
        const char *v = argv[++i];
        if (!strcmp(f, "--health-check")) exit(health_check(v));
        if (!strcmp(f, "--check") || !strcmp(f, "--repair") || !strcmp(f, "--compact"))
            usage_error("%s DIR: an offline mode, given alone (chatd %s DIR), without other flags", f, f);
        if (!strcmp(f, "--port")) c->port = (int)num(f, v, 0, 65535);
        else if (!strcmp(f, "--bind")) {
            if (!is_addr(v)) usage_error("--bind: '%s' is not an IPv4 or IPv6 address", v);
            c->bind_addr = v;
        } else if (!strcmp(f, "--data-dir")) {
            if (!*v) usage_error("--data-dir: empty path");
            c->data_dir = v;
        } else if (!strcmp(f, "--fsync")) {
            if (strcmp(v, "always") && strcmp(v, "never"))
                usage_error("--fsync: expected always or never, got '%s'", v);
            c->fsync_always = !strcmp(v, "always");
        }
        else if (!strcmp(f, "--max-conns")) c->max_conns = (int)num(f, v, 1, 1000000);
        else if (!strcmp(f, "--idle-timeout")) c->idle_timeout_s = (int)num(f, v, 1, 86400);
        else if (!strcmp(f, "--request-timeout")) c->request_timeout_s = (int)num(f, v, 1, 3600);
        else if (!strcmp(f, "--max-body")) c->http.max_body = (size_t)num(f, v, 1, 64LL << 20);
        else if (!strcmp(f, "--max-head")) c->http.max_head = (size_t)num(f, v, 256, 1LL << 20);
        else if (!strcmp(f, "--max-target")) c->http.max_target = (size_t)num(f, v, 16, HTTP_MAX_TARGET);
        else if (!strcmp(f, "--pbkdf2-iters")) c->pbkdf2_iters = (uint32_t)num(f, v, 1000, 10000000);
        else if (!strcmp(f, "--hash-queue")) c->hash_queue = (int)num(f, v, 0, 1000000);
        else if (!strcmp(f, "--heartbeat")) c->heartbeat_s = (int)num(f, v, 1, 3600);
        else if (!strcmp(f, "--stream-queue")) c->stream_queue = (size_t)num(f, v, 4096, 1LL << 30);
        else if (!strcmp(f, "--ws-max-message")) c->ws_max_msg = (size_t)num(f, v, 125, 16LL << 20);
        else if (!strcmp(f, "--max-response")) c->max_response = (size_t)num(f, v, 1024, 1LL << 30);
        else if (!strcmp(f, "--cache-mb")) c->cache_mb = (size_t)num(f, v, 0, 1024);
        else if (!strcmp(f, "--max-conns-per-ip")) c->max_conns_per_ip = (int)num(f, v, 0, 1000000);
        else if (!strcmp(f, "--max-streams-per-user")) c->max_streams_per_user = (int)num(f, v, 0, 1000000);
        else if (!strcmp(f, "--presence-grace")) c->presence_grace_s = (int)num(f, v, 0, 86400);
        else if (!strcmp(f, "--write-rate")) c->write_rate = (int)num(f, v, 0, 1000000);
        else if (!strcmp(f, "--register-rate")) c->register_rate = (int)num(f, v, 0, 1000000);
        else if (!strcmp(f, "--token-ttl")) c->token_ttl_s = num(f, v, 0, 100LL * 365 * 86400);
        else if (!strcmp(f, "--compact-pct")) c->compact_pct = (int)num(f, v, 0, 100);
        else if (!strcmp(f, "--compact-min")) c->compact_min = (uint64_t)num(f, v, 1, 1LL << 40);
        else if (!strcmp(f, "--erase-within")) c->erase_within_s = (int)num(f, v, 0, 365 * 86400);
        else if (!strcmp(f, "--tls-cert")) c->tls_cert = v;
        else if (!strcmp(f, "--tls-key")) c->tls_key = v;
        else if (!strcmp(f, "--cors-origin")) {
            if (c->ncors == MAX_CORS_ORIGINS)
                usage_error("--cors-origin: at most %d origins; '%s' is one too many", MAX_CORS_ORIGINS, v);
            c->cors[c->ncors++] = v;
        }
        else usage_error("unknown option '%s'", f);
    }
    if (!c->tls_cert != !c->tls_key) usage_error("--tls-cert and --tls-key go together");
#ifndef CHATD_TLS
    if (c->tls_cert) usage_error("--tls-cert: this chatd was built without TLS; rebuild with `make TLS=1`");
#endif
}

static int replay(void *ctx, uint64_t seq, uint8_t type, const uint8_t *p, uint32_t len, uint64_t off)
{
    server *s = ctx;
    if (!rec_name(type)) {   /* never skipped: what it holds would be lost at the next compaction */
        fprintf(stderr, "chatd: unknown record type %u at offset %llu (from a newer chatd?)\n", type,
                (unsigned long long)(off - STORE_REC_HDR));
        return -1;
    }
    events_note(s, seq, type, off - STORE_REC_HDR);
    return db_apply(&s->db, seq, type, p, len, off);
}

/* Cross-checks of the rebuilt indexes that single records cannot show. 0 when sound. */
static int check_indexes(server *s)
{
    db *d = &s->db;
    int bad = 0;
    for (uint32_t i = 1; i <= d->nmsgs; i++) {
        msg *m = db_msg(d, i);
        if (m && (!db_conv(d, m->conv_id) || m->body_off + m->body_len > s->st.size)) {
            fprintf(stderr, "chatd: message %u: conversation %u gone or body past the log\n", i, m->conv_id);
            bad = 1;
        }
    }
    for (uint32_t i = 1; i <= d->nconvs; i++) {
        conv *c = db_conv(d, i);
        for (uint32_t j = 0; c && j < c->nmembers; j++)
            if (!db_user(d, c->members[j])) {
                fprintf(stderr, "chatd: conversation %u: member %u is not a user\n", i, c->members[j]);
                bad = 1;
            }
    }
    return bad;
}

/* --check DIR / --repair DIR: verify (or cut back to the longest valid prefix) offline.
 * --compact DIR: the same compaction the server runs, offline. */
static int offline(server *s, const char *mode, const char *dir)
{
    char err[512];
    int compact = !strcmp(mode, "--compact");
    if (compact) compact_cleanup(dir);
    int smode = compact ? STORE_RUN : !strcmp(mode, "--check") ? STORE_CHECK : STORE_REPAIR;
    if (store_open_mode(&s->st, dir, smode, compact, replay, s, err, sizeof err) < 0) {
        fprintf(stderr, "chatd: %s\n", err);
        return 1;
    }
    int bad = compact ? compact_offline(s) < 0 || store_sync(&s->st) < 0
                      : check_indexes(s) || (smode == STORE_CHECK && s->st.torn_bytes);
    if (!compact)
        printf("%s: %" PRIu64 " records, last seq %" PRIu64 ", %" PRIu64 " bytes (+%" PRIu64 " free); "
               "%u users, %u conversations, %u messages: %s\n", s->st.path, s->st.nrecords, s->st.last_seq,
               s->st.size, s->st.alloc - s->st.size, s->db.live_users, s->db.live_convs, s->db.live_msgs,
               bad ? "PROBLEMS (see above)" : "ok");
    store_close(&s->st);
    return bad;
}

static int start_tls(server *s)
{
    if (!s->cfg.tls_cert) return 0;
#ifdef CHATD_TLS
    char err[256];
    if ((s->tls = tls_server_new(s->cfg.tls_cert, s->cfg.tls_key, err, sizeof err))) return 0;
    fprintf(stderr, "chatd: --tls-cert %s --tls-key %s: %s\n", s->cfg.tls_cert, s->cfg.tls_key, err);
#endif
    return -1;
}

/* The data directory's parents, created like `mkdir -p` (each new one synced into its parent);
 * the store creates the directory itself. */
static int make_parents(const char *dir)
{
    size_t n = strlen(dir);
    char *p = xmalloc(n + 4);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++) {
        if (dir[i] != '/' || dir[i - 1] == '/') continue;
        snprintf(p, n + 4, "%.*s", (int)i, dir);
        int made = mkdir(p, 0700) == 0, fd = -1;
        memcpy(p + i, "/..", 4);   /* a new directory is synced into its parent */
        if ((!made && errno != EEXIST) ||
            (made && ((fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(fd) < 0))) {
            fprintf(stderr, "chatd: --data-dir %s: cannot create %.*s: %s\n", dir, (int)i, dir,
                    strerror(errno));
            rc = -1;
        }
        if (fd >= 0) close(fd);
    }
    free(p);
    return rc;
}

static void forget_registrations(server *s) { reg_sweep(&s->reg_times, s->cfg.register_rate, s->now_ms); }
#ifdef __GLIBC__   /* glibc keeps freed pages inside its heap resident: the buffers idle connections */
#include <malloc.h>   /* gave back (conn_flush) would stay in RSS, ~8 KB each; musl returns them */
static void trim_heap(server *s) { (void)s; malloc_trim(0); }
#endif

/* Frees what start-up, an offline mode or the run left; safe on parts never set up. */
static void teardown(server *s)
{
    hasher_stop(&s->hs);
#ifdef CHATD_TLS
    tls_server_free(s->tls);
#endif
    store_close(&s->st);
    db_free(&s->db);
    events_free(&s->ev);
    reg_sweep(&s->reg_times, s->cfg.register_rate, INT64_MAX);   /* its values are rings to free */
    map *maps[] = { &s->throttle, &s->typing, &s->per_ip, &s->write_tat, &s->reg_times };
    for (size_t i = 0; i < sizeof maps / sizeof *maps; i++) map_free(maps[i]);
    buf_free(&s->scratch); buf_free(&s->rec); buf_free(&s->log); buf_free(&s->away);
    free(s->conns);
}

int main(int argc, char **argv)
{
    int t = db_types_ok() ? db_types_ok() : views_types_ok();
    if (t) { fprintf(stderr, "chatd: type %d lacks a codec, applier, keep rule or event\n", t); abort(); }
    server s;
    memset(&s, 0, sizeof s);
    s.cfg = defaults;
    s.cp.fd = -1;
    s.st.fd = -1;
    db_init(&s.db);
    int rc;
    const char *mode = argc == 3 ? argv[1] : "";
    if (!strcmp(mode, "--check") || !strcmp(mode, "--repair") || !strcmp(mode, "--compact")) {
        rc = offline(&s, mode, argv[2]);
        teardown(&s);
        return rc;
    }
    parse_flags(&s.cfg, argc, argv);   /* exit 2 on any usage error, before anything exists */
    signal(SIGXFSZ, SIG_IGN);   /* a file-size limit must fail the write, not kill us */
    /* What can fail without touching the disk goes first (certificate, worker, listening socket),
     * so a port in use leaves no data directory or log behind; every run-time failure exits 1. */
    if (start_tls(&s) < 0 || server_listen(&s) < 0) { teardown(&s); return 1; }
    if (hasher_start(&s.hs) < 0) { perror("chatd: worker thread"); teardown(&s); return 1; }
    char err[512];
    int64_t t0 = now_ms();
    if (make_parents(s.cfg.data_dir) < 0) { teardown(&s); return 1; }
    compact_cleanup(s.cfg.data_dir);
    s.db.boot_ms = t0;
    if (store_open(&s.st, s.cfg.data_dir, s.cfg.fsync_always, replay, &s, err, sizeof err) < 0) {
        fprintf(stderr, "chatd: --data-dir %s: cannot open the store: %s\n", s.cfg.data_dir, err);
        teardown(&s);
        return 1;
    }
    cache_load(&s.st.cache, s.cfg.cache_mb << 20, s.st.fd, s.st.size);
    fprintf(stderr, "chatd: %s: %llu records replayed in %lld ms (%u users, %u conversations, %u messages)\n",
            s.st.path, (unsigned long long)s.st.nrecords, (long long)(now_ms() - t0),
            s.db.live_users, s.db.live_convs, s.db.live_msgs);
    fprintf(stderr, "chatd: listening on %s:%d\n", s.cfg.bind_addr, s.cfg.port);
    s.now_ms = now_ms();
    server_hook(&s, 0, compact_maybe, compact_busy);   /* the loop's work besides I/O, in this order */
    server_hook(&s, 0, events_pump, events_pending);
    server_hook(&s, 1, events_heartbeat, NULL);
    server_hook(&s, 1, tokens_expire, NULL);
    server_hook(&s, 1, forget_registrations, NULL);
#ifdef __GLIBC__
    server_hook(&s, 1, trim_heap, NULL);   /* after the sweep that freed them, a second later */
#endif
    server_hook(&s, 0, presence_turn, presence_due);
    rc = server_run(&s);
    presence_turn(&s);   /* stopping: every stream's user goes offline now, last_seen_at logged */
    teardown(&s);
    fprintf(stderr, "chatd: stopped\n");
    return rc;
}
