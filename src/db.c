/* db.c — in-memory indexes rebuilt from, and kept in step with, the log records.
 * Arrays indexed by id (ids are dense and never reused), three hash maps, and one sorted
 * id list per conversation. Nothing here touches the file: bodies are read by the caller. */
#include "db.h"
#include "store.h"
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void db_init(db *d)
{
    memset(d, 0, sizeof *d);
    map_init(&d->by_name);
    map_init(&d->tokens);
    map_init(&d->idem);
}

void db_free(db *d)
{
    for (uint32_t i = 0; i < d->nusers; i++) { free(d->users[i].username); free(d->users[i].display_name); }
    for (uint32_t i = 0; i < d->nconvs; i++) {
        free(d->convs[i].title); free(d->convs[i].members); free(d->convs[i].msgs);
    }
    free(d->users); free(d->convs); free(d->msgs);
    map_free(&d->by_name); map_free(&d->tokens); map_free(&d->idem);
}

/* Make room for id in an array indexed by id - 1 (new slots zeroed), and raise *n to id. */
static void *grow(void *arr, uint32_t *n, uint32_t *cap, uint32_t id, size_t elem)
{
    if (id > *cap) {
        uint32_t c = *cap ? *cap : 64;
        while (c < id) c *= 2;
        arr = xrealloc(arr, (size_t)c * elem);
        memset((char *)arr + (size_t)*cap * elem, 0, (size_t)(c - *cap) * elem);
        *cap = c;
    }
    if (id > *n) *n = id;
    return arr;
}

user *db_user(db *d, int64_t id)
{
    return id >= 1 && id <= d->nusers && d->users[id - 1].username ? &d->users[id - 1] : NULL;
}

conv *db_conv(db *d, int64_t id)
{
    return id >= 1 && id <= d->nconvs && d->convs[id - 1].title ? &d->convs[id - 1] : NULL;
}

conv *db_member_conv(db *d, int64_t id, uint32_t uid)
{
    conv *c = db_conv(d, id);
    return c && conv_has_member(c, uid) ? c : NULL;
}

msg *db_msg(db *d, int64_t id)
{
    return id >= 1 && id <= d->nmsgs && (d->msgs[id - 1].flags & MSG_LIVE) ? &d->msgs[id - 1] : NULL;
}

/* The by_name key: the name lower-cased into out (64 bytes: names are no longer). */
size_t db_lower(char *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = (char)tolower((unsigned char)s[i]);
    return n;
}

uint32_t db_user_by_name(db *d, const char *name, size_t n)
{
    char low[64];
    if (n > sizeof low) return 0;
    uint64_t *v = map_get(&d->by_name, low, db_lower(low, name, n));
    return v ? (uint32_t)*v : 0;
}

int conv_has_member(const conv *c, uint32_t uid)
{
    for (uint32_t i = 0; i < c->nmembers; i++)
        if (c->members[i] == uid) return 1;
    return 0;
}

uint32_t conv_last_message(const conv *c) { return c->nmsgs ? c->msgs[c->nmsgs - 1] : 0; }

uint32_t conv_msg_pos(const conv *c, uint32_t id, int after)
{
    uint32_t lo = 0, hi = c->nmsgs;
    while (lo < hi) {   /* binary search */
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->msgs[mid] < id || (after && c->msgs[mid] == id)) lo = mid + 1; else hi = mid;
    }
    return lo;
}

size_t db_idem_key(char *out, uint32_t author, const char *key, size_t keylen)
{
    put_le32((uint8_t *)out, author);
    memcpy(out + 4, key, keylen);
    return 4 + keylen;
}

/* ---- record encoding ---- */

/* The payload layout of each record type, one letter per field, as db_rec() takes them:
 *   u  u32 (uint32_t)                t  time: u64 on disk (int64_t ms)
 *   c  u8 (int)                      s  string: u32 length + bytes (NUL-ended char *; NULL: "")
 *   b  string from (char *, size_t)  l  id list: u32 count + u32 ids (uint32_t *, uint32_t count)
 *   S  SALT_LEN bytes                H  HASH_LEN bytes (uint8_t *; NULL: zeros)
 * Conversation records carry the whole conversation and the members before the change, so
 * each is an event on its own. A message's body comes last: its file offset is derived. */
