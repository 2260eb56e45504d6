/* server.h — the server's one context struct, the connection struct, and the functions
 * the loop, the connections, the router and the handlers share. */
#ifndef CHATD_SERVER_H
#define CHATD_SERVER_H
#include "auth.h"
#include "buf.h"
#include "db.h"
#include "http.h"
#include "json.h"
#include "map.h"
#include "store.h"
#include "tls.h"
#include "policy.h"
#include "views.h"
#include "ws.h"
#include <stdint.h>

#define MAX_CORS_ORIGINS 8
#define CONN_OUT_HIGH (256 * 1024)   /* stop reading/parsing above this much unsent output */
/* Two-tier polling: a connection idle this long (and with nothing pending) goes cold, and
 * cold ones are polled only every 25 ms per 2,500 of them while hot ones keep the loop busy (an
 * idle loop sleeps in a poll of everything, so a cold one then waits no longer). */
#define CONN_HOT_MS 1000
#define POLL_COLD_MS(s) ((int64_t)(25 * (1 + ((s)->nconns - (s)->nhot) / 2500)))
#define STREAM_WRITES 64   /* writes to event streams per loop turn, about (loop.c) */
#define TYPING_EVERY_MS 2000   /* typing relayed at most this often per user and conversation */

typedef struct config {
    const char *bind_addr, *data_dir;
    int port, fsync_always, max_conns, idle_timeout_s, shutdown_grace_s;
    int request_timeout_s; /* a request must arrive whole within this (408) */
    uint32_t pbkdf2_iters;
    int hash_queue;        /* password jobs that may wait for the worker (0: no limit) */
    int heartbeat_s;       /* SSE comment / WebSocket ping interval */
    size_t stream_queue;   /* unsent bytes a stream may hold before it is dropped */
    size_t ws_max_msg;     /* largest WebSocket message accepted (1009 above) */
    size_t max_response;   /* list bodies are cut to fit this while they are built */
    size_t cache_mb;       /* MiB of the log's tail kept in memory for reads (0: none) */
    int max_conns_per_ip;  /* open connections per client address (0: no limit) */
    int max_streams_per_user;   /* open SSE/WebSocket streams per user (0: no limit) */
    int presence_grace_s;  /* a user stays online this long after the last stream closed */
    int write_rate;        /* writes a second per user, bursts of 5x (0: no limit) */
    int register_rate;     /* registrations per client address in any 60 s (0: no limit) */
    int64_t token_ttl_s;   /* tokens stop working this long after they were issued (0: never) */
    int compact_pct;       /* compact when obsolete records pass this % of all (0: never) */
    uint64_t compact_min;  /* ... and at least this many are obsolete */
    int erase_within_s;    /* compact when a deleted/replaced body is older than this (0: never) */
    http_limits http;
    const char *tls_cert, *tls_key;   /* PEM files; TLS builds only */
    const char *cors[MAX_CORS_ORIGINS];
    int ncors;
} config;

enum { CONN_HTTP, CONN_WAIT_HASH };
enum { KIND_HTTP, KIND_SSE, KIND_WS };

/* What a response needs to know about its request, kept past the request bytes. */
typedef struct req_info {
    int head;              /* HEAD: headers only */
    int keep_alive;
    int http10;
    int64_t start_ms;
    char origin[256];      /* Origin header when CORS applies ("" otherwise) */
    char line[160];        /* "GET /path" for the access log, token redacted */
} req_info;

struct server;
typedef struct conn {
    struct server *srv;    /* the server it belongs to (for conn_ready's wake-up) */
    size_t slot;           /* its index in srv->conns */
    int fd, state;         /* state: CONN_* */
    tls_conn *tls;         /* owned; NULL without TLS */
    uint64_t id;
    char addr[64];
    buf_t in;              /* owned: bytes read, the current request starts at in.data */
    buf_t out;             /* owned: responses */
    size_t out_sent;       /* bytes of out written to the socket */
    size_t out_ready;      /* bytes of out that may be written (the rest wait for fsync) */
    int wait_commit;       /* output queued while a write waits for the fsync: hold it until then */
    int close_after;       /* close once out is flushed; read nothing more */
    int sent_continue;
    int lazy;              /* a stream with only presence events queued: they may wait (loop.c) */
    int64_t last_ms;       /* last activity, for the idle timeout */
    int64_t req_ms;        /* when the unfinished request in `in` began (slowloris guard) */
    http_parser hp;        /* owned */
    char auth_text[48];    /* the last bearer token presented here, and its hash */
    uint8_t auth_hash[32];
    size_t auth_len;
    req_info ri;
    /* event streams (kind SSE or WS) */
    int kind;              /* KIND_* */
    uint32_t uid;          /* the stream's user */
    uint8_t tok[32];       /* hash of the token it was opened with: revoked -> closed */
    uint64_t replay_off;   /* next log offset to replay; 0 once live */
    uint64_t replay_after; /* replay skips events with an id <= this */
    int64_t beat_ms;       /* last heartbeat */
    ws_reader wsr;         /* owned (WS) */
    /* set by an upgrade (streams.c): what reads its input from then on, what must know it went */
    void (*on_input)(struct server *, struct conn *), (*on_close)(struct server *, struct conn *);
} conn;

