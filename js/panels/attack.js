// Attack Simulation: how well a threshold on output entropy or top-1 confidence tells each
// model (A, B) from the Retrain model on the forget samples. Python computed every curve
// (attack score, FPR, FNR per threshold); this view picks thresholds (strategies), stacks the
// per-sample values as a butterfly plot and lists which samples the attacker got right.

import { scaleLinear } from "d3-scale";
import { dequantize } from "../lib/codecs.js";
import { ATTACK_RED, EMERALD, FNR_GREEN, FPR_BLUE, PURPLE, RETRAIN_GRAY, palette } from "../lib/colors.js";
import { fmt, h, hiDpiCanvas } from "../lib/dom.js";
import { changed, modelsChanged } from "../lib/store.js";
import {
  BIN_STEP, METRIC_RANGE, classify, commonThreshold, defaultThreshold, gridThresholds, maxAttack,
  maxSuccess, mergedCurve, nearestIndex, prepareValues, retrainIdOf, scoreAt, stackBins, tidy, worstCase,
} from "../lib/attack.js";

const STRATEGIES = [
  ["custom", "Custom threshold"], ["max_attack", "Max attack score"],
  ["max_success", "Max success rate"], ["common", "Common threshold"],
];
const METRIC_LABEL = { entropy: "Output entropy", confidence: "Top-1 confidence" };
/** y-axis titles: what each metric is (confidence_values / entropy_values in evaluation/privacy.py). */
export const AXIS_TITLE = {
  entropy: "Output entropy (nats, softmax at T = 2)",
  confidence: "Logit-scaled top-1 confidence log(p/(1−p))",
};
const HEIGHT = 280;
const MARGIN = { top: 16, bottom: 22, left: 48, right: 6 };
const LINE_W = 150;
const LINE_MARGIN = { left: 8, right: 12 };
const CENTER_GAP = 3;
const DRAG_PX = 6;
let uid = 0;

/** A threshold for display: at most 3 decimals, no float32 noise. */
function fmtT(t) {
  return t == null ? "–" : String(Number(Number(t).toFixed(3)));
}

function pct(v) {
  return v == null || Number.isNaN(v) ? "–" : `${(100 * v).toFixed(1)} %`;
}

// ---------------------------------------------------------------- data of one side

/**
 * What side "A" or "B" shows: status "ok" with its curves and values, or "note" with a reason.
 * @param {import("../lib/types.js").State} state
 */
function sideData(state, key) {
  const id = key === "A" ? state.modelA : state.modelB;
  const base = { key, id, name: `Model ${key}`, color: key === "A" ? EMERALD : PURPLE,
    row: (state.runs || []).find((r) => r.id === id) };
  const retrainId = retrainIdOf(state.runs);
  const model = state.models?.[id];
  if (!id || !model) return { ...base, status: "note", note: `${base.name}: no model selected or no data for it yet.` };
  if (id === retrainId) {
    return { ...base, status: "note", note: `${base.name} is the Retrain model: indistinguishable from itself, PS = 1.` };
  }
  if (!model.curves) {
    return { ...base, status: "note",
      note: `${base.name} (${id}) has no attack data: the attack compares each model with the Retrain model. Add a Retrain model to the study to see it.` };
  }
  const { metric } = state;
  const grid = state.meta?.grid || "reference";
  const merged = mergedCurve(model.curves, metric);
  const retrainAttack = state.models[retrainId]?.attack;
  let values = null;
  if (model.attack && retrainAttack) {
    const u = prepareValues(dequantize(model.attack[metric]), metric, grid);
    const r = prepareValues(dequantize(retrainAttack[metric]), metric, grid);
    if (u.length === r.length) values = { u, r };
  }
  return { ...base, status: "ok", model, merged, values, thresholds: gridThresholds(merged, metric, grid) };
}

/**
 * The attack (grid index, direction) a strategy picks for one side; null when unavailable.
 * Max Success searches both directions; the others take the merged curve's direction.
 */
function choose(strategy, side, other, state) {
  if (side.status !== "ok") return null;
  const at = (t) => {
    const s = scoreAt(side.merged, t);
    return { index: s.index, direction: s.direction };
  };
  if (strategy === "max_attack") return maxAttack(side.merged);
  if (strategy === "max_success") return side.values ? maxSuccess(side.values.u, side.values.r, side.thresholds) : null;
  if (strategy === "common") {
    return other.status === "ok" ? at(commonThreshold(side.merged, other.merged).threshold) : maxAttack(side.merged);
  }
  return at(state.threshold ?? defaultThreshold(state.metric));
}

// ---------------------------------------------------------------- drawing helpers

