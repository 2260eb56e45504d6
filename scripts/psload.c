/* psload.c — fan-out load for the peers of chatd's WebSocket fan-out: Redis pub/sub (RESP)
 * and an MQTT 3.1.1 broker (Mosquitto, QoS 0). N subscribers of one channel/topic, messages
 * published at a steady rate from one connection, delivery latency from just before each
 * PUBLISH is written to its arrival at every subscriber — the same measurement as wsload's
 * steady phase, so the rows sit side by side in `make bench`.
 *
 *   psload --proto resp|mqtt --port P [--clients 1000] [--rate 200] [--seconds 4]
 *          [--payload-size 300] [--wait 10] [--pid SERVER_PID] [--host 127.0.0.1] [--json]
 *
 * --payload-size: bytes per message (bench.sh passes the size of chatd's WebSocket frame
 * payload, so every server carries the same bytes per delivery). The report: deliveries
 * (expected, missing, duplicate), deliveries/s, delivery latency p50/p99/max, "all
 * subscribers" p50/p99, this tool's CPU and, with --pid, the server's CPU in the phase,
 * per delivery and deliveries per server CPU-second. Exit 1 when a delivery is missing or
 * duplicated. One thread, epoll, CLOCK_MONOTONIC. Build: cc -O2 -o psload scripts/psload.c */
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

static double proc_cpu_s(int pid)   /* utime + stime of the server; -1 if unreadable */
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

static void die(const char *msg)
{
    fprintf(stderr, "psload: %s\n", msg);
    exit(2);
}

static struct sockaddr_in addr;
static int mqtt;   /* 0: RESP (Redis), 1: MQTT 3.1.1 */

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { close(fd); return -1; }
    return fd;
}

static void write_all(int fd, const void *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EAGAIN) continue;   /* the publisher: a full socket is a late message */
        if (w <= 0) die("write failed");
        p = (const char *)p + w;
        n -= (size_t)w;
    }
}

/* MQTT remaining length (variable byte integer) at p; bytes used */
static size_t mqtt_len(uint8_t *p, size_t v)
{
    size_t k = 0;
    do { p[k] = (uint8_t)(v & 0x7f) | (v > 0x7f ? 0x80 : 0); v >>= 7; k++; } while (v);
    return k;
}

static const char topic[] = "psload";

/* The subscribe handshake on a blocking connection: MQTT CONNECT + SUBSCRIBE (QoS 0), or RESP
 * SUBSCRIBE; waits for the acknowledgement. */
static void subscribe(int fd, int i)
{
    uint8_t p[256], r[256];
    size_t n = 0;
    if (mqtt) {
        char id[32];
        int il = snprintf(id, sizeof id, "ps%d_%d", (int)getpid(), i);
        uint8_t vh[] = { 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0x02, 0x58 };   /* clean session, keep-alive 600 s */
        p[n++] = 0x10;
        n += mqtt_len(p + n, sizeof vh + 2 + (size_t)il);
        memcpy(p + n, vh, sizeof vh); n += sizeof vh;
        p[n++] = 0; p[n++] = (uint8_t)il; memcpy(p + n, id, (size_t)il); n += (size_t)il;
        p[n++] = 0x82;
        n += mqtt_len(p + n, 2 + 2 + sizeof topic - 1 + 1);
        p[n++] = 0; p[n++] = 1;   /* packet id */
        p[n++] = 0; p[n++] = sizeof topic - 1; memcpy(p + n, topic, sizeof topic - 1); n += sizeof topic - 1;
        p[n++] = 0;   /* QoS 0 */
    } else {
        n = (size_t)snprintf((char *)p, sizeof p, "*2\r\n$9\r\nSUBSCRIBE\r\n$%zu\r\n%s\r\n", sizeof topic - 1, topic);
    }
    write_all(fd, p, n);
    /* MQTT: CONNACK (4 bytes) + SUBACK (5 bytes); RESP: *3 subscribe psload :1 */
    size_t want = mqtt ? 9 : (size_t)snprintf((char *)p, sizeof p, "*3\r\n$9\r\nsubscribe\r\n$%zu\r\n%s\r\n:1\r\n",
                                                sizeof topic - 1, topic), got = 0;
    while (got < want) {
        ssize_t k = read(fd, r + got, want - got);
        if (k <= 0) die("subscribe: connection closed");
        got += (size_t)k;
    }
    if (mqtt ? (r[0] != 0x20 || r[3] != 0 || r[4] != 0x90 || r[8] != 0) : memcmp(r, p, want) != 0)
        die("subscribe refused");
}

