/* api_users.c — register, login, logout, finding users, and a user's own profile. Password hashing runs
 * on the worker: these handlers park the connection (CONN_WAIT_HASH) and api_hash_done()
 * finishes the request when the hash is ready. */
#include "server.h"
#include "crypto.h"
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static void respond_user(server *s, conn *c, int status, uint32_t id, const char *token)
{
    buf_t *b = buf_reset(&s->scratch);
    buf_puts(b, "{\"user\":");
    view_user(b, id, &s->db.users[id - 1]);
    if (token) buf_printf(b, ",\"token\":\"%s\"", token);
    buf_putc(b, '}');
    respond_json(s, c, status, b);
}

static int valid_username(const jval *v)
{
    static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";
    return v->len >= 3 && v->len <= USERNAME_MAX && strspn(v->str, ok) == v->len;
}

static int valid_password(const jval *v) { return v->len >= 8 && v->len <= 256; }

static int valid_display(const jval *v)
{
    size_t n = utf8_chars(v->str, v->len);
    return n >= 1 && n <= 64 && !memchr(v->str, 0, v->len);
}

/* The client of a waiting job has gone: the job is dropped before it is hashed. */
static void hash_dropped(server *s, hash_job *j)
{
    s->m.hash_dropped++;
    if (j->kind != HJ_REGISTER)
        throttle_end(&s->throttle, j->username, strlen(j->username), s->now_ms / 1000, TH_DROPPED);
    hash_job_free(j);
}

static void hash_done(server *s, conn *c, hash_job *j);

/* A job with a copy of the password, parked on the worker. */
static hash_job *job_new(server *s, conn *c, int kind, const jval *pw)
{
    hash_job *j = xcalloc(1, sizeof *j);
    j->done = hash_done;
    j->dropped = hash_dropped;
    j->conn_id = c->id;
    const char *port = strrchr(c->addr, ':');   /* "ip:port" (IPv6 too): the ip part */
    snprintf(j->addr, sizeof j->addr, "%.*s", port ? (int)(port - c->addr) : (int)sizeof j->addr, c->addr);
    j->kind = kind;
    j->password = xstrndup(pw->str, pw->len);
    j->pwlen = pw->len;
    j->iters = s->cfg.pbkdf2_iters;
    return j;
}

/* Queue the job, or answer 503 busy when --hash-queue jobs wait already, or a quarter of
 * them come from this client's address. 0 when parked. */
static int park(server *s, conn *c, hash_job *j)
{
    size_t q = (size_t)s->cfg.hash_queue, per_addr = q > 4 ? q / 4 : q ? 1 : 0;
    if (hasher_submit(&s->hs, j, q, per_addr) == 0) { c->state = CONN_WAIT_HASH; return 0; }
    char h[40];
    snprintf(h, sizeof h, "Retry-After: %d\r\n", hasher_retry_after(&s->hs));
    respond_error_x(s, c, 503, "busy", "too many password checks are waiting; try again later", h);
    s->m.hash_busy++;
    hash_job_free(j);
    return -1;
}

/* --register-rate: 429 rate_limited with Retry-After while the address made that many
 * registrations in the last 60 s (checked when asked, and again before storing); 1 when answered. */
static int over_register_rate(server *s, conn *c, const char *addr)
{
    int wait = reg_wait(&s->reg_times, addr, s->cfg.register_rate, s->now_ms);
    if (wait <= 0) return 0;
    char h[40];
    snprintf(h, sizeof h, "Retry-After: %d\r\n", wait);
    respond_error_x(s, c, 429, "rate_limited", "too many registrations from here; try again later", h);
    return 1;
}

