/* postload.c — closed-loop POST /api/messages load for chatd, and an idle-connection holder.
 *
 *   postload --port P --token T --conv 1[,2,...] [--conns 64] [--seconds S | --count N]
 *            [--body-size 100] [--host 127.0.0.1]
 *   postload --idle N --port P [--hold S]
 *
 * Load mode: --conns keep-alive connections, each with one request in flight at a time (a
 * new POST as soon as the previous answer is in), so with --fsync always every request waits
 * for its group commit. Conversations are taken round-robin from --conv. --seconds: run that
 * long and count the answers that arrived in it; --count: post exactly N messages (data-dir
 * fill). Prints a summary line and one JSON line: requests, seconds, rps, p50/p99/max latency
 * (ms), errors (connection failures) and non-2xx answers. Exit 1 if any request failed.
 *
 * Idle mode: opens N keep-alive connections, sends one GET /healthz on each (so each is a
 * used keep-alive connection, not a half-open one) and reads the answer, prints
 * "idle: N open" on stdout, then holds them, silent, until SIGTERM/SIGINT or S seconds
 * (default 600). Raises its own RLIMIT_NOFILE as far as the hard limit allows.
 *
 * One thread, epoll, level-triggered. Build: cc -O2 -o build/postload scripts/postload.c */
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

static void die(const char *m)
{
    fprintf(stderr, "postload: %s\n", m);
    exit(2);
}

static struct sockaddr_in addr;

static int dial(int nonblock)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0), one = 1;
    if (fd < 0) return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) { close(fd); return -1; }
    return fd;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Length of a complete HTTP response at p[0..n), 0 if incomplete, -1 if malformed;
 * *status gets the status code. Content-Length framing only (chatd always sends it). */
static long response_len(const char *p, size_t n, int *status)
{
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    if (!end) return 0;
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(p + 9);
    long head = end + 4 - p, clen = 0;
    for (const char *h = p; h < end; h++) {
        if ((*h == '\n') && end - h > 16 && strncasecmp(h + 1, "Content-Length:", 15) == 0) {
            clen = atol(h + 16);
            break;
        }
    }
    return (size_t)(head + clen) <= n ? head + clen : 0;
}

/* ---------------------------------------------------------------- load mode */

typedef struct pconn {
    int fd;
    int64_t sent_us;        /* 0: nothing in flight */
    size_t inlen;
    char in[8192];
} pconn;

static uint32_t *lat;       /* microseconds */
static size_t nlat, caplat;