static const char *const layout[] = {
    [REC_USER_CREATE] = "utssuSH",   /* id, created, username, display name, iters, salt, hash */
    [REC_USER_UPDATE] = "ucsuSHH",   /* id, what (1 display, 2 password), display name, iters,
                                        salt, hash, the token a password change keeps */
    [REC_USER_DELETE] = "ut",        /* id, when */
    [REC_TOKEN_ADD]   = "uH",        /* user id, sha256(token) */
    [REC_TOKEN_DEL]   = "uH",        /* 0, sha256(token) */
    [REC_CONV_CREATE] = "uutsllu",   /* id, created_by, when, title, members, members before, */
    [REC_CONV_UPDATE] = "uutsllu",   /* the last message's id then (0: none; absent in old logs) */
    [REC_CONV_DELETE] = "uutsllu",
    [REC_MSG_CREATE]  = "uuutbb",    /* id, conversation, author, when, idempotency key, body */
    [REC_MSG_UPDATE]  = "utb",       /* id, when, body */
    [REC_MSG_DELETE]  = "ut",        /* id, when */
    [REC_META]        = "uuu",       /* the id counters: users, conversations, messages */
};

/* type is an int, not a uint8_t: va_start() needs a parameter that is not promoted. */
void db_rec(buf_t *b, int type, ...)
{
    static const uint8_t zero[HASH_LEN];
    va_list ap;
    va_start(ap, type);
    buf_reset(b);
    for (const char *f = layout[type]; *f; f++) {
        const char *str;
        const uint8_t *bytes;
        const uint32_t *ids;
        uint32_t n;
        switch (*f) {
        case 'u': rec_put_u32(b, va_arg(ap, uint32_t)); break;
        case 't': rec_put_u64(b, (uint64_t)va_arg(ap, int64_t)); break;
        case 'c': rec_put_u8(b, (uint8_t)va_arg(ap, int)); break;
        case 's':
        case 'b':
            str = va_arg(ap, const char *);
            n = *f == 'b' ? (uint32_t)va_arg(ap, size_t) : str ? (uint32_t)strlen(str) : 0;
            rec_put_str(b, str ? str : "", n);
            break;
        case 'l':
            ids = va_arg(ap, const uint32_t *);
            n = va_arg(ap, uint32_t);
            rec_put_u32(b, n);
            for (uint32_t i = 0; i < n; i++) rec_put_u32(b, ids[i]);
            break;
        default:   /* S, H */
            bytes = va_arg(ap, const uint8_t *);
            buf_append(b, bytes ? bytes : zero, *f == 'S' ? SALT_LEN : HASH_LEN);
        }
    }
    va_end(ap);
}

void db_rec_meta(buf_t *b, const db *d) { db_rec(b, REC_META, d->nusers, d->nconvs, d->nmsgs); }

/* ---- appliers: one per record type; -1 means the record contradicts the indexes ---- */

/* Drop every token of uid except keep (may be NULL). */
static void revoke_tokens(db *d, uint32_t uid, const uint8_t *keep)
{
    size_t i = 0;
    map_slot *s;
    while ((s = map_next(&d->tokens, &i)))
        if (s->val == uid && !(keep && memcmp(s->key, keep, HASH_LEN) == 0))
            map_del(&d->tokens, s->key, s->keylen);
}

/* A create sets everything. An update sets the display name (what & 1) and the password
 * (what & 2: other tokens than keep are revoked); each makes an earlier record dead. */
static int apply_user(db *d, recr *r, int create, uint64_t seq)
{
    uint32_t id = rec_get_u32(r), nn = 0, dn;
    int64_t ms = create ? (int64_t)rec_get_u64(r) : 0;
    const char *name = create ? rec_get_str(r, &nn) : NULL;
    uint8_t what = create ? 3 : rec_get_u8(r);
    const char *disp = rec_get_str(r, &dn);
    uint32_t iters = rec_get_u32(r);
    const uint8_t *salt = r->p + r->pos;
    user *u = db_user(d, id);
    if (r->err || r->len - r->pos < SALT_LEN + HASH_LEN * (create ? 1u : 2u)) return -1;
    if (create ? id <= d->nusers || nn == 0 || nn > 64 : !u) return -1;
    if (create) {
        char low[64];
        d->users = grow(d->users, &d->nusers, &d->capusers, id, sizeof *d->users);
        u = &d->users[id - 1];
        u->username = xstrndup(name, nn);
        u->created_ms = ms;
        map_put(&d->by_name, low, db_lower(low, name, nn), id);
        d->live_users++;
    }
    if (what & 1) {
        free(u->display_name);
        u->display_name = xstrndup(disp, dn);
        u->disp_seq = seq;
        d->dead += !create;
    }
    if (what & 2) {
        u->iters = iters;
        memcpy(u->salt, salt, SALT_LEN);
        memcpy(u->hash, salt + SALT_LEN, HASH_LEN);
        u->pw_seq = seq;
        d->dead += !create;
        if (!create) revoke_tokens(d, id, salt + SALT_LEN + HASH_LEN);
    }
    return 0;
}

