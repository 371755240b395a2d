"""CKA, accuracy views, the one-pass inference and the evaluation of a whole study."""

import numpy as np
import pytest
import torch

import mucomp_widget as mu
from mucomp_widget import metrics
from mucomp_widget.evaluation.inference import infer
from mucomp_widget.evaluation.privacy import N_THRESHOLDS


# ------------------------------------------------------------------ CKA

@pytest.mark.parametrize("debiased", [True, False])
def test_cka_of_a_representation_with_itself_is_one(debiased):
    x = np.random.default_rng(0).normal(size=(60, 30))
    assert metrics.cka(x, x, debiased=debiased) == pytest.approx(1.0)


@pytest.mark.parametrize("debiased", [True, False])
def test_cka_is_invariant_to_orthogonal_maps_and_isotropic_scaling(debiased):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 20))
    y = x @ rng.normal(size=(20, 15)) + 0.5 * rng.normal(size=(80, 15))
    q, _ = np.linalg.qr(rng.normal(size=(15, 15)))
    base = metrics.cka(x, y, debiased=debiased)
    assert 0.2 < base < 0.99
    assert metrics.cka(x, 7.5 * (y @ q), debiased=debiased) == pytest.approx(base, rel=1e-9)
    # ... but not to anisotropic scaling, which changes the representation's geometry.
    assert metrics.cka(x, y * np.linspace(0.1, 10, 15), debiased=debiased) != pytest.approx(base, rel=1e-3)


def test_debiased_cka_of_unrelated_representations_is_near_zero():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(400, 500)), rng.normal(size=(400, 500))
    assert abs(metrics.cka(x, y, debiased=True)) < 0.02
    assert metrics.cka(x, y, debiased=False) > 0.3  # the plain estimator's bias for wide layers


def _hsic_by_definition(k, l, debiased):
    """HSIC written as the estimators' papers write it, with n x n matrix products."""
    n = len(k)
    if not debiased:  # Gretton et al. 2005: tr(KHLH) / (n-1)^2
        h = np.eye(n) - 1.0 / n
        return np.trace(k @ h @ l @ h) / (n - 1) ** 2
    k, l = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))  # Song et al. 2012, eq. 5
    one = np.ones(n)
    return (np.trace(k @ l) + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * one @ k @ l @ one) / (n * (n - 3))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("debiased", [True, False])
def test_cka_from_grams_is_the_estimators_definition(seed, debiased):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 40))
    x, y = rng.normal(size=(n, 7)), rng.normal(size=(n, 5))
    y[:, :3] += x[:, :3]
    k, l = metrics.gram(x), metrics.gram(y)
    want = _hsic_by_definition(k, l, debiased) / np.sqrt(
        _hsic_by_definition(k, k, debiased) * _hsic_by_definition(l, l, debiased))
    assert metrics.cka_from_grams(k, l, debiased) == pytest.approx(want, rel=1e-9, abs=1e-12)
    # stored (read-only) Grams: the self terms are kept, the value is the same, and a
    # changed array is a new entry (Grams are never changed in place)
    k.flags.writeable = l.flags.writeable = False
    for _ in range(2):
        assert metrics.cka_from_grams(k, l, debiased) == pytest.approx(want, rel=1e-9, abs=1e-12)
    from mucomp_widget.evaluation import similarity

    assert (id(k), debiased) in similarity._SELF_TERMS
    key = (id(k), debiased)
    del k
    assert key not in similarity._SELF_TERMS  # dropped with the array


def test_cka_needs_matching_samples():
    with pytest.raises(mu.MucompError, match="same samples"):
        metrics.cka(np.zeros((5, 2)), np.zeros((6, 2)))


# ------------------------------------------------------------------ accuracy views

