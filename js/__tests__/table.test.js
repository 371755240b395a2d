import { afterEach, describe, expect, it, vi } from "vitest";
import {
  cellStyle, chooseModel, groupUnits, interpolate, luminance, meanStd, mountTable, nextSort, paretoIds, rampT, rowWindow,
  SCHEMES, sortRows, tableColumns, tableStats, TARGET_FONT, TARGET_TEXT,
} from "../panels/table.js";
import { PURPLE } from "../lib/colors.js";
import { makeCtx, makeStore } from "./helpers.js";

/** A metric declaration as Python sends it in meta.metrics (evaluation/summary.py MetricInfo). */
const info = (key, direction, family, extra = {}) => ({ key, label: key, description: `${key} meaning`, direction,
  family, unit: "", target: null, interval: null, default: true, ...extra });
/** The declarations, in table order, as mucomp_widget sends them. */
const METRICS = [
  info("UA", "retrain", "accuracy"), info("RA", "retrain", "accuracy"), info("TUA", "retrain", "accuracy"),
  info("TRA", "retrain", "accuracy"), info("PS", "higher", "privacy", { interval: { key: "PS", kind: "ci" } }),
  info("MIA", "retrain", "privacy", { interval: { key: "MIA", kind: "range" } }),
  info("MIA-Ent", "retrain", "privacy", { default: false }), info("MIA-Loss", "retrain", "privacy", { default: false }),
  info("AUC", "retrain", "privacy", { interval: { key: "AUC", kind: "ci" }, default: false }),
  info("U-AUC", "target", "privacy", { target: 0.5, interval: { key: "U-AUC", kind: "ci" }, default: false }),
  info("AvgGap", "lower", "summary"), info("RTE", "lower", "efficiency", { unit: "s" }),
];
const byKey = Object.fromEntries(METRICS.map((m) => [m.key, m]));

/** Rows with `hp` as Python sends it: every hyperparameter of an unlearned run, {} otherwise. */
const withHp = (runs) => runs.map((r) => ({ ...r,
  hp: r.type === "Unlearned" ? { epochs: r.epochs, lr: r.lr, batch_size: r.batch_size } : {} }));

/** A store whose subscribe() counts live subscriptions. */
function countingStore(...args) {
  const store = makeStore(...args);
  const subscribe = store.subscribe;
  store.live = 0;
  store.subscribe = (fn) => {
    store.live += 1;
    const off = subscribe(fn);
    return () => { store.live -= 1; off(); };
  };
  return store;
}

let cleanups = [];
function mount(opts = {}, overrides = {}) {
  const store = countingStore(opts, overrides);
  const s = store.get();
  store.set({ meta: { ...s.meta, metrics: overrides.metrics || METRICS }, runs: overrides.runs || withHp(s.runs) });
  const ctx = makeCtx(store);
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = mountTable(el, ctx);
  cleanups.push(() => { cleanup(); el.remove(); });
  return { store, ctx, el, cleanup };
}
afterEach(() => { cleanups.forEach((fn) => fn()); cleanups = []; vi.useRealTimers(); });

const ids = (el) => [...el.querySelectorAll("tbody tr")].map((tr) => tr.getAttribute("data-id"));
const row = (el, id) => el.querySelector(`tbody tr[data-id="${id}"]`);
const header = (el, key) => el.querySelector(`th[data-key="${key}"]`);
const runs4 = ["original", "retrain", "ft-1", "ga-2"];

describe("colour scales", () => {
  it("interpolates scheme ends and clamps t", () => {
    expect(interpolate(SCHEMES.greens, 0)).toBe("rgb(247, 252, 245)");
    expect(interpolate(SCHEMES.greens, 1)).toBe("rgb(0, 68, 27)");
    expect(interpolate(SCHEMES.greens, 2)).toBe(interpolate(SCHEMES.greens, 1));
  });

  it("limits the ramp to [0.03, 0.75] with the domain in either direction", () => {
    expect(rampT(0.5, 0.2, 0)).toBeCloseTo(0.03);
    expect(rampT(0, 0.2, 0)).toBeCloseTo(0.75);
    expect(rampT(-1, 0.2, 0)).toBeCloseTo(0.75);
    expect(rampT(0.9, 0.8, 1)).toBeCloseTo(0.39);
  });

  it("gives darker cells to better values, by each metric's direction", () => {
    const stats = { max: { RTE: 100 }, retrain: { UA: 0.01, RA: 0.99, MIA: 0.9 } };
    const dark = (key, v) => luminance(cellStyle(byKey[key], v, stats).background);
    expect(dark("UA", 0.02)).toBeLessThan(dark("UA", 0.15)); // closest to Retrain's 0.01
    expect(dark("RA", 0.98)).toBeLessThan(dark("RA", 0.85));
    expect(dark("MIA", 0.88)).toBeLessThan(dark("MIA", 0.75));
    expect(dark("MIA", 0.92)).toBeLessThan(dark("MIA", 1.0)); // above Retrain is worse too
    expect(dark("U-AUC", 0.52)).toBeLessThan(dark("U-AUC", 0.7)); // closest to its target 0.5
    expect(dark("PS", 0.9)).toBeLessThan(dark("PS", 0.3)); // higher
    expect(dark("AvgGap", 0.01)).toBeLessThan(dark("AvgGap", 0.1)); // lower
    expect(dark("RTE", 5)).toBeLessThan(dark("RTE", 120)); // lower, seconds
    expect(dark("UA", 0.5)).toBe(dark("UA", 0.21)); // 0.2 or more from Retrain gets the lightest shade
  });

  it("colours by family: the same direction in another family uses its own scheme", () => {
    const stats = { max: {}, retrain: null };
    const ps = cellStyle(byKey.PS, 0.9, stats).background;
    const made = cellStyle(info("Made", "higher", "accuracy"), 0.9, stats).background;
    expect(ps).toBe(interpolate(SCHEMES.oranges, rampT(0.9, 0, 1)));
    expect(made).toBe(interpolate(SCHEMES.greens, rampT(0.9, 0, 1)));
  });

  it("uses white text on dark cells, none for missing values or without Retrain to compare", () => {
    const stats = tableStats([], METRICS);
    expect(cellStyle(byKey.AvgGap, 0, stats).color).toBe("#ffffff");
    expect(cellStyle(byKey.AvgGap, 0.3, stats).color).toBe("#111827");
    expect(cellStyle(byKey.AvgGap, null, stats)).toBeNull();
    expect(cellStyle(byKey.MIA, 0.5, stats)).toBeNull(); // no Retrain to compare with
  });

  it("stretches seconds over max(160 s, the slowest run)", () => {
    const a = cellStyle(byKey.RTE, 160, { max: { RTE: 400 }, retrain: null });
    const b = cellStyle(byKey.RTE, 160, { max: { RTE: 10 }, retrain: null });
    expect(luminance(a.background)).toBeLessThan(luminance(b.background));
  });
});

