// Model Screening table: one row per run, Model A/B choice, sorting, a method filter,
// reference-style cell colours, epoch-wise traces, deletion, and a "Trade-off" scatter
// (TRA vs PS, area = RTE) with the Pareto front.

import { scaleLinear, scaleSqrt } from "d3-scale";
import { line } from "d3-shape";
import { fmt, h } from "../lib/dom.js";
import { changed } from "../lib/store.js";
import { EMERALD, PURPLE, typeColor } from "../lib/colors.js";

// ------------------------------------------------------------------ colour scales

/** 9-class ColorBrewer sequential schemes (the stops d3-scale-chromatic interpolates). */
export const SCHEMES = {
  greens: ["#f7fcf5", "#e5f5e0", "#c7e9c0", "#a1d99b", "#74c476", "#41ab5d", "#238b45", "#006d2c", "#00441b"],
  blues: ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"],
  oranges: ["#fff5eb", "#fee6ce", "#fdd0a2", "#fdae6b", "#fd8d3c", "#f16913", "#d94801", "#a63603", "#7f2704"],
  greys: ["#ffffff", "#f0f0f0", "#d9d9d9", "#bdbdbd", "#969696", "#737373", "#525252", "#252525", "#000000"],
};
const RAMP_LO = 0.03;
const RAMP_HI = 0.75;
const MIA_FAMILY = ["MIA", "MIA-Ent", "MIA-Loss", "AUC", "U-AUC"];

const hexRgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

/**
 * Colour of `scheme` at t in [0, 1], piecewise-linear in RGB between the scheme's stops.
 * @param {string[]} scheme  hex stops, light to dark
 * @returns {string} "rgb(r, g, b)"
 */
export function interpolate(scheme, t) {
  const x = Math.min(1, Math.max(0, t)) * (scheme.length - 1);
  const i = Math.min(scheme.length - 2, Math.floor(x));
  const a = hexRgb(scheme[i]), b = hexRgb(scheme[i + 1]);
  const rgb = a.map((v, k) => Math.round(v + (b[k] - v) * (x - i)));
  return `rgb(${rgb.join(", ")})`;
}

