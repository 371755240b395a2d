import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CLASS_COLORS, classColor, EMERALD, palette, PURPLE, TABLEAU10 } from "../lib/colors.js";
import { ALPHA } from "../panels/embedding.js";

const widgetCss = readFileSync(`${__dirname}/../widget.css`, "utf8");
const embeddingCss = readFileSync(`${__dirname}/../panels/embedding.css`, "utf8");

// WCAG 2 contrast and OKLab distances, computed from the colours as the code defines them.

const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
const linear = (v) => ((v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);

/** WCAG relative luminance of an sRGB triple (0–255). */
function luminance(c) {
  const [r, g, b] = c.map(linear);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG contrast ratio of two colours (hex or sRGB triples), 1 to 21. */
function contrast(a, b) {
  const [la, lb] = [a, b].map((c) => luminance(typeof c === "string" ? rgb(c) : c));
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

/** `color` painted at `alpha` over `bg`, as a canvas blends it (in sRGB). */
const over = (color, alpha, bg) => rgb(color).map((v, i) => alpha * v + (1 - alpha) * rgb(bg)[i]);

function oklab(hex) {
  const [r, g, b] = rgb(hex).map(linear);
  const [l, m, s] = [0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b,
    0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b,
    0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b].map(Math.cbrt);
  return [0.2104542553 * l + 0.793617785 * m - 0.0040720468 * s,
    1.9779984951 * l - 2.428592205 * m + 0.4505937099 * s,
    0.0259040371 * l + 0.7827717662 * m - 0.808675766 * s];
}
const distance = (a, b) => Math.hypot(...oklab(a).map((v, i) => v - oklab(b)[i]));
const closestPair = (colors) => Math.min(...colors.flatMap((a, i) => colors.slice(i + 1).map((b) => distance(a, b))));

/** The plots' background per theme: `--mc-bg`'s fallback in widget.css (the canvases' wrapper is painted with it). */
function cssBackgrounds() {
  const bg = (selector) => {
    const block = widgetCss.slice(widgetCss.indexOf(`${selector} {`));
    return /--mc-bg:\s*var\([^,]+,\s*(#[0-9a-fA-F]{6})\)/.exec(block.slice(0, block.indexOf("}")))[1].toLowerCase();
  };
  return { light: bg(".mucomp"), dark: bg('.mucomp[data-theme="dark"]') };
}
const BACKGROUNDS = cssBackgrounds();
const THEMES = ["light", "dark"];
const MIN_CONTRAST = 3; // WCAG 2.1 for graphical objects

describe("class colours", () => {
  it("are drawn on the background the CSS paints behind the plots", () => {
    expect(embeddingCss).toMatch(/\.mucomp-emb-canvaswrap \{[^}]*background: var\(--mc-bg\)/);
    for (const theme of THEMES) expect(palette(theme).bg).toBe(BACKGROUNDS[theme]);
  });

  for (const theme of THEMES) {
    it(`reach ${MIN_CONTRAST}:1 against the ${theme} plot background, for any number of classes`, () => {
      const bg = BACKGROUNDS[theme];
      const ratios = Array.from({ length: 100 }, (_, c) => contrast(classColor(c, theme), bg));
      expect(Math.min(...ratios)).toBeGreaterThanOrEqual(MIN_CONTRAST);
    });
  }

  it(`stay at ${MIN_CONTRAST}:1 on the dark background as painted, translucent`, () => {
    // Translucent points blend into the background; on the dark one the classes reach the
    // threshold even so (on white that would take near-black colours).
    const bg = BACKGROUNDS.dark;
    for (let c = 0; c < 100; c++) {
      expect(contrast(over(classColor(c, "dark"), ALPHA.retain, bg), bg), `class ${c}`).toBeGreaterThanOrEqual(MIN_CONTRAST);
    }
  });

  it("keep Tableau10's hues in its order, and stay at least as far apart as Tableau10's closest pair", () => {
    const hue = (hex) => Math.atan2(oklab(hex)[2], oklab(hex)[1]);
    for (const theme of THEMES) {
      const colors = CLASS_COLORS[theme];
      expect(colors).toHaveLength(TABLEAU10.length);
      colors.forEach((color, c) => {
        const chroma = Math.hypot(...oklab(TABLEAU10[c]).slice(1));
        if (chroma < 0.03) return; // Tableau10's grey has no hue to keep
        const turn = Math.abs(hue(color) - hue(TABLEAU10[c]));
        expect(Math.min(turn, 2 * Math.PI - turn), `${theme} class ${c}`).toBeLessThan((15 * Math.PI) / 180);
      });
      expect(closestPair(colors), theme).toBeGreaterThanOrEqual(closestPair(TABLEAU10));
    }
  });

  it("differ past ten classes and default to the light theme", () => {
    const many = Array.from({ length: 40 }, (_, c) => classColor(c, "dark"));
    expect(new Set(many).size).toBe(40);
    expect(many.every((c) => /^#[0-9a-f]{6}$/i.test(c))).toBe(true);
    expect(classColor(4)).toBe(classColor(4, "light"));
  });
});

describe("model colours", () => {
  it(`keep Model A's emerald and Model B's purple at ${MIN_CONTRAST}:1 on both backgrounds, as widget.css uses them`, () => {
    for (const theme of THEMES) {
      expect(contrast(EMERALD, BACKGROUNDS[theme]), `emerald, ${theme}`).toBeGreaterThanOrEqual(MIN_CONTRAST);
      expect(contrast(PURPLE, BACKGROUNDS[theme]), `purple, ${theme}`).toBeGreaterThanOrEqual(MIN_CONTRAST);
    }
    expect(widgetCss).toContain(`--mc-emerald: ${EMERALD};`);
    expect(widgetCss).toContain(`--mc-purple: ${PURPLE};`);
  });
});
