/* rec.c — the record codec: one typed encode/decode pair per record type and a table indexed
 * by type, so an unknown type is refused, never guessed. Compiled with -Wconversion. */
#include "rec.h"
#include "store.h"
#include <stdlib.h>
#include <string.h>

/* ---- primitives ---- */

static void put_u8(buf_t *b, uint8_t v) { buf_append(b, &v, 1); }
static void put_u32(buf_t *b, uint32_t v) { uint8_t t[4]; put_le32(t, v); buf_append(b, t, 4); }
static void put_u64(buf_t *b, uint64_t v) { uint8_t t[8]; put_le64(t, v); buf_append(b, t, 8); }
static void put_time(buf_t *b, int64_t ms) { put_u64(b, (uint64_t)ms); }
static void put_str(buf_t *b, rec_str s) { put_u32(b, s.n); buf_append(b, s.n ? s.p : "", s.n); }

static void put_bytes(buf_t *b, const uint8_t *p, size_t n)
{
    static const uint8_t zero[HASH_LEN];
    buf_append(b, p ? p : zero, n);
}

static void put_ids(buf_t *b, rec_ids l)
{
    put_u32(b, l.n);
    for (uint32_t i = 0; i < l.n; i++) put_u32(b, rec_id(&l, i));
}

rec_str rec_cstr(const char *s) { return (rec_str){ s, s ? (uint32_t)strlen(s) : 0 }; }

uint32_t rec_id(const rec_ids *l, uint32_t i) { return l->raw ? le32(l->raw + 4 * (size_t)i) : l->ids[i]; }

/* A reader: err sticks, so a decoder checks it once at the end; reads past the end give 0. */
typedef struct rd { const uint8_t *p; size_t len, pos; int err; } rd;

static const uint8_t *take(rd *r, size_t n)
{
    if (r->err || n > r->len - r->pos) { r->err = 1; return NULL; }
    const uint8_t *p = r->p ? r->p + r->pos : (const uint8_t *)"";   /* no arithmetic on NULL */
    r->pos += n;
    return p;
}

static uint8_t get_u8(rd *r) { const uint8_t *p = take(r, 1); return p ? p[0] : 0; }
static uint32_t get_u32(rd *r) { const uint8_t *p = take(r, 4); return p ? le32(p) : 0; }
static int64_t get_time(rd *r) { const uint8_t *p = take(r, 8); return p ? (int64_t)le64(p) : 0; }

static rec_str get_str(rd *r)
{
    uint32_t n = get_u32(r);
    const uint8_t *p = take(r, n);
    return (rec_str){ (const char *)p, p ? n : 0 };
}

static rec_ids get_ids(rd *r)
{
    uint32_t n = get_u32(r);
    if (n > (r->len - r->pos) / 4) { r->err = 1; return (rec_ids){ NULL, NULL, 0 }; }   /* no overflow */
    return (rec_ids){ NULL, take(r, (size_t)n * 4), n };
}

/* ---- one pair per type ---- */

static void enc_user_create(buf_t *b, const rec_t *r)
{
    const rec_user_create *u = &r->user_create;
    put_u32(b, u->id); put_time(b, u->ms); put_str(b, u->name); put_str(b, u->display);
    put_u32(b, u->iters); put_bytes(b, u->salt, SALT_LEN); put_bytes(b, u->hash, HASH_LEN);
}

static void dec_user_create(rd *d, rec_t *r)
{
    rec_user_create *u = &r->user_create;
    u->id = get_u32(d); u->ms = get_time(d); u->name = get_str(d); u->display = get_str(d);
    u->iters = get_u32(d); u->salt = take(d, SALT_LEN); u->hash = take(d, HASH_LEN);
}

static void enc_user_update(buf_t *b, const rec_t *r)
{
    const rec_user_update *u = &r->user_update;
    put_u32(b, u->id); put_u8(b, u->what); put_str(b, u->display); put_u32(b, u->iters);
    put_bytes(b, u->salt, SALT_LEN); put_bytes(b, u->hash, HASH_LEN); put_bytes(b, u->keep, HASH_LEN);
}

static void dec_user_update(rd *d, rec_t *r)
{
    rec_user_update *u = &r->user_update;
    u->id = get_u32(d); u->what = get_u8(d); u->display = get_str(d); u->iters = get_u32(d);
    u->salt = take(d, SALT_LEN); u->hash = take(d, HASH_LEN); u->keep = take(d, HASH_LEN);
}

static void enc_del(buf_t *b, const rec_t *r) { put_u32(b, r->del.id); put_time(b, r->del.ms); }
static void dec_del(rd *d, rec_t *r) { r->del.id = get_u32(d); r->del.ms = get_time(d); }
static void enc_token(buf_t *b, const rec_t *r)
{
    put_u32(b, r->token.uid); put_bytes(b, r->token.hash, HASH_LEN);
    if (r->type == REC_TOKEN_ADD) put_time(b, r->token.ms);
}
static void dec_token(rd *d, rec_t *r)
{
    r->token.uid = get_u32(d); r->token.hash = take(d, HASH_LEN);
    r->token.ms = r->type == REC_TOKEN_ADD && d->len - d->pos >= 8 ? get_time(d) : 0;   /* old logs: 0 */
}

