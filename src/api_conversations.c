/* api_conversations.c — conversations: list (newest activity first), create (a direct one:
 * get-or-create for the pair), read, update (title, member list; a direct one's never), delete,
 * read markers. A caller sees only conversations it belongs to; any other is 404, so ids of
 * others' conversations leak nothing. */
#include "server.h"
#include <stdlib.h>
#include <string.h>

#define MAX_MEMBERS 1000
#define MAX_TITLE 128

static void respond_conv(server *s, conn *c, int status, uint32_t id, uint32_t uid)
{
    buf_t *b = buf_reset(&s->scratch);
    buf_puts(b, "{\"conversation\":");
    view_conv(b, &s->db, &s->st, id, &s->db.convs[id - 1], uid);
    buf_putc(b, '}');
    respond_json(s, c, status, b);
}

/* The conversation if the caller is a member, else answer 401 or 404 and NULL. */
static conv *find_conv(server *s, conn *c, http_req *r, int64_t id, uint32_t *uid)
{
    conv *cv = NULL;
    if (auth_user(s, c, r, uid, NULL)) respond_no(s, c, policy_conv_find(&s->db, id, *uid, &cv));
    return cv;
}

typedef struct activity { int64_t updated_ms; uint32_t id; } activity;

/* updated_at descending, ties by id descending. */
static int by_activity(const void *a, const void *b)
{
    const activity *x = a, *y = b;
    if (x->updated_ms != y->updated_ms) return x->updated_ms > y->updated_ms ? -1 : 1;
    return x->id > y->id ? -1 : 1;
}

static void api_conv_list(server *s, conn *c, http_req *r, int64_t id)
{
    uint32_t uid;
    const user *u = auth_user(s, c, r, &uid, NULL);   /* u->convs: its conversations, any order */
    if (!u) return;
    size_t n = 0;
    activity *ids = xmalloc((u->nconvs + 1) * sizeof *ids);
    for (; n < u->nconvs; n++) ids[n] = (activity){ s->db.convs[u->convs[n] - 1].updated_ms, u->convs[n] };
    qsort(ids, n, sizeof *ids, by_activity);
    buf_t *b = buf_reset(&s->scratch);
    buf_puts(b, "{\"conversations\":[");
    for (size_t i = 0; i < n; i++) {   /* the most recently active that fit --max-response */
        size_t at = b->len;
        if (i) buf_putc(b, ',');
        view_conv(b, &s->db, &s->st, ids[i].id, &s->db.convs[ids[i].id - 1], uid);
        if (i && b->len + 2 > s->cfg.max_response) { b->data[b->len = at] = 0; break; }
    }
    buf_puts(b, "]}");
    free(ids);
    respond_json(s, c, 200, b);
}

/* Validate a member_ids array into a fresh list without duplicates (order kept).
 * Returns the list (caller frees) or NULL after answering 400. */
static uint32_t *member_list(server *s, conn *c, const jval *v, uint32_t add, uint32_t *n)
{
    if (!v || v->type != J_ARR) { invalid(s, c, "member_ids must be an array of user ids"); return NULL; }
    if (v->len > MAX_MEMBERS) { invalid(s, c, "at most 1000 members"); return NULL; }
    uint32_t *m = xmalloc((v->len + 1) * sizeof *m), k = 0;
    const char *err = NULL;
    if (add) m[k++] = add;
    for (const jval *e = v->child; e; e = e->next) {
        int64_t id;
        if (json_int(e, &id) < 0 || !db_user(&s->db, id)) { err = "member_ids: unknown user id"; break; }
        if (!policy_in(m, k, (uint32_t)id)) m[k++] = (uint32_t)id;
    }
    if (!err && k == 0) err = "member_ids must not be empty";
    if (!err && k > MAX_MEMBERS) err = "at most 1000 members";
    if (err) { free(m); invalid(s, c, err); return NULL; }
    *n = k;
    return m;
}

/* title: absent/null -> *t NULL (1), a valid string (no NUL inside) -> it (1), else 400 (0). */
static int title_field(server *s, conn *c, const jval *o, const char **t)
{
    const jval *v;
    int h = get_str(o, "title", &v);
    *t = NULL;
    if (h == 0) return 1;
    if (h < 0 || utf8_chars(v->str, v->len) > MAX_TITLE || memchr(v->str, 0, v->len)) {
        invalid(s, c, "title: a string of at most 128 characters");
        return 0;
    }
    *t = v->str;
    return 1;
}

/* Create (cv NULL) or update cv from the body's title and member_ids: a create needs the
 * member list (the caller joins it), an update changes what the body names. */
