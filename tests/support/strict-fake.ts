import { CfsError } from "#lib/errors.js";

/**
 * A port where only the given methods exist: any other call throws, so a
 * unit test fails loudly when the code under test reaches further than the
 * test says it should.
 */
export function strictFake<T extends object>(impl: Partial<T>): T {
  return new Proxy(impl, {
    get: (target, key) =>
      target[key as keyof T] ??
      (() => {
        throw new Error(`unexpected call ${String(key)}`);
      }),
  }) as T;
}

/** The domain error a promise rejects with (the test fails if it resolves or rejects with anything else). */
export async function failure(promise: Promise<unknown>): Promise<CfsError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof CfsError)) throw new Error(`expected a CfsError, got ${String(err)}`, { cause: err });
  return err;
}