static void enc_conv(buf_t *b, const rec_t *r)
{
    const rec_conv *c = &r->conv;
    put_u32(b, c->id); put_u32(b, c->by); put_time(b, c->ms); put_str(b, c->title);
    put_ids(b, c->members); put_ids(b, c->prev); put_u32(b, c->last); put_u32(b, c->owner);
    put_u32(b, c->direct);
}

static void dec_conv(rd *d, rec_t *r)
{
    rec_conv *c = &r->conv;
    c->id = get_u32(d); c->by = get_u32(d); c->ms = get_time(d); c->title = get_str(d);
    c->members = get_ids(d); c->prev = get_ids(d);
    c->last = d->len - d->pos >= 4 ? get_u32(d) : 0;   /* a record from before the field: none */
    c->owner = d->len - d->pos >= 4 ? get_u32(d) : 0;
    c->direct = d->len - d->pos >= 4 ? get_u32(d) : 0;
}

uint32_t rec_conv_owner(const rec_conv *c)
{
    for (uint32_t i = 0; !c->owner && i < c->members.n; i++)
        if (rec_id(&c->members, i) == c->by) return c->by;
    return c->owner ? c->owner : c->members.n ? rec_id(&c->members, 0) : c->by;
}

static void enc_msg_create(buf_t *b, const rec_t *r)
{
    const rec_msg_create *m = &r->msg_create;
    put_u32(b, m->id); put_u32(b, m->conv); put_u32(b, m->author); put_time(b, m->ms);
    put_str(b, m->key); put_str(b, m->body); put_u32(b, m->reply);
}

static void dec_msg_create(rd *d, rec_t *r)
{
    rec_msg_create *m = &r->msg_create;
    m->id = get_u32(d); m->conv = get_u32(d); m->author = get_u32(d); m->ms = get_time(d);
    m->key = get_str(d); m->body = get_str(d);
    m->reply = d->len - d->pos >= 4 ? get_u32(d) : 0;
}

static void enc_msg_update(buf_t *b, const rec_t *r)
{
    put_u32(b, r->msg_update.id); put_time(b, r->msg_update.ms); put_str(b, r->msg_update.body);
}

static void dec_msg_update(rd *d, rec_t *r)
{
    r->msg_update.id = get_u32(d); r->msg_update.ms = get_time(d); r->msg_update.body = get_str(d);
}

static void enc_meta(buf_t *b, const rec_t *r)
{
    put_u32(b, r->meta.users); put_u32(b, r->meta.convs); put_u32(b, r->meta.msgs);
}

static void dec_meta(rd *d, rec_t *r)
{
    r->meta.users = get_u32(d); r->meta.convs = get_u32(d); r->meta.msgs = get_u32(d);
}

static void enc_read(buf_t *b, const rec_t *r)
{
    put_u32(b, r->read.conv); put_u32(b, r->read.user); put_u32(b, r->read.msg); put_u8(b, r->read.quiet);
}

static void dec_read(rd *d, rec_t *r)
{
    r->read.conv = get_u32(d); r->read.user = get_u32(d); r->read.msg = get_u32(d); r->read.quiet = get_u8(d);
}

static const struct {
    const char *name;
    void (*enc)(buf_t *, const rec_t *);
    void (*dec)(rd *, rec_t *);
} types[REC_TYPES] = {
    [REC_USER_CREATE] = { "USER_CREATE", enc_user_create, dec_user_create },
    [REC_USER_UPDATE] = { "USER_UPDATE", enc_user_update, dec_user_update },
    [REC_USER_DELETE] = { "USER_DELETE", enc_del, dec_del },
    [REC_TOKEN_ADD]   = { "TOKEN_ADD", enc_token, dec_token },
    [REC_TOKEN_DEL]   = { "TOKEN_DEL", enc_token, dec_token },
    [REC_CONV_CREATE] = { "CONV_CREATE", enc_conv, dec_conv },
    [REC_CONV_UPDATE] = { "CONV_UPDATE", enc_conv, dec_conv },
    [REC_CONV_DELETE] = { "CONV_DELETE", enc_conv, dec_conv },
    [REC_MSG_CREATE]  = { "MSG_CREATE", enc_msg_create, dec_msg_create },
    [REC_MSG_UPDATE]  = { "MSG_UPDATE", enc_msg_update, dec_msg_update },
    [REC_MSG_DELETE]  = { "MSG_DELETE", enc_del, dec_del },
    [REC_META]        = { "META", enc_meta, dec_meta },
    [REC_READ]        = { "READ", enc_read, dec_read },
    [REC_SEEN]        = { "SEEN", enc_del, dec_del },
};

const char *rec_name(uint8_t type) { return type < REC_TYPES ? types[type].name : NULL; }

void rec_encode(buf_t *b, const rec_t *r)
{
    if (!rec_name(r->type)) abort();   /* a caller's bug: there is nothing sensible to write */
    buf_reset(b);
    types[r->type].enc(b, r);
}

int rec_decode(rec_t *r, uint8_t type, const uint8_t *p, size_t len)
{
    memset(r, 0, sizeof *r);
    r->type = type;
    r->payload = p;
    if (!rec_name(type)) return -2;
    rd d = { p, len, 0, 0 };
    types[type].dec(&d, r);
    return d.err ? -1 : 0;
}

uint32_t rec_at(const rec_t *r, const void *p) { return (uint32_t)((const uint8_t *)p - r->payload); }
