import { describe, expect, it } from "vitest";
import { createRaster, makeMask, parseColor } from "../lib/raster.js";

/** A context stand-in whose ImageData is a plain pixel array. */
const fakeCtx = { createImageData: (width, height) => ({ width, height, data: new Uint8ClampedArray(4 * width * height) }) };
const px = (img, x, y) => Array.from(img.data.slice(4 * (y * img.width + x), 4 * (y * img.width + x) + 4));

/** A hand-made shape: the centre pixel fully covered, its right neighbour half. */
const dot = { phases: 1, reach: 1, masks: [{ dx: Int16Array.of(0, 1), dy: Int16Array.of(0, 0), cov: Float32Array.of(1, 0.5) }] };

describe("raster", () => {
  it("reads colours as the canvas does", () => {
    expect(parseColor("#4E79A7")).toEqual([78, 121, 167, 1]);
    expect(parseColor("rgba(0, 0, 0, 0.55)")).toEqual([0, 0, 0, 0.55]);
    expect(parseColor("rgba(255, 255, 255, 0.5)")).toEqual([255, 255, 255, 0.5]);
  });

  it("unites a pass's markers and composites passes source-over", () => {
    const r = createRaster(6, 3);
    r.clear();
    const xs = Float32Array.of(1.2, 1.9, 1.5, NaN, -40), ys = Float32Array.of(1.5, 1.1, 1.5, 1, 1);
    // Points 0 and 2 share a pixel: one pass covers it once (alpha 0.5), not twice (0.75).
    r.pass(dot, [0, 2, 3, 4], xs, ys, [255, 0, 0, 0.5]);
    let img = r.image(fakeCtx);
    expect(px(img, 1, 1)).toEqual([255, 0, 0, 128]);
    expect(px(img, 2, 1)).toEqual([255, 0, 0, 64]);           // half covered
    expect(px(img, 0, 1)).toEqual([0, 0, 0, 0]);
    // A second pass draws over the first: opaque blue over red, and half-covered blue over
    // the quarter-covered red (premultiplied: blue 0.5, red 0.25 * 0.5, alpha 0.625).
    r.pass(dot, [1], xs, ys, [0, 0, 255, 1]);
    img = r.image(fakeCtx);
    expect(px(img, 1, 1)).toEqual([0, 0, 255, 255]);
    expect(px(img, 2, 1)).toEqual([51, 0, 204, 159]);
    r.clear();
    expect(px(r.image(fakeCtx), 2, 1)).toEqual([0, 0, 0, 0]);
  });

  it("clips markers at the edges and picks the mask of the sub-pixel position", () => {
    const phased = { phases: 2, reach: 1, masks: [0, 1, 2, 3].map((p) => ({
      dx: Int16Array.of(p % 2), dy: Int16Array.of(p >> 1), cov: Float32Array.of(1) })) };
    const r = createRaster(3, 3);
    r.clear();
    r.pass(phased, [0, 1, 2], Float32Array.of(0.7, 2.2, 1.2), Float32Array.of(0.2, 2.6, 0.2), [0, 255, 0, 1]);
    const img = r.image(fakeCtx);
    expect(px(img, 1, 0)[3]).toBe(255);  // (0.7, 0.2): right half -> one pixel right
    expect(px(img, 1, 0)[1]).toBe(255);  // (1.2, 0.2): left half -> its own pixel
    expect(img.data.reduce((a, v, i) => a + (i % 4 === 3 && v > 0 ? 1 : 0), 0)).toBe(1); // (2.2, 2.6) falls off
  });

  it("makes one mask per sub-pixel position from what the canvas draws", () => {
    const mask = makeMask((ctx) => ctx.fillRect(-1, -1, 2, 2), 1, 2, 2);
    expect(mask.phases).toBe(2);
    expect(mask.masks).toHaveLength(4);
    expect(mask.reach).toBe(3);
  });
});