describe("sorting, Pareto and model choice", () => {
  const rows = [{ id: "a", UA: 0.2 }, { id: "b", UA: null }, { id: "c", UA: 0.5 }, { id: "d", UA: 0.1 }];

  it("sorts desc/asc with missing values last and keeps the order without a key", () => {
    expect(sortRows(rows, "UA", "desc").map((r) => r.id)).toEqual(["c", "a", "d", "b"]);
    expect(sortRows(rows, "UA", "asc").map((r) => r.id)).toEqual(["d", "a", "c", "b"]);
    expect(sortRows(rows, null, null).map((r) => r.id)).toEqual(["a", "b", "c", "d"]);
  });

  it("sorts by a value function, text values as text", () => {
    const hp = [{ id: "a", hp: { variant: "paper" } }, { id: "b", hp: {} }, { id: "c", hp: { variant: "ours" } }];
    expect(sortRows(hp, "hp:variant", "asc", (r) => r.hp.variant).map((r) => r.id)).toEqual(["c", "a", "b"]);
  });

  it("cycles desc → asc → none, restarting on another column", () => {
    let s = { key: null, dir: null };
    s = nextSort(s, "UA"); expect(s).toEqual({ key: "UA", dir: "desc" });
    s = nextSort(s, "UA"); expect(s).toEqual({ key: "UA", dir: "asc" });
    s = nextSort(s, "UA"); expect(s).toEqual({ key: null, dir: null });
    expect(nextSort({ key: "UA", dir: "asc" }, "PS")).toEqual({ key: "PS", dir: "desc" });
  });

  it("finds the Pareto front over TRA, PS and RTE among unlearned models", () => {
    const u = (id, TRA, PS, RTE, type = "Unlearned") => ({ id, type, TRA, PS, RTE });
    const set = [
      u("original", 0.99, 0.1, null, "Original"),
      u("retrain", 0.95, 1.0, 100, "Retrain"),
      u("fast", 0.80, 0.60, 5), // cheapest
      u("good", 0.90, 0.80, 20), // best TRA and PS
      u("worse", 0.85, 0.70, 30), // dominated by good
      u("tie", 0.90, 0.80, 20), // equal to good: neither dominates
      u("slowpriv", 0.70, 0.90, 50), // best PS
      u("noPS", 0.99, null, 1),
      u("up", 0.80, 0.60, null, "Uploaded"), // like fast but unknown (slowest) cost
    ];
    expect(paretoIds(set).sort()).toEqual(["fast", "good", "slowpriv", "tie"]);
    // another cost column: "worse" uses the least memory, "fast" now costs the most
    const mem = { fast: 90, good: 40, worse: 10, tie: 40, slowpriv: 60, up: 5 };
    const withMem = set.map((r) => ({ ...r, peak_MB: mem[r.id] ?? null }));
    expect(paretoIds(withMem, "peak_MB").sort()).toEqual(["good", "slowpriv", "tie", "up", "worse"]);
  });

  it("swaps A and B when the other side's model is chosen", () => {
    expect(chooseModel({ modelA: "original", modelB: "retrain" }, "B", "ft-1")).toEqual({ modelB: "ft-1" });
    expect(chooseModel({ modelA: "original", modelB: "retrain" }, "A", "retrain"))
      .toEqual({ modelA: "retrain", modelB: "original" });
  });
});

