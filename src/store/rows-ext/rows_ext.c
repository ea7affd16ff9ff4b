/*
 * An SQLite extension loaded into better-sqlite3's own SQLite (db.loadExtension), so it shares
 * that library's file locks. It gives verify's chunked read (store/verify-read.ts) one aggregate,
 * immutalog_rows, that lays rows out exactly as the SQL expression it replaces did (printf of
 * the integers, unhex, concatenation, group_concat), at a fraction of the cost: verify reads
 * every entry, and that SQL was a quarter of its time.
 */
#include <stdint.h>
#include <string.h>
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1

/* The layout (store/verify-read.ts says what each byte is). */
#define TAG_CHUNKED 0x00
#define TAG_ALONE 0x01
#define HEADER_BYTES (1 + 6 * 8 + 5 * 4)
#define GAP_AFTER_LISTENER 2
#define GAP_AFTER_PEER 6
#define ARGS 11

typedef struct {
  unsigned char *buf;
  sqlite3_int64 used;
  sqlite3_int64 cap;
  int failed;
} Chunk;

static int reserve(Chunk *c, sqlite3_int64 need) {
  if (c->used + need <= c->cap) return 1;
  sqlite3_int64 cap = c->cap ? c->cap : 65536;
  while (cap < c->used + need) cap *= 2;
  unsigned char *b = sqlite3_realloc64(c->buf, (sqlite3_uint64)cap);
  if (!b) return 0;
  c->buf = b;
  c->cap = cap;
  return 1;
}

static unsigned char *put_u64(unsigned char *p, sqlite3_int64 v) {
  sqlite3_uint64 u = (sqlite3_uint64)v;
  for (int i = 7; i >= 0; i--) { p[i] = (unsigned char)(u & 0xff); u >>= 8; }
  return p + 8;
}

static unsigned char *put_u32(unsigned char *p, sqlite3_uint64 v) {
  p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16); p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
  return p + 4;
}

/*
 * Arguments: seq, block, received_at_us, transport, flags, peer_port, listener, peer_address,
 * raw, mac, fields (the types STRICT declares for them, else the row is read alone), then the
 * largest row, as laid out without header and gaps, that goes into the chunk.
 */
static const int WANT[ARGS] = {
  SQLITE_INTEGER, SQLITE_INTEGER, SQLITE_INTEGER, SQLITE_INTEGER, SQLITE_INTEGER, SQLITE_INTEGER,
  SQLITE_TEXT, SQLITE_TEXT, SQLITE_BLOB, SQLITE_BLOB, SQLITE_TEXT,
};

/* One row: a tag and its sequence number when it is read alone, else its header and bytes. */
static void rows_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Chunk *c = sqlite3_aggregate_context(ctx, sizeof(Chunk));
  if (!c) { sqlite3_result_error_nomem(ctx); return; }
  if (c->failed) return;
  int typed = 1;
  for (int i = 0; i < ARGS; i++) if (sqlite3_value_type(argv[i]) != WANT[i]) { typed = 0; break; }
  sqlite3_int64 seq = sqlite3_value_int64(argv[0]);
  sqlite3_int64 len[5] = {0, 0, 0, 0, 0};
  const void *bytes[5] = {0, 0, 0, 0, 0};
  sqlite3_int64 total = 0;
  if (typed) {
    for (int i = 0; i < 5; i++) {
      sqlite3_value *v = argv[6 + i];
      bytes[i] = (i == 2 || i == 3) ? sqlite3_value_blob(v) : (const void *)sqlite3_value_text(v);
      len[i] = sqlite3_value_bytes(v);
      total += len[i];
    }
    if (total > sqlite3_value_int64(argv[ARGS])) typed = 0;
  }
  (void)argc;
  if (!typed) {
    if (!reserve(c, 9)) { c->failed = 1; return; }
    unsigned char *p = c->buf + c->used;
    *p++ = TAG_ALONE;
    put_u64(p, seq);
    c->used += 9;
    return;
  }
  sqlite3_int64 need = HEADER_BYTES + GAP_AFTER_LISTENER + GAP_AFTER_PEER + total;
  if (!reserve(c, need)) { c->failed = 1; return; }
  unsigned char *p = c->buf + c->used;
  *p++ = TAG_CHUNKED;
  p = put_u64(p, seq);
  for (int i = 1; i < 6; i++) p = put_u64(p, sqlite3_value_int64(argv[i]));
  for (int i = 0; i < 5; i++) p = put_u32(p, (sqlite3_uint64)len[i]);
  for (int i = 0; i < 5; i++) {
    if (len[i]) memcpy(p, bytes[i], (size_t)len[i]);
    p += len[i];
    if (i == 0) { memset(p, 0, GAP_AFTER_LISTENER); p += GAP_AFTER_LISTENER; }
    if (i == 1) { memset(p, 0, GAP_AFTER_PEER); p += GAP_AFTER_PEER; }
  }
  c->used += need;
}

static void rows_final(sqlite3_context *ctx) {
  Chunk *c = sqlite3_aggregate_context(ctx, 0);
  if (!c || c->used == 0) { if (c) sqlite3_free(c->buf); sqlite3_result_null(ctx); return; }
  if (c->failed) { sqlite3_free(c->buf); sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_blob64(ctx, c->buf, (sqlite3_uint64)c->used, sqlite3_free);
}

/* DIRECTONLY: a view or trigger in a tampered file cannot call it. */
int sqlite3_immutalogrows_init(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
  (void)err;
  SQLITE_EXTENSION_INIT2(api);
  return sqlite3_create_function_v2(db, "immutalog_rows", ARGS + 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, 0, 0, rows_step, rows_final, 0);
}