/** Relative luminance (0 = black, 1 = white) of an "rgb(r, g, b)" string. */
export function luminance(rgb) {
  const [r, g, b] = rgb.match(/\d+/g).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/**
 * Position on the ramp, clamped to [0.03, 0.75] as the reference does: `light` maps to
 * 0.03 and `dark` to 0.75 (either may be the larger number).
 */
export function rampT(v, light, dark) {
  const u = dark === light ? 0 : (v - light) / (dark - light);
  return RAMP_LO + (RAMP_HI - RAMP_LO) * Math.min(1, Math.max(0, u));
}

/** Table-wide numbers the scales depend on. */
export function tableStats(runs) {
  const vals = (k) => runs.map((r) => r[k]).filter(Number.isFinite);
  return {
    maxTRA: Math.max(0, ...vals("TRA")),
    maxRTE: Math.max(0, ...vals("RTE")),
    retrain: runs.find((r) => r.type === "Retrain") || null,
  };
}

/**
 * Scheme and domain of a column: [scheme, value, light end, dark end], or null when
 * the column is not coloured. Darker always means better.
 */
function colourRule(key, v, stats) {
  switch (key) {
    case "UA": case "TUA": return ["greens", v, 0.2, 0];
    case "RA": return ["greens", v, 0.8, 1];
    case "TRA": return ["greens", v, 0.8, Math.max(0.8, stats.maxTRA)];
    case "RTE": return ["blues", v, Math.max(160, stats.maxRTE), 0];
    case "PS": return ["oranges", v, 0, 1];
    case "AvgGap": return ["greys", v, 0.2, 0];
    default: {
      const ref = stats.retrain?.[key];
      if (!MIA_FAMILY.includes(key) || !Number.isFinite(ref)) return null;
      return ["oranges", Math.abs(v - ref), 0.2, 0]; // closeness to Retrain
    }
  }
}

/**
 * Background and text colour of a metric cell, or null (missing value, uncoloured column).
 * @param {string} key    column ("UA", "RTE", ...)
 * @param {number|null} v
 * @param {ReturnType<typeof tableStats>} stats
 * @returns {{background: string, color: string}|null}
 */
export function cellStyle(key, v, stats) {
  if (!Number.isFinite(v)) return null;
  const rule = colourRule(key, v, stats);
  if (!rule) return null;
  const [scheme, value, light, dark] = rule;
  const background = interpolate(SCHEMES[scheme], rampT(value, light, dark));
  return { background, color: luminance(background) < 0.36 ? "#ffffff" : "#111827" };
}

// ------------------------------------------------------------------ sorting, Pareto

const missing = (v) => v == null || Number.isNaN(v);

/**
 * Rows sorted by `key` ("desc" | "asc"); missing values always last; stable; a copy.
 * With no key or direction the order is unchanged.
 */
export function sortRows(rows, key, dir) {
  if (!key || !dir) return rows.slice();
  const sign = dir === "asc" ? 1 : -1;
  return rows.slice().sort((a, b) => {
    const x = a[key], y = b[key];
    if (missing(x) || missing(y)) return Number(missing(x)) - Number(missing(y));
    return sign * (x - y);
  });
}

/** Next sort state after clicking `key`: desc → asc → none. */
export function nextSort(sort, key) {
  if (sort.key !== key || !sort.dir) return { key, dir: "desc" };
  return sort.dir === "desc" ? { key, dir: "asc" } : { key: null, dir: null };
}

/**
 * Ids of the Pareto-optimal unlearned/uploaded models: no other such model has TRA ≥,
 * PS ≥ and RTE ≤ with at least one strict. A missing RTE counts as slowest; rows
 * without TRA or PS are left out, and so are the Original and Retrain references.
 * @param {import("../lib/types.js").Row[]} rows
 * @returns {string[]}
 */
export function paretoIds(rows) {
  const cand = rows.filter((r) => (r.type === "Unlearned" || r.type === "Uploaded")
    && Number.isFinite(r.TRA) && Number.isFinite(r.PS));
  const cost = (r) => (Number.isFinite(r.RTE) ? r.RTE : Infinity);
  const dominates = (o, m) => o.TRA >= m.TRA && o.PS >= m.PS && cost(o) <= cost(m)
    && (o.TRA > m.TRA || o.PS > m.PS || cost(o) < cost(m));
  return cand.filter((m) => !cand.some((o) => o !== m && dominates(o, m))).map((r) => r.id);
}

/** The state after choosing `id` as Model `side`; picking the other side's model swaps. */
export function chooseModel(state, side, id) {
  const [mine, other] = side === "A" ? ["modelA", "modelB"] : ["modelB", "modelA"];
  if (state[other] === id) return { [mine]: id, [other]: state[mine] };
  return { [mine]: id };
}

// ------------------------------------------------------------------ columns

const FIXED_INFO = {
  id: ["ID", "run id"],
  type: ["Type", "Original, Retrain (the target), Unlearned or Uploaded"],
  method: ["Method", "unlearning method"],
  base: ["Base", "model the run started from"],
  epochs: ["Epoch", "training epochs"],
  batch_size: ["BS", "batch size"],
  lr: ["LR", "learning rate"],
  RTE: ["RTE", "run-time efficiency: seconds the run took; lower is better"],
};
const DEFAULT_METRICS = ["UA", "RA", "TUA", "TRA", "PS", "MIA", "AvgGap"];
const FALLBACK_EXTRA = ["MIA-Ent", "MIA-Loss", "AUC", "U-AUC"];
const TRACE_LINES = [
  ["UA", "#2563eb", ""], ["TUA", "#2563eb", "4 3"], ["RA", "#16a34a", ""], ["TRA", "#16a34a", "4 3"],
  ["PS", "#ea580c", ""], ["AvgGap", "#6b7280", "2 2"],
];

/** Metric keys in table order (meta.columns), split into default and optional ones. */
function metricKeys(meta) {
  const all = Object.keys(meta.columns || {});
  const keys = all.length ? all : [...DEFAULT_METRICS, ...FALLBACK_EXTRA];
  return { all: keys, extra: keys.filter((k) => !DEFAULT_METRICS.includes(k)) };
}

/** Visible data columns: {key, label, title, sortable}. */
function visibleColumns(meta, extras) {
  const info = (key) => FIXED_INFO[key] || [key, (meta.columns || {})[key] || key];
  const col = (key, sortable) => {
    const [label, desc] = info(key);
    return { key, label, title: `${label}: ${desc}`, sortable };
  };
  const metrics = metricKeys(meta).all.filter((k) => DEFAULT_METRICS.includes(k) || extras.has(k));
  return [
    ...["id", "type", "method", "base"].map((k) => col(k, false)),
    ...["epochs", "batch_size", "lr", ...metrics, "RTE"].map((k) => col(k, true)),
  ];
}

const methodLabel = (meta, name) => (meta.methods || []).find((m) => m.name === name)?.label || name;
const filterKey = (row) => row.method ?? row.type;
const fmtLr = (v) => (missing(v) ? "–" : String(Number(Number(v).toPrecision(3))));

function cellText(meta, row, key) {
  const v = row[key];
  if (key === "id") return row.id;
  if (key === "method") return row.method ? methodLabel(meta, row.method) : "–";
  if (key === "base") return row.base ?? "–";
  if (key === "epochs" || key === "batch_size") return missing(v) ? "–" : String(v);
  if (key === "lr") return fmtLr(v);
  if (key === "RTE") return fmt(v, 1);
  return fmt(v);
}

// ------------------------------------------------------------------ SVG helpers

const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c != null) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** Grid lines and tick labels for a linear x and y scale inside a plot. */
function axes(x, y, { xLabel, yLabel, xFmt = (v) => v, yFmt = (v) => v, xInt = false }) {
  const [x0, x1] = x.range(), [y0, y1] = y.range();
  return svg("g", { class: "mucomp-tbl-axis" },
    x.ticks(4).filter((t) => !xInt || Number.isInteger(t)).map((t) => svg("g", {},
      svg("line", { x1: x(t), x2: x(t), y1: y0, y2: y1, class: "mucomp-tbl-grid" }),
      svg("text", { x: x(t), y: y0 + 11, "text-anchor": "middle" }, xFmt(t)))),
    y.ticks(4).map((t) => svg("g", {},
      svg("line", { x1: x0, x2: x1, y1: y(t), y2: y(t), class: "mucomp-tbl-grid" }),
      svg("text", { x: x0 - 3, y: y(t) + 3, "text-anchor": "end" }, yFmt(t)))),
    svg("text", { x: (x0 + x1) / 2, y: y0 + 23, "text-anchor": "middle", class: "mucomp-tbl-axislabel" }, xLabel),
    svg("text", { x: -(y0 + y1) / 2, y: 10, transform: "rotate(-90)", "text-anchor": "middle",
      class: "mucomp-tbl-axislabel" }, yLabel));
}

