import { afterEach, describe, expect, it } from "vitest";
import {
  gridOf, gridSize, methodFields, mountBuilder, parseValue, progressFraction, uploadFile, validate,
} from "../panels/builder.js";
import { makeCtx, makeStore } from "./helpers.js";

let cleanups = [];
function mount(overrides = {}) {
  const store = makeStore({}, overrides);
  let live = 0;
  const subscribe = store.subscribe;
  store.subscribe = (fn) => { live += 1; const off = subscribe(fn); return () => { live -= 1; off(); }; };
  const ctx = makeCtx(store);
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = mountBuilder(el, ctx);
  cleanups.push(() => { cleanup(); el.remove(); });
  return { store, ctx, el, cleanup, live: () => live };
}
afterEach(() => { cleanups.forEach((fn) => fn()); cleanups = []; });

const input = (el, key) => el.querySelector(`input.mucomp-bld-input[data-key="${key}"]`);
const type = (el, key, value) => {
  const inp = input(el, key);
  inp.value = value;
  inp.dispatchEvent(new Event("input"));
};
const add = (el, key, value) => {
  type(el, key, value);
  el.querySelector(`button.mucomp-bld-add[data-key="${key}"]`).click();
};
const build = (el) => el.querySelector(".mucomp-bld-build");

describe("builder helpers", () => {
  it("validates the core fields as Python does when no constraints are sent", () => {
    expect(validate("epochs", 1)).toBe("");
    expect(validate("epochs", 0)).toBe("Epochs must be an integer >= 1.");
    expect(validate("epochs", 1.5)).not.toBe("");
    expect(validate("batch_size", 64)).toBe("");
    expect(validate("batch_size", 0)).not.toBe("");
    expect(validate("lr", 0.01)).toBe("");
    expect(validate("lr", 0)).toBe("Learning rate must be a number > 0.");
    expect(validate("lr", 1.5)).toBe("");
    expect(validate("clip", -3)).toBe("");
    expect(validate("clip", parseValue(""))).toBe("clip: enter a number.");
  });

  it("validates against a method's declared constraints", () => {
    const steps = { type: "int", allowed: "an integer >= 1 and <= 10", min: 1, max: 10 };
    expect(validate("msteps", 3, steps)).toBe("");
    expect(validate("msteps", -5, steps)).toBe("msteps must be an integer >= 1 and <= 10.");
    expect(validate("msteps", 11, steps)).not.toBe("");
    expect(validate("msteps", 2.5, steps)).not.toBe("");
    const ratio = { type: "float", allowed: "a number > 0 and <= 1", min: 0, max: 1, min_open: true };
    expect(validate("mask_ratio", 1, ratio)).toBe("");
    expect(validate("mask_ratio", 0, ratio)).not.toBe("");
    const variant = { type: "choice", allowed: "one of 'paper', 'reference'", choices: ["paper", "reference"] };
    expect(validate("variant", "paper", variant)).toBe("");
    expect(validate("variant", "x", variant)).toBe("variant must be one of 'paper', 'reference'.");
  });

  it("lists core fields first, then numeric method defaults, then choices and switches", () => {
    const fields = methodFields({ defaults: { lr: 0.1, clip: 100, flag: true, epochs: 7, batch_size: 32, variant: "paper", note: "x" },
      constraints: { variant: { type: "choice", allowed: "one of 'paper', 'reference'", choices: ["paper", "reference"] } } });
    expect(fields.map((f) => f.key)).toEqual(["epochs", "lr", "batch_size", "clip", "flag", "variant"]);
    expect(fields.map((f) => f.kind)).toEqual(["number", "number", "number", "number", "select", "select"]);
    expect(fields.slice(0, 4).map((f) => f.input)).toEqual(["7", "0.1", "32", "100"]);
    expect(fields[4].options).toEqual([true, false]);
    expect(gridOf(fields)).toMatchObject({ flag: [true], variant: ["paper"] });
  });

  it("computes the grid and its size from badges or single values", () => {
    const fields = [{ key: "epochs", input: "3", values: [] }, { key: "lr", input: "0.5", values: [0.1, 0.01] },
      { key: "batch_size", input: "64", values: [32, 64, 128] }];
    expect(gridOf(fields)).toEqual({ epochs: [3], lr: [0.1, 0.01], batch_size: [32, 64, 128] });
    expect(gridSize(gridOf(fields))).toBe(6);
  });

  it("measures progress as (runs done + epoch fraction) / total", () => {
    expect(progressFraction({ running: true, index: 2, total: 4, epoch: 5, epochs: 10, stage: "Unlearning" })).toBeCloseTo(0.375);
    expect(progressFraction({ running: true, index: 2, total: 4, epoch: 10, epochs: 10, stage: "Evaluating" })).toBeCloseTo(0.5);
    expect(progressFraction({})).toBe(0);
  });
});

