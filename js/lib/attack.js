// The privacy attack of the Attack Simulation view, as pure functions.
// Python (mucomp_widget/evaluation/privacy.py) computed every threshold curve; these functions
// pick thresholds on those curves (strategies) and classify the per-sample values exactly as
// Python does, so the dots, thumbnails and scores on screen agree with the table's PS.

/** Metric ranges of the reference grid (Python's ENTROPY_RANGE / CONFIDENCE_RANGE). */
export const METRIC_RANGE = { entropy: [0, 2.5], confidence: [-2.5, 10] };
/** Bin height of the butterfly plot, also the reference grid's step. */
export const BIN_STEP = { entropy: 0.05, confidence: 0.25 };
/** Number of thresholds of the reference grid (Python's N_THRESHOLDS). */
export const N_REFERENCE = 51;
export const METRICS = ["entropy", "confidence"];
export const DIRECTIONS = ["above_unlearn", "above_retrain"];

/**
 * @typedef {import("./types.js").Curve} Curve
 * @typedef {Curve & {direction: string[]}} MergedCurve   per threshold, the direction that won
 * @typedef {{index: number, threshold: number, direction: string}} Choice   a threshold attack
 */

/** The custom threshold when none is set: the middle of the metric's range (1.25 / 3.75). */
export function defaultThreshold(metric) {
  const [lo, hi] = METRIC_RANGE[metric];
  return (lo + hi) / 2;
}

/** A grid threshold as a clean number for the store and Python: float32 noise dropped. */
export function tidy(t) {
  return Number(Number(t).toPrecision(7));
}

/** Id of the Retrain model in the table rows, or null. */
export function retrainIdOf(runs) {
  return (runs || []).find((r) => r.type === "Retrain")?.id ?? null;
}

/**
 * At each threshold, the stronger of the two directions (ties go to above_unlearn, as in
 * Python's worst case) with its FPR and FNR.
 * @param {Object<string, {above_unlearn: Curve, above_retrain: Curve}>} curves
 * @param {"entropy"|"confidence"} metric
 * @returns {MergedCurve}
 */
export function mergedCurve(curves, metric) {
  const up = curves[metric].above_unlearn, down = curves[metric].above_retrain;
  const n = up.threshold.length;
  const out = {
    threshold: Float64Array.from(up.threshold), attack_score: new Float64Array(n),
    fpr: new Float64Array(n), fnr: new Float64Array(n), direction: new Array(n),
  };
  for (let i = 0; i < n; i++) {
    const best = down.attack_score[i] > up.attack_score[i] ? down : up;
    out.attack_score[i] = best.attack_score[i];
    out.fpr[i] = best.fpr[i];
    out.fnr[i] = best.fnr[i];
    out.direction[i] = best === up ? "above_unlearn" : "above_retrain";
  }
  return out;
}

/** Index of the grid threshold nearest to `t` (thresholds ascending, as Python sends them). */
export function nearestIndex(thresholds, t) {
  let lo = 0, hi = thresholds.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (thresholds[mid] <= t) lo = mid; else hi = mid;
  }
  return Math.abs(thresholds[hi] - t) < Math.abs(t - thresholds[lo]) ? hi : lo;
}

/**
 * The curve's row at the grid threshold nearest to `threshold` (snapping).
 * @param {Curve|MergedCurve} curve
 * @returns {{index: number, threshold: number, attack_score: number, fpr: number, fnr: number, direction?: string}}
 */
export function scoreAt(curve, threshold) {
  const index = nearestIndex(curve.threshold, threshold);
  return {
    index, threshold: curve.threshold[index], attack_score: curve.attack_score[index],
    fpr: curve.fpr[index], fnr: curve.fnr[index], direction: curve.direction?.[index],
  };
}

/**
 * Max Attack Score: the argmax of the merged curve (lowest threshold on ties).
 * @param {MergedCurve} merged
 * @returns {Choice & {attack_score: number}}
 */
