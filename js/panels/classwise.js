// Class-wise accuracy: two diverging bar charts (training set, test set) of the per-class
// accuracy gap B − A, on one shared symmetric x domain: a fixed ±1 by default, so the bars
// of different A/B pairs compare, or fitted to the largest gap. Hovering a class sets
// store.hoveredClass, which the prediction matrices highlight too, and vice versa.
// Both sets are always shown, so this panel does not follow store.split.

import { scaleLinear } from "d3-scale";
import { classColor } from "../lib/colors.js";
import { fmt, h } from "../lib/dom.js";
import { changed, modelsChanged } from "../lib/store.js";
import {
  axis, classNames, labelledClasses, observeWidth, s, segmented, tooltip, truncate, widthOf,
} from "../lib/chart.js";

const SETS = [["train", "Training set"], ["test", "Test set"]];
/** x-axis choices: the full range of a gap (default) or the largest gap of this pair. */
const SCALES = [["fixed", "Fixed ±1"], ["fit", "Fit to data"]];
/** The fixed x domain: every possible accuracy gap. */
export const FIXED_DOMAIN = [-1, 1];
/** Smallest half-width of the x domain, so near-equal models don't fill the chart with noise. */
export const GAP_FLOOR = 0.05;
const MARGIN = { top: 16, right: 10, bottom: 20, caption: 14 };

/**
 * Per-class accuracy gap B − A (NaN where either accuracy is missing).
 * @param {ArrayLike<number>} accA
 * @param {ArrayLike<number>} accB
 * @returns {Float64Array}
 */
export function accuracyGaps(accA, accB) {
  return Float64Array.from(accA, (a, c) => accB[c] - a);
}

/**
 * Symmetric x domain [−m, m] with m ≥ max |gap| over every list (and ≥ `floor`),
 * rounded up to a nice tick value.
 * @param {ArrayLike<number>[]} gapLists
 * @returns {[number, number]}
 */
export function gapDomain(gapLists, floor = GAP_FLOOR) {
  let m = floor;
  for (const gaps of gapLists) for (const g of gaps) if (Number.isFinite(g)) m = Math.max(m, Math.abs(g));
  const [lo, hi] = scaleLinear().domain([-m, m]).nice(4).domain();
  const half = Math.max(-lo, hi);
  return [-half, half];
}

/**
 * Mean gap over the retained classes (every class when none is forgotten); NaN if none.
 * @param {ArrayLike<number>} gaps
 * @param {number[]} forget  forgotten classes
 */
export function retainMean(gaps, forget = []) {
  let sum = 0, n = 0;
  for (let c = 0; c < gaps.length; c++) {
    if (forget.includes(c) || !Number.isFinite(gaps[c])) continue;
    sum += gaps[c];
    n += 1;
  }
  return n ? sum / n : NaN;
}

/** A value with an explicit sign: "+0.120", "-0.950", "0.000". */
function signed(v) {
  return `${v > 0 ? "+" : ""}${fmt(v)}`;
}

/** Index of the class with the largest |gap|, −1 if none is finite. */
function largestGap(gaps) {
  let best = -1;
  gaps.forEach((g, c) => { if (Number.isFinite(g) && (best < 0 || Math.abs(g) > Math.abs(gaps[best]))) best = c; });
  return best;
}

/** Height of one class row: roomy for few classes, thin (labels thinned) for many. */
function rowHeight(k) {
  return k <= 12 ? 15 : Math.max(3, Math.min(15, 180 / k));
}

/** The A/B accuracies to compare, or the message to show instead. */
function pairData({ modelA, modelB, models }) {
  if (!modelA || !modelB) return { message: "Select both model A and model B." };
  for (const [side, id] of [["A", modelA], ["B", modelB]]) {
    if (!models?.[id]?.class_acc) return { message: `No class-wise accuracy for Model ${side} (${id}) yet.` };
  }
  return { accA: models[modelA].class_acc, accB: models[modelB].class_acc };
}

/**
 * One diverging bar chart. Returns the SVG and its class rows (for highlighting).
 * @param {{label: string, gaps: Float64Array, names: string[], forget: number[],
 *          domain: [number, number], width: number, caption: boolean}} opts
 *   caption: add "← Model A higher | Model B higher →" under the axis
 */
