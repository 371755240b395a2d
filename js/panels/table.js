// Model Screening table: one row per run, metrics first (with the gap to Retrain), then the
// hyperparameters that vary among the runs shown, the constant ones on request; a row click
// picks Model B (Shift+click: Model A); sorting, a method filter, colours by the metric's
// family and direction (meta.metrics), epoch-wise traces, deletion, and a "Trade-off"
// scatter (TRA vs PS, area = RTE) with the Pareto front.

import { scaleLinear, scaleSqrt } from "d3-scale";
import { line } from "d3-shape";
import { fmt, h } from "../lib/dom.js";
import { changed, modelsChanged } from "../lib/store.js";
import { EMERALD, PURPLE, typeColor } from "../lib/colors.js";
import { bestIds, directionHint, metricLabel, metricsOf, metricTitle } from "../lib/metric-info.js";

// ------------------------------------------------------------------ colour scales

/** 9-class ColorBrewer sequential schemes (the stops d3-scale-chromatic interpolates). */
export const SCHEMES = {
  greens: ["#f7fcf5", "#e5f5e0", "#c7e9c0", "#a1d99b", "#74c476", "#41ab5d", "#238b45", "#006d2c", "#00441b"],
  blues: ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"],
  oranges: ["#fff5eb", "#fee6ce", "#fdd0a2", "#fdae6b", "#fd8d3c", "#f16913", "#d94801", "#a63603", "#7f2704"],
  greys: ["#ffffff", "#f0f0f0", "#d9d9d9", "#bdbdbd", "#969696", "#737373", "#525252", "#252525", "#000000"],
};
/** The reference's colours per metric family; other families are grey. */
const FAMILY_SCHEME = { accuracy: "greens", efficiency: "blues", privacy: "oranges", summary: "greys" };
const RAMP_LO = 0.03;
const RAMP_HI = 0.75;
/** Distance from the best value (of a fraction) that gets the lightest shade, as the reference's UA. */
const NEAR = 0.2;
/** Seconds that get the lightest shade at least (the reference's RT ramp: 160 s → 0). */
const SECONDS_LIGHT = 160;

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

/**
 * Table-wide numbers the scales depend on: each metric's largest value and the Retrain row.
 * @param {import("../lib/types.js").Row[]} runs
 * @param {import("../lib/metric-info.js").MetricInfo[]} metrics
 */
export function tableStats(runs, metrics) {
  const max = Object.fromEntries(metrics.map((m) =>
    [m.key, Math.max(0, ...runs.map((r) => r[m.key]).filter(Number.isFinite))]));
  return { max, retrain: runs.find((r) => r.type === "Retrain") || null };
}

/**
 * Scheme and domain of a metric's cell: [scheme, value, light end, dark end], or null when
 * it cannot be coloured. Darker is always better, by the metric's direction: closeness to
 * Retrain's value (for a metric with a unit, relative to that value) or the target; fractions over [0, 1] (higher) or [0.2, 0] (lower);
 * other units over the table's range (seconds: at least 160 s, as the reference).
 */
function colourRule(m, v, stats) {
  const scheme = FAMILY_SCHEME[m.family] || "greys";
  const near = (ref, span = NEAR) => (Number.isFinite(ref) ? [scheme, Math.abs(v - ref), span, 0] : null);
  const top = stats.max[m.key] ?? 0;
  const ref = stats.retrain?.[m.key];
  switch (m.direction) {
    // a count or time: a gap as large as Retrain's own value (at least 1) is the lightest
    case "retrain": return near(ref, m.unit && Number.isFinite(ref) ? Math.max(1, Math.abs(ref)) : NEAR);
    case "target": return near(m.target);
    case "higher": return [scheme, v, 0, m.unit ? top : 1];
    case "lower": return m.unit ? [scheme, v, Math.max(m.unit === "s" ? SECONDS_LIGHT : 0, top), 0] : [scheme, v, NEAR, 0];
    default: return null;
  }
}

/**
 * Background and text colour of a metric cell, or null (missing value, no Retrain to compare).
 * @param {import("../lib/metric-info.js").MetricInfo} m  the metric's declaration
 * @param {number|null} v
 * @param {ReturnType<typeof tableStats>} stats
 * @returns {{background: string, color: string}|null}
 */
export function cellStyle(m, v, stats) {
  if (!Number.isFinite(v)) return null;
  const rule = colourRule(m, v, stats);
  if (!rule) return null;
  const [scheme, value, light, dark] = rule;
  const background = interpolate(SCHEMES[scheme], rampT(value, light, dark));
  return { background, color: luminance(background) < 0.36 ? "#ffffff" : "#111827" };
}

// ------------------------------------------------------------------ sorting, Pareto

const missing = (v) => v == null || Number.isNaN(v);

/**
 * Rows sorted by `key` ("desc" | "asc"); missing values always last; numbers by value, other
 * values as text; stable; a copy. With no key or direction the order is unchanged.
 * @param {(row: object) => any} [value]  the sort value of a row (default: row[key])
 */
export function sortRows(rows, key, dir, value = (r) => r[key]) {
  if (!key || !dir) return rows.slice();
  const sign = dir === "asc" ? 1 : -1;
  return rows.slice().sort((a, b) => {
    const x = value(a), y = value(b);
    if (missing(x) || missing(y)) return Number(missing(x)) - Number(missing(y));
    return sign * (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y)));
  });
}

/** Next sort state after clicking `key`: desc → asc → none. */
export function nextSort(sort, key) {
  if (sort.key !== key || !sort.dir) return { key, dir: "desc" };
  return sort.dir === "desc" ? { key, dir: "asc" } : { key: null, dir: null };
}

/**
 * Ids of the Pareto-optimal unlearned/uploaded models: no other such model has TRA ≥,
 * PS ≥ and cost ≤ (column `costKey`, default RTE) with at least one strict. A missing
 * cost counts as the highest; rows without TRA or PS are left out, and so are the
 * Original and Retrain references.
 * @param {import("../lib/types.js").Row[]} rows
 * @param {string} [costKey]
 * @returns {string[]}
 */
