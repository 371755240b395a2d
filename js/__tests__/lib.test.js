import { describe, expect, it, vi } from "vitest";
import { decode, decodeTree, dequantize, encode } from "../lib/codecs.js";
import { changed, createStore } from "../lib/store.js";
import { detectTheme } from "../lib/theme.js";
import { classColor, TABLEAU10 } from "../lib/colors.js";
import { fmt, h } from "../lib/dom.js";

describe("codecs", () => {
  it("round-trips typed arrays with shape", () => {
    const a = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const back = decode(encode(a, [3, 2]));
    expect(Array.from(back)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(back.shape).toEqual([3, 2]);
    expect(back).toBeInstanceOf(Float32Array);
  });
  it("copies a misaligned buffer instead of failing", () => {
    const bytes = new Uint8Array(13);
    new Float32Array(bytes.buffer, 4, 2).set([7, 8]);
    const shifted = new Uint8Array(bytes.buffer.slice(3)); // 4-byte floats now start at offset 1
    const view = new DataView(shifted.buffer, 1, 8);
    expect(Array.from(decode({ buffer: view, dtype: "float32", shape: [2] }))).toEqual([7, 8]);
  });
  it("decodes nested trees and dequantizes uint16 codes", () => {
    const tree = decodeTree({ a: { b: [encode(Uint8Array.from([1, 2]))] }, c: 3, d: null });
    expect(Array.from(tree.a.b[0])).toEqual([1, 2]);
    expect(tree.c).toBe(3);
    const q = dequantize({ q: encode(Uint16Array.from([0, 65535])), lo: -1, step: 2 / 65535 });
    expect(q[0]).toBeCloseTo(-1);
    expect(q[1]).toBeCloseTo(1);
  });
  it("refuses unknown dtypes", () => {
    expect(() => decode({ buffer: new DataView(new ArrayBuffer(8)), dtype: "float64", shape: [1] })).toThrow(/float64/);
  });
});

describe("store", () => {
  it("notifies on real changes only", () => {
    const store = createStore({ a: 1, b: 2 });
    const fn = vi.fn();
    store.subscribe(fn);
    store.set({ a: 1 });
    expect(fn).not.toHaveBeenCalled();
    store.set({ a: 3 });
    expect(fn).toHaveBeenCalledTimes(1);
    const [state, prev] = fn.mock.calls[0];
    expect(changed(state, prev, "a")).toBe(true);
    expect(changed(state, prev, "b")).toBe(false);
  });
  it("unsubscribes", () => {
    const store = createStore({ a: 1 });
    const fn = vi.fn();
    const off = store.subscribe(fn);
    off();
    store.set({ a: 2 });
    expect(fn).not.toHaveBeenCalled();
  });
});

describe("theme detection order", () => {
  it("trait override wins", () => {
    document.body.setAttribute("data-jp-theme-light", "true");
    expect(detectTheme("dark")).toBe("dark");
    document.body.removeAttribute("data-jp-theme-light");
  });
  it("JupyterLab, then VS Code, then Colab", () => {
    document.body.setAttribute("data-jp-theme-light", "false");
    document.body.classList.add("vscode-light");
    expect(detectTheme("auto")).toBe("dark");
    document.body.removeAttribute("data-jp-theme-light");
    expect(detectTheme("auto")).toBe("light");
    document.body.classList.replace("vscode-light", "vscode-dark");
    expect(detectTheme("auto")).toBe("dark");
    document.body.classList.remove("vscode-dark");
    document.documentElement.setAttribute("theme", "dark");
    expect(detectTheme("auto")).toBe("dark");
    document.documentElement.removeAttribute("theme");
  });
  it("falls back to the background's luminance", () => {
    const host = document.createElement("div");
    host.style.backgroundColor = "rgb(20, 20, 20)";
    const el = document.createElement("div");
    host.append(el);
    document.body.append(host);
    expect(detectTheme("auto", el)).toBe("dark");
    host.remove();
  });
});

describe("colours and dom", () => {
  it("uses Tableau10 and distinct colours past ten classes", () => {
    expect(classColor(0)).toBe(TABLEAU10[0]);
    expect(classColor(11)).not.toBe(classColor(12));
  });
  it("builds elements and formats values", () => {
    const clicked = vi.fn();
    const b = h("button", { class: "x", onclick: clicked, "aria-label": "go" }, "Go");
    b.click();
    expect(clicked).toHaveBeenCalled();
    expect(b.getAttribute("aria-label")).toBe("go");
    expect(fmt(0.12345)).toBe("0.123");
    expect(fmt(null)).toBe("–");
  });
});
