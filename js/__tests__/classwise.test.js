import { afterEach, describe, expect, it, vi } from "vitest";
import { scaleLinear } from "d3-scale";
import { mountClasswise, accuracyGaps, gapDomain, retainMean, GAP_FLOOR } from "../panels/classwise.js";
import { axis, labelledClasses, observeWidth, s, segmented, tooltip, truncate, widthOf } from "../lib/chart.js";
import { classColor } from "../lib/colors.js";
import { mountForTest } from "./helpers.js";

function mount(opts, overrides) {
  return mountForTest(mountClasswise, opts, overrides);
}

const chartOf = (el, set) => el.querySelector(`.mucomp-cw-set[data-set=${set}] svg`);
const rowOf = (el, set, c) => chartOf(el, set).querySelector(`.mucomp-cw-row[data-class="${c}"]`);
const barOf = (el, set, c) => rowOf(el, set, c).querySelector(".mucomp-cw-bar");
const zeroX = (el, set) => Number(chartOf(el, set).querySelector(".mucomp-cw-zero").getAttribute("x1"));

afterEach(() => { document.body.replaceChildren(); });

describe("class-wise accuracy helpers", () => {
  it("computes B − A per class", () => {
    expect(Array.from(accuracyGaps([0.9, 0.5, 0.2], [0.8, 0.7, 0.2]))).toEqual([expect.closeTo(-0.1), expect.closeTo(0.2), 0]);
  });
  it("uses a symmetric domain covering the largest gap of any set, with a floor", () => {
    const [lo, hi] = gapDomain([[0.1, -0.3], [0.42, 0]]);
    expect(lo).toBe(-hi);
    expect(hi).toBeGreaterThanOrEqual(0.42);
    expect(hi).toBeLessThanOrEqual(0.6);
    const [flo, fhi] = gapDomain([[0, 0, 0]]);
    expect(fhi).toBeGreaterThanOrEqual(GAP_FLOOR);
    expect(flo).toBe(-fhi);
  });
  it("averages the gap over retained classes only, ignoring NaN", () => {
    expect(retainMean([0.1, -0.9, 0.3, NaN], [1])).toBeCloseTo(0.2);
    expect(retainMean([0.1, 0.3], [])).toBeCloseTo(0.2);
    expect(retainMean([NaN], [])).toBeNaN();
  });
});

