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

/**
 * True when the data of a shown model changed: its id (`modelA`/`modelB` or the given ids)
 * or its entry in `models`. Runs arrive one at a time, so a panel that shows A and B need
 * not redraw when another run's data lands.
 * @param {string[]} [ids] run ids the panel shows (default: Model A and Model B)
 */
export function modelsChanged(state, prev, ids) {
  if (!ids && changed(state, prev, "modelA", "modelB")) return true;
  const shown = ids || [state.modelA, state.modelB];
  if (state.models === prev.models) return false;
  return shown.some((id) => state.models?.[id] !== prev.models?.[id]);
}