function barChart({ label, gaps, names, forget, domain, width, caption, theme }) {
  const k = gaps.length;
  const rowH = rowHeight(k);
  const labelled = new Set(labelledClasses(k, Math.ceil(11 / rowH), forget));
  const marked = names.map((n, c) => (forget.includes(c) ? `${truncate(n, 11)} (✖)` : truncate(n, 11)));
  const labelW = Math.min(96, 10 + 5.8 * Math.max(...marked.map((m) => m.length)));
  const x = scaleLinear().domain(domain).range([labelW, width - MARGIN.right]);
  const plotH = k * rowH;
  const height = MARGIN.top + plotH + MARGIN.bottom + (caption ? MARGIN.caption : 0);
  const avg = retainMean(gaps, forget);
  const avgName = forget.length ? "avg (retain)" : "avg (all)";
  const top = largestGap(gaps);
  const svg = s("svg", {
    class: "mucomp-cw-chart", width, height, role: "img",
    "aria-label": `${label}: accuracy gap B − A per class; largest ${top < 0 ? "–" : `${names[top]} ${signed(gaps[top])}`}; `
      + `${avgName} ${signed(avg)}.`,
  });
  const rows = [];
  const plot = s("g", { transform: `translate(0,${MARGIN.top})` });
  for (let c = 0; c < k; c++) {
    const g = gaps[c];
    const row = s("g", { class: "mucomp-cw-row", "data-class": c, transform: `translate(0,${c * rowH})` },
      s("rect", { class: "mucomp-cw-band", x: 0, width, height: rowH }));
    if (Number.isFinite(g)) {
      row.append(s("rect", {
        class: "mucomp-cw-bar", x: x(Math.min(0, g)), y: rowH * 0.14, height: rowH * 0.72,
        width: Math.abs(x(g) - x(0)), fill: classColor(c, theme), "data-gap": g,
      }));
    }
    if (labelled.has(c)) {
      row.append(s("text", {
        class: `mucomp-cw-label${forget.includes(c) ? " mucomp-cw-forget" : ""}`, x: labelW - 4,
        y: rowH / 2, dy: "0.32em", "text-anchor": "end",
      }, marked[c]));
    }
    rows.push(row);
    plot.append(row);
  }
  plot.append(s("line", { class: "mucomp-cw-zero", x1: x(0), x2: x(0), y1: 0, y2: plotH }));
  if (Number.isFinite(avg)) plot.append(avgLine(x, avg, plotH, `${avgName}: ${signed(avg)}`, width));
  const nTicks = Math.max(2, Math.floor((width - labelW) / 70));
  const tickFormat = x.tickFormat(nTicks, "+");
  const ax = axis("bottom", x, { values: x.ticks(nTicks), format: (v) => (v ? tickFormat(v) : "0") });
  ax.setAttribute("transform", `translate(0,${plotH})`);
  plot.append(ax);
  if (caption) plot.append(captionText(x, plotH + MARGIN.bottom + 10));
  svg.append(plot);
  return { svg, rows };
}

/** The dashed reference line at the mean retained-class gap, labelled above the plot
 * (the label centred on the line, shifted to stay inside `width`). */
function avgLine(x, avg, plotH, text, width) {
  const px = x(avg);
  const half = (text.length * 5.5) / 2 + 2;
  const tx = Math.max(half, Math.min(width - half, px));
  return s("g", { class: "mucomp-cw-avg" },
    s("line", { x1: px, x2: px, y1: -3, y2: plotH, "stroke-dasharray": "3 3" }),
    s("text", { x: tx, y: -5, "text-anchor": "middle" }, text));
}

/** "← Model A higher | Model B higher →", split at the zero line. */
function captionText(x, y) {
  return s("g", { class: "mucomp-cw-caption" },
    s("text", { x: x(0) - 5, y, "text-anchor": "end", class: "mucomp-cw-a" }, "← Model A higher"),
    s("text", { x: x(0), y, "text-anchor": "middle" }, "|"),
    s("text", { x: x(0) + 5, y, class: "mucomp-cw-b" }, "Model B higher →"));
}

