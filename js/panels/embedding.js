// Embedding Space: Model A's and Model B's layouts of the probe samples, side by side.
// Points live on one Canvas 2D per plot (repainted on data, filter, selection, zoom and theme
// changes); hover, the A–B connection line and the lasso live on one light overlay canvas
// spanning both plots, so pointer feedback never repaints the points. Hover and click resolve
// a point through one function (pick) from the same pointer position, so the sample a click
// pins is the one the hover card named.

import { quadtree } from "d3-quadtree";
import { select } from "d3-selection";
import { zoom, zoomIdentity } from "d3-zoom";
import { classColor, palette } from "../lib/colors.js";
import { h, hiDpiCanvas } from "../lib/dom.js";
import { pointsInPolygon } from "../lib/lasso.js";
import { createRaster, makeMask, parseColor } from "../lib/raster.js";
import { changed, modelsChanged } from "../lib/store.js";

const SCALE_EXTENT = [0.6, 32];
const RADIUS = 3.5;               // retain circle, screen px at every zoom
const CROSS_ARM = 5.5, CROSS_HALF_WIDTH = 1.6;
const HIT_RADIUS = 7;
const PIN_RING = 9;               // radius of the ring around the sample the tooltip shows
const PAD = 12;                   // px between the layout and the plot edge
const FALLBACK_SIZE = 320;        // plot side when the panel is not laid out (hidden, tests)
const THUMB = 128;               // 4 × a 32 px sample: nearest-neighbour stays crisp
const CARD_THUMB = 48;           // the hover card's image
/** Point opacity: retain and forget markers, highlight-faded ones, and those outside a selection. */
export const ALPHA = { retain: 0.6, forget: 0.85, faded: 0.05, unselected: 0.12 };
const SELECTED_SCALE = 1.3;      // selected markers grow a little …
const HALO = 1.5;                 // … over a halo of the background this many px wide
/** Outline of forget crosses, drawn under their fill so a dense cluster keeps its class colour. */
const CROSS_STROKE = { light: "rgba(0, 0, 0, 0.55)", dark: "rgba(255, 255, 255, 0.5)" };
const TAU = 2 * Math.PI;
/**
 * Probe size from which a plot composites its markers in JS (lib/raster.js: each marker shape
 * rasterised once, stamped per point) instead of filling Canvas 2D paths. Paths of 10,000
 * points took 70–170 ms per plot and 50,000 0.8–1.6 s in Chromium's software rasteriser, at
 * every zoom step; below this size paths are quick and exact (benchmarks/bench_probe.py).
 */
export const RASTER_FROM = 5000;

/**
 * Disparity (retained samples' mean shift from their places in the Original's layout, as a
 * share of its spread) above which the panel warns: beyond a quarter of the spread the
 * two layouts disagree on samples unlearning should not touch, so differences between
 * them are hard to read. The built-in methods on digits measure 0.03–0.06.
 */
export const POOR_ALIGNMENT = 0.25;

/**
 * The note next to a plot's title about how well its layout matches the Original's.
 * @param {number|null|undefined} disparity  from the model's payload (null: not measured)
 * @param {boolean} isOriginal
 * @returns {{text: string, title: string, poor: boolean}|null}  null when there is nothing to say
 */
export function alignmentNote(disparity, isOriginal) {
  if (isOriginal) {
    return { text: "reference map", title: "Every other model's samples are placed in this model's layout.", poor: false };
  }
  if (disparity == null || !Number.isFinite(disparity)) return null;
  const pct = `${Math.round(100 * disparity)} %`;
  const poor = disparity > POOR_ALIGNMENT;
  return {
    text: poor ? `⚠ poor alignment: retained shift ${pct}` : `retained shift ${pct}`,
    title: `Retained samples sit on average ${pct} of the layout's spread away from their places in the `
      + `Original's layout.${poor ? ` Above ${Math.round(100 * POOR_ALIGNMENT)} % the layouts disagree on `
      + "samples unlearning should not touch: read differences between them with care." : ""}`,
    poor,
  };
}

/** Per-point status in one plot. */
const HIDDEN = 0, FADED = 1, ACTIVE = 2;

/** The reference's five highlight modes, in its order. */
export const HIGHLIGHTS = [
  ["all", "All"], ["target", "Target to forget"], ["correct", "Correctly forgotten"],
  ["not", "Not forgotten"], ["over", "Overly forgotten"],
];

/**
 * Which probe points are forgetting targets: the true class is forgotten (class-wise
 * forgetting) or the sample is in the forget set (sample-wise forgetting).
 * @param {import("../lib/types.js").Probe} probe
 * @param {import("../lib/types.js").Meta} meta
 * @returns {Uint8Array} 1 = target
 */
export function forgetTargets(probe, meta) {
  const classes = new Set(meta?.forget_classes || []);
  if (!meta?.classwise || classes.size === 0) return Uint8Array.from(probe.is_forget);
  return Uint8Array.from(probe.labels, (c) => (classes.has(c) ? 1 : 0));
}

/**
 * The points a highlight mode keeps: all; target (to forget); correct (target, pred ≠ true);
 * not (target, pred = true); over (not a target, pred ≠ true).
 * @param {"all"|"target"|"correct"|"not"|"over"} mode
 * @param {ArrayLike<number>} labels  true classes
 * @param {ArrayLike<number>} pred    one model's predicted classes
 * @param {ArrayLike<number>} target  1 = forgetting target (see forgetTargets)
 * @returns {Uint8Array} 1 = matches
 */
