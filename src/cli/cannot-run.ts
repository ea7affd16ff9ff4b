/**
 * An operator's error a command cannot run past: a bad argument, a missing file, an unreadable
 * database. commands.ts prints its message on one line and exits 2 (EXIT.CANNOT_RUN), no stack trace.
 */
export class CannotRun extends Error {}
