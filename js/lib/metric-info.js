// Metric metadata as Python declares it once (evaluation/summary.py, sent as meta.metrics):
// labels, directions and best values for every panel that shows a metric.

/**
 * @typedef {import("./types.js").Meta["metrics"][number]} MetricInfo
 */

/** The declarations in table order ([] until Python sent them). */
export const metricsOf = (meta) => meta?.metrics || [];

/** Display name with its unit: "RTE (s)". */
export const metricLabel = (m) => (m.unit ? `${m.label} (${m.unit})` : m.label);

/** Which value is best, as a sentence. */
export function directionText(m) {
  switch (m.direction) {
    case "higher": return "higher is better";
    case "lower": return "lower is better";
    case "retrain": return "closest to Retrain is best";
    case "target": return `closest to ${m.target} is best`;
    default: return "";
  }
}

/** Which value is best, as a header mark: long "↑ better" / "≈ Retrain", short "↑" / "≈R". */
export function directionHint(m, short = false) {
  switch (m.direction) {
    case "higher": return short ? "↑" : "↑ better";
    case "lower": return short ? "↓" : "↓ better";
    case "retrain": return short ? "≈R" : "≈ Retrain";
    case "target": return short ? `≈${m.target}` : `≈ ${m.target}`;
    default: return "";
  }
}

/** Hover text of a metric: name, meaning and direction. */
export const metricTitle = (m) => `${metricLabel(m)}: ${m.description}; ${directionText(m)}`;

/**
 * Distance of `v` from the best value (smaller is better), or null when it cannot be told:
 * no value, or no Retrain value for a "retrain" metric.
 * @param {MetricInfo} m
 * @param {number|null} v
 * @param {number|null} [retrainValue]
 */
function distanceFromBest(m, v, retrainValue) {
  if (!Number.isFinite(v)) return null;
  switch (m.direction) {
    case "higher": return -v;
    case "lower": return v;
    case "retrain": return Number.isFinite(retrainValue) ? Math.abs(v - retrainValue) : null;
    case "target": return Math.abs(v - m.target);
    default: return null;
  }
}

/**
 * Ids of the rows holding the best value of `m` (ties share it). Empty when fewer than two
 * rows can be compared or all of them tie: then no value stands out.
 * @param {MetricInfo} m
 * @param {{id: string}[]} rows
 * @param {(row: object) => number|null} value
 * @param {number|null} [retrainValue]
 * @returns {Set<string>}
 */
export function bestIds(m, rows, value, retrainValue) {
  const scored = rows.map((r) => [r.id, distanceFromBest(m, value(r), retrainValue)]).filter(([, d]) => d != null);
  if (scored.length < 2) return new Set();
  const best = Math.min(...scored.map(([, d]) => d));
  const ids = scored.filter(([, d]) => d === best).map(([id]) => id);
  return new Set(ids.length === scored.length ? [] : ids);
}