typedef struct metrics {
    uint64_t req_by_class[6];   /* [1]..[5] = 1xx..5xx */
    uint64_t conns_accepted, conns_rejected;
    uint64_t writes_failed, fsyncs, compactions;
    uint64_t hashes, hash_dropped, hash_busy;   /* password jobs hashed, dropped, refused */
} metrics;

/* Event bookkeeping: where to start a replay, and scratch for rendering events. */
typedef struct events {
    uint64_t history_from; /* seq of the last compaction's META: replay reaches back to it */
    uint64_t *mark_seq, *mark_off;   /* owned: every EVENT_MARK_EVERY-th record */
    size_t nmarks, capmarks;
    uint64_t nrecords;
    uint32_t *rcpt;        /* owned: recipients of the event being rendered */
    uint32_t nrcpt, caprcpt;
    uint8_t *flag;         /* owned: per user id, set while fanning out */
    uint32_t capflag;
    buf_t json, frame, rd; /* owned scratch */
    const char *name;      /* type of the event in json ("message.created", ...) */
} events;

#define EVENT_MARK_EVERY 256   /* replay start points: one per this many records */

/* An online compaction in progress (compact.c). */
typedef struct compactor {
    int active, fd;
    char *tmp;             /* owned: "<log>.compact" */
    uint64_t upto;         /* seq of the META record that starts it */
    uint64_t read_off;     /* next record of the live log to examine */
    uint64_t write_off;    /* bytes written to the copy */
    uint64_t nrec, old_size;
    int64_t started_ms;
    buf_t out, rd;         /* owned */
    uint64_t *map_old, *map_new;   /* owned: record offsets old -> new (bodies, tail) */
    size_t nmap, capmap;
    db_alive alive;        /* owned: what existed at P */
    uint64_t *mk_seq, *mk_off;     /* owned: replay marks for the new file */
    size_t nmk, capmk;
    int64_t retry_ms, backoff_ms;  /* after an abandoned one: no new start before retry_ms */
    int64_t stale_since_ms;        /* when the oldest body still to erase became stale (0: none) */
    uint64_t stale_at_start;       /* db.stale_bodies when this compaction started */
} compactor;

/* Work the loop runs each turn after the I/O, in the order registered (like Redis's beforeSleep):
 * every turn, or once a second (and while stopping); pending (or NULL): more to do at once, so
 * poll() must not sleep. */
typedef struct hook {
    void (*run)(struct server *);
    int (*pending)(const struct server *);
    int each_second;
} hook;
#define MAX_HOOKS 8

typedef struct server {
    config cfg;
    store st;
    db db;
    events ev;
    compactor cp;
    hasher hs;
    map throttle;          /* lower-cased username -> failed-login window */
    map typing;            /* (user, conversation) -> when its last typing was relayed */
    map per_ip;            /* client address -> open connections (with --max-conns-per-ip) */
    buf_t away; int64_t away_next;   /* owned: ids (u32) whose presence may change, none before */
    map write_tat;         /* user id -> its write bucket (--write-rate; see router.c) */
    map reg_times;         /* client address -> its last registrations (--register-rate; auth.h) */
    int64_t typing_swept_ms, tokens_swept_ms;
    metrics m;
    int listen_fd, stopping;
    tls_server *tls;       /* owned; NULL without TLS */
    conn **conns;          /* owned, compact array of max_conns: conns[0..nhot) are the hot ones */
    size_t nconns, nhot;
    conn **polled;         /* owned: polled[i] is the conn of pollfd i + 2 this turn */
    int64_t full_ms;       /* when all connections were last polled */
    int64_t swept_ms;      /* ... and swept */
    size_t turn;           /* loop turns so far: replays take turns going first, streams writing */
    size_t nstreams;       /* connections that are SSE or WebSocket streams */
    uint64_t next_conn_id;
    int64_t now_ms;
    int commit_pending;    /* a record was appended this turn */
    buf_t scratch;         /* owned: response bodies are built here */
    buf_t rec;             /* owned: record payloads are built here */
    buf_t log;             /* owned: access-log lines, written to stderr once per turn */
    char date[30]; int64_t date_s;   /* cached Date header value, and its second */
    hook hooks[MAX_HOOKS];
    int nhooks;
} server;

/* loop.c */
int server_listen(server *s);
int server_run(server *s);
void server_hook(server *s, int each_second, void (*run)(server *), int (*pending)(const server *));

