import { afterEach, describe, expect, it } from "vitest";
import { mountAudit } from "../panels/audit.js";
import { makeStore, mountForTest } from "./helpers.js";

/** A metric declaration as Python sends it in meta.metrics (evaluation/summary.py MetricInfo). */
const info = (key, direction, family, extra = {}) => ({ key, label: key, description: `${key} meaning`, direction,
  family, unit: "", target: null, interval: null, default: true, ...extra });
const METRICS = [
  info("UA", "retrain", "accuracy"), info("PS", "higher", "privacy", { interval: { key: "PS", kind: "ci" } }),
  info("MIA", "retrain", "privacy", { interval: { key: "MIA", kind: "range" } }),
  info("MIA-Ent", "retrain", "privacy", { default: false }), info("MIA-Loss", "retrain", "privacy", { default: false }),
  info("AUC", "retrain", "privacy", { interval: { key: "AUC", kind: "ci" }, default: false }),
  info("U-AUC", "target", "privacy", { target: 0.5, interval: { key: "U-AUC", kind: "ci" }, default: false }),
  info("AvgGap", "lower", "summary"), info("RTE", "lower", "efficiency", { unit: "s" }),
];

let cleanups = [];
afterEach(() => {
  cleanups.forEach((fn) => fn());
  cleanups = [];
  document.body.replaceChildren();
});

function mount(overrides = {}) {
  const meta = { ...makeStore().get().meta, metrics: METRICS };
  const mounted = mountForTest(mountAudit, {}, { meta, ...overrides });
  cleanups.push(mounted.cleanup);
  return mounted;
}

const charts = (el) => [...el.querySelectorAll(".mucomp-aud-chart")];
const legendIds = (chart) => [...chart.querySelectorAll(".mucomp-aud-legend li")].map((li) => li.dataset.id);

const REASON = "not estimable: 0.1 % FPR is below 1/37 = 2.7 %, the smallest non-zero FPR that 37 non-members can show";

/** Every model's held-out ROC as Python sends it for 37 non-members (fpr = k/37). */
function with37NonMembers(store, tprAt = { "0.001": null, "0.01": null }) {
  const fpr = Float32Array.from({ length: 38 }, (_, k) => k / 37);
  const tpr = Float32Array.from(fpr, (f) => Math.min(1, 0.3 + f));
  const reasons = Object.fromEntries(Object.entries(tprAt).filter(([, v]) => v == null).map(([k]) => [k, REASON]));
  const models = Object.fromEntries(Object.entries(store.get().models).map(([id, m]) => [id, {
    ...m, roc: { ...m.roc, heldout: { fpr, tpr, auc: 0.8, tpr_at: tprAt, tpr_at_reason: reasons, min_fpr: 1 / 37 } } }]));
  store.set({ models });
}

/** moveTo/lineTo of the ROC curves: everything after the curves set their 2 px line width. */
function curvePoints(ctx) {
  const events = ctx.__getEvents();
  const start = events.findIndex((e) => e.type === "lineWidth" && e.props.value === 2);
  return events.slice(start).filter((e) => e.type === "lineTo" || e.type === "moveTo");
}

