/* db.c — in-memory indexes rebuilt from, and kept in step with, the log records. Arrays indexed by id
 * (ids are dense and never reused), three hash maps, the users by name, and one sorted id list per
 * conversation. Nothing here touches the file: bodies are read by the caller. */
#include "db.h"
#include "store.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void db_init(db *d)
{
    memset(d, 0, sizeof *d);   /* the maps too: an all-zero map is empty (map.h) */
}

void db_free(db *d)
{
    for (uint32_t i = 0; i < d->nusers; i++)   /* users/convs may be NULL: NULL + 0 is UB */
        free(d->users[i].username), free(d->users[i].display_name), free(d->users[i].convs);
    for (conv *c = d->convs; c && c < d->convs + d->nconvs; c++)
        free(c->title), free(c->members), free(c->msgs), free(c->marks), free(c->wait);
    free(d->users); free(d->convs); free(d->msgs); free(d->names);
    map_free(&d->tokens); map_free(&d->idem); map_free(&d->pairs);
}

/* Make room for id in an array indexed by id - 1, and raise *n to id, zeroing the slots it adds
 * (only those: the capacity above n stays untouched, so not resident, and is never read). */
static void *grow(void *arr, uint32_t *n, uint32_t *cap, uint32_t id, size_t elem)
{
    if (id > *cap) {
        uint32_t c = *cap ? *cap : 64;
        while (c < id) c *= 2;
        arr = xrealloc(arr, (size_t)c * elem);
        *cap = c;
    }
    if (id > *n) memset((char *)arr + (size_t)*n * elem, 0, (size_t)(id - *n) * elem), *n = id;
    return arr;
}

#define LIVE(arr, n, live) (id >= 1 && id <= d->n && d->arr[id - 1].live ? &d->arr[id - 1] : NULL)
user *db_user(db *d, int64_t id) { return LIVE(users, nusers, username); }
conv *db_conv(db *d, int64_t id) { return LIVE(convs, nconvs, title); }
msg *db_msg(db *d, int64_t id) { return LIVE(msgs, nmsgs, flags & MSG_LIVE); }

conv *db_member_conv(db *d, int64_t id, uint32_t uid)
{
    return db_conv(d, id) && conv_has_member(&d->convs[id - 1], uid) ? &d->convs[id - 1] : NULL;
}

/* An ASCII lower-case copy of s into out (the throttle's key). */
size_t db_lower(char *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = (char)tolower((unsigned char)s[i]);
    return n;
}

/* The name index: d->names[0..sorted) are the live users' ids by strcasecmp of their names (then
 * by id: names are unique but in a log made by hand); a create appends its id, names_sync() puts
 * those in place before a lookup: each by binary search and memmove (a registration: O(n) moves
 * of 4 bytes) or, when many, all by one qsort (a replay: O(n log n), not O(n^2)). */
static uint32_t name_pos(db *d, const char *s, uint32_t id)   /* the first (name, id) >= (s, id) */
{
    uint32_t lo = 0, hi = d->sorted;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2, u = d->names[mid];
        int r = strcasecmp(d->users[u - 1].username, s);
        if (r < 0 || (r == 0 && u < id)) lo = mid + 1; else hi = mid;
    }
    return lo;
}

typedef struct { uint64_t key; uint32_t id; } name_key;   /* key: the first 8 bytes of the name */
static db *sorting;   /* qsort's comparator has no context argument */
static int by_name(const void *a, const void *b)
{
    const name_key *x = a, *y = b;
    int r = (x->key > y->key) - (x->key < y->key);
    r = r ? r : strcasecmp(sorting->users[x->id - 1].username, sorting->users[y->id - 1].username);
    return r ? r : (x->id > y->id) - (x->id < y->id);
}

