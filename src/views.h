/* views.h — every object's and event's JSON, and the error envelope, in one place: what a
 * client sees is written here and nowhere else. Each view appends to b. */
#ifndef CHATD_VIEWS_H
#define CHATD_VIEWS_H
#include "db.h"
#include "store.h"

void view_time(buf_t *b, int64_t ms);   /* "YYYY-MM-DDTHH:MM:SS.mmmZ", quoted */
void view_user(buf_t *b, uint32_t id, const user *u);
void view_presence(buf_t *b, uint32_t id, int online, int64_t seen_ms);   /* the presence event */
/* caller 0: the shared fields only; else (REST) also the caller's own: last_message (read from
 * d and st), last_read_message_id and unread_count. Conversation objects in events have none. */
void view_conv(buf_t *b, db *d, const store *st, uint32_t id, const conv *c, uint32_t caller);
const buf_t *view_reads(buf_t *b, const conv *c);   /* b reset to {"reads":[...]}, each member's marker */
void view_msg(buf_t *b, uint32_t id, const msg *m, const char *body, size_t n);
int view_msg_now(buf_t *b, db *d, const store *st, uint32_t id);   /* body read back; -1: it could not be */
/* {"error":{"code":..,"message":..}}; on an event stream (stream set) with "type":"error" first. */
void view_error(buf_t *b, int stream, const char *code, const char *message);

/* The event of record r (seq its id): a conversation as the record has it (its creator from
 * d), a message as it is now (from d and the log st: one deleted since has only its
 * message.deleted). 1, or 0 when r is no event or none now. view_event_name: NULL when no event. */
int view_event(buf_t *b, db *d, const store *st, uint64_t seq, const rec_t *r);
const char *view_event_name(uint8_t type);
int views_types_ok(void);   /* 0, or the first record type without an event entry */
#endif
