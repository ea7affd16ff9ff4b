// Entry flags are observations made while receiving. They are part of the MAC'd entry encoding,
// so their bit values are a stored format: never renumber them.

/** The frame was longer than the configured maximum; `raw` holds only its first bytes. */
export const FLAG_TRUNCATED = 0x01;
/** The stream ended (close, reset, idle timeout) before the frame's terminator or count. */
export const FLAG_INCOMPLETE = 0x02;
/** `raw` is not valid UTF-8. It is stored exactly as received all the same. */
export const FLAG_INVALID_UTF8 = 0x04;

export const KNOWN_FLAGS = FLAG_TRUNCATED | FLAG_INCOMPLETE | FLAG_INVALID_UTF8;