describe("privacy audit panel", () => {
  it("lists AUC with its interval and TPR at 0.1 % and 1 % FPR for A, B and Retrain", () => {
    const { el } = mount({ modelB: "ft-1" });
    const [heldout, vsRetrain] = charts(el);
    expect(legendIds(heldout)).toEqual(["original", "ft-1", "retrain"]);
    const item = heldout.querySelector("li[data-id=original]").textContent;
    expect(item).toContain("Model A · original");
    expect(item).toContain("AUC 0.660 [0.400, 0.600]");
    expect(item).toContain("TPR@0.1 % FPR 2.0 %");
    expect(item).toContain("TPR@1 % FPR 10.0 %");
    // the U-LiRA chart compares A and B with Retrain, so Retrain itself is not a series
    expect(legendIds(vsRetrain)).toEqual(["original", "ft-1"]);
    expect(vsRetrain.querySelector("li[data-id=ft-1]").textContent).toContain("AUC 0.500 [0.500, 0.600]");
    expect(vsRetrain.querySelector("li[data-id=ft-1]").textContent).toContain("TPR@1 % FPR 1.0 %");
  });

  it("shows n/a with the reason as hover text where the target FPR is below 1/n", () => {
    const { el, store } = mount({ modelB: "ft-1" });
    with37NonMembers(store, { "0.001": null, "0.01": 0.25 });
    const stats = [...charts(el)[0].querySelectorAll("li[data-id=original] .mucomp-aud-stat")];
    const at01 = stats.find((s) => s.textContent.startsWith("TPR@0.1 %"));
    const at1 = stats.find((s) => s.textContent.startsWith("TPR@1 %"));
    expect(at01.textContent).toBe("TPR@0.1 % FPR n/a");
    expect(at01.title).toBe(REASON);
    expect(at1.textContent).toBe("TPR@1 % FPR 25.0 %");
    expect(at1.hasAttribute("title")).toBe(false);
  });

  it("greys out FPR below 1/n on log axes and draws no curve there", () => {
    const { el, store } = mount({ modelB: "ft-1" });
    const canvas = el.querySelector(".mucomp-aud-canvas");
    const ctx = canvas.getContext("2d");
    ctx.__clearEvents();
    with37NonMembers(store);
    const shade = ctx.__getEvents().filter((e) => e.type === "fillRect");
    expect(shade.length).toBe(1);
    const floorX = shade[0].props.x + shade[0].props.width;
    expect(shade[0].props.width).toBeGreaterThan(0);
    const points = curvePoints(ctx);
    expect(points.length).toBeGreaterThan(3 * 30);
    expect(Math.min(...points.map((e) => e.props.x))).toBeCloseTo(floorX, 6); // fpr = 0 sits on the floor
    expect(canvas.getAttribute("aria-label")).toContain("FPR below 2.7 % (1/n) not shown");
    // linear axes show FPR = 0 as it is: no floor
    ctx.__clearEvents();
    el.querySelector("input[type=radio][value=linear]").click();
    expect(ctx.__getEvents().filter((e) => e.type === "fillRect").length).toBe(0);
    expect(canvas.getAttribute("aria-label")).not.toContain("not shown");
  });

  it("lists a model that is both B and Retrain once", () => {
    const { el } = mount();
    expect(legendIds(charts(el)[0])).toEqual(["original", "retrain"]);
    expect(charts(el)[0].textContent).toContain("Model B · retrain (Retrain)");
  });

  it("draws log-log axes with a floor, and linear axes on request", () => {
    const { el } = mount({ modelB: "ft-1" });
    const canvas = el.querySelector(".mucomp-aud-canvas");
    expect(canvas.getAttribute("role")).toBe("img");
    expect(canvas.getAttribute("aria-label")).toContain("log-log axes");
    const ctx = canvas.getContext("2d");
    ctx.__clearEvents();
    el.querySelector("input[type=radio][value=linear]").click();
    expect(canvas.getAttribute("aria-label")).toContain("linear axes");
    el.querySelector("input[type=radio][value=log]").click();
    const points = ctx.__getEvents().filter((e) => e.type === "lineTo" || e.type === "moveTo");
    expect(points.length).toBeGreaterThan(40);
    expect(points.every((e) => Number.isFinite(e.props.x) && Number.isFinite(e.props.y))).toBe(true); // fpr = 0 floored
  });

  it("has a table of the privacy family for the three models, with directions and the better value highlighted", () => {
    const { el } = mount({ modelB: "ft-1" });
    const table = el.querySelector(".mucomp-aud-table");
    expect([...table.querySelectorAll("tbody tr")].map((r) => r.dataset.id)).toEqual(["original", "ft-1", "retrain"]);
    const heads = [...table.querySelectorAll("thead th[data-col]")];
    expect(heads.map((th) => th.dataset.col)).toEqual(["PS", "MIA", "MIA-Ent", "MIA-Loss", "AUC", "U-AUC"]);
    expect(heads[1].title).toBe("MIA: MIA meaning; closest to Retrain is best");
    expect(heads[0].textContent).toContain("↑ better");
    expect(heads[1].textContent).toContain("≈ Retrain");
    expect(heads[5].textContent).toContain("≈ 0.5");
    // PS (higher is better): original 0.3, ft-1 0.5 -> ft-1; MIA values tie -> no highlight
    expect(table.querySelector("tr[data-id=ft-1] td[data-col=PS]").classList.contains("mucomp-aud-better")).toBe(true);
    expect(table.querySelector("tr[data-id=original] td[data-col=PS]").classList.contains("mucomp-aud-better")).toBe(false);
    expect(table.querySelectorAll("td[data-col=MIA].mucomp-aud-better").length).toBe(0);
    expect(table.querySelector("tr[data-id=ft-1] td[data-col=PS]").title).toContain("95 % interval [0.500, 0.700]");
    expect(table.querySelector("tr[data-id=ft-1] td[data-col=PS]").title).toContain("higher is better");
  });

  it("shows a new privacy metric from its declaration alone: label, direction, interval, better value", () => {
    const made = info("LiRA", "lower", "privacy", { label: "LiRA TPR", description: "TPR of LiRA at 0.1 % FPR",
      interval: { key: "LiRA", kind: "ci" } });
    const { el, store } = mount({ modelB: "ft-1" });
    const models = { ...store.get().models };
    models["ft-1"] = { ...models["ft-1"], ci: { ...models["ft-1"].ci, LiRA: [0.01, 0.03] } };
    const lira = { original: 0.4, retrain: 0.01, "ft-1": 0.02 };
    store.set({ meta: { ...store.get().meta, metrics: [...METRICS, made] }, models,
      runs: store.get().runs.map((r) => ({ ...r, LiRA: lira[r.id] })) });
    const th = el.querySelector(".mucomp-aud-table thead th[data-col=LiRA]");
    expect(th.textContent).toBe("LiRA TPR↓ better");
    expect(th.title).toBe("LiRA TPR: TPR of LiRA at 0.1 % FPR; lower is better");
    const cell = el.querySelector(".mucomp-aud-table tr[data-id=ft-1] td[data-col=LiRA]");
    expect(cell.textContent).toBe("0.020");
    expect(cell.classList.contains("mucomp-aud-better")).toBe(true);
    expect(cell.title).toContain("95 % interval [0.010, 0.030]");
    expect(el.querySelector(".mucomp-aud-table th[data-col=UA]")).toBeNull(); // not a privacy metric
  });

  it("redraws for the shown models' arrays only", () => {
    const { el, store } = mount({ modelB: "ft-1", runs: ["original", "retrain", "ft-1", "ga-2"] });
    const table = el.querySelector(".mucomp-aud-table");
    store.set({ models: { ...store.get().models, "ga-2": { ...store.get().models["ga-2"] } } });
    expect(el.querySelector(".mucomp-aud-table")).toBe(table);
    store.set({ models: { ...store.get().models, "ft-1": { ...store.get().models["ft-1"] } } });
    expect(el.querySelector(".mucomp-aud-table")).not.toBe(table);
  });

  it("shows the MIA-efficacy's range over shadow-sample draws on hover", () => {
    const { el, store } = mount({ modelB: "ft-1" });
    const models = { ...store.get().models };
    models["ft-1"] = { ...models["ft-1"], ci: { ...models["ft-1"].ci, MIA: [0.82, 0.93] } };
    store.set({ models });
    const cell = el.querySelector(".mucomp-aud-table tr[data-id=ft-1] td[data-col=MIA]");
    expect(cell.title).toContain("range over random choices of the shadow samples [0.820, 0.930]");
    expect(el.querySelector(".mucomp-aud-table tr[data-id=original] td[data-col=MIA]").title).toBe("");
  });

  it("says so when data is missing, and follows model changes", () => {
    const { el, store } = mount({ modelB: "ft-1" });
    const models = Object.fromEntries(Object.entries(store.get().models).map(([id, m]) => [id, { ...m, roc: {} }]));
    store.set({ models });
    const empty = charts(el)[0].querySelector(".mucomp-aud-empty");
    expect(empty.hidden).toBe(false);
    expect(charts(el)[0].textContent).toContain("no ROC for this model");
    store.set({ modelA: "retrain", modelB: "retrain", runs: [], models: {} });
    expect(el.querySelector(".mucomp-aud > .mucomp-aud-empty").hidden).toBe(false);
  });

  it("repaints on a theme change and cleans up its subscriptions", () => {
    const { el, store, cleanup, live } = mount();
    const ctx = el.querySelector(".mucomp-aud-canvas").getContext("2d");
    ctx.__clearEvents();
    store.set({ theme: "dark" });
    expect(ctx.__getEvents().filter((e) => e.type === "fillStyle").map((e) => e.props.value)).toContain("#9ca3af");
    expect(live()).toBeGreaterThan(0);
    cleanup();
    expect(live()).toBe(0);
    expect(el.querySelector(".mucomp-aud")).toBeNull();
  });
});

