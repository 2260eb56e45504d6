/* test_db.c — the indexes (src/db.c), linked with the layers below only: every record type has
 * an applier and a keep rule, unknown types and contradicting records are refused, and a short
 * history of records builds the indexes and keep decisions it should. */
#include "db.h"
#include "store.h"
#include "t.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static buf_t b;
static uint64_t seq;

/* Encode r and apply it as the next record (its payload at file offset 1000 * seq). */
static int put(db *d, rec_t r)
{
    rec_encode(&b, &r);
    seq++;
    return db_apply(d, seq, r.type, (const uint8_t *)b.data, (uint32_t)b.len, 1000 * seq);
}

static int live(db *d, const rec_t *r, uint64_t at_seq)
{
    rec_encode(&b, r);
    return db_live(d, NULL, at_seq, r->type, (const uint8_t *)b.data, (uint32_t)b.len, 1000 * at_seq);
}

/* Read markers waiting for their users to become members (db.h conv.wait), in all conversations. */
static uint32_t waiting(db *d)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < d->nconvs; i++) n += d->convs[i].nwait;
    return n;
}

static void test_tables(void)
{
    CHECK_EQ_INT(db_types_ok(), 0);
    db d;
    db_init(&d);
    uint8_t p[64] = { 1 };
    for (int t = 0; t < 256; t++)
        if (!rec_name((uint8_t)t)) CHECK_EQ_INT(db_apply(&d, 1, (uint8_t)t, p, sizeof p, 100), -1);
    CHECK_EQ_INT(d.nusers + d.nconvs + d.nmsgs, 0);
    db_free(&d);
}

static void test_history(void)
{
    static const uint8_t h1[HASH_LEN] = "token one ......................", h2[HASH_LEN] = "token two ......................";
    uint32_t ab[2] = { 1, 2 }, a[1] = { 1 };
    db d;
    db_init(&d);
    seq = 0;
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_CREATE, .user_create = { 1, 10, rec_cstr("Alice"), rec_cstr("A"),
                                                                           1, NULL, NULL } }), 0);
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_CREATE, .user_create = { 2, 11, rec_cstr("bob"), rec_cstr("B"),
                                                                           1, NULL, NULL } }), 0);
    /* the same id again, an id above its seq, a name too long: refused, nothing changes */
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_CREATE, .user_create = { 2, 12, rec_cstr("carol") } }), -1);
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_CREATE, .user_create = { 99, 12, rec_cstr("carol") } }), -1);
    CHECK_EQ_INT(d.live_users, 2);
    CHECK_EQ_INT(db_user_by_name(&d, "ALICE", 5), 1);
    CHECK_EQ_INT(db_user_by_name(&d, "carol", 5), 0);
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_TOKEN_ADD, .token = { 1, h1 } }), 0);
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_TOKEN_ADD, .token = { 1, h2 } }), 0);
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_TOKEN_ADD, .token = { 7, h2 } }), -1);   /* no such user */
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_CONV_CREATE, .conv = { 1, 1, 20, rec_cstr("t"), { ab, NULL, 2 } } }), 0);
    CHECK(db_member_conv(&d, 1, 2) != NULL);
    CHECK_EQ_INT(db_conv(&d, 1)->owner_id, 1);   /* no owner in the record: its creator */
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_MSG_CREATE, .msg_create = { 1, 1, 2, 30, rec_cstr("k"), rec_cstr("hi") } }),
                 0);
    uint64_t create_seq = seq;
    msg *m = db_msg(&d, 1);
    CHECK(m && m->body_len == 2 && m->conv_id == 1 && m->body_off == 1000 * seq + 4 + 4 + 4 + 8 + 4 + 1 + 4);
    char k[8];
    CHECK(map_get(&d.idem, k, db_idem_key(k, 2, "k", 1)) != NULL);
    rec_t edit = { .type = REC_MSG_UPDATE, .msg_update = { 1, 31, rec_cstr("hello") } };
    CHECK_EQ_INT(put(&d, edit), 0);
    CHECK(m->body_len == 5 && (m->flags & MSG_EDITED) && m->body_off == 1000 * seq + 4 + 8 + 4);
    CHECK_EQ_INT(live(&d, &edit, seq), 1);          /* the current body */
    CHECK_EQ_INT(live(&d, &edit, seq - 1), 0);      /* an older edit at another offset */
    CHECK_EQ_INT(d.stale_bodies, 1);
    /* a password change keeps h2 and revokes h1 */
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_UPDATE, .user_update = { 1, 2, rec_cstr(NULL), 5, NULL, NULL, h2 } }),
                 0);
    CHECK(map_get(&d.tokens, h1, HASH_LEN) == NULL && map_get(&d.tokens, h2, HASH_LEN) != NULL);
    CHECK_EQ_INT(live(&d, &(rec_t){ .type = REC_TOKEN_ADD, .token = { 1, h2 } }, 5), 1);
    CHECK_EQ_INT(live(&d, &(rec_t){ .type = REC_TOKEN_ADD, .token = { 1, h1 } }, 4), 0);
    /* bob deletes his account: he leaves the conversation */
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_CONV_UPDATE, .conv = { 1, 1, 40, rec_cstr("t"), { a, NULL, 1 },
                                                                     { ab, NULL, 2 } } }), 0);
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_DELETE, .del = { 2, 41 } }), 0);
    CHECK(!db_user(&d, 2) && !db_member_conv(&d, 1, 2) && db_user_by_name(&d, "bob", 3) == 0);
    CHECK_EQ_INT(live(&d, &(rec_t){ .type = REC_USER_DELETE, .del = { 2, 41 } }, seq), 0);   /* deletes never */
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_DELETE, .del = { 2, 42 } }), -1);           /* twice */
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_CONV_DELETE, .conv = { 1, 1, 50, rec_cstr("t") } }), 0);
    CHECK(!db_conv(&d, 1) && !db_msg(&d, 1));
    CHECK_EQ_INT(live(&d, &(rec_t){ .type = REC_MSG_CREATE, .msg_create = { 1, 1, 2, 30, rec_cstr("k"),
                                                                            rec_cstr("hi") } }, create_seq), 0);
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_MSG_CREATE, .msg_create = { 2, 1, 1, 60 } }), -1);   /* gone */
    CHECK_EQ_INT(d.live_convs + d.live_msgs, 0);
    /* META raises the id counters: the next create must take a higher id */
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_META, .meta = { 5, 5, 5 } }), 0);
    CHECK_EQ_INT(d.nusers, 5);
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_CREATE, .user_create = { 5, 70, rec_cstr("eve") } }), -1);
    db_free(&d);
}