describe("model builder", () => {
  it("offers every run as base and the methods' labels", () => {
    const { el } = mount();
    const [base, method] = el.querySelectorAll("select");
    expect([...base.options].map((o) => o.value)).toEqual(["original", "retrain", "ft-1"]);
    expect(base.value).toBe("original");
    expect([...method.options].map((o) => o.textContent)).toEqual(["Fine-Tuning", "Gradient Ascent"]);
    expect(el.querySelector(`label[for="${method.id}"]`).textContent).toBe("Method");
  });

  it("shows the method's defaults, including method-specific ones", () => {
    const { el } = mount();
    const method = el.querySelectorAll("select")[1];
    expect(input(el, "clip")).toBeNull();
    method.value = "ga";
    method.dispatchEvent(new Event("change"));
    expect(input(el, "epochs").value).toBe("7");
    expect(input(el, "clip").value).toBe("100");
  });

  it("counts the models a badge grid builds and limits badges to five", () => {
    const { el } = mount();
    expect(el.querySelector(".mucomp-bld-summary").textContent).toBe("These settings will build 1 model");
    add(el, "lr", "0.01");
    add(el, "lr", "0.05");
    add(el, "batch_size", "64");
    add(el, "batch_size", "128");
    add(el, "batch_size", "256");
    expect(el.querySelector(".mucomp-bld-summary").textContent).toBe("These settings will build 6 models");
    for (const v of ["1", "2", "3", "4", "5"]) add(el, "epochs", v);
    expect(el.querySelectorAll(".mucomp-bld-badge").length).toBe(10);
    type(el, "epochs", "6");
    expect(el.querySelector('button.mucomp-bld-add[data-key="epochs"]').disabled).toBe(true);
    expect(el.querySelector(".mucomp-bld-summary").textContent).toContain("30 models");
    el.querySelector('.mucomp-bld-badge[aria-label="Remove Learning rate 0.05"]').click();
    expect(el.querySelector(".mucomp-bld-summary").textContent).toContain("15 models");
  });

  it("refuses lr = 0 with a visible message and sends nothing", () => {
    const { el, ctx } = mount();
    type(el, "lr", "0");
    const msg = input(el, "lr").closest(".mucomp-bld-field").querySelector(".mucomp-bld-msg");
    expect(msg.hidden).toBe(false);
    expect(msg.textContent).toBe("Learning rate must be a number > 0.");
    expect(build(el).disabled).toBe(true);
    build(el).click();
    el.querySelector('button.mucomp-bld-add[data-key="lr"]').click();
    expect(el.querySelectorAll(".mucomp-bld-badge").length).toBe(0);
    expect(ctx.sent).toEqual([]);
  });

  it("sends the exact grid with method and base", () => {
    const { el, ctx } = mount();
    const [base, method] = el.querySelectorAll("select");
    base.value = "ft-1";
    base.dispatchEvent(new Event("change"));
    method.value = "ga";
    method.dispatchEvent(new Event("change"));
    add(el, "lr", "0.001");
    add(el, "lr", "0.0001");
    type(el, "epochs", "2");
    type(el, "clip", "5");
    build(el).click();
    expect(ctx.sent).toEqual([{ type: "build", method: "ga", base: "ft-1",
      grid: { epochs: [2], lr: [0.001, 0.0001], batch_size: [256], clip: [5], variant: ["paper"] }, trace: false, keep_best: false }]);
  });

  it("checks and shows each method's declared constraints", () => {
    const { el, ctx } = mount();
    const method = el.querySelectorAll("select")[1];
    method.value = "ga";
    method.dispatchEvent(new Event("change"));
    expect(el.querySelector(`label[for="${input(el, "clip").id}"]`).title).toBe("clip: a number > 0");
    type(el, "clip", "-1");
    const msg = input(el, "clip").closest(".mucomp-bld-field").querySelector(".mucomp-bld-msg");
    expect(msg.hidden).toBe(false);
    expect(msg.textContent).toBe("clip must be a number > 0.");
    expect(build(el).disabled).toBe(true);
    type(el, "clip", "2");
    const variant = el.querySelector('select.mucomp-bld-choice[data-key="variant"]');
    expect([...variant.options].map((o) => o.value)).toEqual(["paper", "reference"]);
    variant.selectedIndex = 1;
    variant.dispatchEvent(new Event("change"));
    build(el).click();
    expect(ctx.sent[0].grid).toMatchObject({ clip: [2], variant: ["reference"] });
  });

  it("asks for epoch metrics when keeping the best epoch", () => {
    const { el, ctx } = mount();
    const best = el.querySelector(".mucomp-bld-best");
    best.checked = true;
    best.dispatchEvent(new Event("change"));
    expect(el.querySelector(".mucomp-bld-trace").checked).toBe(true);
    build(el).click();
    expect(ctx.sent[0]).toMatchObject({ type: "build", trace: true, keep_best: true });
  });

  it("shows real progress, blocks BUILD while running and cancels", () => {
    const { el, ctx, store } = mount();
    store.set({ progress: { running: true, index: 2, total: 4, method: "ft", stage: "Unlearning", epoch: 5, epochs: 10, loss: 0.12345 } });
    const text = el.querySelector(".mucomp-bld-progress").textContent;
    expect(text).toContain("Unlearning");
    expect(text).toContain("Fine-Tuning");
    expect(text).toContain("Run 2 / 4");
    expect(text).toContain("Epoch 5 / 10");
    expect(text).toContain("0.1235");
    expect(el.querySelector("progress").value).toBeCloseTo(0.375);
    expect(build(el).disabled).toBe(true);
    el.querySelector(".mucomp-bld-cancel").click();
    expect(ctx.sent).toEqual([{ type: "cancel" }]);
    expect(el.querySelector(".mucomp-bld-cancel").disabled).toBe(true);
    store.set({ progress: { running: false, message: "Cancelled." } });
    expect(el.querySelector("progress")).toBeNull();
    expect(el.querySelector(".mucomp-bld-progress").textContent).toBe("Cancelled.");
    expect(build(el).disabled).toBe(false);
  });

  it("is disabled with a note in an exported page", () => {
    const { el, ctx } = mount({ isStatic: true });
    expect(el.querySelector("fieldset").disabled).toBe(true);
    expect(el.textContent).toContain("Building models needs a running kernel.");
    expect(build(el).disabled).toBe(true);
    build(el).click();
    expect(ctx.sent).toEqual([]);
  });

  it("keeps a deleted base from being sent", () => {
    const { el, store } = mount();
    const base = el.querySelector("select");
    base.value = "ft-1";
    base.dispatchEvent(new Event("change"));
    store.set({ runs: store.get().runs.filter((r) => r.id !== "ft-1") });
    expect(el.querySelector("select").value).toBe("original");
  });

  it("leaves no subscriptions after cleanup", () => {
    const { cleanup, live, el } = mount();
    expect(live()).toBe(1);
    cleanup();
    expect(live()).toBe(0);
    expect(el.children.length).toBe(0);
  });
});

