/* loop.c — the one poll() loop: the listening socket, the connection table, the password
 * worker's wake-up pipe, idle timeouts, and the end-of-turn group commit (one fdatasync
 * for every write of the turn, then their responses are released; like Redis's
 * beforeSleep). Also the orderly shutdown on SIGTERM/SIGINT. */
#include "server.h"
#include <netdb.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The one piece of state outside the server struct: a signal handler can reach nothing else. */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

int server_listen(server *s)
{
    char port[8];
    struct addrinfo *ai, hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                                   .ai_socktype = SOCK_STREAM };
    snprintf(port, sizeof port, "%d", s->cfg.port);
    if (getaddrinfo(s->cfg.bind_addr, port, &hints, &ai) != 0) {
        fprintf(stderr, "chatd: --bind %s: not an IPv4 or IPv6 address\n", s->cfg.bind_addr);
        return -1;
    }
    struct sockaddr_storage sa;
    socklen_t len = ai->ai_addrlen;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, len) < 0 || listen(fd, 1024) < 0) {
        fprintf(stderr, "chatd: --bind %s --port %d: cannot listen: %s\n", s->cfg.bind_addr, s->cfg.port,
                strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    getsockname(fd, (struct sockaddr *)&sa, &len);   /* the chosen port for --port 0 */
    getnameinfo((struct sockaddr *)&sa, len, NULL, 0, port, sizeof port, NI_NUMERICSERV);
    s->cfg.port = atoi(port);
    s->listen_fd = fd;
    return 0;
}

static void peer_name(const struct sockaddr_storage *ss, socklen_t len, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN] = "?", port[8] = "0";
    int flags = NI_NUMERICHOST | NI_NUMERICSERV;
    getnameinfo((const struct sockaddr *)ss, len, ip, sizeof ip, port, sizeof port, flags);
    snprintf(out, n, "%s:%s", ip, port);
}

/* Over a cap: a best-effort 503 on the still-blocking-free socket, then close. */
static void refuse(server *s, int fd, const char *why)
{
    char head[512];
    buf_t *b = buf_reset(&s->scratch);
    view_error(b, 0, "unavailable", why);
    buf_putc(b, '\n');
    int n = snprintf(head, sizeof head, "HTTP/1.1 503 Service Unavailable\r\nDate: %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%.*s",
                     server_date(s), b->len, (int)b->len, b->data);
    store_write_all(fd, head, (size_t)n);   /* what does not fit at once is lost with the close */
    close(fd);
    s->m.conns_rejected++;
}

/* The address part of "ip:port" (IPv6 too): the key of the per-address connection count. */
static size_t ip_len(const char *addr)
{
    const char *p = strrchr(addr, ':');
    return p ? (size_t)(p - addr) : strlen(addr);
}

static void accept_all(server *s)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept(s->listen_fd, (struct sockaddr *)&ss, &sl);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return;   /* EAGAIN, or EMFILE: try again next turn */
        }
        fcntl(fd, F_SETFD, FD_CLOEXEC);   /* a fresh socket has no other status flags to keep */
        if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 || s->nconns >= (size_t)s->cfg.max_conns) {
            refuse(s, fd, "too many open connections");
            continue;
        }
        char addr[64];
        peer_name(&ss, sl, addr, sizeof addr);
        uint64_t *per = s->cfg.max_conns_per_ip ? map_get(&s->per_ip, addr, ip_len(addr)) : NULL;
        if (per && *per >= (uint64_t)s->cfg.max_conns_per_ip) {
            refuse(s, fd, "too many connections from this address");
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn *c = conn_new(s, fd, addr);
#ifdef CHATD_TLS
        if (s->tls && !(c->tls = tls_conn_new(s->tls, fd))) { conn_free(c); continue; }
#endif
        c->slot = s->nconns;
        s->conns[s->nconns++] = c;
        if (per) ++*per;
        else if (s->cfg.max_conns_per_ip) map_put(&s->per_ip, addr, ip_len(addr), 1);
        conn_wake(s, c);
        s->m.conns_accepted++;
    }
}

static conn *find_conn(server *s, uint64_t id)
{
    for (size_t i = 0; i < s->nconns; i++)
        if (s->conns[i]->id == id) return s->conns[i];
    return NULL;
}

/* Password hashes finished by the worker: finish their requests, in submit order. */
static void hashes_done(server *s)
{
    hash_job *j = hasher_take(&s->hs);
    while (j) {
        hash_job *next = j->next;
        s->m.hashes++;
        conn *c = find_conn(s, j->conn_id);
        if (c && c->state != CONN_WAIT_HASH) c = NULL;
        if (c) c->state = CONN_HTTP;
        j->done(s, c, j);   /* without a client, it still counts for the login throttle */
        if (c) conn_process(s, c);
        hash_job_free(j);
        j = next;
    }
}

