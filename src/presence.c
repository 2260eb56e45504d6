/* presence.c — who is online (API.md Presence): with an open stream (db.h counts them) and for
 * --presence-grace s after the last closed. Those whose state may change wait in s->away for a turn's
 * end: others are told a change once (events.c), last_seen_at is logged (REC_SEEN, no fsync of its
 * own): streams opened and closed in a loop make one online+offline and one record per grace. */
#include "server.h"
#include <string.h>

#define PRESENCE_TURN 8   /* changes told per loop turn (a burst of them is spread over turns) */

void presence_stream(server *s, uint32_t uid, int opened)
{
    user *u = &s->db.users[uid - 1];
    if ((opened ? u->streams++ : --u->streams) != 0) return;   /* only the first and the last count */
    u->gone_ms = opened ? 0 : s->now_ms;
    s->away_next = 0;   /* look at it this turn */
    if (!u->queued) buf_append(&s->away, &uid, sizeof uid);
    u->queued = 1;
}

int presence_due(const server *s) { return s->away.len && s->now_ms >= s->away_next; }

/* While stopping the grace is over at once: a clean shutdown logs everyone's last_seen_at. */
void presence_turn(server *s)
{
    int64_t grace = (int64_t)s->cfg.presence_grace_s * 1000;
    uint64_t seq, off;
    uint32_t *ids = (uint32_t *)s->away.data, k = 0, told = 0;
    size_t i = 0, n = s->away.len / sizeof *ids;
    if (!n || (s->now_ms < s->away_next && !s->stopping)) return;   /* only graces that run on */
    s->away_next = INT64_MAX;
    for (; i < n && (told < PRESENCE_TURN || s->stopping); i++) {
        user *u = &s->db.users[ids[i] - 1];
        int waits = !u->streams && u->gone_ms && !s->stopping && s->now_ms - u->gone_ms < grace;
        int on = u->streams || waits;
        told += on != u->shown;
        if (on != u->shown) events_presence(s, ids[i], u->shown = (uint8_t)on, on ? u->seen_ms : u->gone_ms);
        int was = s->commit_pending;   /* REC_SEEN: no fsync of its own, the next commit's covers it */
        if (!on && u->gone_ms && db_user(&s->db, ids[i]))   /* (a deleted account: nothing) */
            rec_encode(&s->rec, &(rec_t){ .type = REC_SEEN, .del = { ids[i], u->gone_ms } }),
                server_append(s, REC_SEEN, &seq, &off);
        s->commit_pending = was;
        u->gone_ms = on ? u->gone_ms : 0;
        if ((u->queued = (uint8_t)waits)) ids[k++] = ids[i];
        if (waits && u->gone_ms + grace < s->away_next) s->away_next = u->gone_ms + grace;
    }
    memmove(ids + k, ids + i, (n - i) * sizeof *ids);   /* the ones not looked at: the next turn */
    s->away.len = (k + n - i) * sizeof *ids;
    if (i < n) s->away_next = 0;
}