describe("model table", () => {
  it("renders one row per run with type markers and A/B radios from the store", () => {
    const { el, store } = mount();
    expect(ids(el)).toEqual(store.get().runs.map((r) => r.id));
    const dots = [...el.querySelectorAll("tbody .mucomp-tbl-typedot")].map((b) => b.getAttribute("aria-label"));
    expect(dots).toEqual(["Original", "Retrain", "Unlearned"]);
    expect(row(el, "original").querySelector(".mucomp-tbl-idcell").textContent).toBe("original");
    expect(row(el, "original").querySelector(".mucomp-tbl-radio-a").checked).toBe(true);
    expect(row(el, "retrain").querySelector(".mucomp-tbl-radio-b").checked).toBe(true);
    expect(row(el, "ft-1").querySelector(".mucomp-tbl-radio-a").checked).toBe(false);
  });

  it("sets Model B from its radio and swaps when A takes the current B", () => {
    const { el, store } = mount();
    row(el, "ft-1").querySelector(".mucomp-tbl-radio-b").click();
    expect(store.get().modelB).toBe("ft-1");
    expect(row(el, "ft-1").querySelector(".mucomp-tbl-radio-b").checked).toBe(true);
    row(el, "ft-1").querySelector(".mucomp-tbl-radio-a").click();
    expect(store.get()).toMatchObject({ modelA: "ft-1", modelB: "original" });
    expect(row(el, "original").querySelector(".mucomp-tbl-radio-b").checked).toBe(true);
    expect(row(el, "ft-1").querySelector(".mucomp-tbl-radio-b").checked).toBe(false);
  });

  it("shows the A/B picker and ID first, then the default metrics, then settings that vary", () => {
    const runs = withHp(makeStore({ runs: runs4 }).get().runs).map((r) =>
      (r.id === "ga-2" ? { ...r, hp: { ...r.hp, lr: 0.001 } } : r)); // ft-1 and ga-2 differ in method and lr
    const { el } = mount({ runs: runs4 }, { runs });
    const heads = [...el.querySelectorAll("thead th")];
    expect(heads[0].classList.contains("mucomp-tbl-pick")).toBe(true);
    expect(heads[1].textContent).toBe("ID");
    const keys = heads.map((th) => th.dataset.key).filter(Boolean);
    expect(keys).toEqual(["UA", "RA", "TUA", "TRA", "PS", "MIA", "AvgGap", "RTE", "method", "hp:lr"]);
    const lr = (id) => row(el, id).children[heads.findIndex((th) => th.dataset.key === "hp:lr")].textContent;
    expect([lr("ft-1"), lr("ga-2")]).toEqual(["0.01", "0.001"]);
    expect(lr("retrain")).toBe("–");
  });

  it("keeps constant columns behind a labelled toggle", () => {
    const { el } = mount({ runs: runs4 });
    const btn = el.querySelector(".mucomp-tbl-constbtn");
    // type, base, epochs, lr, batch_size, seed are the same for both unlearned runs
    expect(btn.textContent).toBe("Show 6 constant columns");
    expect(header(el, "type")).toBeNull();
    btn.click();
    expect(el.querySelector(".mucomp-tbl-constbtn").getAttribute("aria-expanded")).toBe("true");
    expect(el.querySelector(".mucomp-tbl-constbtn").textContent).toBe("Hide 6 constant columns");
    expect(["type", "base", "hp:epochs", "hp:lr", "hp:batch_size", "seed"].every((k) => header(el, k))).toBe(true);
    expect(header(el, "hp:batch_size").textContent).toContain("BS");
    expect(row(el, "ft-1").querySelector(".mucomp-tbl-badge").textContent).toBe("Unlearned");
  });

  it("treats a setting present in some unlearned rows only as varying", () => {
    const rows = [
      { id: "a", type: "Unlearned", method: "ga", hp: { lr: 0.1 } },
      { id: "b", type: "Unlearned", method: "ga", hp: { lr: 0.1, clip: 5 } },
      { id: "r", type: "Retrain", hp: {} },
    ];
    const { varying, constant } = tableColumns({ metrics: METRICS }, rows, new Map());
    expect(varying.map((c) => c.key)).toEqual(["hp:clip"]);
    expect(constant.map((c) => c.key)).toEqual(["type", "method", "base", "hp:lr", "seed"]);
  });

  it("picks Model B by a row click and Model A by Shift+click among 125 rows, without rebuilding rows", () => {
    const base = withHp(makeStore().get().runs);
    const many = [...base, ...Array.from({ length: 122 }, (_, i) => ({ ...base[2], id: `ft-${i + 2}`,
      lr: 0.001 * (i + 1), hp: { ...base[2].hp, lr: 0.001 * (i + 1) }, has_trace: false }))];
    const { el, store } = mount({}, { runs: many });
    expect(ids(el).length).toBe(125);
    const before = [...el.querySelectorAll("tbody tr")];
    const target = row(el, "ft-60");
    target.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    store.set({ hovered: 7 });
    target.querySelector("td.mucomp-tbl-num").click();
    expect(store.get().modelB).toBe("ft-60");
    expect(target.classList.contains("mucomp-tbl-b")).toBe(true);
    expect(target.querySelector(".mucomp-tbl-radio-b").checked).toBe(true);
    row(el, "ft-99").querySelector("td.mucomp-tbl-num").dispatchEvent(new MouseEvent("click", { bubbles: true, shiftKey: true }));
    expect(store.get()).toMatchObject({ modelA: "ft-99", modelB: "ft-60" });
    expect(row(el, "original").classList.contains("mucomp-tbl-a")).toBe(false);
    expect(row(el, "ft-99").querySelector(".mucomp-tbl-radio-a").checked).toBe(true);
    // another run's arrays arriving do not touch the table either
    store.set({ models: { ...store.get().models, "ft-7": { trace: null } } });
    expect([...el.querySelectorAll("tbody tr")]).toEqual(before);
    expect(target.title).toContain("Shift+click");
  });

  it("draws only the rows in view of a long table, keeping drawn rows and focus while it scrolls", () => {
    // jsdom has no layout: give the scroll box a height (rows keep the default 28 px)
    const height = vi.spyOn(Element.prototype, "clientHeight", "get")
      .mockImplementation(function () { return this.classList.contains("mucomp-tbl-scroll") ? 280 : 0; });
    try {
      const base = withHp(makeStore().get().runs);
      const many = [...base, ...Array.from({ length: 122 }, (_, i) => ({ ...base[2], id: `ft-${i + 2}`, has_trace: false }))];
      const { el, store } = mount({}, { runs: many });
      const tbody = el.querySelector("tbody");
      expect(ids(el)).toEqual(many.slice(0, 20).map((r) => r.id)); // 10 in view, 10 to spare
      expect(tbody.style.getPropertyValue("--mc-tbl-below")).toBe(`${105 * 28}px`);
      const scroll = el.querySelector(".mucomp-tbl-scroll");
      scroll.scrollTop = 50 * 28;
      scroll.dispatchEvent(new Event("scroll"));
      expect(ids(el)).toEqual(many.slice(40, 70).map((r) => r.id));
      expect(tbody.style.getPropertyValue("--mc-tbl-above")).toBe(`${40 * 28}px`);
      const kept = row(el, many[60].id);
      kept.querySelector(".mucomp-tbl-radio-a").focus();
      scroll.scrollTop = 65 * 28;
      scroll.dispatchEvent(new Event("scroll"));
      expect(ids(el)).toEqual(many.slice(55, 85).map((r) => r.id));
      expect(row(el, many[60].id)).toBe(kept);
      expect(document.activeElement).toBe(kept.querySelector(".mucomp-tbl-radio-a"));
      row(el, many[80].id).querySelector("td.mucomp-tbl-num").click(); // a row drawn by scrolling picks too
      expect(store.get().modelB).toBe(many[80].id);
      // all rows shown: no box, the page scrolls; the rows in the window are drawn, and more
      // as the page (or a scrolling ancestor, as in JupyterLab) scrolls
      el.querySelector(".mucomp-tbl-allrows").click();
      const winRows = Math.ceil(window.innerHeight / 28);
      expect(ids(el)).toEqual(many.slice(0, winRows + 10).map((r) => r.id));
      const rect = vi.spyOn(HTMLTableSectionElement.prototype, "getBoundingClientRect")
        .mockImplementation(() => ({ top: -100 * 28, bottom: 0, left: 0, right: 0, width: 0, height: 0 }));
      try {
        document.body.dispatchEvent(new Event("scroll")); // caught in the capture phase
        expect(ids(el)).toEqual(many.slice(90, 125).map((r) => r.id));
        expect(el.querySelector("tbody").style.getPropertyValue("--mc-tbl-above")).toBe(`${90 * 28}px`);
      } finally {
        rect.mockRestore();
      }
    } finally {
      height.mockRestore();
    }
  });

  it("computes the rows to draw from the scroll position", () => {
    expect(rowWindow(0, 280, 28, 125, 10)).toEqual({ first: 0, last: 10, start: 0, end: 20 });
    expect(rowWindow(1400, 280, 28, 125, 10)).toEqual({ first: 50, last: 60, start: 40, end: 70 });
    expect(rowWindow(5000, 280, 28, 125, 10)).toEqual({ first: 125, last: 125, start: 115, end: 125 });
    expect(rowWindow(-28, 280, 28, 5, 10)).toEqual({ first: 0, last: 5, start: 0, end: 5 });
  });

  it("ignores row clicks on the controls inside the row", () => {
    const { el, store } = mount();
    row(el, "ft-1").querySelector(".mucomp-tbl-idbtn").click();
    row(el, "ft-1").querySelector(".mucomp-tbl-del").click();
    expect(store.get().modelB).toBe("retrain");
  });

  it("cycles sorting by header clicks with nulls last in the rendered order", () => {
    const { el } = mount(); // RTE: original null, retrain 3, ft-1 4.5
    const click = () => header(el, "RTE").querySelector("button").click();
    click();
    expect(ids(el)).toEqual(["ft-1", "retrain", "original"]);
    expect(header(el, "RTE").getAttribute("aria-sort")).toBe("descending");
    click();
    expect(ids(el)).toEqual(["retrain", "ft-1", "original"]);
    expect(header(el, "RTE").getAttribute("aria-sort")).toBe("ascending");
    click();
    expect(ids(el)).toEqual(["original", "retrain", "ft-1"]);
    expect(header(el, "RTE").getAttribute("aria-sort")).toBe("none");
  });

  it("hides rows with the method filter", () => {
    const { el } = mount({ runs: runs4 });
    const box = el.querySelector('input[data-focus="method:ga"]');
    expect(box).not.toBeNull();
    box.checked = false;
    box.dispatchEvent(new Event("change"));
    expect(ids(el)).toEqual(["original", "retrain", "ft-1"]);
    expect(el.querySelector(".mucomp-tbl-menu summary").textContent).toContain("3/4");
  });

  it("labels, titles and orders metric columns from meta.metrics, a new one included", () => {
    const made = info("F1", "lower", "accuracy", { label: "Forget F1", description: "F1 on the forget set" });
    const runs = withHp(makeStore().get().runs).map((r, i) => ({ ...r, F1: [0.5, 0.1, 0.3][i] }));
    const { el } = mount({}, { metrics: [...METRICS.slice(0, 2), made, ...METRICS.slice(2)], runs });
    expect([...el.querySelectorAll("thead th[data-key]")].map((th) => th.dataset.key).slice(0, 3)).toEqual(["UA", "RA", "F1"]);
    const th = header(el, "F1");
    expect(th.querySelector("button").textContent).toContain("Forget F1 ↓");
    expect(th.title).toContain("F1 on the forget set; lower is better");
    expect(th.title).toContain("Retrain: 0.100");
    expect(header(el, "UA").querySelector("button").textContent).toContain("UA ≈R");
    expect(header(el, "PS").querySelector("button").textContent).toContain("PS ↑");
    expect(el.querySelector('input[data-focus="column:F1"]').closest("label").textContent).toBe("Forget F1");
  });

  it("shows the gap to Retrain in unlearned rows and Retrain's value in the header", () => {
    const { el } = mount(); // UA: retrain 0.02, ft-1 0.04; PS: retrain 1, ft-1 0.5
    const cell = (id, key) => row(el, id).children[[...el.querySelectorAll("thead th")].indexOf(header(el, key))];
    expect(cell("ft-1", "UA").textContent).toBe("0.040Δ+0.020");
    expect(cell("ft-1", "PS").querySelector(".mucomp-tbl-gap").textContent).toBe("Δ−0.500");
    expect(cell("ft-1", "RTE").textContent).toBe("4.5Δ+1.5");
    expect(cell("retrain", "UA").textContent).toBe("0.020");
    expect(cell("original", "UA").querySelector(".mucomp-tbl-gap")).toBeNull();
    expect(header(el, "UA").querySelector(".mucomp-tbl-ref").textContent).toBe("R 0.020");
    expect(row(el, "retrain").classList.contains("mucomp-tbl-refrow")).toBe(true);
  });

  it("marks the best unlearned value by the metric's direction", () => {
    const { el } = mount({ runs: runs4 }); // UA ft-1 0.04, ga-2 0.06 (Retrain 0.02); PS 0.5, 0.6
    const best = (key) => [...el.querySelectorAll("tbody td.mucomp-tbl-top")]
      .filter((td) => td.parentElement.children[[...el.querySelectorAll("thead th")].indexOf(header(el, key))] === td)
      .map((td) => td.parentElement.dataset.id);
    expect(best("UA")).toEqual(["ft-1"]); // closer to Retrain
    expect(best("PS")).toEqual(["ga-2"]); // higher
    expect(best("RTE")).toEqual(["ft-1"]); // lower: 4.5 s vs 6 s
    expect(best("RA")).toEqual([]); // a tie stands out nowhere
  });

  it("lists RTE once, with its unit, in the table and the Columns menu", () => {
    const { el } = mount();
    expect(el.querySelectorAll('th[data-key="RTE"]').length).toBe(1);
    expect(header(el, "RTE").querySelector("button").textContent).toContain("RTE (s)");
    const box = el.querySelector('input[data-focus="column:RTE"]');
    expect(box.closest("label").textContent).toBe("RTE (s)");
    expect(box.checked).toBe(true);
    expect(el.querySelectorAll('input[data-focus="column:RTE"]').length).toBe(1);
    box.checked = false;
    box.dispatchEvent(new Event("change"));
    expect(header(el, "RTE")).toBeNull();
    expect(el.querySelector('input[data-focus="column:RTE"]').checked).toBe(false);
  });

  it("adds optional metric columns from the Columns menu", () => {
    const { el } = mount();
    expect(header(el, "AUC")).toBeNull();
    const box = el.querySelector('input[data-focus="column:AUC"]');
    expect(box.checked).toBe(false);
    box.checked = true;
    box.dispatchEvent(new Event("change"));
    expect(header(el, "AUC").title).toContain("AUC meaning; closest to Retrain is best");
  });

  it("deletes after two clicks, once, and only unlearned/uploaded rows", () => {
    const { el, ctx, store } = mount();
    expect(row(el, "original").querySelector(".mucomp-tbl-del")).toBeNull();
    expect(row(el, "retrain").querySelector(".mucomp-tbl-del")).toBeNull();
    row(el, "ft-1").querySelector(".mucomp-tbl-del").click();
    expect(ctx.sent).toEqual([]);
    expect(row(el, "ft-1").querySelector(".mucomp-tbl-del").getAttribute("aria-label")).toBe("Confirm deleting ft-1");
    row(el, "ft-1").querySelector(".mucomp-tbl-del").click();
    expect(row(el, "ft-1").querySelector(".mucomp-tbl-del").disabled).toBe(true); // while Python deletes
    row(el, "ft-1").querySelector(".mucomp-tbl-del").click();
    expect(ctx.sent).toEqual([{ type: "delete", id: "ft-1" }]);
    expect(store.get().traceRun).toBeNull(); // the clicks did not open the trace
  });

  it("forgets an unconfirmed delete after a while and blocks deletion during a build", () => {
    vi.useFakeTimers();
    const { el, ctx, store } = mount();
    row(el, "ft-1").querySelector(".mucomp-tbl-del").click();
    vi.advanceTimersByTime(5000);
    row(el, "ft-1").querySelector(".mucomp-tbl-del").click();
    expect(ctx.sent).toEqual([]);
    store.set({ progress: { running: true } });
    expect(row(el, "ft-1").querySelector(".mucomp-tbl-del").disabled).toBe(true);
  });

  it("opens the epoch-wise chart from the ID, with a line per declared metric, and closes it on Esc", () => {
    const { el, store } = mount();
    expect(row(el, "original").querySelector(".mucomp-tbl-idbtn")).toBeNull(); // no trace there
    row(el, "ft-1").querySelector(".mucomp-tbl-idbtn").click();
    expect(store.get().traceRun).toBe("ft-1");
    expect(row(el, "ft-1").classList.contains("mucomp-tbl-open")).toBe(true);
    const box = el.querySelector(".mucomp-tbl-tracebox");
    expect(box.hidden).toBe(false);
    expect(box.textContent).toContain("Epoch-wise metrics (ft-1)");
    // the trace holds UA, RA, TUA, TRA, PS, MIA and AvgGap
    expect([...box.querySelectorAll("path.mucomp-tbl-line")].map((p) => p.dataset.key))
      .toEqual(["UA", "RA", "TUA", "TRA", "PS", "MIA", "AvgGap"]);
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape" }));
    expect(store.get().traceRun).toBeNull();
    expect(box.hidden).toBe(true);
  });

  it("redraws the epoch-wise chart only when its run's arrays change", () => {
    const { el, store } = mount({}, { traceRun: "ft-1" });
    const chart = el.querySelector(".mucomp-tbl-tracebox svg");
    store.set({ models: { ...store.get().models, retrain: { ...store.get().models.retrain } } });
    expect(el.querySelector(".mucomp-tbl-tracebox svg")).toBe(chart);
    const ft = store.get().models["ft-1"];
    store.set({ models: { ...store.get().models, "ft-1": { ...ft, trace: { ...ft.trace, epoch: [0, 1, 5] } } } });
    expect(el.querySelector(".mucomp-tbl-tracebox svg")).not.toBe(chart);
  });

  it("marks the best epoch and closes the chart with its button", () => {
    const { el, store } = mount();
    store.set({ runs: store.get().runs.map((r) => (r.id === "ft-1" ? { ...r, best_epoch: 1 } : r)) });
    row(el, "ft-1").querySelector(".mucomp-tbl-idbtn").click();
    expect(el.querySelector(".mucomp-tbl-best").textContent).toContain("best (1)");
    el.querySelector(".mucomp-tbl-close").click();
    expect(store.get().traceRun).toBeNull();
  });

  it("shows all rows without the height cap on request", () => {
    const { el } = mount();
    const btn = el.querySelector(".mucomp-tbl-allrows");
    expect(btn.textContent).toBe("Show all rows");
    expect(el.querySelector(".mucomp-tbl-scroll").classList.contains("mucomp-tbl-expanded")).toBe(false);
    const table = el.querySelector("table");
    btn.click();
    expect(el.querySelector(".mucomp-tbl-scroll").classList.contains("mucomp-tbl-expanded")).toBe(true);
    expect(btn.getAttribute("aria-pressed")).toBe("true");
    expect(el.querySelector("table")).toBe(table); // grown in place, not rebuilt
    btn.click();
    expect(el.querySelector(".mucomp-tbl-scroll").classList.contains("mucomp-tbl-expanded")).toBe(false);
    expect(btn.getAttribute("aria-pressed")).toBe("false");
    el.querySelector('[data-focus="view:tradeoff"]').click(); // the setting is kept across views
    btn.click();
    el.querySelector('[data-focus="view:table"]').click();
    expect(el.querySelector(".mucomp-tbl-scroll").classList.contains("mucomp-tbl-expanded")).toBe(true);
  });

  it("shows the trade-off scatter: Retrain labelled, click sets Model B, front outlined", () => {
    const { el, store } = mount({ runs: runs4 });
    el.querySelector('[data-focus="view:tradeoff"]').click();
    const pts = [...el.querySelectorAll("circle.mucomp-tbl-pt")];
    expect(pts.map((p) => p.getAttribute("data-id")).sort()).toEqual([...runs4].sort());
    expect(el.querySelector(".mucomp-tbl-target").textContent).toBe("Retrain (target)");
    const front = [...el.querySelectorAll("circle.mucomp-tbl-front")].map((p) => p.getAttribute("data-id"));
    expect(front.sort()).toEqual(paretoIds(store.get().runs).sort());
    const ga = el.querySelector('circle[data-id="ga-2"]');
    ga.dispatchEvent(new Event("pointerenter"));
    expect(el.querySelector(".mucomp-tbl-readout").textContent).toContain("ga-2");
    ga.dispatchEvent(new MouseEvent("click"));
    expect(store.get().modelB).toBe("ga-2");
    expect(el.querySelector(`circle.mucomp-tbl-ring[stroke="${PURPLE}"]`).getAttribute("cx"))
      .toBe(el.querySelector('circle[data-id="ga-2"]').getAttribute("cx")); // Model B's ring moved there
    expect(el.querySelector(".mucomp-tbl-caption").textContent).toContain("Pareto");
  });

  it("draws the chosen cost as the trade-off's point area", () => {
    const costs = [...METRICS, info("peak_MB", "lower", "efficiency", { label: "Peak MB", unit: "MB", default: false })];
    const runs = withHp(makeStore({ runs: runs4 }).get().runs).map((r, i) => ({ ...r, peak_MB: [null, 500, 50, 5][i] }));
    const { el } = mount({ runs: runs4 }, { runs, metrics: costs });
    el.querySelector('[data-focus="view:tradeoff"]').click();
    const select = el.querySelector('[data-focus="tradeoff-cost"]');
    expect([...select.options].map((o) => o.value)).toEqual(["RTE", "peak_MB"]); // the efficiency columns
    expect(select.value).toBe("RTE");
    select.value = "peak_MB";
    select.dispatchEvent(new Event("change"));
    const r = (id) => Number(el.querySelector(`circle.mucomp-tbl-pt[data-id="${id}"]`).getAttribute("r"));
    expect(r("retrain")).toBeGreaterThan(r("ft-1"));
    expect(r("ft-1")).toBeGreaterThan(r("ga-2"));
    expect(el.querySelector('[data-focus="tradeoff-cost"]').value).toBe("peak_MB"); // kept across redraws
    el.querySelector('circle[data-id="ft-1"]').dispatchEvent(new Event("pointerenter"));
    expect(el.querySelector(".mucomp-tbl-readout").textContent).toContain("Peak MB 50 MB");
    expect(el.querySelector(".mucomp-tbl-caption").textContent).toContain("Area ∝ Peak MB");
  });

  it("keeps the Retrain label inside the trade-off plot wherever Retrain lies", () => {
    // a generous bound on the label's width: 0.7 em per character
    const width = TARGET_TEXT.length * 0.7 * TARGET_FONT;
    for (const [TRA, PS] of [[0.99, 1], [0.5, 1], [0.5, 0.2], [0.2, 0.5]]) {
      const runs = withHp(makeStore({ runs: runs4 }).get().runs).map((r) => (r.type === "Retrain" ? { ...r, TRA, PS } : r));
      const { el } = mount({ runs: runs4 }, { runs });
      el.querySelector('[data-focus="view:tradeoff"]').click();
      const label = el.querySelector(".mucomp-tbl-target");
      const W = Number(el.querySelector("svg.mucomp-tbl-chart").getAttribute("viewBox").split(" ")[2]);
      const x = Number(label.getAttribute("x")), y = Number(label.getAttribute("y"));
      const left = label.getAttribute("text-anchor") === "end" ? x - width : x;
      expect(left).toBeGreaterThanOrEqual(0);
      expect(left + width).toBeLessThanOrEqual(W);
      expect(y).toBeGreaterThanOrEqual(TARGET_FONT);
    }
  });

  it("keeps focus on a radio across re-renders", () => {
    const { el } = mount();
    const radio = row(el, "ft-1").querySelector(".mucomp-tbl-radio-b");
    radio.focus();
    radio.click();
    expect(document.activeElement.getAttribute("data-focus")).toBe("B:ft-1");
  });

  it("cleans up its subscription and Esc listener", () => {
    const spyAdd = vi.spyOn(document, "addEventListener");
    const spyRemove = vi.spyOn(document, "removeEventListener");
    const { store, cleanup } = mount();
    expect(store.live).toBe(1);
    cleanup();
    expect(store.live).toBe(0);
    const added = spyAdd.mock.calls.map((c) => c[1]);
    const removed = spyRemove.mock.calls.map((c) => c[1]);
    expect(added.length).toBeGreaterThan(0);
    expect(added.every((fn) => removed.includes(fn))).toBe(true);
    spyAdd.mockRestore();
    spyRemove.mockRestore();
  });
});