static void lat_add(int64_t us)
{
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 1 << 16;
        lat = realloc(lat, caplat * sizeof *lat);
        if (!lat) die("out of memory");
    }
    lat[nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(double p)
{
    if (!nlat) return 0;
    size_t k = (size_t)(p / 100.0 * (double)nlat);
    if (k >= nlat) k = nlat - 1;
    return lat[k] / 1000.0;
}

static const char *token;
static long *convs;
static int nconvs;
static long body_size = 100;
static uint64_t issued;

static int send_post(pconn *c, int64_t t)
{
    char body[20000], req[21000];
    long conv = convs[issued % (uint64_t)nconvs];
    int pre = snprintf(body, sizeof body, "{\"conversation_id\":%ld,\"body\":\"", conv);
    int bl = pre + snprintf(body + pre, sizeof body - (size_t)pre, "p%llu ", (unsigned long long)issued);
    while (bl - pre < body_size) body[bl++] = 'x';   /* the message body: exactly body_size bytes */
    bl += snprintf(body + bl, sizeof body - (size_t)bl, "\"}");
    int n = snprintf(req, sizeof req, "POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\n\r\n%s", token, bl, body);
    issued++;
    c->sent_us = t;
    return write(c->fd, req, (size_t)n) == n ? 0 : -1;   /* small: fits the socket buffer */
}

static int run_load(int nconns, double seconds, uint64_t count, int json)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    pconn *cs = calloc((size_t)nconns, sizeof *cs);
    if (!cs || ep < 0) die("setup");
    uint64_t ok = 0, non2xx = 0, errors = 0, done = 0;
    int64_t t0 = now_us(), tend = seconds > 0 ? t0 + (int64_t)(seconds * 1e6) : INT64_MAX, tlast = t0;
    for (int i = 0; i < nconns; i++) {
        cs[i].fd = dial(0);
        if (cs[i].fd < 0) die("connect failed");
        fcntl(cs[i].fd, F_SETFL, fcntl(cs[i].fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    t0 = now_us();
    if (seconds > 0) tend = t0 + (int64_t)(seconds * 1e6);
    for (int i = 0; i < nconns; i++)
        if ((!count || issued < count) && send_post(&cs[i], t0) < 0) errors++;
    int inflight = 0;
    for (int i = 0; i < nconns; i++) inflight += cs[i].sent_us != 0;
    struct epoll_event evs[256];
    while (inflight > 0) {
        int64_t t = now_us();
        if (t >= tend) break;
        int to = seconds > 0 ? (int)((tend - t) / 1000) + 1 : 1000;
        int n = epoll_wait(ep, evs, 256, to);
        t = now_us();
        for (int k = 0; k < n; k++) {
            pconn *c = &cs[evs[k].data.u32];
            ssize_t r = read(c->fd, c->in + c->inlen, sizeof c->in - c->inlen);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                errors++;   /* connection lost: reconnect and go on */
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->inlen = 0;
                c->sent_us = 0;
                inflight--;
                c->fd = dial(0);
                if (c->fd < 0) continue;
                fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
                struct epoll_event ev = { .events = EPOLLIN, .data.u32 = evs[k].data.u32 };
                epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
                if (t < tend && (!count || issued < count)) { if (send_post(c, t) == 0) inflight++; else errors++; }
                continue;
            }
            c->inlen += (size_t)r;
            int status = 0;
            long len;
            while (c->sent_us && (len = response_len(c->in, c->inlen, &status)) != 0) {
                if (len < 0) die("malformed response");
                if (t <= tend) {
                    done++;
                    if (status >= 200 && status < 300) ok++; else non2xx++;
                    lat_add(t - c->sent_us);
                    tlast = t;
                }
                memmove(c->in, c->in + len, c->inlen - (size_t)len);
                c->inlen -= (size_t)len;
                c->sent_us = 0;
                inflight--;
                if (t < tend && (!count || issued < count)) {
                    if (send_post(c, t) == 0) inflight++; else errors++;
                }
            }
        }
    }
    double el = (seconds > 0 ? (double)(tend - t0) : (double)(tlast - t0)) / 1e6;
    qsort(lat, nlat, sizeof *lat, cmp_u32);
    double rps = ok / (el > 0 ? el : 1e-9);
    printf("postload: %llu POSTs (%llu 2xx, %llu non-2xx, %llu errors) in %.2f s with %d connections: "
           "%.0f/s; latency p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
           (unsigned long long)done, (unsigned long long)ok, (unsigned long long)non2xx,
           (unsigned long long)errors, el, nconns, rps, pct_ms(50), pct_ms(99), nlat ? lat[nlat - 1] / 1000.0 : 0);
    if (json)
        printf("{\"requests\":%llu,\"ok\":%llu,\"non2xx\":%llu,\"errors\":%llu,\"seconds\":%.3f,\"rps\":%.1f,"
               "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"conns\":%d}\n",
               (unsigned long long)done, (unsigned long long)ok, (unsigned long long)non2xx,
               (unsigned long long)errors, el, rps, pct_ms(50), pct_ms(99), nlat ? lat[nlat - 1] / 1000.0 : 0,
               nconns);
    fflush(stdout);
    for (int i = 0; i < nconns; i++) if (cs[i].fd >= 0) close(cs[i].fd);
    return non2xx || errors ? 1 : 0;
}

/* ---------------------------------------------------------------- idle mode */

static volatile sig_atomic_t stop;
static void on_sig(int sig) { (void)sig; stop = 1; }

static int run_idle(int n, double hold)
{
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    raise_nofile();
    int *fds = calloc((size_t)n, sizeof *fds);
    if (!fds) die("out of memory");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int opened = 0;
    const int batch = 500;   /* under the server's listen backlog */
    for (int b = 0; b < n; b += batch) {
        int m = n - b < batch ? n - b : batch, pending = 0;
        for (int i = b; i < b + m; i++) {
            if ((fds[i] = dial(0)) < 0) { fprintf(stderr, "postload: connect #%d: %s\n", i, strerror(errno)); return 1; }
            if (write(fds[i], req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) { fprintf(stderr, "postload: write #%d failed\n", i); return 1; }
            struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
            epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
            pending++;
        }
        int64_t deadline = now_us() + 30000000;
        struct epoll_event evs[512];
        while (pending > 0) {
            if (now_us() > deadline) { fprintf(stderr, "postload: idle connections not answered in 30 s\n"); return 1; }
            int k = epoll_wait(ep, evs, 512, 1000);
            for (int j = 0; j < k; j++) {
                int i = (int)evs[j].data.u32;
                char buf[1024];
                int status = 0;
                ssize_t r = read(fds[i], buf, sizeof buf);
                if (r <= 0 || response_len(buf, (size_t)r, &status) <= 0 || status != 200) {
                    fprintf(stderr, "postload: idle connection #%d: no 200 (%zd bytes: %.40s)\n", i, r, r > 0 ? buf : "");
                    return 1;
                }
                epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
                pending--;
                opened++;
            }
        }
    }
    printf("idle: %d open\n", opened);
    fflush(stdout);
    signal(SIGTERM, on_sig);
    signal(SIGINT, on_sig);
    int64_t end = now_us() + (int64_t)(hold * 1e6);
    while (!stop && now_us() < end) usleep(50000);
    int lost = 0;   /* connections the server closed while idle */
    for (int i = 0; i < n; i++) {
        char c;
        if (recv(fds[i], &c, 1, MSG_DONTWAIT) == 0) lost++;
        close(fds[i]);
    }
    if (lost) fprintf(stderr, "postload: %d idle connections were closed by the server\n", lost);
    return lost ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 0, nconns = 64, json = 0, idle = 0;
    double seconds = 0, hold = 600;
    uint64_t count = 0;
    const char *convlist = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (ARG("--port")) port = atoi(v);
        else if (ARG("--host")) host = v;
        else if (ARG("--token")) token = v;
        else if (ARG("--conv")) convlist = v;
        else if (ARG("--conns")) nconns = atoi(v);
        else if (ARG("--seconds")) seconds = atof(v);
        else if (ARG("--count")) count = strtoull(v, NULL, 10);
        else if (ARG("--body-size")) body_size = atol(v);
        else if (ARG("--idle")) idle = atoi(v);
        else if (ARG("--hold")) hold = atof(v);
        else if (strcmp(a, "--json") == 0) json = 1;
        else {
            fprintf(stderr, "usage: postload --port P --token T --conv 1[,2..] [--conns 64] [--seconds S | --count N]\n"
                            "                [--body-size 100] [--json]\n"
                            "       postload --idle N --port P [--hold S]\n");
            return 2;
        }
    }
    if (port <= 0) die("--port is required");
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) die("--host: an IPv4 address");
    signal(SIGPIPE, SIG_IGN);
    if (idle > 0) return run_idle(idle, hold);
    if (!token || !convlist) die("--token and --conv are required");
    if ((seconds > 0) == (count > 0)) die("give one of --seconds and --count");
    if (nconns < 1 || nconns > 10000 || body_size < 1 || body_size > 16000) die("bad --conns or --body-size");
    convs = calloc(strlen(convlist) + 1, sizeof *convs);
    for (const char *p = convlist; *p;) {
        convs[nconvs++] = strtol(p, (char **)&p, 10);
        if (*p == ',') p++;
        else if (*p) die("--conv: comma-separated ids");
    }
    raise_nofile();
    return run_load(nconns, seconds, count, json);
}