/** Tooltip rows for class `c` of one set. */
function tipContent({ name, forgotten, set, a, b, modelA, modelB }) {
  return [
    h("div", { class: "mucomp-tip-title" }, `${name}${forgotten ? " (✖ forgotten)" : ""} · ${set}`),
    h("div", { class: "mucomp-cw-a" }, `Model A (${modelA}): ${fmt(a)}`),
    h("div", { class: "mucomp-cw-b" }, `Model B (${modelB}): ${fmt(b)}`),
    h("div", {}, `Difference (B − A): ${signed(b - a)}`),
  ];
}

/**
 * Mount the class-wise accuracy panel.
 * @param {HTMLElement} el
 * @param {{store: ReturnType<import("../lib/store.js").createStore>}} ctx
 * @returns {() => void} cleanup
 */
export function mountClasswise(el, { store }) {
  let scale = "fixed";
  const scaleSwitch = segmented({
    cls: "mucomp-cw-seg", label: "Gap axis", options: SCALES, value: scale,
    onSelect: (v) => { scale = v; scaleSwitch.set(v); draw(); },
  });
  const legend = h("div", { class: "mucomp-cw-legend" });
  const body = h("div", { class: "mucomp-cw-body" });
  const wrap = h("div", { class: "mucomp-cw" },
    h("div", { class: "mucomp-cw-head" }, h("div", { class: "mucomp-panel-title" }, "Class-wise Accuracy"), scaleSwitch.el),
    legend, body);
  el.append(wrap);
  const tip = tooltip(wrap, "mucomp-cw-tip");
  let rows = [];

  function highlight() {
    const hc = store.get().hoveredClass;
    for (const row of rows) {
      const c = Number(row.getAttribute("data-class"));
      row.classList.toggle("mucomp-cw-on", c === hc);
      row.classList.toggle("mucomp-cw-dim", hc != null && c !== hc);
    }
  }

  function onMove(event, set, setLabel, data) {
    const row = event.target.closest?.("[data-class]");
    if (!row) return;
    const c = Number(row.getAttribute("data-class"));
    const { meta, modelA, modelB } = store.get();
    store.set({ hoveredClass: c });
    tip.show(tipContent({
      name: classNames(meta, data.accA[set].length)[c], forgotten: (meta.forget_classes || []).includes(c),
      set: setLabel, a: data.accA[set][c], b: data.accB[set][c], modelA, modelB,
    }), event);
  }

  function onLeave() {
    tip.hide();
    store.set({ hoveredClass: null });
  }

  function draw() {
    const state = store.get();
    const data = pairData(state);
    tip.hide();
    rows = [];
    if (data.message) {
      legend.replaceChildren();
      body.replaceChildren(h("div", { class: "mucomp-cw-empty mucomp-muted" }, data.message));
      return;
    }
    legend.replaceChildren("gap = ", h("span", { class: "mucomp-cw-b" }, `B (${state.modelB})`), " − ",
      h("span", { class: "mucomp-cw-a" }, `A (${state.modelA})`));
    const gaps = SETS.map(([set]) => accuracyGaps(data.accA[set], data.accB[set]));
    const domain = scale === "fixed" ? FIXED_DOMAIN : gapDomain(gaps);
    const forget = state.meta.forget_classes || [];
    const names = classNames(state.meta, gaps[0].length);
    const width = widthOf(wrap);
    body.replaceChildren(...SETS.map(([set, label], i) => {
      const chart = barChart({ label, gaps: gaps[i], names, forget, domain, width, caption: i === SETS.length - 1, theme: state.theme });
      rows.push(...chart.rows);
      chart.svg.addEventListener("mousemove", (e) => onMove(e, set, label, data));
      chart.svg.addEventListener("mouseleave", onLeave);
      return h("div", { class: "mucomp-cw-set", "data-set": set }, h("div", { class: "mucomp-cw-sub" }, label), chart.svg);
    }));
    highlight();
  }

  draw();
  const unsubscribe = store.subscribe((state, prev) => {
    if (changed(state, prev, "meta", "theme") || modelsChanged(state, prev)) draw();
    else if (changed(state, prev, "hoveredClass")) highlight();
  });
  const unobserve = observeWidth(wrap, draw);
  return () => {
    unsubscribe();
    unobserve();
    wrap.remove();
  };
}
