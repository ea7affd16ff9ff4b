import { fieldsChoice } from '../parse/index.js';
import type { FieldsVouch } from '../store/log-store.js';

/**
 * The parser's C fields check, when this thread has it (IMMUTALOG_FIELDS): the reader passes each
 * chunk through it, and the entries it vouches for skip the TypeScript re-derivation. Without
 * it, every entry's fields are re-derived in TypeScript. Loaded on first use, so that commands
 * other than verify never load it.
 */
export function fieldsVouch(): FieldsVouch | undefined {
  return fieldsChoice().native?.matchFields;
}
