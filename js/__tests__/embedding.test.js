import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { quadtree } from "d3-quadtree";
import {
  alignmentNote, coordBounds, fitView, forgetTargets, highlightMatches, hitTest, mountEmbedding, POOR_ALIGNMENT, RASTER_FROM,
} from "../panels/embedding.js";
import { classColor, palette } from "../lib/colors.js";
import { makeCtx, makeStore } from "./helpers.js";

// jsdom lays nothing out: give the panel a fixed geometry. Plots are 400×400 at (0, 20) and
// (408, 20) inside an 808×420 container at the page origin.
const SIDE = 400, TOP = 20, GAP = 8;
function rect(left, top, width, height) {
  return { left, top, width, height, right: left + width, bottom: top + height, x: left, y: top };
}
let widgetRect = null; // the widget's box (ctx.root), when a test gives one
function fakeLayout() {
  return vi.spyOn(Element.prototype, "getBoundingClientRect").mockImplementation(function () {
    if (this.classList.contains("mucomp-emb-plots")) return rect(0, 0, 2 * SIDE + GAP, SIDE + TOP);
    if (this.classList.contains("mucomp") && widgetRect) return widgetRect;
    const plot = this.closest(".mucomp-emb-plot");
    if (plot && (this.classList.contains("mucomp-emb-canvaswrap") || this.tagName === "CANVAS")) {
      const idx = [...plot.parentElement.querySelectorAll(".mucomp-emb-plot")].indexOf(plot);
      return rect(idx * (SIDE + GAP), TOP, SIDE, SIDE);
    }
    return rect(0, 0, 0, 0);
  });
}

function mount(opts, overrides) {
  const store = makeStore(opts, overrides);
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = mountEmbedding(el, makeCtx(store));
  return { store, el, cleanup };
}

/** Client position of probe point i in plot `side` (0 = A, 1 = B), at the initial zoom. */
function clientPos(store, side, i) {
  const { models, modelA, modelB } = store.get();
  const a = models[modelA].coords, b = models[modelB].coords;
  const v = fitView(coordBounds(a, b), SIDE, SIDE);
  const c = side ? b : a;
  return [side * (SIDE + GAP) + v.k * c[2 * i] + v.x, TOP + v.k * c[2 * i + 1] + v.y];
}

function pointer(target, type, [clientX, clientY], extra = {}) {
  target.dispatchEvent(new MouseEvent(type, { clientX, clientY, bubbles: true, ...extra }));
}

/**
 * The circles a canvas drew, in order, from vitest-canvas-mock's event log: centre and radius
 * with the alpha and fill in force and whether their path was filled, and its stroke colour
 * (null: not stroked). Crosses are left out.
 */
function markers(events) {
  const out = [];
  let alpha = 1, fill = null, strokeStyle = null, path = [];
  for (const e of events) {
    if (e.type === "globalAlpha") alpha = e.props.value;
    else if (e.type === "fillStyle") fill = e.props.value;
    else if (e.type === "strokeStyle") strokeStyle = e.props.value;
    else if (e.type === "beginPath") path = [];
    else if (e.type === "arc") {
      path.push({ x: e.props.x, y: e.props.y, radius: e.props.radius, alpha, fill, filled: false, stroke: null });
      out.push(path.at(-1));
    } else if (e.type === "fill") for (const m of path) m.filled = true;
    else if (e.type === "stroke") for (const m of path) m.stroke = strokeStyle;
  }
  return out;
}

const canvases = (el) => [...el.querySelectorAll("canvas.mucomp-emb-canvas")];
const overlayCtx = (el) => el.querySelector("canvas.mucomp-emb-overlay").getContext("2d");

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(resolve));

let layout;
beforeEach(() => { layout = fakeLayout(); });
afterEach(() => { layout.mockRestore(); widgetRect = null; document.body.replaceChildren(); });

