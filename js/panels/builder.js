// Model Builder and progress: base model, method, a grid of hyperparameter values
// (badges, ≤ 5 per field), BUILD / Cancel requests to Python, and real progress.

import { h } from "../lib/dom.js";
import { changed } from "../lib/store.js";

const CORE = ["epochs", "lr", "batch_size"];
const CORE_DEFAULTS = { epochs: 3, lr: 0.01, batch_size: 128 };
/** What Python allows for the core fields when a method sends no constraints (older payloads). */
const CORE_CONSTRAINTS = {
  epochs: { type: "int", allowed: "an integer >= 1", min: 1, max: null },
  lr: { type: "float", allowed: "a number > 0", min: 0, max: null, min_open: true },
  batch_size: { type: "int", allowed: "an integer >= 1", min: 1, max: null },
};
const LABELS = { epochs: "Epochs", lr: "Learning rate", batch_size: "Batch size" };
const MAX_VALUES = 5;

const labelOf = (key) => LABELS[key] || key;

/** Parse an input's text: "" and non-numbers give NaN. */
export function parseValue(text) {
  return String(text).trim() === "" ? NaN : Number(text);
}

/**
 * Why `value` is not allowed for hyperparameter `key` under its declared constraint (sent by
 * Python, `{type, allowed, min, max, min_open, max_open, choices}`), or "" when it is. The
 * same rules Python checks before a run: the builder only saves a round trip.
 */
export function validate(key, value, constraint = CORE_CONSTRAINTS[key]) {
  const c = constraint || { type: "float", allowed: "a number" };
  if (c.type === "choice") return c.choices.includes(value) ? "" : `${labelOf(key)} must be ${c.allowed}.`;
  if (c.type === "bool") return typeof value === "boolean" ? "" : `${labelOf(key)} must be ${c.allowed}.`;
  const bad = !Number.isFinite(value)
    || (c.type === "int" && !Number.isInteger(value))
    || (c.min != null && (value < c.min || (c.min_open && value === c.min)))
    || (c.max != null && (value > c.max || (c.max_open && value === c.max)));
  if (!Number.isFinite(value)) return `${labelOf(key)}: enter a number.`;
  return bad ? `${labelOf(key)} must be ${c.allowed}.` : "";
}

/**
 * The editable fields of a method: epochs, lr, batch size, then its other defaults. Numbers
 * get an input with badges (a grid); a choice or a switch gets a select of one value.
 * @param {{defaults?: Object<string, number|boolean|string>, constraints?: Object<string, object>}} method
 * @returns {{key: string, kind: "number"|"select", input: string, values: Array, constraint: object}[]}
 */
export function methodFields(method) {
  const defaults = { ...CORE_DEFAULTS, ...(method?.defaults || {}) };
  const constraints = { ...CORE_CONSTRAINTS, ...(method?.constraints || {}) };
  const keys = [...CORE, ...Object.keys(defaults).filter((k) => !CORE.includes(k))];
  return keys.flatMap((key) => {
    const value = defaults[key];
    const constraint = constraints[key];
    if (typeof value === "number") return [{ key, kind: "number", input: String(value), values: [], constraint }];
    const options = constraint?.type === "choice" ? constraint.choices
      : typeof value === "boolean" ? [true, false] : null;
    return options ? [{ key, kind: "select", input: value, options, values: [], constraint }] : [];
  });
}

/** The values a field contributes: its badges, or the input's single value. */
export function fieldValues(field) {
  if (field.kind === "select") return [field.input];
  return field.values.length ? field.values : [parseValue(field.input)];
}

/** The grid sent to Python: key -> list of numbers. */
export function gridOf(fields) {
  return Object.fromEntries(fields.map((f) => [f.key, fieldValues(f)]));
}

/** How many models a grid builds: the product of its list lengths. */
export function gridSize(grid) {
  return Object.values(grid).reduce((n, v) => n * v.length, 1);
}

/** Share of the current build done: (runs done + epoch fraction) / total, in [0, 1]. */
export function progressFraction(p) {
  if (Number.isFinite(p?.fraction)) return Math.min(1, Math.max(0, p.fraction)); // an upload
  if (!p?.total) return 0;
  const epochPart = /^evaluat/i.test(p.stage || "") ? 1 : p.epochs ? (p.epoch || 0) / p.epochs : 0;
  return Math.min(1, Math.max(0, ((p.index || 1) - 1 + epochPart) / p.total));
}