def test_prediction_and_confidence_matrices_by_hand():
    logits = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]))
    labels = np.array([0, 0, 1, 2])
    pm = metrics.prediction_matrix(logits, labels, 3)
    np.testing.assert_allclose(pm, [[0.5, 0.5, 0], [1, 0, 0], [0, 0, 1]])
    cm = metrics.confidence_matrix(logits, labels, 3)
    np.testing.assert_allclose(cm, [[0.4, 0.5, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    assert np.isnan(metrics.prediction_matrix(logits, labels, 4)[3]).all()


def test_avg_gap_is_the_mean_absolute_gap_over_ua_ra_ta_mia():
    retrain = {"UA": 0.0, "RA": 1.0, "TRA": 0.95, "MIA": 1.0}
    model = {"UA": 0.2, "RA": 0.9, "TRA": 0.95, "MIA": 0.6}
    assert metrics.avg_gap(model, retrain) == pytest.approx((0.2 + 0.1 + 0 + 0.4) / 4)


# ------------------------------------------------------------------ one-pass inference

def test_inference_forwards_each_image_once_and_builds_grams(class3_study, digits):
    study = class3_study
    model = study["rl-1"].model
    seen = []
    handle = model.register_forward_hook(lambda m, i, o: seen.append(len(o)))
    out = infer(model, study._device_data(), probe_ids=study.probe_ids,
                feature_layer=study.arch.feature_layer, gram_sets=study.cka_sets,
                blocks=study.arch.blocks)
    handle.remove()
    assert sum(seen) == out.forwarded == digits.n_train + digits.n_test
    np.testing.assert_allclose(out.train_logits, study["rl-1"].outputs.train_logits, atol=1e-4)
    # A Gram kept during the pass equals one computed from a separate forward of its samples.
    split, ids = study.cka_sets["train_forget"]
    acts = {}

    def keep(module, inputs, output):
        acts["x"] = output.flatten(1)

    h = model.block2.register_forward_hook(keep)
    with torch.no_grad():
        model(study._device_data().batch("train", torch.from_numpy(ids))[0])
    h.remove()
    g = (acts["x"] @ acts["x"].T).numpy()
    np.testing.assert_allclose(out.grams[("train_forget", "block2")], g, rtol=1e-4, atol=1e-3)
    assert out.probe_features.shape == (len(study.probe_ids), 64)


# ------------------------------------------------------------------ whole-study evaluation

def test_retrain_against_itself_is_perfect(class3_study):
    r = class3_study.retrain
    assert r.metrics["PS"] == 1.0
    assert r.metrics["U-AUC"] == 0.5
    assert r.metrics["AvgGap"] == 0.0
    cka = r.details["cka"]["retrain"]
    assert all(v == pytest.approx(1.0) for v in cka.values())


def test_original_leaks_and_unlearning_closes_the_gap(class3_study):
    res = class3_study.results.set_index("id")
    assert res.loc["original", "PS"] < 0.5       # the Original is easy to tell from Retrain
    assert res.loc["original", "MIA"] < 0.2       # SVC judges its forget samples members
    assert res.loc["retrain", "MIA"] > 0.8        # and the Retrain model's non-members
    for rid in ("rl-1", "salun-1", "scrub-1"):
        assert res.loc[rid, "AvgGap"] < res.loc["original", "AvgGap"]
        assert res.loc[rid, "PS"] > res.loc["original", "PS"]


def test_one_privacy_score_everywhere(class3_study):
    run = class3_study["salun-1"]
    attack = run.details["privacy"]
    assert attack["ps"] == run.metrics["PS"]
    n_forget = len(class3_study.split.forget_train)
    assert len(attack["values"]["unlearned"]["entropy"]) == n_forget
    assert len(attack["values"]["retrain"]["confidence"]) == n_forget
    for metric in ("entropy", "confidence"):
        for direction in ("above_unlearn", "above_retrain"):
            assert len(attack["curves"][metric][direction]["threshold"]) == N_THRESHOLDS
    worst = max(attack["curves"][m][d]["attack_score"].max()
                for m in ("entropy", "confidence") for d in ("above_unlearn", "above_retrain"))
    assert run.metrics["PS"] == pytest.approx(1 - worst)
    lo, hi = run.details["ps_ci"]
    assert 0 <= lo <= hi <= 1
    # The standalone API gives the same number from the same arrays.
    f = class3_study.split.forget_train
    assert metrics.privacy_score(run.outputs.train_logits[f],
                                 class3_study.retrain.outputs.train_logits[f]) == run.metrics["PS"]


def test_accuracy_views_in_details(class3_study, digits):
    d = class3_study["ga-1"].details
    ca = d["class_accuracy"]["train"]
    assert ca.shape == (10,) and ca[3] == pytest.approx(class3_study["ga-1"].metrics["UA"])
    pm = d["prediction_matrix"]["test"]
    assert pm.shape == (10, 10) and np.allclose(pm.sum(1), 1)
    assert np.allclose(np.diag(pm), d["class_accuracy"]["test"])
    assert np.allclose(d["confidence_matrix"]["train"].sum(1), 1)


def test_roc_details_follow_the_audit_convention(class3_study):
    d = class3_study["ga-1"].details
    for key in ("roc_forget_vs_heldout", "roc_vs_retrain"):
        roc = d[key]
        assert roc["fpr"][0] == 0 and roc["tpr"][-1] == 1
        assert set(roc["tpr_at"]) == {0.001, 0.01}
    assert d["auc_ci"][0] <= class3_study["ga-1"].metrics["AUC"] <= d["auc_ci"][1]
    assert d["u_auc_ci"][0] <= class3_study["ga-1"].metrics["U-AUC"] <= d["u_auc_ci"][1]


def test_epoch_trace_and_keep_best(make_study):
    study = make_study()
    run = study.unlearn("ga", epochs=6, lr=3e-3, trace=True, keep_best=True)
    t = run.trace
    assert t["epoch"] == list(range(7))
    assert set(t) >= {"UA", "RA", "TUA", "TRA", "PS", "MIA", "AvgGap"}
    assert t["UA"][0] == pytest.approx(study.original.metrics["UA"])  # epoch 0 = the base model
    best = int(np.nanargmin(t["AvgGap"][1:])) + 1
    assert run.best_epoch == best
    # The kept model is the best epoch's: its table UA is the trace's UA at that epoch
    # (every forget sample is traced).
    assert run.metrics["UA"] == pytest.approx(t["UA"][best], abs=1e-9)
    plain = study.unlearn("ga", epochs=6, lr=3e-3, trace=True)
    assert plain.best_epoch is None
    assert plain.trace["PS"][-1] == pytest.approx(plain.metrics["PS"], abs=0.02)
    assert plain.metrics["UA"] == pytest.approx(plain.trace["UA"][-1])


def test_a_new_retrain_model_rescores_every_run(make_study, class3_study, tmp_path):
    study = make_study()
    run = study.unlearn("rl")
    before = dict(run.metrics)
    torch.save(class3_study.original.state_dict, tmp_path / "not-really-retrain.pth")
    study.load_retrain(tmp_path / "not-really-retrain.pth")
    assert study.retrain.metrics["PS"] == 1.0
    assert run.metrics["UA"] == before["UA"]            # its own metrics do not change
    assert run.metrics["PS"] != before["PS"]            # those against Retrain do
    assert study.original.metrics["PS"] == 1.0          # the Original now *is* the Retrain


def test_metrics_api_exposes_the_named_functions():
    for name in ("privacy_score", "attack_curves", "mia_efficacy", "roc", "cka", "prediction_matrix",
                 "confidence_matrix", "avg_gap", "loss_lr_cv_accuracy", "entropy_lr_mia"):
        assert callable(getattr(metrics, name))


@pytest.mark.parametrize("seed", range(5))
def test_every_method_moves_the_forget_samples_more_than_the_retained_ones(class3_study, seed):
    """Digits, class 3 forgotten, every built-in method at its defaults: placed in the
    Original's map, the forget samples move more than the retained ones, and a copy of the
    Original stays on the Original's layout (mean shift under 10 % of its spread). Measured
    (2026-12-03): forget 0.12-1.2 of the spread, retained 0.03-0.06, copy 0.01-0.02."""
    from mucomp_widget.evaluation.embedding import disparity, embed

    study = class3_study
    forget = np.isin(study.probe_ids, study.split.forget_train)
    original = study.original.outputs.probe_features
    layout = embed(original, seed=seed)
    assert disparity(embed(original, reference=(original, layout), seed=seed), layout) < 0.1
    for name in ("ft", "ga", "rl", "scrub", "salun"):
        run = study[f"{name}-1"]
        assert run.method == name
        placed = embed(run.outputs.probe_features, reference=(original, layout), seed=seed)
        assert disparity(placed, layout, forget) > disparity(placed, layout, ~forget), name


def test_study_layouts_are_kept_saved_and_sent_with_their_disparity(class3_study, tmp_path):
    from mucomp_widget._payload import model as model_payload
    from mucomp_widget.evaluation.embedding import disparity, embed
    from mucomp_widget.study import Embedding

    study = class3_study
    orig = study.embedding("original")
    assert orig.coords.shape == (len(study.probe_ids), 2) and np.array_equal(orig.ids, study.probe_ids)
    assert orig.top_classes.shape == orig.top_probs.shape == (len(study.probe_ids), 3)
    assert (np.diff(orig.top_probs, axis=1) <= 0).all()
    original = study.original.outputs.probe_features
    np.testing.assert_array_equal(orig.coords, embed(original, seed=study.seed))
    assert orig.disparity == 0.0
    rl = study.embedding("rl-1")
    np.testing.assert_array_equal(rl.coords, embed(study["rl-1"].outputs.probe_features,
                                                   reference=(original, orig.coords), seed=study.seed))
    retained = ~np.isin(study.probe_ids, study.split.forget_train)
    assert rl.disparity == disparity(rl.coords, orig.coords, retained) < 0.25  # no warning
    assert model_payload(study, "rl-1")["disparity"] == rl.disparity
    again = mu.Study.load(study.save(tmp_path / "s"), workdir=tmp_path, progress=False)
    assert np.array_equal(again.embedding("rl-1").coords, rl.coords)
    assert again.embedding("rl-1").disparity == rl.disparity
    # A layout saved before disparities were measured is made again, in the Original's map.
    again._embeddings["rl-1"] = Embedding(rl.ids, np.zeros_like(rl.coords), rl.top_classes, rl.top_probs)
    assert np.isnan(again._embeddings["rl-1"].disparity)
    assert "coords" not in model_payload(again, "rl-1")  # so the widget asks for it
    np.testing.assert_array_equal(again.embedding("rl-1").coords, rl.coords)