/* wsload.c — WebSocket fan-out load for chatd: N subscribers in one conversation, messages
 * posted at a steady rate, delivery latency from just before each POST is written to its
 * arrival at every subscriber.
 *
 *   wsload --port P [--clients 1000] [--streams-per-user 1] [--rate 200] [--seconds 4]
 *          [--max-seconds 3] [--posters 16] [--body-size 100] [--wait 10] [--host 127.0.0.1] [--json]
 *   wsload --port P --burst SECONDS [--clients 1000] [--json]
 *
 * Setup: registers N users (wl<pid>_<i>, so the server needs a cheap --pbkdf2-iters), the
 * first creates one conversation holding all N (the contract's maximum is 1000), and every
 * user opens --streams-per-user WebSockets (/api/ws?token=; so up to 1000 x K subscribers: the
 * server needs --max-streams-per-user 0 for K > its default). Presence events (each user's first
 * stream tells the others) are read and counted before the phases start. Then two phases, on
 * the same connections:
 *   steady: --rate messages/s for --seconds, each POST from the first user on one of
 *           --posters keep-alive connections (open loop: a message due while every poster
 *           is busy is sent late; "late" counts those sent more than one interval late);
 *   max:    (--max-seconds > 0) every poster posts back to back (closed loop) for that long:
 *           the most deliveries/s this server sustains, with latency under that load.
 * For each phase: deliveries (expected, missing, duplicate), deliveries/s (deliveries over
 * the time from the phase's first POST to its last delivery), delivery latency p50/p99/max,
 * fan-out completion (POST to the last subscriber) p50/p99, POST latency p50/p99, and this
 * tool's own CPU time (if it is near the wall time, the tool was the bottleneck) and, with
 * --pid, the server's CPU time in the phase and per delivery (-1: not given). One JSON
 * line at the end with --json (frame_bytes: the mean payload of a message frame, which
 * bench.sh gives psload so the peers carry the same bytes per delivery). Exit 1 when a delivery is missing or duplicated.
 *
 * --burst S (the presence burst): registers the users and creates their conversation as above,
 * prints "wsload ready" and waits for SIGUSR1; then opens one WebSocket per user, evenly spaced
 * over S seconds without waiting for the answers (connect, handshake written; the 101s and the
 * presence events they cause are read as they come), reads until no presence event came for
 * 0.5 s (at most 10 s), prints the result (open span, handshake latency p50/p99/max, presence
 * events received: n(n-1)/2 when each user's online event reaches every user already connected,
 * up to twice that when two open in one server turn; a user told twice that the same user is
 * online is a duplicate, exit 1) and one JSON line with --json, then holds the streams open until
 * SIGTERM (the users stay online: no offline events after the grace disturb later runs).
 *
 * One thread, epoll; the latency clock (CLOCK_MONOTONIC) is the same for the POST and the
 * delivery. Build: cc -O2 -o build/wsload scripts/wsload.c */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* utime + stime of a process in seconds (the server's, with --pid); -1 if unreadable */
static double proc_cpu_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = pid > 0 ? fopen(path, "r") : NULL;
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "wsload: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(2);
}

static struct sockaddr_in addr;

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { close(fd); return -1; }
    return fd;
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/* Length of a complete HTTP response at p[0..n) (Content-Length framing), 0 if incomplete. */
static long response_len(const char *p, size_t n, int *status)
{
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    if (!end) return 0;
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(p + 9);
    long head = end + 4 - p, clen = 0;
    for (const char *h = p; h < end; h++)
        if (*h == '\n' && end - h > 16 && strncasecmp(h + 1, "Content-Length:", 15) == 0) { clen = atol(h + 16); break; }
    return (size_t)(head + clen) <= n ? head + clen : 0;
}

