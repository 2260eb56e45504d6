/* presence.c — who is online (API.md Presence): a user with an open stream (db.h counts them),
 * and for --presence-grace s after the last closed. Users whose state may change wait in s->away;
 * at a turn's end others are told a change (events.c) once, and last_seen_at logged (REC_SEEN, in
 * the next group commit): streams opened and closed in a loop make one online+offline per grace. */
#include "server.h"

static void look_at(server *s, user *u, uint32_t uid)
{
    s->away_next = 0;
    if (!u->queued) buf_append(&s->away, &uid, sizeof uid);
    u->queued = 1;
}

void presence_open(server *s, uint32_t uid)
{
    user *u = &s->db.users[uid - 1];
    if (u->streams++ == 0) u->gone_ms = 0, look_at(s, u, uid);
}

void presence_close(server *s, uint32_t uid)
{
    user *u = &s->db.users[uid - 1];
    if (--u->streams == 0) u->gone_ms = s->now_ms, look_at(s, u, uid);
}

int presence_due(const server *s) { return s->away.len && s->now_ms >= s->away_next; }

/* While stopping the grace is over at once: a clean shutdown logs everyone's last_seen_at. */
void presence_turn(server *s)
{
    int64_t grace = (int64_t)s->cfg.presence_grace_s * 1000;
    uint32_t *ids = (uint32_t *)s->away.data, k = 0;
    if (s->now_ms < s->away_next && !s->stopping) return;   /* only graces that run on */
    s->away_next = INT64_MAX;
    for (size_t i = 0; i < s->away.len / sizeof *ids; i++) {
        user *u = &s->db.users[ids[i] - 1];
        int waits = !u->streams && u->gone_ms && !s->stopping && s->now_ms - u->gone_ms < grace;
        int on = u->streams || waits;
        if (on != u->shown) events_presence(s, ids[i], u->shown = (uint8_t)on, on ? u->seen_ms : u->gone_ms);
        if (!on && u->gone_ms && db_user(&s->db, ids[i])) {   /* (a deleted account: nothing) */
            uint64_t seq, off;
            int was = s->commit_pending;   /* no fsync of its own: the next group commit's covers it */
            rec_encode(&s->rec, &(rec_t){ .type = REC_SEEN, .del = { ids[i], u->gone_ms } });
            server_append(s, REC_SEEN, &seq, &off);
            s->commit_pending = was;
        }
        u->gone_ms = on ? u->gone_ms : 0;
        if ((u->queued = (uint8_t)waits)) ids[k++] = ids[i];
        if (waits && u->gone_ms + grace < s->away_next) s->away_next = u->gone_ms + grace;
    }
    s->away.len = k * sizeof *ids;
}
