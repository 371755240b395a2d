// Layer-wise similarity: linear CKA between each layer's outputs of Model A/B and of a
// reference model (store.ckaRef: Original or Retrain), on the forget and retain samples of
// the training or test set. The Train/Test switch is local to this panel: store.split
// belongs to the prediction matrix, and the reference gives each chart its own switch.

import { scaleLinear, scalePoint } from "d3-scale";
import { line } from "d3-shape";
import { EMERALD, PURPLE } from "../lib/colors.js";
import { fmt, h } from "../lib/dom.js";
import { changed, modelsChanged } from "../lib/store.js";
import { axis, observeWidth, s, segmented, tooltip, truncate, widthOf } from "../lib/chart.js";

const REFS = [["original", "Original"], ["retrain", "Retrain"]];
const SPLITS = [["train", "Train"], ["test", "Test"]];
const MARGIN = { top: 8, right: 10, left: 34 };
const PLOT_H = 140;

/** The four lines: forget = dashed with × markers, retain = solid with ● markers. */
export const SERIES = [
  { key: "A-forget", side: "A", part: "forget", color: EMERALD, dash: "5 3", marker: "cross" },
  { key: "A-retain", side: "A", part: "retain", color: EMERALD, dash: null, marker: "dot" },
  { key: "B-forget", side: "B", part: "forget", color: PURPLE, dash: "5 3", marker: "cross" },
  { key: "B-retain", side: "B", part: "retain", color: PURPLE, dash: null, marker: "dot" },
];

/**
 * The four series' values (one per layer, NaN = unavailable) for `split` against `ref`;
 * `values` is null where a model has no CKA against that reference.
 * @param {import("../lib/types.js").State} state
 * @param {"train"|"test"} split
 * @param {"original"|"retrain"} ref
 */
export function ckaSeries(state, split, ref) {
  return SERIES.map((sr) => {
    const id = sr.side === "A" ? state.modelA : state.modelB;
    const values = state.models?.[id]?.cka?.[ref]?.[`${split}_${sr.part}`] ?? null;
    return { ...sr, id, values };
  });
}

const finite = (v) => Number.isFinite(v);
const CROSS = "M-3,-3L3,3M-3,3L3,-3";

/** One series: a line broken at NaN and a marker at each finite point. */
function seriesGroup(sr, x, y, blocks) {
  const g = s("g", { class: "mucomp-cka-series", "data-series": sr.key });
  const vals = Array.from(sr.values);
  const d = line().defined(finite).x((_, i) => x(blocks[i])).y((v) => y(v))(vals);
  if (d) g.append(s("path", { class: "mucomp-cka-line", d, stroke: sr.color, "stroke-dasharray": sr.dash, fill: "none" }));
  vals.forEach((v, i) => {
    if (!finite(v)) return;
    const at = { transform: `translate(${x(blocks[i])},${y(v)})`, "data-i": i, class: `mucomp-cka-marker mucomp-cka-${sr.marker}` };
    g.append(sr.marker === "cross"
      ? s("path", { ...at, d: CROSS, stroke: sr.color, fill: "none" })
      : s("circle", { ...at, r: 2.6, fill: sr.color }));
  });
  return g;
}

/** A small line + marker sample of a series' style, for legends and tooltips. */
function glyph(sr) {
  return s("svg", { width: 22, height: 10, "aria-hidden": "true", class: "mucomp-cka-glyph" },
    s("line", { x1: 1, x2: 21, y1: 5, y2: 5, stroke: sr.color, "stroke-dasharray": sr.dash ? "4 2" : null }),
    sr.marker === "cross"
      ? s("path", { d: CROSS, transform: "translate(11,5)", stroke: sr.color, fill: "none" })
      : s("circle", { cx: 11, cy: 5, r: 2.6, fill: sr.color }));
}

const seriesName = (sr) => `${sr.side} ${sr.part}`;

