import { describe, expect, it } from "vitest";
import {
  binOf, classify, commonThreshold, defaultThreshold, gridThresholds, maxAttack, maxSuccess, mergedCurve,
  nearestIndex, predictsUnlearned, prepareValues, retrainIdOf, scoreAt, stackBins, tidy, worstCase,
} from "../lib/attack.js";

/** A curve as Python sends it (float32 columns). */
function curve(threshold, attack, fpr = attack.map(() => 0), fnr = attack.map(() => 0)) {
  return {
    threshold: Float32Array.from(threshold), attack_score: Float32Array.from(attack),
    fpr: Float32Array.from(fpr), fnr: Float32Array.from(fnr),
  };
}

describe("mergedCurve", () => {
  const curves = {
    entropy: {
      above_unlearn: curve([0, 1, 2], [0.1, 0.5, 0.25], [0.9, 0.2, 0.1], [0.0, 0.3, 0.6]),
      above_retrain: curve([0, 1, 2], [0.3, 0.5, 0.125], [0.5, 0.7, 0.8], [0.25, 0.1, 0.2]),
    },
  };
  it("takes the stronger direction at each threshold, above_unlearn on ties", () => {
    const m = mergedCurve(curves, "entropy");
    expect(m.direction).toEqual(["above_retrain", "above_unlearn", "above_unlearn"]);
    expect(Array.from(m.attack_score)).toEqual([0.3, 0.5, 0.25].map((v) => Math.fround(v)));
    expect(m.fpr[0]).toBeCloseTo(0.5);
    expect(m.fnr[0]).toBeCloseTo(0.25);
    expect(m.fpr[1]).toBeCloseTo(0.2);
    expect(m.fnr[2]).toBeCloseTo(0.6);
  });
  it("maxAttack is the argmax of the merged curve, lowest threshold on ties", () => {
    const m = mergedCurve(curves, "entropy");
    expect(maxAttack(m)).toMatchObject({ index: 1, threshold: 1, direction: "above_unlearn" });
    const flat = mergedCurve({ entropy: { above_unlearn: curve([0, 1], [0.4, 0.4]), above_retrain: curve([0, 1], [0, 0]) } }, "entropy");
    expect(maxAttack(flat).index).toBe(0);
  });
});

describe("scoreAt", () => {
  const c = curve([0, 0.05, 0.1, 0.15], [0.1, 0.2, 0.3, 0.4]);
  it("snaps to the nearest grid threshold", () => {
    expect(scoreAt(c, 0.07)).toMatchObject({ index: 1 });
    expect(scoreAt(c, 0.08).index).toBe(2);
    expect(scoreAt(c, 0.08).attack_score).toBeCloseTo(0.3);
    expect(scoreAt(c, -3).index).toBe(0);
    expect(scoreAt(c, 9).index).toBe(3);
    expect(nearestIndex(Float32Array.from([1.25]), 7)).toBe(0);
  });
  it("carries the merged direction when there is one", () => {
    const m = mergedCurve({ entropy: { above_unlearn: c, above_retrain: curve([0, 0.05, 0.1, 0.15], [0.5, 0, 0, 0]) } }, "entropy");
    expect(scoreAt(m, 0.01)).toMatchObject({ index: 0, direction: "above_retrain" });
    expect(scoreAt(c, 0.01).direction).toBeUndefined();
  });
  it("defaults to the middle of the metric's range and tidies float32 noise", () => {
    expect(defaultThreshold("entropy")).toBe(1.25);
    expect(defaultThreshold("confidence")).toBe(3.75);
    expect(tidy(Math.fround(0.35))).toBe(0.35);
    expect(tidy(0.35000000000000003)).toBe(0.35);
  });
});

