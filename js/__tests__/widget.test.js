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
