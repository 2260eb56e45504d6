/* views.c — the JSON of users, conversations, messages, events and errors (the contract's
 * shapes, API.md). A conversation event is rendered from its record, a message event as the
 * message is now. Nothing here decides who sees what (policy.c) or sends anything. */
#include "views.h"
#include "json.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* By hand: it is in every object of every response, and gmtime_r + printf showed up in
 * profiles. Days to date: Howard Hinnant's civil_from_days. */
void view_time(buf_t *b, int64_t ms)
{
    uint32_t days = (uint32_t)((uint64_t)ms / 86400000), r = (uint32_t)((uint64_t)ms % 86400000);
    uint32_t z = days + 719468, era = z / 146097, doe = z - era * 146097;   /* unsigned: 1.6x faster */
    uint32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    uint32_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    uint32_t y = yoe + era * 400 + (m <= 2);
    uint32_t v[8] = { y / 100, y % 100, m, d, r / 3600000, r / 60000 % 60, r / 1000 % 60, r % 1000 / 10 };
    char t[26] = "\"0000-00-00T00:00:00.000Z\"";
    for (int i = 0; i < 8; i++) {   /* two digits a field, at 3i (the year's first two at 1) */
        t[i ? 3 * i : 1] = (char)('0' + v[i] / 10);
        t[i ? 3 * i + 1 : 2] = (char)('0' + v[i] % 10);
    }
    t[23] = (char)('0' + r % 10);   /* the last digit of the ms */
    buf_append(b, t, sizeof t);
}

/* A small printf for the views, appending in place: %u (uint32_t), %s (text as it is), %j (a C
 * string as a JSON string), %t (ms, as view_time). vsnprintf was a third of the conversation
 * list's CPU (1,400 calls for 200 conversations). */
static void put(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (const char *p = fmt;; p += 2) {
        size_t n = 0;   /* (strcspn's setup cost more than these short runs) */
        while (p[n] && p[n] != '%') n++;
        buf_append(b, p, n);
        if (!*(p += n)) break;
        if (p[1] == 'u') buf_putu(b, va_arg(ap, unsigned));
        else if (p[1] == 's') buf_puts(b, va_arg(ap, const char *));
        else if (p[1] == 'j') json_cstr(b, va_arg(ap, const char *));
        else view_time(b, va_arg(ap, int64_t));
    }
    va_end(ap);
}

static void view_online(buf_t *b, int online, int64_t seen_ms)   /* ,"online":..,"last_seen_at":..|null} */
{
    put(b, seen_ms ? ",\"online\":%s,\"last_seen_at\":%t}" : ",\"online\":%s,\"last_seen_at\":null}",
        online ? "true" : "false", seen_ms);
}

void view_user(buf_t *b, uint32_t id, const user *u)
{
    put(b, "{\"id\":%u,\"username\":%j,\"display_name\":%j,\"created_at\":%t", id, u->username,
        u->display_name, u->created_ms);
    view_online(b, u->streams || u->gone_ms, u->seen_ms);
}

void view_presence(buf_t *b, uint32_t id, int online, int64_t seen_ms)
{
    put(b, "{\"type\":\"presence\",\"user_id\":%u", id);
    view_online(b, online, seen_ms);
}

static void id_or_null(buf_t *b, const char *key, uint32_t id)   /* ,"key":id (0: null) */
{
    put(b, id ? ",\"%s\":%u" : ",\"%s\":null", key, id);
}

/* A conversation from its parts: the index's, or an event's record with the index's rest. */
static void conv_json(buf_t *b, uint32_t id, const conv *c, rec_str title, const rec_ids *members,
                      uint32_t last)
{
    put(b, "{\"id\":%u,\"title\":", id);
    json_str(b, title.p, title.n);
    put(b, ",\"direct\":%s,\"member_ids\":[", c->peer ? "true" : "false");
    for (uint32_t i = 0; i < members->n; i++) put(b, i ? ",%u" : "%u", rec_id(members, i));
    put(b, "],\"created_by\":%u,\"owner_id\":%u,\"created_at\":%t,\"updated_at\":%t", c->created_by,
        c->owner_id, c->created_ms, c->updated_ms);
    id_or_null(b, "last_message_id", last);   /* left open */
}

void view_conv(buf_t *b, db *d, const store *st, uint32_t id, const conv *c, uint32_t caller)
{
    uint32_t last = conv_last_message(c);
    conv_json(b, id, c, rec_cstr(c->title), &(rec_ids){ c->members, NULL, c->nmembers }, last);
    if (caller) {
        buf_puts(b, ",\"last_message\":");   /* the message last_message_id names, as it is now */
        if (!last || view_msg_now(b, d, st, last) < 0) buf_puts(b, "null");
        id_or_null(b, "last_read_message_id", conv_mark(c, caller));
        put(b, ",\"unread_count\":%u", conv_unread(c, caller));
    }
    buf_putc(b, '}');
}

const buf_t *view_reads(buf_t *b, const conv *c)
{
    buf_puts(buf_reset(b), "{\"reads\":[");
    for (uint32_t i = 0; i < c->nmembers; i++) {
        put(b, "%s{\"user_id\":%u", i ? "," : "", c->members[i]);
        id_or_null(b, "last_read_message_id", (uint32_t)c->marks[i]);
        buf_putc(b, '}');
    }
    buf_puts(b, "]}");
    return b;
}

