/**
 * Headers and the oslo.log line prefix are only looked for in this many leading
 * bytes. Real headers plus the oslo prefix are a few hundred bytes; the bound
 * keeps the per-record cost independent of body size (bodies reach 70 KB+), and
 * a record whose header does not fit is treated as having no such header.
 */
export const HEAD_WINDOW = 4096;

/**
 * JSONFormatter bodies larger than this are not parsed: JSON.parse must build
 * the whole object tree, and the oslo fields we want do not justify unbounded
 * work per record. oslo's 70 KB records are ~141 KB as JSON, so 1 MiB leaves room.
 */
export const MAX_JSON_BYTES = 1 << 20;

/** Linux pids fit in 7 digits; more than 10 cannot be a pid and might lose precision. */
export const MAX_PID_DIGITS = 10;

/**
 * An oslo context `[...]` longer than this is not a context: eight ids of at most
 * ~64 chars each. Stops a stray `[` in a malformed line from swallowing the body.
 */
export const MAX_CONTEXT_CHARS = 1024;

/** `[instance: <uuid>]`: a uuid is 36 chars; allow other id styles, but not a runaway scan. */
export const MAX_INSTANCE_CHARS = 128;

/**
 * A traceback continuation line starts with `<asctime>.<msecs> <pid> ` before
 * `ERROR`. `2026-11-26 12:55:44,694.694 4194304 ` is 36 chars; longer prefixes
 * are not continuation lines.
 */
export const MAX_EXC_PREFIX_CHARS = 64;
