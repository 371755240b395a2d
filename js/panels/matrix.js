// Placeholder until this panel lands.
import { h } from "../lib/dom.js";

export function mountMatrix(el, ctx) {
  el.append(h("div", { class: "mucomp-panel-title" }, "Matrix"));
  return () => {};
}