/* The pair index: a direct conversation is found from either side, a group or a malformed
 * direct record is none, an account deletion leaves the pair (the survivor keeps the
 * conversation), deleting the conversation drops it, and a replay of the creates rebuilds it. */
static void test_direct(void)
{
    uint32_t ab[2] = { 1, 2 }, ca[2] = { 3, 1 }, a[1] = { 1 }, abc[3] = { 1, 2, 3 };
    rec_t creates[4] = {
        { .type = REC_CONV_CREATE, .conv = { 1, 1, 20, rec_cstr(""), { ab, NULL, 2 }, .owner = 1, .direct = 1 } },
        { .type = REC_CONV_CREATE, .conv = { 2, 3, 21, rec_cstr("g"), { ca, NULL, 2 } } },             /* a group */
        { .type = REC_CONV_CREATE, .conv = { 3, 1, 22, rec_cstr(""), { abc, NULL, 3 }, .direct = 1 } },   /* bad */
        { .type = REC_CONV_CREATE, .conv = { 4, 3, 23, rec_cstr(""), { ca, NULL, 2 }, .owner = 3, .direct = 1 } },
    };
    for (int pass = 0; pass < 2; pass++) {   /* the second: a replay of the same creates */
        db d;
        db_init(&d);
        seq = 0;
        for (uint32_t u = 1; u <= 3; u++)
            CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_CREATE, .user_create = { u, 10, rec_cstr(u == 1 ? "a" :
                                                                                       u == 2 ? "b" : "c") } }), 0);
        CHECK_EQ_INT(db_direct(&d, 1, 2), 0);
        for (int i = 0; i < 4; i++) CHECK_EQ_INT(put(&d, creates[i]), 0);
        CHECK_EQ_INT(db_direct(&d, 1, 2), 1);
        CHECK_EQ_INT(db_direct(&d, 2, 1), 1);
        CHECK_EQ_INT(db_direct(&d, 3, 1), 4);   /* not the group 2 of the same two */
        CHECK_EQ_INT(db_direct(&d, 1, 3), 4);
        CHECK_EQ_INT(db_direct(&d, 2, 3), 0);
        CHECK_EQ_INT(db_direct(&d, 1, 1), 0);
        CHECK(db_conv(&d, 1)->peer == 2 && db_conv(&d, 4)->peer == 1);
        CHECK(db_conv(&d, 2)->peer == 0 && db_conv(&d, 3)->peer == 0);
        if (pass == 1) { db_free(&d); break; }
        /* b deletes the account: a keeps conversation 1, and the pair still names it */
        CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_CONV_UPDATE, .conv = { 1, 1, 30, rec_cstr(""), { a, NULL, 1 },
                                                                         { ab, NULL, 2 }, 0, 1 } }), 0);
        CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_DELETE, .del = { 2, 31 } }), 0);
        CHECK(db_conv(&d, 1) && db_conv(&d, 1)->nmembers == 1 && db_conv(&d, 1)->peer == 2);
        CHECK_EQ_INT(db_direct(&d, 1, 2), 1);
        /* deleting the conversation drops the pair (the creator left or not); the other stays */
        CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_CONV_DELETE, .conv = { 1, 1, 40, rec_cstr("") } }), 0);
        CHECK_EQ_INT(db_direct(&d, 1, 2), 0);
        CHECK_EQ_INT(db_conv(&d, 1) == NULL, 1);
        CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_CONV_DELETE, .conv = { 4, 3, 41, rec_cstr("") } }), 0);
        CHECK_EQ_INT(db_direct(&d, 1, 3), 0);
        CHECK_EQ_INT(d.pairs.live, 0);
        db_free(&d);
    }
}


