/* test_rec.c — the record codec (src/rec.c): the frozen type numbers, every type's bytes
 * against the layout logs hold today (built here by hand, field by field), round trips, every
 * cut-short payload refused, trailing bytes ignored, unknown types refused. */
#include "rec.h"
#include "store.h"
#include "t.h"
#include <stdlib.h>

static buf_t want;
static void w32(uint32_t v) { uint8_t t[4]; put_le32(t, v); buf_append(&want, t, 4); }
static void w64(uint64_t v) { uint8_t t[8]; put_le64(t, v); buf_append(&want, t, 8); }
static void wstr(const char *s) { w32((uint32_t)strlen(s)); buf_append(&want, s, strlen(s)); }
static void wbytes(const uint8_t *p, size_t n) { buf_append(&want, p, n); }

static const uint8_t salt[SALT_LEN] = "0123456789abcdef", hash[HASH_LEN] = "the hash of a password, 32 bytes";
static const uint8_t keep[HASH_LEN] = "sha256 of the token that is kept";
static const uint32_t mem[3] = { 7, 1, 0x01020304 }, prev[2] = { 7, 9 };

static int same_str(rec_str a, const char *b) { return a.n == strlen(b) && memcmp(a.p, b, a.n) == 0; }

static int same_ids(const rec_ids *l, const uint32_t *ids, uint32_t n)
{
    if (l->n != n || !l->raw) return 0;
    for (uint32_t i = 0; i < n; i++)
        if (rec_id(l, i) != ids[i]) return 0;
    return 1;
}

/* Encode r, compare with want, decode again; then every shorter payload must be refused (but
 * one without the last opt bytes: a field old logs lack) and a longer one (a field a newer
 * version appended) accepted. Returns the decoded record. */
static rec_t round_trip_opt(const rec_t *r, size_t opt)
{
    buf_t b;
    rec_t d;
    buf_init(&b);
    rec_encode(&b, r);
    CHECK_EQ_INT(b.len, want.len);
    CHECK(b.len == want.len && memcmp(b.data, want.data, b.len) == 0);
    for (size_t n = 0; n < b.len; n++) {
        uint8_t *cut = malloc(n + 1);   /* its own allocation: ASan sees a read past it */
        memcpy(cut, b.data, n);
        int rc = rec_decode(&d, r->type, cut, n);
        free(cut);
        if (rc != (n >= b.len - opt ? 0 : -1)) { CHECK(0); fprintf(stderr, "  type %u cut at %zu\n", r->type, n); break; }
    }
    buf_append(&b, "\1\2\3", 3);
    CHECK_EQ_INT(rec_decode(&d, r->type, (const uint8_t *)b.data, b.len), 0);
    CHECK_EQ_INT(rec_decode(&d, r->type, (const uint8_t *)b.data, b.len - 3), 0);
    CHECK_EQ_INT(d.type, r->type);
    static buf_t keepb;   /* decoded pointers point into the payload: keep it until the next call */
    buf_free(&keepb);
    keepb = b;
    d.payload = (const uint8_t *)keepb.data;
    rec_decode(&d, r->type, d.payload, keepb.len);
    buf_reset(&want);
    return d;
}

static rec_t round_trip(const rec_t *r) { return round_trip_opt(r, 0); }

static void test_numbers(void)
{
    /* on disk since the first release: a change here misreads every existing log */
    int want_n[] = { REC_USER_CREATE, 1, REC_USER_UPDATE, 2, REC_USER_DELETE, 3, REC_TOKEN_ADD, 4,
                     REC_TOKEN_DEL, 5, REC_CONV_CREATE, 6, REC_CONV_UPDATE, 7, REC_CONV_DELETE, 8,
                     REC_MSG_CREATE, 9, REC_MSG_UPDATE, 10, REC_MSG_DELETE, 11, REC_META, 12, REC_READ, 13,
                     REC_SEEN, 14 };
    for (size_t i = 0; i < sizeof want_n / sizeof *want_n; i += 2) CHECK_EQ_INT(want_n[i], want_n[i + 1]);
    for (int t = 1; t < REC_TYPES; t++) CHECK(rec_name((uint8_t)t) != NULL);
    int unknown[] = { 0, REC_TYPES, 99, 127, 255 };
    rec_t d;
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
        CHECK(rec_name((uint8_t)unknown[i]) == NULL);
        CHECK_EQ_INT(rec_decode(&d, (uint8_t)unknown[i], (const uint8_t *)"\1\0\0\0", 4), -2);
    }
}

