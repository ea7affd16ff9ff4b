/**
 * Which configuration file a command reads, by oslo.config's convention: every OpenStack command
 * reads /etc/<project>/<project>.conf when it exists and no --config-file is given, so that
 * `immutalog status` on an installed host looks at the service's data, not at ./data.
 */
export const DEFAULT_CONFIG_FILE = '/etc/immutalog/immutalog.conf';

/**
 * Names the file read when no --config is given, instead of DEFAULT_CONFIG_FILE; set but empty:
 * no file (embedded defaults). Tests set it so that a file at /etc/immutalog cannot reach them.
 */
export const CONFIG_FILE_ENV = 'IMMUTALOG_CONFIG';

/** --config, else $IMMUTALOG_CONFIG (which must exist), else DEFAULT_CONFIG_FILE if it exists, else none. */
export function configFileFor(flag: string | undefined, env: Record<string, string | undefined>, exists: (path: string) => boolean): string | undefined {
  if (flag !== undefined) return flag;
  const fromEnv = env[CONFIG_FILE_ENV];
  if (fromEnv !== undefined) return fromEnv === '' ? undefined : fromEnv;
  return exists(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined;
}

/** For --help: where the configuration comes from. */
export const CONFIG_FILE_HELP = `INI configuration file; default ${DEFAULT_CONFIG_FILE} when it exists (or $${CONFIG_FILE_ENV}; empty for none), else the embedded defaults`;