static void add_users(db *d, uint32_t n)
{
    for (uint32_t u = 1; u <= n; u++) {
        char name[8] = { 'u', (char)('0' + u) };
        CHECK_EQ_INT(put(d, (rec_t){ .type = REC_USER_CREATE, .user_create = { u, 1, rec_cstr(name) } }), 0);
    }
}

static rec_t conv_rec(uint8_t type, uint32_t *m, uint32_t n, uint32_t *prev, uint32_t np)
{
    return (rec_t){ .type = type, .conv = { 1, 1, 5, rec_cstr("t"), { m, NULL, n }, { prev, NULL, np } } };
}

/* Read markers: unread counts with deletions (a binary search over the live ids), the marker
 * that stays on its deleted message, the keep rule (a marker's latest record only), members
 * who leave, come back or delete their account, a compacted log that gives a marker before the
 * record that made its user a member, and a deleted conversation. */
static void test_reads(void)
{
    uint32_t abc[3] = { 1, 2, 3 }, ab[2] = { 1, 2 }, cba[3] = { 3, 2, 1 }, a[1] = { 1 };
    db d;
    db_init(&d);
    seq = 0;
    add_users(&d, 3);
    CHECK_EQ_INT(put(&d, conv_rec(REC_CONV_CREATE, abc, 3, NULL, 0)), 0);
    conv *c = db_conv(&d, 1);
    CHECK(conv_mark(c, 2) == 0 && conv_unread(c, 2) == 0 && conv_mark(c, 9) == 0);
    for (uint32_t i = 1; i <= 10; i++)
        CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_MSG_CREATE, .msg_create = { i, 1, 1, 9, rec_cstr(""), rec_cstr("m") } }), 0);
    CHECK_EQ_INT(conv_unread(c, 2), 10);   /* no marker: every live message */
    CHECK(conv_mark(c, 1) == 10 && conv_unread(c, 1) == 0);   /* a post moves its author's, with no record */
    rec_t r4 = { .type = REC_READ, .read = { 1, 2, 4, 0 } };
    CHECK_EQ_INT(put(&d, r4), 0);
    uint64_t r4_seq = seq;
    CHECK(conv_mark(c, 2) == 4 && conv_unread(c, 2) == 6);
    CHECK(live(&d, &r4, r4_seq) == 1 && live(&d, &r4, r4_seq - 1) == 0);   /* that record, no other */
    for (uint32_t id = 6; id >= 2; id -= 2)   /* above the marker they count, at or below not */
        CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_MSG_DELETE, .del = { id, 9 } }), 0);
    CHECK(conv_mark(c, 2) == 4 && conv_unread(c, 2) == 5);   /* stays on its deleted message: 5 7 8 9 10 */
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_MSG_DELETE, .del = { 10, 9 } }), 0);
    CHECK_EQ_INT(conv_unread(c, 2), 4);
    rec_t r9 = { .type = REC_READ, .read = { 1, 3, 9, 1 } }, r7 = { .type = REC_READ, .read = { 1, 2, 7, 0 } };
    CHECK_EQ_INT(put(&d, r9), 0);
    uint64_t r9_seq = seq;
    CHECK(conv_mark(c, 3) == 9 && conv_unread(c, 3) == 0 && conv_mark(c, 1) == 10 && conv_unread(c, 1) == 0);
    CHECK_EQ_INT(put(&d, r7), 0);
    uint64_t r7_seq = seq;
    CHECK(conv_mark(c, 2) == 7 && conv_unread(c, 2) == 2);
    CHECK(live(&d, &r4, r4_seq) == 0 && live(&d, &r7, r7_seq) == 1);   /* superseded */
    /* an unknown conversation, a message id above its seq: refused */
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_READ, .read = { 9, 2, 7 } }), -1);
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_READ, .read = { 1, 2, 99999 } }), -1);
    CHECK_EQ_INT(conv_mark(c, 2), 7);
    /* 3 leaves and comes back: no marker, and its record is no longer kept */
    CHECK_EQ_INT(put(&d, conv_rec(REC_CONV_UPDATE, ab, 2, abc, 3)), 0);
    CHECK(conv_mark(c, 3) == 0 && live(&d, &r9, r9_seq) == 0);
    CHECK_EQ_INT(put(&d, conv_rec(REC_CONV_UPDATE, cba, 3, ab, 2)), 0);
    CHECK(conv_mark(c, 3) == 0 && conv_unread(c, 3) == 6 && conv_mark(c, 2) == 7);   /* 2 kept it, reordered */
    CHECK_EQ_INT(live(&d, &r7, r7_seq), 1);
    rec_t clear = { .type = REC_READ, .read = { 1, 3, 0, 1 } };   /* a marker cleared: kept while it holds */
    CHECK_EQ_INT(put(&d, clear), 0);
    CHECK(conv_mark(c, 3) == 0 && conv_unread(c, 3) == 6 && live(&d, &clear, seq) == 1);
    /* 2 deletes its account: the marker goes with its membership */
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_DELETE, .del = { 2, 9 } }), 0);
    CHECK(conv_mark(c, 2) == 0 && live(&d, &r7, r7_seq) == 0);
    CHECK(c->nmembers == 2 && c->members[0] == 3 && c->members[1] == 1 && conv_mark(c, 1) == 10);
    db_free(&d);

    /* a compacted log: 2's marker comes before the update that has 2 as a member all along (the
     * one that added 2 was dropped); it waits, and that update gives it to 2 */
    db_init(&d);
    seq = 0;
    add_users(&d, 2);
    CHECK_EQ_INT(put(&d, conv_rec(REC_CONV_CREATE, a, 1, NULL, 0)), 0);
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_MSG_CREATE, .msg_create = { 1, 1, 1, 9, rec_cstr(""), rec_cstr("m") } }), 0);
    rec_t r1 = { .type = REC_READ, .read = { 1, 2, 1, 0 } };
    CHECK_EQ_INT(put(&d, r1), 0);
    uint64_t r1_seq = seq;
    c = db_conv(&d, 1);
    CHECK(conv_mark(c, 2) == 0 && waiting(&d) == 1);
    CHECK_EQ_INT(put(&d, conv_rec(REC_CONV_UPDATE, ab, 2, ab, 2)), 0);
    CHECK(conv_mark(c, 2) == 1 && conv_unread(c, 2) == 0 && waiting(&d) == 0);
    CHECK_EQ_INT(live(&d, &r1, r1_seq), 1);
    /* ... and a post's, the same way (3 posted once a member, then the update was dropped) */
    uint32_t abc3[3] = { 1, 2, 3 };
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_CREATE, .user_create = { 3, 1, rec_cstr("u3") } }), 0);
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_MSG_CREATE, .msg_create = { 2, 1, 3, 9, rec_cstr(""), rec_cstr("m") } }), 0);
    CHECK(conv_mark(c, 3) == 0 && waiting(&d) == 1);
    CHECK_EQ_INT(put(&d, conv_rec(REC_CONV_UPDATE, abc3, 3, abc3, 3)), 0);
    CHECK(conv_mark(c, 3) == 2 && conv_mark(c, 2) == 1 && conv_unread(c, 2) == 1 && waiting(&d) == 0);
    /* a deleted conversation: its markers go, and their records */
    CHECK_EQ_INT(put(&d, conv_rec(REC_CONV_DELETE, ab, 2, ab, 2)), 0);
    CHECK_EQ_INT(live(&d, &r1, r1_seq), 0);
    CHECK_EQ_INT(put(&d, r1), -1);
    db_free(&d);
}

