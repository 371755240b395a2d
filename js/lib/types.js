// The contract between Python (mucomp_widget/_payload.py, widget.py) and the views.
// Every array below is a typed array with a `shape` property once decoded (lib/codecs.js).
// This file holds only JSDoc types.

/**
 * @typedef {Object} Meta                     (trait `_meta`, JSON)
 * @property {string} dataset
 * @property {string[]} class_names
 * @property {number} num_classes
 * @property {number[]} forget_classes        empty for sample-wise (random) forgetting
 * @property {boolean} classwise
 * @property {string} forget                  e.g. "classes(3)"
 * @property {string} architecture
 * @property {{key: string, label: string, description: string, direction: "higher"|"lower"|"retrain"|"target",
 *   family: string, unit: string, target: number|null, interval: {key: string, kind: "ci"|"range"}|null,
 *   default: boolean}[]} metrics             results-table metric columns in table order, as declared
 *                                            in evaluation/summary.py (MetricInfo): "retrain" = closest
 *                                            to Retrain's value is best, "target" = closest to target;
 *                                            interval.key names the ModelData.ci entry; default: shown
 *                                            without asking
 * @property {{name: string, label: string, defaults: Object<string, number|boolean>}[]} methods
 * @property {string[]} blocks                layer names for CKA, in order
 * @property {string[]} cka_sets              "train_forget", "train_retain", "test_forget", "test_retain"
 * @property {number} n_probe
 * @property {number} n_forget
 * @property {string} grid                    "reference" (51 thresholds), "exact" or "custom"
 */

/**
 * @typedef {Object} Row                      (store `runs`, one per model, table order; from
 *                                            "runs" messages, see lib/runs.js)
 * @property {string} id                      "original", "retrain", "ft-1", ...
 * @property {"Original"|"Retrain"|"Unlearned"|"Uploaded"} type
 * @property {string|null} method
 * @property {string|null} base
 * @property {number|null} epochs
 * @property {number|null} lr
 * @property {number|null} batch_size
 * @property {number|null} seed
 * @property {number|null} UA                 and RA, TUA, TRA, PS, MIA, "MIA-Ent", "MIA-Loss",
 *                                            AUC, "U-AUC", AvgGap, RTE, RTE_ratio, peak_MB,
 *                                            images, and relearn_steps once audited
 *                                            (every column of meta.metrics; null = undefined)
 * @property {boolean} has_trace
 * @property {boolean} has_relearn            a relearning probe (ModelData.relearn) is held
 * @property {number|null} best_epoch
 * @property {Object<string, number|string|boolean|null>} hp  every hyperparameter of the run
 * @property {string|null} group              seed group (`study.unlearn(..., seeds=[...])`): runs of
 *                                            one method and settings under several seeds; null alone
 */

/**
 * @typedef {Object} Probe                    (trait `_probe`)
 * @property {Uint32Array} ids                training-sample ids of the embedded points (n)
 * @property {Uint8Array|Uint16Array} labels  true class of each point (n)
 * @property {Uint8Array} is_forget           1 if the point is in the forget set (n)
 * @property {Uint32Array} forget_ids         every forget training sample, attack order (nf)
 * @property {Uint8Array|Uint16Array} forget_labels
 * @property {Int32Array} forget_probe_pos    index of each forget sample among the probe
 *                                            points (for its thumbnail), -1 if not embedded
 */