export function maxAttack(merged) {
  let best = 0;
  for (let i = 1; i < merged.attack_score.length; i++) {
    if (merged.attack_score[i] > merged.attack_score[best]) best = i;
  }
  return { index: best, threshold: merged.threshold[best], direction: merged.direction[best],
    attack_score: merged.attack_score[best] };
}

/** numpy's rint: round half to even. */
function rint(x) {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Per-sample values as Python compares them: on the reference grid rounded to 2 decimals
 * (np.round) and clipped into the metric's range; otherwise unchanged.
 * @param {ArrayLike<number>} values
 * @param {"entropy"|"confidence"} metric
 * @param {string} grid  meta.grid
 * @returns {Float64Array}
 */
export function prepareValues(values, metric, grid) {
  if (grid !== "reference") return Float64Array.from(values);
  const [lo, hi] = METRIC_RANGE[metric];
  return Float64Array.from(values, (v) => Math.min(hi, Math.max(lo, rint(v * 100) / 100)));
}

/**
 * The curve's thresholds in double precision. The reference grid is rebuilt as numpy's
 * linspace (Python compares against these doubles, not the float32 copies it sends).
 * @param {Curve|MergedCurve} curve
 * @param {"entropy"|"confidence"} metric
 * @param {string} grid  meta.grid
 * @returns {Float64Array}
 */
export function gridThresholds(curve, metric, grid) {
  const n = curve.threshold.length;
  if (grid !== "reference" || n !== N_REFERENCE) return Float64Array.from(curve.threshold);
  const [lo, hi] = METRIC_RANGE[metric];
  const step = (hi - lo) / (n - 1);
  return Float64Array.from({ length: n }, (_, i) => (i === n - 1 ? hi : i * step + lo));
}

/** True when `direction` at `threshold` predicts "comes from the unlearned model". */
export function predictsUnlearned(value, threshold, direction) {
  return direction === "above_unlearn" ? value >= threshold : value < threshold;
}

/** Number of values >= t in an ascending array. */
function countAtLeast(sorted, t) {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < t) lo = mid + 1; else hi = mid;
  }
  return sorted.length - lo;
}

/**
 * Max Success Rate: the threshold and direction that classify the most samples correctly
 * (#Retrain samples predicted Retrain + #unlearned predicted unlearned). Both directions
 * are searched, so the answer does not depend on the current threshold's direction.
 * Ties: lowest threshold, above_unlearn first.
 * @param {ArrayLike<number>} unlearnedValues  prepared (prepareValues)
 * @param {ArrayLike<number>} retrainValues    prepared, same samples
 * @param {ArrayLike<number>} thresholds       gridThresholds
 * @returns {Choice & {correct: number, total: number}}
 */
export function maxSuccess(unlearnedValues, retrainValues, thresholds) {
  const u = Float64Array.from(unlearnedValues).sort();
  const r = Float64Array.from(retrainValues).sort();
  let best = { index: 0, threshold: thresholds[0], direction: "above_unlearn", correct: -1 };
  for (let i = 0; i < thresholds.length; i++) {
    const uAbove = countAtLeast(u, thresholds[i]), rAbove = countAtLeast(r, thresholds[i]);
    const byDirection = {
      above_unlearn: uAbove + (r.length - rAbove),
      above_retrain: rAbove + (u.length - uAbove),
    };
    for (const direction of DIRECTIONS) {
      if (byDirection[direction] > best.correct) {
        best = { index: i, threshold: thresholds[i], direction, correct: byDirection[direction] };
      }
    }
  }
  return { ...best, total: u.length + r.length };
}

function sameGrid(a, b) {
  return a.length === b.length && a.every((t, i) => Math.abs(t - b[i]) < 1e-9);
}