typedef struct sub { int fd; size_t len; uint8_t buf[65536]; } sub;

static int nsubs;
static sub *subs;
static int64_t nmsgs, capmsgs, *sent_us, *last_us;
static int32_t *got;
static uint8_t *seen;
static uint64_t dups, bad_frames;
static uint32_t *lat;
static size_t nlat;
static int64_t last_recv;

/* One message at p (payload "ps <seq> xxx"): record the delivery. */
static void deliver(int si, const uint8_t *p, size_t n, int64_t t)
{
    if (n < 4 || memcmp(p, "ps ", 3) != 0) { bad_frames++; return; }
    int64_t seq = strtoll((const char *)p + 3, NULL, 10);
    if (seq < 0 || seq >= nmsgs) { bad_frames++; return; }
    size_t bit = (size_t)si * (size_t)capmsgs + (size_t)seq;
    if (seen[bit >> 3] & (1u << (bit & 7))) { dups++; return; }
    seen[bit >> 3] |= (uint8_t)(1u << (bit & 7));
    int64_t us = t - sent_us[seq];
    lat[nlat++] = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    got[seq]++;
    last_us[seq] = t;
    if (t > last_recv) last_recv = t;
}

/* Complete messages in s->buf. RESP: *3\r\n$7\r\nmessage\r\n$6\r\npsload\r\n$N\r\n<N>\r\n;
 * MQTT: PUBLISH 0x30, remaining length, topic (u16 length + bytes), payload. */
