/* store.h — the append-only log file: record framing, CRC-32C, append with one pwrite(),
 * group-commit fdatasync, replay at start-up with torn-tail cut-off, pread of payloads.
 * It knows nothing of users or messages: a record is (seq, type, payload bytes).
 *
 * File layout (all integers little-endian, whatever the host):
 *   file header: 8 bytes magic "CHATDLG" + the format version digit: "2" (README "Log format");
 *                a format-1 log is read, and upgraded by writing "2" before anything is appended
 *   record:  u32 len   bytes that follow the crc: 8 (seq) + 1 (type) + payload length
 *            u32 crc   CRC-32C of those len bytes
 *            u64 seq   strictly increasing across the file, first record >= 1
 *            u8  type    low 7 bits; the top bit (STORE_MORE): the next record is part of the
 *                        same change (see store_stage)
 *            payload
 *   then zeros to the end of the file: written ahead with --fsync always (see store_write)
 */
#ifndef CHATD_STORE_H
#define CHATD_STORE_H
#include "buf.h"
#include "cache.h"
#include <stddef.h>
#include <stdint.h>

#define STORE_MAGIC        "CHATDLG2"   /* an older chatd refuses it at offset 0: "bad magic" */
#define STORE_MAGIC_LEN    8
#define STORE_REC_HDR      17            /* len + crc + seq + type */
#define STORE_MAX_PAYLOAD  (1u << 20)    /* a longer len is damage, not a record */
#define STORE_LOG_NAME     "chatd.log"
#define STORE_MAX_SEQ      (1ull << 53)   /* seqs are event ids: exact in a JSON double */
#define STORE_MORE         0x80           /* type bit: the next record is part of the same change */

typedef struct store {
    int fd;
    char *path;            /* owned: "<dir>/chatd.log" */
    uint64_t size;         /* bytes of valid log = offset of the next append */
    uint64_t alloc;        /* the file's size: [size, alloc) is zeros written ahead (store_write) */
    uint64_t last_seq;     /* seq of the last record (0 when empty) */
    uint64_t nrecords;
    uint64_t unsynced;     /* bytes appended since the last store_sync */
    int fsync_always;      /* 0: store_sync is a no-op, no zeros ahead (--fsync=never) */
    int mode;              /* STORE_RUN, STORE_CHECK or STORE_REPAIR */
    uint64_t torn_bytes;   /* size of the torn tail found at open (cut, unless checking) */
    buf_t staged;          /* owned: framed records of the change being built (see store_stage) */
    uint32_t nstaged;      /* records in it not yet written */
    size_t staged_last;    /* bytes of the last record in it */
    uint64_t staged_base;  /* file offset of staged.data[0] */
    int staged_err;        /* errno of a record that could not be staged: the write fails */
    tail_cache cache;      /* the log's last bytes in memory (off until the owner loads it) */
} store;

/* STORE_RUN: cut a torn tail, refuse damage. STORE_CHECK: read-only; report a torn tail
 * or damage, change nothing. STORE_REPAIR: keep the longest valid prefix and move the
 * rest aside to "<log>.damaged-<offset>", never deleting it. */
enum { STORE_RUN, STORE_CHECK, STORE_REPAIR };

/* Called for each record in file order. payload_off is the file offset of payload[0],
 * so a caller may pread() parts of it later. Non-zero return stops the replay, and
 * store_open fails with that record's offset in the message. */
typedef int (*store_replay_fn)(void *ctx, uint64_t seq, uint8_t type,
                               const uint8_t *payload, uint32_t len, uint64_t payload_off);

/* Open (create if missing, creating dir too) <dir>/chatd.log and replay it through fn. Zeros
 * from a record boundary to the end are free space, kept. A torn tail (the last record cut short,
 * a bad one with only zeros or end of file after it) is cut off and reported on stderr. Damage
 * before the end (a bad record followed by more data), a bad magic or a non-increasing seq:
 * returns -1 with a message naming the file and offset in err. Returns 0 on success. */
int store_open_mode(store *s, const char *dir, int mode, int fsync_always, store_replay_fn fn,
                    void *ctx, char *err, size_t errlen);
#define store_open(s, dir, fsync, fn, ctx, err, n) store_open_mode(s, dir, STORE_RUN, fsync, fn, ctx, err, n)
void store_close(store *s);   /* syncs, closes, frees path */

/* Compaction support: the fd and size of a complete, synced replacement log that has
 * already been renamed over the old one. The store closes its old fd and appends to it. */
void store_adopt(store *s, int fd, uint64_t size, uint64_t nrecords);
int store_fsync_dir(const store *s);   /* fsync the log's directory */

/* A change is one or more records written with one pwrite(): store_stage() each (seqs follow
 * last_seq; *seq_out and *payload_off are where it will be), then store_write(). On failure
 * (short write, ENOSPC, EFBIG, EIO) what was written is zeroed (cut off past alloc) and nothing
 * of the change is stored: -1 with errno set. Every record of a change but the last carries
 * STORE_MORE, and replay takes a change only whole: one cut short by a crash is cut off like a
 * torn record, so a change is all-or-nothing on a full disk and across power cuts alike.
 * After a successful write, store_written() walks its records (until the next store_stage). */
struct store_rec;
void store_stage(store *s, uint8_t type, const void *payload, uint32_t len, uint64_t *seq_out,
                 uint64_t *payload_off);
int store_write(store *s);
int store_written(const store *s, size_t *pos, struct store_rec *out);   /* 0 while there is one */

/* One record as one change: store_stage + store_write. */
int store_append(store *s, uint8_t type, const void *payload, uint32_t len,
                 uint64_t *seq_out, uint64_t *payload_off);

/* writev until all n bytes are out (EINTR and short counts retried, the retry reporting the real
 * cause: ENOSPC, EFBIG, EIO): 0, or -1 with errno. */
int store_write_all(int fd, const void *p, size_t n);

/* fdatasync if anything was appended since the last call (and fsync_always). 0 ok, -1 error. */
int store_sync(store *s);

/* pread exactly n bytes at off: 0 ok, -1 error. */
int store_pread(const store *s, uint64_t off, void *dst, size_t n);

/* One record read back from the file (event replay). */
typedef struct store_rec {
    uint64_t seq, payload_off, next_off;
    uint8_t type;              /* without STORE_MORE */
    uint8_t more;              /* STORE_MORE was set: raw[8] still has it */
    const uint8_t *payload;    /* points into the caller's buffer */
    uint32_t len;
    uint32_t crc;              /* the record's checksum, checked */
    const uint8_t *raw;        /* seq, type, payload: the checksummed bytes (len + 9) */
} store_rec;

/* Replay in bulk: read up to max bytes of the log from the record at off into b (reset
 * first), but at least that whole record. 0 ok, -1 at the end or on an I/O error. Then
 * store_rec_parse() takes the record at the front of n bytes read from offset off (-1: it
 * is cut short or malformed) without checking its checksum: store_rec_ok() does that. */
int store_read_ahead(const store *s, uint64_t off, size_t max, buf_t *b);
int store_rec_parse(const uint8_t *p, size_t n, uint64_t off, store_rec *out);
int store_rec_ok(const store_rec *r);

/* crc32c.c: CRC-32C (Castagnoli, reflected poly 0x82F63B78), the records' checksum. crc32c(0, p, n)
 * checksums p; pass a previous result as crc to continue over more data. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

/* Little-endian helpers, alignment-safe. */
uint32_t le32(const uint8_t *p);
uint64_t le64(const uint8_t *p);
void put_le32(uint8_t *p, uint32_t v);
void put_le64(uint8_t *p, uint64_t v);
#endif
