// Driving real oslo.log (test/clients/oslo_emit.py) the way Tacker configures it, and
// computing, independently of oslo's formatter, the exact text it must put on the wire.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLIENTS_DIR, SYSTEM_PYTHON, requirePythonModules, run } from './proc.js';

export const OSLO_EMIT = join(CLIENTS_DIR, 'oslo_emit.py');

/** The values oslo_emit.py puts in its RequestContext (R07, R08). */
export const CTX = {
  request_id: 'req-3f5c6b1e-8a8e-4c0e-9d7a-2b1f0c9e7a11',
  global_request_id: 'req-0d1c2b3a-4f5e-6a7b-8c9d-0e1f2a3b4c5d',
  user_id: '9a0b4d6e1f2c4e5a8b7c6d5e4f3a2b1c',
  project_id: '2c7e9f1a3b5d4c6e8f0a1b2c3d4e5f60',
} as const;

export interface EmittedRecord {
  id: string;
  levelname: string;
  levelno: number;
  name: string;
  message: string;
  funcName: string;
  pathname: string;
  lineno: number;
  created: number;
  msecs: number;
  process: number;
  exc_lines: string[] | null;
  exc_summary: string | null;
  context: { request_id: string; global_request_id: string; user_id: string; project_id: string } | null;
}

export interface Sidecar {
  pid: number;
  python: string;
  oslo_log: string;
  records: EmittedRecord[];
}

/** Levels and loggers of the emitter's script, in order (R08 only with --big). */
export const SCRIPT: { id: string; level: string; logger: string }[] = [
  { id: 'R01', level: 'INFO', logger: 'tacker.common.config' },
  { id: 'R02', level: 'DEBUG', logger: 'tacker.common.config' },
  { id: 'R03', level: 'WARNING', logger: 'tacker.nfvo.nfvo_plugin' },
  { id: 'R04', level: 'ERROR', logger: 'tacker.vnfm.plugin' },
  { id: 'R05', level: 'INFO', logger: 'tacker.api.vnfpkgm.v1.controller' },
  { id: 'R06', level: 'INFO', logger: 'tacker.nfvo.nfvo_plugin' },
  { id: 'R07', level: 'INFO', logger: 'tacker.wsgi' },
  { id: 'R08', level: 'INFO', logger: 'tacker.vnfm.plugin' },
];

/** Python SysLogHandler.priority_map as used by mapPriority (notes §4.1). */
export const SYSLOG_SEVERITY: Record<string, number> = { DEBUG: 7, INFO: 6, WARNING: 4, ERROR: 3, CRITICAL: 2 };
export const LOCAL0 = 16;
export const LOCAL1 = 17;

export function requireOslo(): void {
  requirePythonModules(['oslo_log', 'oslo_config', 'oslo_context'], 'python3-oslo.log');
}

export interface OsloConfigOptions {
  dir: string;
  host: string;
  port: number;
  transport: 'udp' | 'tcp';
  formatter: 'context' | 'json';
  /** Name in handlers.SysLogHandler, e.g. LOG_LOCAL0. */
  facility: string;
}

/**
 * Writes tacker.conf (only `log_config_append`) and the logging.conf of notes §8.1/§8.2/§8.3
 * into dir; returns the tacker.conf path.
 */
export function writeOsloConfig(o: OsloConfigOptions): string {
  mkdirSync(o.dir, { recursive: true });
  const loggingConf = join(o.dir, 'logging.conf');
  const sockType = o.transport === 'tcp' ? ', handlers.socket.SOCK_STREAM' : '';
  const cls = o.formatter === 'json' ? 'oslo_log.formatters.JSONFormatter' : 'oslo_log.formatters.ContextFormatter';
  writeFileSync(
    loggingConf,
    [
      '[loggers]',
      'keys = root',
      '',
      '[handlers]',
      'keys = syslog',
      '',
      '[formatters]',
      'keys = context',
      '',
      '[logger_root]',
      'level = DEBUG',
      'handlers = syslog',
      '',
      '[handler_syslog]',
      'class = handlers.SysLogHandler',
      `args = (('${o.host}', ${o.port}), handlers.SysLogHandler.${o.facility}${sockType})`,
      'formatter = context',
      '',
      '[formatter_context]',
      `class = ${cls}`,
      'datefmt = %Y-%m-%d %H:%M:%S',
      '',
    ].join('\n'),
  );
  const tackerConf = join(o.dir, 'tacker.conf');
  writeFileSync(tackerConf, `[DEFAULT]\nlog_config_append = ${loggingConf}\n`);
  return tackerConf;
}

