/* policy.c — the access rules (see policy.h). Membership is the one rule for reading; changes
 * need authorship (messages), ownership (deleting a conversation, dropping members) or being
 * oneself (users). */
#include "policy.h"
#include "store.h"

static const policy_no no_conv = { 404, "not_found", "no such conversation" };
static const policy_no no_msg = { 404, "not_found", "no such message" };
static const policy_no no_user = { 404, "not_found", "no such user" };
static const policy_no not_owner = { 403, "forbidden", "only the owner deletes it" };
static const policy_no not_owner_drop = { 403, "forbidden", "only the owner may remove other members" };
static const policy_no not_author = { 403, "forbidden", "only the author may change it" };
static const policy_no not_self = { 403, "forbidden", "you may only change yourself" };

conv *policy_conv(db *d, int64_t id, uint32_t uid) { return db_member_conv(d, id, uid); }

const policy_no *policy_conv_find(db *d, int64_t id, uint32_t uid, conv **out)
{
    return (*out = policy_conv(d, id, uid)) ? NULL : &no_conv;
}

const policy_no *policy_conv_delete(const conv *c, uint32_t uid)
{
    return c->owner_id == uid || c->peer ? NULL : &not_owner;   /* a direct one: either member */
}

int policy_in(const uint32_t *m, uint32_t n, uint32_t id)
{
    for (uint32_t i = 0; i < n; i++)
        if (m[i] == id) return 1;
    return 0;
}

const policy_no *policy_conv_members(const conv *c, uint32_t uid, const uint32_t *m, uint32_t n)
{
    for (uint32_t i = 0; uid != c->owner_id && i < c->nmembers; i++)
        if (c->members[i] != uid && !policy_in(m, n, c->members[i])) return &not_owner_drop;
    return NULL;
}

const policy_no *policy_msg(db *d, int64_t id, uint32_t uid, int change, msg **out)
{
    msg *m = db_msg(d, id);
    *out = NULL;
    if (!m || !policy_conv(d, m->conv_id, uid)) return &no_msg;
    if (change && m->author_id != uid) return &not_author;
    *out = m;
    return NULL;
}

const policy_no *policy_user(db *d, int64_t id, uint32_t uid, int change)
{
    if (!db_user(d, id)) return &no_user;
    return change && id != uid ? &not_self : NULL;
}

static int is_msg(uint8_t t) { return t == REC_MSG_CREATE || t == REC_MSG_UPDATE || t == REC_MSG_DELETE; }
static int is_conv(uint8_t t) { return t == REC_CONV_CREATE || t == REC_CONV_UPDATE || t == REC_CONV_DELETE; }

void policy_recipients(db *d, const rec_t *r, void (*add)(void *ctx, uint32_t uid), void *ctx)
{
    if (is_msg(r->type) || r->type == REC_READ) {
        uint32_t id = r->del.id;   /* every message record starts with the id */
        const conv *cv = r->type == REC_READ ? db_conv(d, r->read.conv)
                         : id >= 1 && id <= d->nmsgs ? db_conv(d, d->msgs[id - 1].conv_id) : NULL;
        for (uint32_t i = 0; cv && i < cv->nmembers; i++) add(ctx, cv->members[i]);
    } else if (is_conv(r->type)) {
        for (uint32_t i = 0; i < r->conv.members.n; i++) add(ctx, rec_id(&r->conv.members, i));
        for (uint32_t i = 0; i < r->conv.prev.n; i++) add(ctx, rec_id(&r->conv.prev, i));
    }
}

void policy_presence(db *d, uint32_t uid, void (*add)(void *ctx, uint32_t uid), void *ctx)
{
    const user *u = db_user(d, uid);
    for (uint32_t i = 0; u && i < u->nconvs; i++) {   /* its conversations only (db.h) */
        const conv *c = &d->convs[u->convs[i] - 1];
        for (uint32_t j = 0; j < c->nmembers; j++)
            if (c->members[j] != uid) add(ctx, c->members[j]);
    }
}

int policy_sees(db *d, uint32_t uid, uint8_t type, const uint8_t *p, uint32_t len, uint32_t *cid, int *sees)
{
    if (is_msg(type)) {
        uint32_t id = len >= 4 ? le32(p) : 0;
        if (id < 1 || id > d->nmsgs) return 0;
        if (d->msgs[id - 1].conv_id != *cid) {
            *cid = d->msgs[id - 1].conv_id;
            *sees = db_member_conv(d, *cid, uid) != NULL;
        }
        return *sees;
    }
    if (type == REC_READ) return len >= 4 && db_member_conv(d, le32(p), uid);   /* its conversation first */
    rec_t r;
    if (!is_conv(type) || rec_decode(&r, type, p, len) < 0) return 0;
    for (uint32_t i = 0; i < r.conv.members.n; i++)
        if (rec_id(&r.conv.members, i) == uid) return 1;
    for (uint32_t i = 0; i < r.conv.prev.n; i++)
        if (rec_id(&r.conv.prev, i) == uid) return 1;
    return 0;
}

int policy_revokes(uint8_t t) { return t == REC_TOKEN_DEL || t == REC_USER_UPDATE || t == REC_USER_DELETE; }

int policy_token_expired(uint64_t v, int64_t ttl_s, int64_t now_ms)
{
    return ttl_s && now_ms >= ((int64_t)(v >> 32) + ttl_s) * 1000;
}
