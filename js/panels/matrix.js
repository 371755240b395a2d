// Prediction matrix: Model A and Model B side by side (stacked when the panel is narrow),
// true class rows × predicted class columns, on the split chosen by store.split (this panel
// owns that switch; the class-wise panel always shows both sets). Two encodings, switched
// by a visible segmented control (the reference hid it behind an invisible hotspot):
//   "split"  each cell cut along its diagonal: lower-left = proportion (pred_matrix),
//            upper-right = mean confidence (conf_matrix), both in theme-aware greys;
//   "bubble" circle area ∝ proportion (hidden below 0.002), colour = confidence (turbo).
// Cells are SVG up to 30 classes and canvas above. Hovering a row sets store.hoveredClass.
// Column labels are horizontal: class names where they fit a column, else class indices
// (full names in their tooltips); the forget mark ✖ sits on a line of its own below.

import { scaleBand } from "d3-scale";
import { EMERALD, PURPLE, palette } from "../lib/colors.js";
import { fmt, h, hiDpiCanvas } from "../lib/dom.js";
import { changed, modelsChanged } from "../lib/store.js";
import { axis, classNames, labelledClasses, observeWidth, s, segmented, tooltip, truncate, widthOf } from "../lib/chart.js";

/** Proportions below this get no bubble. */
export const BUBBLE_MIN = 0.002;
/** Above this many classes the cells are drawn on a canvas instead of SVG. */
export const CANVAS_K = 30;
const MAX_CELL = 26;
const MIN_CELL = 11; // narrower than this side by side: stack A over B
const GAP = 14;
const TITLE_H = 16;
const LABEL_CHARS = 10;
const CHAR_W = 6; // width of a character of 10 px label text, generously
const LINE_H = 11; // height of a line of 10 px label text
const AXIS_TITLE_H = 14;
const TRUE_W = 40; // room for the "True ↓" title above the row labels
const SPLITS = [["train", "Train"], ["test", "Test"]];
const MODES = [["split", "Split"], ["bubble", "Bubble"]];

const clamp01 = (v) => Math.max(0, Math.min(1, Number.isFinite(v) ? v : 0));

/** Parse "#rrggbb" into [r, g, b]. */
const rgbOf = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

/**
 * Grey for a value in [0, 1], from the theme's background (0) to its foreground (1) in
 * palette(theme): darker with the value on a light theme, lighter on a dark one, so the
 * contrast with the panel always grows with the value. NaN counts as 0.
 * @param {number} v
 * @param {"light"|"dark"} [theme]
 * @returns {string} "rgb(r, g, b)"
 */
export function greyFor(v, theme = "light") {
  const t = clamp01(v);
  const { bg, fg } = palette(theme);
  const [a, b] = [rgbOf(bg), rgbOf(fg)];
  return `rgb(${a.map((c, i) => Math.round(c + (b[i] - c) * t)).join(", ")})`;
}

/**
 * Turbo colour map (Google's polynomial approximation, as in d3-scale-chromatic).
 * @param {number} v  in [0, 1], clamped
 * @returns {string} "rgb(r, g, b)"
 */
export function turbo(v) {
  const t = clamp01(v);
  const ch = (x) => Math.max(0, Math.min(255, Math.round(x)));
  const r = 34.61 + t * (1172.33 - t * (10793.56 - t * (33300.12 - t * (38394.49 - t * 14825.05))));
  const g = 23.31 + t * (557.33 + t * (1225.33 - t * (3574.96 - t * (1073.77 + t * 707.56))));
  const b = 27.2 + t * (3211.1 - t * (15327.97 - t * (27814 - t * (22569.18 - t * 6838.66))));
  return `rgb(${ch(r)}, ${ch(g)}, ${ch(b)})`;
}

/**
 * The two triangles of the cell at (x, y) with side `size`, split along the diagonal from
 * top-left to bottom-right: lower-left (proportion) and upper-right (confidence).
 * @returns {{lower: number[][], upper: number[][]}}
 */
export function cellTriangles(x, y, size) {
  return {
    lower: [[x, y], [x, y + size], [x + size, y + size]],
    upper: [[x, y], [x + size, y], [x + size, y + size]],
  };
}

