/* api_messages.c — messages: paginated listing (one conversation or all of the caller's),
 * read, post (with Idempotency-Key), edit, delete. Bodies are read back from the log with
 * pread(); only their offset and length live in memory. */
#include "server.h"
#include <stdlib.h>
#include <string.h>

#define LIMIT_DEFAULT 50
#define LIMIT_MAX 200

/* Append the message as it is now; -1 if its body could not be read back. */
static int put_msg(server *s, buf_t *b, uint32_t id) { return view_msg_now(b, &s->db, &s->st, id); }

/* {"message":...}. body: the one just written (the request has it), or NULL: read it back. */
static void respond_msg(server *s, conn *c, int status, uint32_t id, const char *body)
{
    buf_t *b = buf_reset(&s->scratch);
    buf_puts(b, "{\"message\":");
    if (body) view_msg(b, id, &s->db.msgs[id - 1], body, s->db.msgs[id - 1].body_len);
    else if (put_msg(s, b, id) < 0) b = NULL;
    if (!b) { respond_error(s, c, 500, "internal_error", "could not read the message"); return; }
    buf_putc(b, '}');
    respond_json(s, c, status, b);
}

/* The message if the caller may see it (a member of its conversation) and, when own, is its
 * author; else answer 401, 404 or 403 and NULL. */
static msg *find_msg(server *s, conn *c, http_req *r, int64_t id, int own)
{
    uint32_t uid;
    msg *m;
    if (!auth_user(s, c, r, &uid, NULL)) return NULL;
    respond_no(s, c, policy_msg(&s->db, id, uid, own, &m));
    return m;
}

/* Query parameter as a positive integer in [1, max]: 1 set, 0 absent, -1 invalid. */
static int query_int(http_req *r, const char *name, int64_t max, int64_t *out)
{
    char v[24];
    long n = http_query_get(r->query, r->query_len, name, v, sizeof v);
    if (n == -1) return 0;
    uint64_t x;
    if (n < 0 || http_uint(v, (size_t)n, 0, 18, &x) < 0 || x > (uint64_t)max) return -1;
    *out = (int64_t)x;
    return 1;
}

typedef struct page { int64_t before, after, limit; uint32_t *ids; size_t n; uint64_t total; } page;

/* Add one conversation's candidates: at most limit ids next to the cursor, and count
 * every id on the cursor's side (for has_more). */
static void page_add(page *p, const conv *cv)
{
    uint32_t lo, hi;
    if (p->after) {
        lo = conv_msg_pos(cv, (uint32_t)p->after, 1);
        hi = cv->nmsgs - lo > p->limit ? lo + (uint32_t)p->limit : cv->nmsgs;
        p->total += cv->nmsgs - lo;
    } else {
        hi = p->before ? conv_msg_pos(cv, (uint32_t)p->before, 0) : cv->nmsgs;
        lo = hi > p->limit ? hi - (uint32_t)p->limit : 0;
        p->total += hi;
    }
    if (hi > lo) memcpy(p->ids + p->n, cv->msgs + lo, (hi - lo) * sizeof *p->ids);
    p->n += hi - lo;
}

