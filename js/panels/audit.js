// Privacy Audit: log-log ROC curves of two membership questions (three with a U-LiRA
// audit: the per-sample test against shadow models, its leaking samples listed as
// thumbnails that select them in the embedding), as the privacy community
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
/** Leaking samples shown as thumbnails (all of them can be selected at once). */
const MAX_LEAK_THUMBS = 48;
const HEIGHT = 260;
const MARGIN = { top: 8, right: 10, bottom: 34, left: 44 };
const CHARTS = [
  { key: "heldout", title: "Forget (members) vs held-out (non-members)",
    sub: "logit-scaled confidence; how much the forget set still looks like training data",
    pick: (m) => m?.roc?.heldout && { roc: m.roc.heldout, ci: m.ci?.AUC },
    empty: "No ROC: it needs held-out samples of the forgotten data (test samples of the forget classes)." },
  { key: "retrain", title: "Model vs Retrain on the forget set", skipRetrain: true,
    sub: "logit-scaled confidence, one threshold for all samples: can the model be told from Retrain? (AUC 0.5 is best)",
    pick: (m) => m?.roc?.retrain && { roc: m.roc.retrain, ci: m.ci?.["U-AUC"] },
    empty: "No ROC against Retrain: it needs a Retrain model and a model A or B that is not Retrain." },
  { key: "ulira", title: "U-LiRA: per-sample test against retrained shadow models", skipRetrain: true, optional: true,
    sub: "likelihood ratio per forget sample from shadow models that unlearned it vs retrained ones (Hayes et al. 2025); "
      + "accuracy near chance is best",
    pick: (m) => m?.ulira && { roc: m.ulira.target.roc, ci: m.ulira.target.auc_ci, game: m.ulira.target },
    reference: (m) => m?.ulira && { roc: m.ulira.original.roc, game: m.ulira.original },
    empty: "" },
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

/** U-LiRA accuracy with its interval, against what two retrained models reach by chance. */
function gameStat(game) {
  const ci = game.accuracy_ci;
  return h("span", { class: "mucomp-aud-stat", title: `balanced accuracy of the best threshold, 95 % bootstrap interval; `
      + `two retrained models reach up to ${pct(game.accuracy_chance)} at the 95 % level; p = ${fmt(game.p_value)}` },
  `accuracy ${pct(game.accuracy)}${ci ? ` [${pct(ci[0])}, ${pct(ci[1])}]` : ""} (chance ≤ ${pct(game.accuracy_chance)})`);
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

  function legendItem(entry, data) {
    const roc = data?.roc, ci = data?.ci, game = data?.game;
    const stats = roc
      ? [game ? gameStat(game) : null,
        h("span", { class: "mucomp-aud-stat" }, `AUC ${fmt(roc.auc)}${ci ? ` [${fmt(ci[0])}, ${fmt(ci[1])}]` : ""}`),
        tprStat(roc, "0.001", "0.1 %"), tprStat(roc, "0.01", "1 %")]
      : [h("span", { class: "mucomp-aud-stat" }, spec.key === "ulira" ? "not audited" : "no ROC for this model")];
    return h("li", { "data-id": entry.id },
      swatch(entry),
      h("span", { class: "mucomp-aud-label" }, entry.label),
      ...stats);
  }

  return {
    el,
    /** Whether any entry has this chart's data (an optional chart is hidden without). */
    has(entries) {
      const { models } = store.get();
      return entries.some((e) => spec.pick(models?.[e.id]));
    },
    /** @param {ReturnType<typeof entriesOf>} entries */
    update(entries) {
      const { models } = store.get();
      const shown = spec.skipRetrain ? entries.filter((e) => !e.isRetrain) : entries;
      const items = shown.map((e) => [e, spec.pick(models?.[e.id])]);
      // the Original's line, from the first audited model (every audit scores it the same way)
      const ref = spec.reference && shown.map((e) => spec.reference(models?.[e.id])).find(Boolean);
      const refEntry = ref && { id: "original (reference)", label: "Original (reference: nothing forgotten)",
        color: palette(store.get().theme).muted, dash: [1, 3], isRetrain: false };
      if (refEntry) items.push([refEntry, ref]);
      series = items.filter(([, d]) => d).map(([e, d]) => ({ ...e, roc: d.roc }));
      legend.replaceChildren(...items.map(([e, d]) => legendItem(e, d)));
      empty.hidden = series.length > 0 || !spec.empty;
      empty.textContent = spec.empty;
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
  const leakBox = h("div", { class: "mucomp-aud-leakbox" });
  const root = h("div", { class: "mucomp-aud" },
    h("div", { class: "mucomp-aud-bar", role: "radiogroup", "aria-label": "ROC axes" },
      h("span", { class: "mucomp-muted" }, "Axes"), ...axes),
    message,
    h("div", { class: "mucomp-aud-charts" }, ...charts.map((c) => c.el)),
    leakBox,
    tableBox);
  el.append(root);

  function render() {
    const s = store.get();
    const entries = entriesOf(s).filter((e) => s.models?.[e.id]);
    message.hidden = entries.length > 0;
    charts.forEach((c, i) => {
      c.el.hidden = Boolean(CHARTS[i].optional) && !c.has(entries);
      c.update(entries);
    });
    leakBox.replaceChildren(...entries.filter((e) => s.models[e.id].ulira).map((e) => leakList(e, s)));
    tableBox.replaceChildren(entries.length ? miaTable(entries, s) : "");
  }

  /** The forget samples a model's U-LiRA audit found leaking, as thumbnails linked to the embedding. */
  function leakList(entry, s) {
    const { ulira } = s.models[entry.id];
    const ids = ulira.leak_ids;
    const forgetIds = s.probe?.forget_ids || [];
    const at = new Map(Array.from(forgetIds, (v, i) => [v, i]));
    const show = (sel) => store.set({ selection: Uint32Array.from(sel), tab: "embedding" });
    const thumbs = Array.from(ids.slice(0, MAX_LEAK_THUMBS), (id, k) => {
      const pos = s.probe?.forget_probe_pos?.[at.get(id)] ?? -1;
      const url = pos >= 0 ? s.sprite?.url?.(pos, 32) : null;
      const label = `sample ${id}, score ${fmt(ulira.leak_scores[k])}: show in the embedding`;
      return h("button", { type: "button", class: "mucomp-aud-leak", "data-sample": id, title: label, "aria-label": label,
        onclick: () => show([id]) }, url ? h("img", { src: url, alt: "", width: 32, height: 32 }) : String(id));
    });
    const g = ulira.target;
    return h("div", { class: "mucomp-aud-leaks", "data-id": entry.id },
      h("div", { class: "mucomp-aud-leakhead" }, swatch(entry),
        h("span", {}, `${entry.label}: ${ids.length} of ${forgetIds.length} forget samples still leak `
          + `(U-LiRA score above the threshold that ${pct(g.threshold_fpr)} of Retrain's exceed; ${ulira.shadows} shadow models, `
          + `${ulira.method})`),
        ids.length ? h("button", { type: "button", class: "mucomp-aud-leakshow", onclick: () => show(ids) },
          "Select all in the embedding") : null),
      ids.length ? h("div", { class: "mucomp-aud-leakthumbs" }, ...thumbs,
        ids.length > MAX_LEAK_THUMBS ? h("span", { class: "mucomp-muted" }, `+${ids.length - MAX_LEAK_THUMBS} more`) : null) : null);
  }

  // each chart takes its own cell's width (two or three to a row, by the grid's auto-fit)
  const ro = typeof ResizeObserver !== "undefined" ? new ResizeObserver((items) => {
    for (const item of items) {
      const w = item.contentRect.width;
      if (w > 0) charts.find((c) => c.el === item.target)?.setWidth(w);
    }
  }) : null;
  charts.forEach((c) => ro?.observe(c.el));
  const unsub = store.subscribe((s, prev) => {
    // only the shown models' arrays matter: other runs arriving redraw nothing
    if (changed(s, prev, "runs", "meta", "modelA", "modelB", "sprite", "probe")
      || modelsChanged(s, prev, entriesOf(s).map((e) => e.id))) render();
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