/**
 * Bubble radius for proportion `p` in a cell of side `size`: area ∝ p, a full cell's
 * inscribed circle at p = 1, at least 0.8 px when shown, 0 below BUBBLE_MIN.
 */
export function bubbleRadius(p, size) {
  if (!(p >= BUBBLE_MIN)) return 0;
  return Math.max(0.8, (size / 2 - 0.5) * Math.sqrt(Math.min(1, p)));
}

/**
 * What to draw for one K×K matrix, in cell-area coordinates.
 * split: one mark per cell {row, col, lower, upper, lowerFill, upperFill, p, q};
 * bubble: one mark per shown bubble {row, col, cx, cy, r, fill, p, q}.
 * @param {ArrayLike<number>} prop  row-major proportions (K×K)
 * @param {ArrayLike<number>} conf  row-major mean confidences (K×K)
 * @param {number} k
 * @param {number} cell            side of a cell in px
 * @param {"split"|"bubble"} mode
 * @param {"light"|"dark"} theme
 */
export function matrixMarks(prop, conf, k, cell, mode, theme) {
  const marks = [];
  for (let row = 0; row < k; row++) {
    for (let col = 0; col < k; col++) {
      const p = prop[row * k + col];
      const q = conf[row * k + col];
      if (mode === "bubble") {
        const r = bubbleRadius(p, cell);
        if (r > 0) marks.push({ row, col, p, q, r, cx: (col + 0.5) * cell, cy: (row + 0.5) * cell, fill: turbo(q) });
      } else {
        const { lower, upper } = cellTriangles(col * cell, row * cell, cell);
        marks.push({ row, col, p, q, lower, upper, lowerFill: greyFor(p, theme), upperFill: greyFor(q, theme) });
      }
    }
  }
  return marks;
}

/**
 * Positions of the two matrices for a container `width`: side by side after one shared
 * row-label column while cells stay ≥ 11 px, else stacked (each with its own row labels).
 * blocks[i] is the top-left corner of matrix i's cells.
 * @param {number} width
 * @param {number} k
 * @param {number} labelW   width of the row-label column
 * @param {number} colLabelH height under a matrix for column labels
 */
export function matrixLayout(width, k, labelW, colLabelH) {
  const avail = width - labelW - 4;
  const sideCell = (avail - GAP) / (2 * k);
  const stacked = sideCell < MIN_CELL;
  let cell = Math.min(MAX_CELL, stacked ? avail / k : sideCell);
  if (cell >= 4) cell = Math.floor(cell);
  const size = cell * k;
  const blockH = TITLE_H + size + colLabelH;
  const blocks = stacked
    ? [{ x: labelW, y: TITLE_H }, { x: labelW, y: blockH + GAP + TITLE_H }]
    : [{ x: labelW, y: TITLE_H }, { x: labelW + size + GAP, y: TITLE_H }];
  return { cell, size, stacked, blocks, labelW, width, height: stacked ? 2 * blockH + GAP : blockH };
}

/**
 * The cell under (x, y) in layout coordinates, or null.
 * @returns {{side: number, row: number, col: number}|null}  side 0 = A, 1 = B
 */
export function hitCell(layout, k, x, y) {
  for (let side = 0; side < layout.blocks.length; side++) {
    const b = layout.blocks[side];
    const col = Math.floor((x - b.x) / layout.cell);
    const row = Math.floor((y - b.y) / layout.cell);
    if (row >= 0 && row < k && col >= 0 && col < k) return { side, row, col };
  }
  return null;
}

/**
 * Horizontal column labels for cells `cell` px wide: the class names when every one fits
 * its column, else the class indices. `step`: label every step-th column (and the
 * forgotten ones) so that labels never overlap.
 * @param {string[]} names
 * @param {number} cell
 * @returns {{texts: string[], indexed: boolean, step: number}}
 */
export function columnLabels(names, cell) {
  const need = (text) => CHAR_W * text.length + 3;
  const indexed = !names.every((n) => need(String(n)) <= cell);
  const texts = names.map((n, c) => (indexed ? String(c) : String(n)));
  return { texts, indexed, step: Math.max(1, Math.ceil(Math.max(...texts.map(need)) / cell)) };
}

