/*
 * An SQLite extension loaded into better-sqlite3's own SQLite (db.loadExtension), so it shares
 * that library's file locks. Rows in and out of the entries table without a JS value per column:
 * - immutalog_rows, an aggregate for verify's chunked read (store/verify-read.ts): it lays rows
 *   out exactly as the SQL expression it replaces (printf of the integers, unhex, concatenation,
 *   group_concat), at a third of the cost; verify reads every entry.
 * - immutalog_batch, a table-valued function for the storage thread's insert (store/entries.ts):
 *   the rows of one sealed batch (chain/batch.ts), read from its bytes, so that a commit binds
 *   one BLOB instead of eleven values per row.
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

/*
 * immutalog_batch(batch): the rows of a sealed batch, whose layout chain/batch.ts defines:
 *   u32 block | u32 count | u32 fieldsAt | count x ( u32 len | 0x00 | entry encoding | 32-byte MAC | u32 fields length )
 *   | the fields JSON end to end (from fieldsAt)
 * and the entry encoding v1 (chain/entry-format.ts):
 *   u8 version | u64 seq | u64 received_at_us | u8 transport | u32 flags |
 *   u16 len | listener | u16 len | peer address | u16 peer port | u32 len | raw
 * The batch is our own (sealBatch), so a layout that does not add up is a bug: the statement
 * fails with the entry and byte where it stopped, and nothing of the batch is inserted.
 */
#define BATCH_HEADER_BYTES 12
#define MAC_BYTES 32
#define ENC_VERSION 1
#define AT_LISTENER_LENGTH 22
#define AT_LISTENER 24

enum { COL_SEQ, COL_BLOCK, COL_RECEIVED, COL_TRANSPORT, COL_FLAGS, COL_LISTENER, COL_PEER, COL_PORT, COL_RAW, COL_MAC, COL_FIELDS, COL_BATCH };

/* The connection's copy of the last batch, kept for the next: a commit inserts one batch after another. */
typedef struct {
  sqlite3_vtab base;
  unsigned char *buf;
  sqlite3_int64 cap;
  /* A cursor reads from buf; any other cursor open at the same time (a join) copies into its own. */
  int lent;
} BatchVtab;

typedef struct {
  sqlite3_vtab_cursor base;
  unsigned char *buf;
  /* 1: buf is the connection's; 0: the cursor's own (or none). */
  int borrowed;
  sqlite3_int64 n;
  sqlite3_int64 block, count, fieldsAt;
  sqlite3_int64 i;
  /* The current row: where its entry starts, and its parts. */
  sqlite3_int64 o, e, end, f;
  sqlite3_int64 ls, ll, ps, pl, rawAt, rawLen, fl;
} BatchCursor;

static sqlite3_uint64 be(const unsigned char *p, int n) {
  sqlite3_uint64 v = 0;
  for (int k = 0; k < n; k++) v = (v << 8) | p[k];
  return v;
}

static int batch_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **err) {
  (void)aux; (void)argc; (void)argv; (void)err;
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(seq, block, received_at_us, transport, flags, listener, peer_address, peer_port, raw, mac, fields, batch HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  BatchVtab *v = sqlite3_malloc(sizeof(*v));
  if (!v) return SQLITE_NOMEM;
  memset(v, 0, sizeof(*v));
  /* A view or trigger in a tampered file cannot call it. */
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  *out = &v->base;
  return SQLITE_OK;
}

static int batch_disconnect(sqlite3_vtab *v) {
  sqlite3_free(((BatchVtab *)v)->buf);
  sqlite3_free(v);
  return SQLITE_OK;
}

/* The batch argument is required: without an equality constraint on it there is no plan. */
static int batch_best_index(sqlite3_vtab *v, sqlite3_index_info *info) {
  (void)v;
  for (int i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    if (c->iColumn == COL_BATCH && c->op == SQLITE_INDEX_CONSTRAINT_EQ && c->usable) {
      info->aConstraintUsage[i].argvIndex = 1;
      info->aConstraintUsage[i].omit = 1;
      info->idxNum = 1;
      info->estimatedCost = 1;
      info->estimatedRows = 1000;
      return SQLITE_OK;
    }
  }
  return SQLITE_CONSTRAINT;
}

static int batch_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out) {
  (void)v;
  BatchCursor *c = sqlite3_malloc(sizeof(*c));
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof(*c));
  *out = &c->base;
  return SQLITE_OK;
}