describe("class-wise accuracy panel", () => {
  it("draws one bar per class in a training and a test chart", () => {
    const { el, cleanup } = mount();
    for (const set of ["train", "test"]) {
      expect(chartOf(el, set).getAttribute("role")).toBe("img");
      expect(chartOf(el, set).getAttribute("aria-label")).toMatch(/class 3 -0\.950/);
      expect(chartOf(el, set).querySelectorAll(".mucomp-cw-row")).toHaveLength(10);
      expect(chartOf(el, set).querySelectorAll(".mucomp-cw-bar")).toHaveLength(10);
    }
    expect(el.textContent).toContain("Training set");
    expect(el.textContent).toContain("Test set");
    cleanup();
  });

  it("bars are B − A with the sign as direction, coloured by class", () => {
    const { el, store, cleanup } = mount();
    const { models, modelA, modelB } = store.get();
    const gap3 = models[modelB].class_acc.train[3] - models[modelA].class_acc.train[3];
    expect(gap3).toBeLessThan(0);
    const bar = barOf(el, "train", 3);
    expect(Number(bar.getAttribute("data-gap"))).toBeCloseTo(gap3);
    expect(bar.getAttribute("fill")).toBe(classColor(3));
    // negative gap: the bar ends at the zero line (Model A higher, left)
    expect(Number(bar.getAttribute("x")) + Number(bar.getAttribute("width"))).toBeCloseTo(zeroX(el, "train"));
    expect(Number(bar.getAttribute("width"))).toBeGreaterThan(50);
    expect(Number(barOf(el, "train", 0).getAttribute("width"))).toBeCloseTo(0);

    store.set({ modelA: "retrain", modelB: "original" }); // swapped: B higher, bar to the right
    const right = barOf(el, "train", 3);
    expect(Number(right.getAttribute("data-gap"))).toBeCloseTo(-gap3);
    expect(Number(right.getAttribute("x"))).toBeCloseTo(zeroX(el, "train"));
    cleanup();
  });

  it("shares one symmetric domain, so equal gaps have equal length in both charts", () => {
    const { el, cleanup } = mount();
    const ticks = (set) => [...chartOf(el, set).querySelectorAll("[data-tick]")].map((t) => t.textContent);
    expect(ticks("train")).toEqual(ticks("test"));
    expect(ticks("train")[0]).toBe("−1");
    expect(ticks("train").at(-1)).toBe("+1");
    expect(ticks("train")).toContain("0");
    expect(barOf(el, "test", 3).getAttribute("width")).toBe(barOf(el, "train", 3).getAttribute("width"));
    // zero halfway between the −1 and +1 ticks
    const tickX = [...chartOf(el, "train").querySelectorAll("[data-tick]")].map((t) => Number(t.getAttribute("x")));
    expect(zeroX(el, "train")).toBeCloseTo((tickX[0] + tickX.at(-1)) / 2);
    cleanup();
  });

  it("marks only the forgotten class, draws the retained average and the caption", () => {
    const { el, cleanup } = mount();
    const labels = [...chartOf(el, "train").querySelectorAll(".mucomp-cw-label")].map((t) => t.textContent);
    expect(labels.filter((l) => l.includes("(✖)"))).toEqual(["class 3 (✖)"]);
    // retained gaps are all 0; the forgotten class's −0.95 is excluded
    expect(chartOf(el, "train").querySelector(".mucomp-cw-avg text").textContent).toBe("avg (retain): 0.000");
    expect(chartOf(el, "train").querySelector(".mucomp-cw-avg line").getAttribute("stroke-dasharray")).toBeTruthy();
    expect(chartOf(el, "test").textContent).toContain("← Model A higher");
    expect(chartOf(el, "test").textContent).toContain("Model B higher →");
    cleanup();
  });

  it("hover sets store.hoveredClass and shows both accuracies; leaving clears it", () => {
    const { el, store, cleanup } = mount();
    rowOf(el, "train", 3).querySelector(".mucomp-cw-band")
      .dispatchEvent(new MouseEvent("mousemove", { bubbles: true, clientX: 40, clientY: 60 }));
    expect(store.get().hoveredClass).toBe(3);
    const tip = el.querySelector(".mucomp-cw-tip");
    expect(tip.hidden).toBe(false);
    expect(tip.textContent).toContain("Model A (original): 0.970");
    expect(tip.textContent).toContain("Model B (retrain): 0.020");
    expect(tip.textContent).toContain("Difference (B − A): -0.950");
    expect(tip.textContent).toContain("Training set");
    // highlighted in both charts
    expect(rowOf(el, "test", 3).classList.contains("mucomp-cw-on")).toBe(true);
    expect(rowOf(el, "test", 4).classList.contains("mucomp-cw-dim")).toBe(true);
    chartOf(el, "train").dispatchEvent(new MouseEvent("mouseleave"));
    expect(store.get().hoveredClass).toBeNull();
    expect(tip.hidden).toBe(true);
    expect(rowOf(el, "test", 4).classList.contains("mucomp-cw-dim")).toBe(false);
    cleanup();
  });

  it("follows hoveredClass set by another panel without redrawing", () => {
    const { el, store, cleanup } = mount();
    const svg = chartOf(el, "train");
    store.set({ hoveredClass: 7 });
    expect(chartOf(el, "train")).toBe(svg);
    expect(rowOf(el, "train", 7).classList.contains("mucomp-cw-on")).toBe(true);
    expect(rowOf(el, "test", 7).classList.contains("mucomp-cw-on")).toBe(true);
    expect(el.querySelectorAll(".mucomp-cw-dim")).toHaveLength(18);
    cleanup();
  });

  it("redraws when the models change", () => {
    const { el, store, cleanup } = mount();
    const { models } = store.get();
    const acc = Float32Array.from(models.retrain.class_acc.test);
    acc[5] = 0.5;
    store.set({ models: { ...models, retrain: { ...models.retrain, class_acc: { ...models.retrain.class_acc, test: acc } } } });
    expect(Number(barOf(el, "test", 5).getAttribute("data-gap"))).toBeCloseTo(0.5 - 0.97);
    expect(Number(barOf(el, "train", 5).getAttribute("data-gap"))).toBeCloseTo(0);
    cleanup();
  });

  it("keeps a fixed ±1 axis across pairs by default; Fit to data zooms to the pair's largest gap", () => {
    const { el, store, cleanup } = mount(); // A original, B retrain: class 3 gap −0.95
    const ends = () => {
      const t = [...chartOf(el, "train").querySelectorAll("[data-tick]")].map((e) => Number(e.textContent.replace("−", "-")));
      return [t[0], t.at(-1)];
    };
    const width3 = () => Number(barOf(el, "train", 3).getAttribute("width"));
    const toggle = (name) => el.querySelector(`.mucomp-cw-seg button[aria-label="Gap axis: ${name}"]`);
    expect(toggle("Fixed ±1").getAttribute("aria-pressed")).toBe("true");
    expect(ends()).toEqual([-1, 1]);
    const wide = width3();
    store.set({ modelA: "retrain", modelB: "ft-1" }); // class 3 gap +0.02
    expect(ends()).toEqual([-1, 1]);
    // one scale for both pairs: bar lengths are in the ratio of the gaps
    expect(width3() / wide).toBeCloseTo(0.02 / 0.95, 2);

    toggle("Fit to data").click();
    expect(toggle("Fit to data").getAttribute("aria-pressed")).toBe("true");
    expect(toggle("Fixed ±1").getAttribute("aria-pressed")).toBe("false");
    const [lo, hi] = ends();
    expect(lo).toBe(-hi);
    expect(hi).toBeGreaterThanOrEqual(0.02);
    expect(hi).toBeLessThan(0.2);
    expect(width3()).toBeGreaterThan(10 * (wide * 0.02) / 0.95);
    store.set({ modelA: "original", modelB: "retrain" }); // the choice stays with the panel
    expect(ends()).toEqual([-1, 1]);
    expect(toggle("Fit to data").getAttribute("aria-pressed")).toBe("true");
    toggle("Fixed ±1").click();
    expect(width3()).toBeCloseTo(wide);
    cleanup();
  });

  it("redraws when a shown model's data arrives, not when another run's does", () => {
    const { el, store, cleanup } = mount();
    const svg = chartOf(el, "train");
    const { models } = store.get();
    store.set({ models: { ...models, "ft-1": { ...models["ft-1"] } } });
    expect(chartOf(el, "train")).toBe(svg);
    store.set({ models: { ...store.get().models, original: { ...models.original } } });
    expect(chartOf(el, "train")).not.toBe(svg);
    cleanup();
  });

  it("with many classes thins the labels but keeps the forgotten class's", () => {
    const { el, cleanup } = mount({ k: 40, forgetClass: 7 });
    const labels = [...chartOf(el, "train").querySelectorAll(".mucomp-cw-label")].map((t) => t.textContent);
    expect(labels.length).toBeLessThan(40);
    expect(labels).toContain("class 7 (✖)");
    expect(chartOf(el, "train").querySelectorAll(".mucomp-cw-bar")).toHaveLength(40);
    cleanup();
  });

  it("shows a visible message when a model's data is missing", () => {
    const { el, store, cleanup } = mount();
    store.set({ modelB: "ghost" });
    expect(el.querySelector(".mucomp-cw-empty").textContent).toBe("No class-wise accuracy for Model B (ghost) yet.");
    expect(el.querySelector("svg")).toBeNull();
    store.set({ modelA: null });
    expect(el.textContent).toContain("Select both model A and model B.");
    cleanup();
  });

  it("cleanup removes its subscription, resize observer and DOM", () => {
    const observers = [];
    vi.stubGlobal("ResizeObserver", class {
      constructor(cb) { this.cb = cb; this.disconnected = false; observers.push(this); }
      observe() {}
      disconnect() { this.disconnected = true; }
    });
    const { el, store, cleanup, live } = mount();
    expect(live()).toBe(1);
    expect(observers).toHaveLength(1);
    cleanup();
    vi.unstubAllGlobals();
    expect(live()).toBe(0);
    expect(observers[0].disconnected).toBe(true);
    expect(el.childElementCount).toBe(0);
    store.set({ hoveredClass: 2, modelB: "ft-1" });
    expect(el.childElementCount).toBe(0);
  });
});

