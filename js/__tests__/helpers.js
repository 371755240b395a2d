// Test helpers: a fake anywidget model and synthetic widget state in the exact form
// Python sends it (typed arrays as {buffer: DataView, dtype, shape}; see lib/types.js).

import { decodeTree, encode } from "../lib/codecs.js";
import { createStore } from "../lib/store.js";
import { createSprite } from "../lib/sprite.js";

/** A deterministic PRNG in [0, 1). */
export function rng(seed = 1) {
  let s = seed >>> 0 || 1;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
}

/** A stand-in for the anywidget model: records sets, saves and sent messages. */
export function fakeModel(initial) {
  const state = { ...initial };
  const listeners = new Map();
  const model = {
    sent: [],
    saves: 0,
    get: (k) => state[k],
    set: (k, v) => {
      state[k] = v;
      for (const cb of listeners.get(`change:${k}`) || []) cb();
    },
    /** Simulate Python changing a trait. */
    pythonSet(k, v) { model.set(k, v); },
    /** Simulate a custom message from Python. */
    pythonSend(msg, buffers = []) { for (const cb of listeners.get("msg:custom") || []) cb(msg, buffers); },
    on: (ev, cb) => { if (!listeners.has(ev)) listeners.set(ev, new Set()); listeners.get(ev).add(cb); },
    off: (ev, cb) => listeners.get(ev)?.delete(cb),
    save_changes: () => { model.saves += 1; },
    send: (msg, cb, buffers) => { model.sent.push({ msg, buffers }); },
    listenerCount: () => [...listeners.values()].reduce((n, s) => n + s.size, 0),
  };
  return model;
}

let uidCount = 0;

const linspace = (a, b, n) => Float32Array.from({ length: n }, (_, i) => a + ((b - a) * i) / (n - 1));

function curve(lo, hi, r) {
  const threshold = linspace(lo, hi, 51);
  const fpr = Float32Array.from(threshold, (_, i) => 1 - i / 50);
  const fnr = Float32Array.from(threshold, (_, i) => Math.min(1, (i / 50) * (0.6 + 0.4 * r())));
  const attack_score = Float32Array.from(threshold, (_, i) => Math.max(0, 1 - fpr[i] - fnr[i]));
  return { threshold, fpr, fnr, attack_score };
}

/**
 * Synthetic state for `runs` (default: original, retrain, ft-1) with `n` probe points of
 * `k` classes, class `forgetClass` forgotten. Every model has coords unless
 * `withCoords` is false.
 */
