import { existsSync } from 'node:fs';
import { Option } from './program.js';
import { CONFIG_FILE_HELP, configFileFor } from '../config/config-file.js';
import { loadServeConfig } from '../config/load.js';
import { CannotRun } from './cannot-run.js';
import { parseTimeArg } from './time-arg.js';

/** --config, else the default configuration file (see configFileFor). */
export function configFile(o: { config?: string }): string | undefined {
  return configFileFor(o.config, process.env, existsSync);
}

/** The data directory: --data-dir, else the config file's data_dir, else the embedded default. */
export function dataDirOf(o: { dataDir?: string; config?: string }): string {
  if (o.dataDir) return o.dataDir;
  const file = configFile(o);
  return loadServeConfig({ ...(file !== undefined ? { file } : {}) }).dataDir;
}

/** Every command that reads a log finds it the same way (see dataDirOf). */
export const DATA_DIR_OPTION = (): Option => new Option('--data-dir <dir>', 'data directory of the log (default: data_dir of the configuration file)');
export const CONFIG_OPTION = (): Option => new Option('--config <file>', CONFIG_FILE_HELP);

/** A --since/--until value in microseconds; `name` is the option the message names. */
export function timeOpt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  try {
    return parseTimeArg(v);
  } catch (e) {
    throw new CannotRun(`${name}: ${(e as Error).message}`);
  }
}