/* uid's conversations (db.h user.convs) as a bit set, bit c for conversation c; bit 0: one twice */
static uint32_t convs_of(db *d, uint32_t uid)
{
    uint32_t set = 0;
    for (uint32_t i = 0; i < d->users[uid - 1].nconvs; i++) {
        uint32_t bit = 1u << d->users[uid - 1].convs[i];
        set |= set & bit ? 1 : bit;
    }
    return set;
}

/* Each user's list of the conversations it is a member of (what presence, the conversation list
 * and GET /api/messages walk instead of every conversation) follows creates, member changes (a
 * record naming the same members again, or one twice, lists nothing twice), deletes and an
 * account deletion without the updates (an old log); a deleted user is listed nowhere. */
static void test_member_lists(void)
{
    uint32_t m1[3] = { 1, 2, 3 }, m2[2] = { 2, 1 }, m3[1] = { 3 }, m4[3] = { 1, 4, 1 }, m5[2] = { 4, 3 };
    db d;
    db_init(&d);
    seq = 0;
    add_users(&d, 4);
    rec_t c1 = conv_rec(REC_CONV_CREATE, m1, 3, NULL, 0), c2 = c1, c3 = c1;
    c2.conv.id = 2, c2.conv.members = (rec_ids){ m2, NULL, 2 };
    c3.conv.id = 3, c3.conv.members = (rec_ids){ m3, NULL, 1 };
    CHECK(put(&d, c1) == 0 && put(&d, c2) == 0 && put(&d, c3) == 0);
    CHECK(convs_of(&d, 1) == 6 && convs_of(&d, 2) == 6 && convs_of(&d, 3) == 10 && convs_of(&d, 4) == 0);
    for (int twice = 0; twice < 2; twice++)   /* 2 and 3 leave, 4 joins (1 named twice); then the same again */
        CHECK_EQ_INT(put(&d, conv_rec(REC_CONV_UPDATE, m4, 3, m1, 3)), 0);
    CHECK(convs_of(&d, 1) == 6 && convs_of(&d, 2) == 4 && convs_of(&d, 3) == 8 && convs_of(&d, 4) == 2);
    c2.type = REC_CONV_DELETE;
    CHECK_EQ_INT(put(&d, c2), 0);
    CHECK(convs_of(&d, 1) == 2 && convs_of(&d, 2) == 0 && convs_of(&d, 3) == 8);
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_DELETE, .del = { 4, 9 } }), 0);   /* no updates first */
    CHECK(convs_of(&d, 4) == 0 && !d.users[3].convs && db_conv(&d, 1)->nmembers == 2);
    rec_t c4 = conv_rec(REC_CONV_CREATE, m5, 2, NULL, 0);   /* a log naming the deleted one */
    c4.conv.id = 4;
    CHECK_EQ_INT(put(&d, c4), 0);
    CHECK(convs_of(&d, 4) == 0 && convs_of(&d, 3) == (8 | 16));
    db_free(&d);
}

