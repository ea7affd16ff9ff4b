import { afterAll, beforeAll } from 'vitest';

/** Sets an environment variable for the enclosing describe block's tests, restoring it after. */
export function useEnv(name: string, value: string): void {
  const saved = process.env[name];
  beforeAll(() => {
    process.env[name] = value;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  });
}