static void test_users(void)
{
    rec_t d;
    w32(3); w64(1700000000123ull); wstr("alice"); wstr("Alice A."); w32(600000); wbytes(salt, SALT_LEN);
    wbytes(hash, HASH_LEN);
    d = round_trip(&(rec_t){ .type = REC_USER_CREATE, .user_create = { 3, 1700000000123, rec_cstr("alice"),
                                                                       rec_cstr("Alice A."), 600000, salt, hash } });
    CHECK(d.user_create.id == 3 && d.user_create.ms == 1700000000123 && d.user_create.iters == 600000);
    CHECK(same_str(d.user_create.name, "alice") && same_str(d.user_create.display, "Alice A."));
    CHECK(!memcmp(d.user_create.salt, salt, SALT_LEN) && !memcmp(d.user_create.hash, hash, HASH_LEN));

    w32(3); buf_putc(&want, 3); wstr("New"); w32(100000); wbytes(salt, SALT_LEN); wbytes(hash, HASH_LEN);
    wbytes(keep, HASH_LEN);
    d = round_trip(&(rec_t){ .type = REC_USER_UPDATE,
                             .user_update = { 3, 3, rec_cstr("New"), 100000, salt, hash, keep } });
    CHECK(d.user_update.id == 3 && d.user_update.what == 3 && d.user_update.iters == 100000);
    CHECK(same_str(d.user_update.display, "New") && !memcmp(d.user_update.keep, keep, HASH_LEN));

    static const uint8_t zero[HASH_LEN];   /* a display-name change: NULL salt and hashes are zeros */
    w32(4); buf_putc(&want, 1); wstr("D"); w32(0); wbytes(zero, SALT_LEN); wbytes(zero, HASH_LEN);
    wbytes(zero, HASH_LEN);
    d = round_trip(&(rec_t){ .type = REC_USER_UPDATE, .user_update = { 4, 1, rec_cstr("D"), 0, NULL, NULL, NULL } });
    CHECK(d.user_update.what == 1 && !memcmp(d.user_update.hash, zero, HASH_LEN));

    w32(3); w64((uint64_t)-5);   /* a time before 1970 stays negative */
    d = round_trip(&(rec_t){ .type = REC_USER_DELETE, .del = { 3, -5 } });
    CHECK(d.del.id == 3 && d.del.ms == -5);

    for (int t = REC_TOKEN_ADD; t <= REC_TOKEN_DEL; t++) {   /* the issue time: in an add only */
        w32(t == REC_TOKEN_ADD ? 3 : 0); wbytes(hash, HASH_LEN);
        if (t == REC_TOKEN_ADD) w64(1765000000123);
        d = round_trip_opt(&(rec_t){ .type = (uint8_t)t, .token = { t == REC_TOKEN_ADD ? 3 : 0, hash, 1765000000123 } },
                           t == REC_TOKEN_ADD ? 8 : 0);
        CHECK(d.token.uid == (t == REC_TOKEN_ADD ? 3u : 0u) && !memcmp(d.token.hash, hash, HASH_LEN));
        CHECK(d.token.ms == (t == REC_TOKEN_ADD ? 1765000000123 : 0));
    }
    uint8_t old[4 + HASH_LEN] = { 3 };   /* a token written before the issue time: it decodes as 0 */
    CHECK_EQ_INT(rec_decode(&d, REC_TOKEN_ADD, old, sizeof old), 0);
    CHECK(d.token.uid == 3 && d.token.ms == 0);
}

static void test_convs(void)
{
    for (int t = REC_CONV_CREATE; t <= REC_CONV_DELETE; t++) {
        w32(5); w32(7); w64(42); wstr("a title");
        w32(3); for (int i = 0; i < 3; i++) w32(mem[i]);
        w32(2); for (int i = 0; i < 2; i++) w32(prev[i]);
        w32(11); w32(1); w32(1);   /* the last message then, the owner then, direct */
        rec_t d = round_trip_opt(&(rec_t){ .type = (uint8_t)t, .conv = { 5, 7, 42, rec_cstr("a title"),
                                           { mem, NULL, 3 }, { prev, NULL, 2 }, 11, 1, 1 } }, 12);
        CHECK_EQ_INT(d.conv.direct, 1);
        CHECK(d.conv.id == 5 && d.conv.by == 7 && d.conv.ms == 42 && same_str(d.conv.title, "a title"));
        CHECK_EQ_INT(d.conv.last, 11);
        CHECK_EQ_INT(d.conv.owner, 1);
        CHECK_EQ_INT(rec_conv_owner(&d.conv), 1);   /* the one it names, though the creator is a member */
        CHECK(same_ids(&d.conv.members, mem, 3) && same_ids(&d.conv.prev, prev, 2));
    }
    w32(6); w32(1); w64(1); wstr(""); w32(0); w32(0); w32(0); w32(0); w32(0);   /* no title, nobody: "" */
    rec_t d = round_trip_opt(&(rec_t){ .type = REC_CONV_CREATE, .conv = { 6, 1, 1, rec_cstr(NULL), { NULL, NULL, 0 },
                                                                       { NULL, NULL, 0 } } }, 12);
    CHECK(d.conv.title.n == 0 && d.conv.members.n == 0 && d.conv.prev.n == 0);
    /* a record written before the last message's id: it decodes as none */
    uint8_t old[4 + 4 + 8 + 4 + 4 + 4] = { 6, 0, 0, 0, 1 };
    CHECK_EQ_INT(rec_decode(&d, REC_CONV_UPDATE, old, sizeof old), 0);
    CHECK(d.conv.id == 6 && d.conv.last == 0 && d.conv.owner == 0 && d.conv.direct == 0);
    /* before owner_id: the creator while a member, else the first member, else (nobody) the creator */
    w32(5); w32(7); w64(42); wstr("t"); w32(3); for (int i = 0; i < 3; i++) w32(mem[i]); w32(0); w32(11);
    CHECK_EQ_INT(rec_decode(&d, REC_CONV_UPDATE, (const uint8_t *)want.data, want.len), 0);
    CHECK(d.conv.last == 11 && d.conv.owner == 0);
    CHECK_EQ_INT(rec_conv_owner(&d.conv), 7);
    d.conv.by = 9;
    CHECK_EQ_INT(rec_conv_owner(&d.conv), 7);
    d.conv.members.n = 0;
    CHECK_EQ_INT(rec_conv_owner(&d.conv), 9);
    buf_reset(&want);
    /* a member count larger than the bytes left (on 32-bit, count * 4 would wrap) */
    uint8_t bad[4 + 4 + 8 + 4 + 4 + 8] = { 5, 0, 0, 0, 7, 0, 0, 0 };
    put_le32(bad + 20, 0x40000001u);
    CHECK_EQ_INT(rec_decode(&d, REC_CONV_UPDATE, bad, sizeof bad), -1);
}