/** Retrain's grey, lightened on dark backgrounds where #6a6a6a at 30 % would vanish. */
function retrainDotColor(theme) {
  return theme === "dark" ? palette(theme).muted : RETRAIN_GRAY;
}

function yScale(metric) {
  return scaleLinear().domain(METRIC_RANGE[metric]).range([HEIGHT - MARGIN.bottom, MARGIN.top]);
}

function dashedLine(ctx, x0, x1, y, color) {
  ctx.save();
  ctx.setLineDash([5, 3]);
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.moveTo(x0, y);
  ctx.lineTo(x1, y);
  ctx.stroke();
  ctx.restore();
}

function drawYAxis(ctx, y, metric, x, width, pal) {
  const [lo, hi] = METRIC_RANGE[metric];
  const every = metric === "entropy" ? 0.5 : 2.5;
  ctx.font = "10px sans-serif";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let v = lo; v <= hi + 1e-9; v += every) {
    ctx.strokeStyle = pal.grid;
    ctx.beginPath();
    ctx.moveTo(x, y(v));
    ctx.lineTo(width - MARGIN.right, y(v));
    ctx.stroke();
    ctx.fillStyle = pal.muted;
    ctx.fillText(fmtT(v), x - 3, y(v));
  }
  ctx.save();
  ctx.translate(2, (y.range()[0] + y.range()[1]) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  ctx.fillText(AXIS_TITLE[metric], 0, 0, HEIGHT - 2 * MARGIN.top);
  ctx.restore();
}

// ---------------------------------------------------------------- butterfly plot

/**
 * Retrain's copies stacked left (grey), the model's right (side colour), one row per bin.
 * Drag near the threshold line (Custom) moves it; drag elsewhere or shift+wheel pans.
 */
