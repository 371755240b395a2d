// Entry of the Comparator's front end: one widget, every linked view.
// Python traits -> one shared store -> panels; panels -> store -> traits and requests.

import { decode, decodeTree, encode } from "./lib/codecs.js";
import { h, showError } from "./lib/dom.js";
import { createSprite } from "./lib/sprite.js";
import { createStore } from "./lib/store.js";
import { putBuffers, runCacheFor } from "./lib/runs.js";
import { detectTheme, watchTheme } from "./lib/theme.js";
import { snapshot } from "./lib/snapshot.js";
import { mountTable } from "./panels/table.js";
import { mountBuilder } from "./panels/builder.js";
import { mountEmbedding } from "./panels/embedding.js";
import { mountAttack } from "./panels/attack.js";
import { mountAudit } from "./panels/audit.js";
import { mountClasswise } from "./panels/classwise.js";
import { mountMatrix } from "./panels/matrix.js";
import { mountCka } from "./panels/cka.js";

const TABS = [
  ["embedding", "Embedding Space", mountEmbedding],
  ["attack", "Attack Simulation", mountAttack],
  ["audit", "Privacy Audit (ROC)", mountAudit],
];

function selectionOf(value) {
  if (!value) return new Uint32Array(0);
  const arr = decode(value);
  return arr instanceof Uint32Array ? arr : Uint32Array.from(arr);
}

/** Everything Python sends as traits, decoded, as store keys (runs come from the run cache). */
function dataFrom(model) {
  return {
    meta: model.get("_meta") || {},
    probe: decodeTree(model.get("_probe") || {}),
    progress: model.get("_progress") || {},
    error: model.get("_error") || "",
    isStatic: Boolean(model.get("_static")),
  };
}

/**
 * The widget model's run cache, listening for "runs" messages. Once per model (from
 * `initialize`, or from the first `render` where a host does not call it): a page's runs
 * are in its `_snapshot`; a kernel is asked for them with "hello" (again after a reload,
 * when the browser holds nothing).
 */
function connectRuns(model) {
  const cache = runCacheFor(model.get("_uid") || "page");
  if (cache.connected) return cache;
  cache.connected = true;
  const snapshot = model.get("_snapshot");
  if (snapshot) {
    cache.apply(snapshot);
    return cache;
  }
  model.on("msg:custom", (msg, buffers) => {
    if (msg?.type === "runs") cache.apply(putBuffers(msg, msg.buffer_paths, buffers));
  });
  model.send({ type: "hello" });
  return cache;
}

/** Mount a panel into a labelled section; a failure shows a message, not a blank box. */
function mountPanel(el, mount, ctx) {
  try {
    const cleanup = mount(el, ctx);
    return typeof cleanup === "function" ? cleanup : () => {};
  } catch (err) {
    console.error("mucomp_widget:", err);
    showError(el, err);
    return () => {};
  }
}