describe("embedding: classification", () => {
  const labels = Uint8Array.from([3, 3, 3, 1, 1, 2]);
  const pred = Uint8Array.from([3, 4, 1, 1, 2, 0]);
  const target = Uint8Array.from([1, 1, 1, 0, 0, 0]);
  const picked = (mode) => [...highlightMatches(mode, labels, pred, target).keys()]
    .filter((i) => highlightMatches(mode, labels, pred, target)[i]);

  it("selects exactly the points of each highlight mode", () => {
    expect(picked("all")).toEqual([0, 1, 2, 3, 4, 5]);
    expect(picked("target")).toEqual([0, 1, 2]);
    expect(picked("correct")).toEqual([1, 2]);
    expect(picked("not")).toEqual([0]);
    expect(picked("over")).toEqual([4, 5]);
  });

  it("finds forgetting targets by class, or by forget set for sample-wise forgetting", () => {
    const probe = { labels: Uint8Array.from([0, 3, 3, 5]), is_forget: Uint8Array.from([1, 0, 1, 0]) };
    expect(Array.from(forgetTargets(probe, { classwise: true, forget_classes: [3, 5] }))).toEqual([0, 1, 1, 1]);
    expect(Array.from(forgetTargets(probe, { classwise: false, forget_classes: [] }))).toEqual([1, 0, 1, 0]);
  });

  it("hit-tests the nearest accepted point within the radius", () => {
    const xy = [[0, 0], [1, 0], [5, 5]];
    const tree = quadtree().x((i) => xy[i][0]).y((i) => xy[i][1]).addAll([0, 1, 2]);
    const view = { k: 10, x: 100, y: 50 }; // layout (1, 0) is at screen (110, 50)
    expect(hitTest(tree, view, 108, 51, 5)).toBe(1);
    expect(hitTest(tree, view, 101, 50, 5)).toBe(0);
    expect(hitTest(tree, view, 108, 51, 5, (i) => i !== 1)).toBe(-1); // point 0 is 8 px away
    expect(hitTest(tree, view, 130, 80, 5)).toBe(-1);
  });
});