export function highlightMatches(mode, labels, pred, target) {
  const n = labels.length, out = new Uint8Array(n);
  // One plain loop per mode: a predicate called per point cost ~10 ms per plot at 50,000.
  if (mode === "target") for (let i = 0; i < n; i++) out[i] = target[i] === 1 ? 1 : 0;
  else if (mode === "correct") for (let i = 0; i < n; i++) out[i] = target[i] === 1 && pred[i] !== labels[i] ? 1 : 0;
  else if (mode === "not") for (let i = 0; i < n; i++) out[i] = target[i] === 1 && pred[i] === labels[i] ? 1 : 0;
  else if (mode === "over") for (let i = 0; i < n; i++) out[i] = target[i] !== 1 && pred[i] !== labels[i] ? 1 : 0;
  else out.fill(1);
  return out;
}

/** [xmin, ymin, xmax, ymax] over (n, 2) coordinate arrays, NaN skipped; null when empty. */
export function coordBounds(...arrays) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const c of arrays) {
    for (let i = 0; c && i + 1 < c.length; i += 2) {
      const x = c[i], y = c[i + 1];
      if (Number.isNaN(x) || Number.isNaN(y)) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return x0 <= x1 ? [x0, y0, x1, y1] : null;
}

/**
 * The affine map {k, x, y} (screen = k * layout + (x, y)) fitting `bounds` into a w×h plot,
 * aspect preserved and centred.
 */
export function fitView(bounds, w, hgt, pad = PAD) {
  if (!bounds) return { k: 1, x: 0, y: 0 };
  const [x0, y0, x1, y1] = bounds;
  const k = Math.min((w - 2 * pad) / Math.max(x1 - x0, 1e-9), (hgt - 2 * pad) / Math.max(y1 - y0, 1e-9));
  return { k, x: (w - k * (x0 + x1)) / 2, y: (hgt - k * (y0 + y1)) / 2 };
}

/**
 * The nearest accepted point within `radius` screen px of (px, py), or -1.
 * @param {import("d3-quadtree").Quadtree<number>} tree  point indices in layout coordinates
 * @param {{k: number, x: number, y: number}} view       layout -> screen
 * @param {(i: number) => boolean} [accept]
 */
export function hitTest(tree, view, px, py, radius, accept = () => true) {
  const fx = tree.x(), fy = tree.y();
  const dx = (px - view.x) / view.k, dy = (py - view.y) / view.k;
  let best = -1, r = radius / view.k, r2 = r * r;
  tree.visit((node, x0, y0, x1, y1) => {
    if (x0 > dx + r || x1 < dx - r || y0 > dy + r || y1 < dy - r) return true;
    if (node.length) return false;
    for (let leaf = node; leaf; leaf = leaf.next) {
      const i = leaf.data, d2 = (fx(i) - dx) ** 2 + (fy(i) - dy) ** 2;
      if (d2 < r2 && accept(i)) { best = i; r2 = d2; r = Math.sqrt(d2); }
    }
    return false;
  });
  return best;
}

const trees = new WeakMap();
/** A quadtree of the point indices of one (n, 2) layout, cached per array; built at the first
 * hit test on it, not when a model is shown (picking a model stays quick). */
function treeOf(coords) {
  if (!trees.has(coords)) {
    const idx = [];
    for (let i = 0; 2 * i + 1 < coords.length; i++) {
      if (!Number.isNaN(coords[2 * i]) && !Number.isNaN(coords[2 * i + 1])) idx.push(i);
    }
    trees.set(coords, quadtree().x((i) => coords[2 * i]).y((i) => coords[2 * i + 1]).addAll(idx));
  }
  return trees.get(coords);
}

/** The plus sign's 12 corners rotated into an "×", as flat [x0, y0, x1, y1, ...]. */
function crossCorners(arm, half) {
  const plus = [[half, -arm], [half, -half], [arm, -half], [arm, half], [half, half], [half, arm],
    [-half, arm], [-half, half], [-arm, half], [-arm, -half], [-half, -half], [-half, -arm]];
  return plus.flatMap(([x, y]) => [(x - y) * Math.SQRT1_2, (x + y) * Math.SQRT1_2]);
}
const CROSS = crossCorners(CROSS_ARM, CROSS_HALF_WIDTH);

/** Add one marker (circle for retain, × for forget), `scale` times its size, to the current path. */
function traceMarker(ctx, forget, x, y, scale = 1) {
  if (!forget) {
    ctx.moveTo(x + scale * RADIUS, y);
    ctx.arc(x, y, scale * RADIUS, 0, TAU);
    return;
  }
  ctx.moveTo(x + scale * CROSS[0], y + scale * CROSS[1]);
  for (let j = 2; j < CROSS.length; j += 2) ctx.lineTo(x + scale * CROSS[j], y + scale * CROSS[j + 1]);
  ctx.closePath();
}

let shapeCache = null;
/**
 * Coverage masks (lib/raster.js) of the markers at a device pixel ratio, made once:
 * shape(forget, selected, "fill" | "outline" | "halo") draws as traceMarker's path filled,
 * stroked as a cross's outline, or stroked as a selected marker's halo.
 */
function markerShapes(dpr) {
  if (shapeCache?.dpr !== dpr) shapeCache = { dpr, masks: new Map() };
  const { masks } = shapeCache;
  return (forget, selected, kind) => {
    const key = `${forget}|${selected}|${kind}`;
    if (!masks.has(key)) {
      const scale = selected ? SELECTED_SCALE : 1;
      const lineWidth = kind === "halo" ? 2 * HALO : kind === "outline" ? 0.8 : 0;
      const extent = scale * (forget ? CROSS_ARM + CROSS_HALF_WIDTH : RADIUS) + lineWidth;
      masks.set(key, makeMask((ctx) => {
        ctx.beginPath();
        traceMarker(ctx, forget, 0, 0, scale);
        if (kind === "fill") { ctx.fillStyle = "#fff"; ctx.fill(); return; }
        ctx.strokeStyle = "#fff";
        ctx.lineWidth = lineWidth;
        ctx.stroke();
      }, extent, dpr));
    }
    return masks.get(key);
  };
}

/**
 * Draw batches, one per (layer, class, shape): faded points first, then those outside a
 * selection (dimmed), then the rest, selected ones on top; crosses above circles. Selected
 * points keep their class colour, opaque and a little larger, as in jupyter-scatter.
 */
export function buildGroups(status, pred, isForget, selected, anySelected) {
  const groups = new Map();
  for (let i = 0; i < status.length; i++) {
    if (status[i] === HIDDEN) continue;
    const forget = isForget[i] === 1;
    const sel = anySelected && selected[i] === 1;
    const dim = anySelected && !sel;
    const layer = status[i] === FADED ? 0 : (dim ? 1 : sel ? 5 : 3) + (forget ? 1 : 0);
    const key = (layer * 65536 + pred[i]) * 2 + (forget ? 1 : 0); // a number: no string per point
    if (!groups.has(key)) {
      const alpha = layer === 0 ? ALPHA.faded : dim ? ALPHA.unselected
        : sel ? 1 : forget ? ALPHA.forget : ALPHA.retain;
      groups.set(key, { layer, cls: pred[i], forget, alpha, selected: sel, indices: [] });
    }
    groups.get(key).indices.push(i);
  }
  return [...groups.values()].sort((a, b) => a.layer - b.layer || a.cls - b.cls);
}

/** One model's probability bar in the tooltip (null: the class is not in its top 3). */
function probBar(p, side, clickedSide) {
  return h("div", {
    class: `mucomp-emb-bar mucomp-emb-bar-${side.toLowerCase()}`, title: p == null ? "not among the top 3" : p.toFixed(3),
  }, h("span", { class: `mucomp-emb-bartrack${side === clickedSide ? " mucomp-emb-clicked" : ""}` },
    h("span", { class: "mucomp-emb-barfill", style: { width: `${100 * (p ?? 0)}%` } })),
  h("span", { class: "mucomp-emb-barval" }, p == null ? "–" : p.toFixed(2)));
}

/**
 * Mount the Embedding Space view.
 * @param {HTMLElement} el
 * @param {{store: ReturnType<typeof import("../lib/store.js").createStore>, send: Function, root: HTMLElement}} ctx
 * @returns {() => void} cleanup
 */
export function mountEmbedding(el, ctx) {
  const { store } = ctx, widgetEl = ctx.root;
  let linked = true, lassoMode = false, disposed = false;
  let lasso = null;            // {plot, points: [[x, y], ...]} while drawing
  let tip = null;              // {index, side} while the tooltip is open
  let lastPointer = null;      // {plot, clientX, clientY} of the last pointer event over a plot
  let frame = 0, needsMeasure = false;
  let data = null;             // probe-wide: {probe, indexOf, target, selected, anySelected}
  let suppressClick = false;
  const listeners = new AbortController();

  const lassoBtn = h("button", { type: "button", class: "mucomp-emb-toggle", "aria-pressed": "false",
    "aria-label": "Lasso selection (or Shift+drag)", onclick: () => setLassoMode(!lassoMode) }, "Lasso");
  const linkBtn = h("button", { type: "button", class: "mucomp-emb-toggle", "aria-pressed": "true",
    "aria-label": "Link the zoom of both plots", onclick: () => setLinked(!linked) }, "Link views");
  const resetBtn = h("button", { type: "button", "aria-label": "Reset view", onclick: resetView }, "Reset view");
  const clearBtn = h("button", { type: "button", "aria-label": "Clear selection",
    onclick: () => clearSelection() }, "Clear selection");
  const selInfo = h("span", { class: "mucomp-emb-selinfo mucomp-muted", "aria-live": "polite" });
  const overlay = hiDpiCanvas("mucomp-emb-overlay");
  overlay.canvas.setAttribute("aria-hidden", "true");
  const tipEl = h("div", { class: "mucomp-emb-tip", role: "dialog", "aria-label": "Sample details", hidden: true });
  const cardEl = h("div", { class: "mucomp-emb-card", role: "tooltip", hidden: true });
  const plots = ["A", "B"].map(createPlot);
  const plotsEl = h("div", {
    class: "mucomp-emb-plots", tabindex: "0",
    "aria-label": "Embedding plots. Esc clears the selection, + and − zoom, 0 resets the view.",
  }, plots.map((p) => p.el), overlay.canvas, cardEl, tipEl);
  const legend = h("div", { class: "mucomp-emb-legend" });
  const root = h("div", { class: "mucomp-emb", onkeydown: onKey },
    h("div", { class: "mucomp-emb-toolbar" }, lassoBtn, linkBtn, resetBtn, clearBtn, selInfo),
    plotsEl, legend);
  el.append(root);

  // ---- plots

  function createPlot(side) {
    const cv = hiDpiCanvas("mucomp-emb-canvas");
    cv.canvas.setAttribute("role", "img");
    const title = h("div", { class: `mucomp-emb-title mucomp-emb-side-${side.toLowerCase()}` });
    const note = h("span", { class: "mucomp-emb-align", role: "status", hidden: true });
    const msg = h("div", { class: "mucomp-emb-msg", hidden: true });
    const wrap = h("div", { class: "mucomp-emb-canvaswrap" }, cv.canvas, msg);
    const head = h("div", { class: "mucomp-emb-head" }, title, note);
    const plot = {
      side, cv, title, note, msg, wrap, el: h("div", { class: "mucomp-emb-plot" }, head, wrap),
      id: null, model: null, coords: null, tree: null, status: new Uint8Array(0), groups: [],
      w: FALLBACK_SIZE, h: FALLBACK_SIZE, sized: false, offX: 0, offY: 0, t: zoomIdentity, fit: fitView(null, 1, 1),
    };
    plot.zoom = zoom().scaleExtent(SCALE_EXTENT)
      .filter((e) => e.type === "wheel" || (!lassoMode && !e.shiftKey && !e.ctrlKey && !e.button))
      .on("zoom", (e) => onZoom(plot, e));
    select(cv.canvas).call(plot.zoom).on("dblclick.zoom", null);
    for (const [ev, fn] of [["pointermove", onMove], ["pointerdown", onDown], ["pointerup", onUp],
      ["pointercancel", cancelLasso], ["pointerleave", onLeave], ["click", onClick]]) {
      cv.canvas.addEventListener(ev, (e) => fn(plot, e), { signal: listeners.signal });
    }
    return plot;
  }

  const other = (plot) => plots[plot.side === "A" ? 1 : 0];

  /** Layout -> screen map of a plot: the fit, then the zoom. */
  function viewOf(plot) {
    const { fit, t } = plot;
    return { k: t.k * fit.k, x: t.k * fit.x + t.x, y: t.k * fit.y + t.y };
  }

  function screenPos(plot, i) {
    const v = viewOf(plot);
    return [v.k * plot.coords[2 * i] + v.x, v.k * plot.coords[2 * i + 1] + v.y];
  }

  const isOriginal = (id) => store.get().runs.find((r) => r.id === id)?.type === "Original";

  function runLabel(side, id) {
    const type = store.get().runs.find((r) => r.id === id)?.type ?? "?";
    return `Model ${side} (${type}, ${id})`;
  }

  // ---- data -> plot state

  function syncProbe() {
    const { probe, meta } = store.get();
    const ids = probe?.ids || new Uint32Array(0);
    const indexOf = new Map();
    ids.forEach((id, i) => indexOf.set(id, i));
    data = { probe, indexOf, target: probe?.labels ? forgetTargets(probe, meta) : new Uint8Array(0) };
    syncSelection();
  }

  function syncModels() {
    const s = store.get();
    const n = data.probe?.ids?.length ?? 0;
    for (const plot of plots) {
      plot.id = plot.side === "A" ? s.modelA : s.modelB;
      plot.model = plot.id ? s.models?.[plot.id] || null : null;
      plot.coords = plot.model?.coords && plot.model.coords.length >= 2 * n ? plot.model.coords : null;
    }
    syncLabels();
    fitPlots();
    syncStatus();
    prebuildTrees();
  }

  let treeTask = 0;
  /**
   * Build the shown layouts' quadtrees when the page is idle, not in the frame that shows a
   * model (picking one stays quick) nor at the first hover, which otherwise waited for it
   * (~0.1 s at 50,000 points). Without requestIdleCallback, the first hit test builds it.
   */
  function prebuildTrees() {
    if (treeTask || typeof requestIdleCallback !== "function") return;
    treeTask = requestIdleCallback(() => {
      treeTask = 0;
      if (!disposed) for (const plot of plots) if (plot.coords) treeOf(plot.coords);
    });
  }

  /** Titles, notes and messages of the plots (they name the run type, from `runs`). */
  function syncLabels() {
    const n = data.probe?.ids?.length ?? 0;
    const nForget = data.probe?.is_forget?.reduce((a, b) => a + b, 0) ?? 0;
    for (const plot of plots) {
      const label = plot.id ? runLabel(plot.side, plot.id) : `Model ${plot.side}`;
      plot.title.textContent = label;
      const note = plot.coords ? alignmentNote(plot.model.disparity, isOriginal(plot.id)) : null;
      plot.note.hidden = !note;
      plot.note.textContent = note?.text ?? "";
      plot.note.title = note?.title ?? "";
      plot.note.classList.toggle("mucomp-emb-poor", !!note?.poor);
      plot.cv.canvas.setAttribute("aria-label", `${label}: ${n} samples, ${nForget} forget samples`);
      const message = !plot.id ? "No model selected" : !plot.model ? `No data for ${plot.id}`
        : !plot.coords ? "Computing layout…" : "";
      plot.msg.textContent = message;
      plot.msg.hidden = !message;
    }
  }

  function syncStatus() {
    const { highlight, hiddenClasses } = store.get();
    const hidden = new Set(hiddenClasses || []);
    for (const plot of plots) {
      if (!plot.coords) { plot.status = new Uint8Array(0); continue; }
      const pred = plot.model.pred;
      const status = highlightMatches(highlight, data.probe.labels, pred, data.target);
      for (let i = 0; i < status.length; i++) status[i] = hidden.has(pred[i]) ? HIDDEN : status[i] ? ACTIVE : FADED;
      plot.status = status;
    }
    syncGroups();
  }

  function syncSelection() {
    const { selection } = store.get();
    const selected = new Uint8Array(data.probe?.ids?.length ?? 0);
    for (const id of selection || []) {
      const i = data.indexOf.get(id);
      if (i !== undefined) selected[i] = 1;
    }
    data.selected = selected;
    data.anySelected = selection?.length > 0;
    clearBtn.disabled = !data.anySelected;
    selInfo.textContent = data.anySelected ? `${selection.length} selected` : "";
  }

  function syncGroups() {
    for (const plot of plots) {
      if (!plot.coords) { plot.groups = []; continue; }
      const { pred } = plot.model, { is_forget: isForget } = data.probe;
      plot.groups = buildGroups(plot.status, pred, isForget, data.selected, data.anySelected);
    }
  }

  // ---- sizing

  function measure() {
    const box = plotsEl.getBoundingClientRect();
    for (const plot of plots) {
      const r = plot.wrap.getBoundingClientRect();
      const w = Math.round(r.width) || FALLBACK_SIZE, hgt = Math.round(r.height) || w;
      if (w !== plot.w || hgt !== plot.h || !plot.sized) {
        plot.w = w; plot.h = hgt; plot.sized = true;
        plot.cv.resize(w, hgt);
        plot.zoom.extent([[0, 0], [w, hgt]]);
      }
      plot.offX = r.left - box.left;
      plot.offY = r.top - box.top;
    }
    overlay.resize(Math.round(box.width) || 2 * FALLBACK_SIZE, Math.round(box.height) || FALLBACK_SIZE);
    fitPlots();
  }

  /** Both plots fit the union of both layouts: they are aligned, so one place means one place. */
  function fitPlots() {
    const bounds = coordBounds(...plots.map((p) => p.coords));
    for (const plot of plots) plot.fit = fitView(bounds, plot.w, plot.h);
  }

  // ---- painting

  function paint(plot) {
    const { ctx } = plot.cv;
    if (!ctx) return;
    if (plot.coords && plot.status.length >= RASTER_FROM) return paintRaster(plot);
    ctx.clearRect(0, 0, plot.w, plot.h);
    if (!plot.coords) return;
    const { theme } = store.get(), pal = palette(theme);
    const v = viewOf(plot), c = plot.coords, m = SELECTED_SCALE * CROSS_ARM + HALO;
    const inside = (x, y) => x > -m && y > -m && x < plot.w + m && y < plot.h + m;
    const trace = (g) => {
      const scale = g.selected ? SELECTED_SCALE : 1;
      ctx.beginPath();
      for (const i of g.indices) {
        const x = v.k * c[2 * i] + v.x, y = v.k * c[2 * i + 1] + v.y;
        if (inside(x, y)) traceMarker(ctx, g.forget, x, y, scale);
      }
    };
    const firstSelected = plot.groups.findIndex((g) => g.selected);
    plot.groups.forEach((g, n) => {
      if (n === firstSelected) {
        // A halo of the background under all selected points (the last groups) sets them off
        // from the dimmed rest without covering each other's colours.
        ctx.globalAlpha = 1;
        ctx.strokeStyle = pal.bg;
        ctx.lineWidth = 2 * HALO;
        for (const sel of plot.groups.slice(n)) { trace(sel); ctx.stroke(); }
      }
      ctx.globalAlpha = g.alpha;
      ctx.fillStyle = classColor(g.cls, theme);
      trace(g);
      if (g.forget) {
        ctx.strokeStyle = CROSS_STROKE[theme] || CROSS_STROKE.light;
        ctx.lineWidth = 0.8;
        ctx.stroke();
      }
      ctx.fill();
    });
    ctx.globalAlpha = 1;
  }

  /**
   * paint() for large probes: the same batches in the same order (halos of the selected
   * points, then per group the crosses' outline and the fill), each composited as one pass
   * into the plot's pixel buffer, which replaces the canvas's pixels.
   */
  function paintRaster(plot) {
    const { ctx, canvas } = plot.cv;
    const { theme } = store.get(), pal = palette(theme);
    const dpr = (typeof window !== "undefined" && window.devicePixelRatio) || 1;
    if (plot.raster?.width !== canvas.width || plot.raster?.height !== canvas.height) {
      plot.raster = createRaster(canvas.width, canvas.height);
    }
    const n = plot.status.length, c = plot.coords, v = viewOf(plot);
    if (plot.xs?.length !== n) { plot.xs = new Float32Array(n); plot.ys = new Float32Array(n); }
    const { xs, ys, raster } = plot;
    const kx = dpr * v.k, ox = dpr * v.x, oy = dpr * v.y;
    for (let i = 0; i < n; i++) { xs[i] = kx * c[2 * i] + ox; ys[i] = kx * c[2 * i + 1] + oy; }
    const shape = markerShapes(dpr);
    const withAlpha = ([r, g, b, a], alpha) => [r, g, b, a * alpha];
    raster.clear();
    const firstSelected = plot.groups.findIndex((g) => g.selected);
    plot.groups.forEach((g, k) => {
      if (k === firstSelected) {
        const bg = parseColor(pal.bg);
        for (const sel of plot.groups.slice(k)) raster.pass(shape(sel.forget, true, "halo"), sel.indices, xs, ys, bg);
      }
      if (g.forget) {
        const outline = parseColor(CROSS_STROKE[theme] || CROSS_STROKE.light);
        raster.pass(shape(true, g.selected, "outline"), g.indices, xs, ys, withAlpha(outline, g.alpha));
      }
      const fill = withAlpha(parseColor(classColor(g.cls, theme)), g.alpha);
      raster.pass(shape(g.forget, g.selected, "fill"), g.indices, xs, ys, fill);
    });
    ctx.putImageData(raster.image(ctx), 0, 0);
  }

  /** Overlay positions of point i in the plots that show it, within their bounds. */
  function marksOf(i) {
    return i < 0 ? [] : plots.filter((p) => p.coords && p.status[i] !== HIDDEN).map((p) => {
      const [x, y] = screenPos(p, i);
      return x >= 0 && y >= 0 && x <= p.w && y <= p.h ? { p, x: x + p.offX, y: y + p.offY } : null;
    }).filter(Boolean);
  }

  /**
   * Hover marks in both plots, the line joining them, a ring around the sample the tooltip
   * shows (it sits beside the plots), and the lasso being drawn.
   */
  function paintOverlay() {
    const { ctx, canvas } = overlay;
    if (!ctx) return;
    const { theme } = store.get(), pal = palette(theme);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (tip) {
      ctx.strokeStyle = pal.fg;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      for (const { x, y } of marksOf(tip.index)) {
        ctx.moveTo(x + PIN_RING, y);
        ctx.arc(x, y, PIN_RING, 0, TAU);
      }
      ctx.stroke();
    }
    const i = hoveredIndex();
    const marks = marksOf(i);
    if (marks.length === 2) {
      ctx.strokeStyle = pal.stroke;
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(marks[0].x, marks[0].y);
      ctx.lineTo(marks[1].x, marks[1].y);
      ctx.stroke();
    }
    for (const { p, x, y } of marks) {
      ctx.beginPath();
      traceMarker(ctx, data.probe.is_forget[i] === 1, x, y);
      ctx.fillStyle = classColor(p.model.pred[i], theme);
      ctx.fill();
      ctx.strokeStyle = pal.stroke;
      ctx.lineWidth = 2;
      ctx.stroke();
    }
    if (lasso) paintLasso(ctx, pal);
  }

  function paintLasso(ctx, pal) {
    const { plot, points } = lasso;
    ctx.beginPath();
    ctx.moveTo(points[0][0] + plot.offX, points[0][1] + plot.offY);
    for (const [x, y] of points.slice(1)) ctx.lineTo(x + plot.offX, y + plot.offY);
    ctx.closePath();
    ctx.fillStyle = "rgba(37, 99, 235, 0.08)";
    ctx.fill();
    ctx.setLineDash([4, 3]);
    ctx.strokeStyle = pal.fg;
    ctx.lineWidth = 1;
    ctx.stroke();
    ctx.setLineDash([]);
  }

  function paintAll() {
    for (const plot of plots) paint(plot);
    paintOverlay();
  }

  /**
   * Coalesce zoom and resize repaints into one per animation frame. The point under a still
   * pointer may have changed then (zoom, layout, filters): hover there again, so the hover
   * card names what a click would pin.
   */
  function schedule(remeasure = false) {
    needsMeasure ||= remeasure;
    if (frame) return;
    const run = () => {
      frame = 0;
      if (needsMeasure) measure();
      needsMeasure = false;
      paintAll();
      if (tip) placeTip();
      if (lastPointer && !lasso) hoverAt(lastPointer);
    };
    if (typeof requestAnimationFrame === "function") frame = requestAnimationFrame(run);
    else run();
  }

  // ---- zoom

  let syncing = false;
  function onZoom(plot, e) {
    plot.t = e.transform;
    if (linked && !syncing && e.sourceEvent) {
      syncing = true;
      const o = other(plot);
      o.zoom.transform(select(o.cv.canvas), e.transform);
      syncing = false;
    }
    schedule();
  }

  function resetView() {
    for (const plot of plots) plot.zoom.transform(select(plot.cv.canvas), zoomIdentity);
  }

  function zoomBy(factor) {
    for (const plot of plots) plot.zoom.scaleBy(select(plot.cv.canvas), factor);
  }

  function setLinked(on) {
    linked = on;
    linkBtn.setAttribute("aria-pressed", String(on));
    if (on) plots[1].zoom.transform(select(plots[1].cv.canvas), plots[0].t);
  }

  // ---- pointer

  /** Plot-local position of a client position ({clientX, clientY}, e.g. an event). */
  function pointer(plot, e) {
    const r = plot.cv.canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  function hoveredIndex() {
    const { hovered } = store.get();
    return hovered == null ? -1 : data.indexOf.get(hovered) ?? -1;
  }

  /** The one hit test of hover and click: the nearest active point to a plot-local position. */
  function pick(plot, [px, py]) {
    if (!plot.coords) return -1;
    return hitTest(treeOf(plot.coords), viewOf(plot), px, py, HIT_RADIUS, (i) => plot.status[i] === ACTIVE);
  }

  /**
   * Where a click happened, at the precision of the pointer events before it: browsers give a
   * click whole-pixel coordinates but pointer events fractional ones, and a fraction of a pixel
   * can change the nearest point. The pointerdown of the click is the last pointer event.
   */
  function clickPosition(plot, e) {
    const p = lastPointer;
    const same = p?.plot === plot && Math.abs(p.clientX - e.clientX) < 1 && Math.abs(p.clientY - e.clientY) < 1;
    return pointer(plot, same ? p : e);
  }

  let ownHover = null;
  /** Hover the point under a client position in a plot: store.hovered and the hover card. */
  function hoverAt({ plot, clientX, clientY }) {
    const at = pointer(plot, { clientX, clientY });
    const i = pick(plot, at);
    ownHover = i < 0 ? null : data.probe.ids[i];
    store.set({ hovered: ownHover });
    renderCard(i, at, plot);
  }

  function onMove(plot, e) {
    lastPointer = { plot, clientX: e.clientX, clientY: e.clientY };
    if (lasso) {
      if (lasso.plot === plot) { lasso.points.push(pointer(plot, e)); paintOverlay(); }
      return;
    }
    hoverAt(lastPointer);
  }

  function onLeave() {
    lastPointer = null;
    if (!lasso && ownHover !== null && store.get().hovered === ownHover) store.set({ hovered: null });
    ownHover = null;
    renderCard(-1);
  }

  /** A small card next to the pointer: the hovered sample's image and classes (click for more). */
  function renderCard(i, at, plot) {
    cardEl.hidden = i < 0 || Boolean(tip);
    if (cardEl.hidden) return;
    const s = store.get();
    const name = (c) => s.meta?.class_names?.[c] ?? `class ${c}`;
    const url = s.sprite?.url(i, CARD_THUMB);
    cardEl.replaceChildren(
      url ? h("img", { class: "mucomp-emb-cardimg", src: url, width: CARD_THUMB, height: CARD_THUMB,
        alt: `Sample ${data.probe.ids[i]}` }) : "",
      h("div", {}, h("div", {}, h("b", {}, name(data.probe.labels[i])), ` · sample ${data.probe.ids[i]}`),
        plots.map((p) => h("div", { class: `mucomp-emb-side-${p.side.toLowerCase()}` },
          `${p.side}: ${p.model?.pred ? name(p.model.pred[i]) : "–"}`))),
    );
    // Below right of the pointer, flipped where it would leave the plots: overflowing, it could
    // add a scroll bar to the page and move the plot under a still pointer.
    const gap = 14, x = at[0] + plot.offX, y = at[1] + plot.offY;
    const box = plotsEl.getBoundingClientRect();
    const w = cardEl.offsetWidth, hgt = cardEl.offsetHeight;
    cardEl.style.left = `${x + gap + w > box.width ? Math.max(0, x - gap - w) : x + gap}px`;
    cardEl.style.top = `${y + gap + hgt > box.height ? Math.max(0, y - gap - hgt) : y + gap}px`;
  }

  function onDown(plot, e) {
    lastPointer = { plot, clientX: e.clientX, clientY: e.clientY };
    suppressClick = false;
    if (e.button || !(lassoMode || e.shiftKey) || !plot.coords) return;
    e.preventDefault();
    lasso = { plot, points: [pointer(plot, e)] };
    try { plot.cv.canvas.setPointerCapture?.(e.pointerId); } catch { /* synthetic events */ }
  }

  function cancelLasso() {
    if (!lasso) return;
    lasso = null;
    paintOverlay();
  }

  function onUp(plot, e) {
    if (!lasso) return;
    if (lasso.plot === plot) lasso.points.push(pointer(plot, e));
    const { points } = lasso, target = lasso.plot;
    lasso = null;
    suppressClick = true;
    paintOverlay();
    if (points.length < 3 || !target.coords) return;
    const v = viewOf(target);
    const polygon = points.map(([x, y]) => [(x - v.x) / v.k, (y - v.y) / v.k]);
    const idx = pointsInPolygon(treeOf(target.coords), polygon, (i) => target.status[i] === ACTIVE);
    store.set({ selection: Uint32Array.from(idx, (i) => data.probe.ids[i]) });
  }

  function onClick(plot, e) {
    if (suppressClick) { suppressClick = false; return; }
    const i = pick(plot, clickPosition(plot, e));
    if (i < 0) return closeTip();
    tip = { index: i, side: plot.side };
    renderCard(-1); // the tooltip replaces the hover card
    renderTip();
    paintOverlay();
    // Scrolling to the button would move the plots under the pointer.
    tipEl.querySelector(".mucomp-emb-tipclose")?.focus({ preventScroll: true });
  }

  function onKey(e) {
    if (e.key === "Escape") {
      if (tip) closeTip();
      else if (lasso) cancelLasso();
      else if (data.anySelected) clearSelection();
      else return;
      e.preventDefault();
    } else if (e.target === plotsEl && (e.key === "+" || e.key === "=")) zoomBy(1.5);
    else if (e.target === plotsEl && e.key === "-") zoomBy(1 / 1.5);
    else if (e.target === plotsEl && e.key === "0") resetView();
  }

  function setLassoMode(on) {
    lassoMode = on;
    lassoBtn.setAttribute("aria-pressed", String(on));
    root.classList.toggle("mucomp-emb-lassoing", on);
  }

  function clearSelection() {
    store.set({ selection: new Uint32Array(0) });
  }

  // ---- tooltip

  function closeTip() {
    tip = null;
    cardEl.hidden = true;
    renderTip();
    paintOverlay();
  }

  /** Rows of the probability chart: classes in either model's top 3, most likely first. */
  function probabilityRows(i) {
    const rows = new Map();
    plots.forEach((plot, side) => {
      const m = plot.model;
      if (!m?.top_classes) return;
      for (let j = 0; j < 3; j++) {
        const c = m.top_classes[3 * i + j];
        if (!rows.has(c)) rows.set(c, { cls: c, p: [null, null] });
        rows.get(c).p[side] = m.top_probs[3 * i + j] / 255;
      }
    });
    return [...rows.values()].sort((a, b) => Math.max(...b.p) - Math.max(...a.p));
  }

  function renderTip() {
    tipEl.hidden = !tip;
    if (!tip) return tipEl.replaceChildren();
    const { index: i, side } = tip;
    const s = store.get();
    const name = (c) => s.meta?.class_names?.[c] ?? `class ${c}`;
    const url = s.sprite?.url(i, THUMB);
    if (!url) s.sprite?.ready?.then((ok) => { if (ok && !disposed && tip?.index === i) renderTip(); });
    const thumb = url
      ? h("img", { class: "mucomp-emb-thumb", src: url, width: THUMB, height: THUMB, alt: `Sample ${data.probe.ids[i]}` })
      : h("div", { class: "mucomp-emb-thumb mucomp-emb-nothumb" }, "no image");
    const predLine = (plot) => {
      const label = plot.id ? runLabel(plot.side, plot.id) : `Model ${plot.side}`;
      return h("div", { class: `mucomp-emb-tippred mucomp-emb-side-${plot.side.toLowerCase()}` },
        h("span", { class: "mucomp-emb-tiprun", title: label }, `${label}: `),
        h("b", {}, plot.model?.pred ? name(plot.model.pred[i]) : "–"));
    };
    tipEl.replaceChildren(
      h("button", { type: "button", class: "mucomp-emb-tipclose", "aria-label": "Close", onclick: closeTip }, "×"),
      h("div", { class: "mucomp-emb-tipbody" }, thumb, h("div", { class: "mucomp-emb-tipinfo" },
        h("div", {}, `Sample ${data.probe.ids[i]} · true class: `, h("b", {}, name(data.probe.labels[i]))),
        plots.map(predLine),
        h("div", { class: "mucomp-emb-bars", role: "table", "aria-label": "Top class probabilities (T = 2)" },
          probabilityRows(i).map((row) => h("div", { class: "mucomp-emb-barrow", role: "row" },
            h("span", { class: "mucomp-emb-barlabel", role: "cell" },
              h("i", { class: "mucomp-emb-dot", style: { background: classColor(row.cls, s.theme) } }), name(row.cls)),
            h("span", { class: "mucomp-emb-barpair", role: "cell" }, probBar(row.p[0], "A", side), probBar(row.p[1], "B", side))))))),
    );
    placeTip();
  }

  /**
   * Beside the clicked plot, level with the sample, never over that plot: outside the plots
   * on the clicked plot's side where the widget has room, else over the other plot (the CSS
   * keeps the tooltip no wider than a plot). Always inside the widget; a ring marks the
   * sample (paintOverlay).
   */
  function placeTip() {
    const box = plotsEl.getBoundingClientRect();
    const widgetBox = (widgetEl?.contains(plotsEl) ? widgetEl : plotsEl).getBoundingClientRect();
    const bound = widgetBox.width > 0 ? widgetBox : box;
    const plot = plots.find((p) => p.side === tip.side), o = other(plot);
    const w = tipEl.offsetWidth, hgt = tipEl.offsetHeight, gap = 8;
    const outside = plot.side === "A" ? plot.offX - gap - w : plot.offX + plot.w + gap;
    const fits = outside >= bound.left - box.left && outside + w <= bound.right - box.left;
    const y = plot.offY + screenPos(plot, tip.index)[1] - hgt / 2;
    tipEl.style.left = `${fits ? outside : o.offX + Math.max(0, (o.w - w) / 2)}px`;
    tipEl.style.top = `${Math.max(bound.top - box.top, Math.min(bound.bottom - box.top - hgt, y))}px`;
  }

  // ---- legend

  const swatches = [];
  const modeBtns = HIGHLIGHTS.map(([key, label]) => h("button", {
    type: "button", class: "mucomp-emb-seg", "aria-pressed": "false",
    onclick: () => store.set({ highlight: key }), "data-mode": key,
  }, label));

  function buildLegend() {
    const { meta } = store.get();
    const forgotten = new Set(meta?.forget_classes || []);
    const k = meta?.num_classes ?? meta?.class_names?.length ?? 0;
    swatches.length = 0;
    for (let c = 0; c < k; c++) {
      const name = meta.class_names?.[c] ?? `class ${c}`;
      swatches.push(h("button", {
        type: "button", class: "mucomp-emb-swatch", "data-class": c,
        title: `Show or hide the points predicted as ${name}`, onclick: () => toggleClass(c),
      }, h("i", { class: "mucomp-emb-dot" }), forgotten.has(c) ? `${name} (✖)` : name));
    }
    legend.replaceChildren(
      h("div", { class: "mucomp-emb-lgroup" }, h("span", { class: "mucomp-emb-lhead" }, "True class"),
        h("span", { class: "mucomp-emb-key" }, h("span", { class: "mucomp-emb-retain", "aria-hidden": "true" }, "●"), " Retain"),
        h("span", { class: "mucomp-emb-key" }, h("span", { class: "mucomp-emb-forget", "aria-hidden": "true" }, "✖"), " Forget")),
      h("div", { class: "mucomp-emb-lgroup", role: "group", "aria-label": "Predicted class" },
        h("span", { class: "mucomp-emb-lhead" }, "Predicted class"), swatches),
      h("div", { class: "mucomp-emb-lgroup mucomp-emb-segs", role: "group", "aria-label": "Highlight" },
        h("span", { class: "mucomp-emb-lhead" }, "Highlight"), modeBtns),
    );
    syncLegend();
  }

  function syncLegend() {
    const { hiddenClasses, highlight, theme } = store.get();
    const hidden = new Set(hiddenClasses || []);
    swatches.forEach((b, c) => {
      b.setAttribute("aria-pressed", String(!hidden.has(c)));
      b.classList.toggle("mucomp-emb-off", hidden.has(c));
      b.querySelector(".mucomp-emb-dot").style.background = classColor(c, theme);
    });
    for (const b of modeBtns) b.setAttribute("aria-pressed", String(b.dataset.mode === highlight));
  }

  function toggleClass(c) {
    const hidden = new Set(store.get().hiddenClasses || []);
    if (hidden.has(c)) hidden.delete(c); else hidden.add(c);
    store.set({ hiddenClasses: [...hidden].sort((a, b) => a - b) });
  }

  // ---- store -> view

  function onState(s, prev) {
    if (changed(s, prev, "meta")) buildLegend();
    else if (changed(s, prev, "hiddenClasses", "highlight", "theme")) syncLegend();
    if (changed(s, prev, "probe", "meta")) syncProbe();
    else if (changed(s, prev, "selection")) syncSelection();
    // Runs arrive one at a time: redraw only when a shown model's data changed.
    const redraw = changed(s, prev, "probe", "meta") || modelsChanged(s, prev);
    const filters = changed(s, prev, "highlight", "hiddenClasses");
    // The tooltip belongs to one sample as shown under one filter and pair of models.
    if (filters || changed(s, prev, "modelA", "modelB")) tip = null;
    if (redraw) {
      syncModels();
      if (changed(s, prev, "probe") || !plots.find((p) => p.side === tip?.side)?.coords) tip = null;
    } else if (filters) syncStatus();
    else if (changed(s, prev, "selection")) syncGroups();
    if (!redraw && changed(s, prev, "runs")) syncLabels();
    if (redraw || filters || changed(s, prev, "selection", "theme")) paintAll();
    else if (changed(s, prev, "hovered")) paintOverlay();
    if (redraw || filters || (tip && changed(s, prev, "sprite", "theme"))) renderTip();
    if (lastPointer && (redraw || filters)) schedule(); // the point under the pointer may have changed
  }

  buildLegend();
  syncProbe();
  measure();
  syncModels();
  paintAll();
  const unsubscribe = store.subscribe(onState);
  const observer = typeof ResizeObserver === "function"
    ? new ResizeObserver(() => schedule(true))
    : null;
  observer?.observe(plotsEl);

  return () => {
    disposed = true;
    unsubscribe();
    listeners.abort();
    observer?.disconnect();
    if (frame) cancelAnimationFrame(frame);
    if (treeTask) cancelIdleCallback(treeTask);
    for (const plot of plots) select(plot.cv.canvas).on(".zoom", null);
    root.remove();
  };
}
