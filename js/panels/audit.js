// Privacy Audit: log-log ROC curves of two membership questions, as the privacy community
// plots them (LiRA / Privacy Meter: both axes 1e-5..1, dashed diagonal, AUC and TPR at low
// FPR), and a compact table of the privacy metrics (family "privacy" in meta.metrics) with
// their direction, interval and the Retrain value.
// With n non-members no FPR between 0 and 1/n can be observed: the log plot greys out that
// strip and the TPR at a target FPR below 1/n reads "n/a", with Python's reason on hover.

import { scaleLinear, scaleLog } from "d3-scale";
import { EMERALD, PURPLE, RETRAIN_GRAY, palette } from "../lib/colors.js";
import { fmt, h, hiDpiCanvas } from "../lib/dom.js";
import { changed, modelsChanged } from "../lib/store.js";
import { retrainIdOf } from "../lib/attack.js";
import { bestIds, directionHint, directionText, metricsOf, metricTitle } from "../lib/metric-info.js";

const FLOOR = 1e-5;
const HEIGHT = 260;
const MARGIN = { top: 8, right: 10, bottom: 34, left: 44 };
const CHARTS = [
  { key: "heldout", ci: "AUC", title: "Forget (members) vs held-out (non-members)",
    sub: "logit-scaled confidence; how much the forget set still looks like training data" },
  { key: "retrain", ci: "U-AUC", title: "Model vs Retrain on the forget set",
    sub: "logit-scaled confidence; the U-LiRA question: can the model be told from Retrain? (AUC 0.5 is best)" },
];
let uid = 0;

function pct(v) {
  return v == null || Number.isNaN(v) ? "–" : `${(100 * v).toFixed(1)} %`;
}

/** "TPR@0.1 % FPR 2.0 %", or "n/a" with the reason as hover text when Python sent null. */
function tprStat(roc, key, label) {
  const v = roc.tpr_at?.[key];
  const reason = roc.tpr_at_reason?.[key];
  return h("span", { class: "mucomp-aud-stat", title: v == null && reason ? reason : null },
    `TPR@${label} FPR ${v == null && reason ? "n/a" : pct(v)}`);
}

/** What each kind of declared interval is, for the hover text. */
const INTERVAL_KINDS = { ci: "95 % interval", range: "range over random choices of the shadow samples" };

/**
 * Models to show: A, B and Retrain, each once.
 * Each has its own dash pattern, so overlapping curves stay distinguishable without colour.
 * @returns {{id: string, label: string, color: string, dash: number[], isRetrain: boolean}[]}
 */
function entriesOf(state) {
  const retrainId = retrainIdOf(state.runs);
  const out = [];
  for (const [id, role, color, dash] of [[state.modelA, "Model A", EMERALD, []], [state.modelB, "Model B", PURPLE, [7, 3]],
    [retrainId, "Retrain", RETRAIN_GRAY, [2, 2]]]) {
    if (!id || out.some((e) => e.id === id)) continue;
    const isRetrain = id === retrainId;
    out.push({ id, color, dash, isRetrain,
      label: `${role} · ${id}${isRetrain && role !== "Retrain" ? " (Retrain)" : ""}` });
  }
  return out;
}

/** A legend line in the entry's colour and dash style. */
function swatch(entry) {
  return h("span", { class: "mucomp-aud-swatch",
    style: { borderTopColor: entry.color, borderTopStyle: entry.dash.length ? "dashed" : "solid" } });
}

// ---------------------------------------------------------------- ROC chart

function xyScales(log, width) {
  const make = () => (log ? scaleLog().domain([FLOOR, 1]).clamp(true) : scaleLinear().domain([0, 1]));
  return {
    x: make().range([MARGIN.left, width - MARGIN.right]),
    y: make().range([HEIGHT - MARGIN.bottom, MARGIN.top]),
  };
}

function tickLabel(v, log) {
  if (!log) return String(v);
  const e = Math.round(Math.log10(v));
  const sup = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵" };
  return e === 0 ? "1" : `10${String(e).split("").map((c) => sup[c]).join("")}`;
}