/* One blocking request on a keep-alive connection; the body (NUL-ended) into out. */
static int http_call(int fd, const char *method, const char *path, const char *token, const char *body,
                     char *out, size_t outcap)
{
    size_t bl = body ? strlen(body) : 0, hl = 0;
    char *req = malloc(bl + 1024);
    hl = (size_t)snprintf(req, 1024, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%sContent-Length: %zu\r\n\r\n",
                          method, path, token ? "Authorization: Bearer " : "", token ? token : "",
                          token ? "\r\n" : "", bl);
    if (bl) memcpy(req + hl, body, bl);
    size_t n = hl + bl, off = 0;
    while (off < n) {
        ssize_t w = write(fd, req + off, n - off);
        if (w <= 0) { free(req); return -1; }
        off += (size_t)w;
    }
    free(req);
    size_t cap = 65536, len = 0;
    char *in = malloc(cap);
    int status = 0;
    long rl;
    while ((rl = response_len(in, len, &status)) == 0) {
        if (len == cap) { cap *= 2; in = realloc(in, cap); }
        ssize_t r = read(fd, in + len, cap - len);
        if (r <= 0) { free(in); return -1; }
        len += (size_t)r;
    }
    if (rl < 0) { free(in); return -1; }
    const char *b = memmem(in, len, "\r\n\r\n", 4) + 4;
    size_t blen = (size_t)(in + rl - b);
    if (blen >= outcap) blen = outcap - 1;
    memcpy(out, b, blen);
    out[blen] = 0;
    free(in);
    return status;
}

/* The string value of "key":"..." in JSON text (no escapes in what we read). */
static int json_strval(const char *js, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(js, pat), *e;
    if (!p || !(e = strchr(p += strlen(pat), '"')) || (size_t)(e - p) >= cap) return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = 0;
    return 0;
}

/* ---------------------------------------------------------------- state */

typedef struct sub {           /* one WebSocket subscriber */
    int fd, open;              /* open: the 101 is in (--burst reads it in the loop) */
    int64_t t_connect, t_open;
    size_t len;
    uint8_t buf[32768];
} sub;

typedef struct poster {
    int fd;
    int64_t seq;               /* message in flight, -1: free */
    size_t len;
    char buf[8192];
} poster;

enum { STEADY, MAX, NPHASE };
static const char *phase_name[NPHASE] = { "steady", "max" };

static int nsubs, nposters;
static sub *subs;
static poster *posters;
static int64_t nmsgs, capmsgs;       /* messages sent */
static int64_t *sent_us;             /* per message: just before its POST was written */
static int64_t *post_us;             /* per message: POST latency */
static uint8_t *msg_phase;
static int32_t *got;                 /* per message: subscribers that received it */
static int64_t *last_us;             /* per message: time of its last delivery */
static uint8_t *seen;                /* nsubs x capmsgs bits */
static uint64_t dups, nonmsg_frames, bad_frames, msg_frames, msg_frame_bytes, presence_frames;
static int64_t last_presence_us;
static uint64_t presence_dups;       /* --burst: a user told twice that the same user is online */
static long *uids;                   /* the users' ids (consecutive in practice) */
static int nuids;
static uint8_t *pres_seen;           /* --burst: nuids x nuids bits, receiver x subject */
static int64_t phase_first_send[NPHASE], phase_last_recv[NPHASE];
static uint32_t *lat[NPHASE];        /* delivery latency, us */
static size_t nlat[NPHASE], caplat[NPHASE];
static uint64_t late[NPHASE], post_errors;
static const char *token0;
static long conv_id, body_size = 100;

