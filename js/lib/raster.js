// Scatter markers composited in JS into one ImageData, for plots of tens of thousands of
// points. A Canvas 2D path of 50,000 circles took 0.8–1.6 s per plot in Chromium's software
// rasteriser (every zoom step repaints both plots); here each marker shape is rasterised
// once by the canvas itself (a coverage mask at a few sub-pixel offsets) and stamped per
// point, so a repaint costs a few array operations per covered pixel.
//
// A pass stands for one Canvas 2D `fill()` or `stroke()` of a path of many markers in one
// colour: the markers' coverage is united (per-pixel maximum), not summed, then composited
// once with source-over, so overlapping markers of one batch do not darken each other,
// as with the canvas's own path fill.

/** Sub-pixel positions per axis at which a mask is drawn: points snap to 1/PHASES px. */
export const PHASES = 4;

/**
 * The coverage (0..1) of one shape drawn by the canvas at PHASES × PHASES sub-pixel offsets.
 * @param {(ctx: CanvasRenderingContext2D) => void} draw  fills or strokes the shape centred at
 *   (0, 0), in CSS px (the context is scaled by `dpr`)
 * @param {number} extent  CSS px from the centre beyond which the shape leaves nothing
 * @param {number} dpr     device pixels per CSS px
 * @returns {{phases: number, reach: number, masks: {dx: Int16Array, dy: Int16Array, cov: Float32Array}[]}|null}
 *   masks[py * phases + px]: the covered device pixels relative to the one holding the centre;
 *   null without a 2-D context
 */
export function makeMask(draw, extent, dpr, phases = PHASES) {
  const reach = Math.ceil(extent * dpr) + 1, tile = 2 * reach + 1;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = tile * phases;
  const ctx = canvas.getContext("2d");
  if (!ctx) return null;
  for (let py = 0; py < phases; py++) {
    for (let px = 0; px < phases; px++) {
      ctx.setTransform(dpr, 0, 0, dpr, px * tile + reach + (px + 0.5) / phases,
        py * tile + reach + (py + 0.5) / phases);
      draw(ctx);
    }
  }
  const alpha = ctx.getImageData(0, 0, canvas.width, canvas.height)?.data;
  const masks = [];
  for (let py = 0; py < phases; py++) {
    for (let px = 0; px < phases; px++) {
      const dx = [], dy = [], cov = [];
      for (let y = 0; y < tile; y++) {
        for (let x = 0; x < tile; x++) {
          const a = alpha ? alpha[4 * ((py * tile + y) * canvas.width + px * tile + x) + 3] : 0;
          if (a > 0) { dx.push(x - reach); dy.push(y - reach); cov.push(a / 255); }
        }
      }
      masks.push({ dx: Int16Array.from(dx), dy: Int16Array.from(dy), cov: Float32Array.from(cov) });
    }
  }
  return { phases, reach, masks };
}

let probe = null;
/**
 * A CSS colour as [r, g, b] (0..255) and alpha (0..1), as the canvas reads it.
 * @returns {[number, number, number, number]}
 */
export function parseColor(color) {
  probe ||= document.createElement("canvas").getContext("2d");
  let s = String(color).trim().toLowerCase();
  if (probe) {
    probe.fillStyle = "#000000";
    probe.fillStyle = s;
    s = String(probe.fillStyle).toLowerCase();
  }
  let m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})?$/.exec(s);
  if (m) return [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16), m[4] ? parseInt(m[4], 16) / 255 : 1];
  m = /^#([0-9a-f])([0-9a-f])([0-9a-f])$/.exec(s);
  if (m) return [17 * parseInt(m[1], 16), 17 * parseInt(m[2], 16), 17 * parseInt(m[3], 16), 1];
  m = /^rgba?\(([^)]*)\)$/.exec(s);
  if (m) {
    const [r, g, b, a = 1] = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return [r, g, b, a];
  }
  return [0, 0, 0, 1];
}

/**
 * A width × height (device px) pixel buffer that markers are composited into.
 * @returns {{width: number, height: number, clear(): void,
 *   pass(mask, indices: ArrayLike<number>, xs: Float32Array, ys: Float32Array, rgba: number[]): void,
 *   image(ctx: CanvasRenderingContext2D): ImageData}}
 *   xs, ys: each point's position in device px; rgba: the batch's colour and alpha (as
 *   globalAlpha times the colour's own)
 */
export function createRaster(width, height) {
  const size = width * height;
  const color = new Float32Array(4 * size);   // premultiplied, r g b in 0..255, a in 0..1
  const cover = new Float32Array(size);       // the current pass's coverage
  const touched = new Int32Array(size);       // pixels the current pass covers, once each
  let image = null;
  const offsets = new WeakMap(); // mask -> its pixels as offsets in this buffer

  function offsetsOf(m) {
    if (!offsets.has(m)) offsets.set(m, Int32Array.from(m.dx, (dx, k) => m.dy[k] * width + dx));
    return offsets.get(m);
  }

  function pass(shape, indices, xs, ys, [r, g, b, alpha]) {
    if (!shape || alpha <= 0) return;
    const { phases, reach, masks } = shape;
    let n = 0;
    for (let j = 0; j < indices.length; j++) {
      const i = indices[j], X = xs[i], Y = ys[i];
      if (!(X > -reach - 1 && Y > -reach - 1 && X < width + reach && Y < height + reach)) continue; // NaN too
      const ix = Math.floor(X), iy = Math.floor(Y);
      const m = masks[Math.min(phases - 1, Math.floor((Y - iy) * phases)) * phases
        + Math.min(phases - 1, Math.floor((X - ix) * phases))];
      const cov = m.cov;
      if (ix >= reach && iy >= reach && ix + reach < width && iy + reach < height) {
        const off = offsetsOf(m), base = iy * width + ix;
        for (let k = 0; k < cov.length; k++) {
          const o = base + off[k], c = cov[k], was = cover[o];
          if (was === 0) touched[n++] = o;
          if (c > was) cover[o] = c;
        }
        continue;
      }
      const { dx, dy } = m; // near an edge: clip pixel by pixel
      for (let k = 0; k < cov.length; k++) {
        const x = ix + dx[k], y = iy + dy[k];
        if (x < 0 || y < 0 || x >= width || y >= height) continue;
        const o = y * width + x, c = cov[k], was = cover[o];
        if (was === 0) touched[n++] = o;
        if (c > was) cover[o] = c;
      }
    }
    for (let t = 0; t < n; t++) {
      const o = touched[t], a = alpha * cover[o], keep = 1 - a, q = 4 * o;
      cover[o] = 0;
      color[q] = r * a + color[q] * keep;
      color[q + 1] = g * a + color[q + 1] * keep;
      color[q + 2] = b * a + color[q + 2] * keep;
      color[q + 3] = a + color[q + 3] * keep;
    }
  }

  return {
    width, height, pass,
    clear() { color.fill(0); },
    /** The buffer as an ImageData of `ctx` (straight alpha, as putImageData wants it). */
    image(ctx) {
      image ||= ctx.createImageData(width, height);
      const out = image.data;
      for (let o = 0, q = 0; o < size; o++, q += 4) {
        const a = color[q + 3];
        if (a <= 0) { out[q] = out[q + 1] = out[q + 2] = out[q + 3] = 0; continue; }
        out[q] = color[q] / a;
        out[q + 1] = color[q + 1] / a;
        out[q + 2] = color[q + 2] / a;
        out[q + 3] = 255 * a;
      }
      return image;
    },
  };
}