function createButterfly(view) {
  const { side, store, metric } = view;
  const { canvas, ctx, resize } = hiDpiCanvas("mucomp-atk-butterfly");
  canvas.setAttribute("role", "img");
  const hover = h("div", { class: "mucomp-atk-hover", hidden: true, "aria-hidden": "true" });
  const el = h("div", { class: "mucomp-atk-bfly" }, canvas, hover);
  const y = yScale(metric);
  const stacks = { r: stackBins(side.values.r, metric), u: stackBins(side.values.u, metric) };
  const nBins = stacks.r.rows.length;
  const forgetIds = store.get().probe.forget_ids;
  let width = 360, panX = 0, drag = null;

  function geometry() {
    const half = (width - MARGIN.left - MARGIN.right) / 2;
    const binPx = (HEIGHT - MARGIN.top - MARGIN.bottom) / nBins;
    const most = Math.max(1, stacks.r.maxCount, stacks.u.maxCount);
    const r = Math.max(1, Math.min(3.3, binPx / 2 - 0.4, (half - CENTER_GAP) / most / 2 - 0.25));
    const pitch = 2 * r + 0.5;
    const minPan = Math.min(0, half - CENTER_GAP - stacks.u.maxCount * pitch);
    const maxPan = Math.max(0, CENTER_GAP + stacks.r.maxCount * pitch - half);
    panX = Math.min(maxPan, Math.max(minPan, panX));
    return { r, pitch, x0: MARGIN.left + half + panX, overflow: minPan < 0 || maxPan > 0 };
  }

  function dotX(g, src, slot) {
    const off = CENTER_GAP + (slot + 0.5) * g.pitch;
    return src === "r" ? g.x0 - off : g.x0 + off;
  }
  const binY = (bin) => y(METRIC_RANGE[metric][0] + (bin + 0.5) * BIN_STEP[metric]);

  function drawDots(g, cls, pal) {
    const sources = [["r", retrainDotColor(store.get().theme), cls.retrain], ["u", side.color, cls.unlearned]];
    for (const [src, color, correct] of sources) {
      for (const opaque of [0, 1]) {
        ctx.beginPath();
        stacks[src].rows.forEach((row, bin) => row.forEach((j, slot) => {
          if (correct[j] !== opaque) return;
          const x = dotX(g, src, slot);
          ctx.moveTo(x + g.r, binY(bin));
          ctx.arc(x, binY(bin), g.r, 0, 2 * Math.PI);
        }));
        ctx.globalAlpha = opaque ? 1 : 0.3;
        ctx.fillStyle = color;
        ctx.fill();
      }
    }
    ctx.globalAlpha = 1;
    const hovered = store.get().hovered;
    if (hovered == null) return;
    ctx.strokeStyle = pal.stroke;
    ctx.lineWidth = 1.5;
    for (let j = 0; j < forgetIds.length; j++) {
      if (forgetIds[j] !== hovered) continue;
      for (const src of ["r", "u"]) {
        ctx.beginPath();
        ctx.arc(dotX(g, src, stacks[src].slot[j]), binY(stacks[src].bin[j]), g.r + 1.5, 0, 2 * Math.PI);
        ctx.stroke();
      }
    }
  }

  function drawThreshold(t, direction, pal) {
    const ty = y(Math.min(METRIC_RANGE[metric][1], Math.max(METRIC_RANGE[metric][0], t)));
    dashedLine(ctx, MARGIN.left, width - MARGIN.right, ty, pal.fg);
    const upper = direction === "above_unlearn" ? side.name : "Retrain";
    const lower = direction === "above_unlearn" ? "Retrain" : side.name;
    ctx.font = "bold 10px sans-serif";
    ctx.textAlign = "right";
    const right = width - MARGIN.right - 2;
    for (const [text, top] of [[`↑ Pred as ${upper}`, ty - 14], [`↓ Pred as ${lower}`, ty + 2]]) {
      const w = ctx.measureText(text).width;
      ctx.globalAlpha = 0.85;
      ctx.fillStyle = pal.bg;
      ctx.fillRect(right - w - 2, top, w + 4, 12);
      ctx.globalAlpha = 1;
      ctx.fillStyle = pal.fg;
      ctx.textBaseline = "top";
      ctx.fillText(text, right, top + 1);
    }
  }

  function draw() {
    const pal = palette(store.get().theme);
    const cur = view.current();
    ctx.clearRect(0, 0, width, HEIGHT);
    drawYAxis(ctx, y, metric, MARGIN.left, width, pal);
    const g = geometry();
    ctx.save();
    ctx.beginPath();
    ctx.rect(MARGIN.left, 0, width - MARGIN.left - MARGIN.right, HEIGHT);
    ctx.clip();
    ctx.strokeStyle = pal.muted;
    ctx.beginPath();
    ctx.moveTo(g.x0, MARGIN.top);
    ctx.lineTo(g.x0, HEIGHT - MARGIN.bottom);
    ctx.stroke();
    if (cur) drawDots(g, cur.cls, pal);
    if (cur) drawThreshold(cur.threshold, cur.direction, pal);
    ctx.restore();
    ctx.font = "10px sans-serif";
    ctx.fillStyle = pal.muted;
    ctx.textBaseline = "bottom";
    ctx.textAlign = "left";
    ctx.fillText(`← Retrain${g.overflow ? " (drag to pan)" : ""}`, MARGIN.left, HEIGHT - 2);
    ctx.textAlign = "right";
    ctx.fillText(`${side.name} →`, width - MARGIN.right, HEIGHT - 2);
    canvas.setAttribute("aria-label", `${side.name} against Retrain: ${METRIC_LABEL[metric]} of `
      + `${side.values.u.length} forget samples per model, stacked by value (y axis: ${AXIS_TITLE[metric]})`
      + (cur ? `; threshold ${fmtT(cur.threshold)}, ${pct(cur.cls.correct / (2 * side.values.u.length))} classified correctly` : ""));
  }

  /** The dot under (x, py): {j, src} or null. */
  function hit(x, py) {
    const g = geometry();
    const bin = Math.floor((y.invert(py) - METRIC_RANGE[metric][0]) / BIN_STEP[metric]);
    if (bin < 0 || bin >= nBins) return null;
    const src = x < g.x0 ? "r" : "u";
    const slot = Math.floor((Math.abs(x - g.x0) - CENTER_GAP) / g.pitch);
    const j = stacks[src].rows[bin][slot];
    return j == null ? null : { j, src };
  }

  const local = (e) => {
    const rect = canvas.getBoundingClientRect();
    return [e.clientX - rect.left, e.clientY - rect.top];
  };
  const nearLine = (py) => view.dragEnabled() && view.current()
    && Math.abs(py - y(view.current().threshold)) <= DRAG_PX;

  function showHover(x, py) {
    const found = hit(x, py);
    if (!found) {
      hover.hidden = true;
      view.setHovered(null);
      return;
    }
    const v = side.values[found.src][found.j];
    hover.hidden = false;
    hover.textContent = `${METRIC_LABEL[metric]}: ${fmt(v, 2)} · ${found.src === "r" ? "Retrain" : side.name}`;
    hover.style.left = `${x + 8}px`;
    hover.style.top = `${py + 8}px`;
    view.setHovered(forgetIds[found.j]);
  }

  function onMove(e) {
    const [x, py] = local(e);
    if (drag?.kind === "threshold") return view.dragTo(y.invert(py));
    if (drag?.kind === "pan") {
      panX = drag.pan + (x - drag.x);
      return draw();
    }
    canvas.style.cursor = nearLine(py) ? "ns-resize" : "default";
    return showHover(x, py);
  }
  function onDown(e) {
    const [x, py] = local(e);
    if (nearLine(py)) drag = { kind: "threshold" };
    else if (geometry().overflow) drag = { kind: "pan", x, pan: panX };
    else return;
    e.preventDefault?.();
    view.track(onMove, () => { drag = null; });
  }
  function onWheel(e) {
    if (!geometry().overflow || !(e.shiftKey || Math.abs(e.deltaX) > 0)) return;
    e.preventDefault();
    panX -= e.deltaX || e.deltaY;
    draw();
  }
  function onLeave() {
    if (drag) return;
    hover.hidden = true;
    view.setHovered(null);
  }
  canvas.addEventListener("pointermove", onMove);
  canvas.addEventListener("pointerdown", onDown);
  canvas.addEventListener("pointerleave", onLeave);
  canvas.addEventListener("wheel", onWheel, { passive: false });

  return {
    el,
    draw,
    setWidth(w) {
      width = w;
      resize(width, HEIGHT);
      draw();
    },
  };
}

