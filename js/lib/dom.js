// Tiny DOM helpers shared by the panels.

/**
 * h("button", {class: "x", onclick: fn, "aria-label": "..."}, "text", child)
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** A canvas sized for the device pixel ratio; returns {canvas, ctx, resize(w, h)}. */
export function hiDpiCanvas(cls = "") {
  const canvas = document.createElement("canvas");
  canvas.className = cls;
  const ctx = canvas.getContext("2d");
  function resize(w, hgt) {
    const dpr = (typeof window !== "undefined" && window.devicePixelRatio) || 1;
    canvas.width = Math.max(1, Math.round(w * dpr));
    canvas.height = Math.max(1, Math.round(hgt * dpr));
    canvas.style.width = `${w}px`;
    canvas.style.height = `${hgt}px`;
    ctx?.setTransform(dpr, 0, 0, dpr, 0, 0);
  }
  return { canvas, ctx, resize };
}

/** Format a metric value for display: 3 decimals, "–" for missing. */
export function fmt(v, digits = 3) {
  return v == null || Number.isNaN(v) ? "–" : Number(v).toFixed(digits);
}

/** Replace a panel's content with a visible error instead of a blank area. */
export function showError(el, err) {
  el.replaceChildren(h("div", { class: "mucomp-error", role: "alert" },
    `This view failed: ${err && err.message ? err.message : String(err)}`));
}