/* A marker that waits for the record making its user a member (a compacted log) goes
 * when that never comes: after a record setting the conversation's members without the user (it
 * left, or its account was deleted with the updates), when the user is deleted (an old log
 * without them) and when the conversation is; the keep rule drops those records too. */
static void test_waiting_markers(void)
{
    uint32_t a[1] = { 1 }, ab[2] = { 1, 2 };
    db d;
    db_init(&d);
    seq = 0;
    add_users(&d, 3);
    CHECK_EQ_INT(put(&d, conv_rec(REC_CONV_CREATE, a, 1, NULL, 0)), 0);
    /* 2 joined (a dropped update), posted, and left: the update without 2 ends the wait */
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_MSG_CREATE, .msg_create = { 1, 1, 2, 9, rec_cstr(""), rec_cstr("m") } }), 0);
    rec_t r2 = { .type = REC_READ, .read = { 1, 2, 1, 0 } };
    CHECK_EQ_INT(put(&d, r2), 0);
    CHECK_EQ_INT(waiting(&d), 1);
    CHECK_EQ_INT(put(&d, conv_rec(REC_CONV_UPDATE, a, 1, a, 1)), 0);
    CHECK(waiting(&d) == 0 && conv_mark(db_conv(&d, 1), 2) == 0 && live(&d, &r2, seq - 1) == 0);
    /* ... and when 2 comes back later it has no marker (as it had none live) */
    CHECK_EQ_INT(put(&d, conv_rec(REC_CONV_UPDATE, ab, 2, a, 1)), 0);
    CHECK(conv_mark(db_conv(&d, 1), 2) == 0 && conv_mark(db_conv(&d, 1), 1) == 0);
    /* 3's marker waits; 3's account goes (an old log: no update first) */
    rec_t r3 = { .type = REC_READ, .read = { 1, 3, 1, 0 } };
    CHECK_EQ_INT(put(&d, r3), 0);
    uint64_t r3_seq = seq;
    CHECK_EQ_INT(waiting(&d), 1);
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_DELETE, .del = { 3, 9 } }), 0);
    CHECK(waiting(&d) == 0 && live(&d, &r3, r3_seq) == 0);
    /* a marker waiting in a conversation that is deleted */
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_CREATE, .user_create = { 4, 1, rec_cstr("u4") } }), 0);
    rec_t r4 = { .type = REC_READ, .read = { 1, 4, 1, 0 } };
    CHECK_EQ_INT(put(&d, r4), 0);
    CHECK_EQ_INT(waiting(&d), 1);
    CHECK_EQ_INT(put(&d, conv_rec(REC_CONV_DELETE, ab, 2, ab, 2)), 0);
    CHECK(waiting(&d) == 0 && live(&d, &r4, seq - 1) == 0);
    db_free(&d);
}