export function paretoIds(rows, costKey = "RTE") {
  const cand = rows.filter((r) => (r.type === "Unlearned" || r.type === "Uploaded")
    && Number.isFinite(r.TRA) && Number.isFinite(r.PS));
  const cost = (r) => (Number.isFinite(r[costKey]) ? r[costKey] : Infinity);
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

// ------------------------------------------------------------------ seed groups

/** Start of every group row's id: run ids never hold control characters, so none collides. */
const GROUP_ID = "\u0001group:";

/** Mean and sample standard deviation (n − 1; NaN for one value) of the finite values. */
export function meanStd(values) {
  const v = values.filter(Number.isFinite);
  if (!v.length) return [NaN, NaN];
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : NaN;
  return [mean, sd];
}

/**
 * Rows with the runs of each seed group (`row.group`, from `study.unlearn(..., seeds=...)`)
 * gathered under one group row, placed where the group's first run was: its metrics are the
 * members' means (`sd` holds the sample standard deviations, as `Study.summary()`), its
 * settings those the members share. A group of one run stays a plain row.
 * @param {import("../lib/types.js").Row[]} rows
 * @param {string[]} metricKeys
 * @returns {object[]} plain rows and group rows (`isGroup`, `group`, `members`, `n`, `sd`)
 */
export function groupUnits(rows, metricKeys) {
  const members = new Map();
  for (const r of rows) if (r.group != null) members.set(r.group, [...(members.get(r.group) || []), r]);
  const out = [];
  const placed = new Set();
  for (const r of rows) {
    const runs = r.group != null ? members.get(r.group) : null;
    if (!runs || runs.length < 2) { out.push(r); continue; }
    if (placed.has(r.group)) continue;
    placed.add(r.group);
    const shared = (get) => (new Set(runs.map((m) => JSON.stringify(get(m)))).size === 1 ? get(runs[0]) : undefined);
    const hpNames = [...new Set(runs.flatMap((m) => Object.keys(m.hp || {})))];
    const g = { id: `${GROUP_ID}${r.group}`, isGroup: true, group: r.group, members: runs, n: runs.length,
      type: shared((m) => m.type), method: shared((m) => m.method), base: shared((m) => m.base),
      hp: Object.fromEntries(hpNames.map((k) => [k, shared((m) => m.hp?.[k])])), sd: {} };
    for (const key of metricKeys) [g[key], g.sd[key]] = meanStd(runs.map((m) => m[key]));
    out.push(g);
  }
  return out;
}

// ------------------------------------------------------------------ columns

/** Label and meaning of the run fields and of the common hyperparameters. */
const FIELD_INFO = {
  type: ["Type", "Original, Retrain (the target), Unlearned or Uploaded"],
  method: ["Method", "unlearning method"],
  base: ["Base", "model the run started from"],
  seed: ["Seed", "random seed of the run"],
  epochs: ["Epoch", "training epochs"],
  batch_size: ["BS", "batch size"],
  lr: ["LR", "learning rate"],
};

const methodLabel = (meta, name) => (meta.methods || []).find((m) => m.name === name)?.label || name;
const filterKey = (row) => row.method ?? row.type;

/** A setting as text: numbers to 4 significant digits (1e-4 stays "0.0001"), "–" for none. */
function settingText(v) {
  if (missing(v)) return "–";
  if (typeof v === "number") return String(Number(v.toPrecision(4)));
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

/**
 * @typedef {{key: string, label: string, title: string, value: (row: object) => any,
 *   text: (row: object) => string, metric?: import("../lib/metric-info.js").MetricInfo}} Column
 */

/** @returns {Column} */
function metricColumn(m) {
  return { key: m.key, label: metricLabel(m), title: metricTitle(m), metric: m,
    value: (r) => r[m.key], text: (r) => fmt(r[m.key], m.unit ? 1 : 3) };
}

/** @returns {Column} */
function fieldColumn(key, meta) {
  const [label, desc] = FIELD_INFO[key];
  return { key, label, title: `${label}: ${desc}`, value: (r) => r[key],
    text: key === "method" ? (r) => (r.method ? methodLabel(meta, r.method) : "–") : (r) => settingText(r[key]) };
}

/** @returns {Column} a hyperparameter from the row's `hp` */
function hpColumn(name) {
  const [label, desc] = FIELD_INFO[name] || [name, "hyperparameter"];
  const value = (r) => r.hp?.[name];
  return { key: `hp:${name}`, label, title: `${label}: ${desc} (${name})`, value, text: (r) => settingText(value(r)) };
}

/**
 * The table's columns for the rows shown: the metrics (the default ones, or as ticked in the
 * Columns menu), the settings that vary among the unlearned rows, and the constant ones
 * (type first). A setting varies when it takes two values among them, or is set in some
 * and not in others.
 * @param {Map<string, boolean>} ticked  metric key -> shown, where the user chose
 * @returns {{metrics: Column[], varying: Column[], constant: Column[]}}
 */
export function tableColumns(meta, rows, ticked) {
  const metrics = metricsOf(meta).filter((m) => ticked.get(m.key) ?? m.default).map(metricColumn);
  const unlearned = rows.filter((r) => r.type === "Unlearned");
  const hpNames = [...new Set(unlearned.flatMap((r) => Object.keys(r.hp || {})))];
  const settings = [fieldColumn("method", meta), fieldColumn("base", meta), ...hpNames.map(hpColumn), fieldColumn("seed", meta)];
  const varies = (c) => new Set(unlearned.map((r) => JSON.stringify(c.value(r)) ?? "absent")).size > 1;
  return { metrics, varying: settings.filter(varies), constant: [fieldColumn("type", meta), ...settings.filter((c) => !varies(c))] };
}

/** "Δ+0.030" / "Δ−1.5": a value's signed gap to Retrain's, in the metric's precision. */
function gapText(m, d) {
  return `Δ${d < 0 ? "−" : "+"}${fmt(Math.abs(d), m.unit ? 1 : 3)}`;
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

const TRACE_COLORS = ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#6b7280", "#db2777", "#65a30d"];

/** The declared metrics the trace holds, each with a colour and (every other) a dash. */
function traceLines(meta, trace) {
  return metricsOf(meta).filter((m) => Array.isArray(trace[m.key])).map((m, i) =>
    ({ key: m.key, label: m.label, color: TRACE_COLORS[i % TRACE_COLORS.length], dash: i % 2 ? "4 3" : "" }));
}

/** SVG line chart of a run's epoch trace; the best epoch gets a dashed marker. */
function traceChart(trace, bestEpoch, lines) {
  const epochs = trace.epoch || (trace[lines[0]?.key] || []).map((_, i) => i);
  const W = 320, H = 170, M = { l: 30, r: 8, t: 8, b: 28 };
  const x = scaleLinear().domain([Math.min(...epochs), Math.max(...epochs, Math.min(...epochs) + 1)])
    .range([M.l, W - M.r]);
  const y = scaleLinear().domain([0, 1]).range([H - M.b, M.t]);
  const paths = lines.map(({ key, color, dash }) => {
    const path = line().defined((d) => Number.isFinite(d[1])).x((d) => x(d[0])).y((d) => y(d[1]));
    return svg("path", { d: path(epochs.map((e, i) => [e, trace[key][i]])), stroke: color,
      "stroke-dasharray": dash || null, class: "mucomp-tbl-line", "data-key": key });
  });
  const best = Number.isFinite(bestEpoch) ? svg("g", { class: "mucomp-tbl-best" },
    svg("line", { x1: x(bestEpoch), x2: x(bestEpoch), y1: y(0), y2: y(1) }),
    svg("text", { x: x(bestEpoch) + 3, y: y(1) + 9 }, `best (${bestEpoch})`)) : null;
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "mucomp-tbl-chart", role: "img",
    "aria-label": `Epoch-wise ${lines.map((l) => l.label).join(", ")} over ${epochs.length} epochs` },
  axes(x, y, { xLabel: "epoch", yLabel: "value", yFmt: (v) => v.toFixed(1), xInt: true }), paths, best);
}

function traceLegend(lines) {
  return h("div", { class: "mucomp-tbl-legend" }, lines.map(({ label, color, dash }) =>
    h("span", { class: "mucomp-tbl-key" },
      h("span", { class: "mucomp-tbl-swatch-line", style: { borderTopColor: color, borderTopStyle: dash ? "dashed" : "solid" } }),
      label)));
}

// ------------------------------------------------------------------ relearning probe

const RELEARN_LINES = [["ua_run", "this run", "#9333ea", ""], ["ua_retrain", "Retrain", "#6b7280", "4 3"]];

/** "step 3" / "not within 20 steps": when a curve first reached the threshold. */
function reachedText(step, steps) {
  return step == null ? `not within ${steps} steps` : `step ${step}`;
}

/**
 * Forget accuracy after each fine-tuning step on a slice of the forget set, the run's and
 * Retrain's (study.audit("relearn", ...)), with the threshold and when each reached it.
 */
function relearnView(rl) {
  const W = 320, H = 170, M = { l: 30, r: 8, t: 8, b: 28 };
  const steps = rl.ua_run.length - 1;
  const x = scaleLinear().domain([0, Math.max(1, steps)]).range([M.l, W - M.r]);
  const y = scaleLinear().domain([0, 1]).range([H - M.b, M.t]);
  const paths = RELEARN_LINES.map(([key, , color, dash]) => svg("path", {
    d: line().defined((d) => Number.isFinite(d[1])).x((d) => x(d[0])).y((d) => y(d[1]))(Array.from(rl[key], (v, i) => [i, v])),
    stroke: color, "stroke-dasharray": dash || null, class: "mucomp-tbl-line", "data-key": key }));
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "mucomp-tbl-chart", role: "img",
    "aria-label": `Relearning: forget accuracy over ${steps} fine-tuning steps; this run reaches ${fmt(rl.threshold)} at `
      + `${reachedText(rl.steps_run, steps)}, Retrain at ${reachedText(rl.steps_retrain, steps)}` },
  axes(x, y, { xLabel: "fine-tuning step on forget samples", yLabel: "forget accuracy (UA)", yFmt: (v) => v.toFixed(1), xInt: true }),
  svg("line", { x1: x(0), x2: x(Math.max(1, steps)), y1: y(rl.threshold), y2: y(rl.threshold), class: "mucomp-tbl-threshold" }),
  paths);
  return h("div", { class: "mucomp-tbl-relearn" },
    h("div", { class: "mucomp-tbl-subhead" }, "Relearning probe"),
    chart,
    h("div", { class: "mucomp-tbl-legend" }, RELEARN_LINES.map(([, label, color, dash]) => h("span", { class: "mucomp-tbl-key" },
      h("span", { class: "mucomp-tbl-swatch-line", style: { borderTopColor: color, borderTopStyle: dash ? "dashed" : "solid" } }), label))),
    h("div", { class: "mucomp-tbl-caption" },
      `${rl.samples} labelled forget samples, lr ${settingText(rl.lr)}: UA ≥ ${fmt(rl.threshold)} at ${reachedText(rl.steps_run, steps)} `
      + `(Retrain: ${reachedText(rl.steps_retrain, steps)}). Knowledge that returns much faster than on Retrain was hidden, not removed.`));
}