static void conv_write(server *s, conn *c, http_req *r, uint32_t uid, const conv *cv, uint32_t id)
{
    jdoc doc;
    const jval *o = parse_body(s, c, r, &doc);
    if (!o) return;
    const char *title;
    uint32_t *m = NULL, n = 0;
    const jval *mv = json_get(o, "member_ids"), *dv = cv ? NULL : json_get(o, "direct");
    int has_m = !cv || (mv && mv->type != J_NULL), direct = dv && dv->type == J_TRUE;
    uint32_t found;
    if (!title_field(s, c, o, &title)) {
        /* answered 400 */
    } else if (dv && dv->type > J_TRUE) {   /* not null, false or true */
        invalid(s, c, "direct: true or false");
    } else if (cv && cv->peer && (title || has_m)) {   /* before the owner rule */
        invalid(s, c, "a direct conversation's title and members cannot change");
    } else if (has_m && !(m = member_list(s, c, mv, cv ? 0 : uid, &n))) {
        /* answered 400 */
    } else if (direct && (mv->len != 1 || n != 2)) {
        invalid(s, c, "direct: member_ids holds one other user's id");
    } else if (direct && (found = db_direct(&s->db, uid, m[1]))) {   /* never a second for a pair */
        respond_conv(s, c, 200, found, uid);
    } else if (!title && !has_m) {
        respond_conv(s, c, 200, id, uid);   /* nothing to change: no record, no new updated_at */
    } else if (cv && m && respond_no(s, c, policy_conv_members(cv, uid, m, n))) {
        /* answered 403 */
    } else {
        uint8_t type = cv ? REC_CONV_UPDATE : REC_CONV_CREATE;
        conv none = { .created_by = uid, .owner_id = uid };   /* before a create: no title, no members */
        const conv *was = cv ? cv : &none;
        rec_ids now = { m ? m : was->members, NULL, m ? n : was->nmembers };
        rec_ids prev = { was->members, NULL, was->nmembers };
        rec_str t = rec_cstr(direct ? "" : title ? title : was->title);
        uint32_t last = conv_last_message(was);
        uint32_t owner = m && !policy_in(m, n, was->owner_id) ? m[0] : was->owner_id;   /* the owner left */
        for (uint32_t i = 0; cv && cv->nmsgs && i < n; i++)   /* one added may have posts from before */
            if (!conv_has_member(cv, m[i])) {                  /* (db.c): clear its marker */
                rec_encode(&s->rec, &(rec_t){ .type = REC_READ, .read = { id, m[i], 0, 1 } });
                server_stage(s, REC_READ);
            }
        rec_t rec = { .type = type, .conv = { id, was->created_by, s->now_ms, t, now, prev, last, owner,
                                              (uint32_t)direct } };
        rec_encode(&s->rec, &rec);
        if (server_commit(s, c, type) == 0) respond_conv(s, c, cv ? 200 : 201, id, uid);
    }
    free(m);
    json_free(&doc);
}

static void api_conv_create(server *s, conn *c, http_req *r, int64_t id)
{
    uint32_t uid;
    if (auth_user(s, c, r, &uid, NULL)) conv_write(s, c, r, uid, NULL, s->db.nconvs + 1);
}

static void api_conv_get(server *s, conn *c, http_req *r, int64_t id)
{
    uint32_t uid;
    if (find_conv(s, c, r, id, &uid)) respond_conv(s, c, 200, (uint32_t)id, uid);
}

static void api_conv_put(server *s, conn *c, http_req *r, int64_t id)
{
    uint32_t uid;
    conv *cv = find_conv(s, c, r, id, &uid);
    if (cv) conv_write(s, c, r, uid, cv, (uint32_t)id);
}

static void api_conv_delete(server *s, conn *c, http_req *r, int64_t id)
{
    uint32_t uid;
    conv *cv = find_conv(s, c, r, id, &uid);
    if (!cv || respond_no(s, c, policy_conv_delete(cv, uid))) return;
    rec_ids mem = { cv->members, NULL, cv->nmembers };
    rec_encode(&s->rec, &(rec_t){ .type = REC_CONV_DELETE,
               .conv = { (uint32_t)id, cv->created_by, s->now_ms, rec_cstr(cv->title), mem, mem,
                         conv_last_message(cv), cv->owner_id, cv->peer != 0 } });
    if (server_commit(s, c, REC_CONV_DELETE) == 0) respond_empty(s, c, 204, NULL);
}

/* The caller's marker to a live message of it, forward only (else 200, nothing stored). */
static void api_conv_read(server *s, conn *c, http_req *r, int64_t id)
{
    uint32_t uid;
    conv *cv = find_conv(s, c, r, id, &uid);
    jdoc doc;
    const jval *o = cv ? parse_body(s, c, r, &doc) : NULL;
    if (!o) return;
    int64_t mid;
    const msg *m;
    if (json_int(json_get(o, "message_id"), &mid) < 0 || !(m = db_msg(&s->db, mid)) || m->conv_id != id)
        invalid(s, c, "message_id: a message of this conversation");
    else if ((uint32_t)mid <= conv_mark(cv, uid))
        respond_conv(s, c, 200, (uint32_t)id, uid);
    else {
        rec_encode(&s->rec, &(rec_t){ .type = REC_READ, .read = { (uint32_t)id, uid, (uint32_t)mid, 0 } });
        if (server_commit(s, c, REC_READ) == 0) respond_conv(s, c, 200, (uint32_t)id, uid);
    }
    json_free(&doc);
}

static void api_conv_reads(server *s, conn *c, http_req *r, int64_t id)
{
    uint32_t uid;
    conv *cv = find_conv(s, c, r, id, &uid);
    if (cv) respond_json(s, c, 200, view_reads(&s->scratch, cv));
}

const route_def conv_routes[] = {
    { "/api/conversations", .get = api_conv_list, .post = api_conv_create },
    { "/api/conversations/:id", .get = api_conv_get, .put = api_conv_put, .del = api_conv_delete },
    { "/api/conversations/:id/read", .post = api_conv_read },
    { "/api/conversations/:id/reads", .get = api_conv_reads },
    { 0 },
};