describe("model table during a build", () => {
  it("keeps the table (and its scroll position) across progress updates", () => {
    const { el, store } = mount();
    store.set({ progress: { running: true, index: 1, total: 2, epoch: 1, epochs: 3 } });
    const scroll = el.querySelector(".mucomp-tbl-scroll");
    scroll.scrollTop = 40;
    store.set({ progress: { running: true, index: 1, total: 2, epoch: 2, epochs: 3 } });
    expect(el.querySelector(".mucomp-tbl-scroll")).toBe(scroll);
    store.set({ runs: [...store.get().runs] });
    expect(el.querySelector(".mucomp-tbl-scroll").scrollTop).toBe(40);
  });
});

describe("colour of a counted metric", () => {
  it("shades relearning steps by their gap relative to Retrain's steps", () => {
    const m = info("relearn_steps", "retrain", "robustness", { unit: "steps" });
    const stats = { max: { relearn_steps: 20 }, retrain: { relearn_steps: 10 } };
    const lum = (v) => luminance(cellStyle(m, v, stats).background);
    expect(lum(10)).toBeLessThan(lum(5)); // Retrain's value darkest
    expect(lum(5)).toBeLessThan(lum(1));
    expect(lum(0)).toBeCloseTo(lum(25), 6); // a gap of Retrain's whole value or more: the lightest
    expect(lum(1)).toBeLessThan(lum(0));
    expect(cellStyle(m, 3, { max: {}, retrain: null })).toBeNull();
  });
});

