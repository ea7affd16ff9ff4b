import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/paths.js';
import { circles, folderOf, readImportGraph, type Edge } from './import-graph.js';

/**
 * The house rules, read from the code's own imports. A folder may import its own files and the
 * folders below it, never one above or beside it on the same floor. The README's Layout section
 * draws the same floors, top to bottom.
 */
export const FLOORS: readonly (readonly string[])[] = [
  ['cli'],
  ['serve'],
  ['ingest', 'anchor', 'verify'],
  ['log'],
  ['store', 'bitcoind'],
  ['config'],
  ['receive'],
  ['checkpoint', 'bitcoin'],
  ['chain'],
  ['parse', 'crypto'],
];
const FLOOR_OF = new Map(FLOORS.flatMap((names, i) => names.map((n) => [n, FLOORS.length - i] as const)));

/** Folders whose code is a function of its input: formats, hashes, parsers. */
const PURE = ['parse', 'chain', 'checkpoint', 'bitcoin', 'crypto'];
/** The only built-in modules a pure folder may use: hashing, signatures and byte checks, no I/O. */
const PURE_BUILTINS = new Set(['node:crypto', 'node:buffer']);
/** The pure folders' addons (batch crypto, the fields check) are loaded like modules (createRequire), each by one file only. */
const ADDON_LOADERS = new Set(['src/crypto/native-addon.ts', 'src/parse/native-fields.ts']);
const ADDON_LOADER_BUILTINS = new Set(['node:module', 'node:url']);
/** Modules that reach the file system, other processes, threads, HTTP, the database or the node. */
const IO_MODULES = new Set([
  'node:fs', 'node:fs/promises', 'node:child_process', 'node:worker_threads', 'node:http', 'node:https',
  'better-sqlite3', 'bitcoin-core', 'winston', 'commander',
]);
/** The verifier is the auditor's tool: it must not share code with the writer it checks. */
const NOT_FOR_VERIFY = ['ingest', 'serve', 'log', 'anchor', 'cli'];
/** The node client's read side (headers, transactions, proofs): all that verify may take from bitcoind. */
const BITCOIND_READ_SIDE = ['src/bitcoind/reader.ts', 'src/bitcoind/errors.ts'];
/** One module per foreign dependency: the file that owns each package. */
const OWNER: Record<string, string> = {
  'better-sqlite3': 'src/store/db.ts',
  'bitcoin-core': 'src/bitcoind/transport.ts',
  commander: 'src/cli/program.ts',
  winston: 'src/serve/daemon-log.ts',
};

const graph = readImportGraph(REPO_ROOT);
const projectEdges = graph.edges.filter((e) => e.project);
const show = (edges: Edge[]): string[] => edges.map((e) => `${e.from} imports ${e.to}`);

describe('import rules (the house drawn from the imports)', () => {
  it('every folder of src/ has a floor', () => {
    const folders = [...new Set(graph.files.map(folderOf))].sort();
    expect(folders.filter((f) => !FLOOR_OF.has(f))).toEqual([]);
  });

  it('imports flow downstream: a folder imports only its own files and lower floors', () => {
    const upward = projectEdges.filter((e) => {
      const a = folderOf(e.from);
      const b = folderOf(e.to);
      return a !== b && !((FLOOR_OF.get(a) ?? 0) > (FLOOR_OF.get(b) ?? Infinity));
    });
    expect(show(upward)).toEqual([]);
  });

  it('no import circles between files', () => {
    expect(circles(graph.files, graph.edges)).toEqual([]);
  });

  it('parse, chain, checkpoint, bitcoin and crypto import nothing that does I/O', () => {
    const allowed = (e: Edge): boolean => PURE_BUILTINS.has(e.to) || (ADDON_LOADERS.has(e.from) && ADDON_LOADER_BUILTINS.has(e.to));
    const bad = graph.edges.filter((e) => PURE.includes(folderOf(e.from)) && (e.project ? !PURE.includes(folderOf(e.to)) : !allowed(e)));
    expect(show(bad)).toEqual([]);
  });

  it('receive does its own socket I/O but imports nothing else that does I/O', () => {
    const bad = graph.edges.filter((e) => folderOf(e.from) === 'receive' && (e.project ? !PURE.includes(folderOf(e.to)) && folderOf(e.to) !== 'receive' : IO_MODULES.has(e.to)));
    expect(show(bad)).toEqual([]);
  });

  it("verify imports nothing of ingest, serve, log, anchor or the node client's writer side", () => {
    const bad = projectEdges.filter((e) => folderOf(e.from) === 'verify' && (NOT_FOR_VERIFY.includes(folderOf(e.to)) || (folderOf(e.to) === 'bitcoind' && !BITCOIND_READ_SIDE.includes(e.to))));
    expect(show(bad)).toEqual([]);
  });

  it('each foreign package is imported by exactly one module', () => {
    const byPackage = new Map<string, Set<string>>();
    for (const e of graph.edges) {
      if (e.project || e.to.startsWith('node:')) continue;
      const pkg = e.to.startsWith('@') ? e.to.split('/').slice(0, 2).join('/') : e.to.split('/')[0]!;
      byPackage.set(pkg, (byPackage.get(pkg) ?? new Set()).add(e.from));
    }
    const seen = Object.fromEntries([...byPackage].map(([p, files]) => [p, [...files].sort()]));
    expect(seen).toEqual(Object.fromEntries(Object.entries(OWNER).map(([p, f]) => [p, [f]])));
  });

  it('only cli picks exit codes', () => {
    const bad = graph.files.filter((f) => folderOf(f) !== 'cli' && /process\.exit(Code)?\b/.test(readFileSync(join(REPO_ROOT, f), 'utf8')));
    expect(bad).toEqual([]);
  });

  it("the README's Layout section lists the folders of src/, floor by floor", () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = readme.split(/^#{2,3} /m).find((s) => s.startsWith('Layout\n'));
    expect(section, 'README.md has a Layout section').toBeDefined();
    const tree = /```[^\n]*\n([\s\S]*?)```/.exec(section!)?.[1] ?? '';
    const listed = [...tree.matchAll(/^\s*(?:[│├└─ ]*)([a-z]+)\/\s/gm)].map((m) => m[1]!).filter((n) => n !== 'src');
    const folders = readdirSync(join(REPO_ROOT, 'src')).filter((n) => statSync(join(REPO_ROOT, 'src', n)).isDirectory());
    expect([...listed].sort()).toEqual([...folders].sort());
    const floors = listed.map((n) => FLOOR_OF.get(n) ?? 0);
    expect(floors, 'listed from the top floor down').toEqual([...floors].sort((a, b) => b - a));
  });
});
