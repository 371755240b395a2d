// The one small shared state every panel reads and writes. Panels never talk to each other:
// they set keys here and subscribe to the keys they draw.

/**
 * @template S
 * @param {S} initial
 */
export function createStore(initial) {
  let state = { ...initial };
  const subs = new Set();
  return {
    /** @returns {S} */
    get: () => state,
    /** Shallow-merge `patch`; subscribers run only if a value actually changed. */
    set(patch) {
      const prev = state;
      let changed = false;
      for (const k of Object.keys(patch)) if (!Object.is(prev[k], patch[k])) changed = true;
      if (!changed) return;
      state = { ...prev, ...patch };
      for (const fn of [...subs]) fn(state, prev);
    },
    /** @param {(state: S, prev: S) => void} fn  @returns {() => void} unsubscribe */
    subscribe(fn) {
      subs.add(fn);
      return () => subs.delete(fn);
    },
  };
}

/** True when any of `keys` differs between two states. */
export function changed(state, prev, ...keys) {
  return keys.some((k) => !Object.is(state[k], prev[k]));
}
