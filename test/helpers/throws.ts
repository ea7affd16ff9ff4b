/**
 * The `code` of what `f` throws (undefined for an error without one), or 'did not throw': one
 * value that an expectation can compare, so that a refusal is checked by its reason and not
 * only by having thrown.
 */
export function codeOf(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return (e as { code?: unknown }).code;
  }
  return 'did not throw';
}

/**
 * What `f` throws, which must be an instance of `cls` (anything else is rethrown, and nothing
 * thrown is a failure), so that a test can go on to check its fields.
 */
export function thrownAs<E extends Error>(cls: new (...args: never[]) => E, f: () => unknown): E {
  try {
    f();
  } catch (e) {
    if (e instanceof cls) return e;
    throw e;
  }
  throw new Error(`expected a ${cls.name}, nothing was thrown`);
}