static void names_sync(db *d)
{
    uint32_t n = d->sorted, id;
    for (uint32_t i = d->sorted; i < d->nnames; i++)   /* users deleted since their create go */
        if (d->users[d->names[i] - 1].username) d->names[n++] = d->names[i];
    if ((d->nnames = n) - d->sorted > 16) {   /* many (a replay): one qsort, of keys (few cache misses) */
        name_key *k = xmalloc((size_t)n * sizeof *k);
        for (uint32_t i = 0, j; i < n; i++) {   /* lower-cased, big-endian, 0 after the end */
            const char *u = d->users[(k[i].id = d->names[i]) - 1].username;
            for (j = 0, k[i].key = 0; j < 8; j++, u += *u != 0)
                k[i].key = k[i].key << 8 | (uint8_t)tolower((unsigned char)*u);
        }
        sorting = d, qsort(k, n, sizeof *k, by_name);
        for (uint32_t i = 0; i < n; i++) d->names[i] = k[i].id;
        free(k), d->sorted = n;
    }
    for (uint32_t at; d->sorted < n; d->names[at] = id, d->sorted++) {
        id = d->names[d->sorted];
        at = name_pos(d, d->users[id - 1].username, id);
        memmove(d->names + at + 1, d->names + at, (d->sorted - at) * 4);
    }
}

uint32_t db_users_prefix(db *d, const char *p, size_t n, uint32_t *out, uint32_t max)
{
    uint32_t k = 0;
    names_sync(d);
    for (uint32_t at = name_pos(d, p, 0); k < max && at < d->sorted; at++)
        if (strncasecmp(d->users[d->names[at] - 1].username, p, n)) break;
        else out[k++] = d->names[at];
    return k;
}

uint32_t db_user_by_name(db *d, const char *name, size_t n)
{
    uint32_t id = 0;   /* the first with this prefix is the name itself, if any */
    return db_users_prefix(d, name, n, &id, 1) && strlen(d->users[id - 1].username) == n ? id : 0;
}

static size_t pair_key(uint8_t k[8], uint32_t a, uint32_t b)
{
    put_le32(k, a < b ? a : b), put_le32(k + 4, a < b ? b : a);
    return 8;
}

uint32_t db_direct(db *d, uint32_t a, uint32_t b)
{
    uint8_t k[8];
    uint64_t *v = map_get(&d->pairs, k, pair_key(k, a, b));
    return v ? (uint32_t)*v : 0;
}

/* uid's list of conversations (user.convs): add cid to it, or drop it. */
static void member_of(db *d, uint32_t uid, uint32_t cid, int add)
{
    user *u = db_user(d, uid);
    uint32_t i = 0;
    while (u && i < u->nconvs && u->convs[i] != cid) i++;
    if (!u || (i < u->nconvs) == add) return;   /* there already / not there */
    if (!add) { u->convs[i] = u->convs[--u->nconvs]; return; }
    if (u->nconvs == u->capconvs) u->convs = xrealloc(u->convs, (u->capconvs = 2 * u->nconvs + 2) * 4);
    u->convs[u->nconvs++] = cid;
}

/* Read markers: marks[i] is members[i]'s, message id | the low half of the seq of the record
 * that set it << 32 (0: none; the keep rule compares it). members[at] is tried first. */
static uint64_t *mark_of(const conv *c, uint32_t uid, uint32_t at)
{
    if (at >= c->nmembers || c->members[at] != uid)
        for (at = 0; at < c->nmembers && c->members[at] != uid; at++) {}
    return at < c->nmembers ? &c->marks[at] : NULL;
}

int conv_has_member(const conv *c, uint32_t uid) { return mark_of(c, uid, 0) != NULL; }
uint32_t conv_mark(const conv *c, uint32_t u) { uint64_t *k = mark_of(c, u, 0); return k ? (uint32_t)*k : 0; }
uint32_t conv_unread(const conv *c, uint32_t uid) { return c->nmsgs - conv_msg_pos(c, conv_mark(c, uid), 1); }

/* uid's marker waiting in c->wait until uid is a member (see apply_conv), or NULL. */
static uint64_t *wait_of(const conv *c, uint32_t uid)
{
    for (uint32_t i = 0; i < c->nwait; i++)
        if (c->wait[2 * i] == uid) return &c->wait[2 * i + 1];
    return NULL;
}