function paddedDomain(values, lo, hi) {
  const a = Math.min(...values), b = Math.max(...values);
  const pad = Math.max(0.02, (b - a) * 0.08);
  return [Math.max(lo, a - pad), Math.min(hi, b + pad)];
}

// ------------------------------------------------------------------ epoch-wise chart

/** SVG line chart of a run's epoch trace; the best epoch gets a dashed marker. */
function traceChart(trace, bestEpoch) {
  const epochs = trace.epoch || (trace.UA || []).map((_, i) => i);
  const W = 320, H = 170, M = { l: 30, r: 8, t: 8, b: 28 };
  const x = scaleLinear().domain([Math.min(...epochs), Math.max(...epochs, Math.min(...epochs) + 1)])
    .range([M.l, W - M.r]);
  const y = scaleLinear().domain([0, 1]).range([H - M.b, M.t]);
  const lines = TRACE_LINES.filter(([k]) => Array.isArray(trace[k])).map(([k, color, dash]) => {
    const path = line().defined((d) => Number.isFinite(d[1])).x((d) => x(d[0])).y((d) => y(d[1]));
    return svg("path", { d: path(epochs.map((e, i) => [e, trace[k][i]])), stroke: color,
      "stroke-dasharray": dash || null, class: "mucomp-tbl-line", "data-key": k });
  });
  const best = Number.isFinite(bestEpoch) ? svg("g", { class: "mucomp-tbl-best" },
    svg("line", { x1: x(bestEpoch), x2: x(bestEpoch), y1: y(0), y2: y(1) }),
    svg("text", { x: x(bestEpoch) + 3, y: y(1) + 9 }, `best (${bestEpoch})`)) : null;
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "mucomp-tbl-chart", role: "img",
    "aria-label": `Epoch-wise ${TRACE_LINES.map(([k]) => k).join(", ")} over ${epochs.length} epochs` },
  axes(x, y, { xLabel: "epoch", yLabel: "value", yFmt: (v) => v.toFixed(1), xInt: true }), lines, best);
}