void view_msg(buf_t *b, uint32_t id, const msg *m, const char *body, size_t n)
{
    put(b, "{\"id\":%u,\"conversation_id\":%u,\"author_id\":%u,\"body\":", id, m->conv_id, m->author_id);
    json_str(b, body, n);
    id_or_null(b, "reply_to_id", m->reply_to);
    put(b, ",\"created_at\":%t,\"updated_at\":", m->created_ms);   /* unedited: created_at's 26 bytes */
    buf_reserve(b, 26);   /* again, 40 back (26 + ,"updated_at":), reserved: no realloc under them */
    if (m->updated_ms == m->created_ms) buf_append(b, b->data + b->len - 40, 26);
    else view_time(b, m->updated_ms);
    buf_puts(b, (m->flags & MSG_EDITED) ? ",\"edited\":true}" : ",\"edited\":false}");
}

int view_msg_now(buf_t *b, db *d, const store *st, uint32_t id)
{
    const msg *m = &d->msgs[id - 1];
    char body[MSG_BODY_MAX];
    if (m->body_len > sizeof body || store_pread(st, m->body_off, body, m->body_len) < 0) return -1;
    view_msg(b, id, m, body, m->body_len);
    return 0;
}

void view_error(buf_t *b, int stream, const char *code, const char *message)
{
    put(b, "{%s\"error\":{\"code\":\"%s\",\"message\":%j}}", stream ? "\"type\":\"error\"," : "", code,
        message);
}

/* ---- events ---- */

/* A message as it is now: one deleted since shows only its message.deleted, one edited since
 * its current body; an old body is never sent again. */
static int event_msg(buf_t *b, db *d, const store *st, const rec_t *r)
{
    uint32_t id = r->del.id;   /* every message record starts with the id */
    if (id < 1 || id > d->nmsgs) return 0;
    const msg *m = &d->msgs[id - 1];
    if (r->type == REC_MSG_DELETE) {
        put(b, "\"message\":{\"id\":%u,\"conversation_id\":%u}}", id, m->conv_id);
        return 1;
    }
    if (!(m->flags & MSG_LIVE)) return 0;
    buf_puts(b, "\"message\":");
    if (view_msg_now(b, d, st, id) < 0) return 0;
    buf_putc(b, '}');
    return 1;
}

static int event_conv(buf_t *b, db *d, const store *st, const rec_t *r)
{
    const rec_conv *cr = &r->conv;
    if (cr->id < 1 || cr->id > d->nconvs) return 0;
    if (r->type == REC_CONV_DELETE) {
        put(b, "\"conversation\":{\"id\":%u}}", cr->id);
        return 1;
    }
    conv c = d->convs[cr->id - 1];   /* the record's state, with its creator from the index */
    c.updated_ms = cr->ms;
    c.owner_id = rec_conv_owner(cr);
    buf_puts(b, "\"conversation\":");   /* the last message as of the record, not a later one */
    conv_json(b, cr->id, &c, cr->title, &cr->members, cr->last);
    buf_puts(b, "}}");
    return 1;
}

static int event_read(buf_t *b, db *d, const store *st, const rec_t *r)   /* quiet: no event */
{
    put(b, "\"conversation_id\":%u,\"user_id\":%u,\"last_read_message_id\":%u}", r->read.conv, r->read.user,
        r->read.msg);
    return !r->read.quiet;
}

/* The event of each record type: its name and renderer; "" for a type that is no event.
 * Every type needs a row (views_types_ok checks at start-up). */
typedef int render_fn(buf_t *b, db *d, const store *st, const rec_t *r);
static const struct { const char *name; render_fn *render; } kinds[REC_TYPES] = {
    [REC_USER_CREATE] = { "", NULL }, [REC_USER_UPDATE] = { "", NULL }, [REC_USER_DELETE] = { "", NULL },
    [REC_TOKEN_ADD] = { "", NULL }, [REC_TOKEN_DEL] = { "", NULL }, [REC_META] = { "", NULL },
    [REC_SEEN] = { "", NULL },   /* presence events are not stored (presence.c) */
    [REC_MSG_CREATE] = { "message.created", event_msg },
    [REC_MSG_UPDATE] = { "message.updated", event_msg },
    [REC_MSG_DELETE] = { "message.deleted", event_msg },
    [REC_CONV_CREATE] = { "conversation.created", event_conv },
    [REC_CONV_UPDATE] = { "conversation.updated", event_conv },
    [REC_CONV_DELETE] = { "conversation.deleted", event_conv },
    [REC_READ] = { "conversation.read", event_read },
};

int views_types_ok(void)
{
    for (int t = 1; t < REC_TYPES; t++)
        if (!kinds[t].name || !*kinds[t].name != !kinds[t].render) return t;
    return 0;
}

const char *view_event_name(uint8_t type)
{
    return type < REC_TYPES && kinds[type].render ? kinds[type].name : NULL;
}

int view_event(buf_t *b, db *d, const store *st, uint64_t seq, const rec_t *r)
{
    const char *name = view_event_name(r->type);
    if (!name) return 0;
    buf_printf(b, "{\"id\":%llu,\"type\":\"%s\",", (unsigned long long)seq, name);
    return kinds[r->type].render(b, d, st, r);
}
