import { afterEach, describe, expect, it, vi } from "vitest";
import {
  mountMatrix, greyFor, turbo, cellTriangles, bubbleRadius, matrixMarks, matrixLayout, hitCell, columnLabels, BUBBLE_MIN,
} from "../panels/matrix.js";
import { mountForTest, stubResizeObserver } from "./helpers.js";

function mount(opts, overrides) {
  return mountForTest(mountMatrix, opts, overrides);
}

/** Replace models[id][key][split] with `arr` (a K×K typed array). */
function setMatrix(store, id, key, split, arr) {
  const { models } = store.get();
  const m = models[id];
  store.set({ models: { ...models, [id]: { ...m, [key]: { ...m[key], [split]: arr } } } });
}

const lum = (rgb) => rgb.match(/\d+/g).map(Number).reduce((a, b) => a + b, 0) / 3;
const matrixOf = (el, side) => el.querySelector(`.mucomp-pm-matrix[data-side=${side}]`);
const cellOf = (el, side, r, c) => matrixOf(el, side).querySelector(`.mucomp-pm-cell[data-row="${r}"][data-col="${c}"]`);
const button = (el, label) => el.querySelector(`button[aria-label="${label}"]`);

/** Mouse position over cell (row, col) of matrix `i`, from its drawn frame. */
function cellPoint(el, i, row, col, k = 10) {
  const frame = el.querySelectorAll(".mucomp-pm-frame")[i];
  const cell = Number(frame.getAttribute("width")) / k;
  return { clientX: Number(frame.getAttribute("x")) + (col + 0.5) * cell, clientY: Number(frame.getAttribute("y")) + (row + 0.5) * cell };
}

afterEach(() => { document.body.replaceChildren(); });

/** Run `fn` with every element `width` px wide (jsdom has no layout). */
function withWidth(width, fn) {
  const desc = Object.getOwnPropertyDescriptor(Element.prototype, "clientWidth");
  Object.defineProperty(Element.prototype, "clientWidth", { configurable: true, get: () => width });
  try { return fn(); } finally { Object.defineProperty(Element.prototype, "clientWidth", desc); }
}