static void release(BatchCursor *c) {
  if (c->borrowed) ((BatchVtab *)c->base.pVtab)->lent = 0;
  else sqlite3_free(c->buf);
  c->buf = 0;
  c->borrowed = 0;
}

static int batch_close(sqlite3_vtab_cursor *cur) {
  release((BatchCursor *)cur);
  sqlite3_free(cur);
  return SQLITE_OK;
}

static int bad_batch(BatchCursor *c, const char *what) {
  sqlite3_free(c->base.pVtab->zErrMsg);
  c->base.pVtab->zErrMsg = sqlite3_mprintf("immutalog_batch: entry %lld at byte %lld: %s", c->i, c->o, what);
  return SQLITE_ERROR;
}

/* Reads the entry at c->o (fields at c->f), every length checked against the bytes there are. */
static int read_entry(BatchCursor *c) {
  const unsigned char *b = c->buf;
  if (c->o + 5 > c->fieldsAt) return bad_batch(c, "past the entries' end");
  sqlite3_int64 len = (sqlite3_int64)be(b + c->o, 4);
  c->e = c->o + 5;
  c->end = c->e + len;
  if (b[c->o + 4] != 0x00 || c->end + MAC_BYTES + 4 > c->fieldsAt || len < AT_LISTENER || b[c->e] != ENC_VERSION) return bad_batch(c, "not a sealed v1 entry");
  c->ll = (sqlite3_int64)be(b + c->e + AT_LISTENER_LENGTH, 2);
  c->ls = c->e + AT_LISTENER;
  if (c->ls + c->ll + 2 > c->end) return bad_batch(c, "listener runs past the entry");
  c->pl = (sqlite3_int64)be(b + c->ls + c->ll, 2);
  c->ps = c->ls + c->ll + 2;
  if (c->ps + c->pl + 6 > c->end) return bad_batch(c, "peer address runs past the entry");
  c->rawLen = (sqlite3_int64)be(b + c->ps + c->pl + 2, 4);
  c->rawAt = c->ps + c->pl + 6;
  if (c->rawAt + c->rawLen != c->end) return bad_batch(c, "raw length does not end at the entry's end");
  c->fl = (sqlite3_int64)be(b + c->end + MAC_BYTES, 4);
  if (c->f + c->fl > c->n) return bad_batch(c, "fields JSON runs past the batch");
  return SQLITE_OK;
}

static int batch_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr, int argc, sqlite3_value **argv) {
  (void)idxStr;
  BatchCursor *c = (BatchCursor *)cur;
  BatchVtab *v = (BatchVtab *)cur->pVtab;
  release(c);
  c->n = c->count = c->i = 0;
  if (idxNum != 1 || argc != 1 || sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
    c->o = 0;
    return bad_batch(c, "expected one BLOB argument");
  }
  c->n = sqlite3_value_bytes(argv[0]);
  /*
   * The argument's bytes are copied (the rows' values point into them, and the argument is only
   * promised for this call), into a buffer the connection keeps for the next batch.
   */
  if (!v->lent) {
    if (c->n > v->cap) {
      unsigned char *b = sqlite3_realloc64(v->buf, (sqlite3_uint64)c->n);
      if (!b) return SQLITE_NOMEM;
      v->buf = b;
      v->cap = c->n;
    }
    v->lent = 1;
    c->borrowed = 1;
    c->buf = v->buf;
  } else {
    c->buf = sqlite3_malloc64((sqlite3_uint64)(c->n ? c->n : 1));
    if (!c->buf) return SQLITE_NOMEM;
  }
  if (c->n) memcpy(c->buf, sqlite3_value_blob(argv[0]), (size_t)c->n);
  c->o = 0;
  if (c->n < BATCH_HEADER_BYTES) return bad_batch(c, "shorter than the batch header");
  c->block = (sqlite3_int64)be(c->buf, 4);
  c->count = (sqlite3_int64)be(c->buf + 4, 4);
  c->fieldsAt = (sqlite3_int64)be(c->buf + 8, 4);
  if (c->fieldsAt > c->n || c->fieldsAt < BATCH_HEADER_BYTES) return bad_batch(c, "fields offset outside the batch");
  c->o = BATCH_HEADER_BYTES;
  c->f = c->fieldsAt;
  if (c->count == 0) return c->o == c->fieldsAt && c->f == c->n ? SQLITE_OK : bad_batch(c, "bytes left over in an empty batch");
  return read_entry(c);
}