static int by_id(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The page in ascending id order, its body kept within --max-response while it is built (a
 * page always holds one message): with `after` the oldest that fit are kept, else the newest
 * (the ones next to the cursor), so the next page goes on exactly where this one ended.
 * Newest-first pages are rendered backwards, then each message is copied after them in
 * order and the whole moved down. */
static void respond_page(server *s, conn *c, page *p)
{
    static const char tail[] = "],\"has_more\":false}";
    qsort(p->ids, p->n, sizeof *p->ids, by_id);
    size_t from = 0, to = p->n, len[LIMIT_MAX], k = 0;
    if (p->n > (size_t)p->limit && p->after) to = (size_t)p->limit;
    else if (p->n > (size_t)p->limit) from = p->n - (size_t)p->limit;
    size_t most = 0;   /* the page's longest JSON: if it fits, render it in order, newest or not */
    for (size_t i = from; i < to; i++) most += s->db.msgs[p->ids[i] - 1].body_len * 6 + 256;
    int more = p->total > (uint64_t)p->limit, up = p->after != 0 || most < s->cfg.max_response;
    buf_t *b = buf_reset(&s->scratch);
    buf_puts(b, "{\"messages\":[");
    size_t start = b->len;
    for (size_t i = 0; i < to - from; i++) {
        size_t at = b->len;
        if (put_msg(s, b, p->ids[up ? from + i : to - 1 - i]) < 0) {
            respond_error(s, c, 500, "internal_error", "could not read a message");
            return;
        }
        buf_putc(b, ',');
        if (k && b->len - 1 + sizeof tail - 1 > s->cfg.max_response) {
            b->data[b->len = at] = 0;
            more = 1;
            break;
        }
        len[k++] = b->len - at;
    }
    if (!up) {
        size_t end = b->len;
        buf_reserve(b, end - start);   /* no move while copying from itself */
        for (size_t i = k, at = end; i-- > 0;) buf_append(b, b->data + (at -= len[i]), len[i]);
        memmove(b->data + start, b->data + end, end - start);
        b->data[b->len = end] = 0;
    }
    if (k) b->len--;   /* the last comma */
    buf_puts(b, more ? "],\"has_more\":true}" : tail);
    respond_json(s, c, 200, b);
}

static void api_msg_list(server *s, conn *c, http_req *r, int64_t id)
{
    uint32_t uid;
    const user *u = auth_user(s, c, r, &uid, NULL);
    if (!u) return;
    page p = { .limit = LIMIT_DEFAULT };
    int64_t cid = 0;
    const int64_t big = 999999999999999999;
    if (query_int(r, "conversation_id", big, &cid) < 0 || query_int(r, "before", big, &p.before) < 0 ||
        query_int(r, "after", big, &p.after) < 0 || query_int(r, "limit", LIMIT_MAX, &p.limit) < 0) {
        invalid(s, c, "conversation_id, before, after: positive integers; limit: 1-200");
        return;
    }
    if (p.before && p.after) { invalid(s, c, "before and after cannot be combined"); return; }
    if (p.before > UINT32_MAX) p.before = UINT32_MAX;   /* ids are 32-bit: beyond is "all" */
    if (p.after > UINT32_MAX) p.after = UINT32_MAX;
    if (cid && !policy_conv(&s->db, cid, uid)) {
        respond_error(s, c, 404, "not_found", "no such conversation");
        return;
    }
    uint32_t one = (uint32_t)cid, *ids = cid ? &one : u->convs, n = cid ? 1 : u->nconvs;   /* the caller's */
    p.ids = xmalloc(((size_t)n * (size_t)p.limit + 1) * sizeof *p.ids);
    for (uint32_t i = 0; i < n; i++) page_add(&p, &s->db.convs[ids[i] - 1]);
    respond_page(s, c, &p);
    free(p.ids);
}

static void api_msg_get(server *s, conn *c, http_req *r, int64_t id)
{
    if (find_msg(s, c, r, id, 0)) respond_msg(s, c, 200, (uint32_t)id, NULL);
}

/* The "body" member: 1-16384 bytes. NULL after answering 400. */
static const jval *body_field(server *s, conn *c, const jval *o)
{
    const jval *v;
    if (get_str(o, "body", &v) < 1 || v->len < 1 || v->len > MSG_BODY_MAX) {
        invalid(s, c, "body: a string of 1-16384 bytes");
        return NULL;
    }
    return v;
}

static void api_msg_create(server *s, conn *c, http_req *r, int64_t path_id)
{
    uint32_t uid;
    if (!auth_user(s, c, r, &uid, NULL)) return;
    const http_header *key = http_header_get(r, "Idempotency-Key");
    int bad_key = key && (key->value_len < 1 || key->value_len > IDEM_KEY_MAX);
    if (bad_key) { invalid(s, c, "Idempotency-Key: 1-128 bytes"); return; }
    jdoc doc;
    const jval *o = parse_body(s, c, r, &doc), *body;
    if (!o) return;
    int64_t cid, rep = 0;
    const jval *rv = json_get(o, "reply_to_id");
    const msg *to = NULL;
    char k[4 + IDEM_KEY_MAX];
    size_t kn = key ? db_idem_key(k, uid, key->value, key->value_len) : 0;
    uint64_t *prev = kn ? map_get(&s->db.idem, k, kn) : NULL;
    msg *was = prev ? db_msg(&s->db, (uint32_t)*prev) : NULL;   /* its message deleted: forgotten */
    if (json_int(json_get(o, "conversation_id"), &cid) < 0 || cid < 1)
        invalid(s, c, "conversation_id: a positive integer");
    else if (!(body = body_field(s, c, o))) {}
    else if (rv && rv->type != J_NULL && (json_int(rv, &rep) < 0 || rep < 1))
        invalid(s, c, "reply_to_id: a message id");
    else if (!policy_conv(&s->db, cid, uid)) respond_error(s, c, 404, "not_found", "no such conversation");
    else if (was && (was->conv_id != cid || (*prev >> 32 && *prev >> 32 != crc32c(0, body->str, body->len))))
        respond_error(s, c, 409, "idempotency_key_reused", "the key came with another conversation or body");
    else if (was) respond_msg(s, c, 200, (uint32_t)*prev, NULL);
    else if (rep && (!(to = db_msg(&s->db, rep)) || to->conv_id != cid))
        invalid(s, c, "reply_to_id: a live message of this conversation");
    else {
        uint32_t id = s->db.nmsgs + 1;
        rec_str ks = { key ? key->value : NULL, key ? (uint32_t)key->value_len : 0 };
        rec_str bs = { body->str, (uint32_t)body->len };
        rec_encode(&s->rec, &(rec_t){ .type = REC_MSG_CREATE,
                   .msg_create = { id, (uint32_t)cid, uid, s->now_ms, ks, bs, (uint32_t)rep } });
        if (server_commit(s, c, REC_MSG_CREATE) == 0) respond_msg(s, c, 201, id, body->str);
    }
    json_free(&doc);
}

static void api_msg_put(server *s, conn *c, http_req *r, int64_t id)
{
    if (!find_msg(s, c, r, id, 1)) return;
    jdoc doc;
    const jval *o = parse_body(s, c, r, &doc), *body;
    if (!o) return;
    if ((body = body_field(s, c, o))) {
        rec_encode(&s->rec, &(rec_t){ .type = REC_MSG_UPDATE,
                   .msg_update = { (uint32_t)id, s->now_ms, { body->str, (uint32_t)body->len } } });
        if (server_commit(s, c, REC_MSG_UPDATE) == 0) respond_msg(s, c, 200, (uint32_t)id, body->str);
    }
    json_free(&doc);
}

static void api_msg_delete(server *s, conn *c, http_req *r, int64_t id)
{
    msg *m = find_msg(s, c, r, id, 1);
    if (!m) return;
    if (conv_mark(db_conv(&s->db, m->conv_id), m->author_id) == id) {   /* its post set it: pin it */
        rec_t pin = { .type = REC_READ, .read = { m->conv_id, m->author_id, (uint32_t)id, 1 } };
        rec_encode(&s->rec, &pin);
        server_stage(s, REC_READ);
    }
    rec_encode(&s->rec, &(rec_t){ .type = REC_MSG_DELETE, .del = { (uint32_t)id, s->now_ms } });
    if (server_commit(s, c, REC_MSG_DELETE) == 0) respond_empty(s, c, 204, NULL);
}

const route_def msg_routes[] = {
    { "/api/messages", .get = api_msg_list, .post = api_msg_create },
    { "/api/messages/:id", .get = api_msg_get, .put = api_msg_put, .del = api_msg_delete },
    { 0 },
};