const fmtValue = (v) => String(Number(Number(v).toPrecision(6)));
const fmtMB = (bytes) => `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MB`;

/**
 * Send a checkpoint file to Python in chunks ({type: "upload", upload, name, size, index,
 * count} with one binary buffer each); Python evaluates it like `study.add_checkpoint`.
 * Returns an error message instead of sending when the file is over the limit.
 * @param {File|Blob & {name: string}} file
 * @param {{max_bytes: number, chunk_bytes: number}} limits  meta.upload
 * @param {(msg: object, buffers: ArrayBuffer[]) => void} send
 */
export async function uploadFile(file, limits, send) {
  if (!file.size) return `${file.name} is empty.`;
  if (file.size > limits.max_bytes) {
    return `${file.name} is ${fmtMB(file.size)}; the widget takes checkpoints of up to ${fmtMB(limits.max_bytes)}. `
      + "Evaluate larger ones with study.add_checkpoint(path) in Python.";
  }
  const token = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  const count = Math.ceil(file.size / limits.chunk_bytes);
  for (let index = 0; index < count; index++) {
    const chunk = await file.slice(index * limits.chunk_bytes, (index + 1) * limits.chunk_bytes).arrayBuffer();
    send({ type: "upload", upload: token, name: file.name, size: file.size, index, count }, [chunk]);
  }
  return "";
}

let uid = 0;

/**
 * Mount the Model Builder and the progress view.
 * @param {HTMLElement} el
 * @param {{store: ReturnType<typeof import("../lib/store.js").createStore>, send: (msg: object) => void}} ctx
 * @returns {() => void} cleanup
 */
