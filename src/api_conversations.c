/* api_conversations.c — conversations: list (newest activity first), create, read,
 * update (title, member list), delete. A caller sees only conversations it belongs to;
 * any other is 404, so ids of others' conversations leak nothing. */
#include "server.h"
#include <stdlib.h>
#include <string.h>

#define MAX_MEMBERS 1000
#define MAX_TITLE 128

void put_conversation(buf_t *b, uint32_t id, const conv *c)
{
    buf_printf(b, "{\"id\":%u,\"title\":", id);
    json_cstr(b, c->title);
    buf_puts(b, ",\"member_ids\":[");
    for (uint32_t i = 0; i < c->nmembers; i++) buf_printf(b, "%s%u", i ? "," : "", c->members[i]);
    buf_printf(b, "],\"created_by\":%u,\"created_at\":", c->created_by);
    put_time(b, c->created_ms);
    buf_puts(b, ",\"updated_at\":");
    put_time(b, c->updated_ms);
    uint32_t last = conv_last_message(c);
    if (last) buf_printf(b, ",\"last_message_id\":%u}", last);
    else buf_puts(b, ",\"last_message_id\":null}");
}

static void put_conv(buf_t *b, db *d, uint32_t id) { put_conversation(b, id, &d->convs[id - 1]); }

static void respond_conv(server *s, conn *c, int status, uint32_t id)
{
    buf_t *b = &s->scratch;
    buf_reset(b);
    buf_puts(b, "{\"conversation\":");
    put_conv(b, &s->db, id);
    buf_putc(b, '}');
    respond_json(s, c, status, b);
}

/* The conversation if the caller is a member, else answer 404 and NULL. */
static conv *member_conv(server *s, conn *c, int64_t id, uint32_t uid)
{
    conv *cv = db_conv(&s->db, id);
    if (!cv || !conv_has_member(cv, uid)) {
        respond_error(s, c, 404, "not_found", "no such conversation");
        return NULL;
    }
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

void api_conv_list(server *s, conn *c, http_req *r)
{
    uint32_t uid;
    if (!auth_user(s, c, r, &uid, NULL)) return;
    size_t n = 0;
    activity *ids = xmalloc((s->db.nconvs + 1) * sizeof *ids);
    for (uint32_t i = 1; i <= s->db.nconvs; i++) {
        conv *cv = db_conv(&s->db, i);
        if (cv && conv_has_member(cv, uid)) ids[n++] = (activity){ cv->updated_ms, i };
    }
    qsort(ids, n, sizeof *ids, by_activity);
    buf_t *b = &s->scratch;
    buf_reset(b);
    buf_puts(b, "{\"conversations\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) buf_putc(b, ',');
        put_conv(b, &s->db, ids[i].id);
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
    if (add) m[k++] = add;
    for (const jval *e = v->child; e; e = e->next) {
        int64_t id;
        if (json_int(e, &id) < 0 || !db_user(&s->db, id)) {
            free(m);
            invalid(s, c, "member_ids: unknown user id");
            return NULL;
        }
        uint32_t j = 0;
        while (j < k && m[j] != (uint32_t)id) j++;
        if (j == k) m[k++] = (uint32_t)id;
    }
    if (k == 0 || k > MAX_MEMBERS) {
        free(m);
        invalid(s, c, k ? "at most 1000 members" : "member_ids must not be empty");
        return NULL;
    }
    *n = k;
    return m;
}

/* title: absent/null -> *t NULL (1), a valid string -> copy (1), else 400 (0). */
static int title_field(server *s, conn *c, const jval *o, char **t)
{
    const jval *v;
    int h = get_str(o, "title", &v);
    *t = NULL;
    if (h == 0) return 1;
    if (h < 0 || utf8_chars(v->str, v->len) > MAX_TITLE || memchr(v->str, 0, v->len)) {
        invalid(s, c, "title: a string of at most 128 characters");
        return 0;
    }
    *t = xstrndup(v->str, v->len);
    return 1;
}

void api_conv_create(server *s, conn *c, http_req *r)
{
    uint32_t uid, n;
    if (!auth_user(s, c, r, &uid, NULL)) return;
    jdoc doc;
    const jval *o = parse_body(s, c, r, &doc);
    if (!o) return;
    char *title;
    uint32_t *m = NULL;
    if (title_field(s, c, o, &title) && (m = member_list(s, c, json_get(o, "member_ids"), uid, &n))) {
        uint32_t id = s->db.nconvs + 1;
        db_rec_conv(&s->rec, id, uid, s->now_ms, title ? title : "", m, n, NULL, 0);
        if (server_commit(s, c, REC_CONV_CREATE) == 0) respond_conv(s, c, 201, id);
    }
    free(m);
    free(title);
    json_free(&doc);
}

void api_conv_get(server *s, conn *c, http_req *r, int64_t id)
{
    uint32_t uid;
    if (!auth_user(s, c, r, &uid, NULL) || !member_conv(s, c, id, uid)) return;
    respond_conv(s, c, 200, (uint32_t)id);
}

void api_conv_put(server *s, conn *c, http_req *r, int64_t id)
{
    uint32_t uid, n = 0;
    if (!auth_user(s, c, r, &uid, NULL) || !member_conv(s, c, id, uid)) return;
    jdoc doc;
    const jval *o = parse_body(s, c, r, &doc);
    if (!o) return;
    char *title;
    uint32_t *m = NULL;
    const jval *mv = json_get(o, "member_ids");
    int has_m = mv && mv->type != J_NULL;
    if (!title_field(s, c, o, &title) || (has_m && !(m = member_list(s, c, mv, 0, &n)))) {
        /* answered 400 */
    } else if (!title && !has_m) {
        respond_conv(s, c, 200, (uint32_t)id);   /* nothing to change: no record, no new updated_at */
    } else {
        conv *cv = db_conv(&s->db, id);
        db_rec_conv(&s->rec, (uint32_t)id, cv->created_by, s->now_ms, title ? title : cv->title,
                    m ? m : cv->members, m ? n : cv->nmembers, cv->members, cv->nmembers);
        if (server_commit(s, c, REC_CONV_UPDATE) == 0) respond_conv(s, c, 200, (uint32_t)id);
    }
    free(m);
    free(title);
    json_free(&doc);
}

void api_conv_delete(server *s, conn *c, http_req *r, int64_t id)
{
    uint32_t uid;
    conv *cv;
    if (!auth_user(s, c, r, &uid, NULL) || !(cv = member_conv(s, c, id, uid))) return;
    if (cv->created_by != uid) { respond_error(s, c, 403, "forbidden", "only the creator may delete it"); return; }
    db_rec_conv(&s->rec, (uint32_t)id, cv->created_by, s->now_ms, cv->title, cv->members, cv->nmembers,
                cv->members, cv->nmembers);
    if (server_commit(s, c, REC_CONV_DELETE) < 0) return;
    respond_empty(s, c, 204, NULL);
}
