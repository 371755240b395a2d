// The reference Comparator's visual language (constants/colors.ts there).

export const EMERALD = "#10B981";
export const EMERALD_LIGHT = "#C8EBDA";
export const PURPLE = "#A855F7";
export const PURPLE_LIGHT = "#E6D0FD";
export const RETRAIN_GRAY = "#6a6a6a";
export const UNLEARNED_ORANGE = "#FF8C00";
export const ORIGINAL_BADGE = "#F3F4F6";
export const ATTACK_RED = "#EF4444";
export const FPR_BLUE = "#3B82F6";
export const FNR_GREEN = "#22C55E";

export const TABLEAU10 = ["#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F",
  "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F", "#BAB0AC"];

/** Colour of class `c` (Tableau10, then golden-angle hues past 10 classes). */
export function classColor(c) {
  if (c < TABLEAU10.length) return TABLEAU10[c];
  const hue = (c * 137.508) % 360;
  return `hsl(${hue.toFixed(0)}, 55%, 55%)`;
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