describe("values and thresholds as Python compares them", () => {
  it("rounds to 2 decimals half-to-even (np.round) and clips on the reference grid", () => {
    expect(Array.from(prepareValues([0.125, 0.135, 0.145, 2.675, -0.125], "confidence", "reference")))
      .toEqual([0.12, 0.14, 0.14, 2.68, -0.12]);
    expect(Array.from(prepareValues([-3, 12, 2.6], "entropy", "reference"))).toEqual([0, 2.5, 2.5]);
    expect(Array.from(prepareValues([-3, 12.3456], "confidence", "exact"))).toEqual([-3, 12.3456]);
  });
  it("rebuilds numpy's linspace doubles, not the float32 copies", () => {
    const c = curve(Array.from({ length: 51 }, (_, i) => i * 0.05), new Array(51).fill(0));
    const t = gridThresholds(c, "entropy", "reference");
    expect(t[7]).toBe(0.35000000000000003); // np.linspace(0, 2.5, 51)[7]
    expect(t[50]).toBe(2.5);
    expect(gridThresholds(c, "entropy", "exact")[7]).toBe(Math.fround(0.35));
  });
  it("reproduces Python's rates where float32 thresholds would not", () => {
    // attack_curves([0.35, 0.36, 1, 2], [0.1, 0.35, 0.2, 0.3], "entropy") at index 7 gives
    // FPR 0 and TPR 0.75: the rounded 0.35 is below linspace's 0.35000000000000003.
    const c = curve(Array.from({ length: 51 }, (_, i) => i * 0.05), new Array(51).fill(0));
    const u = prepareValues([0.35, 0.36, 1, 2], "entropy", "reference");
    const r = prepareValues([0.1, 0.35, 0.2, 0.3], "entropy", "reference");
    const t = gridThresholds(c, "entropy", "reference")[7];
    const cls = classify(u, r, t, "above_unlearn");
    expect(Array.from(cls.unlearned)).toEqual([0, 1, 1, 1]); // TPR 0.75
    expect(Array.from(cls.retrain)).toEqual([1, 1, 1, 1]); // FPR 0
    expect(cls.correct).toBe(7);
    expect(predictsUnlearned(0.35, Math.fround(0.35), "above_unlearn")).toBe(true); // the float32 trap
  });
});

describe("agreement with Python on the reference grid", () => {
  // Fixture from mucomp_widget.evaluation.privacy.attack_curves(u, r, "entropy"):
  // #unlearned >= t (TPR x 16) and #retrain >= t (FPR x 16) of above_unlearn, all 51 thresholds.
  const u = [2.06, 0.21, 0.45, 0.6, 0.45, 2.0, 2.19, 1.46, 0.1, 0.2, 0.81, 1.11, 1.55, 1.21, 0.64, 0.39];
  const r = [2.0, 0.69, 0.81, 1.66, 1.65, 1.75, 2.2, 0.69, 2.35, 0.0, 0.15, 2.46, 2.41, 0.75, 0.35, 0.8];
  const tp = [16, 16, 16, 15, 15, 13, 13, 13, 12, 12, 10, 10, 9, 8, 8, 8, 8, 7, 7, 7, 7, 7, 7, 6, 6, 5, 5,
    5, 5, 5, 4, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0];
  const fp = [16, 15, 15, 14, 14, 14, 14, 13, 13, 13, 13, 13, 13, 13, 11, 11, 10, 8, 8, 8, 8, 8, 8, 8, 8, 8,
    8, 8, 8, 8, 8, 8, 8, 7, 6, 6, 5, 5, 5, 5, 5, 4, 4, 4, 4, 3, 3, 3, 2, 1, 0];
  it("classifies every sample as Python does at every threshold", () => {
    const c = curve(Array.from({ length: 51 }, (_, i) => 0.05 * i), new Array(51).fill(0));
    const thresholds = gridThresholds(c, "entropy", "reference");
    const pu = prepareValues(Float32Array.from(u), "entropy", "reference"); // as dequantized
    const pr = prepareValues(Float32Array.from(r), "entropy", "reference");
    thresholds.forEach((t, i) => {
      const cls = classify(pu, pr, t, "above_unlearn");
      expect(cls.unlearned.reduce((a, b) => a + b, 0)).toBe(tp[i]);
      expect(16 - cls.retrain.reduce((a, b) => a + b, 0)).toBe(fp[i]);
    });
    const best = maxSuccess(pu, pr, thresholds);
    const accuracy = tp.map((t, i) => Math.max(t + 16 - fp[i], fp[i] + 16 - t));
    expect(best.correct).toBe(Math.max(...accuracy));
    expect(best.index).toBe(accuracy.indexOf(best.correct));
  });
});