/** Runs the emitter (TZ=UTC, so asctime is UTC) and returns its sidecar; fails on a Python logging error. */
export async function runOsloEmitter(tackerConf: string, sidecarPath: string, opts: { big?: number } = {}): Promise<{ sidecar: Sidecar; stderr: string }> {
  const args = [OSLO_EMIT, '--config-file', tackerConf, '--sidecar', sidecarPath];
  if (opts.big) args.push('--big', String(opts.big));
  const env = { PATH: '/usr/bin:/bin', TZ: 'UTC', LC_ALL: 'C.UTF-8', PYTHONDONTWRITEBYTECODE: '1', PYTHONNOUSERSITE: '1' };
  const r = await run(SYSTEM_PYTHON, args, { env, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`oslo_emit.py exited with ${r.code ?? r.signal}: ${r.stderr}`);
  // Python prints "--- Logging error ---" when a handler fails (e.g. EMSGSIZE) and goes on.
  if (r.stderr.includes('Logging error')) throw new Error(`oslo.log reported a logging error: ${r.stderr}`);
  return { sidecar: JSON.parse(readFileSync(sidecarPath, 'utf8')) as Sidecar, stderr: r.stderr };
}

/** writeOsloConfig into `o.dir`, then the emitter with its sidecar beside the config: the records oslo.log sent. */
export async function emitOslo(o: OsloConfigOptions, opts: { big?: number } = {}): Promise<Sidecar> {
  return (await runOsloEmitter(writeOsloConfig(o), join(o.dir, 'sidecar.json'), opts)).sidecar;
}

/** `%(asctime)s` with datefmt `%Y-%m-%d %H:%M:%S` under TZ=UTC. */
export function asctime(created: number): string {
  return new Date(Math.floor(created) * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

/** `%(asctime)s.%(msecs)03d`. */
export function osloTime(r: EmittedRecord): string {
  return `${asctime(r.created)}.${String(r.msecs).padStart(3, '0')}`;
}

/**
 * The text oslo.log's ContextFormatter produces for a record with the default format strings
 * (notes §3.1), built here from the record's facts rather than by oslo:
 *  - `[-]` without a context; `[global req user project domain system_scope user_domain
 *    project_domain]` with one (missing values `-`);
 *  - for WARNING and above with an exception: `: <ExcType>: <text>` (error summary);
 *  - DEBUG: ` funcName pathname:lineno`;
 *  - LOG.exception(): `\n` + every line of the traceback (print_exception output split on
 *    `\n`, so the last one is empty) prefixed by `time pid ERROR logger ` (empty instance).
 */
export function expectedContextText(r: EmittedRecord): string {
  const t = osloTime(r);
  const c = r.context;
  const ctx = c ? `[${c.global_request_id} ${c.request_id} ${c.user_id} ${c.project_id} - - - -]` : '[-]';
  let s = `${t} ${r.process} ${r.levelname} ${r.name} ${ctx} ${r.message}`;
  if (r.exc_summary !== null && r.levelno >= 30) s += `: ${r.exc_summary}`;
  if (r.levelname === 'DEBUG') s += ` ${r.funcName} ${r.pathname}:${r.lineno}`;
  if (r.exc_lines) {
    const tb = r.exc_lines.join('').split('\n');
    s += '\n' + tb.map((l) => `${t} ${r.process} ERROR ${r.name} ${l}`).join('\n');
  }
  return s;
}

/**
 * The `fields.oslo` immutalog must parse from record `r` of emitter run `s` as the given formatter
 * wrote it (no instance; an exception only on R04). JSONFormatter's asctime has no milliseconds.
 */
export function expectedOsloFields(r: EmittedRecord, s: Sidecar, formatter: 'context' | 'json'): Record<string, unknown> {
  return {
    kind: formatter,
    time: formatter === 'context' ? osloTime(r) : asctime(r.created),
    pid: s.pid,
    level: r.levelname,
    logger: r.name,
    request_id: r.context ? CTX.request_id : null,
    global_request_id: r.context ? CTX.global_request_id : null,
    user: r.context ? CTX.user_id : null,
    project: r.context ? CTX.project_id : null,
    instance: null,
    exception: r.id === 'R04',
  };
}

/** JSONFormatter's `traceback`: format_exception() elements rstripped, split into lines, empty ones dropped. */
export function expectedJsonTraceback(r: EmittedRecord): string[] | null {
  if (!r.exc_lines) return null;
  return r.exc_lines.flatMap((e) => e.replace(/\s+$/, '').split(/\r\n|\r|\n/)).filter((l) => l !== '');
}

/** `<PRI>` for a record sent by SysLogHandler with the given facility. */
export function priOf(r: { levelname: string }, facility: number): number {
  const sev = SYSLOG_SEVERITY[r.levelname];
  if (sev === undefined) throw new Error(`no syslog severity for ${r.levelname}`);
  return facility * 8 + sev;
}

/** Exactly what SysLogHandler sends: `<PRI>` + UTF-8 text + NUL (append_nul). */
export function pythonSyslogBytes(pri: number, text: string): Buffer {
  return Buffer.concat([Buffer.from(`<${pri}>`, 'ascii'), Buffer.from(text, 'utf8'), Buffer.from([0])]);
}