// ------------------------------------------------------------------ trade-off scatter

/** A cost value with its unit, "–" when missing. */
function costText(m, v) {
  if (missing(v)) return "–";
  const digits = Math.abs(v) >= 100 ? 0 : 1;
  return `${v.toLocaleString("en-US", { maximumFractionDigits: m.unit === "x" ? 2 : digits })}${m.unit === "s" ? " s" : m.unit === "x" ? "×" : ` ${m.unit}`}`;
}

/** Readout text for a point. */
function pointText(r, m) {
  return `${r.id} (${r.type}) · TRA ${fmt(r.TRA)} · PS ${fmt(r.PS)} · ${m.label} ${costText(m, r[m.key])}`;
}

/** The costs the trade-off view can draw as point area: the efficiency columns. */
export function costMetrics(meta) {
  const costs = metricsOf(meta).filter((m) => m.family === "efficiency");
  return costs.length ? costs : [{ key: "RTE", label: "RTE", unit: "s", family: "efficiency" }];
}

/**
 * The trade-off scatter: x = TRA, y = PS, area ∝ the chosen cost (RTE unless `costKey`
 * names another efficiency column), fill by type; the Pareto front linked and outlined;
 * Retrain labelled as the target. `onPick(id)` on click/Enter; `onCost(key)` when the
 * area's cost is changed.
 */