function traceLegend() {
  return h("div", { class: "mucomp-tbl-legend" }, TRACE_LINES.map(([k, color, dash]) =>
    h("span", { class: "mucomp-tbl-key" },
      h("span", { class: "mucomp-tbl-swatch-line", style: { borderTopColor: color, borderTopStyle: dash ? "dashed" : "solid" } }),
      k)));
}

// ------------------------------------------------------------------ trade-off scatter

/** Readout text for a point. */
function pointText(r) {
  return `${r.id} (${r.type}) · TRA ${fmt(r.TRA)} · PS ${fmt(r.PS)} · RTE ${missing(r.RTE) ? "–" : `${fmt(r.RTE, 1)} s`}`;
}

/**
 * The trade-off scatter: x = TRA, y = PS, area ∝ RTE, fill by type; the Pareto front
 * linked and outlined; Retrain labelled as the target. `onPick(id)` on click/Enter.
 */
function tradeoffView(rows, state, onPick) {
  const pts = rows.filter((r) => Number.isFinite(r.TRA) && Number.isFinite(r.PS));
  if (!pts.length) return h("div", { class: "mucomp-muted" }, "No model has both TRA and PS.");
  const readout = h("div", { class: "mucomp-tbl-readout", "aria-live": "polite" }, "Hover a point; click to set Model B.");
  const W = 320, H = 230, M = { l: 34, r: 10, t: 10, b: 30 };
  const x = scaleLinear().domain(paddedDomain(pts.map((r) => r.TRA), 0, 1)).range([M.l, W - M.r]);
  const y = scaleLinear().domain(paddedDomain(pts.map((r) => r.PS), 0, 1)).range([H - M.b, M.t]);
  const rte = pts.map((r) => r.RTE).filter(Number.isFinite);
  const radius = scaleSqrt().domain([0, Math.max(1e-9, ...rte)]).range([2.5, 11]);
  const rOf = (r) => (Number.isFinite(r.RTE) ? radius(r.RTE) : 3);
  const front = new Set(paretoIds(pts));
  const frontPts = pts.filter((r) => front.has(r.id)).sort((a, b) => a.TRA - b.TRA);
  const show = (r) => { readout.textContent = pointText(r); };
  const dots = pts.slice().sort((a, b) => rOf(b) - rOf(a)).map((r) => svg("circle", {
    cx: x(r.TRA), cy: y(r.PS), r: rOf(r), fill: typeColor(r.type), tabindex: 0, role: "button",
    class: `mucomp-tbl-pt${front.has(r.id) ? " mucomp-tbl-front" : ""}`, "data-id": r.id, "data-focus": `pt:${r.id}`,
    "aria-label": `${pointText(r)}. Set as Model B`,
    onpointerenter: () => show(r), onfocus: () => show(r), onclick: () => onPick(r.id),
    onkeydown: (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); onPick(r.id); } },
  }));
  const ring = (id, color) => {
    const r = pts.find((p) => p.id === id);
    return r && svg("circle", { cx: x(r.TRA), cy: y(r.PS), r: rOf(r) + 3, stroke: color, class: "mucomp-tbl-ring" });
  };
  const retrain = pts.find((r) => r.type === "Retrain");
  const plot = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "mucomp-tbl-chart", role: "group",
    "aria-label": "Trade-off: TRA against PS, point area is RTE" },
  axes(x, y, { xLabel: "TRA (utility) →", yLabel: "PS (privacy) →", xFmt: (v) => v.toFixed(2), yFmt: (v) => v.toFixed(1) }),
  frontPts.length > 1 ? svg("path", { d: line()(frontPts.map((r) => [x(r.TRA), y(r.PS)])), class: "mucomp-tbl-frontline" }) : null,
  dots, ring(state.modelA, EMERALD), ring(state.modelB, PURPLE),
  retrain ? svg("text", { x: x(retrain.TRA), y: y(retrain.PS) - rOf(retrain) - 3, "text-anchor": "middle",
    class: "mucomp-tbl-target" }, "Retrain (target)") : null);
  return h("div", { class: "mucomp-tbl-tradeoff" }, plot, readout, typeLegend(pts),
    h("div", { class: "mucomp-tbl-caption" },
      "Pareto front (outlined, linked): unlearned models that no other unlearned model matches or beats on TRA, PS and "
      + "RTE at once (better on at least one). A missing RTE counts as slowest. Area ∝ RTE; rings: Model A/B."));
}