// ---------------------------------------------------------------- line chart

/** Attack score, FPR and FNR (merged curve) against the threshold, on the butterfly's y axis. */
function createLineChart(view) {
  const { side, store, metric } = view;
  const { canvas, ctx, resize } = hiDpiCanvas("mucomp-atk-lines");
  canvas.setAttribute("role", "img");
  resize(LINE_W, HEIGHT);
  const y = yScale(metric);
  const x = scaleLinear().domain([0, 1]).range([LINE_MARGIN.left, LINE_W - LINE_MARGIN.right]);
  const series = [["attack_score", ATTACK_RED], ["fpr", FPR_BLUE], ["fnr", FNR_GREEN]];

  function draw() {
    const pal = palette(store.get().theme);
    const cur = view.current();
    ctx.clearRect(0, 0, LINE_W, HEIGHT);
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, MARGIN.top, LINE_W, HEIGHT - MARGIN.top - MARGIN.bottom);
    ctx.clip();
    for (const [key, color] of series) {
      ctx.strokeStyle = color;
      ctx.lineWidth = key === "attack_score" ? 2 : 1.25;
      ctx.shadowColor = key === "attack_score" ? color : "transparent";
      ctx.shadowBlur = key === "attack_score" ? 4 : 0;
      ctx.beginPath();
      side.merged.threshold.forEach((t, i) => ctx[i ? "lineTo" : "moveTo"](x(side.merged[key][i]), y(t)));
      ctx.stroke();
    }
    ctx.restore();
    ctx.font = "10px sans-serif";
    ctx.fillStyle = pal.muted;
    ctx.textBaseline = "top";
    for (const v of [0, 0.5, 1]) {
      ctx.textAlign = v === 0 ? "left" : v === 1 ? "right" : "center";
      ctx.fillText(String(v), x(v), HEIGHT - MARGIN.bottom + 4);
    }
    if (cur) dashedLine(ctx, 0, LINE_W, y(Math.min(METRIC_RANGE[metric][1], Math.max(METRIC_RANGE[metric][0], cur.threshold))), pal.fg);
    canvas.setAttribute("aria-label", `${side.name}: attack score, false-positive and false-negative rates against the threshold`
      + (cur ? `; at ${fmtT(cur.threshold)}: attack score ${fmt(cur.row.attack_score)}, FPR ${fmt(cur.row.fpr)}, FNR ${fmt(cur.row.fnr)}` : ""));
  }

  function onDown(e) {
    if (!view.dragEnabled()) return;
    e.preventDefault?.();
    const move = (ev) => view.dragTo(y.invert(ev.clientY - canvas.getBoundingClientRect().top));
    move(e);
    view.track(move, () => {});
  }
  const onMove = () => { canvas.style.cursor = view.dragEnabled() ? "ns-resize" : "default"; };
  canvas.addEventListener("pointerdown", onDown);
  canvas.addEventListener("pointermove", onMove);
  return { el: canvas, draw };
}

// ---------------------------------------------------------------- instance panels

