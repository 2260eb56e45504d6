/* rec.h — the record schema: what each log record's payload holds, as typed structs with one
 * encode/decode pair per record type (rec.c). The store frames records and knows no types; db
 * applies them; events render them. Integers are little-endian, strings and id lists carry a
 * u32 count first.
 * Record numbers are on disk: never renumber one. A new type takes the next free number (and
 * REC_TYPES grows), gets its struct and codec here, an applier and keep rule in db.c and an
 * event entry in events.c (start-up and test_db check that none is missing). New fields go at
 * the END of a record and must decode when absent: old logs still load. One an older chatd
 * would misread (REC_READ; owner, issue time, reply, direct after format 1) bumps the log
 * format in the header (store.h, README "Log format"): an older chatd refuses it at offset 0. */
#ifndef CHATD_REC_H
#define CHATD_REC_H
#include "buf.h"
#include <stddef.h>
#include <stdint.h>

enum {
    REC_USER_CREATE = 1, REC_USER_UPDATE = 2, REC_USER_DELETE = 3, REC_TOKEN_ADD = 4, REC_TOKEN_DEL = 5,
    REC_CONV_CREATE = 6, REC_CONV_UPDATE = 7, REC_CONV_DELETE = 8, REC_MSG_CREATE = 9, REC_MSG_UPDATE = 10,
    REC_MSG_DELETE = 11, REC_META = 12, REC_READ = 13, REC_SEEN = 14
};
#define REC_TYPES 15   /* one above the highest type: the size of every table indexed by type */

#define SALT_LEN 16
#define HASH_LEN 32
#define IDEM_KEY_MAX 128   /* Idempotency-Key bytes */
#define MSG_BODY_MAX 16384 /* message body bytes */
#define USERNAME_MAX 32    /* username bytes (3 at least) */

typedef struct rec_str { const char *p; uint32_t n; } rec_str;   /* decoded: points into the payload */
/* An id list: encoded from ids, decoded as n little-endian u32s at raw. rec_id() reads either. */
typedef struct rec_ids { const uint32_t *ids; const uint8_t *raw; uint32_t n; } rec_ids;
uint32_t rec_id(const rec_ids *l, uint32_t i);
rec_str rec_cstr(const char *s);   /* a NUL-ended string (NULL: empty) */

typedef struct rec_user_create {
    uint32_t id;
    int64_t ms;
    rec_str name, display;
    uint32_t iters;
    const uint8_t *salt, *hash;          /* SALT_LEN, HASH_LEN bytes; NULL encodes zeros */
} rec_user_create;

typedef struct rec_user_update {
    uint32_t id;
    uint8_t what;                        /* 1 display name, 2 password, 3 both */
    rec_str display;
    uint32_t iters;
    const uint8_t *salt, *hash, *keep;   /* keep: the token a password change keeps */
} rec_user_update;

typedef struct rec_del { uint32_t id; int64_t ms; } rec_del;            /* user and message deletes */
typedef struct rec_token {
    uint32_t uid;                        /* 0 in a delete */
    const uint8_t *hash;
    int64_t ms;                          /* TOKEN_ADD: when it was issued (0: absent in old logs) */
} rec_token;

/* Conversation records carry the whole conversation and the members before the change, so
 * each is an event on its own. */
typedef struct rec_conv {
    uint32_t id, by;
    int64_t ms;
    rec_str title;
    rec_ids members, prev;
    uint32_t last;                       /* the last message's id then (0: none; absent in old logs) */
    uint32_t owner;                      /* owner_id then (0 when absent: see rec_conv_owner) */
    uint32_t direct;                     /* 1: a direct conversation (read at create; 0 when absent) */
} rec_conv;
/* The owner a conversation record leaves: the one it names; in a record from before the field,
 * the creator while a member, else the first member (the contract's rule when the owner leaves). */
uint32_t rec_conv_owner(const rec_conv *c);

typedef struct rec_msg_create {
    uint32_t id, conv, author;
    int64_t ms;
    rec_str key, body;                   /* its file offset is derived; compaction may empty it */
    uint32_t reply;                      /* reply_to_id (0: none; absent in old logs) */
} rec_msg_create;

typedef struct rec_msg_update { uint32_t id; int64_t ms; rec_str body; } rec_msg_update;
typedef struct rec_meta { uint32_t users, convs, msgs; } rec_meta;   /* the id counters */
/* A read marker set by POST .../read (an event), or quietly (no event): pinned on its author's
 * deleted post, or cleared (msg 0) for a member added again. Posts set it with no record (db.c). */
typedef struct rec_read { uint32_t conv, user, msg; uint8_t quiet; } rec_read;

typedef struct rec_t {
    uint8_t type;
    const uint8_t *payload;              /* set by rec_decode: decoded pointers point into it */
    union {
        rec_user_create user_create;     /* REC_USER_CREATE */
        rec_user_update user_update;     /* REC_USER_UPDATE */
        rec_del del;                     /* REC_USER_DELETE, REC_MSG_DELETE; REC_SEEN: last_seen_at */
        rec_token token;                 /* REC_TOKEN_ADD, REC_TOKEN_DEL */
        rec_conv conv;                   /* REC_CONV_CREATE, REC_CONV_UPDATE, REC_CONV_DELETE */
        rec_msg_create msg_create;       /* REC_MSG_CREATE */
        rec_msg_update msg_update;       /* REC_MSG_UPDATE */
        rec_meta meta;                   /* REC_META */
        rec_read read;                   /* REC_READ */
    };
} rec_t;

/* b is reset, then gets r's payload. r->type must be a known type (abort otherwise). */
void rec_encode(buf_t *b, const rec_t *r);
/* 0 ok; -1 the payload is cut short or malformed; -2 an unknown type. Bytes after the last
 * field are ignored (fields a newer version appended). */
int rec_decode(rec_t *r, uint8_t type, const uint8_t *p, size_t len);
const char *rec_name(uint8_t type);   /* "MSG_CREATE"...; NULL for an unknown type */
/* Offset in the payload of a pointer a decode set (a body's, say). */
uint32_t rec_at(const rec_t *r, const void *p);
#endif