function tradeoffView(rows, state, onPick, costKey, onCost) {
  const costs = costMetrics(state.meta);
  const m = costs.find((c) => c.key === costKey) || costs[0];
  const pts = rows.filter((r) => Number.isFinite(r.TRA) && Number.isFinite(r.PS));
  if (!pts.length) return h("div", { class: "mucomp-muted" }, "No model has both TRA and PS.");
  const readout = h("div", { class: "mucomp-tbl-readout", "aria-live": "polite" }, "Hover a point; click to set Model B.");
  const W = 320, H = 230, M = { l: 34, r: 10, t: 10, b: 30 };
  const x = scaleLinear().domain(paddedDomain(pts.map((r) => r.TRA), 0, 1)).range([M.l, W - M.r]);
  const y = scaleLinear().domain(paddedDomain(pts.map((r) => r.PS), 0, 1)).range([H - M.b, M.t]);
  const cost = pts.map((r) => r[m.key]).filter(Number.isFinite);
  const radius = scaleSqrt().domain([0, Math.max(1e-9, ...cost)]).range([2.5, 11]);
  const rOf = (r) => (Number.isFinite(r[m.key]) ? radius(r[m.key]) : 3);
  const front = new Set(paretoIds(pts, m.key));
  const frontPts = pts.filter((r) => front.has(r.id)).sort((a, b) => a.TRA - b.TRA);
  const show = (r) => { readout.textContent = pointText(r, m); };
  const dots = pts.slice().sort((a, b) => rOf(b) - rOf(a)).map((r) => svg("circle", {
    cx: x(r.TRA), cy: y(r.PS), r: rOf(r), fill: typeColor(r.type), tabindex: 0, role: "button",
    class: `mucomp-tbl-pt${front.has(r.id) ? " mucomp-tbl-front" : ""}`, "data-id": r.id, "data-focus": `pt:${r.id}`,
    "aria-label": `${pointText(r, m)}. Set as Model B`,
    onpointerenter: () => show(r), onfocus: () => show(r), onclick: () => onPick(r.id),
    onkeydown: (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); onPick(r.id); } },
  }));
  const ring = (id, color) => {
    const r = pts.find((p) => p.id === id);
    return r && svg("circle", { cx: x(r.TRA), cy: y(r.PS), r: rOf(r) + 3, stroke: color, class: "mucomp-tbl-ring" });
  };
  const retrain = pts.find((r) => r.type === "Retrain");
  const groups = groupUnits(pts, ["TRA", "PS"]).filter((u) => u.isGroup && Number.isFinite(u.sd.TRA) && Number.isFinite(u.sd.PS));
  const bars = groups.map((g) => {
    const [cx, cy] = [x(g.TRA), y(g.PS)];
    const [x0, x1] = [x(g.TRA - g.sd.TRA), x(g.TRA + g.sd.TRA)], [y0, y1] = [y(g.PS - g.sd.PS), y(g.PS + g.sd.PS)];
    return svg("g", { class: "mucomp-tbl-errbar", "data-group": g.group },
      svg("title", {}, `${g.group} (${g.n} seeds): TRA ${fmt(g.TRA)} ± ${fmt(g.sd.TRA)}, PS ${fmt(g.PS)} ± ${fmt(g.sd.PS)}`),
      svg("line", { x1: x0, x2: x1, y1: cy, y2: cy }), svg("line", { x1: cx, x2: cx, y1: y0, y2: y1 }),
      svg("line", { x1: x0, x2: x0, y1: cy - 3, y2: cy + 3 }), svg("line", { x1: x1, x2: x1, y1: cy - 3, y2: cy + 3 }),
      svg("line", { x1: cx - 3, x2: cx + 3, y1: y0, y2: y0 }), svg("line", { x1: cx - 3, x2: cx + 3, y1: y1, y2: y1 }));
  });
  const plot = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "mucomp-tbl-chart", role: "group",
    "aria-label": `Trade-off: TRA against PS, point area is ${m.label}` },
  axes(x, y, { xLabel: "TRA (utility) →", yLabel: "PS (privacy) →", xFmt: (v) => v.toFixed(2), yFmt: (v) => v.toFixed(1) }),
  frontPts.length > 1 ? svg("path", { d: line()(frontPts.map((r) => [x(r.TRA), y(r.PS)])), class: "mucomp-tbl-frontline" }) : null,
  bars, dots, ring(state.modelA, EMERALD), ring(state.modelB, PURPLE),
  retrain ? targetLabel(x(retrain.TRA), y(retrain.PS), rOf(retrain), W) : null);
  const picker = h("label", { class: "mucomp-tbl-costpick" }, "Area: ",
    h("select", { "data-focus": "tradeoff-cost", onchange: (ev) => onCost(ev.target.value) },
      costs.map((c) => h("option", { value: c.key, selected: c.key === m.key, title: c.description || "" }, metricLabel(c)))));
  return h("div", { class: "mucomp-tbl-tradeoff" }, picker, plot, readout, typeLegend(pts),
    h("div", { class: "mucomp-tbl-caption" },
      `Pareto front (outlined, linked): unlearned models that no other unlearned model matches or beats on TRA, PS and `
      + `${m.label} at once (better on at least one). A missing ${m.label} counts as the highest. Area ∝ ${m.label}; rings: Model A/B.`
      + (bars.length ? " Crosses: mean ± standard deviation of each seed group." : "")));
}