static int apply_user_delete(db *d, recr *r)
{
    uint32_t id = rec_get_u32(r);
    int64_t ms = (int64_t)rec_get_u64(r);
    user *u = db_user(d, id);
    if (!u || r->err) return -1;
    char low[64];
    map_del(&d->by_name, low, db_lower(low, u->username, strlen(u->username)));
    revoke_tokens(d, id, NULL);
    free(u->username);
    u->username = NULL;
    d->live_users--;
    d->dead += 2;
    for (uint32_t i = 0; i < d->nconvs; i++) {   /* a deleted conversation has no members */
        conv *c = &d->convs[i];
        uint32_t k = 0;
        for (uint32_t j = 0; j < c->nmembers; j++)
            if (c->members[j] != id) c->members[k++] = c->members[j];
        if (k < c->nmembers) c->updated_ms = ms;
        c->nmembers = k;
    }
    return 0;
}

static int apply_token(db *d, recr *r, int add)
{
    uint32_t uid = rec_get_u32(r);
    if (r->err || r->len - r->pos < HASH_LEN || (add && !db_user(d, uid))) return -1;
    if (add) map_put(&d->tokens, r->p + r->pos, HASH_LEN, uid);
    else d->dead += 1 + (uint64_t)map_del(&d->tokens, r->p + r->pos, HASH_LEN);
    return 0;
}

int db_conv_rec(recr *r, conv_rec *cr)
{
    cr->id = rec_get_u32(r);
    cr->by = rec_get_u32(r);
    cr->ms = (int64_t)rec_get_u64(r);
    cr->title = rec_get_str(r, &cr->title_len);
    cr->n = rec_get_u32(r);
    cr->members = r->p + r->pos;
    if (r->err || cr->n > (r->len - r->pos) / 4) return -1;   /* no size_t overflow on 32-bit */
    r->pos += (size_t)cr->n * 4;
    cr->nprev = rec_get_u32(r);
    cr->prev = r->p + r->pos;
    if (r->err || cr->nprev > (r->len - r->pos) / 4) return -1;
    r->pos += (size_t)cr->nprev * 4;
    cr->last = r->len - r->pos >= 4 ? rec_get_u32(r) : 0;   /* a record from before the field */
    return 0;
}

static int apply_conv(db *d, recr *r, int create, uint64_t seq)
{
    conv_rec cr;
    conv *c;
    if (db_conv_rec(r, &cr) < 0) return -1;
    if (create) {
        if (cr.id <= d->nconvs) return -1;
        d->convs = grow(d->convs, &d->nconvs, &d->capconvs, cr.id, sizeof *d->convs);
        c = &d->convs[cr.id - 1];
        c->created_by = cr.by;
        c->created_ms = cr.ms;
        d->live_convs++;
    } else if (!(c = db_conv(d, cr.id))) {
        return -1;
    } else {
        d->dead += c->upd_seq != 0;   /* the update it supersedes; the create stays needed */
        c->upd_seq = seq;
    }
    c->updated_ms = cr.ms;
    free(c->title);
    c->title = xstrndup(cr.title, cr.title_len);
    free(c->members);
    c->members = xmalloc((cr.n ? cr.n : 1) * sizeof *c->members);
    for (uint32_t i = 0; i < cr.n; i++) c->members[i] = le32(cr.members + 4 * i);
    c->nmembers = cr.n;
    return 0;
}

