/**
 * The named keys of `from` that are set: for options objects under `exactOptionalPropertyTypes`,
 * where a key present with `undefined` is not the same as a key left out.
 */
export function definedKeys<T extends object, K extends keyof T>(
  from: T,
  ...keys: K[]
): { [P in K]?: Exclude<T[P], undefined> } {
  return Object.fromEntries(keys.filter((k) => from[k] !== undefined).map((k) => [k, from[k]])) as {
    [P in K]?: Exclude<T[P], undefined>;
  };
}