describe("maxSuccess", () => {
  it("finds the best threshold in the other direction (no circularity)", () => {
    // Unlearned values low, Retrain's high: only "above => Retrain" separates them.
    const best = maxSuccess([0.1, 0.2, 0.3], [0.8, 0.9, 1.0], [0, 0.5, 1]);
    expect(best).toEqual({ index: 1, threshold: 0.5, direction: "above_retrain", correct: 6, total: 6 });
  });
  it("counts both copies on a mixed example", () => {
    // t=0.5: above_unlearn 2 + 2 = 4, above_retrain 1 + 1 = 2; t=0.82: 3 / 3; t=0.95: 3 / 3.
    const best = maxSuccess([0.9, 0.8, 0.2], [0.1, 0.3, 0.85], [0.5, 0.82, 0.95]);
    expect(best).toMatchObject({ index: 0, threshold: 0.5, direction: "above_unlearn", correct: 4, total: 6 });
  });
  it("breaks ties by the lowest threshold, above_unlearn first", () => {
    const best = maxSuccess([1, 1], [0, 0], [0.25, 0.5, 0.75]);
    expect(best).toMatchObject({ index: 0, direction: "above_unlearn", correct: 4 });
  });
});

describe("commonThreshold", () => {
  it("maximises the sum of A's and B's attack scores", () => {
    const a = curve([0, 1, 2], [0.1, 0.6, 0.2]), b = curve([0, 1, 2], [0.5, 0.1, 0.45]);
    const res = commonThreshold(a, b);
    expect(res.threshold).toBe(1);
    expect(res.total).toBeCloseTo(0.7);
  });
  it("compares different grids on the union of their thresholds", () => {
    const a = curve([0, 1], [0.1, 0.3]), b = curve([0.4, 1.5], [0.5, 0.0]);
    // candidates 0: .1+.5, 0.4: .1+.5, 1: .3+0 (b snaps to 1.5), 1.5: .3+0 -> 0 (first max)
    expect(commonThreshold(a, b).threshold).toBe(0);
    const c = curve([0.6, 1.5], [0.0, 0.9]);
    // 0: .1+0, 0.6: .3+0 (a snaps to 1), 1: .3+0 (c snaps to 0.6), 1.5: .3+.9
    expect(commonThreshold(a, c)).toMatchObject({ threshold: 1.5 });
  });
});

describe("worstCase", () => {
  const zero = (n) => new Array(n).fill(0);
  it("searches both metrics and both directions", () => {
    const curves = {
      entropy: { above_unlearn: curve([0, 1], [0.2, 0.1]), above_retrain: curve([0, 1], [0.3, 0.1]) },
      confidence: { above_unlearn: curve([-2.5, 0], zero(2)), above_retrain: curve([-2.5, 0], [0.1, 0.6], [0, 0.25], [0, 0.5]) },
    };
    expect(worstCase(curves)).toMatchObject({ metric: "confidence", direction: "above_retrain", index: 1, threshold: 0 });
    expect(worstCase(curves).fnr).toBeCloseTo(0.5);
  });
  it("breaks ties as Python does: entropy, above_unlearn, lowest threshold", () => {
    const curves = {
      entropy: { above_unlearn: curve([0, 1], [0.1, 0.5]), above_retrain: curve([0, 1], [0.5, 0.5]) },
      confidence: { above_unlearn: curve([-2.5, 0], [0.5, 0]), above_retrain: curve([-2.5, 0], zero(2)) },
    };
    expect(worstCase(curves)).toMatchObject({ metric: "entropy", direction: "above_unlearn", index: 1 });
  });
});

describe("butterfly stacks", () => {
  it("bins values (overflow in the end bins) and stacks them from the axis", () => {
    expect(binOf(0.15, "entropy")).toBe(3); // 0.15 / 0.05 = 2.9999999999999996
    expect(binOf(2.5, "entropy")).toBe(49);
    expect(binOf(12, "confidence")).toBe(49);
    expect(binOf(-9, "confidence")).toBe(0);
    const s = stackBins([0.07, 0.06, 1.0, 0.051], "entropy");
    expect(s.rows[1]).toEqual([3, 1, 0]);
    expect(s.rows[20]).toEqual([2]);
    expect(Array.from(s.slot)).toEqual([2, 1, 0, 0]);
    expect(s.maxCount).toBe(3);
  });
  it("finds the Retrain row", () => {
    expect(retrainIdOf([{ id: "o", type: "Original" }, { id: "r", type: "Retrain" }])).toBe("r");
    expect(retrainIdOf([])).toBeNull();
  });
});
