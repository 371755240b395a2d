import { describe, expect, it, vi } from "vitest";
import widget from "../widget.js";
import { decode } from "../lib/codecs.js";
import { fakeModel, makeState } from "./helpers.js";

function mount(overrides = {}) {
  const model = fakeModel({ ...makeState(), ...overrides });
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = widget.render({ model, el });
  return { model, el, cleanup };
}

describe("widget entry", () => {
  it("renders every panel under one root class", () => {
    const { el, cleanup } = mount();
    const root = el.querySelector(".mucomp");
    expect(root).not.toBeNull();
    expect(root.querySelectorAll(".mucomp-panel").length).toBeGreaterThanOrEqual(6);
    expect(el.textContent).toContain("synthetic");
    cleanup();
  });

  it("syncs model A/B, metric, threshold and the selection back to Python", () => {
    vi.useFakeTimers();
    const { model, el, cleanup } = mount();
    const store = el.querySelector(".mucomp").__mucompStore;
    model.pythonSet("model_b", "ft-1");
    expect(store.get().modelB).toBe("ft-1");
    const saves = model.saves;
    store.set({ modelA: "retrain", metric: "confidence", threshold: 2.5 });
    expect(model.get("model_a")).toBe("retrain");
    expect(model.get("metric")).toBe("confidence");
    expect(model.get("threshold")).toBe(2.5);
    expect(model.saves).toBe(saves + 1);
    store.set({ selection: Uint32Array.from([3, 9, 12]) });
    expect(Array.from(decode(model.get("selection")))).toEqual([]); // debounced
    vi.advanceTimersByTime(200);
    expect(Array.from(decode(model.get("selection")))).toEqual([3, 9, 12]);
    cleanup();
    vi.useRealTimers();
  });

  it("shows Python's error message visibly", () => {
    const { model, el, cleanup } = mount();
    model.pythonSet("_error", "method 'x' raised ValueError: boom");
    const alert = el.querySelector(".mucomp-error[role=alert]");
    expect(alert.hidden).toBe(false);
    expect(alert.textContent).toContain("boom");
    cleanup();
  });

  it("switches tabs with real buttons", () => {
    const { el, cleanup } = mount();
    const tabs = [...el.querySelectorAll(".mucomp-tab")];
    expect(tabs.map((t) => t.textContent)).toEqual(["Embedding Space", "Attack Simulation", "Privacy Audit (ROC)"]);
    tabs[1].click();
    const panel = el.querySelector(".mucomp-tabpanel[aria-label=attack]");
    expect(panel).not.toBeNull();
    expect(panel.hidden).toBe(false);
    expect(el.querySelector(".mucomp-tabpanel[aria-label=embedding]").hidden).toBe(true);
    cleanup();
  });

  it("follows the theme trait", () => {
    const { model, el, cleanup } = mount();
    model.pythonSet("theme", "dark");
    expect(el.querySelector(".mucomp").getAttribute("data-theme")).toBe("dark");
    cleanup();
  });

  it("removes its listeners on cleanup", () => {
    const { model, cleanup } = mount();
    expect(model.listenerCount()).toBeGreaterThan(0);
    cleanup();
    expect(model.listenerCount()).toBe(0);
  });

  it("decodes the selection Python sets", () => {
    const { model, cleanup } = mount();
    const sel = { buffer: new DataView(Uint32Array.from([3, 6]).buffer), dtype: "uint32", shape: [2] };
    model.pythonSet("selection", sel);
    expect(Array.from(decode(model.get("selection")))).toEqual([3, 6]);
    cleanup();
  });
});

/** A kernel's widget: no snapshot, runs arrive as "runs" messages with binary buffers. */
function kernelModel() {
  const state = makeState();
  const { _snapshot: snap, ...traits } = state;
  return { model: fakeModel(traits), snap };
}

/** A "runs" message as Python sends it: arrays out of the JSON, listed in buffer_paths. */
function runsMessage(content) {
  const buffers = [];
  const paths = [];
  const walk = (v, path) => {
    if (v && typeof v === "object" && "buffer" in v && "dtype" in v && "shape" in v) {
      paths.push([...path, "buffer"]);
      buffers.push(v.buffer);
      return { dtype: v.dtype, shape: v.shape };
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]));
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, [...path, k])]));
    return v;
  };
  const msg = walk({ type: "runs", order: null, append: [], patch: {}, drop: [], put: {}, ...content }, []);
  return [{ ...msg, buffer_paths: paths }, buffers];
}

describe("runs from a kernel", () => {
  it("asks for the runs once per model and fills the store from messages", () => {
    const { model, snap } = kernelModel();
    widget.initialize({ model });
    const el = document.createElement("div");
    const cleanup = widget.render({ model, el });
    expect(model.sent.filter((s) => s.msg.type === "hello")).toHaveLength(1);
    const store = el.querySelector(".mucomp").__mucompStore;
    expect(store.get().runs).toEqual([]);
    model.pythonSend(...runsMessage({ order: snap.order, put: snap.put }));
    expect(store.get().runs.map((r) => r.id)).toEqual(["original", "retrain", "ft-1"]);
    expect(store.get().models["ft-1"].pred).toBeInstanceOf(Uint8Array);
    cleanup();
  });

  it("replaces only the runs a message names, so other runs keep their objects", () => {
    const { model, snap } = kernelModel();
    const el = document.createElement("div");
    const cleanup = widget.render({ model, el });
    const store = el.querySelector(".mucomp").__mucompStore;
    model.pythonSend(...runsMessage({ order: snap.order, put: snap.put }));
    const before = store.get();
    const { coords, ...noCoords } = snap.put["ft-1"].data;
    const order = [...snap.order, "ga-1"];
    // a new run: no order, just appended (as Python sends it)
    model.pythonSend(...runsMessage({ append: ["ga-1"], put: { "ga-1": { row: { ...snap.put["ft-1"].row, id: "ga-1" }, data: noCoords } } }));
    let s = store.get();
    expect(s.runs.map((r) => r.id)).toEqual(order);
    expect(s.models.original).toBe(before.models.original);
    expect(s.models["ft-1"]).toBe(before.models["ft-1"]);
    expect(s.models["ga-1"].coords).toBeUndefined();
    model.pythonSend(...runsMessage({ patch: { "ga-1": { coords, disparity: 0.1 } } }));
    s = store.get();
    expect(s.models["ga-1"].coords.length).toBe(coords.shape[0] * 2);
    expect(s.models["ga-1"].pred).toBeInstanceOf(Uint8Array); // a patch keeps the rest
    expect(s.runs).toBe(store.get().runs);
    model.pythonSend(...runsMessage({ drop: ["ga-1"] }));
    expect(store.get().runs.map((r) => r.id)).toEqual(snap.order);
    expect(store.get().models["ga-1"]).toBeUndefined();
    model.pythonSend(...runsMessage({ order: ["retrain", "original", "ft-1"] })); // a new order alone
    expect(store.get().runs.map((r) => r.id)).toEqual(["retrain", "original", "ft-1"]);
    cleanup();
  });

  it("a second view of the same widget starts with the runs the first received", () => {
    const { model, snap } = kernelModel();
    widget.initialize({ model });
    model.pythonSend(...runsMessage({ order: snap.order, put: snap.put }));
    const el = document.createElement("div");
    const cleanup = widget.render({ model, el });
    expect(el.querySelector(".mucomp").__mucompStore.get().runs).toHaveLength(3);
    expect(model.sent.filter((s) => s.msg.type === "hello")).toHaveLength(1);
    cleanup();
  });
});