/**
 * Common Threshold: the one threshold maximising A's plus B's (merged) attack scores.
 * Grids that differ (an "exact" grid per model) are compared on the union of their
 * thresholds, each curve snapping to its nearest row. Ties: lowest threshold.
 * @param {MergedCurve} curveA
 * @param {MergedCurve} curveB
 * @returns {{threshold: number, total: number}}
 */
export function commonThreshold(curveA, curveB) {
  const candidates = sameGrid(curveA.threshold, curveB.threshold)
    ? Array.from(curveA.threshold)
    : [...new Set([...curveA.threshold, ...curveB.threshold])].sort((x, y) => x - y);
  let best = { threshold: candidates[0], total: -Infinity };
  for (const t of candidates) {
    const total = scoreAt(curveA, t).attack_score + scoreAt(curveB, t).attack_score;
    if (total > best.total) best = { threshold: t, total };
  }
  return best;
}

/**
 * The strongest attack over both metrics, both directions and every threshold: the row
 * behind the table's PS. Ties: entropy first, above_unlearn first, lowest threshold (Python's).
 * @param {Object<string, {above_unlearn: Curve, above_retrain: Curve}>} curves
 * @returns {{metric: string, direction: string, index: number, threshold: number, attack_score: number, fpr: number, fnr: number}}
 */
export function worstCase(curves) {
  let best = null;
  for (const metric of METRICS) {
    for (const direction of DIRECTIONS) {
      const c = curves[metric][direction];
      for (let i = 0; i < c.attack_score.length; i++) {
        if (best === null || c.attack_score[i] > best.attack_score) {
          best = { metric, direction, index: i, threshold: c.threshold[i], attack_score: c.attack_score[i],
            fpr: c.fpr[i], fnr: c.fnr[i] };
        }
      }
    }
  }
  return best;
}

/**
 * Which copies the attack (threshold, direction) classifies correctly.
 * @param {ArrayLike<number>} unlearnedValues  prepared
 * @param {ArrayLike<number>} retrainValues    prepared
 * @returns {{unlearned: Uint8Array, retrain: Uint8Array, correct: number}}  1 = correct
 */
export function classify(unlearnedValues, retrainValues, threshold, direction) {
  const unlearned = Uint8Array.from(unlearnedValues, (v) => (predictsUnlearned(v, threshold, direction) ? 1 : 0));
  const retrain = Uint8Array.from(retrainValues, (v) => (predictsUnlearned(v, threshold, direction) ? 0 : 1));
  let correct = 0;
  for (let j = 0; j < unlearned.length; j++) correct += unlearned[j] + retrain[j];
  return { unlearned, retrain, correct };
}

/** Bin of a value on the butterfly's y axis; values outside the range go to the end bins. */
export function binOf(value, metric) {
  const [lo, hi] = METRIC_RANGE[metric];
  const n = Math.round((hi - lo) / BIN_STEP[metric]);
  return Math.min(n - 1, Math.max(0, Math.floor((value - lo) / BIN_STEP[metric] + 1e-6)));
}

/**
 * Stacks of the butterfly plot: rows[bin] = sample indices, lowest value nearest the axis.
 * @param {ArrayLike<number>} values
 * @param {"entropy"|"confidence"} metric
 * @returns {{rows: number[][], slot: Int32Array, bin: Int32Array, maxCount: number}}
 */
export function stackBins(values, metric) {
  const [lo, hi] = METRIC_RANGE[metric];
  const rows = Array.from({ length: Math.round((hi - lo) / BIN_STEP[metric]) }, () => []);
  const bin = new Int32Array(values.length), slot = new Int32Array(values.length);
  const order = Array.from(values, (_, j) => j).sort((a, b) => values[a] - values[b] || a - b);
  for (const j of order) {
    bin[j] = binOf(values[j], metric);
    slot[j] = rows[bin[j]].length;
    rows[bin[j]].push(j);
  }
  return { rows, slot, bin, maxCount: Math.max(0, ...rows.map((r) => r.length)) };
}