/* last_seen_at (REC_SEEN): the latest per user counts and is kept; none for an unknown user;
 * dropped with the account. */
static void test_seen(void)
{
    db d;
    db_init(&d);
    seq = 0;
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_CREATE, .user_create = { 1, 10, rec_cstr("ann") } }), 0);
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_CREATE, .user_create = { 2, 11, rec_cstr("bo") } }), 0);
    CHECK(d.users[0].seen_ms == 0 && d.users[0].seen_seq == 0);   /* never: null */
    rec_t first = { .type = REC_SEEN, .del = { 1, 5000 } }, second = { .type = REC_SEEN, .del = { 1, 6000 } };
    CHECK_EQ_INT(put(&d, first), 0);
    uint64_t first_seq = seq, dead = d.dead;
    CHECK(d.users[0].seen_ms == 5000 && d.users[0].seen_seq == first_seq);
    CHECK_EQ_INT(live(&d, &first, first_seq), 1);
    CHECK_EQ_INT(put(&d, second), 0);
    CHECK(d.users[0].seen_ms == 6000 && d.users[0].seen_seq == seq && d.dead == dead + 1);
    CHECK_EQ_INT(live(&d, &first, first_seq), 0);   /* superseded */
    CHECK_EQ_INT(live(&d, &second, seq), 1);
    CHECK_EQ_INT(d.users[1].seen_ms, 0);            /* bo's is his own */
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_SEEN, .del = { 3, 7000 } }), -1);   /* no such user */
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_SEEN, .del = { 0, 7000 } }), -1);
    uint64_t second_seq = seq;
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_DELETE, .del = { 1, 8000 } }), 0);
    CHECK_EQ_INT(live(&d, &second, second_seq), 0);   /* gone with the account */
    CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_SEEN, .del = { 1, 9000 } }), -1);
    db_free(&d);
}

