/* policy.h — every access rule in one place: who may see and change a conversation, a message
 * and a user, who receives an event, which records revoke streams. Decisions only: nothing
 * here answers a request. A refusal says how a handler answers it. */
#ifndef CHATD_POLICY_H
#define CHATD_POLICY_H
#include "db.h"

typedef struct policy_no { int status; const char *code, *message; } policy_no;

/* The conversation if uid is a member, else NULL: another's conversation is "not found", so
 * its ids leak nothing. */
conv *policy_conv(db *d, int64_t id, uint32_t uid);
const policy_no *policy_conv_find(db *d, int64_t id, uint32_t uid, conv **out);   /* 404 */
const policy_no *policy_conv_delete(const conv *c, uint32_t uid);   /* owner (direct: either): 403 */
/* A new member list m: any member may add members and leave; only the owner drops others (403). */
const policy_no *policy_conv_members(const conv *c, uint32_t uid, const uint32_t *m, uint32_t n);
int policy_in(const uint32_t *m, uint32_t n, uint32_t id);   /* is id in the list m? */
/* A message of a conversation uid is a member of (404); to change it, uid is its author (403). */
const policy_no *policy_msg(db *d, int64_t id, uint32_t uid, int change, msg **out);
/* A user that exists (404); to change it, uid is that user (403). */
const policy_no *policy_user(db *d, int64_t id, uint32_t uid, int change);

/* Who receives the event of r: add(ctx, uid) for each (maybe twice). A message's or marker's
 * event goes to its conversation's members; a conversation's to its members before and after. */
void policy_recipients(db *d, const rec_t *r, void (*add)(void *ctx, uint32_t uid), void *ctx);
/* The same rule for a replay, from the record's leading ids without rendering. *cid and
 * *sees cache the last message's conversation (start with 0). */
int policy_sees(db *d, uint32_t uid, uint8_t type, const uint8_t *p, uint32_t len, uint32_t *cid, int *sees);
/* Who receives uid's presence events: everyone who shares a conversation with uid, not uid. */
void policy_presence(db *d, uint32_t uid, void (*add)(void *ctx, uint32_t uid), void *ctx);
/* Does a record of this type end sessions (logout, password change, account deletion)? */
int policy_revokes(uint8_t type);
/* Is the token of this db.tokens value (issue time in its high half) past ttl_s (0: never)? */
int policy_token_expired(uint64_t v, int64_t ttl_s, int64_t now_ms);
#endif
