/*
 * Verify's shortcut for the parsed-fields check: the parser of src/parse (record.ts, head.ts,
 * rfc5424.ts, rfc3164.ts, oslo-context.ts, oslo-exception.ts) and the JSON writer of
 * canonical-bytes.ts, for the shapes nearly every entry has, in C. Verify re-derives every
 * entry's fields from its raw bytes and compares them with the stored JSON; in TypeScript that
 * was half of its time (1.7 of 3.4 us an entry).
 *
 * It only ever vouches: a record is reported as matching when the JSON written here is byte for
 * byte the stored JSON, and this code writes JSON only where it is sure the TypeScript parser
 * writes the same bytes. Wherever that would take more than plain printable ASCII (a field byte
 * outside 0x20-0x7e, which JSON.stringify escapes or UTF-8 decoding may replace), an oslo JSON
 * body (JSON.parse), or more room than expected, it declines, and verify takes the TypeScript
 * path for that entry, which also reports any mismatch with its evidence. A test holds the two
 * writers to the same bytes over random, corpus and mutated records.
 *
 * Each function below names the TypeScript function it follows; the structure is kept the same
 * so that the two can be read side by side.
 */
#include <node_api.h>
#include <stdint.h>
#include <string.h>

/* parse/version.ts PARSER_VERSION: the loader refuses this addon when the two differ. */
#define PARSER_VERSION 1
/* parse/limits.ts */
#define HEAD_WINDOW 4096
#define MAX_PID_DIGITS 10
#define MAX_CONTEXT_CHARS 1024
#define MAX_INSTANCE_CHARS 128
#define MAX_EXC_PREFIX_CHARS 64
/* parse/pri.ts */
#define MAX_PRI 191
/*
 * Fields lie in the head window and escaping at most doubles a byte, so the JSON of a record
 * fits in twice the window plus its keys; past this the writer declines.
 */
#define MAX_JSON_BYTES (2 * HEAD_WINDOW + 1024)

#define SP 0x20

typedef struct {
  const uint8_t *raw;
  long end; /* message end: trailing \0, \n, \r (one each) dropped */
  long n;   /* min(end, HEAD_WINDOW) */
} head_t;

/* A field as offsets into raw: [a, b), or absent when b <= a or `set` is 0. */
typedef struct {
  long a, b;
  int set;
} span_t;

enum fmt { FMT_NOPRI, FMT_BARE, FMT_RFC5424, FMT_RFC3339, FMT_RFC3164 };
static const char *const FMT_NAMES[] = {"nopri", "bare", "rfc5424", "rfc3339", "rfc3164"};

typedef struct {
  enum fmt fmt;
  int pri; /* -1: none */
  span_t ts, host, app, procid, msgid, sd;
  int oslo; /* 0 none, 1 context line */
  span_t time, level, logger, request_id, global_request_id, user, project, instance;
  uint64_t pid;
  int exception;
  int decline; /* the TypeScript parser must judge this record */
} fields_t;

/* head.ts makeHead */
static head_t make_head(const uint8_t *raw, size_t length) {
  long end = (long)length;
  if (end > 0 && raw[end - 1] == 0x00) end--;
  if (end > 0 && raw[end - 1] == 0x0a) end--;
  if (end > 0 && raw[end - 1] == 0x0d) end--;
  head_t h = {raw, end, end < HEAD_WINDOW ? end : HEAD_WINDOW};
  return h;
}

/* head.ts at: the byte at i, or -1 outside the window. */
static inline int at(const head_t *h, long i) {
  return i >= 0 && i < h->n ? h->raw[i] : -1;
}

static inline int is_digit(int c) {
  return c >= 0x30 && c <= 0x39;
}

static int digits_at(const head_t *h, long i, int count) {
  for (int k = 0; k < count; k++)
    if (!is_digit(at(h, i + k))) return 0;
  return 1;
}

static long token_end(const head_t *h, long i) {
  while (i < h->n && h->raw[i] > SP) i++;
  return i;
}

static long index_in(const head_t *h, int c, long a, long b) {
  long stop = b < h->n ? b : h->n;
  for (long i = a; i < stop; i++)
    if (h->raw[i] == c) return i;
  return -1;
}