/* ---- the name index: db_users_prefix and db_user_by_name against a scan of every user ---- */

static uint32_t rng = 12345;
static uint32_t rnd(uint32_t n) { rng = rng * 1103515245u + 12345u; return (rng >> 8) % n; }

/* A random name, unique ignoring case: letters and . _ - in random case, then the number i; a
 * third of them longer than 8 bytes with the same first 8 but the case (db.c sorts by those). */
static void rand_name(char *out, uint32_t i)
{
    static const char ab[] = "aAbBcCzZ._-";
    int n = 1 + (int)rnd(3), at = rnd(3) ? 0 : 8;
    for (int k = 0; k < at; k++) out[k] = "lOnGnAmE"[k] ^ (rnd(2) ? 32 : 0);
    for (int k = at; k < at + n; k++) out[k] = ab[rnd(sizeof ab - 1)];
    snprintf(out + at + n, 16, "%u", i);
}

static uint32_t add_user(db *d, const char *name)
{
    uint32_t id = d->nusers + 1;
    CHECK_EQ_INT(put(d, (rec_t){ .type = REC_USER_CREATE, .user_create = { id, 1, rec_cstr(name), rec_cstr("x") } }),
                 0);
    return id;
}

/* What the index must answer: the live users with the prefix, by strcasecmp then id, first max. */
static uint32_t scan(db *d, const char *p, uint32_t *out, uint32_t max)
{
    uint32_t n = 0;
    for (uint32_t id = 1; id <= d->nusers; id++) {
        const char *name = d->users[id - 1].username;
        if (!name || strncasecmp(name, p, strlen(p))) continue;
        uint32_t k = n;
        while (k > 0 && strcasecmp(name, d->users[out[k - 1] - 1].username) < 0) k--;
        if (k >= max) continue;
        n += n < max;
        memmove(out + k + 1, out + k, (n - 1 - k) * sizeof *out);
        out[k] = id;
    }
    return n;
}

/* Every prefix of every length up to 3 over a few characters (and "", all of them) at a few
 * limits, and every live user by its name in another case; 0 when all agree. */
static int index_agrees(db *d, const char *what)
{
    static const char *pre[] = { "", "a", "A", "z", "_", ".", "-", "1", "ab", "Ab", "zZ", "a.", "_a", "c-b",
                                 "AAA", "q", "zzzzzz", "b_", "a1", "C",
                                 "longname", "LONGNAMEa", "longnameB", "longname_", "longnamea1" };
    static uint32_t got[5000], want[5000];
    static const uint32_t lim[] = { 1, 2, 20, 50, 5000 };
    int bad = 0;
    for (size_t i = 0; i < sizeof pre / sizeof *pre; i++)
        for (size_t l = 0; l < sizeof lim / sizeof *lim; l++) {
            uint32_t n = db_users_prefix(d, pre[i], strlen(pre[i]), got, lim[l]);
            uint32_t m = scan(d, pre[i], want, lim[l]);
            if (n != m || memcmp(got, want, n * sizeof *got)) {
                if (!bad++)
                    fprintf(stderr, "%s: q=\"%s\" limit %u: %u users, want %u\n", what, pre[i], lim[l], n, m);
            }
        }
    for (uint32_t id = 1; id <= d->nusers; id++) {
        char name[40];
        const char *u = d->users[id - 1].username;
        if (!u) continue;
        for (size_t k = 0; k <= strlen(u); k++) name[k] = (char)(rnd(2) ? toupper(u[k]) : tolower(u[k]));
        if (db_user_by_name(d, name, strlen(name)) != id && !bad++)
            fprintf(stderr, "%s: %s not found\n", what, name);
    }
    return bad;
}

