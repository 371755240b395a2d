// The runs a widget holds in the browser: table rows and per-run arrays, filled by "runs"
// messages from Python (mucomp_widget/widget.py `runs_message`). Each run travels once; a
// message replaces (`put`), extends (`patch`: a layout) or removes (`drop`) single runs, so
// only the changed runs get new objects and panels that show other runs need not redraw.
//
// One cache per widget model, shared by all views of it (keyed by the model's `_uid`), so a
// second view of the same widget starts with everything the first one received.

import { decodeTree } from "./codecs.js";

const caches = new Map();

/** Put binary buffers back at their paths in a message's JSON (as ipywidgets does for state). */
export function putBuffers(content, paths = [], buffers = []) {
  paths.forEach((path, i) => {
    let obj = content;
    for (const key of path.slice(0, -1)) obj = obj[key];
    const b = buffers[i];
    obj[path[path.length - 1]] = b instanceof DataView ? b : new DataView(b.buffer ?? b, b.byteOffset ?? 0, b.byteLength);
  });
  return content;
}

export function createRunCache() {
  let order = [];
  let rowsById = new Map();
  let models = {};
  let runs = [];
  const subs = new Set();
  const rebuildRuns = () => { runs = order.map((id) => rowsById.get(id)).filter(Boolean); };
  return {
    /** @returns {{runs: object[], models: Object<string, object>}} */
    get: () => ({ runs, models }),
    /** Apply one "runs" message (buffers already in place); tells subscribers if anything changed. */
    apply(msg) {
      const put = msg.put || {};
      const patch = msg.patch || {};
      const drop = msg.drop || [];
      // no order: the one held, less the dropped runs, then the appended ones
      const nextOrder = Array.isArray(msg.order) ? msg.order
        : [...order.filter((id) => !drop.includes(id)), ...(msg.append || [])];
      const sameOrder = nextOrder.length === order.length && nextOrder.every((id, i) => id === order[i]);
      if (!Object.keys(put).length && !Object.keys(patch).length && !drop.length && sameOrder) return;
      const nextModels = { ...models };
      let rowsChanged = !sameOrder || drop.length > 0;
      for (const id of drop) { delete nextModels[id]; rowsById.delete(id); }
      for (const [id, entry] of Object.entries(put)) {
        nextModels[id] = decodeTree(entry.data);
        rowsById.set(id, entry.row);
        rowsChanged = true;
      }
      for (const [id, extra] of Object.entries(patch)) {
        if (nextModels[id]) nextModels[id] = { ...nextModels[id], ...decodeTree(extra) };
      }
      order = nextOrder.slice();
      models = nextModels;
      if (rowsChanged) rebuildRuns();
      for (const fn of [...subs]) fn({ runs, models });
    },
    /** @param {(data: {runs: object[], models: object}) => void} fn @returns {() => void} */
    subscribe(fn) {
      subs.add(fn);
      return () => subs.delete(fn);
    },
  };
}

/** The cache of the widget whose `_uid` is `uid` (made on first use). */
export function runCacheFor(uid) {
  if (!caches.has(uid)) caches.set(uid, createRunCache());
  return caches.get(uid);
}
