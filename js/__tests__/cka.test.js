import { afterEach, describe, expect, it, vi } from "vitest";
import { mountCka, ckaSeries, SERIES } from "../panels/cka.js";
import { EMERALD, PURPLE } from "../lib/colors.js";
import { mountForTest, stubResizeObserver } from "./helpers.js";

function mount(opts, overrides) {
  return mountForTest(mountCka, opts, overrides);
}

/** Replace models[id].cka[ref][set] with `values`. */
function setCka(store, id, ref, set, values) {
  const { models } = store.get();
  const m = models[id];
  store.set({ models: { ...models, [id]: { ...m, cka: { ...m.cka, [ref]: { ...m.cka[ref], [set]: Float32Array.from(values) } } } } });
}

const seriesOf = (el, key) => el.querySelector(`.mucomp-cka-series[data-series="${key}"]`);
const markers = (el, key) => [...seriesOf(el, key).querySelectorAll(".mucomp-cka-marker")];
const translate = (m) => m.getAttribute("transform").match(/translate\(([-\d.]+),([-\d.]+)\)/).slice(1).map(Number);
const button = (el, label) => el.querySelector(`button[aria-label="${label}"]`);

/** y pixel of CKA value v, from the y axis tick labels "0.0" and "1.0". */
function yOf(el, v) {
  const ticks = [...el.querySelectorAll(".mucomp-cka-axis text")].filter((t) => t.getAttribute("y") !== null);
  const y0 = Number(ticks.find((t) => t.textContent === "0.0").getAttribute("y"));
  const y1 = Number(ticks.find((t) => t.textContent === "1.0").getAttribute("y"));
  return y0 + (y1 - y0) * v;
}

afterEach(() => { document.body.replaceChildren(); });