static int bytes_at(const head_t *h, long i, const char *lit) {
  long len = (long)strlen(lit);
  if (i + len > h->n) return 0;
  return memcmp(h->raw + i, lit, (size_t)len) == 0;
}

/* head.ts text/asciiSlice: a field, absent when empty. */
static span_t text(long a, long b) {
  span_t s = {a, b, b > a};
  return s;
}

static const span_t NONE = {0, 0, 0};

/* pri.ts parsePri: the PRI, or -1; *next is the index after `>`. */
static int parse_pri(const head_t *h, long *next) {
  if (at(h, 0) != '<') return -1;
  int v = 0;
  long i = 1;
  for (; i <= 3; i++) {
    int c = at(h, i);
    if (is_digit(c)) v = v * 10 + (c - 0x30);
    else break;
  }
  if (i == 1 || at(h, i) != '>' || v > MAX_PRI) return -1;
  *next = i + 1;
  return v;
}

/* rfc5424.ts nilOr */
static span_t nil_or(const head_t *h, long a, long b) {
  if (b - a == 1 && h->raw[a] == '-') return NONE;
  return text(a, b);
}

/* rfc5424.ts looksLikeTimestamp */
static int looks_like_timestamp(const head_t *h, long a, long b) {
  if (b - a == 1 && h->raw[a] == '-') return 1;
  if (b - a < 11 || !digits_at(h, a, 4) || !digits_at(h, a + 5, 2) || !digits_at(h, a + 8, 2)) return 0;
  int t = h->raw[a + 10];
  return h->raw[a + 4] == '-' && h->raw[a + 7] == '-' && (t == 'T' || t == 't');
}

/* rfc5424.ts sdEnd */
static long sd_end(const head_t *h, long i) {
  const uint8_t *raw = h->raw;
  long n = h->n;
  while (at(h, i) == '[') {
    int id = at(h, i + 1);
    if (id <= SP || id == ']' || id == '=' || id == '"') return -1;
    int in_quote = 0;
    for (i++; i < n; i++) {
      int c = raw[i];
      if (in_quote) {
        if (c == '\\') i++;
        else if (c == '"') in_quote = 0;
      } else if (c == '"') in_quote = 1;
      else if (c == ']') break;
    }
    if (i >= n) return -1;
    i++;
  }
  return i;
}

/* rfc5424.ts parse5424 */
static long parse_5424(const head_t *h, long p, fields_t *f) {
  int v0 = at(h, p);
  if (!(v0 >= '1' && v0 <= '9')) return -1;
  long i = p + 1;
  while (i < p + 3 && digits_at(h, i, 1)) i++;
  if (at(h, i) != SP) return -1;
  long ts = i + 1, ts_end = token_end(h, ts);
  if (at(h, ts_end) != SP || !looks_like_timestamp(h, ts, ts_end)) return -1;
  long host = ts_end + 1, host_end = token_end(h, host);
  if (host_end == host || at(h, host_end) != SP) return -1;
  long app = host_end + 1, app_end = token_end(h, app);
  if (app_end == app || at(h, app_end) != SP) return -1;
  long proc = app_end + 1, proc_end = token_end(h, proc);
  if (proc_end == proc || at(h, proc_end) != SP) return -1;
  long msgid = proc_end + 1, msgid_end = token_end(h, msgid);
  if (msgid_end == msgid || at(h, msgid_end) != SP) return -1;
  long sd = msgid_end + 1, sd_stop;
  if (at(h, sd) == '-') sd_stop = sd + 1;
  else if ((sd_stop = sd_end(h, sd)) < 0) return -1;
  long msg;
  if (sd_stop == h->end) msg = h->end;
  else if (at(h, sd_stop) == SP) msg = sd_stop + 1;
  else return -1;
  f->fmt = FMT_RFC5424;
  f->ts = nil_or(h, ts, ts_end);
  f->host = nil_or(h, host, host_end);
  f->app = nil_or(h, app, app_end);
  f->procid = nil_or(h, proc, proc_end);
  f->msgid = nil_or(h, msgid, msgid_end);
  f->sd = nil_or(h, sd, sd_stop);
  return msg;
}

