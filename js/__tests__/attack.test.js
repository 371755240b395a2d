import { afterEach, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { mountAttack, AXIS_TITLE } from "../panels/attack.js";
import { fmt } from "../lib/dom.js";
import { dequantize } from "../lib/codecs.js";
import {
  METRIC_RANGE, binOf, gridThresholds, maxAttack, maxSuccess, mergedCurve, prepareValues, scoreAt, stackBins, tidy, worstCase,
} from "../lib/attack.js";
import { mountForTest } from "./helpers.js";

const HEIGHT = 280, TOP = 16, BOTTOM = 22; // the panel's chart geometry
const yOf = (v, metric = "entropy") => {
  const [lo, hi] = METRIC_RANGE[metric];
  return HEIGHT - BOTTOM - ((v - lo) / (hi - lo)) * (HEIGHT - TOP - BOTTOM);
};

let cleanups = [];
afterEach(() => {
  cleanups.forEach((fn) => fn());
  cleanups = [];
  document.body.replaceChildren();
});

/** Mount with a store whose subscriptions are counted. */
function mount(opts = {}, overrides = {}) {
  const mounted = mountForTest(mountAttack, opts, overrides);
  cleanups.push(mounted.cleanup);
  return mounted;
}

const sides = (el) => [...el.querySelectorAll(".mucomp-atk-side")];
const fire = (target, type, init) => target.dispatchEvent(new MouseEvent(type, { bubbles: true, ...init }));

describe("attack panel", () => {
  it("mounts with both sides; a Retrain side shows a note instead of charts", () => {
    const { el } = mount();
    const [a, b] = sides(el);
    expect(a.textContent).toContain("Model A · original (Original) vs Retrain");
    expect(a.querySelectorAll("canvas[role=img]").length).toBe(2);
    expect(a.querySelector(".mucomp-atk-butterfly").getAttribute("aria-label")).toContain("Output entropy");
    expect(b.querySelector("canvas")).toBeNull();
    expect(b.querySelector(".mucomp-atk-note").textContent)
      .toBe("Model B is the Retrain model: indistinguishable from itself, PS = 1.");
    expect(el.querySelector(".mucomp-atk-worst-B").disabled).toBe(true);
  });

  it("shows two butterflies when neither side is Retrain", () => {
    const { el } = mount({}, { modelB: "ft-1" });
    expect(el.querySelectorAll(".mucomp-atk-butterfly").length).toBe(2);
    expect(sides(el)[1].textContent).toContain("Model B · ft-1 (Unlearned)");
  });

  it("re-renders on a metric change, from the store or the radio", () => {
    const { el, store } = mount();
    store.set({ metric: "confidence" });
    expect(el.querySelector("input[type=radio][value=confidence]").checked).toBe(true);
    expect(el.querySelector(".mucomp-atk-butterfly").getAttribute("aria-label")).toContain("Top-1 confidence");
    expect(el.querySelector(".mucomp-atk-slider output").textContent).toBe("3.75");
    fire(el.querySelector("input[type=radio][value=entropy]"), "click");
    expect(store.get().metric).toBe("entropy");
    expect(el.querySelector(".mucomp-atk-slider output").textContent).toBe("1.25");
  });

  it("worst-case buttons set the metric, threshold and strategy", () => {
    const { el, store } = mount({}, { modelB: "ft-1" });
    for (const [key, id] of [["A", "original"], ["B", "ft-1"]]) {
      el.querySelector(`.mucomp-atk-worst-${key}`).click();
      const w = worstCase(store.get().models[id].curves);
      expect(store.get()).toMatchObject({ metric: w.metric, threshold: tidy(w.threshold), strategy: "max_attack" });
      const side = sides(el)[key === "A" ? 0 : 1];
      expect(side.querySelector(".mucomp-atk-ps-value").textContent).toBe(fmt(1 - w.attack_score));
    }
    expect(el.querySelector("[data-strategy=max_attack]").getAttribute("aria-selected")).toBe("true");
  });

  it("dragging the threshold in Custom mode writes a snapped value; PS = 1 - Python's attack score", () => {
    const { el, store } = mount();
    const lines = el.querySelector(".mucomp-atk-lines");
    fire(lines, "pointerdown", { clientY: yOf(0.93) });
    expect(store.get().threshold).toBe(0.95);
    fire(window, "pointermove", { clientY: yOf(1.52) });
    expect(store.get().threshold).toBe(1.5);
    fire(window, "pointerup", {});
    fire(window, "pointermove", { clientY: yOf(0.2) });
    expect(store.get().threshold).toBe(1.5); // released
    const merged = mergedCurve(store.get().models.original.curves, "entropy");
    const expected = scoreAt(merged, 1.5);
    expect(sides(el)[0].querySelector(".mucomp-atk-ps-value").textContent).toBe(fmt(1 - expected.attack_score));
    expect(sides(el)[0].querySelector(".mucomp-atk-info").textContent).toContain(fmt(expected.fpr));

    // the butterfly's threshold line can be grabbed too
    const bfly = el.querySelector(".mucomp-atk-butterfly");
    fire(bfly, "pointerdown", { clientX: 100, clientY: yOf(1.5) + 2 });
    fire(window, "pointermove", { clientX: 100, clientY: yOf(2.04) });
    fire(window, "pointerup", {});
    expect(store.get().threshold).toBe(2.05);
  });

  it("offers a keyboard slider in Custom mode and ignores drags in other strategies", () => {
    const { el, store } = mount();
    const slider = el.querySelector(".mucomp-atk-slider input");
    slider.value = "10";
    slider.dispatchEvent(new Event("input"));
    expect(store.get().threshold).toBe(0.5);
    expect(slider.getAttribute("aria-valuetext")).toBe("0.5");
    el.querySelector("[data-strategy=max_attack]").click();
    expect(store.get().strategy).toBe("max_attack");
    expect(el.querySelector(".mucomp-atk-slider").hidden).toBe(true);
    fire(el.querySelector(".mucomp-atk-lines"), "pointerdown", { clientY: yOf(2) });
    expect(store.get().threshold).toBe(0.5);
  });

  it("each strategy shows the thresholds it implies for A and B", () => {
    const { el, store } = mount({}, { modelB: "ft-1" });
    const s = store.get();
    const tab = (key) => el.querySelector(`[data-strategy=${key}] .mucomp-atk-strategy-t`).textContent;
    const mA = mergedCurve(s.models.original.curves, "entropy"), mB = mergedCurve(s.models["ft-1"].curves, "entropy");
    expect(tab("custom")).toBe("A 1.25 · B 1.25");
    const fix = (v) => String(Number(v.toFixed(3)));
    expect(tab("max_attack")).toBe(`A ${fix(maxAttack(mA).threshold)} · B ${fix(maxAttack(mB).threshold)}`);
    const values = (id) => prepareValues(dequantize(s.models[id].attack.entropy), "entropy", "reference");
    const best = maxSuccess(values("original"), values("retrain"), gridThresholds(mA, "entropy", "reference"));
    expect(tab("max_success").startsWith(`A ${fix(mA.threshold[best.index])} ·`)).toBe(true);
    const [ta, tb] = tab("common").match(/A (\S+) · B (\S+)/).slice(1);
    expect(ta).toBe(tb);
    el.querySelector("[data-strategy=max_success]").click();
    const row = s.models.original.curves.entropy[best.direction];
    expect(sides(el)[0].querySelector(".mucomp-atk-ps-value").textContent).toBe(fmt(1 - row.attack_score[best.index]));
  });

  it("success and failure cover both copies of every embedded forget sample", () => {
    const { el, store } = mount();
    const pos = store.get().probe.forget_probe_pos;
    const embedded = [...pos].filter((p) => p >= 0).length;
    const a = sides(el)[0];
    const count = (kind) => a.querySelectorAll(`.mucomp-atk-${kind} .mucomp-atk-thumb`).length;
    expect(count("success") + count("failure")).toBe(2 * embedded);
    const shares = [...a.querySelectorAll(".mucomp-atk-inst-share")].map((s) => parseFloat(s.textContent));
    expect(shares[0] + shares[1]).toBeCloseTo(100, 5);
    const retrainBox = el.querySelector(".mucomp-atk-toolbar input[type=checkbox]");
    retrainBox.checked = false;
    retrainBox.dispatchEvent(new Event("change"));
    expect(count("success") + count("failure")).toBe(embedded);
    expect(a.querySelectorAll(".mucomp-atk-thumb:not(.mucomp-atk-own)").length).toBe(0);
    const size = el.querySelector(".mucomp-atk-toolbar input[type=range]");
    size.value = "40";
    size.dispatchEvent(new Event("input"));
    expect(a.querySelector(".mucomp-atk-thumb").style.width).toBe("44px");
  });

  it("hovering a thumbnail or a dot sets store.hovered; a click opens the sample's tooltip", () => {
    const { el, store } = mount();
    const thumb = el.querySelector(".mucomp-atk-thumb");
    fire(thumb, "mouseover");
    expect(store.get().hovered).toBe(Number(thumb.dataset.id));
    expect(el.querySelector(`.mucomp-atk-thumb[data-id="${thumb.dataset.id}"]`).classList.contains("mucomp-atk-hovered")).toBe(true);
    fire(thumb, "mouseout");
    expect(store.get().hovered).toBeNull();

    // the dot of forget sample 0 (model side): scan its bin's row
    const s = store.get();
    const u = prepareValues(dequantize(s.models.original.attack.entropy), "entropy", "reference");
    const r = prepareValues(dequantize(s.models.retrain.attack.entropy), "entropy", "reference");
    const bin = binOf(u[0], "entropy");
    const inBin = [...stackBins(u, "entropy").rows[bin], ...stackBins(r, "entropy").rows[bin]]
      .map((j) => s.probe.forget_ids[j]);
    const bfly = el.querySelector(".mucomp-atk-butterfly");
    const seen = new Set();
    for (let x = 0; x < 400; x++) {
      fire(bfly, "pointermove", { clientX: x, clientY: yOf(0.05 * (bin + 0.5)) });
      if (store.get().hovered != null) seen.add(store.get().hovered);
    }
    expect(seen.has(s.probe.forget_ids[0])).toBe(true);
    expect([...seen].every((id) => inBin.includes(id))).toBe(true);
    expect(el.querySelector(".mucomp-atk-hover").textContent).toMatch(/Output entropy: \d\.\d\d/);
    fire(bfly, "pointerleave");
    expect(store.get().hovered).toBeNull();

    const own = el.querySelector(".mucomp-atk-thumb.mucomp-atk-own");
    own.click();
    const tip = el.querySelector(".mucomp-atk-tip");
    expect(tip.textContent).toContain("True class: class 3");
    expect(tip.textContent).toContain("Retrain predicts: class 4");
    expect(tip.textContent).toContain("Model A (original) predicts: class 3");
    tip.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(el.querySelector(".mucomp-atk-tip")).toBeNull();
  });

  it("repaints the canvases with the theme's palette", () => {
    const { el, store } = mount();
    const ctx = el.querySelector(".mucomp-atk-butterfly").getContext("2d");
    ctx.__clearEvents();
    store.set({ theme: "dark" });
    const styles = ctx.__getEvents().filter((e) => e.type === "fillStyle").map((e) => e.props.value);
    expect(styles).toContain("#9ca3af");
  });

  it("titles the y axis with what the metric is, rotated along the axis", () => {
    expect(AXIS_TITLE.confidence).toMatch(/^Logit-scaled top-1 confidence log\(p\/\(1−p\)\)$/);
    expect(AXIS_TITLE.entropy).toMatch(/entropy.*nats/i);
    const { el, store } = mount();
    for (const metric of ["entropy", "confidence"]) {
      store.set({ metric });
      const canvas = el.querySelector(".mucomp-atk-butterfly");
      const events = canvas.getContext("2d").__getEvents();
      const at = events.findIndex((e) => e.type === "fillText" && e.props.text === AXIS_TITLE[metric]);
      expect(at).toBeGreaterThan(-1);
      // drawn rotated a quarter turn, left of the tick labels
      const rotate = events.slice(0, at).findLast((e) => e.type === "rotate");
      expect(rotate.props.angle).toBeCloseTo(-Math.PI / 2);
      expect(events.slice(0, at).findLast((e) => e.type === "translate").props.x).toBeLessThan(10);
      expect(canvas.getAttribute("aria-label")).toContain(`y axis: ${AXIS_TITLE[metric]}`);
    }
  });

  it("puts each legend entry (swatch, label, value) on one line", () => {
    const style = document.createElement("style");
    style.textContent = readFileSync(`${__dirname}/../panels/attack.css`, "utf8");
    document.head.append(style);
    const { el } = mount();
    el.classList.add("mucomp"); // the panel CSS applies under the widget root
    const rows = [...sides(el)[0].querySelectorAll(".mucomp-atk-info > .mucomp-atk-info-row")];
    expect(rows.map((r) => r.querySelector("dt").textContent)).toEqual(["Threshold", "Attack score", "FPR", "FNR"]);
    for (const row of rows.slice(1)) {
      expect(row.querySelector("dt .mucomp-atk-swatch")).not.toBeNull();
      expect(row.querySelector("dd").textContent).toMatch(/^\d\.\d{3}$/);
      expect(getComputedStyle(row).display).toBe("flex");
      expect(getComputedStyle(row).whiteSpace).toBe("nowrap");
    }
    const items = [...el.querySelectorAll(".mucomp-atk-legend .mucomp-atk-legend-item")];
    expect(items.map((i) => i.textContent)).toEqual(["From Retrain", "From Model A", "From Model B"]);
    for (const item of items) {
      expect(item.firstChild.classList.contains("mucomp-atk-dot")).toBe(true);
      expect(getComputedStyle(item).whiteSpace).toBe("nowrap");
    }
    style.remove();
  });

  it("rebuilds when A, B or the Retrain model changes, not when another run arrives", () => {
    const { el, store } = mount({}, { modelB: "ft-1" });
    const canvas = el.querySelector(".mucomp-atk-butterfly");
    const { models, runs } = store.get();
    store.set({ models: { ...models, other: { ...models.original } }, runs: [...runs, { ...runs[2], id: "other" }] });
    expect(el.querySelector(".mucomp-atk-butterfly")).toBe(canvas);
    store.set({ models: { ...store.get().models, retrain: { ...models.retrain } } });
    const rebuilt = el.querySelector(".mucomp-atk-butterfly");
    expect(rebuilt).not.toBe(canvas);
    store.set({ runs: store.get().runs.map((r) => (r.id === "ft-1" ? { ...r, PS: 0.5 } : r)) });
    expect(el.querySelector(".mucomp-atk-butterfly")).not.toBe(rebuilt);
    expect(sides(el)[1].querySelector(".mucomp-atk-table-ps").textContent).toContain("0.500");
  });

  it("shows a clear message without a Retrain model", () => {
    const { el, store } = mount({ runs: ["original", "ft-1"] });
    const models = Object.fromEntries(Object.entries(store.get().models)
      .map(([id, m]) => [id, { ...m, curves: undefined, attack: undefined }]));
    store.set({ models });
    const note = el.querySelector(".mucomp-atk > .mucomp-atk-note");
    expect(note.hidden).toBe(false);
    expect(note.textContent).toContain("No Retrain model");
    expect(el.querySelector(".mucomp-atk-controls").hidden).toBe(true);
  });

  it("cleans up every subscription and window listener", () => {
    const { el, store, cleanup, live } = mount();
    expect(live()).toBeGreaterThan(0);
    fire(el.querySelector(".mucomp-atk-lines"), "pointerdown", { clientY: yOf(1) });
    cleanup();
    expect(live()).toBe(0);
    const before = store.get().threshold;
    fire(window, "pointermove", { clientY: yOf(2) });
    expect(store.get().threshold).toBe(before);
    expect(el.querySelector(".mucomp-atk")).toBeNull();
  });
});