static void api_register(server *s, conn *c, http_req *r, int64_t id)
{
    jdoc doc;
    const jval *o = parse_body(s, c, r, &doc), *name, *pw, *disp;
    if (!o) return;
    int hd = 0;
    if (get_str(o, "username", &name) < 1 || !valid_username(name))
        invalid(s, c, "username: 3-32 characters of A-Z a-z 0-9 _ . -");
    else if (get_str(o, "password", &pw) < 1 || !valid_password(pw)) invalid(s, c, "password: 8-256 bytes");
    else if ((hd = get_str(o, "display_name", &disp)) < 0 || (hd && !valid_display(disp)))
        invalid(s, c, "display_name: 1-64 characters");
    else if (db_user_by_name(&s->db, name->str, name->len))
        respond_error(s, c, 409, "username_taken", "username is taken");
    else {
        hash_job *j = job_new(s, c, HJ_REGISTER, pw);
        if (over_register_rate(s, c, j->addr)) { hash_job_free(j); json_free(&doc); return; }
        if (random_bytes(j->salt, sizeof j->salt) < 0) abort();
        j->username = xstrndup(name->str, name->len);
        j->display = hd ? xstrndup(disp->str, disp->len) : xstrndup(name->str, name->len);
        park(s, c, j);
    }
    json_free(&doc);
}

/* 429 with Retry-After while the lower-cased username low is throttled; 1 when answered. */
static int throttled(server *s, conn *c, const char *low, size_t n)
{
    int wait = throttle_wait(&s->throttle, low, n, s->now_ms / 1000);
    if (wait <= 0) return 0;
    char h[40];
    snprintf(h, sizeof h, "Retry-After: %d\r\n", wait);
    respond_error_x(s, c, 429, "too_many_requests", "too many failed password attempts; try again later", h);
    return 1;
}

/* A job that checks pw against user uid's hash (uid 0: none; it costs the same hash, so there
 * is no timing oracle), counted for the throttle under the lower-cased name low. */
static hash_job *check_job(server *s, conn *c, int kind, const jval *pw, uint32_t uid, const char *low,
                           size_t n)
{
    hash_job *j = job_new(s, c, kind, pw);
    user *u = db_user(&s->db, uid);
    j->uid = uid;
    j->username = xstrndup(low, n);
    if (!u) return j;
    memcpy(j->salt, u->salt, sizeof j->salt);
    memcpy(j->want, u->hash, sizeof j->want);
    j->iters = u->iters;
    return j;
}

/* Park a checking job; the attempt counts from now on. */
static void park_check(server *s, conn *c, hash_job *j)
{
    char low[64];
    size_t n = strlen(j->username);
    memcpy(low, j->username, n);   /* a refused job is freed by park */
    if (park(s, c, j) == 0) throttle_begin(&s->throttle, low, n, s->now_ms / 1000);
}

/* Was the checked password right? Counted for the throttle either way; the user's hash
 * then, not the one when queued, decides (a concurrent password change wins). */
static int check_done(server *s, hash_job *j)
{
    user *u = db_user(&s->db, j->uid);
    int ok = u && u->iters == j->iters && ct_equal(u->hash, j->out, sizeof j->out);
    throttle_end(&s->throttle, j->username, strlen(j->username), s->now_ms / 1000, ok ? TH_OK : TH_FAILED);
    return ok;
}

static void api_login(server *s, conn *c, http_req *r, int64_t id)
{
    jdoc doc;
    const jval *o = parse_body(s, c, r, &doc), *name, *pw;
    if (!o) return;
    char low[33];
    if (get_str(o, "username", &name) < 1 || name->len == 0) invalid(s, c, "username is required");
    else if (get_str(o, "password", &pw) < 1 || pw->len == 0) invalid(s, c, "password is required");
    else if (name->len > USERNAME_MAX || pw->len > 256)
        respond_error(s, c, 401, "invalid_credentials", "wrong username or password");
    else if (!throttled(s, c, low, db_lower(low, name->str, name->len))) {
        uint32_t uid = db_user_by_name(&s->db, name->str, name->len);
        park_check(s, c, check_job(s, c, HJ_LOGIN, pw, uid, low, name->len));
    }
    json_free(&doc);
}