static void test_names(void)
{
    db d;
    char name[40];
    db_init(&d);
    seq = 0;
    uint32_t got[4];
    CHECK_EQ_INT(db_users_prefix(&d, "", 0, got, 4), 0);   /* empty */
    CHECK_EQ_INT(db_user_by_name(&d, "bob", 3), 0);
    /* a replay: 3000 creates in random name order, then the first lookup (one sort) */
    for (uint32_t i = 1; i <= 3000; i++) rand_name(name, i), add_user(&d, name);
    CHECK_EQ_INT(d.sorted, 0);
    CHECK_EQ_INT(index_agrees(&d, "after a replay"), 0);
    CHECK_EQ_INT(d.sorted, 3000);
    CHECK_EQ_INT(db_users_prefix(&d, "", 0, got, 4), 4);   /* "" matches everyone */
    CHECK_EQ_INT(db_users_prefix(&d, "zzzzzz", 6, got, 4), 0);
    /* deletions: every third user, then some more in random order */
    for (uint32_t id = 3; id <= 3000; id += 3)
        CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_DELETE, .del = { id } }), 0);
    for (int k = 0; k < 200; k++) {
        uint32_t id = 1 + rnd(3000);
        if (db_user(&d, id)) CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_DELETE, .del = { id } }), 0);
    }
    CHECK_EQ_INT(d.nnames, d.live_users);
    CHECK_EQ_INT(index_agrees(&d, "after deletions"), 0);
    /* registrations one at a time, each looked up first (the insertion path) */
    for (uint32_t i = 3001; i <= 3300; i++) {
        rand_name(name, i);
        CHECK_EQ_INT(db_user_by_name(&d, name, strlen(name)), 0);
        uint32_t id = add_user(&d, name);
        CHECK_EQ_INT(db_user_by_name(&d, name, strlen(name)), id);
    }
    CHECK_EQ_INT(index_agrees(&d, "after registrations"), 0);
    /* creates not sorted in yet, some deleted before any lookup: a few (inserted), then many (sorted) */
    for (int round = 0; round < 2; round++) {
        uint32_t first = d.nusers + 1, n = round ? 100 : 10;
        for (uint32_t i = 0; i < n; i++) rand_name(name, first + i), add_user(&d, name);
        for (uint32_t i = 0; i < n; i += 3)
            CHECK_EQ_INT(put(&d, (rec_t){ .type = REC_USER_DELETE, .del = { first + i } }), 0);
        CHECK_EQ_INT(index_agrees(&d, round ? "many unsorted, some deleted" : "a few unsorted, some deleted"), 0);
        CHECK_EQ_INT(d.nnames, d.live_users);
    }
    /* one order whatever the case the names were written in; a name before its extensions */
    db_free(&d);
    db_init(&d);
    seq = 0;
    const char *order[] = { "Bob", "bOb-", "bob.x", "BOB_", "bobby", "BOBBZ", "boc" },
               *made[] = { "BOBBZ", "bob.x", "Bob", "boc", "bobby", "BOB_", "bOb-" };
    for (int i = 0; i < 7; i++) add_user(&d, made[i]);
    uint32_t out[8];
    CHECK_EQ_INT(db_users_prefix(&d, "bo", 2, out, 8), 7);
    for (int i = 0; i < 7; i++) CHECK_STR(d.users[out[i] - 1].username, order[i]);
    CHECK_EQ_INT(db_users_prefix(&d, "BOB", 3, out, 2), 2);
    CHECK_STR(d.users[out[0] - 1].username, "Bob");
    CHECK_EQ_INT(db_users_prefix(&d, "bobB", 4, out, 8), 2);
    CHECK_EQ_INT(db_user_by_name(&d, "bobbz", 5), 1);       /* made[0] */
    CHECK_EQ_INT(db_user_by_name(&d, "bobb", 4), 0);        /* a prefix is not the name */
    CHECK_EQ_INT(db_user_by_name(&d, "bob.xy", 6), 0);
    db_free(&d);
}

int main(void)
{
    buf_init(&b);
    test_tables();
    test_history();
    test_direct();
    test_reads();
    test_member_lists();
    test_waiting_markers();
    test_seen();
    test_names();
    buf_free(&b);
    return t_report("test_db");
}
