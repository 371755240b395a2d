import { afterEach, describe, expect, it, vi } from "vitest";
import {
  cellStyle, chooseModel, interpolate, luminance, mountTable, nextSort, paretoIds, rampT, SCHEMES, sortRows, tableStats,
} from "../panels/table.js";
import { makeCtx, makeStore } from "./helpers.js";

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

  it("gives darker cells to better values in every coloured column", () => {
    const stats = { maxTRA: 0.95, maxRTE: 100, retrain: { MIA: 0.9 } };
    const dark = (key, v) => luminance(cellStyle(key, v, stats).background);
    expect(dark("UA", 0.01)).toBeLessThan(dark("UA", 0.15));
    expect(dark("TUA", 0.0)).toBeLessThan(dark("TUA", 0.1));
    expect(dark("RA", 0.99)).toBeLessThan(dark("RA", 0.85));
    expect(dark("TRA", 0.94)).toBeLessThan(dark("TRA", 0.85));
    expect(dark("RTE", 5)).toBeLessThan(dark("RTE", 120));
    expect(dark("PS", 0.9)).toBeLessThan(dark("PS", 0.3));
    expect(dark("AvgGap", 0.01)).toBeLessThan(dark("AvgGap", 0.1));
    expect(dark("MIA", 0.88)).toBeLessThan(dark("MIA", 0.75));
    expect(dark("UA", 0.5)).toBe(dark("UA", 0.2)); // ≥ 0.2 gets the lightest shade
  });

  it("uses white text on dark cells, none for missing values or unknown columns", () => {
    const stats = tableStats([]);
    expect(cellStyle("UA", 0, stats).color).toBe("#ffffff");
    expect(cellStyle("UA", 0.3, stats).color).toBe("#111827");
    expect(cellStyle("UA", null, stats)).toBeNull();
    expect(cellStyle("MIA", 0.5, stats)).toBeNull(); // no Retrain to compare with
    expect(cellStyle("seed", 1, stats)).toBeNull();
  });

  it("stretches RTE over max(160 s, max RTE)", () => {
    const a = cellStyle("RTE", 160, { maxTRA: 1, maxRTE: 400, retrain: null });
    const b = cellStyle("RTE", 160, { maxTRA: 1, maxRTE: 10, retrain: null });
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
  });

  it("swaps A and B when the other side's model is chosen", () => {
    expect(chooseModel({ modelA: "original", modelB: "retrain" }, "B", "ft-1")).toEqual({ modelB: "ft-1" });
    expect(chooseModel({ modelA: "original", modelB: "retrain" }, "A", "retrain"))
      .toEqual({ modelA: "retrain", modelB: "original" });
  });
});

describe("model table", () => {
  it("renders one row per run with type badges and A/B radios from the store", () => {
    const { el, store } = mount();
    expect(ids(el)).toEqual(store.get().runs.map((r) => r.id));
    const badges = [...el.querySelectorAll("tbody .mucomp-tbl-badge")].map((b) => b.textContent);
    expect(badges).toEqual(["Original", "Retrain", "Unlearned"]);
    expect(el.querySelector("tbody .mucomp-tbl-badge").style.background).toBe("rgb(243, 244, 246)");
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

  it("takes header titles from meta.columns and adds optional metric columns", () => {
    const { el, store } = mount();
    expect(header(el, "UA").title).toContain(store.get().meta.columns.UA);
    expect(header(el, "AvgGap").title).toContain("gap");
    expect(header(el, "AUC")).toBeNull();
    const box = el.querySelector('input[data-focus="column:AUC"]');
    box.checked = true;
    box.dispatchEvent(new Event("change"));
    expect(header(el, "AUC").title).toContain(store.get().meta.columns.AUC);
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

  it("opens the epoch-wise chart for ft-1 and closes it on Esc", () => {
    const { el, store } = mount();
    row(el, "original").querySelector("td").click();
    expect(store.get().traceRun).toBeNull(); // no trace there
    row(el, "ft-1").querySelector("td:nth-child(3)").click();
    expect(store.get().traceRun).toBe("ft-1");
    const box = el.querySelector(".mucomp-tbl-tracebox");
    expect(box.hidden).toBe(false);
    expect(box.textContent).toContain("Epoch-wise metrics (ft-1)");
    expect(box.querySelectorAll("path.mucomp-tbl-line").length).toBe(6);
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape" }));
    expect(store.get().traceRun).toBeNull();
    expect(box.hidden).toBe(true);
  });

  it("marks the best epoch and closes the chart with its button", () => {
    const { el, store } = mount();
    store.set({ runs: store.get().runs.map((r) => (r.id === "ft-1" ? { ...r, best_epoch: 1 } : r)) });
    row(el, "ft-1").querySelector(".mucomp-tbl-idbtn").click();
    expect(el.querySelector(".mucomp-tbl-best").textContent).toContain("best (1)");
    el.querySelector(".mucomp-tbl-close").click();
    expect(store.get().traceRun).toBeNull();
  });

  it("expands the table without the height cap", () => {
    const { el } = mount();
    expect(el.querySelector(".mucomp-tbl-scroll").classList.contains("mucomp-tbl-expanded")).toBe(false);
    el.querySelector(".mucomp-tbl-expand").click();
    expect(el.querySelector(".mucomp-tbl-scroll").classList.contains("mucomp-tbl-expanded")).toBe(true);
    expect(el.querySelector(".mucomp-tbl-expand").getAttribute("aria-pressed")).toBe("true");
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
    expect(el.querySelector(".mucomp-tbl-caption").textContent).toContain("Pareto");
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