/* Append a new token for uid and answer with the user and the token. */
static void issue_token(server *s, conn *c, uint32_t uid, int status)
{
    char text[TOKEN_CHARS + 1];
    uint8_t hash[32];
    token_new(text, hash);
    rec_encode(&s->rec, &(rec_t){ .type = REC_TOKEN_ADD, .token = { uid, hash, s->now_ms } });
    if (server_commit(s, c, REC_TOKEN_ADD) < 0) return;
    respond_user(s, c, status, uid, text);
}

static void finish_register(server *s, conn *c, hash_job *j)
{
    if (db_user_by_name(&s->db, j->username, strlen(j->username))) {
        respond_error(s, c, 409, "username_taken", "username is taken");
        return;
    }
    if (over_register_rate(s, c, j->addr)) return;
    uint32_t id = s->db.nusers + 1;
    rec_encode(&s->rec, &(rec_t){ .type = REC_USER_CREATE,
               .user_create = { id, s->now_ms, rec_cstr(j->username), rec_cstr(j->display), j->iters, j->salt,
                                j->out } });
    server_stage(s, REC_USER_CREATE);   /* the user and its token: stored together or not at all */
    issue_token(s, c, id, 201);
    if (db_user(&s->db, id)) reg_note(&s->reg_times, j->addr, s->cfg.register_rate, s->now_ms);
}

/* The outcome counts for the throttle even when the client has gone (c NULL). */
static void finish_login(server *s, conn *c, hash_job *j)
{
    int ok = check_done(s, j);
    if (!c) return;
    if (ok) issue_token(s, c, j->uid, 200);
    else respond_error(s, c, 401, "invalid_credentials", "wrong username or password");
}

/* A password change (with the display name when it changes too) revokes the user's other
 * tokens: all but the one of the request (keep). */
static void finish_password(server *s, conn *c, hash_job *j)
{
    int ok = check_done(s, j);
    if (!c) return;
    if (!db_user(&s->db, j->uid)) { respond_error(s, c, 404, "not_found", "no such user"); return; }
    if (!ok || !ct_equal(j->out, j->want, sizeof j->want)) {   /* want: out2 was made */
        respond_error(s, c, 403, "wrong_password", "current_password is wrong");
        return;
    }
    rec_encode(&s->rec, &(rec_t){ .type = REC_USER_UPDATE, .user_update = { j->uid, j->display ? 3 : 2,
               rec_cstr(j->display), j->iters2, j->salt2, j->out2, j->keep } });
    if (server_commit(s, c, REC_USER_UPDATE) == 0) respond_user(s, c, 200, j->uid, NULL);
}

static void finish_delete(server *s, conn *c, hash_job *j);

/* c is NULL when the client went away while its job was being hashed. */
static void hash_done(server *s, conn *c, hash_job *j)
{
    if (j->kind == HJ_LOGIN) finish_login(s, c, j);
    else if (j->kind == HJ_PASSWORD) finish_password(s, c, j);
    else if (j->kind == HJ_DELETE) finish_delete(s, c, j);
    else if (c) finish_register(s, c, j);
}

static void api_logout(server *s, conn *c, http_req *r, int64_t id)
{
    uint32_t uid;
    uint8_t hash[32];
    if (!auth_user(s, c, r, &uid, hash)) return;
    rec_encode(&s->rec, &(rec_t){ .type = REC_TOKEN_DEL, .token = { 0, hash, 0 } });
    if (server_commit(s, c, REC_TOKEN_DEL) == 0) respond_empty(s, c, 204, NULL);
}

/* Authenticate; the user must exist (else 404) and, when self, be the caller: one may change
 * only oneself (else 403). 0 after answering. */
static int find_user(server *s, conn *c, http_req *r, int64_t id, int self, uint32_t *uid, uint8_t *hash)
{
    return auth_user(s, c, r, uid, hash) && !respond_no(s, c, policy_user(&s->db, id, *uid, self));
}