/* The conversation's creator and creation time stay: past events still name them. */
static int apply_conv_delete(db *d, recr *r)
{
    conv *c = db_conv(d, rec_get_u32(r));
    if (!c || r->err) return -1;
    for (uint32_t i = 0; i < c->nmsgs; i++) d->msgs[c->msgs[i] - 1].flags &= ~(uint32_t)MSG_LIVE;
    d->live_msgs -= c->nmsgs;
    d->dead += 2 + 2 * (uint64_t)c->nmsgs;
    d->stale_bodies += c->nmsgs;
    d->live_convs--;
    free(c->title); free(c->members); free(c->msgs);
    *c = (conv){ .created_by = c->created_by, .created_ms = c->created_ms, .updated_ms = c->updated_ms,
                 .upd_seq = c->upd_seq };
    return 0;
}

static int apply_msg_create(db *d, recr *r, uint64_t off)
{
    uint32_t id = rec_get_u32(r), cid = rec_get_u32(r), author = rec_get_u32(r);
    int64_t ms = (int64_t)rec_get_u64(r);
    uint32_t kn, bn;
    const char *key = rec_get_str(r, &kn), *body = rec_get_str(r, &bn);
    conv *c = db_conv(d, cid);
    if (r->err || !c || id <= d->nmsgs || kn > 128) return -1;
    d->msgs = grow(d->msgs, &d->nmsgs, &d->capmsgs, id, sizeof *d->msgs);
    d->msgs[id - 1] = (msg){ off + (uint64_t)((const uint8_t *)body - r->p), ms, ms, cid, author,
                             bn, MSG_LIVE | (kn ? MSG_HAS_KEY : 0) };
    if (c->nmsgs == c->capmsgs) {
        c->capmsgs = c->capmsgs ? c->capmsgs * 2 : 4;
        c->msgs = xrealloc(c->msgs, c->capmsgs * sizeof *c->msgs);
    }
    c->msgs[c->nmsgs++] = id;
    c->updated_ms = ms;
    d->live_msgs++;
    if (kn) {
        char k[4 + 128];
        map_put(&d->idem, k, db_idem_key(k, author, key, kn), id);
    }
    return 0;
}

static int apply_msg_update(db *d, recr *r, uint64_t off)
{
    msg *m = db_msg(d, rec_get_u32(r));
    int64_t ms = (int64_t)rec_get_u64(r);
    uint32_t bn;
    const char *body = rec_get_str(r, &bn);
    if (!m || r->err) return -1;
    d->stale_bodies += m->body_len != 0;   /* 0: a body a compaction already erased */
    m->body_off = off + (uint64_t)((const uint8_t *)body - r->p);
    m->body_len = bn;
    m->updated_ms = ms;
    d->dead += (m->flags & MSG_EDITED) != 0;   /* the edit it supersedes; the create stays needed */
    m->flags |= MSG_EDITED;
    return 0;
}

static int apply_msg_delete(db *d, recr *r)
{
    uint32_t id = rec_get_u32(r);
    msg *m = db_msg(d, id);
    if (!m || r->err) return -1;
    m->flags &= ~(uint32_t)MSG_LIVE;
    conv *c = db_conv(d, m->conv_id);
    uint32_t at = c ? conv_msg_pos(c, id, 0) : 0;
    if (c && at < c->nmsgs && c->msgs[at] == id) {
        memmove(c->msgs + at, c->msgs + at + 1, (c->nmsgs - at - 1) * sizeof *c->msgs);
        c->nmsgs--;
    }
    d->live_msgs--;
    d->dead += 2;
    d->stale_bodies++;
    return 0;
}

/* Raise the id counters to the floors a compaction recorded (slots stay empty). */
static int apply_meta(db *d, recr *r)
{
    uint32_t nu = rec_get_u32(r), nc = rec_get_u32(r), nm = rec_get_u32(r);
    if (r->err) return -1;
    d->users = grow(d->users, &d->nusers, &d->capusers, nu, sizeof *d->users);
    d->convs = grow(d->convs, &d->nconvs, &d->capconvs, nc, sizeof *d->convs);
    d->msgs = grow(d->msgs, &d->nmsgs, &d->capmsgs, nm, sizeof *d->msgs);
    return 0;
}

/* Did object id of this kind (0 users, 1 conversations, 2 messages) exist: at the moment
 * recorded in at, or now when at is NULL? */
