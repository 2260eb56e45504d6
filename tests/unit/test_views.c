/* test_views.c — the JSON views (src/views.c), linked with the layers below only: times,
 * users, conversations, messages, the error envelope, and every event from its record. */
#include "views.h"
#include "store.h"
#include "t.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static buf_t b, enc;
static uint64_t seq;
static store st;   /* a real log: message events read their body back */

static const char *str(void) { buf_putc(&b, 0); b.len--; return b.data; }

static int put(db *d, rec_t r)
{
    uint64_t off;
    rec_encode(&enc, &r);
    if (store_append(&st, r.type, enc.data, (uint32_t)enc.len, &seq, &off) < 0) return -2;
    return db_apply(d, seq, r.type, (const uint8_t *)enc.data, (uint32_t)enc.len, off);
}

/* The event of r as the next record; "" when there is none. */
static const char *event(db *d, rec_t r)
{
    CHECK_EQ_INT(put(d, r), 0);
    rec_t dec;
    CHECK_EQ_INT(rec_decode(&dec, r.type, (const uint8_t *)enc.data, enc.len), 0);
    buf_reset(&b);
    if (!view_event(&b, d, &st, seq, &dec)) return "";
    return str();
}

static void test_objects(void)
{
    buf_reset(&b); view_time(&b, 0);
    CHECK_STR(str(), "\"1970-01-01T00:00:00.000Z\"");
    buf_reset(&b); view_time(&b, 1700000000123);
    CHECK_STR(str(), "\"2023-11-14T22:13:20.123Z\"");
    buf_reset(&b); view_time(&b, 951782400005);   /* a leap day */
    CHECK_STR(str(), "\"2000-02-29T00:00:00.005Z\"");
    /* beside gmtime_r + strftime: 20,000 times from 1970 to 9999 (view_time's own arithmetic) */
    uint64_t x = 88172645463325252ull;
    int same = 0;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t ms = (int64_t)(x % 253402300800000ull) / (i % 2 ? 1 : 86400000) * (i % 2 ? 1 : 86400000);
        time_t sec = (time_t)(ms / 1000);
        struct tm tm;
        char want[40];
        gmtime_r(&sec, &tm);
        size_t n = strftime(want, sizeof want, "\"%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want + n, sizeof want - n, ".%03dZ\"", (int)(ms % 1000));
        buf_reset(&b); view_time(&b, ms);
        same += strcmp(str(), want) == 0;
    }
    CHECK_EQ_INT(same, 20000);

    user u = { .username = "ann", .display_name = "Ann \"A\"", .created_ms = 1000 };
    buf_reset(&b); view_user(&b, 7, &u);
    CHECK_STR(str(), "{\"id\":7,\"username\":\"ann\",\"display_name\":\"Ann \\\"A\\\"\","
                     "\"created_at\":\"1970-01-01T00:00:01.000Z\",\"online\":false,\"last_seen_at\":null}");
    u.streams = 2, u.seen_ms = 2000;   /* online: a stream open; last_seen_at: the one before */
    buf_reset(&b); view_user(&b, 7, &u);
    CHECK(strstr(str(), ",\"online\":true,\"last_seen_at\":\"1970-01-01T00:00:02.000Z\"}"));
    u.streams = 0, u.gone_ms = 3000;   /* in the grace: still online */
    buf_reset(&b); view_user(&b, 7, &u);
    CHECK(strstr(str(), ",\"online\":true,\"last_seen_at\":\"1970-01-01T00:00:02.000Z\"}"));
    u.gone_ms = 0, u.seen_ms = 3000;
    buf_reset(&b); view_user(&b, 7, &u);
    CHECK(strstr(str(), ",\"online\":false,\"last_seen_at\":\"1970-01-01T00:00:03.000Z\"}"));
    buf_reset(&b); view_presence(&b, 7, 1, 0);
    CHECK_STR(str(), "{\"type\":\"presence\",\"user_id\":7,\"online\":true,\"last_seen_at\":null}");
    buf_reset(&b); view_presence(&b, 7, 0, 3000);
    CHECK_STR(str(), "{\"type\":\"presence\",\"user_id\":7,\"online\":false,"
                     "\"last_seen_at\":\"1970-01-01T00:00:03.000Z\"}");
    uint32_t mem[2] = { 7, 9 }, msgs[2] = { 3, 4 };
    conv c = { .title = "t", .members = mem, .nmembers = 2, .created_by = 7, .owner_id = 9, .created_ms = 0, .updated_ms = 2000,
               .msgs = msgs, .nmsgs = 2 };
    buf_reset(&b); view_conv(&b, NULL, NULL, 5, &c, 0);
    CHECK_STR(str(), "{\"id\":5,\"title\":\"t\",\"direct\":false,\"member_ids\":[7,9],\"created_by\":7,\"owner_id\":9,"
                     "\"created_at\":\"1970-01-01T00:00:00.000Z\",\"updated_at\":\"1970-01-01T00:00:02.000Z\","
                     "\"last_message_id\":4}");
    uint64_t marks[2] = { 3 | (uint64_t)77 << 32, 0 };   /* 7 read up to message 3; 9 has no marker */
    c.marks = marks;
    view_reads(&b, &c);
    CHECK_STR(str(), "{\"reads\":[{\"user_id\":7,\"last_read_message_id\":3},{\"user_id\":9,\"last_read_message_id\":null}]}");
    c.peer = 9;   /* a direct conversation */
    buf_reset(&b); view_conv(&b, NULL, NULL, 5, &c, 0);
    CHECK(strstr(str(), "{\"id\":5,\"title\":\"t\",\"direct\":true,\"member_ids\":[7,9],") != NULL);
    c.nmsgs = 0; c.nmembers = 0;
    view_reads(&b, &c);
    CHECK_STR(str(), "{\"reads\":[]}");
    buf_reset(&b); view_conv(&b, NULL, NULL, 5, &c, 0);
    CHECK(strstr(str(), "\"member_ids\":[],") && strstr(str(), "\"last_message_id\":null}"));
    msg m = { .conv_id = 5, .author_id = 7, .reply_to = 2, .created_ms = 0, .updated_ms = 1,
              .flags = MSG_LIVE | MSG_EDITED };
    buf_reset(&b); view_msg(&b, 3, &m, "a\nb", 3);
    CHECK_STR(str(), "{\"id\":3,\"conversation_id\":5,\"author_id\":7,\"body\":\"a\\nb\",\"reply_to_id\":2,"
                     "\"created_at\":\"1970-01-01T00:00:00.000Z\",\"updated_at\":\"1970-01-01T00:00:00.001Z\","
                     "\"edited\":true}");
    buf_reset(&b); view_error(&b, 0, "not_found", "no \"such\" thing");
    CHECK_STR(str(), "{\"error\":{\"code\":\"not_found\",\"message\":\"no \\\"such\\\" thing\"}}");
    buf_reset(&b); view_error(&b, 1, "bad", "x");
    CHECK_STR(str(), "{\"type\":\"error\",\"error\":{\"code\":\"bad\",\"message\":\"x\"}}");
}