function thumbButton(item, size, state, side) {
  const pos = state.probe.forget_probe_pos[item.j];
  const url = state.sprite?.url?.(pos, size);
  const id = state.probe.forget_ids[item.j];
  const own = item.src === "u";
  return h("button", {
    class: `mucomp-atk-thumb${own ? " mucomp-atk-own" : ""}${state.hovered === id ? " mucomp-atk-hovered" : ""}`,
    style: { width: `${size + 4}px`, height: `${size + 4}px`, borderColor: own ? side.color : RETRAIN_GRAY },
    "data-id": id, "data-j": item.j, "data-src": item.src,
    "aria-label": `Forget sample ${id}, ${own ? `${side.name}'s` : "Retrain's"} copy`,
  }, url ? h("img", { src: url, width: size, height: size, alt: "" }) : null);
}

/** Embedded forget samples the attack got right (success) and wrong (failure), per copy. */
function splitInstances(side, cur, probe, filter) {
  const out = { success: [], failure: [] };
  const pos = probe.forget_probe_pos;
  for (let j = 0; j < pos.length; j++) {
    if (pos[j] < 0) continue;
    for (const src of ["r", "u"]) {
      if ((src === "r" && !filter.retrain) || (src === "u" && !filter.model)) continue;
      const correct = src === "r" ? cur.cls.retrain[j] : cur.cls.unlearned[j];
      out[correct ? "success" : "failure"].push({ j, src, margin: Math.abs(side.values[src][j] - cur.threshold64) });
    }
  }
  for (const list of Object.values(out)) list.sort((a, b) => b.margin - a.margin);
  return out;
}

function instancePanel(title, share, items, note, render) {
  return h("div", { class: `mucomp-atk-inst mucomp-atk-${title.toLowerCase()}` },
    h("div", { class: "mucomp-atk-inst-head" },
      h("span", { class: "mucomp-atk-inst-title" }, title),
      h("span", { class: "mucomp-atk-inst-share" }, pct(share)),
      h("span", { class: "mucomp-muted" }, `${note} · ${items.length} thumbnails`)),
    h("div", { class: "mucomp-atk-grid", role: "group", "aria-label": `${title}: forget-sample thumbnails` },
      items.map(render)));
}

