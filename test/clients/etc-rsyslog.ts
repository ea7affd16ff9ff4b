// A private rsyslogd that runs a snippet from etc/rsyslog.d/ exactly as it is: the snippet is
// include()d, unchanged, into the default ruleset of a small wrapper config, the way Debian's
// /etc/rsyslog.conf includes /etc/rsyslog.d/*.conf. Like test/clients/rsyslog.ts: own work
// directory and pid file under a temp directory, foreground (-n), stopped by its own pid, no
// imuxsock (/dev/log is never opened), internal messages kept in a file of the temp directory.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RSYSLOGD, requireExecutable, run, type RunResult } from './proc.js';
import { RSYSLOGD_ENV, spawnRsyslogd } from './rsyslog.js';

export interface SnippetRsyslogOptions {
  dir: string;
  /** Absolute path of the snippet, include()d verbatim. */
  snippet: string;
  /** A first line for the wrapper, e.g. the global() the snippet's comment recommends. */
  globalLine?: string;
}

export interface SnippetRsyslogd {
  pid: number;
  /** imtcp port on 127.0.0.1 (ephemeral), bound to the default ruleset the snippet is in. */
  tcpPort: number;
  conf: string;
  dir: string;
  /** Every message the default ruleset saw, one line each (RSYSLOG_FileFormat). */
  allLog(): string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * The wrapper: settings a private instance needs (work directory for the snippet's disk queue,
 * one main-queue worker so order is kept, no DNS), one loopback imtcp input on the default
 * ruleset, the snippet, then a catch-all file action after it.
 */
export function snippetWrapperConfig(o: SnippetRsyslogOptions): string {
  const d = o.dir;
  return [
    ...(o.globalLine ? [o.globalLine] : []),
    `global(workDirectory="${d}/work" processInternalMessages="on" net.enableDNS="off")`,
    'main_queue(queue.workerThreads="1")',
    'module(load="imtcp")',
    `input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="${d}/imtcp.port")`,
    '',
    '# The file under test, unchanged, where /etc/rsyslog.conf includes /etc/rsyslog.d/*.conf.',
    `include(file="${o.snippet}")`,
    '',
    '# Everything the default ruleset saw (the snippet has no stop): proves what reached rsyslogd.',
    `*.* action(type="omfile" file="${d}/all.log" template="RSYSLOG_FileFormat")`,
    '',
  ].join('\n');
}

export function writeSnippetWrapper(o: SnippetRsyslogOptions): string {
  mkdirSync(join(o.dir, 'work'), { recursive: true });
  const conf = join(o.dir, 'rsyslog.conf');
  writeFileSync(conf, snippetWrapperConfig(o));
  return conf;
}

/** `rsyslogd -N1 -f CONF`: rsyslog's own config check. */
export function validateRsyslogConfig(conf: string): Promise<RunResult> {
  requireExecutable(RSYSLOGD, 'rsyslog');
  return run(RSYSLOGD, ['-N1', '-f', conf], { env: RSYSLOGD_ENV, timeoutMs: 20_000 });
}

export async function startSnippetRsyslogd(o: SnippetRsyslogOptions): Promise<SnippetRsyslogd> {
  requireExecutable(RSYSLOGD, 'rsyslog');
  const conf = writeSnippetWrapper(o);
  const up = await spawnRsyslogd(o.dir, conf, 'all.log');
  return { pid: up.pid, tcpPort: up.tcpPort, conf, dir: o.dir, allLog: up.log, output: up.output, stop: up.stop };
}