static int existed(db *d, const db_alive *at, int kind, uint32_t id)
{
    if (at) {
        const uint8_t *bits = kind == 0 ? at->users : kind == 1 ? at->convs : at->msgs;
        uint32_t n = kind == 0 ? at->nusers : kind == 1 ? at->nconvs : at->nmsgs;
        return id >= 1 && id <= n && (bits[(id - 1) / 8] >> ((id - 1) % 8) & 1);
    }
    return kind == 0 ? db_user(d, id) != NULL : kind == 1 ? db_conv(d, id) != NULL : db_msg(d, id) != NULL;
}

void db_alive_take(db *d, db_alive *at)
{
    uint32_t n[3] = { d->nusers, d->nconvs, d->nmsgs };
    uint8_t **bits[3] = { &at->users, &at->convs, &at->msgs };
    at->nusers = n[0], at->nconvs = n[1], at->nmsgs = n[2];
    for (int k = 0; k < 3; k++) {
        *bits[k] = xcalloc(n[k] / 8 + 1, 1);
        for (uint32_t id = 1; id <= n[k]; id++)
            if (existed(d, NULL, k, id)) (*bits[k])[(id - 1) / 8] |= (uint8_t)(1u << ((id - 1) % 8));
    }
}

void db_alive_free(db_alive *at)
{
    free(at->users); free(at->convs); free(at->msgs);
    memset(at, 0, sizeof *at);
}

int db_live(db *d, const db_alive *at, uint64_t seq, uint8_t type, const uint8_t *p, uint32_t len, uint64_t off)
{
    recr r;
    recr_init(&r, p, len);
    uint32_t id = rec_get_u32(&r), n;
    switch (type) {
    case REC_USER_CREATE: return existed(d, at, 0, id);
    case REC_USER_UPDATE:
        return existed(d, at, 0, id) && (d->users[id - 1].disp_seq == seq || d->users[id - 1].pw_seq == seq);
    case REC_TOKEN_ADD: {
        uint64_t *v = len >= 4 + HASH_LEN ? map_get(&d->tokens, p + 4, HASH_LEN) : NULL;
        return v && *v == id;
    }
    case REC_CONV_CREATE: return existed(d, at, 1, id);
    case REC_CONV_UPDATE: return existed(d, at, 1, id) && d->convs[id - 1].upd_seq == seq;
    case REC_MSG_CREATE: return existed(d, at, 2, id);
    case REC_MSG_UPDATE: {
        rec_get_u64(&r);
        const char *body = rec_get_str(&r, &n);
        return !r.err && existed(d, at, 2, id) &&
               d->msgs[id - 1].body_off == off + (uint64_t)((const uint8_t *)body - p);
    }
    default: return 0;   /* deletes, and META (the compactor keeps its own) */
    }
}

/* Ids are handed out one per create record and records keep their seq, so no id can be
 * above its record's seq: a larger one is damage (and would size the arrays absurdly). */
static int ids_fit(uint8_t type, const uint8_t *p, uint32_t len, uint64_t seq)
{
    int n = type == REC_META ? 3 : (type == REC_USER_CREATE || type == REC_CONV_CREATE || type == REC_MSG_CREATE);
    for (int i = 0; i < n; i++)
        if (len < 4 * (uint32_t)(i + 1) || le32(p + 4 * i) > seq || le32(p + 4 * i) > DB_MAX_ID) return 0;
    return 1;
}

int db_apply(db *d, uint64_t seq, uint8_t type, const uint8_t *p, uint32_t len, uint64_t off)
{
    recr r;
    recr_init(&r, p, len);
    if (!ids_fit(type, p, len, seq)) return -1;
    switch (type) {
    case REC_USER_CREATE: return apply_user(d, &r, 1, seq);
    case REC_USER_UPDATE: return apply_user(d, &r, 0, seq);
    case REC_USER_DELETE: return apply_user_delete(d, &r);
    case REC_TOKEN_ADD:   return apply_token(d, &r, 1);
    case REC_TOKEN_DEL:   return apply_token(d, &r, 0);
    case REC_CONV_CREATE: return apply_conv(d, &r, 1, seq);
    case REC_CONV_UPDATE: return apply_conv(d, &r, 0, seq);
    case REC_CONV_DELETE: return apply_conv_delete(d, &r);
    case REC_MSG_CREATE:  return apply_msg_create(d, &r, off);
    case REC_MSG_UPDATE:  return apply_msg_update(d, &r, off);
    case REC_MSG_DELETE:  return apply_msg_delete(d, &r);
    case REC_META:        return apply_meta(d, &r);
    default:              return -1;
    }
}