function tooltipFor(j, src, side, state, close) {
  const { probe, meta, models } = state;
  const pos = probe.forget_probe_pos[j];
  const name = (c) => (c == null ? "–" : meta.class_names?.[c] ?? `class ${c}`);
  const retrainId = retrainIdOf(state.runs);
  const url = state.sprite?.url?.(pos, 64);
  return h("div", { class: "mucomp-atk-tip", role: "dialog", "aria-label": `Forget sample ${probe.forget_ids[j]}` },
    h("button", { class: "mucomp-atk-tip-close", "aria-label": "Close", onclick: close }, "×"),
    url ? h("img", { src: url, width: 64, height: 64, alt: `Forget sample ${probe.forget_ids[j]}` })
      : h("div", { class: "mucomp-atk-tip-noimg" }, "no image"),
    h("div", {}, `Sample ${probe.forget_ids[j]} (${src === "r" ? "Retrain's" : `${side.name}'s`} copy)`),
    h("div", {}, `True class: ${name(probe.forget_labels[j])}`),
    h("div", {}, `Retrain predicts: ${name(models[retrainId]?.pred?.[pos])}`),
    h("div", {}, `${side.name} (${side.id}) predicts: ${name(models[side.id]?.pred?.[pos])}`));
}

// ---------------------------------------------------------------- one side

/** Header, butterfly + line chart, scores and instance panels of side A or B. */
function createSideView(side, env) {
  const { store } = env;
  const state = store.get();
  const title = h("div", { class: "mucomp-atk-side-title" },
    h("span", { class: "mucomp-atk-swatch", style: { background: side.color } }),
    `${side.name} · ${side.id ?? "–"}${side.row ? ` (${side.row.type})` : ""} vs Retrain`);
  const el = h("section", { class: "mucomp-atk-side", "aria-label": `${side.name} against Retrain` }, title);
  if (side.status !== "ok") {
    el.append(h("div", { class: "mucomp-atk-note", role: "note" }, side.note));
    return { el, update() {}, draw() {}, renderInstances() {}, setWidth() {} };
  }
  let cur = null;
  const view = {
    side, store, metric: state.metric,
    current: () => cur,
    dragEnabled: () => store.get().strategy === "custom",
    dragTo: (v) => {
      const i = nearestIndex(side.merged.threshold, v);
      store.set({ threshold: tidy(side.thresholds[i]) });
    },
    setHovered: (id) => store.set({ hovered: id }),
    track: env.track,
  };
  const score = h("div", { class: "mucomp-atk-score", "aria-live": "polite" });
  const info = h("dl", { class: "mucomp-atk-info" });
  const butterfly = side.values ? createButterfly(view) : null;
  const lines = createLineChart(view);
  const charts = h("div", { class: "mucomp-atk-charts" },
    butterfly ? butterfly.el : h("div", { class: "mucomp-atk-note" }, "Per-sample values are missing: no butterfly plot."),
    h("div", { class: "mucomp-atk-linecol" }, lines.el, info));
  const instances = h("div", { class: "mucomp-atk-instances" });
  el.append(score, charts, instances);

  function renderScore() {
    const row = side.row || {};
    const ci = side.model.ci?.PS;
    score.replaceChildren(
      h("div", { class: "mucomp-atk-ps" },
        h("span", { class: "mucomp-atk-ps-label" }, "Privacy score = 1 − attack score"),
        h("span", { class: "mucomp-atk-ps-value" }, cur ? fmt(1 - cur.row.attack_score) : "–")),
      h("div", { class: "mucomp-atk-table-ps" },
        `Table PS (worst case over all thresholds): ${fmt(row.PS)}`,
        ci ? ` · 95 % interval [${fmt(ci[0])}, ${fmt(ci[1])}]` : ""));
    const rowsOf = [["Threshold", cur ? fmtT(cur.threshold) : "–", null],
      ["Attack score", fmt(cur?.row.attack_score), ATTACK_RED], ["FPR", fmt(cur?.row.fpr), FPR_BLUE],
      ["FNR", fmt(cur?.row.fnr), FNR_GREEN]];
    // One line per entry: swatch, label and value in one row.
    info.replaceChildren(...rowsOf.map(([k, v, color]) => h("div", { class: "mucomp-atk-info-row" },
      h("dt", {}, color ? h("span", { class: "mucomp-atk-swatch", style: { background: color } }) : null, k),
      h("dd", {}, v))));
  }

  function renderInstances() {
    if (!cur || !side.values) return instances.replaceChildren();
    const s = store.get();
    const split = splitInstances(side, cur, s.probe, env.filter);
    const fail = (cur.row.fpr + cur.row.fnr) / 2;
    const n = side.values.u.length;
    const render = (item) => thumbButton(item, env.filter.size, s, side);
    instances.replaceChildren(
      instancePanel("Success", 1 - fail, split.success, `attacker right · ${2 * n} samples (both copies)`, render),
      instancePanel("Failure", fail, split.failure, `attacker wrong · ${2 * n} samples (both copies)`, render));
    const tip = env.openTip();
    if (tip?.key !== side.key) return;
    const box = tooltipFor(tip.j, tip.src, side, s, () => env.setTip(null));
    instances.append(box);
    box.querySelector("button").focus();
  }

  instances.addEventListener("mouseover", (e) => {
    const b = e.target.closest?.(".mucomp-atk-thumb");
    if (b) store.set({ hovered: Number(b.dataset.id) });
  });
  instances.addEventListener("mouseout", (e) => {
    if (e.target.closest?.(".mucomp-atk-thumb")) store.set({ hovered: null });
  });
  instances.addEventListener("click", (e) => {
    const b = e.target.closest?.(".mucomp-atk-thumb");
    if (b) env.setTip({ key: side.key, j: Number(b.dataset.j), src: b.dataset.src });
  });

  return {
    el,
    /** @param {{index: number, direction: string}|null} choice */
    update(choice) {
      if (choice) {
        const i = choice.index;
        const curve = side.model.curves[view.metric][choice.direction];
        const threshold64 = side.thresholds[i];
        cur = { ...choice, threshold: side.merged.threshold[i], threshold64,
          row: { attack_score: curve.attack_score[i], fpr: curve.fpr[i], fnr: curve.fnr[i] },
          cls: side.values ? classify(side.values.u, side.values.r, threshold64, choice.direction) : null };
      } else cur = null;
      renderScore();
      renderInstances();
      this.draw();
    },
    draw() {
      butterfly?.draw();
      lines.draw();
    },
    renderInstances,
    setWidth(w) {
      butterfly?.setWidth(Math.max(200, w - LINE_W - 12));
    },
  };
}

// ---------------------------------------------------------------- controls (built once)

/** Worst-case buttons, metric radio and dot legend. */
function createLegendBar(env) {
  const { store } = env;
  let sides = [];
  const worst = ["A", "B"].map((key, i) => h("button", {
    class: `mucomp-atk-worst mucomp-atk-worst-${key}`,
    "aria-label": `Model ${key} worst case: show the metric and threshold of its strongest attack`,
    onclick: () => {
      const w = worstCase(sides[i].model.curves);
      store.set({ metric: w.metric, threshold: tidy(w.threshold), strategy: "max_attack" });
    },
  }, `Model ${key} worst case`));
  const radios = Object.entries(METRIC_LABEL).map(([key, label]) => h("label", {},
    h("input", { type: "radio", name: `mucomp-atk-metric-${env.uid}`, value: key,
      onchange: () => store.set({ metric: key }) }), label));
  const legend = h("div", { class: "mucomp-atk-legend" },
    ...[["Retrain", RETRAIN_GRAY], ["Model A", EMERALD], ["Model B", PURPLE]].map(([label, color]) =>
      h("span", { class: "mucomp-atk-legend-item" }, h("span", { class: "mucomp-atk-dot", style: { background: color } }), `From ${label}`)),
    h("span", { class: "mucomp-muted" }, "faded: predicted as the other model"));
  const el = h("div", { class: "mucomp-atk-bar" }, ...worst,
    h("div", { class: "mucomp-atk-metric", role: "radiogroup", "aria-label": "Attack metric" },
      h("span", { class: "mucomp-muted" }, "Metric"), ...radios),
    legend);
  return {
    el,
    update(next, state) {
      sides = next;
      worst.forEach((b, i) => { b.disabled = sides[i].status !== "ok"; });
      for (const label of radios) {
        const input = label.firstChild;
        input.checked = input.value === state.metric;
      }
    },
  };
}

/** Strategy tabs, each showing the A and B thresholds it implies. */
function createStrategyTabs(env) {
  const { store } = env;
  const tabs = STRATEGIES.map(([key, name]) => {
    const t = h("span", { class: "mucomp-atk-strategy-t" });
    const b = h("button", { class: "mucomp-atk-strategy", role: "tab", "data-strategy": key,
      onclick: () => store.set({ strategy: key }) }, h("span", { class: "mucomp-atk-strategy-name" }, name), t);
    return { key, b, t };
  });
  return {
    el: h("div", { class: "mucomp-atk-strategies", role: "tablist", "aria-label": "Threshold strategy" },
      ...tabs.map((tab) => tab.b)),
    update(sides, choices, state) {
      for (const { key, b, t } of tabs) {
        const on = state.strategy === key;
        b.classList.toggle("mucomp-active", on);
        b.setAttribute("aria-selected", String(on));
        t.textContent = sides.filter((sd) => sd.status === "ok").map((sd) => {
          const c = choices[key][sd.key];
          return `${sd.key} ${c ? fmtT(sd.merged.threshold[c.index]) : "–"}`;
        }).join(" · ") || "–";
      }
    },
  };
}

/** Keyboard-accessible slider for the custom threshold, on the first shown side's grid. */
function createSlider(env) {
  const { store } = env;
  let side = null;
  const out = h("output", {});
  const input = h("input", { type: "range", min: 0, step: 1, "aria-label": "Custom threshold",
    oninput: () => store.set({ threshold: tidy(side.thresholds[Number(input.value)]) }) });
  const el = h("label", { class: "mucomp-atk-slider" }, "Custom threshold", input, out);
  return {
    el,
    update(first, choice, state) {
      side = first;
      el.hidden = state.strategy !== "custom" || !first || !choice;
      if (el.hidden) return;
      const t = fmtT(first.merged.threshold[choice.index]);
      input.max = String(first.merged.threshold.length - 1);
      input.value = String(choice.index);
      input.setAttribute("aria-valuetext", t);
      out.textContent = t;
    },
  };
}

function createInstanceToolbar(env) {
  const { filter } = env;
  const check = (key, label) => h("label", {},
    h("input", { type: "checkbox", checked: filter[key],
      onchange: (e) => { filter[key] = e.target.checked; env.renderInstances(); } }), label);
  return h("div", { class: "mucomp-atk-toolbar", role: "group", "aria-label": "Instance panels" },
    h("span", { class: "mucomp-muted" }, "Instances"),
    check("retrain", "Retrain's copies (grey border)"),
    check("model", "Model's copies (coloured border)"),
    h("label", {}, "Size",
      h("input", { type: "range", min: 12, max: 42, step: 2, value: filter.size, "aria-label": "Thumbnail size",
        oninput: (e) => { filter.size = Number(e.target.value); env.renderInstances(); } })));
}

// ---------------------------------------------------------------- mount

/**
 * Mount the Attack Simulation panel.
 * @param {HTMLElement} el
 * @param {{store: ReturnType<typeof import("../lib/store.js").createStore>, send: Function, root: HTMLElement}} ctx
 * @returns {() => void} cleanup
 */
export function mountAttack(el, ctx) {
  const { store } = ctx;
  let sides = [], views = [], tip = null, disposed = false, width = 0;
  const drags = new Set();
  const env = {
    store, uid: ++uid,
    filter: { retrain: true, model: true, size: 24 },
    openTip: () => tip,
    setTip: (t) => { tip = t; env.renderInstances(); },
    renderInstances: () => views.forEach((v) => v.renderInstances()),
    /** Follow the pointer on the window until it is released. */
    track(move, end) {
      const stop = () => {
        window.removeEventListener("pointermove", move);
        window.removeEventListener("pointerup", stop);
        drags.delete(stop);
        end();
      };
      window.addEventListener("pointermove", move);
      window.addEventListener("pointerup", stop);
      drags.add(stop);
    },
  };
  const legend = createLegendBar(env);
  const tabs = createStrategyTabs(env);
  const slider = createSlider(env);
  const controls = h("div", { class: "mucomp-atk-controls" }, legend.el, h("div", { class: "mucomp-atk-row" }, tabs.el, slider.el));
  const toolbar = createInstanceToolbar(env);
  const sideBox = h("div", { class: "mucomp-atk-sides" });
  const message = h("div", { class: "mucomp-atk-note", role: "note", hidden: true },
    "No Retrain model: the attack simulation compares each model with the model retrained without the forget set. Add a Retrain model to the study.");
  const root = h("div", { class: "mucomp-atk" }, message, controls, toolbar, sideBox);
  el.append(root);

  function choicesFor(s) {
    const out = {};
    for (const [key] of STRATEGIES) {
      out[key] = {};
      sides.forEach((sd, i) => { out[key][sd.key] = choose(key, sd, sides[1 - i], s); });
    }
    return out;
  }

  function refresh() {
    const s = store.get();
    const choices = choicesFor(s);
    const first = sides.find((sd) => sd.status === "ok");
    legend.update(sides, s);
    tabs.update(sides, choices, s);
    slider.update(first, first && choices.custom[first.key], s);
    // A strategy that cannot run on a side (Max Success without per-sample values) falls back to Custom.
    views.forEach((v, i) => v.update(choices[s.strategy][sides[i].key] ?? choices.custom[sides[i].key]));
  }

  function rebuild() {
    const s = store.get();
    tip = null;
    sides = [sideData(s, "A"), sideData(s, "B")];
    const none = !sides.some((sd) => sd.status === "ok") && !retrainIdOf(s.runs);
    message.hidden = !none;
    controls.hidden = toolbar.hidden = sideBox.hidden = none;
    views = none ? [] : sides.map((sd) => createSideView(sd, env));
    sideBox.replaceChildren(...views.map((v) => v.el));
    views.forEach((v) => v.setWidth(width || 560));
    refresh();
  }

  function redraw() {
    views.forEach((v) => v.draw());
    const { hovered } = store.get();
    for (const b of root.querySelectorAll(".mucomp-atk-thumb")) {
      b.classList.toggle("mucomp-atk-hovered", hovered != null && Number(b.dataset.id) === hovered);
    }
  }

  const onKey = (e) => { if (e.key === "Escape" && tip) env.setTip(null); };
  root.addEventListener("keydown", onKey);
  const ro = typeof ResizeObserver !== "undefined" ? new ResizeObserver((entries) => {
    const w = Math.round(entries[0].contentRect.width);
    if (w > 0 && w !== width) {
      width = w;
      views.forEach((v) => v.setWidth(width));
    }
  }) : null;
  ro?.observe(root);
  const whenSpriteReady = () => store.get().sprite?.ready?.then((ok) => { if (ok && !disposed) env.renderInstances(); });

  /** True when data this panel shows changed: A, B, the Retrain model (their rows or data), or the metric. */
  function shownChanged(s, prev) {
    if (changed(s, prev, "probe", "meta", "modelA", "modelB", "metric")) return true;
    const ids = [s.modelA, s.modelB, retrainIdOf(s.runs)];
    if (ids[2] !== retrainIdOf(prev.runs)) return true;
    const row = (st, id) => (st.runs || []).find((r) => r.id === id);
    if (s.runs !== prev.runs && ids.some((id) => row(s, id) !== row(prev, id))) return true;
    return modelsChanged(s, prev, ids);
  }

  const unsub = store.subscribe((s, prev) => {
    if (shownChanged(s, prev)) rebuild();
    else if (changed(s, prev, "threshold", "strategy")) refresh();
    if (changed(s, prev, "sprite")) {
      env.renderInstances();
      whenSpriteReady();
    }
    if (changed(s, prev, "hovered", "theme")) redraw();
  });
  rebuild();
  whenSpriteReady();

  return () => {
    disposed = true;
    unsub();
    ro?.disconnect();
    root.removeEventListener("keydown", onKey);
    for (const stop of [...drags]) stop();
    root.remove();
  };
}