function render({ model, el }) {
  const root = h("div", { class: "mucomp", "data-theme": "light" });
  el.replaceChildren(root);
  const themeSetting = model.get("theme") || "auto";
  const runCache = connectRuns(model);
  const store = createStore({
    ...dataFrom(model),
    ...runCache.get(),
    sprite: createSprite(model.get("_sprite")),
    modelA: model.get("model_a"),
    modelB: model.get("model_b"),
    hovered: null,
    selection: selectionOf(model.get("selection")),
    metric: model.get("metric") || "entropy",
    threshold: model.get("threshold") ?? null,
    strategy: "custom",
    highlight: "all",
    hiddenClasses: [],
    tab: "embedding",
    split: "train",
    ckaRef: "retrain",
    hoveredClass: null,
    traceRun: null,
    themeSetting,
    theme: detectTheme(themeSetting, el),
  });
  root.__mucompStore = store; // for tests and debugging in the browser console
  const ctx = {
    store,
    send: (msg, buffers) => { if (!store.get().isStatic) model.send(msg, undefined, buffers); },
    root,
  };

  // ---- Python -> store
  const fromPython = {
    "change:_meta": () => store.set({ meta: model.get("_meta") || {} }),
    "change:_probe": () => store.set({ probe: decodeTree(model.get("_probe") || {}) }),
    "change:_progress": () => store.set({ progress: model.get("_progress") || {} }),
    "change:_error": () => store.set({ error: model.get("_error") || "" }),
    "change:_sprite": () => store.set({ sprite: createSprite(model.get("_sprite")) }),
    "change:model_a": () => store.set({ modelA: model.get("model_a") }),
    "change:model_b": () => store.set({ modelB: model.get("model_b") }),
    "change:selection": () => store.set({ selection: selectionOf(model.get("selection")) }),
    "change:metric": () => store.set({ metric: model.get("metric") }),
    "change:threshold": () => store.set({ threshold: model.get("threshold") ?? null }),
    "change:theme": () => {
      const setting = model.get("theme");
      store.set({ themeSetting: setting, theme: detectTheme(setting, el) });
    },
  };
  for (const [ev, fn] of Object.entries(fromPython)) model.on(ev, fn);
  const unRuns = runCache.subscribe((data) => store.set(data));

  // ---- store -> Python (selection debounced: it is sent once a lasso ends)
  let selTimer = null;
  const unsync = store.subscribe((s, prev) => {
    const writes = [];
    if (s.modelA !== prev.modelA && s.modelA !== model.get("model_a")) writes.push(["model_a", s.modelA]);
    if (s.modelB !== prev.modelB && s.modelB !== model.get("model_b")) writes.push(["model_b", s.modelB]);
    if (s.metric !== prev.metric && s.metric !== model.get("metric")) writes.push(["metric", s.metric]);
    if (s.threshold !== prev.threshold && s.threshold !== (model.get("threshold") ?? null)) {
      writes.push(["threshold", s.threshold]);
    }
    for (const [k, v] of writes) model.set(k, v);
    if (writes.length) model.save_changes();
    if (s.selection !== prev.selection) {
      clearTimeout(selTimer);
      selTimer = setTimeout(() => {
        model.set("selection", encode(store.get().selection));
        model.save_changes();
      }, 150);
    }
    if (s.theme !== prev.theme) root.setAttribute("data-theme", s.theme);
  });
  root.setAttribute("data-theme", store.get().theme);
  const unwatch = watchTheme(() => store.set({ theme: detectTheme(store.get().themeSetting, el) }));

  // ---- layout
  const header = h("div", { class: "mucomp-header" });
  const errorBar = h("div", { class: "mucomp-error", role: "alert", hidden: true });
  const left = h("div", { class: "mucomp-left" });
  const center = h("div", { class: "mucomp-center" });
  const right = h("div", { class: "mucomp-right" });
  root.append(header, errorBar, h("div", { class: "mucomp-main" }, left, center, right));

  function drawHeader() {
    const { meta } = store.get();
    header.replaceChildren(
      h("span", { class: "mucomp-title" }, "Machine Unlearning Comparator"),
      h("span", { class: "mucomp-info" },
        `${meta.dataset ?? ""} · ${meta.architecture ?? ""} · forget ${meta.forget ?? ""}`),
    );
  }
  function drawError() {
    const { error } = store.get();
    errorBar.hidden = !error;
    errorBar.textContent = error;
  }
  drawHeader();
  drawError();
  const unHeader = store.subscribe((s, prev) => {
    if (s.meta !== prev.meta) drawHeader();
    if (s.error !== prev.error) drawError();
  });

  const cleanups = [unsync, unwatch, unHeader, unRuns];
  const tableEl = h("section", { class: "mucomp-panel", "aria-label": "Models" });
  const builderEl = h("section", { class: "mucomp-panel", "aria-label": "Model builder" });
  left.append(tableEl, builderEl);
  cleanups.push(mountPanel(tableEl, mountTable, ctx), mountPanel(builderEl, mountBuilder, ctx));

  const tabBar = h("div", { class: "mucomp-tabs", role: "tablist" });
  const tabBody = h("div", { class: "mucomp-tabbody" });
  center.append(tabBar, tabBody);
  const mounted = new Map();
  function showTab() {
    const { tab } = store.get();
    tabBar.replaceChildren(...TABS.map(([key, label]) => h("button", {
      class: `mucomp-tab${key === tab ? " mucomp-active" : ""}`, role: "tab",
      "aria-selected": String(key === tab), onclick: () => store.set({ tab: key }),
    }, label)));
    for (const [key, , mount] of TABS) {
      if (key === tab && !mounted.has(key)) {
        const sec = h("section", { class: "mucomp-panel mucomp-tabpanel", "aria-label": key });
        tabBody.append(sec);
        mounted.set(key, { sec, cleanup: mountPanel(sec, mount, ctx) });
      }
      if (mounted.has(key)) mounted.get(key).sec.hidden = key !== tab;
    }
  }
  showTab();
  cleanups.push(store.subscribe((s, prev) => { if (s.tab !== prev.tab) showTab(); }));

  for (const [label, mount] of [["Class-wise accuracy", mountClasswise], ["Prediction matrix", mountMatrix],
    ["Layer-wise similarity", mountCka]]) {
    const sec = h("section", { class: "mucomp-panel", "aria-label": label });
    right.append(sec);
    cleanups.push(mountPanel(sec, mount, ctx));
  }

  // ---- requests from Python
  const onMsg = async (msg) => {
    if (msg?.type !== "snapshot") return;
    try {
      const blob = await snapshot(root);
      model.send({ type: "png", request: msg.request }, undefined, [await blob.arrayBuffer()]);
    } catch (err) {
      model.send({ type: "png", request: msg.request, error: String(err?.message || err) });
    }
  };
  model.on("msg:custom", onMsg);

  return () => {
    for (const fn of cleanups) fn();
    for (const { cleanup } of mounted.values()) cleanup();
    for (const [ev, fn] of Object.entries(fromPython)) model.off(ev, fn);
    model.off("msg:custom", onMsg);
    clearTimeout(selTimer);
  };
}

export default {
  initialize({ model }) {
    const cache = connectRuns(model);
    return () => { cache.connected = false; }; // anywidget removes the listener (a re-bind)
  },
  render,
};