static void test_msgs(void)
{
    w32(9); w32(5); w32(3); w64(77); wstr("key-1"); wstr("hello, world"); w32(8);   /* reply_to_id last */
    rec_t d = round_trip_opt(&(rec_t){ .type = REC_MSG_CREATE,
                                       .msg_create = { 9, 5, 3, 77, rec_cstr("key-1"), rec_cstr("hello, world"), 8 } },
                             4);   /* a record from before reply_to_id: it decodes as none */
    CHECK(d.msg_create.id == 9 && d.msg_create.conv == 5 && d.msg_create.author == 3 && d.msg_create.ms == 77);
    CHECK_EQ_INT(d.msg_create.reply, 8);
    CHECK(same_str(d.msg_create.key, "key-1") && same_str(d.msg_create.body, "hello, world"));
    CHECK_EQ_INT(rec_at(&d, d.msg_create.body.p), 4 + 4 + 4 + 8 + 4 + 5 + 4);   /* where the body sits */
    uint8_t old[4 + 4 + 4 + 8 + 4 + 4 + 2] = { 9, 0, 0, 0, 5, 0, 0, 0, 3 };
    old[24] = 2; old[28] = 'h'; old[29] = 'i';   /* no key, body "hi", nothing after it */
    CHECK_EQ_INT(rec_decode(&d, REC_MSG_CREATE, old, sizeof old), 0);
    CHECK(d.msg_create.reply == 0 && same_str(d.msg_create.body, "hi"));

    w32(9); w64(78); wstr("edited");
    d = round_trip(&(rec_t){ .type = REC_MSG_UPDATE, .msg_update = { 9, 78, rec_cstr("edited") } });
    CHECK(d.msg_update.id == 9 && d.msg_update.ms == 78 && same_str(d.msg_update.body, "edited"));
    CHECK_EQ_INT(rec_at(&d, d.msg_update.body.p), 4 + 8 + 4);

    w32(9); w64(79);
    d = round_trip(&(rec_t){ .type = REC_MSG_DELETE, .del = { 9, 79 } });
    CHECK(d.del.id == 9 && d.del.ms == 79);

    w32(10); w32(20); w32(0xfffffff0u);
    d = round_trip(&(rec_t){ .type = REC_META, .meta = { 10, 20, 0xfffffff0u } });
    CHECK(d.meta.users == 10 && d.meta.convs == 20 && d.meta.msgs == 0xfffffff0u);

    for (uint8_t post = 0; post <= 1; post++) {   /* conversation, user, message, moved by a post */
        w32(5); w32(3); w32(0xfffffff1u); buf_putc(&want, (char)post);
        d = round_trip(&(rec_t){ .type = REC_READ, .read = { 5, 3, 0xfffffff1u, post } });
        CHECK(d.read.conv == 5 && d.read.user == 3 && d.read.msg == 0xfffffff1u && d.read.quiet == post);
    }

    w32(4); w64(1700000000123);   /* last_seen_at: the user id and the time */
    d = round_trip(&(rec_t){ .type = REC_SEEN, .del = { 4, 1700000000123 } });
    CHECK(d.del.id == 4 && d.del.ms == 1700000000123 && !strcmp(rec_name(REC_SEEN), "SEEN"));
}

int main(void)
{
    buf_init(&want);
    test_numbers();
    test_users();
    test_convs();
    test_msgs();
    buf_free(&want);
    return t_report("test_rec");
}