function typeLegend(rows) {
  const types = [...new Set(rows.map((r) => r.type))];
  return h("div", { class: "mucomp-tbl-legend" }, types.map((t) =>
    h("span", { class: "mucomp-tbl-key" }, h("span", { class: "mucomp-tbl-dot", style: { background: typeColor(t) } }), t)));
}

// ------------------------------------------------------------------ table parts

function colourLegend() {
  const ramp = (scheme) => `linear-gradient(to right, ${[0, 0.5, 1].map((u) =>
    interpolate(SCHEMES[scheme], RAMP_LO + (RAMP_HI - RAMP_LO) * u)).join(", ")})`;
  return h("div", { class: "mucomp-tbl-legend", title: "Darker cells are better" },
    [["greens", "Accuracy"], ["blues", "Efficiency"], ["oranges", "Privacy"], ["greys", "Avg. gap"]].map(([s, label]) =>
      h("span", { class: "mucomp-tbl-key" }, h("span", { class: "mucomp-tbl-ramp", style: { background: ramp(s) } }), label)),
    h("span", { class: "mucomp-muted" }, "darker = better"));
}

function typeBadge(type) {
  return h("span", { class: "mucomp-tbl-badge", style: { background: typeColor(type), color: type === "Retrain" ? "#ffffff" : "#111827" } }, type);
}

/** Keep keyboard focus on the "same" control across a re-render (matched by data-focus). */
function keepFocus(container, render) {
  const active = document.activeElement;
  const key = container.contains(active) ? active.getAttribute("data-focus") : null;
  render();
  if (key) [...container.querySelectorAll("[data-focus]")].find((n) => n.getAttribute("data-focus") === key)?.focus();
}

let uid = 0;

/**
 * Mount the Model Screening table.
 * @param {HTMLElement} el
 * @param {{store: ReturnType<typeof import("../lib/store.js").createStore>, send: (msg: object) => void}} ctx
 * @returns {() => void} cleanup
 */