/** A label's own text, without its tooltip. */
const ownText = (t) => [...t.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("");

/** Horizontal extent of a column label in SVG coordinates, from its anchor and a generous 6 px per character. */
function extent(t) {
  const g = t.parentNode.getAttribute("transform").match(/translate\(([-\d.]+)/);
  const x = Number(g[1]) + Number(t.getAttribute("x"));
  const w = 6 * ownText(t).length;
  const anchor = t.getAttribute("text-anchor");
  return anchor === "end" ? [x - w, x] : anchor === "middle" ? [x - w / 2, x + w / 2] : [x, x + w];
}

describe("prediction matrix helpers", () => {
  it("labels columns with names that fit, else with indices, thinned so they never overlap", () => {
    expect(columnLabels(["0", "1", "2"], 12)).toEqual({ texts: ["0", "1", "2"], indexed: false, step: 1 });
    const long = columnLabels(["cat", "dog", "automobile"], 12);
    expect(long.texts).toEqual(["0", "1", "2"]);
    expect(long.indexed).toBe(true);
    expect(long.step).toBe(1);
    const many = columnLabels(Array.from({ length: 40 }, (_, c) => `class ${c}`), 6);
    expect(many.texts[39]).toBe("39");
    expect(many.step * 6).toBeGreaterThanOrEqual(2 * 6 + 3); // two digits fit in `step` columns
  });

  it("greys get darker with the value on light, lighter on dark; NaN is 0", () => {
    const light = [0, 0.25, 0.5, 1].map((v) => lum(greyFor(v, "light")));
    expect(light).toEqual([...light].sort((a, b) => b - a));
    expect(light[0]).toBeGreaterThan(light[3] + 150);
    const dark = [0, 0.5, 1].map((v) => lum(greyFor(v, "dark")));
    expect(dark).toEqual([...dark].sort((a, b) => a - b));
    expect(greyFor(NaN)).toBe(greyFor(0));
    expect(greyFor(2)).toBe(greyFor(1));
  });

  it("turbo runs near-black → blue → green → dark red and clamps", () => {
    const rgb = (v) => turbo(v).match(/\d+/g).map(Number);
    expect(turbo(0)).toBe("rgb(35, 23, 27)"); // d3.interpolateTurbo(0)
    const [rb, , bb] = rgb(0.15);
    expect(bb).toBeGreaterThan(rb + 100);
    const [r5, g5, b5] = rgb(0.5);
    expect(g5).toBeGreaterThan(r5);
    expect(g5).toBeGreaterThan(b5);
    const [r1, g1, b1] = rgb(1);
    expect(r1).toBeGreaterThan(g1 + 50);
    expect(r1).toBeGreaterThan(b1);
    expect(turbo(-1)).toBe(turbo(0));
    expect(turbo(3)).toBe(turbo(1));
  });

  it("splits a cell along its diagonal into lower-left and upper-right triangles", () => {
    const { lower, upper } = cellTriangles(10, 20, 8);
    expect(lower).toContainEqual([10, 28]); // bottom-left corner
    expect(upper).toContainEqual([18, 20]); // top-right corner
    const shared = lower.filter((p) => upper.some((q) => q[0] === p[0] && q[1] === p[1]));
    expect(shared).toEqual([[10, 20], [18, 28]]); // the diagonal
  });

  it("bubble area is proportional to the proportion, hidden below 0.002", () => {
    expect(bubbleRadius(0.0019, 20)).toBe(0);
    expect(bubbleRadius(NaN, 20)).toBe(0);
    expect(bubbleRadius(BUBBLE_MIN, 20)).toBeGreaterThan(0);
    expect(bubbleRadius(0.64, 20) / bubbleRadius(0.16, 20)).toBeCloseTo(2);
    expect(bubbleRadius(1, 20)).toBeCloseTo(9.5);
  });

  it("builds one split mark per cell and one bubble per visible proportion", () => {
    const prop = [0.9, 0.001, 0.1, 0.5];
    const conf = [0.8, 0.01, 0.3, 0.6];
    const split = matrixMarks(prop, conf, 2, 10, "split", "light");
    expect(split).toHaveLength(4);
    expect(split[2]).toMatchObject({ row: 1, col: 0, p: 0.1, q: 0.3, lowerFill: greyFor(0.1), upperFill: greyFor(0.3) });
    expect(split[2].lower).toContainEqual([0, 20]);
    const bubbles = matrixMarks(prop, conf, 2, 10, "bubble", "light");
    expect(bubbles.map((m) => [m.row, m.col])).toEqual([[0, 0], [1, 0], [1, 1]]);
    expect(bubbles[0]).toMatchObject({ cx: 5, cy: 5, fill: turbo(0.8) });
  });

  it("lays out side by side when wide, stacked when narrow, and hit-tests cells", () => {
    const wide = matrixLayout(400, 10, 50, 40);
    expect(wide.stacked).toBe(false);
    expect(wide.blocks[0].y).toBe(wide.blocks[1].y);
    expect(wide.blocks[1].x).toBeGreaterThanOrEqual(wide.blocks[0].x + wide.size);
    expect(wide.blocks[1].x + wide.size).toBeLessThanOrEqual(400);
    const narrow = matrixLayout(220, 10, 50, 40);
    expect(narrow.stacked).toBe(true);
    expect(narrow.blocks[1].y).toBeGreaterThan(narrow.blocks[0].y + narrow.size);
    const b = wide.blocks[1];
    expect(hitCell(wide, 10, b.x + 2.5 * wide.cell, b.y + 7.5 * wide.cell)).toEqual({ side: 1, row: 7, col: 2 });
    expect(hitCell(wide, 10, 5, 5)).toBeNull();
  });
});

describe("prediction matrix panel", () => {
  it("renders K×K split cells per model with both triangles, darker for larger values", () => {
    const { el, cleanup } = mount();
    for (const side of ["A", "B"]) {
      expect(matrixOf(el, side).querySelectorAll(".mucomp-pm-cell")).toHaveLength(100);
      expect(matrixOf(el, side).querySelectorAll(".mucomp-pm-prop")).toHaveLength(100);
      expect(matrixOf(el, side).querySelectorAll(".mucomp-pm-conf")).toHaveLength(100);
    }
    const diag = cellOf(el, "A", 2, 2).querySelector(".mucomp-pm-prop");
    const off = cellOf(el, "A", 2, 5).querySelector(".mucomp-pm-prop");
    expect(Number(diag.getAttribute("data-value"))).toBeCloseTo(0.95);
    expect(lum(diag.getAttribute("fill"))).toBeLessThan(lum(off.getAttribute("fill")) - 100);
    const titles = [...el.querySelectorAll(".mucomp-pm-title")];
    expect(titles.map((t) => t.textContent)).toEqual(["Model A (original)", "Model B (retrain)"]);
    expect(titles[0].getAttribute("fill")).toBe("#059669");
    expect(titles[1].getAttribute("fill")).toBe("#A855F7");
    const svg = el.querySelector(".mucomp-pm-svg");
    expect(svg.getAttribute("role")).toBe("img");
    expect(svg.getAttribute("aria-label")).toMatch(/training set.*Model A \(original\)/);
    expect([...el.querySelectorAll(".mucomp-pm-collabels [data-tick]")]).toHaveLength(20);
    cleanup();
  });

  it("labels columns horizontally, the forget mark on its own line and full names in tooltips", () => {
    const names = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    for (const width of [240, 340, 600]) { // stacked, side by side, roomy
      const { el, cleanup } = withWidth(width, () => {
        const mounted = mount();
        mounted.store.set({ meta: { ...mounted.store.get().meta, class_names: names } });
        return mounted;
      });
      const svg = el.querySelector(".mucomp-pm-svg");
      expect(Number(svg.getAttribute("width"))).toBe(width);
      const frames = [...svg.querySelectorAll(".mucomp-pm-frame")].map((f) => f.getAttribute("y"));
      expect(frames[0] !== frames[1]).toBe(width < 300); // stacked when narrow
      const labels = [...svg.querySelectorAll(".mucomp-pm-collabels [data-tick]")];
      expect(labels).toHaveLength(20);
      for (const t of labels) {
        expect(t.getAttribute("transform")).toBeNull();
        expect(ownText(t)).toBe(t.getAttribute("data-col"));
        expect(t.querySelector("title").textContent).toBe(t.getAttribute("data-col") === "3" ? "3 (✖ forgotten)" : names[t.getAttribute("data-col")]);
        const [x0, x1] = extent(t);
        expect(x0).toBeGreaterThanOrEqual(0);
        expect(x1).toBeLessThanOrEqual(Number(svg.getAttribute("width")));
      }
      const marks = [...svg.querySelectorAll(".mucomp-pm-collabels .mucomp-pm-forget")];
      expect(marks.map((m) => m.textContent)).toEqual(["✖", "✖"]);
      for (const m of marks) {
        const label = m.parentNode.querySelector('[data-tick][data-col="3"]');
        expect(m.getAttribute("x")).toBe(label.getAttribute("x"));
        expect(Number(m.getAttribute("y"))).toBeGreaterThan(Number(label.getAttribute("y")));
        expect(m.getAttribute("transform")).toBeNull();
      }
      cleanup();
    }
  });

  it("redraws when a shown model's data arrives, not when another run's does", () => {
    const { el, store, cleanup } = mount();
    const svg = el.querySelector(".mucomp-pm-svg");
    const { models } = store.get();
    store.set({ models: { ...models, "ft-1": { ...models["ft-1"] } } });
    expect(el.querySelector(".mucomp-pm-svg")).toBe(svg);
    const [a, b] = [matrixOf(el, "A"), matrixOf(el, "B")];
    store.set({ models: { ...store.get().models, retrain: { ...models.retrain } } }); // same matrices
    expect(matrixOf(el, "B")).toBe(b);
    const flipped = { ...models.retrain.pred_matrix, train: models.retrain.pred_matrix.train.map((v) => 1 - v) };
    store.set({ models: { ...store.get().models, retrain: { ...models.retrain, pred_matrix: flipped } } });
    expect(matrixOf(el, "B")).not.toBe(b); // new data: B's cells repainted, A's and the axes kept
    expect(matrixOf(el, "A")).toBe(a);
    expect(el.querySelector(".mucomp-pm-svg")).toBe(svg);
    cleanup();
  });

  it("picking another model repaints its cells as a full draw would", () => {
    const { el, store, cleanup } = mount();
    const a = matrixOf(el, "A");
    store.set({ modelB: "ft-1" });
    expect(matrixOf(el, "A")).toBe(a);
    const fresh = mount({}, { modelB: "ft-1" });
    const drawn = (root) => root.querySelector(".mucomp-pm-plot").innerHTML;
    expect(drawn(el)).toBe(drawn(fresh.el));
    expect(el.querySelector(".mucomp-pm-svg").getAttribute("aria-label")).toContain("Model B (ft-1)");
    store.set({ split: "test", modelB: "retrain" }); // anything else: a full draw
    expect(matrixOf(el, "A")).not.toBe(a);
    cleanup();
    fresh.cleanup();
  });

  it("uses class indices for columns whose names do not fit, naming them on the rows", () => {
    const names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
    for (const width of [240, 340]) {
      const { el, cleanup } = withWidth(width, () => {
        const mounted = mount();
        mounted.store.set({ meta: { ...mounted.store.get().meta, class_names: names } });
        return mounted;
      });
      const cols = [...el.querySelectorAll(".mucomp-pm-collabels [data-tick]")].slice(0, 10);
      expect(cols.map(ownText)).toEqual(names.map((_, c) => String(c)));
      expect(cols[1].querySelector("title").textContent).toBe("automobile");
      const rows = [...el.querySelectorAll(".mucomp-pm-rowlabels text")].map((t) => t.textContent);
      expect(rows).toContain("0 airplane");
      expect(rows).toContain("3 cat ✖");
      expect(el.querySelector(".mucomp-pm-collabels .mucomp-pm-axis-title").textContent).toBe("Predicted (index) →");
      for (const text of el.querySelectorAll(".mucomp-pm-collabels text")) {
        const [x0, x1] = extent(text);
        expect(x0).toBeGreaterThanOrEqual(0);
        expect(x1).toBeLessThanOrEqual(width);
      }
      cleanup();
    }
  });

  it("the visible toggle switches to bubbles, hiding those below 0.002", () => {
    const { el, store, cleanup } = mount();
    const prop = Float32Array.from(store.get().models.original.pred_matrix.train);
    prop[1] = 0.001;
    prop[12] = 0.0015;
    prop.shape = [10, 10];
    setMatrix(store, "original", "pred_matrix", "train", prop);
    const toggle = button(el, "Cell encoding: Bubble");
    expect(toggle.tagName).toBe("BUTTON");
    expect(toggle.getAttribute("aria-pressed")).toBe("false");
    toggle.click();
    expect(toggle.getAttribute("aria-pressed")).toBe("true");
    expect(el.querySelectorAll(".mucomp-pm-cell")).toHaveLength(0);
    expect(matrixOf(el, "A").querySelectorAll(".mucomp-pm-bubble")).toHaveLength(98);
    expect(matrixOf(el, "B").querySelectorAll(".mucomp-pm-bubble")).toHaveLength(100);
    const bubble = matrixOf(el, "A").querySelector('.mucomp-pm-bubble[data-row="0"][data-col="0"]');
    expect(bubble.getAttribute("fill")).toBe(turbo(0.95));
    expect(el.querySelector(".mucomp-pm-legend").textContent).toContain("colour = confidence");
    button(el, "Cell encoding: Split").click();
    expect(matrixOf(el, "A").querySelectorAll(".mucomp-pm-cell")).toHaveLength(100);
    cleanup();
  });

  it("the Train/Test switch sets store.split and draws that split's matrix", () => {
    const { el, store, cleanup } = mount();
    const prop = Float32Array.from({ length: 100 }, (_, i) => (i % 11 === 0 ? 0.5 : 0.5 / 9));
    prop.shape = [10, 10];
    setMatrix(store, "original", "pred_matrix", "test", prop);
    const value = () => Number(cellOf(el, "A", 4, 4).querySelector(".mucomp-pm-prop").getAttribute("data-value"));
    expect(value()).toBeCloseTo(0.95);
    button(el, "Data split: Test").click();
    expect(store.get().split).toBe("test");
    expect(value()).toBeCloseTo(0.5);
    expect(button(el, "Data split: Test").getAttribute("aria-pressed")).toBe("true");
    store.set({ split: "train" }); // set elsewhere: the switch follows
    expect(value()).toBeCloseTo(0.95);
    expect(button(el, "Data split: Train").getAttribute("aria-pressed")).toBe("true");
    cleanup();
  });

  it("hovering a cell syncs its row to store.hoveredClass, highlights both matrices, shows a tooltip", () => {
    const { el, store, cleanup } = mount();
    const plot = el.querySelector(".mucomp-pm-plot");
    plot.dispatchEvent(new MouseEvent("mousemove", { bubbles: true, ...cellPoint(el, 1, 3, 4) }));
    expect(store.get().hoveredClass).toBe(3);
    const tip = el.querySelector(".mucomp-pm-tip");
    expect(tip.hidden).toBe(false);
    expect(tip.textContent).toContain("Model B (retrain)");
    expect(tip.textContent).toContain("True class: class 3 (✖)");
    expect(tip.textContent).toContain("Predicted: class 4");
    expect(tip.textContent).toContain("Proportion: 0.006");
    expect(tip.textContent).toContain("Confidence: 0.006");
    expect(tip.textContent).toContain("Model A: proportion 0.006");
    const rows = el.querySelectorAll(".mucomp-pm-hl .mucomp-pm-row");
    expect(rows).toHaveLength(2);
    expect(el.querySelector('.mucomp-pm-rowlabels text[data-row="3"]').classList.contains("mucomp-pm-on")).toBe(true);
    plot.dispatchEvent(new MouseEvent("mouseleave"));
    expect(store.get().hoveredClass).toBeNull();
    expect(tip.hidden).toBe(true);
    expect(el.querySelectorAll(".mucomp-pm-hl .mucomp-pm-row")).toHaveLength(0);
    cleanup();
  });

  it("highlights the row of a class hovered in another panel", () => {
    const { el, store, cleanup } = mount();
    const cells = matrixOf(el, "A");
    store.set({ hoveredClass: 6 });
    expect(matrixOf(el, "A")).toBe(cells); // no redraw
    const [rowA, rowB] = el.querySelectorAll(".mucomp-pm-hl .mucomp-pm-row");
    expect(rowA.getAttribute("y")).toBe(rowB.getAttribute("y"));
    const frame = el.querySelector(".mucomp-pm-frame");
    const cell = Number(frame.getAttribute("width")) / 10;
    expect(Number(rowA.getAttribute("y"))).toBeCloseTo(Number(frame.getAttribute("y")) + 6 * cell - 0.5);
    cleanup();
  });

  it("repaints greys for the dark theme", () => {
    const { el, store, cleanup } = mount();
    store.set({ theme: "dark" });
    const diag = cellOf(el, "A", 2, 2).querySelector(".mucomp-pm-prop");
    const off = cellOf(el, "A", 2, 5).querySelector(".mucomp-pm-prop");
    expect(lum(diag.getAttribute("fill"))).toBeGreaterThan(lum(off.getAttribute("fill")) + 100);
    cleanup();
  });

  it("draws on canvas when there are more than 30 classes, hover still works", () => {
    const { el, store, cleanup } = mount({ k: 40 });
    expect(el.querySelectorAll("canvas.mucomp-pm-canvas")).toHaveLength(2);
    expect(el.querySelectorAll(".mucomp-pm-cell")).toHaveLength(0);
    const ctx = el.querySelector("canvas").getContext("2d");
    expect(ctx.__getEvents().filter((e) => e.type === "fill")).toHaveLength(2 * 40 * 40);
    el.querySelector(".mucomp-pm-plot").dispatchEvent(new MouseEvent("mousemove", cellPoint(el, 0, 21, 5, 40)));
    expect(store.get().hoveredClass).toBe(21);
    const [first, second] = el.querySelectorAll("canvas.mucomp-pm-canvas");
    store.set({ modelB: "ft-1" }); // B's canvas repainted in its place, A's kept
    const now = el.querySelectorAll("canvas.mucomp-pm-canvas");
    expect(now).toHaveLength(2);
    expect(now[0]).toBe(first);
    expect(now[1]).not.toBe(second);
    expect(now[1].style.left).toBe(second.style.left);
    expect(now[1].getContext("2d").__getEvents().filter((e) => e.type === "fill")).toHaveLength(2 * 40 * 40);
    cleanup();
  });

  it("shows a message for a model without data and for a missing model", () => {
    const { el, store, cleanup } = mount();
    store.set({ modelB: "ghost" });
    expect(matrixOf(el, "A").querySelectorAll(".mucomp-pm-cell")).toHaveLength(100);
    expect(el.querySelector(".mucomp-pm-missing").textContent).toBe("No prediction matrix for ghost");
    store.set({ modelA: "nobody", modelB: "retrain" }); // B alone keeps its row labels; A's box is inert
    expect(matrixOf(el, "B").querySelectorAll(".mucomp-pm-cell")).toHaveLength(100);
    expect(el.querySelectorAll(".mucomp-pm-rowlabels")).toHaveLength(1);
    const b = el.querySelector(".mucomp-pm-frame");
    el.querySelector(".mucomp-pm-plot").dispatchEvent(new MouseEvent("mousemove", {
      clientX: Number(b.getAttribute("x")) - Number(b.getAttribute("width")) / 2, clientY: Number(b.getAttribute("y")) + 5,
    }));
    expect(store.get().hoveredClass).toBeNull();
    store.set({ modelB: "ghost" });
    expect(el.querySelector(".mucomp-pm-empty").textContent).toContain("No prediction matrix for nobody");
    store.set({ modelA: null });
    expect(el.textContent).toContain("Select both model A and model B.");
    cleanup();
  });

  it("cleanup removes its subscription, listeners and DOM", () => {
    const observers = stubResizeObserver(vi);
    const { el, store, cleanup, live } = mount();
    const plot = el.querySelector(".mucomp-pm-plot");
    expect(live()).toBe(1);
    cleanup();
    vi.unstubAllGlobals();
    expect(live()).toBe(0);
    expect(observers[0].disconnected).toBe(true);
    expect(el.childElementCount).toBe(0);
    plot.dispatchEvent(new MouseEvent("mousemove", { clientX: 80, clientY: 40 }));
    expect(store.get().hoveredClass).toBeNull();
  });
});