export function mountBuilder(el, ctx) {
  const { store, send } = ctx;
  const id = `mucomp-bld-${++uid}`;
  let method = (store.get().meta.methods || []).find((m) => m.usable !== false)?.name ?? "";
  let base = "original";
  let fields = methodFields(currentMethod());
  let cancelling = false;

  const baseSel = h("select", { id: `${id}-base`, class: "mucomp-bld-select", onchange: (ev) => { base = ev.target.value; } });
  const methodSel = h("select", { id: `${id}-method`, class: "mucomp-bld-select", onchange: (ev) => setMethod(ev.target.value) });
  const fieldsBox = h("div", { class: "mucomp-bld-fields" });
  const summary = h("div", { class: "mucomp-bld-summary", "aria-live": "polite" });
  const buildBtn = h("button", { class: "mucomp-bld-build", onclick: onBuild }, "BUILD");
  const traceBox = h("input", { type: "checkbox", id: `${id}-trace`, class: "mucomp-bld-trace" });
  const bestBox = h("input", { type: "checkbox", id: `${id}-best`, class: "mucomp-bld-best" });
  bestBox.addEventListener("change", () => { if (bestBox.checked) traceBox.checked = true; });
  traceBox.addEventListener("change", () => { if (!traceBox.checked) bestBox.checked = false; });
  const staticNote = h("div", { class: "mucomp-bld-static", role: "note", hidden: true }, "Building models needs a running kernel.");
  const form = h("fieldset", { class: "mucomp-bld-form" },
    h("legend", { class: "mucomp-bld-sr" }, "Model builder settings"),
    h("div", { class: "mucomp-bld-row" }, h("label", { for: baseSel.id }, "Base model"), baseSel),
    h("div", { class: "mucomp-bld-row" }, h("label", { for: methodSel.id }, "Method"), methodSel),
    fieldsBox,
    h("div", { class: "mucomp-bld-row mucomp-bld-checks" },
      h("label", { for: traceBox.id, title: "UA, RA, TUA, TRA, PS, MIA and Avg. Gap after every epoch" }, traceBox, " Epoch metrics"),
      h("label", { for: bestBox.id, title: "Keep the epoch closest to Retrain (smallest Avg. Gap)" }, bestBox, " Keep best epoch")),
    summary, buildBtn);
  const fileInput = h("input", { type: "file", id: `${id}-upload`, class: "mucomp-bld-upload-input",
    accept: ".pt,.pth,.bin,.safetensors", onchange: onUpload });
  const uploadMsg = h("div", { class: "mucomp-bld-msg", role: "alert", hidden: true });
  const uploadBox = h("fieldset", { class: "mucomp-bld-form mucomp-bld-upload" },
    h("legend", { class: "mucomp-bld-sr" }, "Add an unlearned checkpoint"),
    h("div", { class: "mucomp-bld-row" }, h("label", { for: fileInput.id }, "Checkpoint"), fileInput),
    h("div", { class: "mucomp-bld-note" }),
    uploadMsg);
  const progressBox = h("div", { class: "mucomp-bld-progress", role: "status", "aria-live": "polite" });
  el.append(h("div", { class: "mucomp-panel-title" }, "Model Builder"), staticNote, form, uploadBox,
    h("div", { class: "mucomp-panel-title mucomp-bld-ptitle" }, "Progress"), progressBox);

  function currentMethod() {
    return (store.get().meta.methods || []).find((m) => m.name === method);
  }

  function setMethod(name) {
    method = name;
    fields = methodFields(currentMethod());
    drawFields();
  }

  function drawSelects() {
    const { runs, meta } = store.get();
    if (!runs.some((r) => r.id === base)) base = runs[0]?.id ?? "original";
    baseSel.replaceChildren(...runs.map((r) => h("option", { value: r.id, selected: r.id === base }, r.id)));
    baseSel.value = base;
    const methods = meta.methods || [];
    const usable = methods.filter((m) => m.usable !== false); // a class-wise-only method on a random forget set is not
    if (!usable.some((m) => m.name === method)) {
      method = usable[0]?.name ?? "";
      fields = methodFields(currentMethod());
    }
    methodSel.replaceChildren(...methods.map((m) => h("option", { value: m.name, selected: m.name === method,
      disabled: m.usable === false, title: m.usable === false ? "forgets whole classes only; this study forgets samples" : null },
    `${m.label}${m.scope === "class" ? " (class-wise only)" : ""}`)));
    methodSel.value = method;
  }

  function drawFields() {
    fieldsBox.replaceChildren(...fields.map(fieldRow));
    drawSummary();
  }

  function fieldRow(field) {
    return field.kind === "select" ? selectRow(field) : numberRow(field);
  }

  function hint(field) {
    return field.constraint ? `${labelOf(field.key)}: ${field.constraint.allowed}` : labelOf(field.key);
  }

  function selectRow(field) {
    const inputId = `${id}-${field.key}`;
    const select = h("select", { id: inputId, class: "mucomp-bld-select mucomp-bld-choice", "data-key": field.key,
      title: hint(field), onchange: (ev) => { field.input = field.options[ev.target.selectedIndex]; drawSummary(); } },
    ...field.options.map((o) => h("option", { value: String(o), selected: o === field.input }, String(o))));
    return h("div", { class: "mucomp-bld-field" },
      h("div", { class: "mucomp-bld-row" }, h("label", { for: inputId, title: hint(field) }, labelOf(field.key)), select));
  }

  function numberRow(field) {
    const inputId = `${id}-${field.key}`;
    const msg = h("div", { class: "mucomp-bld-msg", role: "alert", hidden: true });
    const badges = h("div", { class: "mucomp-bld-badges" });
    const c = field.constraint || {};
    const input = h("input", { id: inputId, type: "number", step: c.type === "int" ? 1 : "any", value: field.input,
      min: c.min ?? undefined, max: c.max ?? undefined, title: hint(field),
      class: "mucomp-bld-input", "data-key": field.key, "aria-describedby": `${inputId}-msg` });
    msg.id = `${inputId}-msg`;
    const add = h("button", { class: "mucomp-bld-add", "aria-label": `Add ${labelOf(field.key)} value`, "data-key": field.key }, "+");
    const refresh = () => {
      const error = validate(field.key, parseValue(field.input), field.constraint);
      msg.hidden = !error;
      msg.textContent = error;
      input.setAttribute("aria-invalid", String(Boolean(error)));
      add.disabled = Boolean(error) || field.values.length >= MAX_VALUES;
      badges.replaceChildren(...field.values.map((v, i) => h("button", {
        class: "mucomp-bld-badge", "aria-label": `Remove ${labelOf(field.key)} ${fmtValue(v)}`,
        onclick: () => { field.values.splice(i, 1); refresh(); },
      }, fmtValue(v), h("span", { "aria-hidden": "true" }, " ×"))));
      drawSummary();
    };
    input.addEventListener("input", () => { field.input = input.value; refresh(); });
    add.addEventListener("click", () => {
      const v = parseValue(field.input);
      if (validate(field.key, v, field.constraint) || field.values.length >= MAX_VALUES) return;
      if (!field.values.includes(v)) field.values.push(v);
      refresh();
    });
    refresh();
    return h("div", { class: "mucomp-bld-field" },
      h("div", { class: "mucomp-bld-row" }, h("label", { for: inputId, title: hint(field) }, labelOf(field.key)), input, add),
      badges, msg);
  }

  /** The first problem that blocks BUILD, or "". */
  function blocker() {
    for (const f of fields) {
      for (const v of fieldValues(f)) {
        const error = validate(f.key, v, f.constraint);
        if (error) return error;
      }
    }
    return method ? "" : "No unlearning method is available.";
  }

  function drawSummary() {
    const { isStatic, progress } = store.get();
    const problem = blocker();
    const n = gridSize(gridOf(fields));
    summary.replaceChildren(problem
      ? h("span", { class: "mucomp-bld-invalid" }, "Fix the values above to build.")
      : h("span", {}, "These settings will build ", h("strong", {}, String(n)), n === 1 ? " model" : " models"));
    buildBtn.disabled = Boolean(problem) || isStatic || Boolean(progress?.running);
    buildBtn.title = progress?.running ? "A build is running" : "";
  }

  function onBuild() {
    if (buildBtn.disabled) return;
    send({ type: "build", method, base, grid: gridOf(fields), trace: traceBox.checked, keep_best: bestBox.checked });
  }

  async function onUpload() {
    const file = fileInput.files?.[0];
    if (!file) return;
    const limits = store.get().meta.upload;
    const error = limits ? await uploadFile(file, limits, send) : "This kernel does not take uploads.";
    uploadMsg.hidden = !error;
    uploadMsg.textContent = error;
    fileInput.value = ""; // the same file can be chosen again
  }

  function drawUploadNote() {
    const limits = store.get().meta.upload;
    uploadBox.querySelector(".mucomp-bld-note").textContent = limits
      ? `A state dict saved elsewhere (torch.save(model.state_dict()) or safetensors, up to ${fmtMB(limits.max_bytes)}), `
        + "evaluated like study.add_checkpoint; pickled objects are refused."
      : "";
  }

  function drawProgress() {
    const { progress: p = {}, meta, isStatic } = store.get();
    if (!p.running) {
      cancelling = false;
      progressBox.replaceChildren(h("div", { class: "mucomp-bld-message" }, p.message || "Idle."));
      return;
    }
    const label = (meta.methods || []).find((m) => m.name === p.method)?.label || p.method || "";
    const frac = progressFraction(p);
    const bar = h("progress", { class: "mucomp-bld-bar", max: 1, "aria-label": "Build progress" });
    bar.value = frac;
    const cancel = p.upload ? null : h("button", { class: "mucomp-bld-cancel", disabled: isStatic || cancelling,
      onclick: () => { cancelling = true; send({ type: "cancel" }); drawProgress(); } }, cancelling ? "Cancelling…" : "Cancel");
    progressBox.replaceChildren(
      h("div", { class: "mucomp-bld-stage" }, h("strong", {}, p.stage || "Starting"), label ? ` · ${label}` : ""),
      p.upload ? null : h("div", { class: "mucomp-bld-counts" },
        h("span", {}, `Run ${p.index ?? "–"} / ${p.total ?? "–"}`),
        p.epochs ? h("span", {}, `Epoch ${p.epoch ?? 0} / ${p.epochs}`) : null,
        Number.isFinite(p.loss) ? h("span", {}, `loss ${p.loss.toFixed(4)}`) : null),
      h("div", { class: "mucomp-bld-barrow" }, bar, h("span", {}, `${Math.round(frac * 100)}%`), cancel));
  }

  function drawStatic() {
    const { isStatic } = store.get();
    form.disabled = isStatic;
    uploadBox.disabled = isStatic || Boolean(store.get().progress?.running);
    staticNote.hidden = !isStatic;
    drawSummary();
  }

  const unsub = store.subscribe((s, prev) => {
    if (changed(s, prev, "runs", "meta")) drawSelects();
    if (changed(s, prev, "meta")) { drawFields(); drawUploadNote(); }
    if (changed(s, prev, "progress", "meta", "isStatic")) drawProgress();
    if (changed(s, prev, "progress", "isStatic")) drawStatic();
  });
  drawSelects();
  drawFields();
  drawUploadNote();
  drawProgress();
  drawStatic();

  return () => {
    unsub();
    el.replaceChildren();
  };
}