/**
 * Mount the layer-wise similarity panel.
 * @param {HTMLElement} el
 * @param {{store: ReturnType<import("../lib/store.js").createStore>}} ctx
 * @returns {() => void} cleanup
 */
export function mountCka(el, { store }) {
  let split = "train";
  let hover = null; // {ticks, guide, x, blocks, series} of the drawn chart

  const splitSwitch = segmented({
    cls: "mucomp-cka-seg", label: "Data split", options: SPLITS, value: split,
    onSelect: (v) => { split = v; splitSwitch.set(v); draw(); },
  });
  const refSwitch = segmented({
    cls: "mucomp-cka-seg", label: "Compare against", options: REFS, value: store.get().ckaRef,
    onSelect: (ckaRef) => store.set({ ckaRef }),
  });
  const legend = h("div", { class: "mucomp-cka-legend" });
  const plot = h("div", { class: "mucomp-cka-plot" });
  const caption = h("div", { class: "mucomp-cka-caption mucomp-muted" });
  const wrap = h("div", { class: "mucomp-cka" },
    h("div", { class: "mucomp-cka-head" }, h("div", { class: "mucomp-panel-title" }, "Layer-wise Similarity"),
      h("div", { class: "mucomp-cka-controls" }, splitSwitch.el,
        h("span", { class: "mucomp-cka-vs mucomp-muted" }, "vs"), refSwitch.el)),
    legend, plot, caption);
  el.append(wrap);
  const tip = tooltip(wrap, "mucomp-cka-tip");

  function showLayer(i, event) {
    for (const t of hover.ticks) t.classList.toggle("mucomp-cka-on", Number(t.getAttribute("data-layer")) === i);
    hover.guide.setAttribute("visibility", i == null ? "hidden" : "visible");
    if (i == null) { tip.hide(); return; }
    const px = hover.x(hover.blocks[i]);
    hover.guide.setAttribute("x1", px);
    hover.guide.setAttribute("x2", px);
    tip.show([
      h("div", { class: "mucomp-tip-title" }, hover.blocks[i]),
      ...hover.series.map((sr) => h("div", { class: "mucomp-cka-tip-row" }, glyph(sr),
        `${seriesName(sr)} (${sr.id}): ${fmt(sr.values?.[i])}`)),
    ], event);
  }

  function onMove(event) {
    const box = plot.getBoundingClientRect();
    const px = event.clientX - box.left;
    const { x, blocks } = hover;
    const i = Math.round((px - x(blocks[0])) / (x.step() || 1));
    showLayer(Math.max(0, Math.min(blocks.length - 1, i)), event);
  }

  function drawLegend(series) {
    legend.replaceChildren(...series.map((sr) => {
      const missing = !sr.values || !Array.from(sr.values).some(finite);
      return h("span", { class: `mucomp-cka-item${missing ? " mucomp-muted" : ""}` }, glyph(sr),
        `${seriesName(sr)}${missing ? " (n/a)" : ""}`);
    }));
  }

  function message(text) {
    hover = null;
    legend.replaceChildren();
    plot.replaceChildren(h("div", { class: "mucomp-cka-empty mucomp-muted" }, text));
  }

  function draw() {
    const state = store.get();
    const { meta, ckaRef } = state;
    const refName = REFS.find(([v]) => v === ckaRef)?.[1] ?? ckaRef;
    refSwitch.set(ckaRef);
    tip.hide();
    caption.textContent = `Linear CKA (debiased estimator) of each layer's outputs, vs the ${refName} model on the same `
      + "samples; 1 = identical representations.";
    if (!state.modelA || !state.modelB) return message("Select both model A and model B.");
    const blocks = meta.blocks || [];
    const series = ckaSeries(state, split, ckaRef);
    if (!blocks.length || series.every((sr) => !sr.values)) {
      return message(`No CKA against ${refName} for Model A (${state.modelA}) or Model B (${state.modelB}) yet.`);
    }
    drawLegend(series);
    drawChart(series, blocks, refName, meta.architecture);
  }

  function drawChart(series, blocks, refName, architecture) {
    const width = widthOf(wrap);
    const x = scalePoint().domain(blocks).range([MARGIN.left, width - MARGIN.right]).padding(0.4);
    const labels = blocks.map((b) => truncate(b, 12));
    const longest = Math.max(...labels.map((l) => l.length));
    const rotate = longest * 5.6 > x.step() - 4;
    const bottom = 8 + (rotate ? Math.min(60, longest * 4.2) + 4 : 12) + 14;
    const y = scaleLinear().domain([0, 1]).range([MARGIN.top + PLOT_H, MARGIN.top]);
    const last = blocks.length - 1;
    const svg = s("svg", {
      class: "mucomp-cka-svg", width, height: MARGIN.top + PLOT_H + bottom, role: "img",
      "aria-label": `Layer-wise CKA vs ${refName}, ${split === "train" ? "training" : "test"} set, at the last layer `
        + `(${blocks[last]}): ${series.map((sr) => `${seriesName(sr)} ${fmt(sr.values?.[last])}`).join(", ")}.`,
    });
    const yAxis = axis("left", y, { values: [0, 0.2, 0.4, 0.6, 0.8, 1], format: (v) => v.toFixed(1), cls: "mucomp-cka-axis" });
    yAxis.setAttribute("transform", `translate(${MARGIN.left},0)`);
    const every = rotate ? Math.ceil(11 / x.step()) : 1; // rotated labels need ~11 px each
    const shown = blocks.map((_, i) => i).filter((i) => i % every === 0);
    const xAxis = axis("bottom", x, {
      values: shown.map((i) => blocks[i]), format: (_, j) => labels[shown[j]], rotate: rotate ? -40 : 0, cls: "mucomp-cka-axis",
    });
    xAxis.setAttribute("transform", `translate(0,${MARGIN.top + PLOT_H})`);
    const ticks = [...xAxis.querySelectorAll("text")];
    ticks.forEach((t, j) => t.setAttribute("data-layer", String(shown[j])));
    const grid = s("g", { class: "mucomp-cka-grid" },
      [0.2, 0.4, 0.6, 0.8, 1].map((v) => s("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y(v), y2: y(v) })));
    const guide = s("line", { class: "mucomp-cka-guide", y1: MARGIN.top, y2: MARGIN.top + PLOT_H, visibility: "hidden" });
    const overlay = s("rect", {
      class: "mucomp-cka-overlay", x: MARGIN.left, y: MARGIN.top, width: width - MARGIN.left - MARGIN.right, height: PLOT_H,
    });
    svg.append(grid, yAxis, xAxis,
      s("text", { class: "mucomp-cka-axis-title", transform: `translate(10,${MARGIN.top + PLOT_H / 2}) rotate(-90)`, "text-anchor": "middle" }, "CKA"),
      s("text", { class: "mucomp-cka-axis-title", x: (MARGIN.left + width - MARGIN.right) / 2, y: MARGIN.top + PLOT_H + bottom - 3, "text-anchor": "middle" },
        `${architecture ? `${architecture} ` : ""}layers`),
      guide,
      ...series.filter((sr) => sr.values).map((sr) => seriesGroup(sr, x, y, blocks)),
      overlay);
    overlay.addEventListener("mousemove", onMove);
    overlay.addEventListener("mouseleave", () => showLayer(null));
    hover = { ticks, guide, x, blocks, series };
    plot.replaceChildren(svg);
  }

  draw();
  const unsubscribe = store.subscribe((state, prev) => {
    if (changed(state, prev, "meta", "ckaRef") || modelsChanged(state, prev)) draw();
  });
  const unobserve = observeWidth(wrap, draw);
  return () => {
    unsubscribe();
    unobserve();
    wrap.remove();
  };
}