/* End of turn: one fdatasync covers every write made in it; only then does what was queued since
 * the first go out (any answer, event or close may reveal a write). A failed fdatasync leaves
 * memory ahead of the disk: exit, and let the restart rebuild the indexes from the log. */
static void commit_turn(server *s)
{
    if (!s->commit_pending) return;
    if (store_sync(&s->st) < 0) {
        fprintf(stderr, "chatd: fdatasync %s: %s; exiting\n", s->st.path, strerror(errno));
        exit(1);
    }
    s->m.fsyncs++;
    s->commit_pending = 0;
    for (size_t i = 0; i < s->nhot; i++)   /* output is queued only on hot connections */
        if (s->conns[i]->wait_commit) conn_release(s->conns[i]);
}

static void log_flush(server *s)
{
    fflush(stderr);   /* keep order with lines written directly */
    store_write_all(2, s->log.data, s->log.len);   /* a stderr we cannot write to loses log lines only */
    buf_release(&s->log, 64 * 1024);
}

static int conn_busy(const conn *c)
{
    return c->out_sent < c->out.len || c->wait_commit || c->state == CONN_WAIT_HASH || c->in.len ||
           c->replay_off || c->close_after || (c->tls && tls_want_write(c->tls));
}

/* After a full turn: the hot connections that had nothing to do for CONN_HOT_MS go cold. */
static void cool_down(server *s)
{
    for (size_t i = s->nhot; i-- > 0;) {
        conn *c = s->conns[i];
        if (!conn_busy(c) && s->now_ms - c->last_ms > CONN_HOT_MS) conn_swap(s, i, --s->nhot);
    }
}

static void close_at(server *s, size_t i)
{
    conn *c = s->conns[i];
    if (c->on_close) c->on_close(s, c);
    uint64_t *per = s->cfg.max_conns_per_ip ? map_get(&s->per_ip, c->addr, ip_len(c->addr)) : NULL;
    if (per && --*per == 0) map_del(&s->per_ip, c->addr, ip_len(c->addr));
    hash_job *j = c->state == CONN_WAIT_HASH ? hasher_cancel(&s->hs, c->id) : NULL;
    if (j) j->dropped(s, j);   /* not hashed yet: nobody is left to answer */
    /* a hot one first trades places with the last hot one, which shrinks the hot tier by
     * one; then it trades with the very last, which leaves the array */
    if (i < s->nhot) conn_swap(s, i, --s->nhot), i = s->nhot;
    conn_swap(s, i, --s->nconns);
    conn_free(c);
}

/* Flush what may be sent; close the dead, the finished and the idle. The first n slots: the hot ones,
 * or all on a full turn. Streams with only presence events queued (lazy) write in one turn of every
 * 1 + nstreams / STREAM_WRITES: a burst of them is ~STREAM_WRITES writes a turn, each carrying several. */
static void sweep(server *s, size_t n)
{
    int64_t idle = (int64_t)s->cfg.idle_timeout_s * 1000;
    size_t every = 1 + s->nstreams / STREAM_WRITES;
    for (size_t i = n; i-- > 0;) {
        conn *c = s->conns[i];
        int busy = c->state == CONN_WAIT_HASH || c->out_sent < c->out.len;
        int quiet = !busy && c->in.len == 0;
        /* no progress either way for that long: an idle keep-alive, a client that stopped
         * reading, or a dropped stream whose peer never drains what is left */
        int stuck = (c->kind == KIND_HTTP || c->close_after) && c->state != CONN_WAIT_HASH &&
                    s->now_ms - c->last_ms > idle;
        if (c->kind == KIND_HTTP && c->state == CONN_HTTP && !c->close_after && c->in.len &&
            s->now_ms - c->req_ms > (int64_t)s->cfg.request_timeout_s * 1000)
            conn_timeout(s, c);   /* slowloris: trickling bytes must not hold a slot forever */
        int flushed = c->lazy && (c->id + s->turn) % every ? 0 : conn_flush(s, c);
        /* output drained below the mark: go on with requests already read (pipelining) */
        if (flushed == 0 && c->kind == KIND_HTTP && c->state == CONN_HTTP && !c->close_after &&
            c->in.len && c->out.len - c->out_sent < CONN_OUT_HIGH)
            conn_process(s, c);
        if (flushed < 0 || stuck || (s->stopping && quiet))
            close_at(s, c->slot);   /* handling may have woken it into another slot */
    }
}

