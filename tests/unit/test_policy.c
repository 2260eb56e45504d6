/* test_policy.c — every access rule (src/policy.c), linked with the layers below only:
 * membership, authorship, creatorship, oneself, who receives and who may replay an event,
 * which records end sessions. */
#include "policy.h"
#include "store.h"
#include "t.h"

static buf_t enc;
static uint64_t seq;

static void put(db *d, rec_t r)
{
    rec_encode(&enc, &r);
    seq++;
    CHECK_EQ_INT(db_apply(d, seq, r.type, (const uint8_t *)enc.data, (uint32_t)enc.len, 1000 * seq), 0);
}

static uint32_t got[16], ngot;
static void add(void *ctx, uint32_t uid) { (void)ctx; if (ngot < 16) got[ngot++] = uid; }

static int sees(db *d, uint32_t uid, const rec_t *r)
{
    uint32_t cid = 0;
    int cached = 0;
    rec_encode(&enc, r);
    return policy_sees(d, uid, r->type, (const uint8_t *)enc.data, (uint32_t)enc.len, &cid, &cached);
}

/* uid's presence recipients as a bit set (bit u: user u), each added at most `most` times, never uid */
static uint32_t presence_set(db *d, uint32_t uid, uint32_t most)
{
    uint32_t set = 0, times[16] = { 0 };
    ngot = 0;
    policy_presence(d, uid, add, NULL);
    for (uint32_t i = 0; i < ngot; i++) {
        set |= 1u << got[i];
        if (got[i] == uid || ++times[got[i]] > most) return 1;   /* bit 0: wrong */
    }
    return set;
}

/* Presence goes to the members of the user's live conversations only (db.h's per-user list):
 * a deleted conversation, a member removed, a deleted account and a conversation the user is
 * not in add nobody; a member of two shared conversations twice at most (the caller dedupes),
 * of one once; a member added again is found again. */
static void test_presence_set(void)
{
    db d;
    db_init(&d);
    seq = 0;
    for (uint32_t i = 1; i <= 7; i++) {
        char name[4] = { 'u', (char)('0' + i) };
        put(&d, (rec_t){ .type = REC_USER_CREATE, .user_create = { i, 0, rec_cstr(name) } });
    }
    uint32_t m1[3] = { 1, 2, 3 }, m2[2] = { 4, 1 }, m3[2] = { 5, 6 }, m4[2] = { 1, 5 }, m5[2] = { 1, 6 },
             m6[3] = { 2, 1, 7 }, m7[2] = { 3, 1 }, one[1] = { 1 };
    struct { uint32_t *m, n; } cs[7] = { { m1, 3 }, { m2, 2 }, { m3, 2 }, { m4, 2 }, { m5, 2 }, { m6, 3 }, { m7, 2 } };
    for (uint32_t i = 0; i < 7; i++)
        put(&d, (rec_t){ .type = REC_CONV_CREATE, .conv = { i + 1, 1, 0, rec_cstr("t"), { cs[i].m, NULL, cs[i].n } } });
    CHECK_EQ_INT(presence_set(&d, 1, 2), 1u << 2 | 1u << 3 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 7);
    put(&d, (rec_t){ .type = REC_CONV_DELETE, .conv = { 4, 1, 0, rec_cstr("") } });           /* 5 goes */
    put(&d, (rec_t){ .type = REC_CONV_UPDATE, .conv = { 5, 1, 0, rec_cstr("t"), { one, NULL, 1 } } });   /* 6 */
    put(&d, (rec_t){ .type = REC_USER_DELETE, .del = { 2, 0 } });   /* an old log: no updates before it */
    CHECK_EQ_INT(presence_set(&d, 1, 2), 1u << 3 | 1u << 4 | 1u << 7);   /* 3 in two: twice at most */
    CHECK_EQ_INT(presence_set(&d, 4, 1), 1u << 1);
    CHECK_EQ_INT(presence_set(&d, 5, 1), 1u << 6);   /* conversation 3 only */
    CHECK_EQ_INT(presence_set(&d, 6, 1), 1u << 5);
    CHECK_EQ_INT(presence_set(&d, 7, 1), 1u << 1);   /* 2 left with the account */
    CHECK_EQ_INT(presence_set(&d, 2, 1), 0);         /* a deleted account shares nothing */
    put(&d, (rec_t){ .type = REC_CONV_UPDATE, .conv = { 5, 1, 0, rec_cstr("t"), { m5, NULL, 2 } } });   /* 6 back */
    CHECK_EQ_INT(presence_set(&d, 6, 1), 1u << 1 | 1u << 5);
    put(&d, (rec_t){ .type = REC_CONV_DELETE, .conv = { 7, 1, 0, rec_cstr("") } });
    CHECK_EQ_INT(presence_set(&d, 1, 1), 1u << 3 | 1u << 4 | 1u << 6 | 1u << 7);   /* now 3 once */
    /* the cost: only the user's own conversations are looked at, not all (a scan of every one per
     * change stalled the loop in a connect burst): one changed behind the index's back is not seen */
    d.convs[2].members[0] = 1;   /* conversation 3: 5 and 6, now 1 and 6 in memory only */
    CHECK_EQ_INT(presence_set(&d, 1, 1), 1u << 3 | 1u << 4 | 1u << 6 | 1u << 7);
    d.convs[2].members[0] = 5;
    db_free(&d);
}

