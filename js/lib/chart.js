// Small SVG chart helpers shared by the metric panels (class-wise accuracy, prediction
// matrix, layer-wise similarity): SVG elements, axes, a tooltip, a segmented control and
// container-width tracking. Text and lines use `currentColor`, so panel CSS sets the theme.

import { h } from "./dom.js";

const SVG_NS = "http://www.w3.org/2000/svg";

/** Width used when the container has no layout yet (jsdom, a hidden tab). */
export const DEFAULT_WIDTH = 340;

/**
 * An SVG element: `s("rect", {x: 1, class: "a"}, child, "text")`. Null/false attributes
 * are skipped; `on*` functions become event listeners.
 * @returns {SVGElement}
 */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Shorten `text` to at most `n` characters with an ellipsis. */
export function truncate(text, n) {
  const str = String(text);
  return str.length <= n ? str : `${str.slice(0, Math.max(1, n - 1))}…`;
}

const STROKE = { stroke: "currentColor", "stroke-opacity": 0.4 };

/** Centre of category or value `v` on a linear, band or point scale. */
function position(scale, v) {
  return scale(v) + (scale.bandwidth ? scale.bandwidth() / 2 : 0);
}

/**
 * Tick marks and labels of `scale` as an SVG group in currentColor, at the origin of the
 * axis (translate it into place). Each label carries `data-tick` = its index.
 * @param {"bottom"|"left"} orient
 * @param {*} scale               a d3 linear, band or point scale
 * @param {{values?: any[], format?: (v: any, i: number) => string, size?: number,
 *          rotate?: number, line?: boolean, cls?: string}} [opts]
 *   values: ticks (default: the domain of a band/point scale, else scale.ticks(5));
 *   size: tick length (0 = none); rotate: label angle in degrees (bottom axes);
 *   line: draw the axis line (default true)
 * @returns {SVGGElement}
 */
export function axis(orient, scale, { values, format = String, size = 4, rotate = 0, line = true, cls } = {}) {
  const ticks = values ?? (scale.ticks ? scale.ticks(5) : scale.domain());
  const [r0, r1] = scale.range();
  const g = s("g", { class: cls, "font-size": 10, fill: "currentColor" });
  const bottom = orient === "bottom";
  if (line) {
    g.append(s("line", { ...(bottom ? { x1: r0, x2: r1 } : { y1: r0, y2: r1 }), ...STROKE }));
  }
  ticks.forEach((v, i) => {
    const p = position(scale, v);
    if (size) {
      g.append(s("line", { ...(bottom ? { x1: p, x2: p, y2: size } : { y1: p, y2: p, x2: -size }), ...STROKE }));
    }
    const gap = size + 2;
    const text = bottom
      ? s("text", rotate
        ? { transform: `translate(${p},${gap}) rotate(${rotate})`, "text-anchor": "end", dy: "0.7em" }
        : { x: p, y: gap, dy: "0.7em", "text-anchor": "middle" })
      : s("text", { x: -gap, y: p, dy: "0.32em", "text-anchor": "end" });
    text.setAttribute("data-tick", String(i));
    text.textContent = format(v, i);
    g.append(text);
  });
  return g;
}

/**
 * A tooltip box inside `parent` (which must be `position: relative`), placed next to the
 * pointer and flipped to stay inside the parent.
 * @param {HTMLElement} parent
 * @param {string} cls  CSS class of the box
 */
export function tooltip(parent, cls) {
  const el = h("div", { class: `mucomp-tip ${cls}`, role: "tooltip", hidden: true });
  parent.append(el);
  return {
    el,
    /** Show `content` (nodes or strings) near the pointer of `event`. */
    show(content, event) {
      el.replaceChildren(...content);
      el.hidden = false;
      const box = parent.getBoundingClientRect();
      let x = event.clientX - box.left + 12;
      const y = event.clientY - box.top + 12;
      if (parent.clientWidth && x + el.offsetWidth > parent.clientWidth) x = Math.max(0, x - el.offsetWidth - 24);
      el.style.left = `${x}px`;
      el.style.top = `${y}px`;
    },
    hide() { el.hidden = true; },
  };
}

/**
 * A group of real toggle buttons with one pressed (`aria-pressed`), e.g. Train | Test.
 * @param {{cls: string, label: string, options: [string, string][], value: string,
 *          onSelect: (value: string) => void}} opts  options are [value, text] pairs;
 *   cls is the group's class, buttons get `${cls}-btn` and the pressed one `${cls}-on`
 * @returns {{el: HTMLElement, set: (value: string) => void}}
 */
export function segmented({ cls, label, options, value, onSelect }) {
  const buttons = options.map(([v, text]) => h("button", {
    type: "button", class: `${cls}-btn`, "data-value": v, "aria-label": `${label}: ${text}`,
    onclick: () => onSelect(v),
  }, text));
  const set = (current) => {
    for (const b of buttons) {
      const on = b.getAttribute("data-value") === current;
      b.setAttribute("aria-pressed", String(on));
      b.classList.toggle(`${cls}-on`, on);
    }
  };
  set(value);
  return { el: h("div", { class: cls, role: "group", "aria-label": label }, ...buttons), set };
}

// Widths seen by `observeWidth`, so that a redraw reads a number instead of asking the
// browser for layout in the middle of other panels' DOM writes (a forced reflow each time).
const widths = new WeakMap();

/** Layout width of `el` (as last observed, when observed), or DEFAULT_WIDTH before it has one. */
export function widthOf(el) {
  return (widths.get(el) ?? el.clientWidth) || DEFAULT_WIDTH;
}

/**
 * Call `onResize()` when the width of `el` changes (no-op without ResizeObserver), and
 * keep that width for `widthOf`.
 * @returns {() => void} cleanup
 */
export function observeWidth(el, onResize) {
  if (typeof ResizeObserver === "undefined") return () => {};
  widths.set(el, el.clientWidth);
  const ro = new ResizeObserver(() => {
    const width = el.clientWidth; // layout is up to date when observers run: no forced reflow
    if (width === widths.get(el)) return;
    widths.set(el, width);
    onResize();
  });
  ro.observe(el);
  return () => {
    ro.disconnect();
    widths.delete(el);
  };
}

/**
 * Classes whose row gets a text label when only every `step`-th label fits: forgotten
 * classes always, the others every `step`-th unless within `step` rows of a forgotten one.
 * @param {number} k
 * @param {number} step
 * @param {number[]} [forget]
 * @returns {number[]} ascending
 */
export function labelledClasses(k, step, forget = []) {
  const out = [];
  for (let c = 0; c < k; c++) {
    if (forget.includes(c)) out.push(c);
    else if (c % step === 0 && !forget.some((f) => Math.abs(f - c) < step)) out.push(c);
  }
  return out;
}

/** Class names from meta, `class c` where missing. */
export function classNames(meta, k) {
  return Array.from({ length: k }, (_, c) => meta?.class_names?.[c] ?? `class ${c}`);
}