static void api_user_get(server *s, conn *c, http_req *r, int64_t id)
{
    uint32_t uid;
    if (find_user(s, c, r, id, 0, &uid, NULL)) respond_user(s, c, 200, (uint32_t)id, NULL);
}

/* The users of ?ids=1,2,3 (1-100 distinct positive ids) into ids; their number, or 0 if malformed. */
static uint32_t parse_ids(const char *v, int64_t ids[100])
{
    uint32_t n = 0;
    for (const char *p = v, *e; n < 100; p = e + 1) {
        e = p + strcspn(p, ",");
        int64_t id = parse_id(p, (size_t)(e - p));
        for (uint32_t i = 0; i < n && id > 0; i++) id = ids[i] == id ? -1 : id;
        if (id < 1) return 0;
        ids[n++] = id;
        if (!*e) return n;
    }
    return 0;
}

/* GET /api/users?q=PREFIX&limit=N: live users whose name starts with PREFIX (ASCII case
 * ignored), the first N by lower-cased name (db.c's name index); ?ids=: those. */
static void api_user_list(server *s, conn *c, http_req *r, int64_t path_id)
{
    uint32_t uid, n = 0, found[50];
    int64_t ids[100];
    char q[33], v[1200], lim[4];
    if (!auth_user(s, c, r, &uid, NULL)) return;
    long qn = http_query_get(r->query, r->query_len, "q", q, sizeof q);
    long in = http_query_get(r->query, r->query_len, "ids", v, sizeof v);
    long ln = http_query_get(r->query, r->query_len, "limit", lim, sizeof lim);
    int64_t limit = ln == -1 ? 20 : ln > 0 ? parse_id(lim, (size_t)ln) : -1;
    if (in != -1 ? qn != -1 || in <= 0 || !(n = parse_ids(v, ids)) : qn <= 0 || limit < 1 || limit > 50) {
        invalid(s, c, "q: 1-32 bytes, limit: 1-50; or ids: 1-100 distinct positive ids (not both)");
        return;
    }
    if (in == -1) n = db_users_prefix(&s->db, q, (size_t)qn, found, (uint32_t)limit);
    buf_t *b = buf_reset(&s->scratch);
    buf_puts(b, "{\"users\":[");
    for (uint32_t i = 0, k = 0; i < n; i++) {
        user *u = db_user(&s->db, in == -1 ? found[i] : ids[i]);
        if (u) buf_puts(b, k++ ? "," : ""), view_user(b, (uint32_t)(u - s->db.users) + 1, u);
    }
    buf_puts(b, "]}");
    respond_json(s, c, 200, b);
}

/* The lower-cased username of user uid (the throttle's key) into low[64]; its length. */
static size_t user_key(server *s, uint32_t uid, char *low)
{
    const char *name = s->db.users[uid - 1].username;
    return db_lower(low, name, strlen(name));
}

static void api_user_put(server *s, conn *c, http_req *r, int64_t id)
{
    uint32_t uid;
    uint8_t hash[32];
    jdoc doc;
    const jval *o, *disp, *pw, *cur;
    char low[64];
    if (!find_user(s, c, r, id, 1, &uid, hash) || !(o = parse_body(s, c, r, &doc))) return;
    int hd = get_str(o, "display_name", &disp), hp = get_str(o, "password", &pw);
    if (hd < 0 || (hd && !valid_display(disp))) invalid(s, c, "display_name: 1-64 characters");
    else if (hp < 0 || (hp && !valid_password(pw))) invalid(s, c, "password: 8-256 bytes");
    else if (hp && (get_str(o, "current_password", &cur) < 1 || cur->len == 0))
        invalid(s, c, "current_password is required to change the password");
    else if (hp && cur->len > 256) respond_error(s, c, 403, "wrong_password", "current_password is wrong");
    else if (hp) {
        size_t n = user_key(s, uid, low);
        if (throttled(s, c, low, n)) { json_free(&doc); return; }
        hash_job *j = check_job(s, c, HJ_PASSWORD, cur, uid, low, n);
        j->password2 = xstrndup(pw->str, pw->len);
        j->pw2len = pw->len;
        j->iters2 = s->cfg.pbkdf2_iters;
        if (random_bytes(j->salt2, sizeof j->salt2) < 0) abort();
        j->display = hd ? xstrndup(disp->str, disp->len) : NULL;
        memcpy(j->keep, hash, sizeof hash);
        park_check(s, c, j);
    } else if (hd) {   /* valid_display(): no NUL inside, so str is the whole name */
        rec_encode(&s->rec, &(rec_t){ .type = REC_USER_UPDATE,
                   .user_update = { uid, 1, rec_cstr(disp->str), 0, NULL, NULL, NULL } });
        if (server_commit(s, c, REC_USER_UPDATE) == 0) respond_user(s, c, 200, uid, NULL);
    } else {
        respond_user(s, c, 200, uid, NULL);
    }
    json_free(&doc);
}