describe("seed groups", () => {
  /** Original, Retrain, a group of three FT seeds, a lone GA run and a group of two GA runs. */
  function seeded() {
    const base = withHp(makeStore().get().runs);
    const ft = base.find((r) => r.type === "Unlearned");
    const member = (id, group, seed, UA, TRA, PS, method = "ft") => ({ ...ft, id, group, seed, UA, TRA, PS, method,
      hp: { ...ft.hp, seed: undefined } });
    return [...base.filter((r) => r.type !== "Unlearned"),
      member("ft-1", "ft-g1", 0, 0.1, 0.9, 0.5), member("ft-2", "ft-g1", 1, 0.3, 0.8, 0.7),
      member("ga-1", null, 0, 0.5, 0.7, 0.2, "ga"), member("ft-3", "ft-g1", 2, 0.2, 0.85, 0.6),
      member("ga-2", "ga-g1", 0, 0.9, 0.6, 0.1, "ga"), member("ga-3", "ga-g1", 1, 0.7, 0.65, 0.3, "ga")];
  }

  it("mean and sample standard deviation as numpy's mean and std(ddof=1)", () => {
    const [m, sd] = meanStd([0.1, 0.3, 0.2]);
    expect(m).toBeCloseTo(0.2, 12);
    expect(sd).toBeCloseTo(0.1, 12);
    expect(meanStd([0.4])[1]).toBeNaN();
    expect(meanStd([0.4, null, NaN, 0.6])[0]).toBeCloseTo(0.5, 12);
  });

  it("gathers a group's runs under one row at the first run's place, groups of one stay rows", () => {
    const units = groupUnits(seeded(), ["UA", "TRA"]);
    expect(units.map((u) => (u.isGroup ? `[${u.group}]` : u.id))).toEqual(["original", "retrain", "[ft-g1]", "ga-1", "[ga-g1]"]);
    const g = units[2];
    expect(g.n).toBe(3);
    expect(g.UA).toBeCloseTo(0.2, 12);
    expect(g.sd.UA).toBeCloseTo(0.1, 12);
    expect(g.method).toBe("ft");
    expect(g.members.map((r) => r.id)).toEqual(["ft-1", "ft-2", "ft-3"]);
    const lone = groupUnits([{ ...seeded()[2], group: "solo" }], ["UA"]);
    expect(lone[0].isGroup).toBeUndefined();
  });

  it("shows a group as mean ± sd, sorts it by its mean, expands to its runs, which pick models", () => {
    const { el, store } = mount({}, { runs: seeded() });
    expect(ids(el)).toEqual(["original", "retrain", "\u0001group:ft-g1", "ga-1", "\u0001group:ga-g1"]);
    const g = row(el, "\u0001group:ft-g1");
    const ua = g.querySelectorAll("td.mucomp-tbl-num")[0];
    expect(ua.textContent).toMatch(/^0\.200 ± 0\.100/);
    expect(ua.title).toContain("over 3 runs");
    expect(g.textContent).toContain("3 seeds");
    header(el, "UA").querySelector("button").click(); // descending by UA: GA group (mean 0.8), GA, FT group (0.2)
    const order = (list) => list.filter((id) => id !== "original" && id !== "retrain");
    expect(order(ids(el))).toEqual(["\u0001group:ga-g1", "ga-1", "\u0001group:ft-g1"]);
    row(el, "\u0001group:ft-g1").querySelector(".mucomp-tbl-groupbtn").click();
    expect(order(ids(el)).slice(2)).toEqual(["\u0001group:ft-g1", "ft-2", "ft-3", "ft-1"]); // members sorted too
    expect(row(el, "ft-2").classList.contains("mucomp-tbl-member")).toBe(true);
    expect(row(el, "\u0001group:ft-g1").querySelector("button").getAttribute("aria-expanded")).toBe("true");
    row(el, "ft-3").querySelector("td.mucomp-tbl-num").click();
    expect(store.get().modelB).toBe("ft-3");
    row(el, "\u0001group:ft-g1").querySelector("td.mucomp-tbl-num").click(); // a click on the group row folds it
    expect(ids(el)).not.toContain("ft-2");
    expect(store.get().modelB).toBe("ft-3");
  });

  it("draws mean ± sd crosses for seed groups in the trade-off view", () => {
    const { el } = mount({}, { runs: seeded() });
    el.querySelector('[data-focus="view:tradeoff"]').click();
    const bars = [...el.querySelectorAll(".mucomp-tbl-errbar")];
    expect(bars.map((b) => b.getAttribute("data-group")).sort()).toEqual(["ft-g1", "ga-g1"]);
    const ft = bars.find((b) => b.getAttribute("data-group") === "ft-g1");
    const [horizontal, vertical] = ft.querySelectorAll("line");
    // centred on the members' mean (the scales are linear: the mean of their positions)
    const at = (id, a) => Number(el.querySelector(`circle[data-id="${id}"]`).getAttribute(a));
    const members = ["ft-1", "ft-2", "ft-3"];
    const cx = members.reduce((s, id) => s + at(id, "cx"), 0) / 3;
    const cy = members.reduce((s, id) => s + at(id, "cy"), 0) / 3;
    const [hx1, hx2] = ["x1", "x2"].map((a) => Number(horizontal.getAttribute(a)));
    expect((hx1 + hx2) / 2).toBeCloseTo(cx, 6);
    expect(Number(horizontal.getAttribute("y1"))).toBeCloseTo(cy, 6);
    // half-widths: the sample standard deviation (TRA 0.05 of 0.9/0.8/0.85) in plot units
    const perUnit = (at("ft-1", "cx") - at("ft-2", "cx")) / (0.9 - 0.8);
    expect((hx2 - hx1) / 2).toBeCloseTo(0.05 * perUnit, 6);
    expect(Number(vertical.getAttribute("y1"))).toBeGreaterThan(Number(vertical.getAttribute("y2")));
    expect(el.querySelector(".mucomp-tbl-caption").textContent).toContain("seed group");
  });
});

