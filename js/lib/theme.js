// Light or dark, following the notebook host. Detection order (first that answers wins):
// the `theme` trait, JupyterLab's body[data-jp-theme-light], VS Code's body class,
// Colab's html[theme], the luminance of the computed background, prefers-color-scheme.

function luminance(color) {
  const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)(?:,\s*([\d.]+))?/.exec(color || "");
  if (!m || (m[4] !== undefined && Number(m[4]) === 0)) return null;
  return 0.299 * Number(m[1]) + 0.587 * Number(m[2]) + 0.114 * Number(m[3]);
}

/**
 * @param {"auto"|"light"|"dark"} setting
 * @param {HTMLElement} [el] element whose background to inspect
 * @returns {"light"|"dark"}
 */
export function detectTheme(setting, el) {
  if (setting === "light" || setting === "dark") return setting;
  const body = document.body;
  const jp = body?.getAttribute("data-jp-theme-light");
  if (jp === "true") return "light";
  if (jp === "false") return "dark";
  if (body?.classList.contains("vscode-dark") || body?.classList.contains("vscode-high-contrast")) return "dark";
  if (body?.classList.contains("vscode-light")) return "light";
  const colab = document.documentElement.getAttribute("theme");
  if (colab === "dark" || colab === "light") return colab;
  for (let node = el?.parentElement; node; node = node.parentElement) {
    const lum = luminance(getComputedStyle(node).backgroundColor);
    if (lum !== null) return lum < 128 ? "dark" : "light";
  }
  if (typeof matchMedia === "function" && matchMedia("(prefers-color-scheme: dark)").matches) return "dark";
  return "light";
}

/** Call `onChange()` whenever the host's theme may have changed; returns a cleanup. */
export function watchTheme(onChange) {
  const obs = new MutationObserver(() => onChange());
  const opts = { attributes: true, attributeFilter: ["class", "style", "theme", "data-jp-theme-light", "data-jp-theme-name"] };
  if (document.body) obs.observe(document.body, opts);
  obs.observe(document.documentElement, opts);
  const mq = typeof matchMedia === "function" ? matchMedia("(prefers-color-scheme: dark)") : null;
  mq?.addEventListener?.("change", onChange);
  return () => {
    obs.disconnect();
    mq?.removeEventListener?.("change", onChange);
  };
}