/**
 * @typedef {{threshold: Float32Array, fpr: Float32Array, fnr: Float32Array, attack_score: Float32Array}} Curve
 * @typedef {{fpr: Float32Array, tpr: Float32Array, auc: number, tpr_at: Object<string, number|null>,
 *   tpr_at_reason: Object<string, string>, min_fpr: number}} Roc   tpr_at null (with its reason)
 *   where the target FPR is below min_fpr = 1/n non-members
 *
 * @typedef {{roc: Roc, accuracy: number, accuracy_ci: number[], accuracy_chance: number, auc_ci: number[],
 *   auc_chance: number[], p_value: number, threshold_fpr: number, leaks: number}} ULiraGame
 *   one model's U-LiRA game: forget samples under the model (positives) against the Retrain
 *   model (negatives); accuracy_chance: what two retrained models reach at the 95 % level
 *
 * @typedef {Object} ModelData                (store `models`: run id -> ModelData; from "runs"
 *                                            messages, one run at a time, see lib/runs.js)
 * @property {Float32Array} [coords]          (n, 2) layout of the probe points; absent until
 *                                            Python has computed it (show "computing layout")
 * @property {number|null} [disparity]        with coords: retained points' mean distance from
 *                                            their places in the Original's layout, share of
 *                                            its spread (0 for the Original; null: unmeasured)
 * @property {Uint8Array|Uint16Array} pred    predicted class of each probe point (n)
 * @property {Uint8Array|Uint16Array} top_classes  (n, 3) most likely classes, best first
 * @property {Uint8Array} top_probs           (n, 3) their softmax(z/2) probabilities x 255
 * @property {{train: Float32Array, test: Float32Array}} class_acc       (K)
 * @property {{train: Float32Array, test: Float32Array}} pred_matrix     (K, K) row = true class
 * @property {{train: Float32Array, test: Float32Array}} conf_matrix     (K, K) mean probability
 * @property {Object<string, Object<string, Float32Array>>} cka  cka[ref][set] per block
 *                                            (ref "original"/"retrain"); NaN = unavailable
 * @property {Object<string, number>} gaps    |metric - Retrain's| per metric
 * @property {Object<string, number[]>|null} trace  epoch -> UA, RA, TUA, TRA, PS, MIA, AvgGap
 * @property {{method: string, shadows: number, target: ULiraGame, original: ULiraGame,
 *   leak_ids: Uint32Array, leak_scores: Float32Array}} [ulira]   the run's latest U-LiRA audit
 *                                            (study.audit("ulira", ...)): its game against Retrain,
 *                                            the Original's as a reference line, and the forget
 *                                            samples that still leak (ids), most telling first
 * @property {{ua_run: Float32Array, ua_retrain: Float32Array, threshold: number,
 *   steps_run: number|null, steps_retrain: number|null, samples: number, steps: number,
 *   lr: number}} [relearn]                   the run's latest relearning probe: forget accuracy
 *                                            after each fine-tuning step (step 0 first), Retrain's
 *                                            beside it; steps_*: first step with UA >= threshold
 * @property {{PS: number[]|null, AUC: number[]|null, "U-AUC": number[]|null, MIA: number[]|null}} ci
 *                                            95 % intervals; MIA: range over shadow-sample draws
 * @property {{heldout?: Roc, retrain?: Roc}} roc   forget vs held-out; this model vs Retrain
 * @property {{entropy: {q: Uint16Array, lo: number, step: number}, confidence: {q: Uint16Array, lo: number, step: number}}} [attack]
 *                                            per forget sample (probe.forget_ids order),
 *                                            dequantize with codecs.dequantize; absent
 *                                            without a Retrain model
 * @property {{entropy: {above_unlearn: Curve, above_retrain: Curve}, confidence: {above_unlearn: Curve, above_retrain: Curve}}} [curves]
 *                                            the privacy attack against Retrain, computed in
 *                                            Python; PS = 1 - max attack_score over all four
 * @property {{metric: string, direction: string, threshold: number, attack_score: number, fpr: number, fnr: number}} [worst]
 */

/**
 * @typedef {Object} Progress                 (trait `_progress`, JSON)
 * @property {boolean} [running]
 * @property {number} [index]                 run i of total in the current build
 * @property {number} [total]
 * @property {string} [method]
 * @property {string} [stage]                 "Unlearning", "Evaluating", ...
 * @property {number} [epoch]
 * @property {number} [epochs]
 * @property {number|null} [loss]
 * @property {string} [message]
 */

/**
 * @typedef {Object} State                    the shared store (lib/store.js)
 * @property {Meta} meta
 * @property {Row[]} runs
 * @property {Probe} probe
 * @property {Object<string, ModelData>} models
 * @property {ReturnType<import("./sprite.js").createSprite>} sprite
 * @property {Progress} progress
 * @property {string} error                   last error from Python ("" = none)
 * @property {boolean} isStatic               exported page: no kernel, building disabled
 * @property {string} modelA                  run id shown as Model A (emerald)
 * @property {string} modelB                  run id shown as Model B (purple)
 * @property {number|null} hovered            training-sample id under the pointer
 * @property {Uint32Array} selection          training-sample ids chosen with the lasso
 * @property {"entropy"|"confidence"} metric  attack metric
 * @property {number|null} threshold          custom attack threshold (null: range middle)
 * @property {"custom"|"max_attack"|"max_success"|"common"} strategy
 * @property {"all"|"target"|"correct"|"not"|"over"} highlight   embedding highlight mode
 * @property {number[]} hiddenClasses         classes toggled off in the legend
 * @property {"embedding"|"attack"|"audit"} tab
 * @property {"train"|"test"} split           for class-wise accuracy and prediction matrices
 * @property {"original"|"retrain"} ckaRef
 * @property {number|null} hoveredClass       class hovered in a metric chart (synced)
 * @property {string|null} traceRun           run whose epoch chart is open
 * @property {"light"|"dark"} theme
 */

export {};