static void sub_parse(int si, int64_t t)
{
    sub *s = &subs[si];
    size_t off = 0;
    for (;;) {
        uint8_t *p = s->buf + off;
        size_t left = s->len - off;
        if (mqtt) {
            size_t rl = 0, k = 1;
            int shift = 0;
            while (k < left && k < 5) { rl |= (size_t)(p[k] & 0x7f) << shift; shift += 7; if (!(p[k++] & 0x80)) break; }
            if (k >= left || (p[k - 1] & 0x80) || left < k + rl) break;
            if ((p[0] & 0xf0) == 0x30 && rl >= 2) {
                size_t tl = (size_t)p[k] << 8 | p[k + 1];
                if (2 + tl <= rl) deliver(si, p + k + 2 + tl, rl - 2 - tl, t); else bad_frames++;
            } else bad_frames++;
            off += k + rl;
        } else {
            static const char head[] = "*3\r\n$7\r\nmessage\r\n$6\r\npsload\r\n$";
            size_t hl = sizeof head - 1;
            if (left < hl + 3) break;
            if (memcmp(p, head, hl) != 0) die("unexpected RESP from the server");
            uint8_t *e = memmem(p + hl, left - hl, "\r\n", 2);
            if (!e) break;
            size_t plen = (size_t)strtoul((const char *)p + hl, NULL, 10), start = (size_t)(e + 2 - p);
            if (left < start + plen + 2) break;
            deliver(si, p + start, plen, t);
            off += start + plen + 2;
        }
    }
    memmove(s->buf, s->buf + off, s->len - off);
    s->len -= off;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(uint32_t *v, size_t n, double p)
{
    if (!n) return 0;
    size_t k = (size_t)(p / 100.0 * (double)n);
    return v[k >= n ? n - 1 : k] / 1000.0;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *proto = NULL;
    int port = 0, json = 0, srv_pid = 0;
    long psize = 300;
    double rate = 200, seconds = 4, wait_s = 10;
    nsubs = 1000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (ARG("--proto")) proto = v;
        else if (ARG("--port")) port = atoi(v);
        else if (ARG("--host")) host = v;
        else if (ARG("--clients")) nsubs = atoi(v);
        else if (ARG("--rate")) rate = atof(v);
        else if (ARG("--seconds")) seconds = atof(v);
        else if (ARG("--payload-size")) psize = atol(v);
        else if (ARG("--wait")) wait_s = atof(v);
        else if (ARG("--pid")) srv_pid = atoi(v);
        else if (strcmp(a, "--json") == 0) json = 1;
        else {
            fprintf(stderr, "usage: psload --proto resp|mqtt --port P [--clients 1000] [--rate 200] [--seconds 4]\n"
                            "              [--payload-size 300] [--wait 10] [--pid SERVER_PID] [--json]\n");
            return 2;
        }
    }
    if (!proto || (strcmp(proto, "resp") && strcmp(proto, "mqtt")) || port <= 0 || nsubs < 1 || rate <= 0 ||
        seconds <= 0 || psize < 24 || psize > 60000)
        die("bad arguments (--proto resp|mqtt and --port required; --payload-size 24..60000)");
    mqtt = strcmp(proto, "mqtt") == 0;
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) die("--host: not an IPv4 address");
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }

    int64_t t = now_us();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    subs = calloc((size_t)nsubs, sizeof *subs);
    if (!subs) die("out of memory");
    for (int i = 0; i < nsubs; i++) {
        if ((subs[i].fd = dial()) < 0) die("subscriber connect failed");
        subscribe(subs[i].fd, i);
        fcntl(subs[i].fd, F_SETFL, fcntl(subs[i].fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, subs[i].fd, &ev);
    }
    double t_subs = (now_us() - t) / 1e6;
    int pub = dial();
    if (pub < 0) die("publisher connect failed");
    if (mqtt) {   /* CONNECT the publisher, wait for CONNACK */
        uint8_t c[] = { 0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0x02, 0x58, 0, 4, 'p', 'u', 'b', '0' }, r[4];
        write_all(pub, c, sizeof c);
        size_t g = 0;
        while (g < 4) { ssize_t k = read(pub, r + g, 4 - g); if (k <= 0) die("publisher CONNECT failed"); g += (size_t)k; }
    }
    fcntl(pub, F_SETFL, fcntl(pub, F_GETFL) | O_NONBLOCK);
    struct epoll_event pev = { .events = EPOLLIN, .data.u64 = (uint64_t)1 << 32 };
    epoll_ctl(ep, EPOLL_CTL_ADD, pub, &pev);
    fprintf(stderr, "psload: %d %s subscribers ready in %.2f s\n", nsubs, mqtt ? "MQTT" : "RESP", t_subs);

    capmsgs = (int64_t)(rate * seconds + 0.5);
    sent_us = calloc((size_t)capmsgs, sizeof *sent_us);
    last_us = calloc((size_t)capmsgs, sizeof *last_us);
    got = calloc((size_t)capmsgs, sizeof *got);
    seen = calloc(((size_t)capmsgs * (size_t)nsubs + 7) / 8, 1);
    lat = malloc((size_t)capmsgs * (size_t)nsubs * sizeof *lat);
    if (!sent_us || !last_us || !got || !seen || !lat) die("out of memory");

    uint8_t *msg = malloc((size_t)psize + 256), rbuf[65536];
    struct epoll_event evs[1024];
    uint64_t pub_replies = 0, late = 0;
    double c0 = cpu_s(), s0 = proc_cpu_s(srv_pid);
    int64_t start = now_us(), end_send = 0, i = 0;
    for (;;) {
        t = now_us();
        while (i < capmsgs) {
            int64_t due = start + (int64_t)((double)i * 1e6 / rate);
            if (due > t) break;
            if (t - due > (int64_t)(1e6 / rate)) late++;
            char pl[64];
            int pn = snprintf(pl, sizeof pl, "ps %lld ", (long long)i);
            size_t n = 0;
            if (mqtt) {
                msg[n++] = 0x30;
                n += mqtt_len(msg + n, 2 + sizeof topic - 1 + (size_t)psize);
                msg[n++] = 0; msg[n++] = sizeof topic - 1;
                memcpy(msg + n, topic, sizeof topic - 1); n += sizeof topic - 1;
            } else {
                n = (size_t)snprintf((char *)msg, 128, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%ld\r\n",
                                     sizeof topic - 1, topic, psize);
            }
            memcpy(msg + n, pl, (size_t)pn);
            memset(msg + n + pn, 'x', (size_t)psize - (size_t)pn);
            n += (size_t)psize;
            if (!mqtt) { msg[n++] = '\r'; msg[n++] = '\n'; }
            nmsgs = i + 1;
            sent_us[i] = now_us();
            write_all(pub, msg, n);
            i++;
        }
        if (i >= capmsgs && !end_send) end_send = now_us();
        if (end_send) {
            int64_t have = 0;
            for (int64_t m = 0; m < nmsgs; m++) have += got[m];
            if (have == nmsgs * (int64_t)nsubs || t > end_send + (int64_t)(wait_s * 1e6)) break;
        }
        int timeout = 5;
        if (i < capmsgs) {
            int64_t due = start + (int64_t)((double)i * 1e6 / rate);
            timeout = due > t ? (int)((due - t + 999) / 1000) : 0;
        }
        int n = epoll_wait(ep, evs, 1024, timeout);
        t = now_us();
        for (int e = 0; e < n; e++) {
            uint64_t d = evs[e].data.u64;
            if (d >> 32) {   /* the publisher's replies (RESP: :N per PUBLISH): drained */
                ssize_t r = read(pub, rbuf, sizeof rbuf);
                if (r == 0) die("the server closed the publisher");
                for (ssize_t k = 0; k < r; k++) pub_replies += rbuf[k] == ':';
                continue;
            }
            sub *s = &subs[d];
            ssize_t r = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
            if (r < 0 && errno == EAGAIN) continue;
            if (r <= 0) die("a subscriber was closed by the server");
            s->len += (size_t)r;
            sub_parse((int)d, t);
            if (s->len == sizeof s->buf) die("message too big for the buffer");
        }
    }
    double tool_cpu = cpu_s() - c0, srv_cpu = s0 >= 0 ? proc_cpu_s(srv_pid) - s0 : -1;

    uint64_t expect = (uint64_t)nmsgs * (uint64_t)nsubs, have = nlat;
    uint32_t *comp = malloc((size_t)nmsgs * sizeof *comp);
    size_t nc = 0;
    for (int64_t m = 0; m < nmsgs; m++)
        if (got[m] == nsubs) comp[nc++] = (uint32_t)(last_us[m] - sent_us[m]);
    qsort(lat, nlat, sizeof *lat, cmp_u32);
    qsort(comp, nc, sizeof *comp, cmp_u32);
    double span = (last_recv - start) / 1e6, send_span = (end_send - start) / 1e6;
    double dps = have / (span > 0 ? span : 1e-9), per_cpu = srv_cpu > 0 ? have / srv_cpu : -1;
    printf("psload %s: %lld messages in %.2f s (%.1f/s, %llu late), %d subscribers: %llu of %llu deliveries "
           "(missing %llu, duplicate %llu) in %.2f s: %.0f deliveries/s; delivery latency p50 %.2f ms, p99 %.2f ms, "
           "max %.2f ms; all subscribers p50 %.2f ms, p99 %.2f ms; tool CPU %.2f s; server CPU %.2f s "
           "(%.2f us/delivery, %.0f deliveries per server CPU-second)\n",
           proto, (long long)nmsgs, send_span, nmsgs / (send_span > 0 ? send_span : 1e-9), (unsigned long long)late,
           nsubs, (unsigned long long)have, (unsigned long long)expect, (unsigned long long)(expect - have),
           (unsigned long long)dups, span, dps, pct(lat, nlat, 50), pct(lat, nlat, 99), nlat ? lat[nlat - 1] / 1000.0 : 0,
           pct(comp, nc, 50), pct(comp, nc, 99), tool_cpu, srv_cpu, have ? srv_cpu * 1e6 / (double)have : 0, per_cpu);
    int bad = have != expect || dups || bad_frames;
    if (json)
        printf("{\"proto\":\"%s\",\"clients\":%d,\"payload_size\":%ld,\"setup_s\":%.2f,\"steady\":{\"messages\":%lld,"
               "\"send_seconds\":%.3f,\"msgs_per_s\":%.1f,\"late\":%llu,\"deliveries\":%llu,\"expected\":%llu,"
               "\"span_s\":%.3f,\"deliveries_per_s\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
               "\"complete_p50_ms\":%.3f,\"complete_p99_ms\":%.3f,\"tool_cpu_s\":%.2f,\"server_cpu_s\":%.2f,"
               "\"server_us_per_delivery\":%.3f,\"deliveries_per_cpu_s\":%.0f},\"duplicates\":%llu,"
               "\"bad_frames\":%llu,\"publish_replies\":%llu,\"ok\":%s}\n",
               proto, nsubs, psize, t_subs, (long long)nmsgs, send_span, nmsgs / (send_span > 0 ? send_span : 1e-9),
               (unsigned long long)late, (unsigned long long)have, (unsigned long long)expect, span, dps,
               pct(lat, nlat, 50), pct(lat, nlat, 99), nlat ? lat[nlat - 1] / 1000.0 : 0, pct(comp, nc, 50),
               pct(comp, nc, 99), tool_cpu, srv_cpu, have ? srv_cpu * 1e6 / (double)have : 0, per_cpu,
               (unsigned long long)dups, (unsigned long long)bad_frames, (unsigned long long)pub_replies,
               bad ? "false" : "true");
    fflush(stdout);
    return bad;
}
