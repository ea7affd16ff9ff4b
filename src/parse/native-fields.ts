import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { PARSER_VERSION } from './version.js';

/**
 * The parsed-fields check in C (fields-native/fields_check.c), for verify: it writes a record's
 * canonical field JSON for the shapes nearly every entry has and compares it with the stored
 * bytes. It only vouches for matches; a record it declines or finds different goes through
 * parseRecord and fieldsToJson as before, so failures and their evidence are unchanged.
 *
 * This file sits two folders below the checkout both as src/parse/*.ts and as dist/parse/*.js,
 * so one path serves both.
 */
export const FIELDS_ADDON_PATH = fileURLToPath(new URL('../../src/parse/fields-native/build/Release/immutalog_fields.node', import.meta.url));

/** IMMUTALOG_FIELDS=native requires the addon, =js re-derives every entry's fields in TypeScript, unset or `auto` takes the addon when it loads. */
export const FIELDS_ENV = 'IMMUTALOG_FIELDS';

export type FieldsPath = 'native' | 'js';

export interface NativeFields {
  /**
   * For each record i, spans[4i..4i+3] are [raw start, raw end, stored JSON start, stored JSON
   * end) in buf; vouched[i] becomes 1 where the record's canonical field JSON is exactly the
   * stored bytes, else 0 (different, or left to parseRecord). Returns the count vouched for.
   */
  matchFields(buf: Uint8Array, spans: Uint32Array, count: number, vouched: Uint8Array): number;
  /** The canonical field JSON of raw at out[0..], and its length; -1 where the C declines. */
  writeFields(raw: Uint8Array, out: Uint8Array): number;
}

interface Addon extends NativeFields {
  parserVersion(): number;
}

export type FieldsAddonLoad = { fields: NativeFields; reason?: undefined } | { fields?: undefined; reason: string };

/** The addon, or why it cannot be used. The only module that loads it. */
export function loadFieldsAddon(): FieldsAddonLoad {
  let addon: Addon;
  try {
    addon = createRequire(import.meta.url)(FIELDS_ADDON_PATH) as Addon;
  } catch (e) {
    if ((e as { code?: string }).code === 'MODULE_NOT_FOUND') return { reason: `the fields addon is not built (expected ${FIELDS_ADDON_PATH}; run \`npm run build:native\`)` };
    return { reason: `the fields addon at ${FIELDS_ADDON_PATH} did not load: ${(e as Error).message.split('\n')[0]}` };
  }
  // Fields of another parser version would never match; a stale build must not run at all.
  const v = addon.parserVersion();
  if (v !== PARSER_VERSION) return { reason: `the fields addon was built for parser version ${v}, expected ${PARSER_VERSION} (run \`npm run build:native\`)` };
  return { fields: { matchFields: addon.matchFields, writeFields: addon.writeFields } };
}

export interface FieldsChoice {
  path: FieldsPath;
  /** Set when the environment asks for something this process cannot do; the CLI refuses to run. */
  refused?: string;
  native?: NativeFields;
}

function wanted(): string {
  return process.env[FIELDS_ENV] || 'auto';
}

function invalidSetting(w: string): string | undefined {
  return w === 'auto' || w === 'native' || w === 'js' ? undefined : `${FIELDS_ENV}: expected auto, native or js, got "${w}"`;
}

function choose(): FieldsChoice {
  const w = wanted();
  const invalid = invalidSetting(w);
  if (invalid) return { path: 'js', refused: invalid };
  if (w === 'js') return { path: 'js' };
  const load = loadFieldsAddon();
  if (load.fields) return { path: 'native', native: load.fields };
  const choice: FieldsChoice = { path: 'js' };
  if (w === 'native') choice.refused = `${FIELDS_ENV}=native, but ${load.reason}`;
  return choice;
}

let chosen: FieldsChoice | undefined;

/** Which path this process (or worker thread) re-derives fields with, chosen on first use. */
export function fieldsChoice(): FieldsChoice {
  return (chosen ??= choose());
}

/**
 * Why this process cannot re-derive fields as IMMUTALOG_FIELDS asks, or undefined when it can.
 * Loads the addon only when the setting requires it: every command checks this at start, and
 * only verify uses the addon.
 */
export function fieldsRefusal(): string | undefined {
  const w = wanted();
  return invalidSetting(w) ?? (w === 'native' ? fieldsChoice().refused : undefined);
}