/* rfc3164.ts clockAt (oslo-context.ts has the same) */
static int clock_at(const head_t *h, long i) {
  return digits_at(h, i, 2) && at(h, i + 2) == ':' && digits_at(h, i + 3, 2) && at(h, i + 5) == ':' && digits_at(h, i + 6, 2);
}

/* rfc3164.ts monthAt */
static int month_at(const head_t *h, long p) {
  static const char *const MONTHS[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int a = at(h, p), b = at(h, p + 1), c = at(h, p + 2);
  for (int m = 0; m < 12; m++)
    if (MONTHS[m][0] == a && MONTHS[m][1] == b && MONTHS[m][2] == c) return 1;
  return 0;
}

/* rfc3164.ts legacyTsEnd */
static long legacy_ts_end(const head_t *h, long p) {
  if (!month_at(h, p) || at(h, p + 3) != SP) return -1;
  long i = p + 4;
  if (at(h, i) == SP && digits_at(h, i + 1, 1)) i += 2;
  else if (digits_at(h, i, 2)) i += 2;
  else if (digits_at(h, i, 1)) i += 1;
  else return -1;
  if (at(h, i) != SP || !clock_at(h, i + 1)) return -1;
  i += 9;
  if (at(h, i) == '.' && digits_at(h, i + 1, 1)) {
    i++;
    while (digits_at(h, i, 1)) i++;
  }
  return i == h->end || at(h, i) == SP ? i : -1;
}

/* rfc3164.ts rfc3339TsEnd */
static long rfc3339_ts_end(const head_t *h, long p) {
  if (!digits_at(h, p, 4) || at(h, p + 4) != '-' || !digits_at(h, p + 5, 2) || at(h, p + 7) != '-' || !digits_at(h, p + 8, 2)) return -1;
  int t = at(h, p + 10);
  if ((t != 'T' && t != 't') || !clock_at(h, p + 11)) return -1;
  long e = token_end(h, p + 19);
  return e == h->end || at(h, e) == SP ? e : -1;
}

/* rfc3164.ts parseHostTag */
static long parse_host_tag(const head_t *h, long p, fields_t *f) {
  long n = h->n;
  if (p >= n) return p < h->end ? p : h->end;
  long w1 = token_end(h, p);
  int tag_like = at(h, w1 - 1) == ':' || index_in(h, '[', p, w1) >= 0;
  if (!tag_like && at(h, w1) == SP) {
    f->host = text(p, w1);
    p = w1 + 1;
  }
  long k = p;
  for (int c = at(h, k); c > SP && c != ':'; c = at(h, ++k)) {
  }
  if (k == n && n < h->end) return p;
  long lb = index_in(h, '[', p, k);
  if (lb >= 0 && at(h, k - 1) == ']') {
    f->app = text(p, lb);
    f->procid = text(lb + 1, k - 1);
  } else {
    f->app = text(p, k);
  }
  if (at(h, k) == ':') k++;
  if (at(h, k) == SP) k++;
  return k < h->end ? k : h->end;
}

/* record.ts parseHeader: sets fmt and the header fields; returns where the message text starts. */
static long parse_header(const head_t *h, fields_t *f) {
  long p;
  int pri = parse_pri(h, &p);
  if (pri < 0) return 0;
  f->fmt = FMT_BARE;
  f->pri = pri;
  int c = at(h, p);
  if (c >= '1' && c <= '9') {
    long m = parse_5424(h, p, f);
    if (m >= 0) return m;
  }
  long e = rfc3339_ts_end(h, p);
  if (e >= 0) {
    f->fmt = FMT_RFC3339;
  } else if ((e = legacy_ts_end(h, p)) >= 0) {
    f->fmt = FMT_RFC3164;
  } else {
    return p;
  }
  f->ts = text(p, e);
  return parse_host_tag(h, e + 1, f);
}

/* oslo-context.ts dateAt */
static int date_at(const head_t *h, long i) {
  return digits_at(h, i, 4) && at(h, i + 4) == '-' && digits_at(h, i + 5, 2) && at(h, i + 7) == '-' && digits_at(h, i + 8, 2);
}

/* oslo-context.ts timeEnd */
static long time_end(const head_t *h, long p) {
  long q;
  int sep = at(h, p + 10);
  if (date_at(h, p) && (sep == SP || sep == 'T') && clock_at(h, p + 11)) q = p + 19;
  else if (clock_at(h, p)) q = p + 8;
  else return -1;
  for (int c = at(h, q); is_digit(c) || c == '.' || c == ','; c = at(h, ++q)) {
  }
  return q;
}

/* oslo-context.ts idOrNull: `-`, `None` and empty are no value. */
static span_t id_or_null(const head_t *h, const long *tok, int k) {
  long a = tok[2 * k], b = tok[2 * k + 1];
  if (b - a == 1 && h->raw[a] == '-') return NONE;
  if (b - a == 4 && bytes_at(h, a, "None")) return NONE;
  return text(a, b);
}

/* oslo-context.ts isReqId */
static int is_req_id(const head_t *h, const long *tok, int k) {
  return tok[2 * k + 1] - tok[2 * k] > 4 && bytes_at(h, tok[2 * k], "req-");
}

/*
 * oslo-context.ts readContext. Its `ascii` flag picks asciiSlice or text for the ids; the two
 * give the same string for an ASCII id, and any other id makes the writer decline.
 */
static long read_context(const head_t *h, long a, fields_t *o) {
  const uint8_t *raw = h->raw;
  long stop = a + MAX_CONTEXT_CHARS < h->n ? a + MAX_CONTEXT_CHARS : h->n;
  long tok[8] = {0};
  int count = 0;
  long start = a, close = -1;
  for (long i = a; i < stop; i++) {
    int c = raw[i];
    if (c == SP || c == ']') {
      if (count < 4) {
        tok[2 * count] = start;
        tok[2 * count + 1] = i;
      }
      count++;
      start = i + 1;
      if (c == ']') {
        close = i;
        break;
      }
    }
  }
  if (close < 0) return -1;
  if (count == 1 && close - a == 1 && raw[a] == '-') return close;
  int k = 1;
  if (is_req_id(h, tok, 0) && (count == 1 || !is_req_id(h, tok, 1))) {
    k = 0;
  } else {
    o->global_request_id = id_or_null(h, tok, 0);
  }
  if (count > k) o->request_id = id_or_null(h, tok, k);
  if (count > k + 1) o->user = id_or_null(h, tok, k + 1);
  if (count > k + 2) o->project = id_or_null(h, tok, k + 2);
  return close;
}

/* A naive search: needles are short and the bodies a few hundred bytes. */
static long find(const uint8_t *hay, long from, long to, const uint8_t *needle, long len) {
  if (len <= 0) return -1;
  const uint8_t first = needle[0];
  for (long i = from; i + len <= to; i++) {
    if (hay[i] != first) {
      const void *next = memchr(hay + i, first, (size_t)(to - len + 1 - i));
      if (next == NULL) return -1;
      i = (const uint8_t *)next - hay;
    }
    if (memcmp(hay + i, needle, (size_t)len) == 0) return i;
  }
  return -1;
}

/* oslo-exception.ts isTimeByte */
static int is_time_byte(int c) {
  return is_digit(c) || c == SP || c == '-' || c == ':' || c == '.' || c == ',' || c == 'T';
}

/* oslo-exception.ts isPrefixedLine */
static int is_prefixed_line(const head_t *h, long i, long needle_len, long from, long pid_start, long pid_end) {
  const uint8_t *raw = h->raw;
  long after = i + needle_len;
  if (after != h->end && raw[after] != SP) return 0;
  long pid_len = pid_end - pid_start;
  long p = i - pid_len;
  if (p - 1 <= from || raw[p - 1] != SP || memcmp(raw + p, raw + pid_start, (size_t)pid_len) != 0) return 0;
  long t_end = p - 1;
  long min = i - MAX_EXC_PREFIX_CHARS > from ? i - MAX_EXC_PREFIX_CHARS : from;
  long j = t_end;
  while (j > min && is_time_byte(raw[j - 1])) j--;
  if (j <= from) return 0;
  long line_start;
  if (raw[j - 1] == 0x0a) line_start = j;
  else if (raw[j - 1] == '#' && raw[j] == '0' && raw[j + 1] == '1' && raw[j + 2] == '2') line_start = j + 3;
  else return 0;
  return t_end - line_start >= 8;
}

/*
 * oslo-exception.ts hasTraceback. The TypeScript searches the window's string, then the bytes
 * past it; together that is every occurrence inside raw[from, end), which is what is searched
 * here (neither needle can run into the dropped trailing \0 \n \r).
 */
static int has_traceback(const head_t *h, long from, long pid_start, long pid_end, long lg_start, long lg_end) {
  static const char PHRASE[] = "Traceback (most recent call last)";
  if (find(h->raw, from, h->end, (const uint8_t *)PHRASE, (long)sizeof PHRASE - 1) >= 0) return 1;
  static const char ERROR_WORD[] = " ERROR ";
  const long word = (long)sizeof ERROR_WORD - 1;
  /* The needle is ` ERROR <logger>`; the logger lies in the window. */
  uint8_t needle[sizeof ERROR_WORD - 1 + HEAD_WINDOW];
  long len = word + (lg_end - lg_start);
  memcpy(needle, ERROR_WORD, (size_t)word);
  memcpy(needle + word, h->raw + lg_start, (size_t)(lg_end - lg_start));
  for (long i = find(h->raw, from, h->end, needle, len); i >= 0; i = find(h->raw, i + 1, h->end, needle, len)) {
    if (is_prefixed_line(h, i, len, from, pid_start, pid_end)) return 1;
  }
  return 0;
}

/* oslo-context.ts parseContextLine; returns 0 where it returns null. */
static int parse_context_line(const head_t *h, long p, fields_t *f) {
  long n = h->n;
  long te = time_end(h, p);
  if (te < 0 || at(h, te) != SP) return 0;
  long pid_start = te + 1, q = pid_start;
  uint64_t pid = 0;
  for (int c = at(h, q); is_digit(c) && q - pid_start < MAX_PID_DIGITS; c = at(h, ++q)) pid = pid * 10 + (uint64_t)(c - 0x30);
  if (q == pid_start || at(h, q) != SP) return 0;
  long pid_end = q;
  long lv_start = ++q;
  int c = at(h, q);
  if (!(c >= 'A' && c <= 'Z')) return 0;
  for (c = at(h, ++q); (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_'; c = at(h, ++q)) {
  }
  if (c != SP) return 0;
  long lv_end = q;
  long lg_start = ++q, lg_end = token_end(h, lg_start);
  if (lg_end == lg_start || (lg_end == n && n < h->end)) return 0;
  f->oslo = 1;
  f->time = text(p, te);
  f->pid = pid;
  f->level = text(lv_start, lv_end);
  f->logger = text(lg_start, lg_end);
  q = lg_end;
  if (at(h, q) == SP && at(h, q + 1) == '[') {
    long close = read_context(h, q + 2, f);
    if (close >= 0) {
      q = close + 1;
      static const char INSTANCE[] = "[instance: ";
      if (at(h, q) == SP && bytes_at(h, q + 1, INSTANCE)) {
        long u = q + 1 + (long)sizeof INSTANCE - 1;
        long ue = index_in(h, ']', u, u + MAX_INSTANCE_CHARS);
        if (ue > u) f->instance = text(u, ue);
      }
    }
  }
  f->exception = has_traceback(h, p, pid_start, pid_end, lg_start, lg_end);
  return 1;
}

/* record.ts parseOslo; an oslo JSON body is left to the TypeScript parser (JSON.parse). */
static void parse_oslo(const head_t *h, long p, fields_t *f) {
  if (at(h, p) == 0xef && at(h, p + 1) == 0xbb && at(h, p + 2) == 0xbf) p += 3;
  while (at(h, p) == SP) p++;
  if (p >= h->n) return;
  if (h->raw[p] == '{') {
    f->decline = 1;
    return;
  }
  parse_context_line(h, p, f);
}

/* record.ts parseRecordUnchecked */
static void parse_record(const uint8_t *raw, size_t length, fields_t *f) {
  memset(f, 0, sizeof *f);
  f->fmt = FMT_NOPRI;
  f->pri = -1;
  head_t h = make_head(raw, length);
  long msg = parse_header(&h, f);
  parse_oslo(&h, msg, f);
}

/* ---- canonical-bytes.ts writeFieldsJson, for printable ASCII only ---- */

typedef struct {
  uint8_t *out;
  size_t at, cap;
  int failed; /* out of room, or a byte only the TypeScript writer may judge */
} writer_t;

static void put(writer_t *w, const char *s, size_t len) {
  if (w->failed || w->at + len > w->cap) {
    w->failed = 1;
    return;
  }
  memcpy(w->out + w->at, s, len);
  w->at += len;
}

#define PUT_LIT(w, lit) put((w), (lit), sizeof(lit) - 1)

static void put_u64(writer_t *w, uint64_t v) {
  char digits[24];
  int i = 24;
  do {
    digits[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  put(w, digits + i, (size_t)(24 - i));
}

/*
 * A JSON string of raw[a, b): printable ASCII as it is, `"` and `\` with a backslash (as
 * JSON.stringify writes them). Any other byte is escaped by JSON.stringify or decoded as UTF-8
 * by the TypeScript parser, so the writer declines.
 */
static void put_string(writer_t *w, const uint8_t *raw, span_t s) {
  if (w->failed) return;
  size_t need = (size_t)(s.b - s.a) * 2 + 2;
  if (w->at + need > w->cap) {
    w->failed = 1;
    return;
  }
  uint8_t *o = w->out + w->at;
  *o++ = '"';
  for (long i = s.a; i < s.b; i++) {
    uint8_t c = raw[i];
    if (c < 0x20 || c > 0x7e) {
      w->failed = 1;
      return;
    }
    if (c == '"' || c == '\\') *o++ = '\\';
    *o++ = c;
  }
  *o++ = '"';
  w->at = (size_t)(o - w->out);
}

static void put_field(writer_t *w, const char *key, size_t key_len, const uint8_t *raw, span_t s) {
  if (!s.set) return;
  put(w, key, key_len);
  put_string(w, raw, s);
}

#define FIELD(w, lit, raw, s) put_field((w), (lit), sizeof(lit) - 1, (raw), (s))

/* The canonical field JSON into out; its length, or -1 when the TypeScript writer must judge. */
static long write_fields_json(const uint8_t *raw, size_t length, uint8_t *out, size_t cap) {
  fields_t f;
  parse_record(raw, length, &f);
  if (f.decline) return -1;
  writer_t w = {out, 0, cap, 0};
  PUT_LIT(&w, "{\"v\":");
  put_u64(&w, PARSER_VERSION);
  PUT_LIT(&w, ",\"fmt\":\"");
  put(&w, FMT_NAMES[f.fmt], strlen(FMT_NAMES[f.fmt]));
  PUT_LIT(&w, "\"");
  if (f.pri >= 0) {
    PUT_LIT(&w, ",\"pri\":");
    put_u64(&w, (uint64_t)f.pri);
    PUT_LIT(&w, ",\"facility\":");
    put_u64(&w, (uint64_t)(f.pri >> 3));
    PUT_LIT(&w, ",\"severity\":");
    put_u64(&w, (uint64_t)(f.pri & 7));
  }
  FIELD(&w, ",\"ts\":", raw, f.ts);
  FIELD(&w, ",\"host\":", raw, f.host);
  FIELD(&w, ",\"app\":", raw, f.app);
  FIELD(&w, ",\"procid\":", raw, f.procid);
  FIELD(&w, ",\"msgid\":", raw, f.msgid);
  FIELD(&w, ",\"sd\":", raw, f.sd);
  if (f.oslo) {
    /* A context line always has its kind, time, pid, level and logger: the first key is kind. */
    PUT_LIT(&w, ",\"oslo\":{\"kind\":\"context\"");
    FIELD(&w, ",\"time\":", raw, f.time);
    PUT_LIT(&w, ",\"pid\":");
    put_u64(&w, f.pid);
    FIELD(&w, ",\"level\":", raw, f.level);
    FIELD(&w, ",\"logger\":", raw, f.logger);
    FIELD(&w, ",\"request_id\":", raw, f.request_id);
    FIELD(&w, ",\"global_request_id\":", raw, f.global_request_id);
    FIELD(&w, ",\"user\":", raw, f.user);
    FIELD(&w, ",\"project\":", raw, f.project);
    FIELD(&w, ",\"instance\":", raw, f.instance);
    if (f.exception) PUT_LIT(&w, ",\"exception\":true");
    PUT_LIT(&w, "}");
  }
  PUT_LIT(&w, "}");
  return w.failed ? -1 : (long)w.at;
}

/* ---- N-API ---- */

static napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, "ERR_IMMUTALOG_FIELDS_RANGE", msg);
  return NULL;
}

static int get_typed(napi_env env, napi_value v, napi_typedarray_type wanted, void **data, size_t *count) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  napi_typedarray_type type;
  size_t offset;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, count, data, &ab, &offset) != napi_ok) return 0;
  return type == wanted;
}