export function mountTable(el, ctx) {
  const { store, send } = ctx;
  const group = `mucomp-tbl-${++uid}`;
  const ui = { view: "table", sort: { key: null, dir: null }, hidden: new Set(), extras: new Set(),
    expanded: false, confirm: null, deleting: new Set() };
  let confirmTimer = null;

  const viewBtns = h("div", { class: "mucomp-tbl-views", role: "radiogroup", "aria-label": "View" });
  const methodMenu = h("div", { class: "mucomp-tbl-menubody" });
  const columnMenu = h("div", { class: "mucomp-tbl-menubody" });
  const methodSummary = h("summary", {}, "Methods");
  const expandBtn = h("button", { class: "mucomp-tbl-expand", "aria-pressed": "false", "data-focus": "expand", onclick: () => setUi({ expanded: !ui.expanded }) }, "Expand");
  const traceBox = h("div", { class: "mucomp-tbl-tracebox", hidden: true });
  const body = h("div", { class: "mucomp-tbl-body" });
  el.append(
    h("div", { class: "mucomp-panel-title" }, "Model Screening"),
    h("div", { class: "mucomp-tbl-toolbar" }, viewBtns,
      h("details", { class: "mucomp-tbl-menu" }, methodSummary, methodMenu),
      h("details", { class: "mucomp-tbl-menu" }, h("summary", {}, "Columns"), columnMenu),
      expandBtn),
    traceBox, body);

  function setUi(patch) {
    Object.assign(ui, patch);
    keepFocus(el, () => { drawToolbar(); drawBody(); });
  }

  function choose(side, id) {
    store.set(chooseModel(store.get(), side, id));
  }

  function drawToolbar() {
    const { runs, meta } = store.get();
    viewBtns.replaceChildren(...[["table", "Table"], ["tradeoff", "Trade-off"]].map(([v, label]) =>
      h("button", { role: "radio", "aria-checked": String(ui.view === v), class: ui.view === v ? "mucomp-active" : "",
        "data-focus": `view:${v}`,
        onclick: () => setUi({ view: v }) }, label)));
    const keys = [...new Set(runs.map(filterKey))];
    methodSummary.textContent = ui.hidden.size ? `Methods (${keys.filter((k) => !ui.hidden.has(k)).length}/${keys.length})` : "Methods";
    methodMenu.replaceChildren(...keys.map((k) => h("label", {},
      h("input", { type: "checkbox", checked: !ui.hidden.has(k), "data-focus": `method:${k}`, onchange: (ev) => toggle(ui.hidden, k, !ev.target.checked) }),
      methodLabel(meta, k))));
    columnMenu.replaceChildren(...metricKeys(meta).extra.map((k) => h("label", { title: (meta.columns || {})[k] || k },
      h("input", { type: "checkbox", checked: ui.extras.has(k), "data-focus": `column:${k}`, onchange: (ev) => toggle(ui.extras, k, ev.target.checked) }),
      k)));
    expandBtn.setAttribute("aria-pressed", String(ui.expanded));
    expandBtn.textContent = ui.expanded ? "Collapse" : "Expand";
  }

  function toggle(set, key, on) {
    if (on) set.add(key); else set.delete(key);
    setUi({});
  }

  function drawBody() {
    const state = store.get();
    const rows = state.runs.filter((r) => !ui.hidden.has(filterKey(r)));
    const old = body.querySelector(".mucomp-tbl-scroll");
    body.replaceChildren(ui.view === "tradeoff"
      ? tradeoffView(rows, state, (id) => choose("B", id))
      : tableView(state, sortRows(rows, ui.sort.key, ui.sort.dir)));
    const scroll = body.querySelector(".mucomp-tbl-scroll");
    if (old && scroll) Object.assign(scroll, { scrollTop: old.scrollTop, scrollLeft: old.scrollLeft });
  }

  function tableView(state, rows) {
    const cols = visibleColumns(state.meta, ui.extras);
    const stats = tableStats(state.runs);
    const table = h("table", { class: "mucomp-tbl-table" },
      h("thead", {}, h("tr", {}, cols.map(headerCell),
        h("th", { class: "mucomp-tbl-side", title: "Model A (emerald)" }, "A"),
        h("th", { class: "mucomp-tbl-side", title: "Model B (purple)" }, "B"),
        h("th", {}, h("span", { class: "mucomp-tbl-sr" }, "Delete")))),
      h("tbody", {}, rows.map((r) => tableRow(state, r, cols, stats))));
    return h("div", {},
      h("div", { class: `mucomp-tbl-scroll${ui.expanded ? " mucomp-tbl-expanded" : ""}` }, table),
      rows.length ? null : h("div", { class: "mucomp-muted" }, "No model matches the method filter."),
      colourLegend());
  }

  function headerCell(col) {
    if (!col.sortable) return h("th", { title: col.title, scope: "col" }, col.label);
    const dir = ui.sort.key === col.key ? ui.sort.dir : null;
    return h("th", { title: col.title, scope: "col", "aria-sort": dir ? `${dir}ending` : "none", "data-key": col.key },
      h("button", { class: "mucomp-tbl-sort", "data-focus": `sort:${col.key}`, onclick: () => setUi({ sort: nextSort(ui.sort, col.key) }) },
        col.key === "RTE" ? "RTE (s)" : col.label, h("span", { "aria-hidden": "true" }, dir === "desc" ? " ▼" : dir === "asc" ? " ▲" : "")));
  }

  function tableRow(state, r, cols, stats) {
    const cls = [r.id === state.modelA && "mucomp-tbl-a", r.id === state.modelB && "mucomp-tbl-b",
      r.has_trace && "mucomp-tbl-traced", r.id === state.traceRun && "mucomp-tbl-open"].filter(Boolean).join(" ");
    return h("tr", { "data-id": r.id, class: cls, onclick: (ev) => openTrace(ev, r) },
      cols.map((c) => dataCell(state, r, c, stats)),
      sideCell(state, r, "A"), sideCell(state, r, "B"), deleteCell(state, r));
  }

  function dataCell(state, r, col, stats) {
    if (col.key === "type") return h("td", {}, typeBadge(r.type));
    if (col.key === "id" && r.has_trace) {
      return h("td", {}, h("button", { class: "mucomp-tbl-idbtn", "data-focus": `trace:${r.id}`,
        "aria-label": `Epoch-wise metrics of ${r.id}`, onclick: () => store.set({ traceRun: r.id }) }, r.id));
    }
    const style = cellStyle(col.key, r[col.key], stats);
    return h("td", { class: col.sortable ? "mucomp-tbl-num" : "", style: style || null }, cellText(state.meta, r, col.key));
  }

  function sideCell(state, r, side) {
    const id = side === "A" ? state.modelA : state.modelB;
    return h("td", { class: "mucomp-tbl-side" }, h("input", {
      type: "radio", name: `${group}-${side}`, class: `mucomp-tbl-radio-${side.toLowerCase()}`, checked: id === r.id,
      "aria-label": `Model ${side}: ${r.id}`, "data-focus": `${side}:${r.id}`, onchange: () => choose(side, r.id),
    }));
  }

  function deleteCell(state, r) {
    if (r.type !== "Unlearned" && r.type !== "Uploaded") return h("td", {});
    const busy = ui.deleting.has(r.id);
    const confirming = ui.confirm === r.id;
    const blocked = state.isStatic || Boolean(state.progress?.running);
    return h("td", {}, h("button", {
      class: `mucomp-tbl-del${confirming ? " mucomp-tbl-confirm" : ""}`, "data-focus": `del:${r.id}`,
      disabled: blocked || busy, "aria-label": confirming ? `Confirm deleting ${r.id}` : `Delete ${r.id}`,
      title: blocked ? "Not while a build runs or in an exported page" : "Delete (click twice)",
      onclick: () => onDelete(r.id),
    }, busy ? "…" : confirming ? "Delete?" : "✕"));
  }

  function onDelete(id) {
    clearTimeout(confirmTimer);
    if (ui.confirm !== id) {
      confirmTimer = setTimeout(() => setUi({ confirm: null }), 4000);
      setUi({ confirm: id });
      return;
    }
    ui.deleting.add(id);
    setUi({ confirm: null });
    send({ type: "delete", id });
  }

  function openTrace(ev, r) {
    if (!r.has_trace || ev.target.closest("input, button, label")) return;
    store.set({ traceRun: store.get().traceRun === r.id ? null : r.id });
  }

  function drawTrace() {
    const { traceRun, models, runs } = store.get();
    traceBox.hidden = !traceRun;
    if (!traceRun) return traceBox.replaceChildren();
    const trace = models?.[traceRun]?.trace;
    const row = runs.find((r) => r.id === traceRun);
    traceBox.setAttribute("role", "dialog");
    traceBox.setAttribute("aria-label", `Epoch-wise metrics (${traceRun})`);
    traceBox.replaceChildren(
      h("div", { class: "mucomp-tbl-tracehead" }, h("span", {}, `Epoch-wise metrics (${traceRun})`),
        h("button", { class: "mucomp-tbl-close", "aria-label": "Close epoch-wise metrics", onclick: () => store.set({ traceRun: null }) }, "✕")),
      trace ? traceChart(trace, row?.best_epoch) : h("div", { class: "mucomp-muted" }, "No epoch-wise metrics for this run."),
      trace ? traceLegend() : null);
  }

  function onKey(ev) {
    if (ev.key !== "Escape") return;
    if (store.get().traceRun) store.set({ traceRun: null });
    if (ui.confirm) setUi({ confirm: null });
  }

  const unsub = store.subscribe((s, prev) => keepFocus(el, () => {
    if (changed(s, prev, "runs", "error")) ui.deleting.clear();
    if (changed(s, prev, "runs", "meta")) drawToolbar();
    const runningChanged = Boolean(s.progress?.running) !== Boolean(prev.progress?.running);
    if (runningChanged || changed(s, prev, "runs", "meta", "modelA", "modelB", "isStatic", "traceRun", "error")) drawBody();
    if (changed(s, prev, "traceRun", "models", "runs")) drawTrace();
  }));
  document.addEventListener("keydown", onKey);
  drawToolbar();
  drawBody();
  drawTrace();

  return () => {
    unsub();
    document.removeEventListener("keydown", onKey);
    clearTimeout(confirmTimer);
    el.replaceChildren();
  };
}
