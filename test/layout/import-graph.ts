import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/** One import of a source file: a project file (path under src/, .ts) or an outside module. */
export interface Edge {
  from: string;
  /** `src/…/x.ts` for a project file; the bare specifier (`node:fs`, `better-sqlite3`) otherwise. */
  to: string;
  project: boolean;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Worker threads are started from a URL, not an import: still an arrow from the starter to the thread. */
const WORKER_URL = /new URL\(\s*['"`](\.{1,2}\/[^'"`]+\.js)['"`]\s*,\s*import\.meta\.url\s*\)/g;

/**
 * Every import of every file under `root`/src, read by TypeScript's own pre-processor (static,
 * `export … from`, type-only and dynamic `import()` alike), plus worker URLs.
 */
export function readImportGraph(root: string): { files: string[]; edges: Edge[] } {
  const srcDir = join(root, 'src');
  const files = sourceFiles(srcDir).map((f) => relative(root, f));
  const edges: Edge[] = [];
  for (const file of files) {
    const text = readFileSync(join(root, file), 'utf8');
    const specs = ts.preProcessFile(text, true, true).importedFiles.map((i) => i.fileName);
    for (const m of text.matchAll(WORKER_URL)) specs.push(m[1]!);
    for (const spec of specs) {
      if (spec.startsWith('.')) {
        const target = relative(root, resolve(root, dirname(file), spec)).replace(/\.js$/, '.ts');
        edges.push({ from: file, to: target, project: true });
      } else {
        edges.push({ from: file, to: spec, project: false });
      }
    }
  }
  return { files, edges };
}

/** `src/ingest/sequencer.ts` -> `ingest`. */
export function folderOf(file: string): string {
  return file.split('/')[1]!;
}

/** The import circles between files (strongly connected components of more than one file, or a self-import). */
export function circles(files: string[], edges: Edge[]): string[][] {
  const next = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const e of edges) if (e.project && next.has(e.to)) next.get(e.from)!.push(e.to);
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || next.get(v)!.includes(v)) found.push(scc.sort());
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return found;
}