export function makeState({ n = 200, k = 10, forgetClass = 3, runs = ["original", "retrain", "ft-1"],
  withCoords = true, seed = 1 } = {}) {
  const r = rng(seed);
  const ids = Uint32Array.from({ length: n }, (_, i) => i * 3);
  const labels = Uint8Array.from({ length: n }, (_, i) => i % k);
  const isForget = Uint8Array.from(labels, (c) => (c === forgetClass ? 1 : 0));
  const forgetPos = [...isForget.keys()].filter((i) => isForget[i]);
  const nf = forgetPos.length + 5; // five forget samples that are not embedded
  const forgetIds = Uint32Array.from({ length: nf }, (_, j) => (j < forgetPos.length ? ids[forgetPos[j]] : 10000 + j));
  const probe = {
    ids: encode(ids), labels: encode(labels), is_forget: encode(isForget),
    forget_ids: encode(forgetIds), forget_labels: encode(new Uint8Array(nf).fill(forgetClass)),
    forget_probe_pos: encode(Int32Array.from({ length: nf }, (_, j) => (j < forgetPos.length ? forgetPos[j] : -1))),
  };
  const types = { original: "Original", retrain: "Retrain" };
  const models = {};
  const rows = [];
  runs.forEach((id, m) => {
    const forgot = id !== "original";
    const pred = Uint8Array.from(labels, (c) => (forgot && c === forgetClass ? (c + 1) % k : c));
    const coords = Float32Array.from({ length: 2 * n }, (_, i) => (i % 2 ? labels[i >> 1] * 3 : (labels[i >> 1] % 4) * 3) + r());
    const topc = new Uint8Array(3 * n), topp = new Uint8Array(3 * n);
    for (let i = 0; i < n; i++) {
      topc.set([pred[i], (pred[i] + 1) % k, (pred[i] + 2) % k], 3 * i);
      topp.set([200, 40, 15], 3 * i);
    }
    const acc = Float32Array.from({ length: k }, (_, c) => (forgot && c === forgetClass ? 0.02 * m : 0.97));
    const eye = Float32Array.from({ length: k * k }, (_, i) => (i % (k + 1) === 0 ? 0.95 : 0.05 / (k - 1)));
    const q = (lo, hi) => ({ q: encode(Uint16Array.from({ length: nf }, () => Math.floor(r() * 65535))), lo, step: (hi - lo) / 65535 });
    const cka = (v) => Object.fromEntries(["train_forget", "train_retain", "test_forget", "test_retain"].map(
      (s) => [s, encode(Float32Array.from([1, 0.99, 0.9, v]))]));
    models[id] = {
      ...(withCoords ? { coords: encode(coords, [n, 2]) } : {}),
      pred: encode(pred), top_classes: encode(topc, [n, 3]), top_probs: encode(topp, [n, 3]),
      class_acc: { train: encode(acc), test: encode(acc) },
      pred_matrix: { train: encode(eye, [k, k]), test: encode(eye, [k, k]) },
      conf_matrix: { train: encode(eye, [k, k]), test: encode(eye, [k, k]) },
      cka: { original: cka(id === "original" ? 1 : 0.5), retrain: cka(id === "retrain" ? 1 : 0.6) },
      gaps: { UA: forgot ? 0.01 : 1 },
      trace: id === "ft-1" ? { epoch: [0, 1, 2], UA: [1, 0.5, 0.1], RA: [1, 1, 1], TUA: [1, 0.5, 0.1], TRA: [0.99, 0.98, 0.98], PS: [0.1, 0.5, 0.8], MIA: [0, 0.5, 0.9], AvgGap: [0.5, 0.2, 0.05] } : null,
      ci: { PS: [0.5, 0.7], AUC: [0.4, 0.6], "U-AUC": [0.5, 0.6] },
      roc: {
        heldout: { fpr: encode(linspace(0, 1, 20)), tpr: encode(Float32Array.from(linspace(0, 1, 20), (x) => Math.sqrt(x))), auc: 0.66, tpr_at: { "0.001": 0.02, "0.01": 0.1 } },
        retrain: { fpr: encode(linspace(0, 1, 20)), tpr: encode(linspace(0, 1, 20)), auc: 0.5, tpr_at: { "0.001": 0.001, "0.01": 0.01 } },
      },
      attack: { entropy: q(0, 2.3), confidence: q(-2, 12) },
      curves: {
        entropy: { above_unlearn: mapEnc(curve(0, 2.5, r)), above_retrain: mapEnc(curve(0, 2.5, r)) },
        confidence: { above_unlearn: mapEnc(curve(-2.5, 10, r)), above_retrain: mapEnc(curve(-2.5, 10, r)) },
      },
      worst: { metric: "entropy", direction: "above_unlearn", threshold: 1.25, attack_score: 0.4, fpr: 0.2, fnr: 0.3 },
    };
    rows.push({
      id, type: types[id] || "Unlearned", method: types[id] ? null : id.split("-")[0], base: types[id] ? null : "original",
      epochs: 10, lr: 0.01, batch_size: 128, seed: 0, UA: acc[forgetClass], RA: 0.97, TUA: acc[forgetClass], TRA: 0.96,
      PS: id === "retrain" ? 1 : 0.3 + 0.1 * m, MIA: 0.9, "MIA-Ent": 0.1, "MIA-Loss": 0.55, AUC: 0.6, "U-AUC": 0.55,
      AvgGap: id === "retrain" ? 0 : 0.1, RTE: id === "original" ? null : 1.5 * (m + 1), has_trace: id === "ft-1", best_epoch: null,
    });
  });
  // meta.metrics as mucomp_widget/_payload.meta sends them (evaluation/summary.py METRIC_INFO)
  const metrics = [
    {"key": "UA", "label": "UA", "description": "accuracy on the forget training samples", "direction": "retrain", "family": "accuracy", "unit": "", "target": null, "default": true, "interval": null},
    {"key": "RA", "label": "RA", "description": "accuracy on the retain training samples", "direction": "retrain", "family": "accuracy", "unit": "", "target": null, "default": true, "interval": null},
    {"key": "TUA", "label": "TUA", "description": "test accuracy on the forgotten classes", "direction": "retrain", "family": "accuracy", "unit": "", "target": null, "default": true, "interval": null},
    {"key": "TRA", "label": "TRA", "description": "test accuracy on the retained classes", "direction": "retrain", "family": "accuracy", "unit": "", "target": null, "default": true, "interval": null},
    {"key": "PS", "label": "PS", "description": "privacy score, 1 - worst threshold-attack score against Retrain", "direction": "higher", "family": "privacy", "unit": "", "target": null, "default": true, "interval": {"key": "PS", "kind": "ci"}},
    {"key": "MIA", "label": "MIA", "description": "SalUn/Sparse SVC MIA-efficacy (SalUn's protocol: first |test| retain vs test samples), share of forget samples judged non-member", "direction": "retrain", "family": "privacy", "unit": "", "target": null, "default": true, "interval": {"key": "MIA", "kind": "range"}},
    {"key": "MIA-Ent", "label": "MIA-Ent", "description": "Bad-Teacher/SSD entropy MIA, share of forget samples judged member", "direction": "retrain", "family": "privacy", "unit": "", "target": null, "default": false, "interval": null},
    {"key": "MIA-Loss", "label": "MIA-Loss", "description": "SCRUB/NeurIPS'23 loss-attack CV accuracy, forget vs held-out (0.5 = no signal)", "direction": "retrain", "family": "privacy", "unit": "", "target": null, "default": false, "interval": null},
    {"key": "AUC", "label": "AUC", "description": "ROC AUC of forget (member) vs held-out samples on logit-scaled confidence", "direction": "retrain", "family": "privacy", "unit": "", "target": null, "default": false, "interval": {"key": "AUC", "kind": "ci"}},
    {"key": "U-AUC", "label": "U-AUC", "description": "ROC AUC telling this model from Retrain on the forget samples", "direction": "target", "family": "privacy", "unit": "", "target": 0.5, "default": false, "interval": {"key": "U-AUC", "kind": "ci"}},
    {"key": "AvgGap", "label": "AvgGap", "description": "mean |gap| to Retrain over UA, RA, TRA, MIA", "direction": "lower", "family": "summary", "unit": "", "target": null, "default": true, "interval": null},
    {"key": "RTE", "label": "RTE", "description": "seconds of the unlearning loop (Retrain: its training time)", "direction": "lower", "family": "efficiency", "unit": "s", "target": null, "default": true, "interval": null},
  ];
  return {
    _meta: {
      dataset: "synthetic", class_names: Array.from({ length: k }, (_, c) => `class ${c}`), num_classes: k,
      forget_classes: [forgetClass], classwise: true, forget: `classes(${forgetClass})`, architecture: "small_cnn",
      metrics, methods: [{ name: "ft", label: "Fine-Tuning", defaults: { epochs: 10, lr: 0.01, batch_size: 128 } },
        { name: "ga", label: "Gradient Ascent", defaults: { epochs: 7, lr: 0.0001, batch_size: 256, clip: 100, variant: "paper" },
          constraints: { clip: { type: "float", allowed: "a number > 0", min: 0, max: null, min_open: true },
            variant: { type: "choice", allowed: "one of 'paper', 'reference'", choices: ["paper", "reference"] } } }],
      blocks: ["block1", "block2", "block3", "fc"], cka_sets: ["train_forget", "train_retain", "test_forget", "test_retain"],
      n_probe: n, n_forget: nf, grid: "reference",
    },
    // runs as a page holds them (`_snapshot`, a "runs" message); without it a kernel is asked
    _uid: `test-${++uidCount}`, _snapshot: { order: rows.map((row) => row.id), patch: {}, drop: [],
      put: Object.fromEntries(rows.map((row) => [row.id, { row, data: models[row.id] }])) },
    _probe: probe, _sprite: null, _progress: {}, _error: "", _static: false,
    model_a: runs[0], model_b: runs[1], selection: encode(new Uint32Array(0)), threshold: null,
    metric: "entropy", theme: "light",
  };
}

