// Thumbnails of the probe samples, from the one sprite sheet Python sends.

/**
 * @param {{image: DataView, mime: string, cols: number, h: number, w: number, n: number} | null} sprite
 */
export function createSprite(sprite) {
  if (!sprite) return { ready: Promise.resolve(false), draw() { return false; }, url() { return null; } };
  const bytes = sprite.image instanceof DataView
    ? new Uint8Array(sprite.image.buffer, sprite.image.byteOffset, sprite.image.byteLength)
    : sprite.image;
  const img = typeof Image !== "undefined" ? new Image() : null;
  let loaded = false;
  const ready = new Promise((resolve) => {
    if (!img || typeof URL === "undefined" || !URL.createObjectURL) return resolve(false);
    img.onload = () => { loaded = true; resolve(true); };
    img.onerror = () => resolve(false);
    img.src = URL.createObjectURL(new Blob([bytes], { type: sprite.mime }));
  });
  const cache = new Map();
  return {
    ready,
    /** Draw probe sample `i` into a 2-D context at (x, y) with side `size`; false if not ready. */
    draw(ctx, i, x, y, size) {
      if (!loaded || i < 0 || i >= sprite.n) return false;
      const r = Math.floor(i / sprite.cols), c = i % sprite.cols;
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(img, c * sprite.w, r * sprite.h, sprite.w, sprite.h, x, y, size, size);
      return true;
    },
    /** A data URL of probe sample `i` at `size` pixels (for <img>), or null. */
    url(i, size) {
      if (!loaded || i < 0 || i >= sprite.n) return null;
      const key = `${i}:${size}`;
      if (!cache.has(key)) {
        const cv = document.createElement("canvas");
        cv.width = cv.height = size;
        const ctx = cv.getContext("2d");
        if (!ctx) return null;
        this.draw(ctx, i, 0, 0, size);
        cache.set(key, cv.toDataURL());
      }
      return cache.get(key);
    },
  };
}