/* Set uid's marker to message id by the record seq; one not (yet) a member waits. */
static void set_mark(conv *c, uint32_t uid, uint32_t id, uint64_t seq)
{
    uint64_t *k = mark_of(c, uid, 0);
    if (!k && !(k = wait_of(c, uid))) {
        c->wait = xrealloc(c->wait, (c->nwait + 1) * 2 * sizeof *c->wait);
        c->wait[2 * c->nwait] = uid;
        k = &c->wait[2 * c->nwait++ + 1];
    }
    *k = id | seq << 32;
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

void db_rec_meta(buf_t *b, const db *d)
{
    rec_encode(b, &(rec_t){ .type = REC_META, .meta = { d->nusers, d->nconvs, d->nmsgs } });
}

/* ---- appliers: one per record type; -1 means the record contradicts the indexes ---- */
#define APPLY(f) static int f(db *d, const rec_t *r, uint64_t seq, uint64_t off)

/* Drop every token of uid except keep (may be NULL). */
static void revoke_tokens(db *d, uint32_t uid, const uint8_t *keep)
{
    size_t i = 0;
    map_slot *s;
    while ((s = map_next(&d->tokens, &i)))
        if ((uint32_t)s->val == uid && !(keep && memcmp(s->key, keep, HASH_LEN) == 0))
            map_del(&d->tokens, s->key, s->keylen);
}

/* Ids are handed out one per create record and records keep their seq, so no id can be
 * above its record's seq: a larger one is damage (and would size the arrays absurdly). */
static int id_fits(uint32_t id, uint64_t seq) { return id <= seq && id <= DB_MAX_ID; }

static void set_display(user *u, rec_str disp, uint64_t seq)
{
    free(u->display_name);
    u->display_name = xstrndup(disp.p, disp.n);
    u->disp_seq = seq;
}

static void set_password(user *u, uint32_t iters, const uint8_t *salt, const uint8_t *hash, uint64_t seq)
{
    u->iters = iters;
    memcpy(u->salt, salt, SALT_LEN);
    memcpy(u->hash, hash, HASH_LEN);
    u->pw_seq = seq;
}

APPLY(apply_user_create)
{
    const rec_user_create *uc = &r->user_create;
    if (!id_fits(uc->id, seq) || uc->id <= d->nusers || uc->name.n == 0 || uc->name.n > USERNAME_MAX)
        return -1;
    d->users = grow(d->users, &d->nusers, &d->capusers, uc->id, sizeof *d->users);
    user *u = &d->users[uc->id - 1];
    u->username = xstrndup(uc->name.p, uc->name.n), u->created_ms = uc->ms;
    if (d->nnames == d->capnames) d->names = xrealloc(d->names, (d->capnames = 2 * d->capnames + 64) * 4ul);
    d->names[d->nnames++] = uc->id;   /* in place at the next lookup */
    d->live_users++;
    set_display(u, uc->display, seq);
    set_password(u, uc->iters, uc->salt, uc->hash, seq);
    return 0;
}

/* An update sets the display name (what & 1) and the password (what & 2: other tokens than
 * keep are revoked); each makes an earlier record dead. */
APPLY(apply_user_update)
{
    const rec_user_update *uu = &r->user_update;
    user *u = db_user(d, uu->id);
    if (!u) return -1;
    if (uu->what & 1) set_display(u, uu->display, seq);
    if (uu->what & 2) set_password(u, uu->iters, uu->salt, uu->hash, seq), revoke_tokens(d, uu->id, uu->keep);
    d->dead += (uu->what & 1) + (uu->what >> 1 & 1);   /* the records they supersede */
    return 0;
}

APPLY(apply_user_delete)
{
    uint32_t id = r->del.id;
    user *u = db_user(d, id);
    if (!u) return -1;
    uint32_t at = name_pos(d, u->username, id);   /* else not sorted in yet: names_sync() drops it */
    if (at < d->sorted && d->names[at] == id)
        memmove(d->names + at, d->names + at + 1, (--d->nnames - at) * 4), d->sorted--;
    revoke_tokens(d, id, NULL);
    free(u->username), u->username = NULL;
    d->live_users--;
    d->dead += 2 + (u->seen_seq != 0);
    for (uint32_t i = 0; i < u->nconvs; i++) {   /* a log without the updates leaving them */
        conv *c = &d->convs[u->convs[i] - 1];
        uint32_t k = 0;
        for (uint32_t j = 0; j < c->nmembers; j++)
            if (c->members[j] != id) c->marks[k] = c->marks[j], c->members[k++] = c->members[j];
        c->updated_ms = r->del.ms;
        c->nmembers = k;
        if (c->owner_id == id && k) c->owner_id = c->members[0];
    }
    free(u->convs), u->convs = NULL, u->nconvs = u->capconvs = 0;
    for (conv *c = d->convs; c && c < d->convs + d->nconvs; c++) {   /* its markers waiting go */
        uint64_t *k = wait_of(c, id);
        if (k) memmove(k - 1, c->wait + 2 * --c->nwait, 2 * sizeof *k);
    }
    return 0;
}

APPLY(apply_token_add)
{
    if (!db_user(d, r->token.uid)) return -1;
    int64_t ms = r->token.ms ? r->token.ms : d->boot_ms;   /* 0: a record from before the field */
    map_put(&d->tokens, r->token.hash, HASH_LEN, r->token.uid | (uint64_t)((ms + 999) / 1000) << 32);
    return 0;
}

APPLY(apply_token_del) { d->dead += 1 + (uint64_t)map_del(&d->tokens, r->token.hash, HASH_LEN); return 0; }

APPLY(apply_conv)
{
    const rec_conv *cr = &r->conv;
    conv *c;
    if (r->type == REC_CONV_CREATE) {
        if (!id_fits(cr->id, seq) || cr->id <= d->nconvs) return -1;
        d->convs = grow(d->convs, &d->nconvs, &d->capconvs, cr->id, sizeof *d->convs);
        c = &d->convs[cr->id - 1];
        c->created_by = cr->by, c->created_ms = cr->ms;
        d->live_convs++;
        uint8_t k[8];
        c->peer = cr->direct && cr->members.n == 2 ? rec_id(&cr->members, 1) : 0;
        if (c->peer) map_put(&d->pairs, k, pair_key(k, cr->by, c->peer), cr->id);
    } else if (!(c = db_conv(d, cr->id))) {
        return -1;
    } else {
        d->dead += c->upd_seq != 0;   /* the update it supersedes; the create stays needed */
        c->upd_seq = seq;
    }
    /* Members keep their markers; one added (again) has none. A compacted log may lack the record
     * that added a member and set its marker first: it waits (wait_of); the others waiting go. */
    uint64_t *marks = xcalloc(cr->members.n + 1, sizeof *marks), *p;
    for (uint32_t i = 0; i < cr->members.n; i++) {
        uint32_t uid = rec_id(&cr->members, i);
        if ((p = mark_of(c, uid, i)) || (p = wait_of(c, uid))) marks[i] = *p;
    }
    free(c->wait);
    c->wait = NULL, c->nwait = 0;
    free(c->marks);
    c->marks = marks;
    c->updated_ms = cr->ms;
    free(c->title);
    c->title = xstrndup(cr->title.p, cr->title.n);
    for (uint32_t i = 0; i < c->nmembers; i++) member_of(d, c->members[i], cr->id, 0);
    free(c->members);
    c->members = xmalloc((cr->members.n ? cr->members.n : 1) * sizeof *c->members);
    for (uint32_t i = 0; i < cr->members.n; i++) c->members[i] = rec_id(&cr->members, i);
    for (uint32_t i = 0; i < cr->members.n; i++) member_of(d, c->members[i], cr->id, 1);
    c->nmembers = cr->members.n;
    c->owner_id = rec_conv_owner(cr);
    return 0;
}

/* The conversation's creator and creation time stay: past events still name them. */
APPLY(apply_conv_delete)
{
    conv *c = db_conv(d, r->conv.id);
    uint8_t k[8];
    if (!c) return -1;
    if (c->peer && db_direct(d, c->created_by, c->peer) == r->conv.id)   /* the pair may have another */
        map_del(&d->pairs, k, pair_key(k, c->created_by, c->peer));
    for (uint32_t i = 0; i < c->nmsgs; i++) d->msgs[c->msgs[i] - 1].flags &= ~(uint32_t)MSG_LIVE;
    d->live_msgs -= c->nmsgs;
    d->dead += 2 + 2 * (uint64_t)c->nmsgs;
    d->stale_bodies += c->nmsgs;
    d->live_convs--;
    for (uint32_t i = 0; i < c->nmembers; i++) member_of(d, c->members[i], r->conv.id, 0);
    free(c->title); free(c->members); free(c->msgs); free(c->marks); free(c->wait);   /* waits too */
    *c = (conv){ .created_by = c->created_by, .created_ms = c->created_ms, .updated_ms = c->updated_ms,
                 .upd_seq = c->upd_seq, .peer = c->peer };
    return 0;
}

APPLY(apply_msg_create)
{
    const rec_msg_create *mc = &r->msg_create;
    uint32_t id = mc->id;
    conv *c = db_conv(d, mc->conv);
    if (!id_fits(id, seq) || !c || id <= d->nmsgs || mc->key.n > IDEM_KEY_MAX) return -1;
    d->msgs = grow(d->msgs, &d->nmsgs, &d->capmsgs, id, sizeof *d->msgs);
    d->msgs[id - 1] = (msg){ off + rec_at(r, mc->body.p), mc->ms, mc->ms, mc->conv, mc->author,
                             mc->reply, mc->body.n, MSG_LIVE | (mc->key.n ? MSG_HAS_KEY : 0) };
    if (c->nmsgs == c->capmsgs)
        c->msgs = xrealloc(c->msgs, (c->capmsgs = c->capmsgs ? c->capmsgs * 2 : 4) * sizeof *c->msgs);
    c->msgs[c->nmsgs++] = id;
    c->updated_ms = mc->ms;
    d->live_msgs++;
    set_mark(c, mc->author, id, seq);   /* a post moves its author's marker: no record of its own */
    if (mc->key.n) {
        char k[4 + IDEM_KEY_MAX];
        uint64_t first = (uint64_t)crc32c(0, mc->body.p, mc->body.n) << 32;
        map_put(&d->idem, k, db_idem_key(k, mc->author, mc->key.p, mc->key.n), first | id);
    }
    return 0;
}

APPLY(apply_msg_update)
{
    const rec_msg_update *mu = &r->msg_update;
    msg *m = db_msg(d, mu->id);
    if (!m) return -1;
    d->stale_bodies += m->body_len != 0;   /* 0: a body a compaction already erased */
    m->body_off = off + rec_at(r, mu->body.p);
    m->body_len = mu->body.n;
    m->updated_ms = mu->ms;
    d->dead += (m->flags & MSG_EDITED) != 0;   /* the edit it supersedes; the create stays needed */
    m->flags |= MSG_EDITED;
    return 0;
}

APPLY(apply_msg_delete)
{
    uint32_t id = r->del.id;
    msg *m = db_msg(d, id);
    if (!m) return -1;
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
APPLY(apply_meta)
{
    const rec_meta *mt = &r->meta;
    if (!id_fits(mt->users, seq) || !id_fits(mt->convs, seq) || !id_fits(mt->msgs, seq)) return -1;
    d->users = grow(d->users, &d->nusers, &d->capusers, mt->users, sizeof *d->users);
    d->convs = grow(d->convs, &d->nconvs, &d->capconvs, mt->convs, sizeof *d->convs);
    d->msgs = grow(d->msgs, &d->nmsgs, &d->capmsgs, mt->msgs, sizeof *d->msgs);
    return 0;
}

APPLY(apply_read)
{
    conv *c = db_conv(d, r->read.conv);
    if (!c || !id_fits(r->read.msg, seq)) return -1;
    d->dead += conv_mark(c, r->read.user) != 0;   /* roughly: the marker's last record may be a post */
    set_mark(c, r->read.user, r->read.msg, seq);
    return 0;
}

APPLY(apply_seen)
{
    user *u = db_user(d, r->del.id);
    if (!u) return -1;
    d->dead += u->seen_seq != 0;   /* the last_seen_at it supersedes */
    u->seen_ms = r->del.ms, u->seen_seq = seq;
    return 0;
}

/* ---- compaction keep rules ---- */

enum { K_USER, K_CONV, K_MSG };

/* Did object id of this kind exist: at the moment recorded in at, or now when at is NULL? */
static int existed(db *d, const db_alive *at, int kind, uint32_t id)
{
    if (at) {
        const uint8_t *bits = kind == K_USER ? at->users : kind == K_CONV ? at->convs : at->msgs;
        uint32_t n = kind == K_USER ? at->nusers : kind == K_CONV ? at->nconvs : at->nmsgs;
        return id >= 1 && id <= n && (bits[(id - 1) / 8] >> ((id - 1) % 8) & 1);
    }
    return kind == K_USER ? !!db_user(d, id) : kind == K_CONV ? !!db_conv(d, id) : !!db_msg(d, id);
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

typedef int keep_fn(db *d, const db_alive *at, const rec_t *r, uint64_t seq, uint64_t off);
#define KEEP(f) static int f(db *d, const db_alive *at, const rec_t *r, uint64_t seq, uint64_t off)
KEEP(keep_never) { return 0; }   /* deletes; META: the compactor writes its own */
KEEP(keep_user) { return existed(d, at, K_USER, r->user_create.id); }
KEEP(keep_msg) { return existed(d, at, K_MSG, r->msg_create.id); }
KEEP(keep_seen) { return existed(d, at, K_USER, r->del.id) && d->users[r->del.id - 1].seen_seq == seq; }

KEEP(keep_user_update)
{
    uint32_t id = r->user_update.id;
    return existed(d, at, K_USER, id) && (d->users[id - 1].disp_seq == seq || d->users[id - 1].pw_seq == seq);
}

KEEP(keep_token)
{
    uint64_t *v = map_get(&d->tokens, r->token.hash, HASH_LEN);
    return v && (uint32_t)*v == r->token.uid;
}

KEEP(keep_conv)
{
    uint32_t id = r->conv.id;
    return existed(d, at, K_CONV, id) && (r->type == REC_CONV_CREATE || d->convs[id - 1].upd_seq == seq);
}

KEEP(keep_msg_update)
{
    uint32_t id = r->msg_update.id;
    return existed(d, at, K_MSG, id) && d->msgs[id - 1].body_off == off + rec_at(r, r->msg_update.body.p);
}

/* The marker's latest record only: none of members who left or of deleted conversations. */
KEEP(keep_read)
{
    uint32_t id = r->read.conv;
    const uint64_t *k = existed(d, at, K_CONV, id) ? mark_of(&d->convs[id - 1], r->read.user, 0) : NULL;
    return k && *k == (r->read.msg | seq << 32);
}

/* ---- one row per record type: every type needs both (db_types_ok checks) ---- */

typedef int apply_fn(db *d, const rec_t *r, uint64_t seq, uint64_t off);

static const struct { apply_fn *apply; keep_fn *keep; } kinds[REC_TYPES] = {
    [REC_USER_CREATE] = { apply_user_create, keep_user },
    [REC_USER_UPDATE] = { apply_user_update, keep_user_update },
    [REC_USER_DELETE] = { apply_user_delete, keep_never },
    [REC_TOKEN_ADD]   = { apply_token_add, keep_token },
    [REC_TOKEN_DEL]   = { apply_token_del, keep_never },
    [REC_CONV_CREATE] = { apply_conv, keep_conv },
    [REC_CONV_UPDATE] = { apply_conv, keep_conv },
    [REC_CONV_DELETE] = { apply_conv_delete, keep_never },
    [REC_MSG_CREATE]  = { apply_msg_create, keep_msg },
    [REC_MSG_UPDATE]  = { apply_msg_update, keep_msg_update },
    [REC_MSG_DELETE]  = { apply_msg_delete, keep_never },
    [REC_META]        = { apply_meta, keep_never },
    [REC_READ]        = { apply_read, keep_read },
    [REC_SEEN]        = { apply_seen, keep_seen },
};

int db_types_ok(void)
{
    for (int t = 1; t < REC_TYPES; t++)
        if (!rec_name((uint8_t)t) || !kinds[t].apply || !kinds[t].keep) return t;
    return 0;
}

int db_live(db *d, const db_alive *at, uint64_t seq, uint8_t type, const uint8_t *p, uint32_t len,
            uint64_t off)
{
    rec_t r;
    return rec_decode(&r, type, p, len) == 0 && kinds[type].keep(d, at, &r, seq, off);
}

int db_apply(db *d, uint64_t seq, uint8_t type, const uint8_t *p, uint32_t len, uint64_t off)
{
    rec_t r;
    return rec_decode(&r, type, p, len) == 0 ? kinds[type].apply(d, &r, seq, off) : -1;
}