describe("chart helpers (lib/chart.js)", () => {
  it("creates namespaced SVG elements with attributes, listeners and children", () => {
    const onclick = vi.fn();
    const el = s("g", { class: "a", hidden: false, x: 3, onclick }, s("text", {}, "hi"), null);
    expect(el.namespaceURI).toBe("http://www.w3.org/2000/svg");
    expect(el.getAttribute("x")).toBe("3");
    expect(el.hasAttribute("hidden")).toBe(false);
    expect(el.textContent).toBe("hi");
    el.dispatchEvent(new MouseEvent("click"));
    expect(onclick).toHaveBeenCalledOnce();
  });

  it("draws axis ticks at scale positions with formatted, indexed labels", () => {
    const x = scaleLinear().domain([0, 1]).range([0, 100]);
    const g = axis("bottom", x, { values: [0, 0.5, 1], format: (v) => `${v * 100}%` });
    const texts = [...g.querySelectorAll("text")];
    expect(texts.map((t) => t.textContent)).toEqual(["0%", "50%", "100%"]);
    expect(texts[1].getAttribute("x")).toBe("50");
    expect(texts[2].getAttribute("data-tick")).toBe("2");
    const left = axis("left", x, { values: [0.25], size: 0, line: false, rotate: 0 });
    expect(left.querySelectorAll("line")).toHaveLength(0);
    expect(left.querySelector("text").getAttribute("y")).toBe("25");
    const rotated = axis("bottom", x, { values: [1], rotate: -45 });
    expect(rotated.querySelector("text").getAttribute("transform")).toContain("rotate(-45)");
  });

  it("segmented control: real buttons, one pressed, reports the choice", () => {
    const onSelect = vi.fn();
    const seg = segmented({ cls: "x-seg", label: "Split", options: [["a", "A"], ["b", "B"]], value: "a", onSelect });
    const [a, b] = seg.el.querySelectorAll("button");
    expect(seg.el.getAttribute("aria-label")).toBe("Split");
    expect(b.getAttribute("aria-label")).toBe("Split: B");
    expect([a.getAttribute("aria-pressed"), b.getAttribute("aria-pressed")]).toEqual(["true", "false"]);
    b.click();
    expect(onSelect).toHaveBeenCalledWith("b");
    seg.set("b");
    expect(b.classList.contains("x-seg-on")).toBe(true);
    expect(a.getAttribute("aria-pressed")).toBe("false");
  });

  it("tooltip shows content at the pointer and hides", () => {
    const parent = document.createElement("div");
    const tip = tooltip(parent, "x-tip");
    expect(tip.el.hidden).toBe(true);
    tip.show(["one", "two"], { clientX: 30, clientY: 5 });
    expect(tip.el.hidden).toBe(false);
    expect(tip.el.textContent).toBe("onetwo");
    expect(tip.el.style.left).toBe("42px");
    tip.hide();
    expect(tip.el.hidden).toBe(true);
  });

  it("thins class labels but always keeps the forgotten classes", () => {
    expect(labelledClasses(5, 1, [2])).toEqual([0, 1, 2, 3, 4]);
    expect(labelledClasses(12, 3, [])).toEqual([0, 3, 6, 9]);
    expect(labelledClasses(12, 3, [4])).toEqual([0, 4, 9]); // 3 and 6 would collide with 4
  });

  it("truncates long labels and calls onResize only when the width changes", () => {
    expect(truncate("automobile", 6)).toBe("autom…");
    expect(truncate("cat", 6)).toBe("cat");
    let instance;
    vi.stubGlobal("ResizeObserver", class {
      constructor(cb) { this.cb = cb; instance = this; }
      observe() {}
      disconnect() { this.off = true; }
    });
    const el = document.createElement("div");
    let width = 300;
    let reads = 0;
    Object.defineProperty(el, "clientWidth", { get: () => { reads += 1; return width; } });
    const onResize = vi.fn();
    const stop = observeWidth(el, onResize);
    instance.cb();
    expect(onResize).not.toHaveBeenCalled();
    width = 280;
    instance.cb();
    expect(onResize).toHaveBeenCalledOnce();
    // a redraw reads the observed width, not the layout (which would force a reflow)
    const before = reads;
    width = 999;
    expect(widthOf(el)).toBe(280);
    expect(reads).toBe(before);
    stop();
    expect(instance.off).toBe(true);
    expect(widthOf(el)).toBe(999);
    vi.unstubAllGlobals();
  });
});
