/* db.h — the in-memory indexes (Bitcask style) and the log records that build them.
 * Every change is a record: handlers encode one (rec.h), the store appends it, and
 * db_apply() applies it — the same function replays the log at start-up, so what is in
 * memory after a restart is exactly what was live before it. Message bodies stay in the
 * log file; a message costs sizeof(msg) + 4 bytes (its id in the conversation's list). */
#ifndef CHATD_DB_H
#define CHATD_DB_H
#include "buf.h"
#include "map.h"
#include "rec.h"
#include <stdint.h>

typedef struct user {
    char *username;            /* owned; NULL once deleted */
    char *display_name;        /* owned */
    int64_t created_ms;
    uint32_t iters;
    uint8_t salt[SALT_LEN];
    uint8_t hash[HASH_LEN];
    uint64_t disp_seq, pw_seq; /* records that last set display name / password */
    int64_t seen_ms; uint64_t seen_seq;   /* last_seen_at (0: never) and its REC_SEEN */
    /* presence.c, not logged: open streams, last closed (0: no grace), told online, in s->away */
    uint32_t streams; int64_t gone_ms; uint8_t shown, queued;
    uint32_t *convs, nconvs, capconvs;   /* owned: the conversations it is a member of, any order */
} user;

typedef struct conv {
    char *title;               /* owned; NULL once deleted */
    uint32_t *members;         /* owned, in the order given */
    uint32_t nmembers;
    uint64_t *marks;           /* owned, members[i]'s read marker: see conv_mark */
    uint32_t created_by, owner_id;
    uint32_t peer;             /* a direct conversation's other member (its creator is the one); 0: a group */
    int64_t created_ms, updated_ms;
    uint32_t *msgs;            /* owned: live message ids, ascending */
    uint32_t nmsgs, capmsgs;
    uint64_t upd_seq;          /* the last update record (it carries the whole state) */
    uint64_t *wait; uint32_t nwait;   /* owned: (user id, marker) pairs of users not members yet: db.c */
} conv;

enum { MSG_LIVE = 1, MSG_EDITED = 2, MSG_HAS_KEY = 4 };

typedef struct msg {
    uint64_t body_off;         /* file offset of the body in the log */
    int64_t created_ms, updated_ms;
    uint32_t conv_id, author_id, reply_to;   /* reply_to: 0 when none */
    uint32_t body_len : 24, flags : 8;        /* flags: MSG_*; a record's payload is under 1 MiB */
} msg;

typedef struct db {
    user *users;   uint32_t nusers;   /* users[id-1]; ids are dense from 1 */
    conv *convs;   uint32_t nconvs;
    msg *msgs;     uint32_t nmsgs;
    uint32_t capusers, capconvs, capmsgs;
    uint32_t live_users, live_convs, live_msgs;
    uint64_t dead;     /* records made obsolete since the last compaction (roughly) */
    uint64_t stale_bodies;   /* message bodies deleted or replaced that the log still holds */
    uint32_t *names, nnames, capnames, sorted;   /* live user ids by lower-cased name: db.c's name index */
    map tokens;        /* sha256(token) -> user id | issue time in whole seconds (rounded up) << 32 */
    int64_t boot_ms;   /* the issue time of tokens whose record has none (written before v2) */
    map pairs;         /* a direct conversation's two user ids (u32 lower, u32 higher) -> its id */
    map idem;          /* u32 author id + key bytes -> message id | crc32c of its first body << 32
                          (0: not known, erased by a compaction): a reuse with another is 409 */
} db;

void db_init(db *d), db_free(db *d);

/* Apply one record (at replay and live). 0 ok, -1 the record does not fit the indexes. */
int db_apply(db *d, uint64_t seq, uint8_t type, const uint8_t *p, uint32_t len, uint64_t off);
int db_types_ok(void);   /* 0, or the first record type without a codec, applier or keep rule */

#define DB_MAX_ID 0x7fffffffu

/* Which users, conversations and messages existed at one moment (a compaction's start). */
typedef struct db_alive {
    uint8_t *users, *convs, *msgs;   /* owned bitmaps, bit id-1 */
    uint32_t nusers, nconvs, nmsgs;
} db_alive;
void db_alive_take(db *d, db_alive *at);
void db_alive_free(db_alive *at);

/* Is this record still needed to rebuild the state? Its object must have existed at `at`
 * (now, if NULL) and the record must be the object's current version. Compaction keeps
 * the records before its start point that pass, and everything after it. */
int db_live(db *d, const db_alive *at, uint64_t seq, uint8_t type, const uint8_t *p, uint32_t len,
            uint64_t off);
/* The id counters, so ids of deleted things are never handed out again after compaction. */
void db_rec_meta(buf_t *b, const db *d);

/* Lookups: NULL when absent or deleted. */
user *db_user(db *d, int64_t id);
conv *db_conv(db *d, int64_t id);
conv *db_member_conv(db *d, int64_t id, uint32_t uid);          /* ... and uid is a member */
msg *db_msg(db *d, int64_t id);
uint32_t db_user_by_name(db *d, const char *name, size_t n);   /* name NUL-terminated; 0 when absent */
/* Up to max live users whose name starts with p[0..n) (p NUL-terminated), in strcasecmp order. */
uint32_t db_users_prefix(db *d, const char *p, size_t n, uint32_t *out, uint32_t max);
uint32_t db_direct(db *d, uint32_t a, uint32_t b);              /* their direct conversation; 0: none */
size_t db_lower(char *out, const char *s, size_t n);           /* ASCII lower-case copy; n */
int conv_has_member(const conv *c, uint32_t uid);
uint32_t conv_last_message(const conv *c);                      /* 0 when none */
/* A member's read marker: the message id (0: none); unread: the live messages above it. */
uint32_t conv_mark(const conv *c, uint32_t uid);
uint32_t conv_unread(const conv *c, uint32_t uid);
/* First position in c's ascending message list whose id is >= id (> id when after). */
uint32_t conv_msg_pos(const conv *c, uint32_t id, int after);

/* Key of the idempotency map for (author, key). out needs 4 + keylen bytes; returns length. */
size_t db_idem_key(char *out, uint32_t author, const char *key, size_t keylen);
#endif