function drawAxes(ctx, { x, y }, log, width, pal) {
  const ticks = log ? [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1] : [0, 0.25, 0.5, 0.75, 1];
  ctx.font = "10px sans-serif";
  ctx.lineWidth = 1;
  for (const t of ticks) {
    ctx.strokeStyle = pal.grid;
    ctx.beginPath();
    ctx.moveTo(x(t), MARGIN.top);
    ctx.lineTo(x(t), HEIGHT - MARGIN.bottom);
    ctx.moveTo(MARGIN.left, y(t));
    ctx.lineTo(width - MARGIN.right, y(t));
    ctx.stroke();
    ctx.fillStyle = pal.muted;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    ctx.fillText(tickLabel(t, log), x(t), HEIGHT - MARGIN.bottom + 3);
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.fillText(tickLabel(t, log), MARGIN.left - 4, y(t));
  }
  ctx.fillStyle = pal.fg;
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  ctx.fillText("False positive rate", (MARGIN.left + width - MARGIN.right) / 2, HEIGHT - 2);
  ctx.save();
  ctx.translate(10, (MARGIN.top + HEIGHT - MARGIN.bottom) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = "middle";
  ctx.fillText("True positive rate", 0, 0);
  ctx.restore();
}

/** One ROC chart: canvas plus an HTML legend with AUC (95 % interval) and TPR at low FPR. */
function createRocChart(spec, store, isLog) {
  const { canvas, ctx, resize } = hiDpiCanvas("mucomp-aud-canvas");
  canvas.setAttribute("role", "img");
  const legend = h("ul", { class: "mucomp-aud-legend" });
  const empty = h("div", { class: "mucomp-aud-empty", role: "note", hidden: true });
  const el = h("figure", { class: "mucomp-aud-chart" },
    h("figcaption", {}, h("span", { class: "mucomp-aud-title" }, spec.title),
      h("span", { class: "mucomp-muted" }, spec.sub)),
    canvas, empty, legend);
  let width = 320, series = [];

  function draw() {
    const log = isLog();
    const pal = palette(store.get().theme);
    const sc = xyScales(log, width);
    // the smallest FPR the data can show (1/n non-members); nothing is drawn left of it
    const minFpr = log ? Math.max(FLOOR, ...series.map((s) => s.roc.min_fpr ?? FLOOR)) : 0;
    const at = (v, s, lo) => s(log ? Math.max(lo, v) : v);
    ctx.clearRect(0, 0, width, HEIGHT);
    drawAxes(ctx, sc, log, width, pal);
    if (minFpr > FLOOR) {
      ctx.fillStyle = pal.grid;
      ctx.globalAlpha = 0.5;
      ctx.fillRect(MARGIN.left, MARGIN.top, sc.x(minFpr) - MARGIN.left, HEIGHT - MARGIN.bottom - MARGIN.top);
      ctx.globalAlpha = 1;
      ctx.fillStyle = pal.muted;
      ctx.textAlign = "left";
      ctx.textBaseline = "top";
      ctx.fillText(`FPR < 1/n = ${pct(minFpr)}: no data`, MARGIN.left + 4, MARGIN.top + 2);
    }
    ctx.save();
    ctx.setLineDash([4, 4]);
    ctx.strokeStyle = pal.muted;
    ctx.beginPath();
    ctx.moveTo(sc.x(log ? FLOOR : 0), sc.y(log ? FLOOR : 0));
    ctx.lineTo(sc.x(1), sc.y(1));
    ctx.stroke();
    ctx.restore();
    for (const { roc, color, dash } of series) {
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.setLineDash(dash);
      ctx.beginPath();
      roc.fpr.forEach((f, i) => ctx[i ? "lineTo" : "moveTo"](at(f, sc.x, minFpr), at(roc.tpr[i], sc.y, FLOOR)));
      ctx.stroke();
    }
    ctx.setLineDash([]);
    canvas.setAttribute("aria-label", `ROC, ${spec.title}, ${log ? "log-log" : "linear"} axes: `
      + (series.map((s) => `${s.label} AUC ${fmt(s.roc.auc)}`).join("; ") || "no data")
      + (minFpr > FLOOR ? `; FPR below ${pct(minFpr)} (1/n) not shown` : ""));
  }

  function legendItem(entry, roc, ci) {
    const stats = roc
      ? [h("span", { class: "mucomp-aud-stat" }, `AUC ${fmt(roc.auc)}${ci ? ` [${fmt(ci[0])}, ${fmt(ci[1])}]` : ""}`),
        tprStat(roc, "0.001", "0.1 %"), tprStat(roc, "0.01", "1 %")]
      : [h("span", { class: "mucomp-aud-stat" }, "no ROC for this model")];
    return h("li", { "data-id": entry.id },
      swatch(entry),
      h("span", { class: "mucomp-aud-label" }, entry.label),
      ...stats);
  }

  return {
    el,
    /** @param {ReturnType<typeof entriesOf>} entries */
    update(entries) {
      const { models } = store.get();
      const shown = spec.key === "retrain" ? entries.filter((e) => !e.isRetrain) : entries;
      series = shown.filter((e) => models?.[e.id]?.roc?.[spec.key])
        .map((e) => ({ ...e, roc: models[e.id].roc[spec.key] }));
      legend.replaceChildren(...shown.map((e) => legendItem(e, models?.[e.id]?.roc?.[spec.key], models?.[e.id]?.ci?.[spec.ci])));
      empty.hidden = series.length > 0;
      empty.textContent = spec.key === "retrain"
        ? "No ROC against Retrain: it needs a Retrain model and a model A or B that is not Retrain."
        : "No ROC: it needs held-out samples of the forgotten data (test samples of the forget classes).";
      draw();
    },
    draw,
    setWidth(w) {
      width = Math.max(220, w);
      resize(width, HEIGHT);
      draw();
    },
  };
}

// ---------------------------------------------------------------- privacy table

function miaTable(entries, state) {
  const { runs = [], meta = {}, models = {} } = state;
  const rowOf = (id) => runs.find((r) => r.id === id) || {};
  const metrics = metricsOf(meta).filter((m) => m.family === "privacy");
  const retrain = rowOf(entries.find((e) => e.isRetrain)?.id);
  const compared = entries.filter((e) => !e.isRetrain).map((e) => ({ ...rowOf(e.id), id: e.id }));
  const better = Object.fromEntries(metrics.map((m) => [m.key, bestIds(m, compared, (r) => r[m.key], retrain[m.key])]));
  const head = h("tr", {}, h("th", { scope: "col" }, "Model"), ...metrics.map((m) =>
    h("th", { scope: "col", title: metricTitle(m), "data-col": m.key },
      h("span", {}, m.label), h("span", { class: "mucomp-aud-guide" }, directionHint(m)))));
  const body = entries.map((e) => {
    const row = rowOf(e.id);
    return h("tr", { "data-id": e.id },
      h("th", { scope: "row" }, swatch(e), e.label),
      ...metrics.map((m) => {
        const ci = m.interval && models[e.id]?.ci?.[m.interval.key];
        const best = better[m.key].has(e.id);
        return h("td", { class: best ? "mucomp-aud-better" : "", "data-col": m.key,
          title: [ci ? `${INTERVAL_KINDS[m.interval.kind] || m.interval.kind} [${fmt(ci[0])}, ${fmt(ci[1])}]` : "",
            best ? `the better one: ${directionText(m)}` : ""].filter(Boolean).join(" · ") || null }, fmt(row[m.key]));
      }));
  });
  return h("table", { class: "mucomp-aud-table" },
    h("caption", {}, "Privacy metrics (hover a header for its meaning; the better of A and B by the column's direction is highlighted)"),
    h("thead", {}, head), h("tbody", {}, ...body));
}

// ---------------------------------------------------------------- mount

/**
 * Mount the Privacy Audit panel.
 * @param {HTMLElement} el
 * @param {{store: ReturnType<typeof import("../lib/store.js").createStore>, send: Function, root: HTMLElement}} ctx
 * @returns {() => void} cleanup
 */
export function mountAudit(el, ctx) {
  const { store } = ctx;
  const id = ++uid;
  let log = true;
  const charts = CHARTS.map((spec) => createRocChart(spec, store, () => log));
  const axes = [["log", "Log-log"], ["linear", "Linear"]].map(([key, label]) => h("label", {},
    h("input", { type: "radio", name: `mucomp-aud-axes-${id}`, value: key, checked: key === "log",
      onchange: () => { log = key === "log"; charts.forEach((c) => c.draw()); } }), label));
  const message = h("div", { class: "mucomp-aud-empty", role: "note", hidden: true },
    "No models to audit yet: select Model A and Model B in the table.");
  const tableBox = h("div", { class: "mucomp-aud-tablebox" });
  const root = h("div", { class: "mucomp-aud" },
    h("div", { class: "mucomp-aud-bar", role: "radiogroup", "aria-label": "ROC axes" },
      h("span", { class: "mucomp-muted" }, "Axes"), ...axes),
    message,
    h("div", { class: "mucomp-aud-charts" }, ...charts.map((c) => c.el)),
    tableBox);
  el.append(root);

  function render() {
    const s = store.get();
    const entries = entriesOf(s).filter((e) => s.models?.[e.id]);
    message.hidden = entries.length > 0;
    charts.forEach((c) => c.update(entries));
    tableBox.replaceChildren(entries.length ? miaTable(entries, s) : "");
  }

  const ro = typeof ResizeObserver !== "undefined" ? new ResizeObserver((items) => {
    const w = items[0].contentRect.width;
    if (w > 0) charts.forEach((c) => c.setWidth(w >= 600 ? (w - 12) / 2 : w));
  }) : null;
  ro?.observe(root);
  const unsub = store.subscribe((s, prev) => {
    // only the shown models' arrays matter: other runs arriving redraw nothing
    if (changed(s, prev, "runs", "meta", "modelA", "modelB") || modelsChanged(s, prev, entriesOf(s).map((e) => e.id))) render();
    else if (changed(s, prev, "theme")) charts.forEach((c) => c.draw());
  });
  charts.forEach((c) => c.setWidth(320));
  render();

  return () => {
    unsub();
    ro?.disconnect();
    root.remove();
  };
}