static void test_events(void)
{
    CHECK_EQ_INT(views_types_ok(), 0);
    static const char *const names[REC_TYPES] = {
        [REC_MSG_CREATE] = "message.created", [REC_MSG_UPDATE] = "message.updated",
        [REC_MSG_DELETE] = "message.deleted", [REC_CONV_CREATE] = "conversation.created",
        [REC_CONV_UPDATE] = "conversation.updated", [REC_CONV_DELETE] = "conversation.deleted",
        [REC_READ] = "conversation.read" };
    for (int t = 0; t < 256; t++) {
        const char *n = view_event_name((uint8_t)t);
        if (t < REC_TYPES && names[t]) CHECK_STR(n, names[t]);
        else CHECK(n == NULL);
    }
    db d;
    db_init(&d);
    char dir[] = "/tmp/test_views.XXXXXX", err[256];
    CHECK(mkdtemp(dir) != NULL);
    CHECK_EQ_INT(store_open(&st, dir, 0, NULL, NULL, err, sizeof err), 0);
    uint32_t ab[2] = { 1, 2 }, a[1] = { 1 };
    CHECK_STR(event(&d, (rec_t){ .type = REC_USER_CREATE, .user_create = { 1, 0, rec_cstr("ann") } }), "");
    CHECK_STR(event(&d, (rec_t){ .type = REC_USER_CREATE, .user_create = { 2, 0, rec_cstr("bo") } }), "");
    CHECK_STR(event(&d, (rec_t){ .type = REC_CONV_CREATE, .conv = { 1, 1, 1000, rec_cstr("t"), { ab, NULL, 2 } } }),
              "{\"id\":3,\"type\":\"conversation.created\",\"conversation\":{\"id\":1,\"title\":\"t\","
              "\"direct\":false,\"member_ids\":[1,2],\"created_by\":1,\"owner_id\":1,\"created_at\":\"1970-01-01T00:00:01.000Z\","
              "\"updated_at\":\"1970-01-01T00:00:01.000Z\",\"last_message_id\":null}}");
    CHECK_STR(event(&d, (rec_t){ .type = REC_MSG_CREATE, .msg_create = { 1, 1, 2, 2000, rec_cstr(""), rec_cstr("hi") } }),
              "{\"id\":4,\"type\":\"message.created\",\"message\":{\"id\":1,\"conversation_id\":1,\"author_id\":2,"
              "\"body\":\"hi\",\"reply_to_id\":null,\"created_at\":\"1970-01-01T00:00:02.000Z\",\"updated_at\":\"1970-01-01T00:00:02.000Z\","
              "\"edited\":false}}");
    rec_t create = { .type = REC_MSG_CREATE, .msg_create = { 1, 1, 2, 2000, rec_cstr(""), rec_cstr("hi") } };
    CHECK_STR(event(&d, (rec_t){ .type = REC_MSG_UPDATE, .msg_update = { 1, 3000, rec_cstr("ho") } }),
              "{\"id\":5,\"type\":\"message.updated\",\"message\":{\"id\":1,\"conversation_id\":1,\"author_id\":2,"
              "\"body\":\"ho\",\"reply_to_id\":null,\"created_at\":\"1970-01-01T00:00:02.000Z\",\"updated_at\":\"1970-01-01T00:00:03.000Z\","
              "\"edited\":true}}");
    /* the record gives title, members and the last message then; the creator is the index's */
    CHECK_STR(event(&d, (rec_t){ .type = REC_CONV_UPDATE, .conv = { 1, 1, 4000, rec_cstr("u"), { a, NULL, 1 },
                                                                    { ab, NULL, 2 }, 1 } }),
              "{\"id\":6,\"type\":\"conversation.updated\",\"conversation\":{\"id\":1,\"title\":\"u\","
              "\"direct\":false,\"member_ids\":[1],\"created_by\":1,\"owner_id\":1,\"created_at\":\"1970-01-01T00:00:01.000Z\","
              "\"updated_at\":\"1970-01-01T00:00:04.000Z\",\"last_message_id\":1}}");
    buf_reset(&b);   /* the create replayed after the edit: the message as it is now */
    rec_encode(&enc, &create);
    rec_t dec;
    CHECK_EQ_INT(rec_decode(&dec, REC_MSG_CREATE, (const uint8_t *)enc.data, enc.len), 0);
    CHECK_EQ_INT(view_event(&b, &d, &st, 4, &dec), 1);
    CHECK(strstr(str(), "\"body\":\"ho\"") && strstr(str(), "\"edited\":true}"));
    buf_reset(&b); view_conv(&b, &d, &st, 1, db_conv(&d, 1), 2);   /* a caller's: the last message as now */
    CHECK(strstr(str(), "\"last_message_id\":1,\"last_message\":{\"id\":1,\"conversation_id\":1,") &&
          strstr(str(), "\"body\":\"ho\",") && strstr(str(), "\"edited\":true},"));
    buf_reset(&b); view_conv(&b, &d, &st, 1, db_conv(&d, 1), 0);   /* no caller (events): none */
    CHECK(strstr(str(), "\"last_message_id\":1}") && !strstr(str(), "last_message\""));
    buf_reset(&b); view_conv(&b, &d, &st, 1, db_conv(&d, 1), 1);   /* 1 has no marker: 1 unread */
    CHECK(strstr(str(), "\"edited\":true},\"last_read_message_id\":null,\"unread_count\":1}"));
    /* a marker moved by POST .../read is an event; one moved by a post is none */
    CHECK_STR(event(&d, (rec_t){ .type = REC_READ, .read = { 1, 1, 1, 0 } }),
              "{\"id\":7,\"type\":\"conversation.read\",\"conversation_id\":1,\"user_id\":1,\"last_read_message_id\":1}");
    CHECK_STR(event(&d, (rec_t){ .type = REC_READ, .read = { 1, 2, 1, 1 } }), "");
    CHECK_STR(event(&d, (rec_t){ .type = REC_MSG_DELETE, .del = { 1, 5000 } }),
              "{\"id\":9,\"type\":\"message.deleted\",\"message\":{\"id\":1,\"conversation_id\":1}}");
    buf_reset(&b);   /* ... and after the delete: nothing but the message.deleted */
    CHECK_EQ_INT(view_event(&b, &d, &st, 4, &dec), 0);
    buf_reset(&b); view_conv(&b, &d, &st, 1, db_conv(&d, 1), 1);   /* 1's marker stays on it */
    CHECK(strstr(str(), "\"last_message_id\":null,\"last_message\":null,\"last_read_message_id\":1,\"unread_count\":0}"));
    CHECK_STR(event(&d, (rec_t){ .type = REC_CONV_DELETE, .conv = { 1, 1, 6000, rec_cstr("u") } }),
              "{\"id\":10,\"type\":\"conversation.deleted\",\"conversation\":{\"id\":1}}");
    CHECK_STR(event(&d, (rec_t){ .type = REC_TOKEN_DEL, .token = { 0, NULL } }), "");
    CHECK_STR(event(&d, (rec_t){ .type = REC_SEEN, .del = { 2, 5000 } }), "");   /* presence: nothing stored */
    /* a record that names no known object renders nothing */
    rec_t ghost = { .type = REC_MSG_DELETE, .del = { 99, 1 } };
    buf_reset(&b);
    CHECK_EQ_INT(view_event(&b, &d, &st, 100, &ghost), 0);
    db_free(&d);
    char path[64];
    snprintf(path, sizeof path, "%s/chatd.log", dir);
    store_close(&st);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    buf_init(&b);
    buf_init(&enc);
    test_objects();
    test_events();
    buf_free(&b);
    buf_free(&enc);
    return t_report("test_views");
}