/* The pollfds of the first n connections, after the hasher's pipe and the listener. */
static void build_pollset(server *s, struct pollfd *p, size_t n)
{
    p[0] = (struct pollfd){ s->hs.pipe[0], POLLIN, 0 };
    p[1] = (struct pollfd){ s->stopping ? -1 : s->listen_fd, POLLIN, 0 };
    for (size_t i = 0; i < n; i++) {
        conn *c = s->polled[i] = s->conns[i];
        short ev = conn_wants_read(c) ? POLLIN : 0;
        if (c->out_sent < c->out_ready || (c->tls && tls_want_write(c->tls))) ev |= POLLOUT;
        p[i + 2] = (struct pollfd){ c->fd, ev, 0 };
    }
}

static void handle_events(server *s, struct pollfd *p, size_t n)
{
    if (p[0].revents) hashes_done(s);
    /* Handling wakes connections (reordering conns), so pollfd i is polled[i-2]'s; nothing
     * is closed before the sweep. Connections accepted now are not in p. */
    for (size_t i = 2; i < n; i++) {
        conn *c = s->polled[i - 2];
        if (!p[i].revents) continue;
        conn_wake(s, c);
        int tls_turn = c->tls && (p[i].revents & POLLOUT) && tls_want_write(c->tls);   /* handshake */
        int readable = (p[i].revents & (POLLIN | POLLHUP | POLLERR)) || tls_turn;
        if (readable && conn_on_readable(s, c) < 0) { c->in.len = 0; conn_close(c); }
    }
    if (p[1].revents & POLLIN) accept_all(s);
}

void server_hook(server *s, int each_second, void (*run)(server *), int (*pending)(const server *))
{
    if (s->nhooks == MAX_HOOKS) abort();   /* a fixed set, registered at start-up */
    s->hooks[s->nhooks++] = (hook){ run, pending, each_second };
}

int server_run(server *s)
{
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct pollfd *pfds = xmalloc(((size_t)s->cfg.max_conns + 2) * sizeof *pfds);   /* never more */
    s->conns = xmalloc((size_t)s->cfg.max_conns * sizeof *s->conns);   /* (accept_all refuses more) */
    s->polled = xmalloc((size_t)s->cfg.max_conns * sizeof *s->polled);
    int64_t deadline = 0;
    int quiet = 1;   /* the last poll found nothing: make the next one full (and sleep) */
    for (;;) {
        if (stop_signal && !s->stopping) {
            fprintf(stderr, "chatd: signal %d: finishing in-flight requests\n", (int)stop_signal);
            s->stopping = 1;
            close(s->listen_fd);
            deadline = now_ms() + (int64_t)s->cfg.shutdown_grace_s * 1000;
        }
        if (s->stopping && (s->nconns == 0 || now_ms() > deadline)) break;
        /* A full turn polls every connection; in between, while the hot ones keep the loop
         * busy, only they are: poll() costs in proportion to the fds it is given, and thousands
         * of idle keep-alive connections must not slow down the busy few (so: ~2% of the loop). */
        int64_t since = s->now_ms - s->full_ms;
        int full = quiet || s->stopping || since >= POLL_COLD_MS(s);
        size_t n = full ? s->nconns : s->nhot;
        build_pollset(s, pfds, n);
        /* no sleeping while writes made after this turn's commit wait, or a hook has more to do */
        int busy = s->commit_pending;
        for (int i = 0; i < s->nhooks; i++) busy |= s->hooks[i].pending && s->hooks[i].pending(s);
        int timeout = busy ? 0 : full ? 1000 : (int)(POLL_COLD_MS(s) - since);
        int r = poll(pfds, n + 2, timeout);
        s->now_ms = now_ms();
        if (full) s->full_ms = s->now_ms;
        s->turn++;
        quiet = r == 0;
        if (r < 0 && errno != EINTR) { perror("chatd: poll"); break; }
        if (r > 0) handle_events(s, pfds, n + 2);
        /* once a second: cold connections have nothing to flush, they only need the
         * idle-timeout check, and streams their heartbeat */
        int all = s->stopping || s->now_ms - s->swept_ms >= 1000;
        for (int i = 0; i < s->nhooks; i++)
            if (all || !s->hooks[i].each_second) s->hooks[i].run(s);
        commit_turn(s);
        sweep(s, all ? s->nconns : s->nhot);
        if (all) s->swept_ms = s->now_ms;
        if (full) cool_down(s);
        log_flush(s);
    }
    free(pfds); free(s->polled);
    while (s->nconns) close_at(s, s->nconns - 1);
    log_flush(s);
    return 0;
}
