/** Exit codes are part of the interface: scripts and auditors depend on them. */
export const EXIT = {
  OK: 0,
  /** verify: tampering or an integrity failure was found. */
  INTEGRITY_FAILURE: 1,
  /** serve: stopped with accepted messages it could not write (storage kept failing: disk full). */
  NOT_ALL_WRITTEN: 1,
  /** Could not run: bad arguments, bad configuration, unreadable database. */
  CANNOT_RUN: 2,
} as const;