const pathOf = (pts) => `M${pts.map(([x, y]) => `${x},${y}`).join("L")}Z`;

/** SVG cells of one matrix. */
function svgCells(marks, mode) {
  const g = s("g", { class: "mucomp-pm-cells" });
  for (const m of marks) {
    if (mode === "bubble") {
      g.append(s("circle", {
        class: "mucomp-pm-bubble", cx: m.cx, cy: m.cy, r: m.r, fill: m.fill, "data-row": m.row, "data-col": m.col,
      }));
    } else {
      g.append(s("g", { class: "mucomp-pm-cell", "data-row": m.row, "data-col": m.col },
        s("path", { class: "mucomp-pm-prop", d: pathOf(m.lower), fill: m.lowerFill, "data-value": m.p }),
        s("path", { class: "mucomp-pm-conf", d: pathOf(m.upper), fill: m.upperFill, "data-value": m.q })));
    }
  }
  return g;
}

/** Paint one matrix's cells on a 2-D canvas context; bubbles get a thin `outline`. */
function paintCells(ctx, marks, mode, outline) {
  ctx.lineWidth = 0.5;
  ctx.strokeStyle = outline;
  for (const m of marks) {
    if (mode === "bubble") {
      ctx.fillStyle = m.fill;
      ctx.beginPath();
      ctx.arc(m.cx, m.cy, m.r, 0, 2 * Math.PI);
      ctx.fill();
      ctx.stroke();
    } else {
      for (const [pts, fill] of [[m.lower, m.lowerFill], [m.upper, m.upperFill]]) {
        ctx.fillStyle = fill;
        ctx.beginPath();
        pts.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
        ctx.closePath();
        ctx.fill();
      }
    }
  }
}

/** The matrices of both models on `split`, with a message for a missing one. */
function blocksData({ modelA, modelB, models }, split) {
  return [["A", modelA, EMERALD], ["B", modelB, PURPLE]].map(([side, id, color]) => {
    const m = models?.[id];
    const prop = m?.pred_matrix?.[split];
    const conf = m?.conf_matrix?.[split];
    return { side, id, color, prop, conf, message: prop && conf ? null : `No prediction matrix for ${id ?? "–"}` };
  });
}

/** Share of each model's samples on the diagonal (macro mean over rows). */
function diagonalMean(prop, k) {
  let sum = 0;
  for (let c = 0; c < k; c++) sum += prop[c * k + c];
  return sum / k;
}

/** A colour ramp and what it encodes, under the matrices. */
function legendFor(mode, theme) {
  const stops = Array.from({ length: 9 }, (_, i) => (mode === "bubble" ? turbo(i / 8) : greyFor(i / 8, theme)));
  const ramp = h("span", { class: "mucomp-pm-ramp", style: { background: `linear-gradient(to right, ${stops.join(", ")})` } });
  if (mode === "bubble") {
    return [h("span", {}, "● size = proportion (hidden < 0.002) · colour = confidence"), h("span", {}, "0"), ramp, h("span", {}, "1")];
  }
  const glyph = s("svg", { width: 12, height: 12, "aria-hidden": "true" },
    s("path", { d: "M0,0L0,12L12,12Z", fill: greyFor(0.8, theme) }),
    s("path", { d: "M0,0L12,0L12,12Z", fill: greyFor(0.3, theme) }));
  return [glyph, h("span", {}, "◣ proportion · ◥ confidence"), h("span", {}, "0"), ramp, h("span", {}, "1")];
}

/**
 * Mount the prediction-matrix panel.
 * @param {HTMLElement} el
 * @param {{store: ReturnType<import("../lib/store.js").createStore>}} ctx
 * @returns {() => void} cleanup
 */
