// The reference Comparator's visual language (constants/colors.ts there).

export const EMERALD = "#059669"; // the reference's #10B981 is 2.5:1 on white; this is 3.8:1
export const EMERALD_LIGHT = "#C8EBDA";
export const PURPLE = "#A855F7";
export const PURPLE_LIGHT = "#E6D0FD";
export const RETRAIN_GRAY = "#6a6a6a";
export const UNLEARNED_ORANGE = "#FF8C00";
export const ORIGINAL_BADGE = "#F3F4F6";
export const ATTACK_RED = "#EF4444";
export const FPR_BLUE = "#3B82F6";
export const FNR_GREEN = "#22C55E";

/** The reference's class palette (d3.schemeTableau10); the theme palettes below keep its hues. */
export const TABLEAU10 = ["#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F",
  "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F", "#BAB0AC"];

/**
 * Class colours per theme, in Tableau10's hue order so a class keeps its identity across
 * themes. Lightness is moved only as far as contrast needs: every colour reaches 3:1 against
 * its theme's plot background (WCAG contrast; on the dark one even as painted, at the points'
 * 0.6 alpha), and no two classes sit closer than Tableau10's own closest pair (OKLab).
 * js/__tests__/colors.test.js checks all three.
 */
export const CLASS_COLORS = {
  light: ["#4E79A7", "#D5710F", "#C9302C", "#3F9A92", "#4E9A3F",
    "#A88A00", "#8E5A87", "#D4607F", "#7F5A45", "#8A8684"],
  dark: ["#7AA7DB", "#F28E2B", "#FF7A72", "#6FC2B8", "#72B35A",
    "#EDC948", "#C692C6", "#FFA3B0", "#C6987A", "#CFCFCF"],
};

/**
 * Colour of class `c` on a theme: the theme's palette, then golden-angle hues at one OKLab
 * lightness past ten classes (equal lightness gives every hue the same contrast).
 * @param {number} c
 * @param {"light"|"dark"} [theme]
 */
export function classColor(c, theme = "light") {
  const colors = CLASS_COLORS[theme === "dark" ? "dark" : "light"];
  if (c < colors.length) return colors[c];
  return oklchHex(theme === "dark" ? 0.76 : 0.6, 0.13, (c * 137.508) % 360);
}

/** sRGB hex of an OKLCH colour (hue in degrees), chroma reduced until it fits the gamut. */
function oklchHex(l, chroma, hue) {
  const h = (hue * Math.PI) / 180;
  for (let c = chroma; ; c = Math.max(0, c - 0.005)) {
    const a = c * Math.cos(h), b = c * Math.sin(h);
    const [l_, m_, s_] = [l + 0.3963377774 * a + 0.2158037573 * b, l - 0.1055613458 * a - 0.0638541728 * b,
      l - 0.0894841775 * a - 1.291485548 * b].map((v) => v ** 3);
    const rgb = [4.0767416621 * l_ - 3.3077115913 * m_ + 0.2309699292 * s_,
      -1.2684380046 * l_ + 2.6097574011 * m_ - 0.3413193965 * s_,
      -0.0041960863 * l_ - 0.7034186147 * m_ + 1.707614701 * s_];
    if (c > 0 && rgb.some((v) => v < 0 || v > 1)) continue;
    return `#${rgb.map((v) => {
      const x = Math.min(1, Math.max(0, v));
      const srgb = x <= 0.0031308 ? 12.92 * x : 1.055 * x ** (1 / 2.4) - 0.055;
      return Math.round(255 * srgb).toString(16).padStart(2, "0");
    }).join("")}`;
  }
}

/** Colour of model side "A" or "B". */
export function sideColor(side) {
  return side === "A" ? EMERALD : PURPLE;
}

/** Badge colour of a run type. */
export function typeColor(type) {
  return { Original: ORIGINAL_BADGE, Retrain: RETRAIN_GRAY, Unlearned: UNLEARNED_ORANGE, Uploaded: "#0EA5E9" }[type] || "#999";
}

/** Theme-dependent drawing colours for canvases (CSS cannot recolour canvas pixels). */
export function palette(theme) {
  return theme === "dark"
    ? { fg: "#e5e7eb", muted: "#9ca3af", grid: "#374151", bg: "#111827", stroke: "#f9fafb" }
    : { fg: "#111827", muted: "#6b7280", grid: "#e5e7eb", bg: "#ffffff", stroke: "#000000" };
}