describe("methods for whole classes only", () => {
  it("are listed as class-wise only and cannot be picked when the study forgets samples", () => {
    const methods = [
      { name: "bs", label: "Boundary Shrink", scope: "class", usable: false, defaults: { epochs: 1, lr: 0.01, batch_size: 8 } },
      { name: "ft", label: "Fine-Tuning", scope: "any", usable: true, defaults: { epochs: 10, lr: 0.01, batch_size: 128 } },
    ];
    const store = makeStore();
    const { el } = mount({ meta: { ...store.get().meta, methods } });
    const options = [...el.querySelectorAll("select.mucomp-bld-select option")].filter((o) => ["bs", "ft"].includes(o.value));
    expect(options.map((o) => [o.value, o.textContent, o.disabled])).toEqual([
      ["bs", "Boundary Shrink (class-wise only)", true], ["ft", "Fine-Tuning", false]]);
    expect(options[1].selected).toBe(true); // the first usable method, not the first listed
  });
});

describe("checkpoint upload", () => {
  // jsdom's Blob lacks arrayBuffer(), which every browser the widget supports has
  if (!Blob.prototype.arrayBuffer) {
    Blob.prototype.arrayBuffer = function arrayBuffer() {
      return new Promise((resolve) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result);
        reader.readAsArrayBuffer(this);
      });
    };
  }

  it("sends a file in numbered chunks that add up to it", async () => {
    const bytes = Uint8Array.from({ length: 2500 }, (_, i) => i % 251);
    const file = new File([bytes], "mine.pt");
    const sent = [];
    const error = await uploadFile(file, { max_bytes: 10_000, chunk_bytes: 1000 }, (msg, buffers) => sent.push({ msg, buffers }));
    expect(error).toBe("");
    expect(sent.map((s) => [s.msg.index, s.msg.count, s.buffers[0].byteLength])).toEqual([[0, 3, 1000], [1, 3, 1000], [2, 3, 500]]);
    expect(new Set(sent.map((s) => s.msg.upload)).size).toBe(1);
    const joined = new Uint8Array(sent.flatMap((s) => [...new Uint8Array(s.buffers[0])]));
    expect(joined).toEqual(bytes);
    expect(sent[0].msg).toMatchObject({ type: "upload", name: "mine.pt", size: 2500 });
  });

  it("refuses a file over the limit without sending it, naming the file and the limit", async () => {
    const sent = [];
    const file = new File([new Uint8Array(3 * 2 ** 20)], "big.safetensors");
    const error = await uploadFile(file, { max_bytes: 2 ** 20, chunk_bytes: 2 ** 18 }, (m) => sent.push(m));
    expect(sent).toEqual([]);
    expect(error).toMatch(/big\.safetensors is 3\.0 MB.*up to 1\.0 MB.*add_checkpoint/);
  });

  it("shows a file input with the stated limit in the builder", () => {
    const store = makeStore();
    store.set({ meta: { ...store.get().meta, upload: { max_bytes: 512 * 2 ** 20, chunk_bytes: 2 ** 21 } } });
    const el = document.createElement("div");
    const cleanup = mountBuilder(el, makeCtx(store));
    expect(el.querySelector("input[type=file].mucomp-bld-upload-input")).not.toBeNull();
    expect(el.textContent).toContain("up to 512 MB");
    store.set({ progress: { running: true, upload: true, stage: "Uploading", method: "mine.pt", fraction: 0.4 } });
    expect(el.querySelector(".mucomp-bld-progress").textContent).toMatch(/Uploading.*mine\.pt.*40%/);
    expect(el.querySelector(".mucomp-bld-cancel")).toBeNull();
    cleanup();
  });
});