describe("embedding panel", () => {
  it("draws two labelled canvases titled after the models", () => {
    const { el, cleanup } = mount();
    const [a, b] = canvases(el);
    expect(a.getAttribute("role")).toBe("img");
    expect(a.getAttribute("aria-label")).toBe("Model A (Original, original): 200 samples, 20 forget samples");
    expect(b.getAttribute("aria-label")).toMatch(/^Model B \(Retrain, retrain\)/);
    const titles = [...el.querySelectorAll(".mucomp-emb-title")].map((t) => t.textContent);
    expect(titles).toEqual(["Model A (Original, original)", "Model B (Retrain, retrain)"]);
    expect(a.getContext("2d").__getDrawCalls().length).toBeGreaterThan(0);
    expect(el.querySelector("button[aria-label='Reset view']")).not.toBeNull();
    cleanup();
  });

  it("retitles when model B changes", () => {
    const { el, store, cleanup } = mount();
    store.set({ modelB: "ft-1" });
    expect(el.querySelectorAll(".mucomp-emb-title")[1].textContent).toBe("Model B (Unlearned, ft-1)");
    expect(canvases(el)[1].getAttribute("aria-label")).toMatch(/^Model B \(Unlearned, ft-1\): 200 samples/);
    cleanup();
  });

  it("shows 'Computing layout…' until coords arrive", () => {
    const { el, store, cleanup } = mount({ withCoords: false });
    const msgs = () => [...el.querySelectorAll(".mucomp-emb-msg")];
    expect(msgs().map((m) => [m.hidden, m.textContent])).toEqual([[false, "Computing layout…"], [false, "Computing layout…"]]);
    const withCoords = makeStore().get().models;
    store.set({ models: { ...store.get().models, original: withCoords.original } });
    expect(msgs().map((m) => m.hidden)).toEqual([true, false]);
    cleanup();
  });

  it("lists every class in the legend, marks the forgotten one, and toggles classes", () => {
    const { el, store, cleanup } = mount();
    const swatches = [...el.querySelectorAll(".mucomp-emb-swatch")];
    expect(swatches.map((s) => s.textContent)).toEqual(
      Array.from({ length: 10 }, (_, c) => (c === 3 ? "class 3 (✖)" : `class ${c}`)));
    swatches[2].click();
    swatches[5].click();
    expect(store.get().hiddenClasses).toEqual([2, 5]);
    expect(swatches[2].getAttribute("aria-pressed")).toBe("false");
    swatches[2].click();
    expect(store.get().hiddenClasses).toEqual([5]);
    expect(swatches[2].getAttribute("aria-pressed")).toBe("true");
    expect(el.textContent).toContain("Retain");
    expect(el.textContent).toContain("Forget");
    cleanup();
  });

  it("sets the highlight mode from the segmented control", () => {
    const { el, store, cleanup } = mount();
    const seg = [...el.querySelectorAll(".mucomp-emb-seg")];
    expect(seg.map((b) => b.textContent)).toEqual(
      ["All", "Target to forget", "Correctly forgotten", "Not forgotten", "Overly forgotten"]);
    seg[2].click();
    expect(store.get().highlight).toBe("correct");
    expect(seg[2].getAttribute("aria-pressed")).toBe("true");
    expect(seg[0].getAttribute("aria-pressed")).toBe("false");
    cleanup();
  });

  it("sets store.hovered on hover and clears it on leave; faded points ignore the pointer", () => {
    const { el, store, cleanup } = mount();
    const [a] = canvases(el);
    pointer(a, "pointermove", clientPos(store, 0, 13));
    expect(store.get().hovered).toBe(store.get().probe.ids[13]);
    const card = el.querySelector(".mucomp-emb-card");
    expect(card.hidden).toBe(false); // a hover card names the sample's true and predicted classes
    expect(card.textContent).toContain("class 3");
    expect(card.textContent).toContain(`sample ${store.get().probe.ids[13]}`);
    pointer(a, "pointerleave", [0, 0]);
    expect(store.get().hovered).toBeNull();
    expect(card.hidden).toBe(true);
    store.set({ highlight: "target" }); // point 13 (class 3) stays, point 14 (class 4) fades
    pointer(a, "pointermove", clientPos(store, 0, 14));
    expect(store.get().hovered).not.toBe(store.get().probe.ids[14]);
    pointer(a, "pointermove", clientPos(store, 0, 13));
    expect(store.get().hovered).toBe(39);
    cleanup();
  });

  it("marks a sample hovered elsewhere in both plots and joins them with a line", () => {
    const { el, store, cleanup } = mount();
    const ctx = overlayCtx(el);
    ctx.__clearEvents();
    store.set({ hovered: store.get().probe.ids[7] });
    const events = ctx.__getEvents();
    const arcs = events.filter((e) => e.type === "arc");
    const [ax, ay] = clientPos(store, 0, 7), [bx, by] = clientPos(store, 1, 7);
    expect(arcs.map((e) => [e.props.x, e.props.y])).toEqual([[ax, ay], [bx, by]]);
    expect(events.filter((e) => e.type === "lineTo").length).toBe(1);
    ctx.__clearEvents();
    store.set({ hovered: 999999 }); // not an embedded sample
    expect(ctx.__getEvents().filter((e) => e.type === "arc")).toEqual([]);
    cleanup();
  });

  it("lassos in lasso mode and writes training-sample ids, visible points only", () => {
    const { el, store, cleanup } = mount({}, { hiddenClasses: [0] });
    const [a] = canvases(el);
    el.querySelector("button[aria-label^='Lasso']").click();
    const { ids } = store.get().probe;
    const pos = [...ids.keys()].map((i) => clientPos(store, 0, i));
    // A rectangle over the left half of plot A's points.
    const xs = pos.map((p) => p[0]), ys = pos.map((p) => p[1]);
    const midX = (Math.min(...xs) + Math.max(...xs)) / 2;
    const x0 = Math.min(...xs) - 5, y0 = Math.min(...ys) - 5, y1 = Math.max(...ys) + 5;
    pointer(a, "pointerdown", [x0, y0], { button: 0 });
    for (const p of [[midX, y0], [midX, y1], [x0, y1]]) pointer(a, "pointermove", p);
    pointer(a, "pointerup", [x0, y1]);
    const pred = store.get().models.original.pred;
    const expected = [...ids.keys()].filter((i) => xs[i] < midX && pred[i] !== 0).map((i) => ids[i]);
    expect(expected.length).toBeGreaterThan(10);
    expect(Array.from(store.get().selection)).toEqual(expected);
    expect(el.querySelector(".mucomp-emb-selinfo").textContent).toBe(`${expected.length} selected`);
    // Esc clears it.
    el.querySelector(".mucomp-emb-plots").dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(store.get().selection.length).toBe(0);
    cleanup();
  });

  it("lassos with Shift+drag too", () => {
    const { el, store, cleanup } = mount();
    const [a] = canvases(el);
    const p = clientPos(store, 0, 0);
    pointer(a, "pointerdown", [p[0] - 4, p[1] - 4], { button: 0, shiftKey: true });
    pointer(a, "pointermove", [p[0] + 4, p[1] - 4]);
    pointer(a, "pointermove", [p[0] + 4, p[1] + 4]);
    pointer(a, "pointerup", [p[0] - 4, p[1] + 4]);
    expect(Array.from(store.get().selection)).toContain(store.get().probe.ids[0]);
    expect(el.querySelector("button[aria-label='Clear selection']").disabled).toBe(false);
    el.querySelector("button[aria-label='Clear selection']").click();
    expect(store.get().selection.length).toBe(0);
    cleanup();
  });

  for (const theme of ["light", "dark"]) {
    it(`draws a selection in its class colours and dims the rest (${theme} theme)`, () => {
      const { el, store, cleanup } = mount({}, { theme });
      const ctxB = canvases(el)[1].getContext("2d");
      ctxB.__clearEvents();
      const { ids } = store.get().probe, pred = store.get().models.retrain.pred;
      store.set({ selection: Uint32Array.from([ids[5], ids[13], 123456]) });
      const drawn = markers(ctxB.__getEvents());
      const [bx, by] = clientPos(store, 1, 5);
      const at = (x, y) => drawn.filter((m) => Math.abs(m.x - x) < 1e-6 && Math.abs(m.y - y) < 1e-6);
      const mine = at(bx - (SIDE + GAP), by - TOP);
      // Point 5: a halo of the background, then the point over it: opaque, in its class
      // colour, slightly larger.
      const bg = palette(theme).bg.toLowerCase();
      const halo = mine.findIndex((m) => !m.filled && m.stroke === bg);
      const dot = mine.findIndex((m) => m.filled);
      expect(halo).toBeGreaterThanOrEqual(0);
      expect(dot).toBeGreaterThan(halo);
      expect(mine[dot]).toMatchObject({ alpha: 1, fill: classColor(pred[5], theme).toLowerCase() });
      expect(mine[dot].radius).toBeGreaterThan(3.5);
      expect(mine[dot].radius).toBeLessThan(6);
      // Everything else: the class colour, dimmed; no rings in the foreground colour.
      const rest = drawn.filter((m) => m.filled && !mine.includes(m) && m.alpha < 1);
      expect(rest.length).toBe(drawn.filter((m) => m.filled).length - 1);
      expect(rest.length).toBeGreaterThan(150);
      for (const m of rest) expect(m.alpha).toBeLessThanOrEqual(0.2);
      expect(drawn.every((m) => m.stroke !== palette(theme).fg.toLowerCase())).toBe(true);
      cleanup();
    });
  }

  it("opens a tooltip with class names and both predictions on click, and closes it on Esc", () => {
    const { el, store, cleanup } = mount();
    const [, b] = canvases(el);
    pointer(b, "click", clientPos(store, 1, 13)); // a class-3 (forget) sample, forgotten by Retrain
    const tip = el.querySelector(".mucomp-emb-tip");
    expect(tip.hidden).toBe(false);
    const text = tip.textContent;
    expect(text).toContain("true class: class 3");
    expect(text).toContain("Model A (Original, original): class 3");
    expect(text).toContain("Model B (Retrain, retrain): class 4");
    const rows = [...tip.querySelectorAll(".mucomp-emb-barrow")];
    expect(rows[0].textContent).toMatch(/^class 3/); // 200/255 under A ties B's best; both listed
    expect(rows.map((r) => r.querySelector(".mucomp-emb-barlabel").textContent).sort())
      .toEqual(["class 3", "class 4", "class 5", "class 6"]);
    expect(tip.querySelectorAll(".mucomp-emb-bar-b .mucomp-emb-clicked").length).toBe(rows.length);
    expect(tip.querySelectorAll(".mucomp-emb-bar-a .mucomp-emb-clicked").length).toBe(0);
    tip.querySelector("button[aria-label=Close]").dispatchEvent(
      new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(tip.hidden).toBe(true);
    cleanup();
  });

  it("repaints every canvas on a theme change, in the theme's colours", () => {
    const { el, store, cleanup } = mount();
    const ctxs = canvases(el).map((c) => c.getContext("2d"));
    store.set({ hovered: store.get().probe.ids[1] });
    for (const c of [...ctxs, overlayCtx(el)]) c.__clearDrawCalls();
    overlayCtx(el).__clearEvents();
    store.set({ theme: "dark" });
    for (const c of ctxs) expect(c.__getDrawCalls().length).toBeGreaterThan(0);
    const strokeStyles = overlayCtx(el).__getEvents().filter((e) => e.type === "strokeStyle").map((e) => e.props.value);
    expect(strokeStyles).toContain("#f9fafb"); // palette("dark").stroke: hover outline and line
    expect(strokeStyles).not.toContain("#000000");
    cleanup();
  });

  it("links zoom across plots by default and resets the view", () => {
    const { el, cleanup } = mount();
    const [a, b] = canvases(el);
    a.dispatchEvent(new WheelEvent("wheel", { deltaY: -200, clientX: 100, clientY: 100, bubbles: true, cancelable: true }));
    expect(a.__zoom.k).toBeGreaterThan(1);
    expect(b.__zoom.k).toBe(a.__zoom.k);
    el.querySelector("button[aria-label='Reset view']").click();
    expect([a.__zoom.k, b.__zoom.k]).toEqual([1, 1]);
    el.querySelector("button[aria-label^='Link']").click();
    a.dispatchEvent(new WheelEvent("wheel", { deltaY: -200, clientX: 100, clientY: 100, bubbles: true, cancelable: true }));
    expect(b.__zoom.k).toBe(1);
    cleanup();
  });

  it("removes its subscription, observer and listeners on cleanup", () => {
    const store = makeStore();
    let active = 0;
    const subscribe = store.subscribe;
    store.subscribe = (fn) => {
      active += 1;
      const off = subscribe(fn);
      return () => { active -= 1; off(); };
    };
    const observed = { observe: 0, disconnect: 0 };
    globalThis.ResizeObserver = class {
      observe() { observed.observe += 1; }
      disconnect() { observed.disconnect += 1; }
    };
    const el = document.createElement("div");
    document.body.append(el);
    const cleanup = mountEmbedding(el, makeCtx(store));
    expect(active).toBeGreaterThan(0);
    const [a] = canvases(el);
    cleanup();
    delete globalThis.ResizeObserver;
    expect(active).toBe(0);
    expect(observed).toEqual({ observe: 1, disconnect: 1 });
    expect(el.children.length).toBe(0);
    pointer(a, "pointermove", clientPos(store, 0, 13));
    expect(store.get().hovered).toBeNull();
    expect(a.__on ?? []).toEqual([]); // d3-zoom listeners gone
  });
});

describe("embedding: hover and click", () => {
  const tipText = (el) => el.querySelector(".mucomp-emb-tip").textContent;

  it("pins on click the sample the hover named, though a click's coordinates are whole pixels", () => {
    // Browsers give pointer events fractional coordinates and clicks whole ones (Chromium
    // truncates): find a fractional spot of plot A whose nearest point differs from that of
    // its truncated twin, as it does in dense clusters.
    const { el, store, cleanup } = mount();
    const [a] = canvases(el);
    const { ids } = store.get().probe;
    const hoverAt = (p) => { pointer(a, "pointermove", p); return store.get().hovered; };
    let spot = null;
    for (let i = 0; i < ids.length && !spot; i++) {
      for (let j = i + 1; j < ids.length && !spot; j++) {
        const [pi, pj] = [clientPos(store, 0, i), clientPos(store, 0, j)];
        if (Math.hypot(pi[0] - pj[0], pi[1] - pj[1]) > 6) continue;
        const mid = [(pi[0] + pj[0]) / 2, (pi[1] + pj[1]) / 2];
        for (const [dx, dy] of [[0, 0], [-1, 0], [0, -1], [-1, -1], [1, 0], [0, 1]]) {
          const p = [Math.floor(mid[0]) + dx + 0.75, Math.floor(mid[1]) + dy + 0.75];
          const hovered = hoverAt(p);
          if (hovered !== null && hovered !== hoverAt(p.map(Math.floor))) { spot = p; break; }
        }
      }
    }
    expect(spot).not.toBeNull();
    const hovered = hoverAt(spot);
    expect(el.querySelector(".mucomp-emb-card").textContent).toContain(`sample ${hovered}`);
    pointer(a, "pointerdown", spot, { button: 0 });
    pointer(a, "pointerup", spot, { button: 0 });
    pointer(a, "click", spot.map(Math.floor));
    expect(tipText(el)).toContain(`Sample ${hovered} · true class`);
    cleanup();
  });

  it("hovers again under a still pointer when the view changes, so a click pins what the card names", async () => {
    const { el, store, cleanup } = mount();
    const [a] = canvases(el);
    const { ids } = store.get().probe;
    // The point farthest from the centre moves far from a still pointer as the view zooms.
    const far = [...ids.keys()].reduce((best, i) => {
      const d = (i) => Math.hypot(clientPos(store, 0, i)[0] - SIDE / 2, clientPos(store, 0, i)[1] - TOP - SIDE / 2);
      return d(i) > d(best) ? i : best;
    }, 0);
    const p = clientPos(store, 0, far);
    pointer(a, "pointermove", p);
    const before = store.get().hovered;
    expect(before).toBe(ids[far]);
    el.querySelector(".mucomp-emb-plots").dispatchEvent(new KeyboardEvent("keydown", { key: "+", bubbles: true }));
    await nextFrame();
    const after = store.get().hovered;
    expect(after).not.toBe(before);
    pointer(a, "click", p);
    const tip = el.querySelector(".mucomp-emb-tip");
    if (after === null) expect(tip.hidden).toBe(true);
    else expect(tipText(el)).toContain(`Sample ${after} · true class`);
    cleanup();
  });
});

describe("embedding: the pinned tooltip", () => {
  const TIP_W = 360, TIP_H = 170;
  let sizes;
  beforeEach(() => {
    const size = (n) => function () { return this.classList.contains("mucomp-emb-tip") ? n : 0; };
    sizes = [vi.spyOn(HTMLElement.prototype, "offsetWidth", "get").mockImplementation(size(TIP_W)),
      vi.spyOn(HTMLElement.prototype, "offsetHeight", "get").mockImplementation(size(TIP_H))];
  });
  afterEach(() => sizes.forEach((m) => m.mockRestore()));

  /** Mount inside a `.mucomp` widget element whose box is `box` (plots at 0, 0 … 808, 420). */
  function mountInWidget(box) {
    widgetRect = box;
    const store = makeStore();
    const widget = document.createElement("div");
    widget.className = "mucomp";
    const el = document.createElement("div");
    widget.append(el);
    document.body.append(widget);
    const cleanup = mountEmbedding(el, { ...makeCtx(store), root: widget });
    return { store, el, cleanup };
  }
  const tipBox = (el) => {
    const tip = el.querySelector(".mucomp-emb-tip");
    const left = parseFloat(tip.style.left), top = parseFloat(tip.style.top);
    return { left, top, right: left + TIP_W, bottom: top + TIP_H };
  };
  const plotBox = (side) => ({ left: side * (SIDE + GAP), top: TOP, right: side * (SIDE + GAP) + SIDE, bottom: TOP + SIDE });
  const overlaps = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const inside = (a, b) => a.left >= b.left && a.right <= b.right && a.top >= b.top && a.bottom <= b.bottom;

  it("sits beside the clicked plot, outside the plots where the widget has room", () => {
    const widget = rect(-420, -40, 1650, 700);
    const { el, store, cleanup } = mountInWidget(widget);
    canvases(el).forEach((canvas, side) => {
      pointer(canvas, "click", clientPos(store, side, 13));
      const box = tipBox(el);
      expect(overlaps(box, plotBox(0)) || overlaps(box, plotBox(1))).toBe(false);
      expect(inside(box, widget)).toBe(true);
      const [, y] = clientPos(store, side, 13); // level with the sample
      expect(box.top).toBeLessThanOrEqual(y);
      expect(box.bottom).toBeGreaterThanOrEqual(y);
    });
    cleanup();
  });

  it("sits over the other plot when the widget has no room beside the plots", () => {
    const widget = rect(0, 0, 2 * SIDE + GAP, SIDE + TOP);
    const { el, store, cleanup } = mountInWidget(widget);
    canvases(el).forEach((canvas, side) => {
      pointer(canvas, "click", clientPos(store, side, 13));
      const box = tipBox(el);
      expect(overlaps(box, plotBox(side))).toBe(false);
      expect(inside(box, widget)).toBe(true);
    });
    cleanup();
  });

  it("marks its sample in both plots while open", () => {
    const { el, store, cleanup } = mount();
    const ctx = overlayCtx(el);
    pointer(canvases(el)[0], "click", clientPos(store, 0, 13));
    const round = ([x, y]) => [x.toFixed(6), y.toFixed(6)];
    const rings = () => ctx.__getEvents().filter((e) => e.type === "arc" && e.props.radius > 8)
      .map((e) => round([e.props.x, e.props.y]));
    expect(rings()).toEqual([round(clientPos(store, 0, 13)), round(clientPos(store, 1, 13))]);
    ctx.__clearEvents();
    el.querySelector(".mucomp-emb-tip button[aria-label=Close]").click();
    expect(rings()).toEqual([]);
    cleanup();
  });

  it("closes when the highlight mode, the models shown or the hidden classes change, not otherwise", () => {
    const { el, store, cleanup } = mount();
    const tip = el.querySelector(".mucomp-emb-tip");
    const open = () => {
      pointer(canvases(el)[0], "click", clientPos(store, 0, 13)); // class 3: a target, never hidden here
      expect(tip.hidden).toBe(false);
    };
    for (const change of [{ highlight: "target" }, { modelB: "ft-1" }, { modelA: "retrain" }, { hiddenClasses: [7] }]) {
      open();
      store.set(change);
      expect(tip.hidden, JSON.stringify(change)).toBe(true);
    }
    open();
    store.set({ theme: "dark" });
    store.set({ hovered: store.get().probe.ids[2] });
    store.set({ selection: Uint32Array.from([store.get().probe.ids[2]]) });
    expect(tip.hidden).toBe(false);
    cleanup();
  });
});

describe("embedding: redraws", () => {
  it("repaints only when a shown model's data changes, and retitles when the rows change", () => {
    const { el, store, cleanup } = mount();
    const ctxs = canvases(el).map((c) => c.getContext("2d"));
    const drawCalls = () => ctxs.map((c) => c.__getDrawCalls().length);
    ctxs.forEach((c) => c.__clearDrawCalls());
    const { models, runs } = store.get();
    // Another run arrives: a new `models` object, new entry for it only.
    store.set({ models: { ...models, "ft-1": { ...models["ft-1"] } } });
    expect(drawCalls()).toEqual([0, 0]);
    store.set({ runs: runs.map((r) => (r.id === "retrain" ? { ...r, type: "Uploaded" } : r)) });
    expect(drawCalls()).toEqual([0, 0]);
    expect(el.querySelectorAll(".mucomp-emb-title")[1].textContent).toBe("Model B (Uploaded, retrain)");
    // Model B's data changes: both plots share one fit, so both repaint.
    store.set({ models: { ...store.get().models, retrain: { ...models.retrain } } });
    expect(drawCalls().every((n) => n > 0)).toBe(true);
    cleanup();
  });
});

describe("embedding: how well each layout matches the Original's", () => {
  const notes = (el) => [...el.querySelectorAll(".mucomp-emb-align")];
  const withDisparity = (store, id, disparity) => {
    const { models } = store.get();
    store.set({ models: { ...models, [id]: { ...models[id], disparity } } });
  };

  it("words the disparity, and warns above the documented threshold", () => {
    expect(POOR_ALIGNMENT).toBe(0.25);
    expect(alignmentNote(undefined, false)).toBeNull();
    expect(alignmentNote(null, false)).toBeNull();
    expect(alignmentNote(Number.NaN, false)).toBeNull();
    expect(alignmentNote(null, true)).toMatchObject({ text: "reference map", poor: false });
    expect(alignmentNote(0.04, false)).toMatchObject({ text: "retained shift 4 %", poor: false });
    expect(alignmentNote(0.25, false).poor).toBe(false);
    const poor = alignmentNote(0.31, false);
    expect(poor).toMatchObject({ text: "⚠ poor alignment: retained shift 31 %", poor: true });
    expect(poor.title).toMatch(/31 % of the layout's spread.*Above 25 %/);
  });

  it("shows the note next to each plot's title, and the warning when alignment is poor", () => {
    const { el, store, cleanup } = mount();
    store.set({ modelB: "ft-1" });
    withDisparity(store, "ft-1", 0.04);
    const [a, b] = notes(el);
    expect(a.closest(".mucomp-emb-head").querySelector(".mucomp-emb-title").textContent)
      .toBe("Model A (Original, original)");
    expect([a.hidden, a.textContent]).toEqual([false, "reference map"]);
    expect([b.hidden, b.textContent, b.classList.contains("mucomp-emb-poor")]).toEqual([false, "retained shift 4 %", false]);
    expect(el.querySelectorAll(".mucomp-emb-title")[1].textContent).toBe("Model B (Unlearned, ft-1)");
    withDisparity(store, "ft-1", 0.4);
    expect(b.textContent).toBe("⚠ poor alignment: retained shift 40 %");
    expect(b.classList.contains("mucomp-emb-poor")).toBe(true);
    expect(b.getAttribute("title")).toMatch(/read differences between them with care/);
    withDisparity(store, "ft-1", null); // a layout made before disparities were measured
    expect(b.hidden).toBe(true);
    cleanup();
  });

  it("says nothing while a layout is being computed", () => {
    const { el, cleanup } = mount({ withCoords: false });
    expect(notes(el).map((n) => n.hidden)).toEqual([true, true]);
    cleanup();
  });
});

describe("embedding panel, large probes", () => {
  it(`composites ${RASTER_FROM} points into pixels instead of paths, and still hit-tests them`, () => {
    const { el, store, cleanup } = mount({ n: RASTER_FROM });
    const [a, b] = canvases(el);
    for (const cv of [a, b]) {
      const events = cv.getContext("2d").__getEvents();
      expect(events.some((e) => e.type === "putImageData")).toBe(true);
      expect(events.filter((e) => e.type === "arc")).toEqual([]);
    }
    const ctxB = b.getContext("2d");
    ctxB.__clearEvents();
    store.set({ selection: Uint32Array.from([store.get().probe.ids[5]]) });
    expect(ctxB.__getEvents().filter((e) => e.type === "putImageData")).toHaveLength(1);
    pointer(a, "pointermove", clientPos(store, 0, 7));
    expect(store.get().hovered).not.toBeNull();
    cleanup();
  });
});