/** The Retrain point's label and its font size in px (table.css). */
export const TARGET_TEXT = "Retrain (target)";
export const TARGET_FONT = 10;

/**
 * The "Retrain (target)" label above its point (below it when there is no room above),
 * running inward from the point's x: it ends there in the plot's right half and starts
 * there in the left half. Being narrower than half the plot, it is never clipped.
 */
function targetLabel(cx, cy, r, width) {
  const above = cy - r - 3 >= TARGET_FONT + 2;
  return svg("text", { x: cx, y: above ? cy - r - 3 : cy + r + TARGET_FONT + 1,
    "text-anchor": cx > width / 2 ? "end" : "start", class: "mucomp-tbl-target" }, TARGET_TEXT);
}

function typeLegend(rows) {
  const types = [...new Set(rows.map((r) => r.type))];
  return h("div", { class: "mucomp-tbl-legend" }, types.map((t) =>
    h("span", { class: "mucomp-tbl-key" }, h("span", { class: "mucomp-tbl-dot", style: { background: typeColor(t) } }), t)));
}

// ------------------------------------------------------------------ table parts

/** Colour ramps of the families shown, and how to read the cells and pick models. */
function colourLegend(metrics) {
  const ramp = (scheme) => `linear-gradient(to right, ${[0, 0.5, 1].map((u) =>
    interpolate(SCHEMES[scheme], RAMP_LO + (RAMP_HI - RAMP_LO) * u)).join(", ")})`;
  const families = [...new Set(metrics.map((c) => c.metric.family))];
  return h("div", { class: "mucomp-tbl-legend" },
    families.map((f) => h("span", { class: "mucomp-tbl-key" },
      h("span", { class: "mucomp-tbl-ramp", style: { background: ramp(FAMILY_SCHEME[f] || "greys") } }),
      f.charAt(0).toUpperCase() + f.slice(1))),
    h("span", { class: "mucomp-muted" },
      "darker = better (↑ higher, ↓ lower, ≈R closest to Retrain); bold: best unlearned model; Δ: gap to Retrain"),
    h("span", { class: "mucomp-muted mucomp-tbl-help" }, "Click a row: Model B · Shift+click: Model A · click an ID: epoch-wise metrics"));
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

const ROW_HELP = "Click: set as Model B · Shift+click: set as Model A";

/** Rows drawn beyond the visible ones on each side: a long table draws only what is in view. */
const OVERSCAN = 10;
/** Tables of up to this many rows are drawn whole (cheap, and every row is in the page). */
const WINDOW_FROM = 50;
/** Row height in px (table.css) until a drawn row is measured. */
const ROW_H = 28;

/**
 * Rows to draw for a scroll box showing `viewH` px from `top` of `n` rows of `rowH` px:
 * the visible ones [first, last) and, with `over` to spare on each side, [start, end).
 */
export function rowWindow(top, viewH, rowH, n, over) {
  const first = Math.min(n, Math.max(0, Math.floor(top / rowH)));
  const last = Math.min(n, Math.max(first, Math.ceil((top + viewH) / rowH)));
  return { first, last, start: Math.max(0, first - over), end: Math.min(n, last + over) };
}

/** Width in ch of a column's widest cell, so that columns keep their width as rows scroll in. */
function columnCh(col, rows) {
  const chars = Math.max(0, ...rows.map((r) => col.text(r).length + (r.isGroup && col.metric ? 8 : 0))); // " ± 0.012"
  return col.metric ? Math.max(chars, 6) : chars * 1.1; // metric: room for the gap below ("Δ+0.030" at 9 px)
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
  const ui = { view: "table", sort: { key: null, dir: null }, hidden: new Set(), ticked: new Map(),
    allRows: false, constant: false, confirm: null, deleting: new Set(), open: new Set(), cost: "RTE" };
  let confirmTimer = null;
  let rowEls = new Map(); // run id -> its drawn <tr>, to mark Model A/B and the open trace in place
  let view = null; // the table as drawn: {scroll, thead, tbody, rows, drawn, draw(row)}; null for the trade-off view
  let rowH = ROW_H;
  // the scroll box can get its height after the first draw (layout, fonts): draw what is then in view
  const resizes = typeof ResizeObserver !== "undefined" ? new ResizeObserver(() => { if (view) drawRows(); }) : null;

  const viewBtns = h("div", { class: "mucomp-tbl-views", role: "radiogroup", "aria-label": "View" });
  const methodMenu = h("div", { class: "mucomp-tbl-menubody" });
  const columnMenu = h("div", { class: "mucomp-tbl-menubody" });
  const methodSummary = h("summary", {}, "Methods");
  const allRowsBtn = h("button", { class: "mucomp-tbl-allrows", "aria-pressed": "false", "data-focus": "allrows",
    title: "Let the table grow to its full height instead of scrolling inside a short box",
    onclick: () => showAllRows(!ui.allRows) }, "Show all rows");
  const constantBtn = h("button", { class: "mucomp-tbl-constbtn", "data-focus": "constant",
    onclick: () => setUi({ constant: !ui.constant }) });
  const traceBox = h("div", { class: "mucomp-tbl-tracebox", hidden: true });
  const body = h("div", { class: "mucomp-tbl-body" });
  el.append(
    h("div", { class: "mucomp-panel-title" }, "Model Screening"),
    h("div", { class: "mucomp-tbl-toolbar" }, viewBtns,
      h("details", { class: "mucomp-tbl-menu" }, methodSummary, methodMenu),
      h("details", { class: "mucomp-tbl-menu" }, h("summary", {}, "Columns"), columnMenu),
      constantBtn, allRowsBtn),
    traceBox, body);

  function setUi(patch) {
    Object.assign(ui, patch);
    keepFocus(el, () => { drawToolbar(); drawBody(); });
  }

  function choose(side, id) {
    store.set(chooseModel(store.get(), side, id));
  }

  const shownRows = (runs) => runs.filter((r) => !ui.hidden.has(filterKey(r)));

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
    columnMenu.replaceChildren(...metricsOf(meta).map((m) => h("label", { title: metricTitle(m) },
      h("input", { type: "checkbox", checked: ui.ticked.get(m.key) ?? m.default, "data-focus": `column:${m.key}`,
        onchange: (ev) => { ui.ticked.set(m.key, ev.target.checked); setUi({}); } }),
      metricLabel(m))));
    const n = tableColumns(meta, shownRows(runs), ui.ticked).constant.length;
    constantBtn.hidden = ui.view !== "table";
    constantBtn.textContent = ui.constant ? `Hide ${n} constant columns` : `Show ${n} constant columns`;
    constantBtn.setAttribute("aria-expanded", String(ui.constant));
    constantBtn.title = "Type, and the settings every unlearned model shown shares";
    allRowsBtn.setAttribute("aria-pressed", String(ui.allRows));
    allRowsBtn.classList.toggle("mucomp-active", ui.allRows);
  }

  /** Grow the box to every row (or back): the rows drawn stay, the ones now in view are added. */
  function showAllRows(on) {
    ui.allRows = on;
    allRowsBtn.setAttribute("aria-pressed", String(on));
    allRowsBtn.classList.toggle("mucomp-active", on);
    if (!view) return; // the trade-off view has no box
    view.scroll.classList.toggle("mucomp-tbl-expanded", on);
    drawRows();
  }

  function toggle(set, key, on) {
    if (on) set.add(key); else set.delete(key);
    setUi({});
  }

  function drawBody() {
    const state = store.get();
    const rows = shownRows(state.runs);
    const old = view && { top: view.scroll.scrollTop, left: view.scroll.scrollLeft };
    rowEls = new Map();
    view = null;
    if (ui.view === "tradeoff") {
      return body.replaceChildren(tradeoffView(rows, state, (id) => choose("B", id), ui.cost, (key) => setUi({ cost: key })));
    }
    body.replaceChildren(tableView(state, rows));
    resizes?.disconnect();
    resizes?.observe(view.scroll);
    drawRows(old?.top ?? 0);
    const first = view.tbody.firstChild;
    if (first?.offsetHeight && Math.abs(first.offsetHeight - rowH) > 0.5) { // measured: draw the right rows
      rowH = first.offsetHeight;
      drawRows(old?.top ?? 0);
    }
    if (old) Object.assign(view.scroll, { scrollTop: old.top, scrollLeft: old.left });
  }

  /**
   * Draw the rows in view (all of them in a short table or without layout), keeping the
   * rows already drawn (and any focus in them); space above and below (table.css,
   * --mc-tbl-above/below) stands in for the others, so the scroll bar stays true. In view:
   * of the scroll box, or with "Show all rows" (no box) of the window, as the page scrolls.
   */
  function drawRows(top = view.scroll.scrollTop) {
    const n = view.rows.length;
    let viewH = view.scroll.clientHeight;
    let from = top - view.thead.offsetHeight;
    if (ui.allRows) {
      viewH = window.innerHeight;
      from = -view.tbody.getBoundingClientRect().top; // the tbody starts at row 0 (its ::before is the space above)
    }
    const win = !viewH || n <= WINDOW_FROM ? { first: 0, last: n, start: 0, end: n }
      : rowWindow(from, viewH, rowH, n, OVERSCAN);
    if (view.drawn && win.first >= view.drawn.start && win.last <= view.drawn.end) return;
    view.drawn = win;
    const slice = view.rows.slice(win.start, win.end);
    const ids = new Set(slice.map((r) => r.id));
    for (const [id, tr] of rowEls) if (!ids.has(id)) tr.remove();
    const old = rowEls;
    rowEls = new Map();
    let at = view.tbody.firstChild;
    for (const r of slice) {
      const tr = old.get(r.id) || view.draw(r);
      rowEls.set(r.id, tr);
      if (tr === at) at = at.nextSibling;
      else view.tbody.insertBefore(tr, at);
    }
    view.tbody.style.setProperty("--mc-tbl-above", `${win.start * rowH}px`);
    view.tbody.style.setProperty("--mc-tbl-below", `${(n - win.end) * rowH}px`);
  }

  /** Model A/B and the open trace, on the rows as they are (no rebuild). */
  function markRows() {
    if (!view) return drawBody();
    const { modelA, modelB, traceRun } = store.get();
    for (const [id, tr] of rowEls) {
      tr.classList.toggle("mucomp-tbl-a", id === modelA);
      tr.classList.toggle("mucomp-tbl-b", id === modelB);
      tr.classList.toggle("mucomp-tbl-open", id === traceRun);
      const [a, b] = [tr.querySelector(".mucomp-tbl-radio-a"), tr.querySelector(".mucomp-tbl-radio-b")];
      if (a) a.checked = id === modelA; // group rows have no pickers
      if (b) b.checked = id === modelB;
    }
  }

  function tableView(state, shown) {
    const { metrics, varying, constant } = tableColumns(state.meta, shown, ui.ticked);
    const cols = [...metrics, ...varying, ...(ui.constant ? constant : [])];
    const sortCol = [...metrics, ...varying, ...constant].find((c) => c.key === ui.sort.key);
    const sorted = (list) => (sortCol ? sortRows(list, sortCol.key, ui.sort.dir, sortCol.value) : list);
    const rows = sorted(groupUnits(shown, metrics.map((c) => c.key)))
      .flatMap((u) => (u.isGroup && ui.open.has(u.group) ? [u, ...sorted(u.members)] : [u]));
    const grouped = new Set(rows.filter((u) => u.isGroup).map((u) => u.group));
    const stats = tableStats(state.runs, metrics.map((c) => c.metric));
    const candidates = shown.filter((r) => r.type === "Unlearned" || r.type === "Uploaded");
    const best = new Map(metrics.map((c) => [c.key, bestIds(c.metric, candidates, c.value, stats.retrain?.[c.key])]));
    const firstSetting = varying[0] || (ui.constant ? constant[0] : null);
    const thead = h("thead", {}, h("tr", {},
      h("th", { class: "mucomp-tbl-pick", scope: "col", title: "Model A (emerald) and Model B (purple)" },
        h("span", { class: "mucomp-tbl-pickhead" }, "A"), h("span", { class: "mucomp-tbl-pickhead" }, "B")),
      h("th", { class: "mucomp-tbl-idcell", scope: "col", title: "ID: run id; click one with a trace for its epoch-wise metrics",
        style: { minWidth: `${(Math.max(0, ...rows.map((r) => r.id.length)) * 1.1 + 1.5).toFixed(1)}ch` } }, "ID"),
      cols.map((c) => headerCell(c, stats, c === firstSetting, columnCh(c, rows))),
      h("th", {}, h("span", { class: "mucomp-tbl-sr" }, "Delete"))));
    const tbody = h("tbody", {});
    const scroll = h("div", { class: `mucomp-tbl-scroll${ui.allRows ? " mucomp-tbl-expanded" : ""}`,
      onscroll: () => { if (view?.scroll === scroll) drawRows(); } }, h("table", { class: "mucomp-tbl-table" }, thead, tbody));
    view = { scroll, thead, tbody, rows, drawn: null,
      draw: (r) => (r.isGroup ? groupRow(r, cols, stats, firstSetting)
        : tableRow(state, r, cols, stats, best, firstSetting, grouped.has(r.group))) };
    return h("div", {}, scroll,
      rows.length ? null : h("div", { class: "mucomp-muted" }, "No model matches the method filter."),
      colourLegend(metrics));
  }

  function headerCell(col, stats, first, ch) {
    const dir = ui.sort.key === col.key ? ui.sort.dir : null;
    const m = col.metric;
    const ref = m && stats.retrain ? col.value(stats.retrain) : null;
    return h("th", { title: m && Number.isFinite(ref) ? `${col.title}. Retrain: ${col.text(stats.retrain)}` : col.title,
      scope: "col", "aria-sort": dir ? `${dir}ending` : "none", "data-key": col.key,
      class: [m && "mucomp-tbl-num", first && "mucomp-tbl-first"].filter(Boolean).join(" ") || null,
      style: { minWidth: `${ch.toFixed(1)}ch` } },
    h("button", { class: "mucomp-tbl-sort", "data-focus": `sort:${col.key}`, onclick: () => setUi({ sort: nextSort(ui.sort, col.key) }) },
      col.label,
      m ? h("span", { class: "mucomp-tbl-dir", "aria-label": `(${directionHint(m)})` }, ` ${directionHint(m, true)}`) : null,
      h("span", { "aria-hidden": "true" }, dir === "desc" ? " ▼" : dir === "asc" ? " ▲" : "")),
    m && Number.isFinite(ref) ? h("span", { class: "mucomp-tbl-ref" }, `R ${col.text(stats.retrain)}`) : null);
  }

  function tableRow(state, r, cols, stats, best, firstSetting, member = false) {
    const { modelA, modelB, traceRun } = store.get(); // rows drawn while scrolling show the current choice
    const cls = [r.id === modelA && "mucomp-tbl-a", r.id === modelB && "mucomp-tbl-b",
      r.type === "Retrain" && "mucomp-tbl-refrow", r.id === traceRun && "mucomp-tbl-open",
      member && "mucomp-tbl-member"].filter(Boolean).join(" ");
    return h("tr", { "data-id": r.id, class: cls, title: ROW_HELP, onclick: (ev) => onRowClick(ev, r.id),
      onmousedown: (ev) => { if (ev.shiftKey) ev.preventDefault(); } }, // no text selection on Shift+click
    h("td", { class: "mucomp-tbl-pick" }, sideRadio(modelA, r, "A"), sideRadio(modelB, r, "B")),
    idCell(r),
    cols.map((c) => (c.metric ? metricCell(r, c, stats, best) : h("td", { class: c === firstSetting ? "mucomp-tbl-first" : null },
      c.key === "type" ? typeBadge(r.type) : c.text(r)))),
    deleteCell(state, r));
  }

  function idCell(r) {
    const dot = h("span", { class: "mucomp-tbl-typedot", role: "img", "aria-label": r.type, title: r.type,
      style: { background: typeColor(r.type) } });
    if (!r.has_trace && !r.has_relearn) return h("td", { class: "mucomp-tbl-idcell" }, dot, r.id);
    const what = [r.has_trace && "Epoch-wise metrics", r.has_relearn && "relearning probe"].filter(Boolean).join(" and ");
    return h("td", { class: "mucomp-tbl-idcell" }, dot, h("button", { class: "mucomp-tbl-idbtn", "data-focus": `trace:${r.id}`,
      "aria-label": `${what} of ${r.id}`, title: what.charAt(0).toUpperCase() + what.slice(1),
      onclick: () => store.set({ traceRun: store.get().traceRun === r.id ? null : r.id }) }, r.id));
  }

  /** A seed group: its name with an expand button, each metric's mean ± standard deviation. */
  function groupRow(g, cols, stats, firstSetting) {
    const open = ui.open.has(g.group);
    const toggle = () => { if (open) ui.open.delete(g.group); else ui.open.add(g.group); setUi({}); };
    return h("tr", { "data-id": g.id, class: "mucomp-tbl-grouprow", title: "Seed group: click to show or hide its runs",
      onclick: (ev) => { if (!ev.target.closest("input, button, label, a")) toggle(); } },
    h("td", { class: "mucomp-tbl-pick" }),
    h("td", { class: "mucomp-tbl-idcell" }, h("button", { class: "mucomp-tbl-groupbtn", "aria-expanded": String(open),
      "data-focus": `group:${g.group}`, "aria-label": `${open ? "Hide" : "Show"} the ${g.n} runs of group ${g.group}`,
      onclick: toggle }, `${open ? "▾" : "▸"} ${g.group}`), h("span", { class: "mucomp-muted" }, ` ×${g.n}`)),
    cols.map((c) => (c.metric ? groupMetricCell(g, c, stats)
      : h("td", { class: c === firstSetting ? "mucomp-tbl-first" : null }, c.key === "seed" ? `${g.n} seeds` : c.text(g)))),
    h("td", {}));
  }

  function groupMetricCell(g, col, stats) {
    const m = col.metric, v = col.value(g), sd = g.sd[col.key];
    const ref = stats.retrain ? col.value(stats.retrain) : null;
    const gap = Number.isFinite(v) && Number.isFinite(ref) ? gapText(m, v - ref) : null;
    const spread = Number.isFinite(sd) ? ` ± ${fmt(sd, m.unit ? 1 : 3)}` : "";
    return h("td", { class: "mucomp-tbl-num", style: cellStyle(m, v, stats),
      title: `${col.label}: mean ${col.text(g)}${spread ? `, sample standard deviation ${spread.slice(3)}` : ""} over ${g.n} runs`
        + (gap ? `; Retrain ${col.text(stats.retrain)} (${gap})` : "") },
    `${col.text(g)}${spread}`, gap ? h("span", { class: "mucomp-tbl-gap" }, gap) : null);
  }

  /** Value, coloured by direction; for unlearned/uploaded rows also the gap to Retrain. */
  function metricCell(r, col, stats, best) {
    const v = col.value(r);
    const ref = stats.retrain ? col.value(stats.retrain) : null;
    const gap = (r.type === "Unlearned" || r.type === "Uploaded") && Number.isFinite(v) && Number.isFinite(ref)
      ? gapText(col.metric, v - ref) : null;
    const top = best.get(col.key).has(r.id);
    return h("td", { class: `mucomp-tbl-num${top ? " mucomp-tbl-top" : ""}`, style: cellStyle(col.metric, v, stats),
      title: gap ? `${col.label} ${col.text(r)}, Retrain ${col.text(stats.retrain)} (${gap})${top ? "; best" : ""}` : null },
    col.text(r), gap ? h("span", { class: "mucomp-tbl-gap" }, gap) : null);
  }

  function sideRadio(id, r, side) {
    return h("input", {
      type: "radio", name: `${group}-${side}`, class: `mucomp-tbl-radio-${side.toLowerCase()}`, checked: id === r.id,
      "aria-label": `Model ${side}: ${r.id}`, "data-focus": `${side}:${r.id}`, onchange: () => choose(side, r.id),
    });
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

  /** A click on a row (not on a control in it) picks it as Model B, with Shift as Model A. */
  function onRowClick(ev, id) {
    if (ev.target.closest("input, button, label, a")) return;
    choose(ev.shiftKey ? "A" : "B", id);
  }

  function drawTrace() {
    const { traceRun, models, runs, meta } = store.get();
    traceBox.hidden = !traceRun;
    if (!traceRun) return traceBox.replaceChildren();
    const trace = models?.[traceRun]?.trace;
    const relearn = models?.[traceRun]?.relearn;
    const lines = trace ? traceLines(meta, trace) : [];
    const row = runs.find((r) => r.id === traceRun);
    const title = relearn && !lines.length ? `Relearning probe (${traceRun})` : `Epoch-wise metrics (${traceRun})`;
    traceBox.setAttribute("role", "dialog");
    traceBox.setAttribute("aria-label", title);
    traceBox.replaceChildren(
      h("div", { class: "mucomp-tbl-tracehead" }, h("span", {}, title),
        h("button", { class: "mucomp-tbl-close", "aria-label": `Close: ${title}`, onclick: () => store.set({ traceRun: null }) }, "✕")),
      lines.length ? traceChart(trace, row?.best_epoch, lines)
        : relearn ? null : h("div", { class: "mucomp-muted" }, "No epoch-wise metrics for this run."),
      lines.length ? traceLegend(lines) : null,
      relearn ? relearnView(relearn) : null);
  }

  function onKey(ev) {
    if (ev.key !== "Escape") return;
    if (store.get().traceRun) store.set({ traceRun: null });
    if (ui.confirm) setUi({ confirm: null });
  }

  // Redraw the table only for what it shows: rows, metadata, build state; A/B and the open
  // trace are marked in place; other runs' arrays arriving redraw nothing.
  const unsub = store.subscribe((s, prev) => keepFocus(el, () => {
    if (changed(s, prev, "runs", "error")) ui.deleting.clear();
    if (changed(s, prev, "runs", "meta")) drawToolbar();
    const runningChanged = Boolean(s.progress?.running) !== Boolean(prev.progress?.running);
    if (runningChanged || changed(s, prev, "runs", "meta", "isStatic", "error")) drawBody();
    else if (changed(s, prev, "modelA", "modelB", "traceRun")) markRows();
    if (changed(s, prev, "traceRun", "runs", "meta") || modelsChanged(s, prev, [s.traceRun])) drawTrace();
  }));
  document.addEventListener("keydown", onKey);
  // with all rows shown the page scrolls, not the box: scroll events do not bubble, so listen
  // in the capture phase to any scrolling ancestor (JupyterLab scrolls a panel, not the window)
  const onPageScroll = () => { if (view && ui.allRows) drawRows(); };
  document.addEventListener("scroll", onPageScroll, { capture: true, passive: true });
  window.addEventListener("resize", onPageScroll);
  drawToolbar();
  drawBody();
  drawTrace();

  return () => {
    unsub();
    resizes?.disconnect();
    document.removeEventListener("keydown", onKey);
    document.removeEventListener("scroll", onPageScroll, { capture: true });
    window.removeEventListener("resize", onPageScroll);
    clearTimeout(confirmTimer);
    el.replaceChildren();
  };
}
