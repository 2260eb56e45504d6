/* views.c — the JSON of users, conversations, messages, events and errors (the contract's
 * shapes, API.md). A conversation event is rendered from its record, a message event as the
 * message is now. Nothing here decides who sees what (policy.c) or sends anything. */
#include "views.h"
#include "json.h"
#include <stdlib.h>

/* By hand: it is in every object of every response, and gmtime_r + printf showed up in
 * profiles. Days to date: Howard Hinnant's civil_from_days. */
void view_time(buf_t *b, int64_t ms)
{
    int64_t sec = ms / 1000, days = sec / 86400, rem = sec % 86400;
    int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    int v[7] = { (int)y, (int)m, (int)d, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60),
                 (int)(ms % 1000) };
    char t[26] = "\"0000-00-00T00:00:00.000Z\"";
    static const int at[7] = { 4, 7, 10, 13, 16, 19, 23 };   /* index of each field's last digit */
    for (int i = 0; i < 7; i++)
        for (int k = at[i], x = v[i]; x > 0; k--, x /= 10) t[k] = (char)('0' + x % 10);
    buf_append(b, t, sizeof t);
}

static void view_online(buf_t *b, int online, int64_t seen_ms)   /* ,"online":..,"last_seen_at":..|null} */
{
    buf_printf(b, ",\"online\":%s,\"last_seen_at\":", online ? "true" : "false");
    if (seen_ms) view_time(b, seen_ms);
    else buf_puts(b, "null");
    buf_putc(b, '}');
}

void view_user(buf_t *b, uint32_t id, const user *u)
{
    buf_printf(b, "{\"id\":%u,\"username\":", id);
    json_cstr(b, u->username);
    buf_puts(b, ",\"display_name\":");
    json_cstr(b, u->display_name);
    buf_puts(b, ",\"created_at\":");
    view_time(b, u->created_ms);
    view_online(b, u->streams || u->gone_ms, u->seen_ms);
}

void view_presence(buf_t *b, uint32_t id, int online, int64_t seen_ms)
{
    buf_printf(b, "{\"type\":\"presence\",\"user_id\":%u", id);
    view_online(b, online, seen_ms);
}

static void id_or_null(buf_t *b, const char *key, uint32_t id)   /* ,"key":id (0: null) */
{
    buf_printf(b, ",\"%s\":", key);
    if (id) buf_putu(b, id); else buf_puts(b, "null");
}

/* A conversation from its parts: the index's, or an event's record with the index's rest. */
static void conv_json(buf_t *b, uint32_t id, const conv *c, rec_str title, const rec_ids *members,
                      uint32_t last)
{
    buf_printf(b, "{\"id\":%u,\"title\":", id);
    json_str(b, title.p, title.n);
    buf_puts(b, c->peer ? ",\"direct\":true,\"member_ids\":[" : ",\"direct\":false,\"member_ids\":[");
    for (uint32_t i = 0; i < members->n; i++) buf_printf(b, "%s%u", i ? "," : "", rec_id(members, i));
    buf_printf(b, "],\"created_by\":%u,\"owner_id\":%u,\"created_at\":", c->created_by, c->owner_id);
    view_time(b, c->created_ms);
    buf_puts(b, ",\"updated_at\":");
    view_time(b, c->updated_ms);
    id_or_null(b, "last_message_id", last);   /* left open */
}

void view_conv(buf_t *b, db *d, const store *st, uint32_t id, const conv *c, uint32_t caller)
{
    rec_ids members = { c->members, NULL, c->nmembers };
    uint32_t last = conv_last_message(c);
    conv_json(b, id, c, rec_cstr(c->title), &members, last);
    if (caller) {
        buf_puts(b, ",\"last_message\":");   /* the message last_message_id names, as it is now */
        if (!last || view_msg_now(b, d, st, last) < 0) buf_puts(b, "null");
        id_or_null(b, "last_read_message_id", conv_mark(c, caller));
        buf_printf(b, ",\"unread_count\":%u", conv_unread(c, caller));
    }
    buf_putc(b, '}');
}

const buf_t *view_reads(buf_t *b, const conv *c)
{
    buf_reset(b);
    buf_puts(b, "{\"reads\":[");
    for (uint32_t i = 0; i < c->nmembers; i++) {
        buf_printf(b, "%s{\"user_id\":%u", i ? "," : "", c->members[i]);
        id_or_null(b, "last_read_message_id", (uint32_t)c->marks[i]);
        buf_putc(b, '}');
    }
    buf_puts(b, "]}");
    return b;
}

void view_msg(buf_t *b, uint32_t id, const msg *m, const char *body, size_t n)
{
    buf_puts(b, "{\"id\":");   /* no printf: lists write up to 200 of these per request */
    buf_putu(b, id);
    buf_puts(b, ",\"conversation_id\":");
    buf_putu(b, m->conv_id);
    buf_puts(b, ",\"author_id\":");
    buf_putu(b, m->author_id);
    buf_puts(b, ",\"body\":");
    json_str(b, body, n);
    buf_puts(b, ",\"reply_to_id\":");
    if (m->reply_to) buf_putu(b, m->reply_to); else buf_puts(b, "null");
    buf_puts(b, ",\"created_at\":");
    size_t at = b->len;
    view_time(b, m->created_ms);
    buf_puts(b, ",\"updated_at\":");
    buf_reserve(b, 26);   /* unedited: view_time's 26 bytes again (reserved: no realloc under them) */
    if (m->updated_ms == m->created_ms) buf_append(b, b->data + at, 26);
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
    buf_printf(b, "{%s\"error\":{\"code\":\"%s\",\"message\":", stream ? "\"type\":\"error\"," : "", code);
    json_cstr(b, message);
    buf_puts(b, "}}");
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
        buf_printf(b, "\"message\":{\"id\":%u,\"conversation_id\":%u}}", id, m->conv_id);
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
        buf_printf(b, "\"conversation\":{\"id\":%u}}", cr->id);
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
    buf_printf(b, "\"conversation_id\":%u,\"user_id\":%u,\"last_read_message_id\":%u}", r->read.conv,
               r->read.user, r->read.msg);
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