describe("relearning probe in the epoch chart area", () => {
  it("opens from the ID of a probed run: both curves, the threshold and when each reached it", () => {
    const base = withHp(makeStore().get().runs);
    const runs = base.map((r) => (r.id === "ft-1" ? { ...r, has_trace: false, has_relearn: true } : { ...r, has_trace: false }));
    const { el, store } = mount({}, { runs });
    expect(row(el, "retrain").querySelector(".mucomp-tbl-idbtn")).toBeNull();
    const btn = row(el, "ft-1").querySelector(".mucomp-tbl-idbtn");
    expect(btn.getAttribute("aria-label")).toBe("relearning probe of ft-1");
    const { models } = store.get();
    store.set({ models: { ...models, "ft-1": { ...models["ft-1"], trace: null, relearn: {
      ua_run: Float32Array.from([0, 0.2, 0.6, 0.9]), ua_retrain: Float32Array.from([0, 0, 0.1, 0.2]), threshold: 0.5,
      steps_run: 2, steps_retrain: null, samples: 10, steps: 3, lr: 0.01 } } } });
    btn.click();
    const box = el.querySelector(".mucomp-tbl-tracebox");
    expect(box.hidden).toBe(false);
    expect(box.getAttribute("aria-label")).toBe("Relearning probe (ft-1)");
    const lines = [...box.querySelectorAll(".mucomp-tbl-relearn path.mucomp-tbl-line")];
    expect(lines.map((p) => p.dataset.key)).toEqual(["ua_run", "ua_retrain"]);
    expect(lines[0].getAttribute("d").match(/[ML]/g)).toHaveLength(4); // steps 0..3
    expect(box.querySelector(".mucomp-tbl-threshold")).not.toBeNull();
    expect(box.textContent).toContain("UA ≥ 0.500 at step 2 (Retrain: not within 3 steps)");
    expect(box.textContent).not.toContain("No epoch-wise metrics");
  });
});