static void lat_add(int ph, int64_t us)
{
    if (nlat[ph] == caplat[ph]) {
        caplat[ph] = caplat[ph] ? caplat[ph] * 2 : 1 << 20;
        lat[ph] = realloc(lat[ph], caplat[ph] * sizeof *lat[ph]);
        if (!lat[ph]) die("out of memory%s", "");
    }
    lat[ph][nlat[ph]++] = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* The frames in s->buf: record each message delivery. */
static void sub_frames(int si, int64_t t)
{
    sub *s = &subs[si];
    size_t off = 0;
    while (s->len - off >= 2) {
        const uint8_t *p = s->buf + off;
        uint64_t plen = p[1] & 0x7f;
        size_t hl = 2;
        if (p[1] & 0x80) { bad_frames++; }   /* servers do not mask */
        if (plen == 126) { if (s->len - off < 4) break; plen = (uint64_t)p[2] << 8 | p[3]; hl = 4; }
        else if (plen == 127) {
            if (s->len - off < 10) break;
            plen = 0;
            for (int i = 0; i < 8; i++) plen = plen << 8 | p[2 + i];
            hl = 10;
        }
        if (hl + plen > sizeof s->buf) die("frame too big for the buffer%s", "");
        if (s->len - off < hl + plen) break;
        const uint8_t *pl = p + hl;
        int op = p[0] & 0x0f;
        const char *m;
        if (op == 1 && (m = memmem(pl, plen, "\"body\":\"wl ", 11)) != NULL) {
            int64_t seq = strtoll(m + 11, NULL, 10);
            msg_frames++;
            msg_frame_bytes += plen;
            if (seq < 0 || seq >= nmsgs) bad_frames++;
            else {
                size_t bit = (size_t)si * (size_t)capmsgs + (size_t)seq;
                if (seen[bit >> 3] & (1u << (bit & 7))) dups++;
                else {
                    seen[bit >> 3] |= (uint8_t)(1u << (bit & 7));
                    int ph = msg_phase[seq];
                    lat_add(ph, t - sent_us[seq]);
                    got[seq]++;
                    last_us[seq] = t;
                    if (t > phase_last_recv[ph]) phase_last_recv[ph] = t;
                }
            }
        } else {   /* pings, other events */
            nonmsg_frames++;
            if (op == 1 && memmem(pl, plen, "\"type\":\"presence\"", 17)) {
                presence_frames++, last_presence_us = t;
                const char *u = memmem(pl, plen, "\"user_id\":", 10);
                long k = u ? strtol(u + 10, NULL, 10) - uids[0] : -1;
                if (pres_seen && k >= 0 && k < nuids && uids[k] == k + uids[0] && memmem(pl, plen, "\"online\":true", 13)) {
                    size_t bit = (size_t)(si % nuids) * (size_t)nuids + (size_t)k;
                    if (pres_seen[bit >> 3] & (1u << (bit & 7))) presence_dups++;
                    pres_seen[bit >> 3] |= (uint8_t)(1u << (bit & 7));
                }
            }
        }
        off += hl + (size_t)plen;
    }
    memmove(s->buf, s->buf + off, s->len - off);
    s->len -= off;
}

static int post(poster *p, int ph, int64_t t)
{
    if (nmsgs == capmsgs) return -1;
    char body[20000], req[21000];
    int64_t seq = nmsgs++;
    int pre = snprintf(body, sizeof body, "{\"conversation_id\":%ld,\"body\":\"", conv_id);
    int bl = pre + snprintf(body + pre, sizeof body - (size_t)pre, "wl %lld ", (long long)seq);
    while (bl - pre < body_size) body[bl++] = 'x';
    bl += snprintf(body + bl, sizeof body - (size_t)bl, "\"}");
    int n = snprintf(req, sizeof req, "POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", token0, bl, body);
    msg_phase[seq] = (uint8_t)ph;
    if (!phase_first_send[ph]) phase_first_send[ph] = t;
    p->seq = seq;
    sent_us[seq] = now_us();
    if (write(p->fd, req, (size_t)n) != n) die("POST write failed%s", "");
    return 0;
}

static void poster_read(poster *p, int64_t t)
{
    ssize_t r = read(p->fd, p->buf + p->len, sizeof p->buf - p->len);
    if (r < 0 && errno == EAGAIN) return;
    if (r <= 0) die("a poster connection was closed%s", "");
    p->len += (size_t)r;
    int status;
    long n;
    while (p->seq >= 0 && (n = response_len(p->buf, p->len, &status)) != 0) {
        if (n < 0) die("malformed POST response%s", "");
        if (status != 201) {
            post_errors++;
            fprintf(stderr, "wsload: POST status %d: %.200s\n", status, p->buf);
        }
        post_us[p->seq] = t - sent_us[p->seq];
        p->seq = -1;
        memmove(p->buf, p->buf + n, p->len - (size_t)n);
        p->len -= (size_t)n;
    }
}

static volatile sig_atomic_t got_sig;
static void on_sig(int sig) { got_sig = sig; }

/* Reads what sub si has: its 101 first (--burst), then frames. */
static void sub_read(int si, int64_t t)
{
    sub *s = &subs[si];
    ssize_t r = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
    if (r < 0 && errno == EAGAIN) return;
    if (r <= 0) die("a WebSocket was closed by the server%s", "");
    s->len += (size_t)r;
    if (!s->open) {
        char *end = memmem(s->buf, s->len, "\r\n\r\n", 4);
        if (!end) return;
        if (memcmp(s->buf, "HTTP/1.1 101", 12) != 0) die("handshake refused: %.60s", (char *)s->buf);
        size_t hl = (size_t)(end + 4 - (char *)s->buf);
        memmove(s->buf, s->buf + hl, s->len - hl);
        s->len -= hl;
        s->open = 1;
        s->t_open = t;
    }
    sub_frames(si, t);
}

static void ws_handshake(sub *s, const char *token)
{
    char req[512];
    if ((s->fd = dial()) < 0) die("WebSocket connect failed: %s", strerror(errno));
    s->t_connect = now_us();
    int n = snprintf(req, sizeof req, "GET /api/ws?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n", token);
    if (write(s->fd, req, (size_t)n) != n) die("handshake write failed%s", "");
}

/* Opens subs[0..n) (user i % nusers's token), reading every open one all along (a stream
 * that is not read fills its socket and the server's sends stall): spread evenly over
 * spread_s seconds, or (spread_s 0) as fast as they are answered with at most 256
 * handshakes in flight. Then reads until the 101s are in and no presence event came for
 * quiet_ms (at most 10 s). Returns when the last connect was made (us). */
static int64_t open_subs(int ep, int n, char **tokens, int nusers, double spread_s, int quiet_ms)
{
    struct epoll_event evs[1024];
    int64_t t0 = now_us(), t = t0, t_sent = t0;
    int opened = 0;
    for (int i = 0;;) {
        for (; i < n; i++) {
            if (spread_s > 0 ? t < t0 + (int64_t)(spread_s * 1e6 * i / n) : i - opened >= 256) break;
            ws_handshake(&subs[i], tokens[i % nusers]);
            set_nonblock(subs[i].fd);
            struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
            epoll_ctl(ep, EPOLL_CTL_ADD, subs[i].fd, &ev);
            t_sent = now_us();
        }
        int64_t quiet_since = last_presence_us > t_sent ? last_presence_us : t_sent;
        if (i == n && ((opened == n && t - quiet_since > quiet_ms * 1000) || t - t_sent > 10000000)) break;
        int64_t due = spread_s > 0 && i < n ? t0 + (int64_t)(spread_s * 1e6 * i / n) : t + 10000;
        int k = epoll_wait(ep, evs, 1024, due > t ? (int)((due - t + 999) / 1000) : 0);
        t = now_us();
        for (int e = 0; e < k; e++) {
            sub *s = &subs[evs[e].data.u64];
            int was = s->open;
            sub_read((int)evs[e].data.u64, t);
            opened += s->open - was;
        }
    }
    return t_sent;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(uint32_t *v, size_t n, double p)   /* nearest rank, in ms */
{
    if (!n) return 0;
    size_t k = (size_t)(p / 100.0 * (double)n);
    return v[k >= n ? n - 1 : k] / 1000.0;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 0, json = 0, srv_pid = 0, per_user = 1, nusers;
    double rate = 200, seconds = 4, max_seconds = 3, wait_s = 10, burst = 0;
    nsubs = 1000;
    nposters = 16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (ARG("--port")) port = atoi(v);
        else if (ARG("--host")) host = v;
        else if (ARG("--clients")) nsubs = atoi(v);
        else if (ARG("--rate")) rate = atof(v);
        else if (ARG("--streams-per-user")) per_user = atoi(v);
        else if (ARG("--burst")) burst = atof(v);
        else if (ARG("--seconds")) seconds = atof(v);
        else if (ARG("--max-seconds")) max_seconds = atof(v);
        else if (ARG("--posters")) nposters = atoi(v);
        else if (ARG("--body-size")) body_size = atol(v);
        else if (ARG("--wait")) wait_s = atof(v);
        else if (ARG("--pid")) srv_pid = atoi(v);
        else if (strcmp(a, "--json") == 0) json = 1;
        else {
            fprintf(stderr, "usage: wsload --port P [--clients 1000] [--streams-per-user 1] [--rate 200] [--seconds 4]\n"
                            "              [--max-seconds 3] [--posters 16] [--body-size 100] [--wait 10] [--pid SERVER_PID]\n"
                            "              [--json]\n"
                            "       wsload --port P --burst SECONDS [--clients 1000] [--json]\n");
            return 2;
        }
    }
    if (port <= 0 || nsubs < 1 || nsubs > 1000 || rate <= 0 || seconds <= 0 || nposters < 1 ||
        body_size < 20 || body_size > 16000 || per_user < 1 || per_user > 100 || burst < 0)
        die("bad arguments (--port required; --clients 1..1000, --streams-per-user 1..100)%s", "");
    nusers = nsubs;
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) die("--host %s: not an IPv4 address", host);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }

    /* users */
    int64_t t = now_us();
    char **tokens = calloc((size_t)nsubs, sizeof *tokens), resp[65536];
    long *ids = calloc((size_t)nsubs, sizeof *ids);
    int hfd = dial();
    if (hfd < 0) die("cannot connect to port %s", argv[0]);
    for (int i = 0; i < nsubs; i++) {
        char body[256], tok[128], *p = NULL;
        snprintf(body, sizeof body, "{\"username\":\"wl%d_%d\",\"password\":\"wsload-password\"}", (int)getpid(), i);
        int st = http_call(hfd, "POST", "/api/users/register", NULL, body, resp, sizeof resp);
        if (st != 201 || json_strval(resp, "token", tok, sizeof tok) < 0 || !(p = strstr(resp, "\"id\":")))
            die("register failed: %s", resp);
        tokens[i] = strdup(tok);
        ids[i] = atol(p + 5);
    }
    double t_users = (now_us() - t) / 1e6;
    uids = ids;
    nuids = nsubs;
    size_t cap = 64 + (size_t)nsubs * 12;
    char *cb = malloc(cap);
    size_t cl = (size_t)snprintf(cb, cap, "{\"title\":\"wsload\",\"member_ids\":[");
    for (int i = 1; i < nsubs; i++) cl += (size_t)snprintf(cb + cl, cap - cl, "%s%ld", i > 1 ? "," : "", ids[i]);
    snprintf(cb + cl, cap - cl, "]}");
    token0 = tokens[0];
    int st = http_call(hfd, "POST", "/api/conversations", token0, cb, resp, sizeof resp);
    char *cp = strstr(resp, "\"id\":");
    if (st != 201 || !cp) die("creating the conversation failed: %s", resp);
    conv_id = atol(cp + 5);
    free(cb);
    close(hfd);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (burst > 0) {   /* the presence burst: one stream per user, evenly spaced over --burst s */
        struct sigaction sa = { .sa_handler = on_sig };
        sigaction(SIGUSR1, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        subs = calloc((size_t)nusers, sizeof *subs);
        pres_seen = calloc(((size_t)nusers * (size_t)nusers + 7) / 8, 1);
        printf("wsload ready\n");
        fflush(stdout);
        while (got_sig != SIGUSR1) {
            if (got_sig == SIGTERM) return 0;
            pause();
        }
        int64_t t0 = now_us(), t_sent = open_subs(ep, nusers, tokens, nusers, burst, 500);
        struct epoll_event evs[1024];
        uint32_t *hs = malloc((size_t)nusers * sizeof *hs);
        size_t nhs = 0;
        int64_t last_open = t0;
        for (int i = 0; i < nusers; i++)
            if (subs[i].open) {
                hs[nhs++] = (uint32_t)(subs[i].t_open - subs[i].t_connect);
                if (subs[i].t_open > last_open) last_open = subs[i].t_open;
            }
        qsort(hs, nhs, sizeof *hs, cmp_u32);
        unsigned long long expect = (unsigned long long)nusers * (unsigned long long)(nusers - 1) / 2;
        printf("wsload burst: %zu of %d WebSockets open in %.3f s (connects spread over %.3f s); handshake p50 %.2f ms, "
               "p99 %.2f ms, max %.2f ms; %llu presence events received (%llu if every online event reaches every "
               "user already connected, at most twice that; %llu duplicates), the last %.3f s after the first connect\n",
               nhs, nusers, (last_open - t0) / 1e6, (t_sent - t0) / 1e6, pct(hs, nhs, 50), pct(hs, nhs, 99),
               nhs ? hs[nhs - 1] / 1000.0 : 0, (unsigned long long)presence_frames, expect,
               (unsigned long long)presence_dups, last_presence_us ? (last_presence_us - t0) / 1e6 : 0);
        if (json)
            printf("{\"clients\":%d,\"opened\":%zu,\"open_span_s\":%.3f,\"connect_span_s\":%.3f,"
                   "\"handshake_p50_ms\":%.3f,\"handshake_p99_ms\":%.3f,\"handshake_max_ms\":%.3f,"
                   "\"presence_events\":%llu,\"presence_expected\":%llu,\"presence_dups\":%llu,\"presence_span_s\":%.3f,"
                   "\"setup_users_s\":%.2f}\n", nusers, nhs, (last_open - t0) / 1e6, (t_sent - t0) / 1e6,
                   pct(hs, nhs, 50), pct(hs, nhs, 99), nhs ? hs[nhs - 1] / 1000.0 : 0,
                   (unsigned long long)presence_frames, expect, (unsigned long long)presence_dups, last_presence_us ? (last_presence_us - t0) / 1e6 : 0,
                   t_users);
        fflush(stdout);
        while (got_sig != SIGTERM) {   /* hold, reading (pings, late events) */
            int n = epoll_wait(ep, evs, 1024, 100);
            t = now_us();
            for (int e = 0; e < n; e++) sub_read((int)evs[e].data.u64, t);
        }
        return nhs == (size_t)nusers && !presence_dups ? 0 : 1;
    }

    /* subscribers: --streams-per-user each, user i % nusers */
    t = now_us();
    nsubs = nusers * per_user;
    subs = calloc((size_t)nsubs, sizeof *subs);
    if (!subs) die("out of memory%s", "");
    open_subs(ep, nsubs, tokens, nusers, 0, 300);   /* and the presence events of the users' first streams */
    double t_subs = (now_us() - t) / 1e6;
    posters = calloc((size_t)nposters, sizeof *posters);
    for (int i = 0; i < nposters; i++) {
        if ((posters[i].fd = dial()) < 0) die("poster connect failed%s", "");
        set_nonblock(posters[i].fd);
        posters[i].seq = -1;
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)1 << 32 | (uint64_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, posters[i].fd, &ev);
    }
    fprintf(stderr, "wsload: %d users registered in %.2f s, conversation %ld, %d WebSockets open in %.2f s "
            "(%llu presence events read)\n", nusers, t_users, conv_id, nsubs, t_subs, (unsigned long long)presence_frames);

    /* message tables: the steady phase's count plus room for the max phase */
    int64_t nsteady = (int64_t)(rate * seconds + 0.5);
    capmsgs = nsteady + (max_seconds > 0 ? 200000 : 0);
    if ((uint64_t)capmsgs * (uint64_t)nsubs > (uint64_t)8 << 30) capmsgs = ((int64_t)8 << 30) / nsubs;
    sent_us = calloc((size_t)capmsgs, sizeof *sent_us);
    post_us = calloc((size_t)capmsgs, sizeof *post_us);
    last_us = calloc((size_t)capmsgs, sizeof *last_us);
    got = calloc((size_t)capmsgs, sizeof *got);
    msg_phase = calloc((size_t)capmsgs, 1);
    seen = calloc(((size_t)capmsgs * (size_t)nsubs + 7) / 8, 1);
    if (!sent_us || !post_us || !last_us || !got || !msg_phase || !seen) die("out of memory%s", "");

    struct epoll_event evs[1024];
    double cpu0 = cpu_s(), cpu_ph[NPHASE] = { 0, 0 }, srv_ph[NPHASE] = { -1, -1 };
    int64_t ph_start[NPHASE] = { 0, 0 }, ph_msgs[NPHASE] = { 0, 0 }, ph_end_send[NPHASE] = { 0, 0 };
    for (int ph = 0; ph < NPHASE; ph++) {
        if (ph == MAX && max_seconds <= 0) break;
        int64_t first = nmsgs, start = now_us(), end_send = start + (int64_t)((ph == STEADY ? seconds : max_seconds) * 1e6);
        int64_t target = ph == STEADY ? nsteady : capmsgs - first, i = 0;
        double c0 = cpu_s(), s0 = proc_cpu_s(srv_pid);
        ph_start[ph] = start;
        int sending = 1;
        for (;;) {
            t = now_us();
            if (sending) {
                if (ph == STEADY) {
                    while (i < target) {
                        int64_t due = start + (int64_t)((double)i * 1e6 / rate);
                        if (due > t) break;
                        int k = 0;
                        while (k < nposters && posters[k].seq >= 0) k++;
                        if (k == nposters) break;
                        if (t - due > (int64_t)(1e6 / rate)) late[ph]++;   /* more than one interval */
                        post(&posters[k], ph, t);
                        i++;
                    }
                    if (i >= target) sending = 0;
                } else {
                    for (int k = 0; k < nposters && t < end_send && nmsgs < capmsgs; k++)
                        if (posters[k].seq < 0) post(&posters[k], ph, t);
                    if (t >= end_send || nmsgs >= capmsgs) sending = 0;
                }
                if (!sending) ph_end_send[ph] = t;
            }
            int busy = 0;
            for (int k = 0; k < nposters; k++) busy += posters[k].seq >= 0;
            int64_t expect = (nmsgs - first) * (int64_t)nsubs, have = 0;
            if (!sending && !busy) {
                for (int64_t m = first; m < nmsgs; m++) have += got[m];
                if (have == expect || t > ph_end_send[ph] + (int64_t)(wait_s * 1e6)) break;
            }
            int timeout = 5;
            if (sending && ph == STEADY) {
                int64_t due = start + (int64_t)((double)i * 1e6 / rate);
                timeout = due > t ? (int)((due - t + 999) / 1000) : 0;
            } else if (sending) timeout = 1;
            int n = epoll_wait(ep, evs, 1024, timeout);
            t = now_us();
            for (int e = 0; e < n; e++) {
                uint64_t d = evs[e].data.u64;
                if (d >> 32) { poster_read(&posters[d & 0xffffffff], t); continue; }
                sub *s = &subs[d];
                ssize_t r = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
                if (r < 0 && errno == EAGAIN) continue;
                if (r <= 0) die("a WebSocket was closed by the server%s", "");
                s->len += (size_t)r;
                sub_frames((int)d, t);
            }
        }
        ph_msgs[ph] = nmsgs - first;
        cpu_ph[ph] = cpu_s() - c0;
        if (s0 >= 0) srv_ph[ph] = proc_cpu_s(srv_pid) - s0;
        (void)cpu0;
    }

    /* report */
    int bad = 0;
    char out[8192];
    size_t ol = (size_t)snprintf(out, sizeof out, "{\"clients\":%d,\"posters\":%d,\"body_size\":%ld,\"setup_users_s\":%.2f,"
                                 "\"setup_ws_s\":%.2f", nsubs, nposters, body_size, t_users, t_subs);
    for (int ph = 0; ph < NPHASE; ph++) {
        if (!ph_msgs[ph]) continue;
        int64_t first = 0;
        for (int q = 0; q < ph; q++) first += ph_msgs[q];
        uint64_t expect = (uint64_t)ph_msgs[ph] * (uint64_t)nsubs, have = nlat[ph];
        uint32_t *comp = malloc((size_t)ph_msgs[ph] * sizeof *comp), *pl = malloc((size_t)ph_msgs[ph] * sizeof *pl);
        size_t nc = 0;
        for (int64_t m = first; m < first + ph_msgs[ph]; m++) {
            if (got[m] == nsubs) comp[nc++] = (uint32_t)(last_us[m] - sent_us[m]);
            pl[m - first] = (uint32_t)post_us[m];
        }
        qsort(lat[ph], nlat[ph], sizeof *lat[ph], cmp_u32);
        qsort(comp, nc, sizeof *comp, cmp_u32);
        qsort(pl, (size_t)ph_msgs[ph], sizeof *pl, cmp_u32);
        double span = (phase_last_recv[ph] - phase_first_send[ph]) / 1e6;
        double send_span = (ph_end_send[ph] - ph_start[ph]) / 1e6;
        double dps = have / (span > 0 ? span : 1e-9);
        printf("wsload %s: %lld messages in %.2f s (%.1f/s%s%llu late), %d subscribers: %llu of %llu deliveries "
               "(missing %llu, duplicate %llu) in %.2f s: %.0f deliveries/s; delivery latency p50 %.2f ms, p99 %.2f ms, "
               "max %.2f ms; all subscribers p50 %.2f ms, p99 %.2f ms; POST p50 %.2f ms, p99 %.2f ms; tool CPU %.2f s; "
               "server CPU %.2f s (%.2f us/delivery)\n",
               phase_name[ph], (long long)ph_msgs[ph], send_span, ph_msgs[ph] / (send_span > 0 ? send_span : 1e-9),
               ph == STEADY ? ", " : ", closed loop, ", (unsigned long long)late[ph], nsubs,
               (unsigned long long)have, (unsigned long long)expect, (unsigned long long)(expect - have),
               (unsigned long long)dups, span, dps, pct(lat[ph], nlat[ph], 50), pct(lat[ph], nlat[ph], 99),
               nlat[ph] ? lat[ph][nlat[ph] - 1] / 1000.0 : 0, pct(comp, nc, 50), pct(comp, nc, 99),
               pct(pl, (size_t)ph_msgs[ph], 50), pct(pl, (size_t)ph_msgs[ph], 99), cpu_ph[ph], srv_ph[ph],
               have ? srv_ph[ph] * 1e6 / (double)have : 0);
        ol += (size_t)snprintf(out + ol, sizeof out - ol,
                               ",\"%s\":{\"messages\":%lld,\"send_seconds\":%.3f,\"msgs_per_s\":%.1f,\"late\":%llu,"
                               "\"deliveries\":%llu,\"expected\":%llu,\"span_s\":%.3f,\"deliveries_per_s\":%.0f,"
                               "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"complete_p50_ms\":%.3f,"
                               "\"complete_p99_ms\":%.3f,\"post_p50_ms\":%.3f,\"post_p99_ms\":%.3f,\"tool_cpu_s\":%.2f,"
                               "\"server_cpu_s\":%.2f,\"server_us_per_delivery\":%.3f}",
                               phase_name[ph], (long long)ph_msgs[ph], send_span,
                               ph_msgs[ph] / (send_span > 0 ? send_span : 1e-9), (unsigned long long)late[ph],
                               (unsigned long long)have, (unsigned long long)expect, span, dps,
                               pct(lat[ph], nlat[ph], 50), pct(lat[ph], nlat[ph], 99),
                               nlat[ph] ? lat[ph][nlat[ph] - 1] / 1000.0 : 0, pct(comp, nc, 50), pct(comp, nc, 99),
                               pct(pl, (size_t)ph_msgs[ph], 50), pct(pl, (size_t)ph_msgs[ph], 99), cpu_ph[ph],
                               srv_ph[ph], have ? srv_ph[ph] * 1e6 / (double)have : 0);
        if (have != expect) bad = 1;
        free(comp);
        free(pl);
    }
    if (dups || post_errors) bad = 1;
    snprintf(out + ol, sizeof out - ol, ",\"frame_bytes\":%llu,\"duplicates\":%llu,\"post_errors\":%llu,\"ok\":%s}",
             (unsigned long long)(msg_frames ? msg_frame_bytes / msg_frames : 0), (unsigned long long)dups,
             (unsigned long long)post_errors, bad ? "false" : "true");
    if (json) printf("%s\n", out);
    fflush(stdout);
    return bad;
}
