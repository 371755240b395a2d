// A PNG of what the widget shows, for Comparator.save_png: the DOM is cloned into an SVG
// <foreignObject> with the page's styles inlined, canvases replaced by their pixels, and
// the SVG drawn onto a canvas.

function inlineStyles(source, clone) {
  const cs = getComputedStyle(source);
  let text = "";
  for (let i = 0; i < cs.length; i++) text += `${cs[i]}:${cs.getPropertyValue(cs[i])};`;
  clone.setAttribute("style", text);
  const s = source.children, c = clone.children;
  for (let i = 0; i < s.length && i < c.length; i++) inlineStyles(s[i], c[i]);
}

/** @param {HTMLElement} root  @returns {Promise<Blob>} */
export async function snapshot(root, scale = (typeof window !== "undefined" && window.devicePixelRatio) || 1) {
  const rect = root.getBoundingClientRect();
  const width = Math.ceil(rect.width), height = Math.ceil(rect.height);
  if (!width || !height) throw new Error("the widget is not displayed, so there is nothing to capture");
  const clone = root.cloneNode(true);
  inlineStyles(root, clone);
  const srcCanvases = root.querySelectorAll("canvas");
  clone.querySelectorAll("canvas").forEach((cv, i) => {
    const img = document.createElement("img");
    img.src = srcCanvases[i].toDataURL();
    img.setAttribute("style", cv.getAttribute("style") || "");
    img.width = srcCanvases[i].clientWidth;
    img.height = srcCanvases[i].clientHeight;
    cv.replaceWith(img);
  });
  clone.setAttribute("xmlns", "http://www.w3.org/1999/xhtml");
  const xml = new XMLSerializer().serializeToString(clone);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<foreignObject width="100%" height="100%">${xml}</foreignObject></svg>`;
  const img = new Image();
  await new Promise((resolve, reject) => {
    img.onload = resolve;
    img.onerror = () => reject(new Error("the browser could not render the snapshot"));
    img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg);
  });
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = getComputedStyle(root).backgroundColor || "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.scale(scale, scale);
  ctx.drawImage(img, 0, 0);
  return await new Promise((resolve, reject) =>
    canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("PNG encoding failed"))), "image/png"));
}