export function mountMatrix(el, { store }) {
  let mode = "split";
  let layout = null;
  let k = 0;
  let highlightLayers = [];
  let rowLabels = [];
  let present = []; // which of A, B has a matrix drawn
  // What the last full draw laid out, and each block's drawn parts: a change of one model
  // (a row picked as B) repaints that block's cells only.
  let drawn = null; // {key, meta, svg, parts: [{id, prop, conf, title, cells}]}

  const splitSwitch = segmented({
    cls: "mucomp-pm-seg", label: "Data split", options: SPLITS, value: store.get().split,
    onSelect: (split) => store.set({ split }),
  });
  const modeSwitch = segmented({
    cls: "mucomp-pm-seg", label: "Cell encoding", options: MODES, value: mode,
    onSelect: (m) => { mode = m; modeSwitch.set(m); draw(); },
  });
  const plot = h("div", { class: "mucomp-pm-plot" });
  const legend = h("div", { class: "mucomp-pm-legend" });
  const wrap = h("div", { class: "mucomp-pm" },
    h("div", { class: "mucomp-pm-head" }, h("div", { class: "mucomp-panel-title" }, "Prediction Matrix"),
      h("div", { class: "mucomp-pm-controls" }, splitSwitch.el, modeSwitch.el)),
    plot, legend);
  el.append(wrap);
  const tip = tooltip(wrap, "mucomp-pm-tip");

  function highlight() {
    const hc = store.get().hoveredClass;
    for (const t of rowLabels) t.classList.toggle("mucomp-pm-on", Number(t.getAttribute("data-row")) === hc);
    for (const { g, b } of highlightLayers) {
      g.replaceChildren();
      if (hc == null || hc >= k) continue;
      g.append(s("rect", { class: "mucomp-pm-row", x: b.x - 1.5, y: b.y + hc * layout.cell - 0.5, width: layout.size + 3, height: layout.cell + 1 }));
    }
  }

  /** The aria-label of the matrices' SVG. */
  function describe(blocks, k) {
    const { split } = store.get();
    return `Prediction matrices, ${split === "train" ? "training" : "test"} set, true class rows × predicted class columns. `
      + blocks.map((b) => (b.prop ? `Model ${b.side} (${b.id}): mean share predicted correctly ${fmt(diagonalMean(b.prop, k))}` : b.message)).join("; ") + ".";
  }

  /** The layout `drawn` was made for, as a string, with `state`'s blocks; null without one. */
  function layoutKey(state, blocks) {
    const shaped = blocks.find((b) => b.prop);
    if (!shaped || !state.modelA || !state.modelB) return null;
    const n = shaped.prop.shape?.[0] ?? Math.round(Math.sqrt(shaped.prop.length));
    return [mode, state.split, state.theme, widthOf(wrap), n, blocks.map((b) => Boolean(b.prop))].join("|");
  }

  /** Redraw, repainting only the cells of a changed model when nothing else changed. */
  function update() {
    const state = store.get();
    const blocks = blocksData(state, state.split);
    const key = layoutKey(state, blocks);
    if (!drawn || key === null || key !== drawn.key || state.meta !== drawn.meta) return draw();
    tip.hide();
    blocks.forEach((b, i) => {
      const part = drawn.parts[i];
      if (!b.prop || (part.prop === b.prop && part.conf === b.conf && part.id === b.id)) return;
      const marks = matrixMarks(b.prop, b.conf, k, layout.cell, mode, state.theme);
      const { x, y } = layout.blocks[i];
      const cells = part.cells.tagName === "CANVAS" ? canvasBlock(marks, x, y, state.theme) : matrixGroup(b.side, marks, x, y);
      part.cells.replaceWith(cells);
      part.title.textContent = `Model ${b.side} (${b.id})`;
      Object.assign(part, { id: b.id, prop: b.prop, conf: b.conf, cells });
    });
    drawn.svg.setAttribute("aria-label", describe(blocks, k));
  }

  function matrixGroup(side, marks, x, y) {
    return s("g", { class: "mucomp-pm-matrix", "data-side": side, transform: `translate(${x},${y})` }, svgCells(marks, mode));
  }

  function draw() {
    const state = store.get();
    const { meta, theme, split } = state;
    tip.hide();
    drawn = null;
    highlightLayers = [];
    rowLabels = [];
    present = [];
    splitSwitch.set(split);
    if (!state.modelA || !state.modelB) {
      plot.replaceChildren(h("div", { class: "mucomp-pm-empty mucomp-muted" }, "Select both model A and model B."));
      legend.replaceChildren();
      return;
    }
    const blocks = blocksData(state, split);
    present = blocks.map((b) => Boolean(b.prop));
    const shaped = blocks.find((b) => b.prop);
    if (!shaped) {
      plot.replaceChildren(h("div", { class: "mucomp-pm-empty mucomp-muted" }, blocks.map((b) => b.message).join(" · ")));
      legend.replaceChildren();
      return;
    }
    k = shaped.prop.shape?.[0] ?? Math.round(Math.sqrt(shaped.prop.length));
    const forget = meta.forget_classes || [];
    const names = classNames(meta, k);
    // Row labels name the classes; with index column labels they lead with the index, unless
    // the name already holds it ("3", "class 3").
    const rowTexts = (indexed) => names.map((n, c) => (indexed && !String(n).split(/\s+/).includes(String(c)) ? `${c} ` : "")
      + truncate(n, LABEL_CHARS) + (forget.includes(c) ? " ✖" : ""));
    const colLabelH = 4 + LINE_H + (forget.length ? LINE_H : 0) + AXIS_TITLE_H;
    const place = (rows) => matrixLayout(widthOf(wrap), k,
      Math.max(TRUE_W, Math.min(96, 10 + 5.6 * Math.max(...rows.map((l) => l.length)))), colLabelH);
    let labels = rowTexts(false);
    layout = place(labels);
    let cols = columnLabels(names, layout.cell);
    if (cols.indexed) {
      labels = rowTexts(true);
      layout = place(labels);
      cols = columnLabels(names, layout.cell);
    }
    const { labelW } = layout;
    const useCanvas = k > CANVAS_K;
    const svg = s("svg", {
      class: "mucomp-pm-svg", width: layout.width, height: layout.height, role: "img", "aria-label": describe(blocks, k),
    });
    const canvases = [];
    const parts = [];
    blocks.forEach((b, i) => {
      const { x, y } = layout.blocks[i];
      const title = s("text", { class: "mucomp-pm-title", x, y: y - 5, fill: b.color }, `Model ${b.side} (${b.id})`);
      svg.append(title);
      if (!b.prop) {
        svg.append(s("text", { class: "mucomp-pm-missing", x: x + layout.size / 2, y: y + layout.size / 2, "text-anchor": "middle" }, b.message));
        parts.push({ id: b.id, prop: null, conf: null, title, cells: null });
        return;
      }
      const marks = matrixMarks(b.prop, b.conf, k, layout.cell, mode, theme);
      const cells = useCanvas ? canvasBlock(marks, x, y, theme) : matrixGroup(b.side, marks, x, y);
      if (useCanvas) canvases.push(cells);
      else svg.append(cells);
      parts.push({ id: b.id, prop: b.prop, conf: b.conf, title, cells });
      svg.append(s("rect", { class: "mucomp-pm-frame", x, y, width: layout.size, height: layout.size }));
      if (!highlightLayers.length || layout.stacked) svg.append(rowAxis(labels, x, y)); // first drawn matrix
      svg.append(colAxis(cols, names, x, y + layout.size, colLabelH));
      const hl = s("g", { class: "mucomp-pm-hl" });
      highlightLayers.push({ g: hl, b: layout.blocks[i] });
      svg.append(hl);
    });
    svg.append(s("text", { class: "mucomp-pm-axis-title", x: labelW - 4, y: TITLE_H - 5, "text-anchor": "end" }, "True ↓"));
    plot.replaceChildren(...canvases, svg);
    legend.replaceChildren(...legendFor(mode, theme));
    drawn = { key: layoutKey(state, blocks), meta, svg, parts };
    highlight();
  }

  function canvasBlock(marks, x, y, theme) {
    const { canvas, ctx, resize } = hiDpiCanvas("mucomp-pm-canvas");
    resize(layout.size, layout.size);
    Object.assign(canvas.style, { left: `${x}px`, top: `${y}px` });
    canvas.setAttribute("aria-hidden", "true");
    if (ctx) paintCells(ctx, marks, mode, palette(theme).muted);
    return canvas;
  }

  function band() {
    return scaleBand().domain(Array.from({ length: k }, (_, c) => c)).range([0, layout.size]);
  }

  /** Classes that get a label: every `step`-th and the forgotten ones. */
  function labelled(step) {
    return labelledClasses(k, step, store.get().meta.forget_classes || []);
  }

  function rowAxis(labels, x, y) {
    const values = labelled(Math.ceil(LINE_H / layout.cell));
    const g = axis("left", band(), { values, format: (c) => labels[c], size: 0, line: false, cls: "mucomp-pm-rowlabels" });
    g.setAttribute("transform", `translate(${x},${y})`);
    for (const t of g.querySelectorAll("text")) {
      t.setAttribute("data-row", String(values[Number(t.getAttribute("data-tick"))]));
      rowLabels.push(t);
    }
    return g;
  }

  /** Horizontal column labels, each with its class's full name as a tooltip; ✖ below a forgotten class. */
  function colAxis(cols, names, x, y, height) {
    const forget = store.get().meta.forget_classes || [];
    const values = labelled(cols.step);
    const g = axis("bottom", band(), { values, format: (c) => cols.texts[c], size: 2, line: false, cls: "mucomp-pm-collabels" });
    g.setAttribute("transform", `translate(${x},${y})`);
    for (const t of g.querySelectorAll("text")) {
      const c = values[Number(t.getAttribute("data-tick"))];
      const forgotten = forget.includes(c);
      t.setAttribute("data-col", String(c));
      // Keep the last label inside the matrix's right edge.
      if (Number(t.getAttribute("x")) + (CHAR_W * t.textContent.length) / 2 > layout.size + 2) {
        t.setAttribute("x", String(layout.size + 2));
        t.setAttribute("text-anchor", "end");
      }
      t.prepend(s("title", {}, `${names[c]}${forgotten ? " (✖ forgotten)" : ""}`));
      if (forgotten) {
        g.append(s("text", {
          class: "mucomp-pm-forget", x: t.getAttribute("x"), y: 4 + LINE_H, dy: "0.7em",
          "text-anchor": t.getAttribute("text-anchor"), "data-col": c, "aria-hidden": "true",
        }, "✖"));
      }
    }
    g.append(s("text", { class: "mucomp-pm-axis-title", x: layout.size / 2, y: height - 3, "text-anchor": "middle" },
      cols.indexed ? "Predicted (index) →" : "Predicted →"));
    return g;
  }

  function onMove(event) {
    if (!layout) return;
    const box = plot.getBoundingClientRect();
    const hit = hitCell(layout, k, event.clientX - box.left, event.clientY - box.top);
    if (!hit || !present[hit.side]) { onLeave(); return; }
    store.set({ hoveredClass: hit.row });
    tip.show(tipContent(hit), event);
  }

  function onLeave() {
    tip.hide();
    if (store.get().hoveredClass != null) store.set({ hoveredClass: null });
  }

  function tipContent({ side, row, col }) {
    const state = store.get();
    const blocks = blocksData(state, state.split);
    const names = classNames(state.meta, k);
    const forget = state.meta.forget_classes || [];
    const name = (c) => `${names[c]}${forget.includes(c) ? " (✖)" : ""}`;
    const values = (b) => (b.prop ? `proportion ${fmt(b.prop[row * k + col])} · confidence ${fmt(b.conf[row * k + col])}` : "–");
    const me = blocks[side];
    const other = blocks[1 - side];
    return [
      h("div", { class: "mucomp-tip-title", style: { color: me.color } }, `Model ${me.side} (${me.id})`),
      h("div", {}, `True class: ${name(row)}`),
      h("div", {}, `Predicted: ${name(col)}`),
      h("div", {}, `Proportion: ${fmt(me.prop?.[row * k + col])}`),
      h("div", {}, `Confidence: ${fmt(me.conf?.[row * k + col])}`),
      h("div", { class: "mucomp-muted" }, `Model ${other.side}: ${values(other)}`),
    ];
  }

  plot.addEventListener("mousemove", onMove);
  plot.addEventListener("mouseleave", onLeave);
  draw();
  const unsubscribe = store.subscribe((state, prev) => {
    if (changed(state, prev, "meta", "split", "theme")) draw();
    else if (modelsChanged(state, prev)) update();
    else if (changed(state, prev, "hoveredClass")) highlight();
  });
  const unobserve = observeWidth(wrap, draw);
  return () => {
    unsubscribe();
    unobserve();
    plot.removeEventListener("mousemove", onMove);
    plot.removeEventListener("mouseleave", onLeave);
    wrap.remove();
  };
}