/* DELETE needs the password (a body {"password"}); checked on the worker, then finish_delete. */
static void api_user_delete(server *s, conn *c, http_req *r, int64_t id)
{
    uint32_t uid;
    jdoc doc;
    const jval *o, *pw;
    char low[64];
    if (!find_user(s, c, r, id, 1, &uid, NULL)) return;
    if (r->body_len == 0) { invalid(s, c, "password is required to delete the account"); return; }
    if (!(o = parse_body(s, c, r, &doc))) return;
    size_t n = user_key(s, uid, low);
    if (get_str(o, "password", &pw) < 1 || pw->len == 0)
        invalid(s, c, "password is required to delete the account");
    else if (pw->len > 256) respond_error(s, c, 403, "wrong_password", "password is wrong");
    else if (!throttled(s, c, low, n)) park_check(s, c, check_job(s, c, HJ_DELETE, pw, uid, low, n));
    json_free(&doc);
}

static void finish_delete(server *s, conn *c, hash_job *job)
{
    int ok = check_done(s, job);
    uint32_t uid = job->uid;
    if (!c) return;
    if (!db_user(&s->db, uid)) { respond_error(s, c, 404, "not_found", "no such user"); return; }
    if (!ok) { respond_error(s, c, 403, "wrong_password", "password is wrong"); return; }
    /* Leaving each conversation is a conversation update of its own: one event each. */
    for (uint32_t i = 1; i <= s->db.nconvs; i++) {
        conv *cv = policy_conv(&s->db, i, uid);
        if (!cv) continue;
        /* sized by the conversation: a log written by hand may hold more than the API's 1000 */
        uint32_t k = 0, *left = xmalloc(cv->nmembers * sizeof *left);
        for (uint32_t j = 0; j < cv->nmembers; j++)
            if (cv->members[j] != uid) left[k++] = cv->members[j];
        rec_encode(&s->rec, &(rec_t){ .type = REC_CONV_UPDATE, .conv = { i, cv->created_by, s->now_ms,
                   rec_cstr(cv->title), { left, NULL, k }, { cv->members, NULL, cv->nmembers },
                   conv_last_message(cv), cv->owner_id == uid && k ? left[0] : cv->owner_id,
                   cv->peer != 0 } });
        free(left);
        server_stage(s, REC_CONV_UPDATE);   /* one change with the delete: all or nothing */
    }
    rec_encode(&s->rec, &(rec_t){ .type = REC_USER_DELETE, .del = { uid, s->now_ms } });
    if (server_commit(s, c, REC_USER_DELETE) == 0) respond_empty(s, c, 204, NULL);
}

const route_def users_routes[] = {
    { "/api/users/register", .post = api_register, .unmetered = 1 },
    { "/api/users/login", .post = api_login, .unmetered = 1 },
    { "/api/users/logout", .post = api_logout },
    { "/api/users", .get = api_user_list },
    { "/api/users/:id", .get = api_user_get, .put = api_user_put, .del = api_user_delete },
    { 0 },
};