describe("U-LiRA in the privacy audit", () => {
  /** A U-LiRA audit of `id` as Python sends it: 20 forget samples, 3 leaking. */
  function withULira(store, id) {
    const game = (auc, acc) => ({
      roc: { fpr: Float32Array.from([0, 0.05, 0.5, 1]), tpr: Float32Array.from([0, 0.2, 0.8, 1]), auc, min_fpr: 0.05,
        tpr_at: { "0.001": null, "0.01": null, "0.1": 0.2 }, tpr_at_reason: { "0.001": "below 1/20", "0.01": "below 1/20" } },
      accuracy: acc, accuracy_ci: [acc - 0.05, acc + 0.05], accuracy_chance: 0.62, auc_ci: [auc - 0.1, auc + 0.1],
      auc_chance: [0.4, 0.6], p_value: 0.03, threshold_fpr: 0.05, leaks: 3 });
    const { models, probe } = store.get();
    const leakIds = Uint32Array.from(probe.forget_ids.slice(0, 3));
    store.set({ models: { ...models, [id]: { ...models[id], ulira: { method: "ft", shadows: 16, target: game(0.7, 0.66),
      original: game(0.95, 0.9), leak_ids: leakIds, leak_scores: Float32Array.from([3, 2, 1]) } } } });
    return leakIds;
  }

  it("shows the chart only with an audit: the run's accuracy against chance, the Original as reference", () => {
    const { el, store } = mount({ modelB: "ft-1" });
    const ulira = () => charts(el)[2];
    expect(ulira().hidden).toBe(true);
    expect(el.querySelector(".mucomp-aud-leaks")).toBeNull();
    withULira(store, "ft-1");
    expect(ulira().hidden).toBe(false);
    expect(legendIds(ulira())).toEqual(["original", "ft-1", "original (reference)"]);
    const item = ulira().querySelector('li[data-id="ft-1"]').textContent;
    expect(item).toContain("accuracy 66.0 % [61.0 %, 71.0 %] (chance ≤ 62.0 %)");
    expect(item).toContain("AUC 0.700 [0.600, 0.800]");
    expect(item).toContain("TPR@0.1 % FPR n/a"); // 20 negatives cannot show 0.1 %
    expect(ulira().querySelector('li[data-id="original"]').textContent).toContain("not audited");
    expect(ulira().querySelector('li[data-id="original (reference)"]').textContent).toContain("AUC 0.950");
  });

  it("lists the leaking samples; a click selects them in the embedding", () => {
    const { el, store } = mount({ modelB: "ft-1" });
    const leakIds = withULira(store, "ft-1");
    const box = el.querySelector('.mucomp-aud-leaks[data-id="ft-1"]');
    expect(box.textContent).toContain(`3 of ${store.get().probe.forget_ids.length} forget samples still leak`);
    const thumbs = [...box.querySelectorAll(".mucomp-aud-leak")];
    expect(thumbs.map((b) => Number(b.dataset.sample))).toEqual([...leakIds]);
    thumbs[1].click();
    expect([...store.get().selection]).toEqual([leakIds[1]]);
    expect(store.get().tab).toBe("embedding");
    store.set({ tab: "audit" });
    box.querySelector(".mucomp-aud-leakshow").click();
    expect([...store.get().selection]).toEqual([...leakIds]);
  });
});
