/* commit.c — the write path every handler shares: a change (one or more typed records, see
 * rec.h) is appended to the log, applied to the indexes, and its events published; the
 * response and the events wait for the end of the turn's fdatasync (loop.c). */
#include "server.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A change of several records: server_stage() each (encoded in s->rec) but the last, which
 * server_commit() (or server_append) writes with them — all stored or none. */
void server_stage(server *s, uint8_t t) { store_stage(&s->st, t, s->rec.data, (uint32_t)s->rec.len, 0, 0); }

/* Write the change (staged records + s->rec) and apply each record to the indexes, publishing
 * each one's events when c is set; responses and events wait for the fsync. */
static int write_change(server *s, conn *c, uint8_t type, uint64_t *seq, uint64_t *off)
{
    if (store_append(&s->st, type, s->rec.data, (uint32_t)s->rec.len, seq, off) < 0) {
        fprintf(stderr, "chatd: append to %s failed: %s\n", s->st.path, strerror(errno));
        s->m.writes_failed++;
        return -1;
    }
    s->commit_pending = 1;   /* from here on, whatever is queued waits for the fsync (conn_ready) */
    store_rec r;
    for (size_t pos = 0; store_written(&s->st, &pos, &r) == 0;) {
        if (db_apply(&s->db, r.seq, r.type, r.payload, r.len, r.payload_off) < 0) {
            fprintf(stderr, "chatd: record %llu does not apply to the indexes\n", (unsigned long long)r.seq);
            abort();   /* a handler built a record its own checks should have refused */
        }
        events_note(s, r.seq, r.type, r.payload_off - STORE_REC_HDR);
        if (!c) continue;
        events_publish(s, r.seq, r.type, r.payload, r.len);
        if (policy_revokes(r.type)) streams_revoke(s);
    }
    return 0;
}

int server_append(server *s, uint8_t t, uint64_t *q, uint64_t *o) { return write_change(s, NULL, t, q, o); }

int server_commit(server *s, conn *c, uint8_t type)
{
    uint64_t seq, off;
    int rc = write_change(s, c, type, &seq, &off);
    if (rc < 0) respond_error(s, c, 507, "insufficient_storage", "the change could not be stored");
    return rc;
}