int main(void)
{
    db d;
    db_init(&d);
    buf_init(&enc);
    /* ann (1) made conversation 1 with bo (2); cy (3) is in none; bo wrote message 1 */
    const char *names[3] = { "ann", "bo", "cy" };
    for (uint32_t i = 1; i <= 3; i++)
        put(&d, (rec_t){ .type = REC_USER_CREATE, .user_create = { i, 0, rec_cstr(names[i - 1]) } });
    uint32_t ab[2] = { 1, 2 }, a[1] = { 1 }, c[1] = { 3 };
    put(&d, (rec_t){ .type = REC_CONV_CREATE, .conv = { 1, 1, 0, rec_cstr("t"), { ab, NULL, 2 } } });
    put(&d, (rec_t){ .type = REC_MSG_CREATE, .msg_create = { 1, 1, 2, 0, rec_cstr(""), rec_cstr("hi") } });

    conv *cv;
    msg *m;
    CHECK(policy_conv(&d, 1, 1) && policy_conv(&d, 1, 2) && !policy_conv(&d, 1, 3) && !policy_conv(&d, 2, 1));
    CHECK(policy_conv_find(&d, 1, 2, &cv) == NULL && cv == db_conv(&d, 1));
    const policy_no *no = policy_conv_find(&d, 1, 3, &cv);   /* not a member: as if it did not exist */
    CHECK(no && no->status == 404 && !cv);
    CHECK(policy_conv_delete(db_conv(&d, 1), 1) == NULL);
    no = policy_conv_delete(db_conv(&d, 1), 2);              /* a member, not the creator */
    CHECK(no && no->status == 403);
    db_conv(&d, 1)->peer = 2;                                 /* were it direct: either member deletes */
    CHECK(policy_conv_delete(db_conv(&d, 1), 2) == NULL && policy_conv_delete(db_conv(&d, 1), 1) == NULL);
    db_conv(&d, 1)->peer = 0;

    uint32_t drop_a[1] = { 2 }, keep_all[3] = { 1, 2, 3 };   /* only the owner (ann) drops others */
    CHECK(policy_conv_members(db_conv(&d, 1), 1, a, 1) == NULL);   /* ann drops bo */
    no = policy_conv_members(db_conv(&d, 1), 2, drop_a, 1);          /* bo drops ann */
    CHECK(no && no->status == 403);
    CHECK(policy_conv_members(db_conv(&d, 1), 2, keep_all, 3) == NULL);   /* adding is anyone's */
    CHECK(policy_conv_members(db_conv(&d, 1), 2, a, 1) == NULL);          /* leaving too */
    CHECK(policy_msg(&d, 1, 1, 0, &m) == NULL && m == db_msg(&d, 1));   /* members read */
    no = policy_msg(&d, 1, 1, 1, &m);                                   /* only the author changes */
    CHECK(no && no->status == 403 && !m);
    CHECK(policy_msg(&d, 1, 2, 1, &m) == NULL && m);
    no = policy_msg(&d, 1, 3, 0, &m);
    CHECK(no && no->status == 404 && !m);
    no = policy_msg(&d, 7, 1, 0, &m);
    CHECK(no && no->status == 404);

    CHECK(policy_user(&d, 2, 1, 0) == NULL);                   /* anyone may look a user up */
    no = policy_user(&d, 2, 1, 1);
    CHECK(no && no->status == 403);
    CHECK(policy_user(&d, 2, 2, 1) == NULL);
    no = policy_user(&d, 9, 9, 1);
    CHECK(no && no->status == 404);

    /* events: a message's go to its conversation's members; a conversation change to the
     * members before and after it (bo removed sees his removal; cy added sees it) */
    rec_t post = { .type = REC_MSG_UPDATE, .msg_update = { 1, 5, rec_cstr("ho") } };
    ngot = 0;
    policy_recipients(&d, &post, add, NULL);
    CHECK(ngot == 2 && got[0] == 1 && got[1] == 2);
    CHECK(sees(&d, 1, &post) && sees(&d, 2, &post) && !sees(&d, 3, &post));
    rec_t read = { .type = REC_READ, .read = { 1, 1, 1, 0 } };   /* a marker's: the members now */
    ngot = 0;
    policy_recipients(&d, &read, add, NULL);
    CHECK(ngot == 2 && got[0] == 1 && got[1] == 2);
    CHECK(sees(&d, 1, &read) && sees(&d, 2, &read) && !sees(&d, 3, &read));
    read.read.conv = 9;   /* of no conversation: nobody */
    ngot = 0;
    policy_recipients(&d, &read, add, NULL);
    CHECK(ngot == 0 && !sees(&d, 1, &read));
    uint32_t ac[2] = { 1, 3 };
    rec_t swap = { .type = REC_CONV_UPDATE, .conv = { 1, 1, 6, rec_cstr("t"), { ac, NULL, 2 }, { ab, NULL, 2 } } };
    ngot = 0;
    policy_recipients(&d, &swap, add, NULL);
    CHECK_EQ_INT(ngot, 4);
    CHECK(sees(&d, 1, &swap) && sees(&d, 2, &swap) && sees(&d, 3, &swap));
    rec_t lone = { .type = REC_CONV_CREATE, .conv = { 2, 3, 7, rec_cstr("u"), { c, NULL, 1 }, { NULL, NULL, 0 } } };
    CHECK(sees(&d, 3, &lone) && !sees(&d, 1, &lone));
    rec_t other = { .type = REC_CONV_DELETE, .conv = { 1, 1, 8, rec_cstr("t"), { a, NULL, 1 }, { a, NULL, 1 } } };
    CHECK(sees(&d, 1, &other) && !sees(&d, 2, &other));
    rec_t tok = { .type = REC_TOKEN_ADD, .token = { 1, NULL } };   /* no event: nobody */
    ngot = 0;
    policy_recipients(&d, &tok, add, NULL);
    CHECK(ngot == 0 && !sees(&d, 1, &tok));

    /* presence: everyone who shares a conversation with the user, not the user; none for cy
     * (in none yet); a second shared conversation names ann twice (the caller dedupes) */
    ngot = 0;
    policy_presence(&d, 2, add, NULL);
    CHECK(ngot == 1 && got[0] == 1);
    ngot = 0;
    policy_presence(&d, 1, add, NULL);
    CHECK(ngot == 1 && got[0] == 2);
    ngot = 0;
    policy_presence(&d, 3, add, NULL);
    CHECK_EQ_INT(ngot, 0);
    uint32_t bac[3] = { 2, 1, 3 };
    put(&d, (rec_t){ .type = REC_CONV_CREATE, .conv = { 2, 2, 0, rec_cstr("v"), { bac, NULL, 3 } } });
    ngot = 0;
    policy_presence(&d, 1, add, NULL);
    CHECK(ngot == 3 && got[0] == 2 && got[1] == 2 && got[2] == 3);
    ngot = 0;
    policy_presence(&d, 3, add, NULL);
    CHECK(ngot == 2 && got[0] == 2 && got[1] == 1);
    put(&d, (rec_t){ .type = REC_CONV_DELETE, .conv = { 2, 2, 0, rec_cstr("v") } });   /* gone: shares nothing */
    ngot = 0;
    policy_presence(&d, 3, add, NULL);
    CHECK_EQ_INT(ngot, 0);

    for (int t = 0; t < 256; t++)   /* logout, password change, account deletion end sessions */
        CHECK_EQ_INT(policy_revokes((uint8_t)t), t == REC_TOKEN_DEL || t == REC_USER_UPDATE || t == REC_USER_DELETE);
    uint64_t issued = 7 | (uint64_t)1000 << 32;   /* user 7's token, issued at 1000 s */
    CHECK(!policy_token_expired(issued, 0, 1e12));          /* no ttl: never */
    CHECK(!policy_token_expired(issued, 60, 1059999));
    CHECK(policy_token_expired(issued, 60, 1060000));
    db_free(&d);
    test_presence_set();
    buf_free(&enc);
    return t_report("test_policy");
}