static napi_value number(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

/*
 * writeFields(raw: Uint8Array, out: Uint8Array): the canonical field JSON of raw written at
 * out[0..], and its length; -1 where this code declines. For the tests that hold it to the
 * TypeScript writer.
 */
static napi_value write_fields(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void *raw = NULL, *out = NULL;
  size_t raw_len = 0, out_len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
      !get_typed(env, argv[0], napi_uint8_array, &raw, &raw_len) || !get_typed(env, argv[1], napi_uint8_array, &out, &out_len))
    return throw_range(env, "writeFields(raw, out): expected two Uint8Arrays");
  return number(env, (double)write_fields_json(raw, raw_len, out, out_len));
}

/*
 * matchFields(buf: Uint8Array, spans: Uint32Array, count, vouched: Uint8Array): for each record
 * i, spans[4i..4i+3] = raw start, raw end, stored fields start, stored fields end in buf;
 * vouched[i] = 1 when the record's fields JSON is written here and is byte for byte the stored
 * one, else 0 (differs, or declined: the TypeScript path judges it). Returns how many were vouched.
 */
static napi_value match_fields(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  void *buf = NULL, *spans_v = NULL, *vouched_v = NULL;
  size_t buf_len = 0, span_count = 0, vouched_len = 0;
  uint32_t count = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4 ||
      !get_typed(env, argv[0], napi_uint8_array, &buf, &buf_len) || !get_typed(env, argv[1], napi_uint32_array, &spans_v, &span_count) ||
      napi_get_value_uint32(env, argv[2], &count) != napi_ok || !get_typed(env, argv[3], napi_uint8_array, &vouched_v, &vouched_len))
    return throw_range(env, "matchFields(buf, spans, count, vouched): expected a Uint8Array, a Uint32Array, a count and a Uint8Array");
  if ((size_t)count * 4 > span_count || count > vouched_len) return throw_range(env, "matchFields: count exceeds the spans or the vouched array");
  const uint32_t *spans = spans_v;
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t *s = spans + 4 * i;
    if (s[0] > s[1] || s[1] > buf_len || s[2] > s[3] || s[3] > buf_len) return throw_range(env, "matchFields: a span lies outside the buffer");
  }
  const uint8_t *bytes = buf;
  uint8_t *vouched = vouched_v;
  uint8_t json[MAX_JSON_BYTES];
  uint32_t matched = 0;
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t *s = spans + 4 * i;
    long n = write_fields_json(bytes + s[0], s[1] - s[0], json, sizeof json);
    int same = n >= 0 && (uint32_t)n == s[3] - s[2] && memcmp(json, bytes + s[2], (size_t)n) == 0;
    vouched[i] = (uint8_t)same;
    matched += (uint32_t)same;
  }
  return number(env, matched);
}

static napi_value parser_version(napi_env env, napi_callback_info info) {
  (void)info;
  return number(env, PARSER_VERSION);
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    {"writeFields", NULL, write_fields, NULL, NULL, NULL, napi_default, NULL},
    {"matchFields", NULL, match_fields, NULL, NULL, NULL, napi_default, NULL},
    {"parserVersion", NULL, parser_version, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