describe("layer-wise similarity panel", () => {
  it("draws four series with the reference styles", () => {
    const { el, cleanup } = mount();
    expect(el.querySelectorAll(".mucomp-cka-series")).toHaveLength(4);
    const style = (key) => {
      const path = seriesOf(el, key).querySelector(".mucomp-cka-line");
      return { stroke: path.getAttribute("stroke"), dash: path.getAttribute("stroke-dasharray"), marker: markers(el, key)[0].tagName };
    };
    expect(style("A-forget")).toEqual({ stroke: EMERALD, dash: "5 3", marker: "path" });
    expect(style("A-retain")).toEqual({ stroke: EMERALD, dash: null, marker: "circle" });
    expect(style("B-forget")).toEqual({ stroke: PURPLE, dash: "5 3", marker: "path" });
    expect(style("B-retain")).toEqual({ stroke: PURPLE, dash: null, marker: "circle" });
    expect(markers(el, "A-forget")[0].getAttribute("d")).toBe("M-3,-3L3,3M-3,3L3,-3"); // ×
    for (const { key } of SERIES) expect(markers(el, key)).toHaveLength(4);
    const legend = el.querySelector(".mucomp-cka-legend").textContent;
    expect(legend).toContain("A forget");
    expect(legend).toContain("B retain");
    expect([...el.querySelectorAll(".mucomp-cka-axis [data-tick]")].map((t) => t.textContent)).toContain("block3");
    expect(el.querySelector(".mucomp-cka-caption").textContent).toMatch(/linear CKA \(debiased estimator\).*1 = identical/i);
    const svg = el.querySelector(".mucomp-cka-svg");
    expect(svg.getAttribute("role")).toBe("img");
    expect(svg.getAttribute("aria-label")).toContain("A forget 0.600");
    cleanup();
  });

  it("plots the values of the chosen reference; the tabs switch store.ckaRef", () => {
    const { el, store, cleanup } = mount();
    // retrain reference: A = original → 0.6 at the last layer, B = retrain → 1
    expect(translate(markers(el, "A-retain")[3])[1]).toBeCloseTo(yOf(el, 0.6));
    expect(translate(markers(el, "B-retain")[3])[1]).toBeCloseTo(yOf(el, 1));
    expect(button(el, "Compare against: Retrain").getAttribute("aria-pressed")).toBe("true");
    button(el, "Compare against: Original").click();
    expect(store.get().ckaRef).toBe("original");
    expect(button(el, "Compare against: Original").getAttribute("aria-pressed")).toBe("true");
    expect(translate(markers(el, "A-retain")[3])[1]).toBeCloseTo(yOf(el, 1));
    expect(translate(markers(el, "B-retain")[3])[1]).toBeCloseTo(yOf(el, 0.5));
    expect(el.querySelector(".mucomp-cka-caption").textContent).toContain("vs the Original model");
    cleanup();
  });

  it("skips NaN with a gap, not a zero", () => {
    const { el, store, cleanup } = mount();
    setCka(store, "original", "retrain", "train_forget", [0.9, NaN, 0.7, 0.6]);
    const path = seriesOf(el, "A-forget").querySelector(".mucomp-cka-line").getAttribute("d");
    expect(path.match(/M/g)).toHaveLength(2); // two pieces
    const pts = markers(el, "A-forget");
    expect(pts.map((m) => m.getAttribute("data-i"))).toEqual(["0", "2", "3"]);
    expect(pts.every((m) => translate(m)[1] < yOf(el, 0.1))).toBe(true);
    cleanup();
  });

  it("marks a series with no values (e.g. no forget test samples) as n/a", () => {
    const { el, store, cleanup } = mount();
    setCka(store, "original", "retrain", "train_forget", [NaN, NaN, NaN, NaN]);
    expect(seriesOf(el, "A-forget").querySelector(".mucomp-cka-line")).toBeNull();
    expect(markers(el, "A-forget")).toHaveLength(0);
    expect(el.querySelector(".mucomp-cka-legend").textContent).toContain("A forget (n/a)");
    cleanup();
  });

  it("the Train/Test switch changes the sets plotted", () => {
    const { el, store, cleanup } = mount();
    setCka(store, "retrain", "retrain", "test_retain", [0.2, 0.3, 0.4, 0.5]);
    expect(translate(markers(el, "B-retain")[0])[1]).toBeCloseTo(yOf(el, 1));
    button(el, "Data split: Test").click();
    expect(button(el, "Data split: Test").getAttribute("aria-pressed")).toBe("true");
    expect(translate(markers(el, "B-retain")[0])[1]).toBeCloseTo(yOf(el, 0.2));
    expect(store.get().split).toBe("train"); // local: the matrix's split is untouched
    expect(ckaSeries(store.get(), "test", "retrain")[3].values[0]).toBeCloseTo(0.2);
    cleanup();
  });

  it("hovering lists the four values at a layer and bolds its tick", () => {
    const { el, cleanup } = mount();
    const [x2] = translate(markers(el, "A-retain")[2]);
    const overlay = el.querySelector(".mucomp-cka-overlay");
    overlay.dispatchEvent(new MouseEvent("mousemove", { clientX: x2 + 3, clientY: 50 }));
    const tip = el.querySelector(".mucomp-cka-tip");
    expect(tip.hidden).toBe(false);
    expect(tip.querySelector(".mucomp-tip-title").textContent).toBe("block3");
    expect(tip.querySelectorAll(".mucomp-cka-tip-row")).toHaveLength(4);
    expect(tip.textContent).toContain("A forget (original): 0.900");
    expect(tip.textContent).toContain("B retain (retrain): 0.900");
    const bold = [...el.querySelectorAll(".mucomp-cka-axis text.mucomp-cka-on")];
    expect(bold.map((t) => t.textContent)).toEqual(["block3"]);
    expect(el.querySelector(".mucomp-cka-guide").getAttribute("visibility")).toBe("visible");
    overlay.dispatchEvent(new MouseEvent("mouseleave"));
    expect(tip.hidden).toBe(true);
    expect(el.querySelectorAll(".mucomp-cka-axis text.mucomp-cka-on")).toHaveLength(0);
    cleanup();
  });

  it("thins rotated layer labels for deep models but still bolds the hovered layer's", () => {
    const { el, store, cleanup } = mount();
    const blocks = Array.from({ length: 40 }, (_, i) => `encoder.layer.${i}`);
    const { models, meta } = store.get();
    const deep = Object.fromEntries(Object.entries(models).map(([id, m]) => [id, { ...m, cka: { retrain: Object.fromEntries(
      ["train_forget", "train_retain", "test_forget", "test_retain"].map((set) => [set, Float32Array.from(blocks, (_, i) => 1 - i / 80)])) } }]));
    store.set({ meta: { ...meta, blocks }, models: deep });
    const ticks = [...el.querySelectorAll(".mucomp-cka-axis text[data-layer]")];
    expect(ticks.length).toBeLessThan(40);
    expect(ticks[0].getAttribute("transform")).toContain("rotate(-40)");
    const shown = Number(ticks[1].getAttribute("data-layer"));
    const [x] = translate(markers(el, "A-retain")[shown]);
    el.querySelector(".mucomp-cka-overlay").dispatchEvent(new MouseEvent("mousemove", { clientX: x, clientY: 50 }));
    expect(el.querySelector(".mucomp-cka-axis text.mucomp-cka-on")).toBe(ticks[1]);
    expect(el.querySelector(".mucomp-tip-title").textContent).toBe(blocks[shown]);
    cleanup();
  });

  it("redraws when a shown model's data arrives, not when another run's does", () => {
    const { el, store, cleanup } = mount();
    const svg = el.querySelector(".mucomp-cka-svg");
    const { models } = store.get();
    store.set({ models: { ...models, "ft-1": { ...models["ft-1"] } } });
    expect(el.querySelector(".mucomp-cka-svg")).toBe(svg);
    setCka(store, "original", "retrain", "train_retain", [1, 0.9, 0.8, 0.3]);
    expect(el.querySelector(".mucomp-cka-svg")).not.toBe(svg);
    expect(translate(markers(el, "A-retain")[3])[1]).toBeCloseTo(yOf(el, 0.3));
    cleanup();
  });

  it("shows a message when the CKA or a model is missing", () => {
    const { el, store, cleanup } = mount();
    const { models } = store.get();
    const strip = (m) => ({ ...m, cka: { original: m.cka.original } });
    store.set({ models: { ...models, original: strip(models.original), retrain: strip(models.retrain) } });
    expect(el.querySelector(".mucomp-cka-empty").textContent).toBe("No CKA against Retrain for Model A (original) or Model B (retrain) yet.");
    button(el, "Compare against: Original").click();
    expect(el.querySelectorAll(".mucomp-cka-series")).toHaveLength(4);
    store.set({ modelB: "ghost" }); // only A has data: A's lines still drawn
    expect(el.querySelectorAll(".mucomp-cka-series")).toHaveLength(2);
    expect(el.querySelector(".mucomp-cka-legend").textContent).toContain("B retain (n/a)");
    store.set({ modelA: null });
    expect(el.textContent).toContain("Select both model A and model B.");
    cleanup();
  });

  it("cleanup removes its subscription, observer and DOM", () => {
    const observers = stubResizeObserver(vi);
    const { el, store, cleanup, live } = mount();
    expect(live()).toBe(1);
    cleanup();
    vi.unstubAllGlobals();
    expect(live()).toBe(0);
    expect(observers[0].disconnected).toBe(true);
    expect(el.childElementCount).toBe(0);
    store.set({ ckaRef: "original" });
    expect(el.childElementCount).toBe(0);
  });
});