static int batch_next(sqlite3_vtab_cursor *cur) {
  BatchCursor *c = (BatchCursor *)cur;
  c->o = c->end + MAC_BYTES + 4;
  c->f += c->fl;
  c->i++;
  if (c->i < c->count) return read_entry(c);
  if (c->o != c->fieldsAt || c->f != c->n) return bad_batch(c, "the entries or their fields do not end where the batch says");
  return SQLITE_OK;
}

static int batch_eof(sqlite3_vtab_cursor *cur) {
  BatchCursor *c = (BatchCursor *)cur;
  return c->i >= c->count;
}

static int batch_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  BatchCursor *c = (BatchCursor *)cur;
  const unsigned char *b = c->buf;
  switch (col) {
    case COL_SEQ: sqlite3_result_int64(ctx, (sqlite3_int64)be(b + c->e + 1, 8)); break;
    case COL_BLOCK: sqlite3_result_int64(ctx, c->block); break;
    case COL_RECEIVED: sqlite3_result_int64(ctx, (sqlite3_int64)be(b + c->e + 9, 8)); break;
    case COL_TRANSPORT: sqlite3_result_int64(ctx, b[c->e + 17]); break;
    case COL_FLAGS: sqlite3_result_int64(ctx, (sqlite3_int64)be(b + c->e + 18, 4)); break;
    case COL_LISTENER: sqlite3_result_text64(ctx, (const char *)b + c->ls, (sqlite3_uint64)c->ll, SQLITE_STATIC, SQLITE_UTF8); break;
    case COL_PEER: sqlite3_result_text64(ctx, (const char *)b + c->ps, (sqlite3_uint64)c->pl, SQLITE_STATIC, SQLITE_UTF8); break;
    case COL_PORT: sqlite3_result_int64(ctx, (sqlite3_int64)be(b + c->ps + c->pl, 2)); break;
    case COL_RAW: sqlite3_result_blob64(ctx, b + c->rawAt, (sqlite3_uint64)c->rawLen, SQLITE_STATIC); break;
    case COL_MAC: sqlite3_result_blob64(ctx, b + c->end, MAC_BYTES, SQLITE_STATIC); break;
    case COL_FIELDS: sqlite3_result_text64(ctx, (const char *)b + c->f, (sqlite3_uint64)c->fl, SQLITE_STATIC, SQLITE_UTF8); break;
    default: sqlite3_result_null(ctx); break;
  }
  return SQLITE_OK;
}

static int batch_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid) {
  *rowid = ((BatchCursor *)cur)->i;
  return SQLITE_OK;
}

/* Eponymous only (no CREATE VIRTUAL TABLE): xCreate is 0. */
static sqlite3_module batch_module = {
  .iVersion = 0, .xCreate = 0, .xConnect = batch_connect, .xBestIndex = batch_best_index, .xDisconnect = batch_disconnect,
  .xDestroy = 0, .xOpen = batch_open, .xClose = batch_close, .xFilter = batch_filter, .xNext = batch_next,
  .xEof = batch_eof, .xColumn = batch_column, .xRowid = batch_rowid,
};

/* DIRECTONLY: a view or trigger in a tampered file cannot call them. */
int sqlite3_immutalogrows_init(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
  (void)err;
  SQLITE_EXTENSION_INIT2(api);
  int rc = sqlite3_create_function_v2(db, "immutalog_rows", ARGS + 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, 0, 0, rows_step, rows_final, 0);
  if (rc == SQLITE_OK) rc = sqlite3_create_module(db, "immutalog_batch", &batch_module, 0);
  return rc;
}