function mapEnc(c) {
  return Object.fromEntries(Object.entries(c).map(([k, v]) => [k, encode(v)]));
}

/** A store holding `makeState(opts)` decoded, as widget.js builds it, plus `overrides`. */
export function makeStore(opts = {}, overrides = {}) {
  const s = makeState(opts);
  return createStore({
    meta: s._meta, runs: s._snapshot.order.map((id) => s._snapshot.put[id].row), probe: decodeTree(s._probe),
    models: Object.fromEntries(Object.entries(s._snapshot.put).map(([id, e]) => [id, decodeTree(e.data)])),
    sprite: createSprite(null), progress: {}, error: "", isStatic: false,
    modelA: s.model_a, modelB: s.model_b, hovered: null, selection: new Uint32Array(0),
    metric: "entropy", threshold: null, strategy: "custom", highlight: "all", hiddenClasses: [],
    tab: "embedding", split: "train", ckaRef: "retrain", hoveredClass: null, traceRun: null,
    themeSetting: "light", theme: "light", ...overrides,
  });
}

/** A panel context for `mountX(el, ctx)` tests; `ctx.sent` records requests to Python. */
export function makeCtx(store) {
  const sent = [];
  return { store, send: (msg) => sent.push(msg), sent, root: document.body };
}

/** Make `store.subscribe` count live subscriptions; returns a function giving the count. */
export function countSubscriptions(store) {
  let live = 0;
  const subscribe = store.subscribe;
  store.subscribe = (fn) => {
    live += 1;
    const off = subscribe(fn);
    let done = false;
    return () => { if (!done) { done = true; live -= 1; } off(); };
  };
  return () => live;
}

/**
 * Mount `mountFn` on a fresh element attached to the document, with a store from
 * `makeStore(opts, overrides)` whose subscriptions are counted.
 * @returns {{store, ctx, el, cleanup: () => void, live: () => number}}
 */
export function mountForTest(mountFn, opts = {}, overrides = {}) {
  const store = makeStore(opts, overrides);
  const live = countSubscriptions(store);
  const ctx = makeCtx(store);
  const el = document.createElement("section");
  document.body.append(el);
  const cleanup = mountFn(el, ctx);
  return { store, ctx, el, cleanup, live };
}

/** Replace ResizeObserver with a recorder (undo with vi.unstubAllGlobals); returns the instances. */
export function stubResizeObserver(vi) {
  const observers = [];
  vi.stubGlobal("ResizeObserver", class {
    constructor() { observers.push(this); }
    observe() {}
    disconnect() { this.disconnected = true; }
  });
  return observers;
}