/* conn.c */
conn *conn_new(server *s, int fd, const char *addr);
void conn_free(conn *c);
int conn_on_readable(server *s, conn *c);   /* -1: close it */
int conn_flush(server *s, conn *c);         /* -1: close it */
void conn_process(server *s, conn *c);
int conn_wants_read(const conn *c);
void conn_timeout(server *s, conn *c);      /* 408 and close */

/* router.c: dispatch to the resources' route tables (each ends with a NULL path). A path is
 * fixed ("/api/users") or holds ":id" once ("/api/users/:id"): the handler gets the id (else 0). */
typedef void (*route_fn)(server *s, conn *c, http_req *r, int64_t id);
typedef struct route_def {
    const char *path;
    route_fn get, post, put, del;   /* NULL: 405 (GET serves HEAD too) */
    int unmetered;                  /* not counted by --write-rate (register, login) */
} route_def;
void route(server *s, conn *c, http_req *r);
/* web.c, the browser client built into the binary: answers a request for "/" or one of its
 * files (GET, HEAD, OPTIONS; 405 for the rest) and returns 1; 0, answering nothing, for any other path. */
int web_route(server *s, conn *c, http_req *r, const char *path, size_t n);

/* request.c */
user *auth_user(server *s, conn *c, http_req *r, uint32_t *uid, uint8_t tokhash[32]);
user *token_user(server *s, conn *c, const char *text, size_t n, uint32_t *uid, uint8_t tokhash[32]);
const jval *parse_body(server *s, conn *c, http_req *r, jdoc *doc);
int over_write_rate(server *s, conn *c, http_req *r);          /* 1: answered 429 */
void invalid(server *s, conn *c, const char *message);        /* 400 validation_failed */
int get_str(const jval *obj, const char *key, const jval **v); /* 1 string, 0 absent/null, -1 other */
size_t utf8_chars(const char *p, size_t n);
int64_t parse_id(const char *s, size_t n);   /* a positive decimal id, else -1 */

/* commit.c */
void server_stage(server *s, uint8_t type);            /* s->rec joins the change server_commit writes */
int server_commit(server *s, conn *c, uint8_t type);   /* append s->rec; -1: answered 507 */
int server_append(server *s, uint8_t type, uint64_t *seq, uint64_t *off);   /* -1: errno */

/* respond.c */
int64_t now_ms(void);
void conn_swap(server *s, size_t i, size_t j);   /* two slots of the connection table */
void conn_wake(server *s, conn *c);         /* make it hot: polled and swept every turn */
void conn_release(conn *c);                 /* output held for fsync may go now */
void conn_ready(conn *c);                   /* what is queued may go, unless held for fsync */
void conn_close(conn *c);                   /* close once what is queued has gone */
void req_info_set(server *s, conn *c, const http_req *r);   /* what the access log needs */
const char *server_date(server *s);       /* cached IMF-fixdate for Date headers */
void respond(server *s, conn *c, int status, const char *ctype, const char *body, size_t len,
             const char *extra_headers);
void respond_json(server *s, conn *c, int status, const buf_t *body);
void respond_error(server *s, conn *c, int status, const char *code, const char *msg);
void respond_error_x(server *s, conn *c, int status, const char *code, const char *msg,
                     const char *extra_headers);
void respond_stream_head(server *s, conn *c, int status, const char *ctype, const char *extra);
void respond_empty(server *s, conn *c, int status, const char *extra_headers);
int respond_no(server *s, conn *c, const policy_no *no);   /* answers a refusal: 1; 0 when no is NULL */

/* events.c */
void events_note(server *s, uint64_t seq, uint8_t type, uint64_t rec_off);
void events_publish(server *s, uint64_t seq, uint8_t type, const uint8_t *p, uint32_t len);
void events_presence(server *s, uint32_t uid, int online, int64_t seen_ms);
void events_pump(server *s);
int events_pending(const server *s);        /* a replay can go on: do not sleep */
void events_heartbeat(server *s);
void events_free(events *e);
int is_stream(const conn *c);
void stream_send(server *s, conn *c, uint64_t id, const char *type, const buf_t *json);
void check_backlog(server *s, conn *c);
void stream_resync(server *s, conn *c);
uint64_t replay_start(const events *e, uint64_t after);
void streams_revoke(server *s);
void tokens_expire(server *s);                    /* once a second */
void events_rebase(server *s, uint64_t upto, uint64_t nrec, uint64_t *mk_seq, uint64_t *mk_off, size_t nmk,
                   uint64_t (*new_off)(const server *, uint64_t));   /* after a compaction; takes mk_* */

void presence_stream(server *s, uint32_t uid, int opened);   /* presence.c: a stream opened/closed */
void presence_turn(server *s);         /* a hook: tell the changes, log last_seen_at */
int presence_due(const server *s);     /* ... has one to make now */
/* compact.c */
void compact_cleanup(const char *dir);
void compact_maybe(server *s);   /* once per loop turn */
int compact_busy(const server *s);
int compact_offline(server *s);

#endif
