import type { DaemonLogger } from './daemon-log.js';
// systemd's readiness protocol (sd_notify(3)): newline-separated KEY=VALUE fields in one datagram
// on the AF_UNIX socket named by $NOTIFY_SOCKET.
//
// Why systemd-notify(1) and not our own sendmsg: Node cannot send AF_UNIX datagrams, and a native
// addon or an npm package would be a foreign dependency for one datagram per state change. The
// tool ships in the same package as systemd itself, so wherever a NOTIFY_SOCKET exists it does.
//
// What that costs, read from systemd's source (src/notify/notify.c, libsystemd sd-daemon.c):
// - The datagram comes from the child's PID, not the main PID. It tries to claim its parent's PID
//   in SCM_CREDENTIALS, which the kernel refuses without CAP_SYS_ADMIN (the unit runs as
//   User=immutalog), and falls back to its own. So the unit needs NotifyAccess=all (any process
//   of the unit's cgroup; "main" and "exec" would drop the message). We never pass --pid: that
//   would add MAINPID=, which the main process has no reason to change.
// - systemd attributes a datagram to a unit by the sender's cgroup, which it can only look up
//   while the sender is alive. So, unless --no-block, systemd-notify then sends BARRIER=1 with
//   the write end of a pipe (SCM_RIGHTS) and waits, at most 5 s, until the manager closes it: it
//   exits only once the message was processed. We never pass --no-block, and we send one message
//   at a time (each waits for the previous child to exit), so READY=1 cannot overtake STOPPING=1.
// - Fields are passed as VARIABLE=VALUE arguments, not --ready/--stopping/--reloading: those
//   options appeared in different systemd versions (--stopping and --reloading in 253), the
//   arguments work in all of them.
import { execFile } from 'node:child_process';

/** systemd-notify's own barrier waits 5 s at most; past this it is stuck, and is killed. */
const NOTIFY_TIMEOUT_MS = 10_000;

export class SdNotify {
  private chain: Promise<void> = Promise.resolve();
  private readonly socket: string | undefined;
  /** Set once the tool could not be run: later messages are not tried (and not logged) again. */
  private unavailable = false;
  private stopping = false;

  constructor(private readonly log: DaemonLogger, env: NodeJS.ProcessEnv = process.env) {
    this.socket = env.NOTIFY_SOCKET || undefined;
    if (!this.socket) log.debug('NOTIFY_SOCKET is not set (not started by systemd with Type=notify): no readiness notifications are sent');
  }

  /**
   * Sends the fields as one notification; resolves when systemd processed it, or it failed
   * (logged; never rejects: a lost notification must not stop the daemon).
   */
  send(...fields: string[]): Promise<void> {
    // A reload finishing during a stop must not tell systemd "ready" after "stopping".
    if (!this.socket || this.stopping) return this.chain;
    if (fields.includes('STOPPING=1')) this.stopping = true;
    this.chain = this.chain.then(() => this.run(fields));
    return this.chain;
  }

  private run(fields: string[]): Promise<void> {
    if (this.unavailable) return Promise.resolve();
    return new Promise((resolve) => {
      execFile('systemd-notify', fields, { timeout: NOTIFY_TIMEOUT_MS, env: process.env }, (e, _stdout, stderr) => {
        if (e) {
          const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
          if (missing) {
            this.unavailable = true;
            // systemd waits for READY=1 until TimeoutStartSec and then fails the start: say why.
            this.log.warn(`NOTIFY_SOCKET is set but systemd-notify is not on PATH (${process.env.PATH ?? ''}): systemd is not told that the daemon is ready; install the package "systemd" or run the unit with Type=simple`);
          } else {
            this.log.warn(`systemd-notify ${fields.join(' ')} failed: ${String(stderr).trim() || e.message}`);
          }
        } else {
          this.log.debug(`systemd notified: ${fields.join(' ')}`);
        }
        resolve();
      });
    });
  }
}

/**
 * CLOCK_MONOTONIC in microseconds, as RELOADING=1 wants it (MONOTONIC_USEC=, required by
 * Type=notify-reload from systemd 253 to tell a reply to its own SIGHUP from a stale one).
 * libuv's hrtime is CLOCK_MONOTONIC on Linux.
 */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}
