import math
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.svm import SVC

import mucomp_widget as mu
from mucomp_widget.errors import ConfigError
from mucomp_widget.evaluation import mia
from mucomp_widget.evaluation.summary import EvalSetup, own_metrics

LN3 = math.log(3)


def confident(rng, n, c=10, margin=8.0):
    """Logits a model gives its training members: the true class far ahead."""
    y = rng.integers(0, c, n)
    z = rng.normal(0, 1, (n, c))
    z[np.arange(n), y] += margin
    return z, y


def unsure(rng, n, c=10):
    """Logits a model gives unseen samples here: nearly uniform softmax."""
    return rng.normal(0, 0.1, (n, c)), rng.integers(0, c, n)


# --- per-sample features ---------------------------------------------------------------


def test_softmax_hand_values_and_stability():
    p = mia.softmax(np.array([[0.0, LN3], [1000.0, 0.0], [5.0, 5.0]], dtype=np.float32))
    assert p.dtype == np.float64
    np.testing.assert_allclose(p, [[0.25, 0.75], [1.0, 0.0], [0.5, 0.5]], atol=1e-7)


def test_true_class_probability():
    z = np.array([[0.0, LN3], [0.0, LN3]])
    np.testing.assert_allclose(mia.true_class_probability(z, [1, 0]), [0.75, 0.25])


def test_entropy_hand_values():
    h = mia.entropy(np.array([[0.0, 0.0, 0.0, 0.0], [0.0, LN3, 0.0, 0.0], [1000.0, 0, 0, 0]]))
    p = np.array([1, 3, 1, 1]) / 6
    np.testing.assert_allclose(h, [math.log(4), -(p * np.log(p)).sum(), 0.0], atol=1e-12)


def test_cross_entropy_loss_hand_values_and_stability():
    z = np.array([[0.0, LN3], [1000.0, 0.0], [1000.0, 0.0]])
    np.testing.assert_allclose(mia.cross_entropy_loss(z, [0, 0, 1]), [math.log(4), 0.0, 1000.0])


def test_logit_confidence_hand_values():
    z = np.array([[LN3, 0.0], [0.0, 0.0], [1000.0, 0.0]])
    np.testing.assert_allclose(mia.logit_confidence(z, [0, 0, 1]), [LN3, 0.0, -1000.0])
    three = np.array([[0.0, 0.0, 0.0], [1000.0, 0.0, 0.0]])
    # uniform over 3: log(1/3) - log(2/3) = -ln 2; confident: 1000 - log(e^0 + e^0)
    expected = [-math.log(2), 1000 - math.log(2)]
    np.testing.assert_allclose(mia.logit_confidence(three, [0, 0]), expected)


def test_logit_confidence_is_log_odds_of_true_class():
    rng = np.random.default_rng(1)
    z, y = rng.normal(0, 2, (50, 5)), rng.integers(0, 5, 50)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    py = p[np.arange(50), y]
    np.testing.assert_allclose(mia.logit_confidence(z, y), np.log(py) - np.log1p(-py), rtol=1e-9)


# --- attack classifiers ----------------------------------------------------------------


@pytest.fixture  # fresh per test: the rng it hands out is consumed
def shadow():
    rng = np.random.default_rng(0)
    return confident(rng, 600), unsure(rng, 600), rng


def test_svc_efficacy_and_entropy_mia_when_forget_looks_unseen(shadow):
    (zi, yi), (zo, yo), rng = shadow
    zt, yt = unsure(rng, 300)
    assert mia.svc_mia_efficacy(zi, yi, zo, yo, zt, yt) >= 0.95
    assert mia.entropy_lr_mia(zi, zo, zt) <= 0.05


def test_svc_efficacy_and_entropy_mia_when_forget_looks_trained(shadow):
    (zi, yi), (zo, yo), rng = shadow
    zt, yt = confident(rng, 300)
    assert mia.svc_mia_efficacy(zi, yi, zo, yo, zt, yt) <= 0.05
    assert mia.entropy_lr_mia(zi, zo, zt) >= 0.95


def test_attacks_are_seeded_and_the_seed_matters():
    rng = np.random.default_rng(2)
    (zi, yi), (zo, yo), (zt, yt) = (confident(rng, 400, margin=2.0) for _ in range(3))
    sub = {"protocol": "subsample", "max_shadow": 30}
    svc = [mia.svc_mia_efficacy(zi, yi, zo, yo, zt, yt, **sub, seed=s) for s in range(6)]
    ent = [mia.entropy_lr_mia(zi, zo, zt, max_shadow=30, seed=s) for s in range(6)]
    assert svc[0] == mia.svc_mia_efficacy(zi, yi, zo, yo, zt, yt, **sub, seed=0)
    assert ent[0] == mia.entropy_lr_mia(zi, zo, zt, max_shadow=30, seed=0)
    assert len(set(svc)) > 1 and len(set(ent)) > 1


def test_identical_shadow_features_do_not_crash():
    z, y = np.zeros((50, 4)), np.zeros(50, dtype=int)
    eff = mia.svc_mia_efficacy(z, y, z, y, z[:5], y[:5])
    rate = mia.entropy_lr_mia(z, z, z[:5])
    assert 0.0 <= eff <= 1.0 and 0.0 <= rate <= 1.0


# --- SalUn's SVC protocol ---------------------------------------------------------------


def with_confidence(p, label=0, c=3):
    """Logits whose softmax gives each sample's true class ``label`` probability ``p``."""
    p = np.asarray(p, dtype=np.float64)
    probs = np.repeat(((1 - p) / (c - 1))[:, None], c, axis=1)
    probs[:, label] = p
    return np.log(probs), np.full(len(p), label)


def salun_svc_mia(retain, test, forget):
    """SalUn's evaluation, transcribed from main_forget.py and evaluation/SVC_MIA.py.

    Each argument is (logits, labels). shadow_train = Subset(retain, range(len(test))),
    shadow_test = test, target_test = forget; feature = softmax gathered at the label;
    SVC(C=3, gamma="auto", kernel="rbf"); efficacy = 1 - predict(target).mean().
    """
    def conf(z, y):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True))[np.arange(len(y)), y]

    n = len(test[1])
    x_in, x_out = conf(retain[0][:n], retain[1][:n]), conf(*test)
    clf = SVC(C=3, gamma="auto", kernel="rbf")
    clf.fit(np.r_[x_in, x_out].reshape(-1, 1), np.r_[np.ones(len(x_in)), np.zeros(len(x_out))])
    return 1 - clf.predict(conf(*forget).reshape(-1, 1)).mean()


def salun_case():
    """Retain in order: 20 confident (p 0.99), then 60 unsure; test: 20 unsure;
    forget: 6 unsure and 4 confident. SalUn's SVC sees 20 confident members against 20
    unsure non-members, so it calls the 6 unsure forget samples non-members: 0.6."""
    rng = np.random.default_rng(0)
    retain = with_confidence(np.r_[np.full(20, 0.99), rng.uniform(0.3, 0.5, 60)])
    test = with_confidence(rng.uniform(0.3, 0.5, 20))
    forget = with_confidence(np.r_[rng.uniform(0.3, 0.5, 6), np.full(4, 0.99)])
    return retain, test, forget


def test_salun_protocol_takes_the_first_test_size_retain_samples():
    retain, test, forget = salun_case()
    assert salun_svc_mia(retain, test, forget) == pytest.approx(0.6)
    assert mia.svc_mia_efficacy(*retain, *test, *forget) == pytest.approx(0.6)
    assert mia.svc_mia_efficacy(*retain, *test, *forget, protocol="salun") == pytest.approx(0.6)
    # the case tells "first" apart: the last 20 retain samples look like the test set
    last = (retain[0][-20:], retain[1][-20:])
    assert abs(salun_svc_mia(last, test, forget) - 0.6) > 0.2


@pytest.mark.parametrize("seed", range(3))
def test_salun_protocol_matches_a_transcription_of_salun(seed):
    rng = np.random.default_rng(seed)
    retain = confident(rng, 300, margin=3.0)
    test = confident(rng, 120, margin=1.0)
    forget = confident(rng, 50, margin=2.0)
    assert mia.svc_mia_efficacy(*retain, *test, *forget) == pytest.approx(
        salun_svc_mia(retain, test, forget))
    # the seed and the cap belong to the subsample protocol only
    assert mia.svc_mia_efficacy(*retain, *test, *forget, seed=seed + 7, max_shadow=10) == \
        mia.svc_mia_efficacy(*retain, *test, *forget)


def test_salun_protocol_with_fewer_retain_than_test_samples_takes_the_first_of_each():
    rng = np.random.default_rng(4)
    retain, test, forget = confident(rng, 40, margin=3.0), unsure(rng, 100), confident(rng, 30)
    first = (test[0][:40], test[1][:40])
    assert mia.svc_mia_efficacy(*retain, *test, *forget) == pytest.approx(
        salun_svc_mia(retain, first, forget))


def test_evaluation_runs_salun_protocol_on_retained_class_test_samples():
    # Class 2 forgotten. Retain samples in id order: the first 20 confident, the rest unsure;
    # retained-class test samples unsure; forget-class test samples confident. SalUn drops
    # the forgotten class from its test set: 20 confident members vs 20 unsure non-members,
    # so the 30 unsure of the 40 forget samples are non-members (0.75). Keeping the forget
    # class would pit the first 50 retain samples against 50 test samples and flip it.
    y_train, y_test = np.arange(120) % 3, np.r_[np.arange(20) % 2, np.full(30, 2)]
    split = mu.forget.classes(2).resolve(y_train, y_test, 3)
    rng = np.random.default_rng(5)
    p_train = np.empty(120)
    p_train[split.retain_train] = np.r_[np.full(20, 0.99), rng.uniform(0.3, 0.5, 60)]
    p_train[split.forget_train] = np.r_[rng.uniform(0.3, 0.5, 30), np.full(10, 0.99)]
    p_test = np.r_[rng.uniform(0.3, 0.5, 20), np.full(30, 0.99)]
    onehot = lambda p, y: np.log(np.where(np.eye(3)[y] == 1, p[:, None], (1 - p[:, None]) / 2))
    out = SimpleNamespace(train_logits=onehot(p_train, y_train), test_logits=onehot(p_test, y_test))
    setup = EvalSetup(y_train=y_train, y_test=y_test, split=split, num_classes=3,
                      shadow_in=split.retain_train, shadow_out=split.retain_test)
    metrics, details = own_metrics(out, setup)

    def part(logits, y, ids):
        return logits[ids], y[ids]
    expected = salun_svc_mia(part(out.train_logits, y_train, split.retain_train),
                             part(out.test_logits, y_test, split.retain_test),
                             part(out.train_logits, y_train, split.forget_train))
    assert expected == pytest.approx(0.75) and metrics["MIA"] == pytest.approx(expected)
    whole_test = salun_svc_mia(part(out.train_logits, y_train, split.retain_train),
                               (out.test_logits, y_test),
                               part(out.train_logits, y_train, split.forget_train))
    assert abs(whole_test - 0.75) > 0.2
    lo, hi = details["mia_range"]
    assert lo <= metrics["MIA"] <= hi


@pytest.mark.parametrize("protocol", mia.SVC_PROTOCOLS)
@pytest.mark.parametrize("seed", range(3))
def test_draws_start_with_the_reported_value_and_vary_where_a_choice_exists(protocol, seed):
    rng = np.random.default_rng(10 + seed)
    retain = confident(rng, 400, margin=1.5)
    test = confident(rng, 60, margin=1.0)
    forget = confident(rng, 80, margin=1.2)
    kw = {"protocol": protocol, "max_shadow": 40, "seed": seed}
    vals = mia.svc_mia_efficacy_draws(*retain, *test, *forget, draws=8, **kw)
    assert len(vals) == 9 and ((vals >= 0) & (vals <= 1)).all()
    assert vals[0] == mia.svc_mia_efficacy(*retain, *test, *forget, **kw)
    assert vals.min() <= vals[0] <= vals.max() and vals.max() > vals.min()
    assert (mia.svc_mia_efficacy_draws(*retain, *test, *forget, draws=8, **kw) == vals).all()


def test_draws_are_all_equal_when_the_protocol_leaves_no_choice():
    # as many retain as test samples, no cap reached: every draw takes them all
    rng = np.random.default_rng(11)
    retain, test = confident(rng, 50, margin=1.5), confident(rng, 50, margin=1.0)
    forget = confident(rng, 40, margin=1.2)
    for protocol in mia.SVC_PROTOCOLS:
        vals = mia.svc_mia_efficacy_draws(*retain, *test, *forget, protocol=protocol, draws=4)
        assert (vals == vals[0]).all()
    # beyond the cap the redraws are smaller, and SalUn's own value stays uncapped
    capped = mia.svc_mia_efficacy_draws(*retain, *test, *forget, draws=6, max_shadow=20)
    assert capped[0] == vals[0] == pytest.approx(salun_svc_mia(retain, test, forget))
    assert capped.max() > capped.min()


def test_loss_cv_accuracy_is_chance_on_inseparable_data():
    rng = np.random.default_rng(3)
    (zm, ym), (zn, yn) = confident(rng, 1500, margin=2.0), confident(rng, 1500, margin=2.0)
    assert abs(mia.loss_lr_cv_accuracy(zm, ym, zn, yn) - 0.5) < 0.1


def test_loss_cv_accuracy_balances_the_larger_set():
    # Unbalanced 10:1, a classifier that always says "member" would score ~0.91.
    rng = np.random.default_rng(4)
    (zm, ym), (zn, yn) = confident(rng, 3000, margin=2.0), confident(rng, 300, margin=2.0)
    assert abs(mia.loss_lr_cv_accuracy(zm, ym, zn, yn) - 0.5) < 0.1


def test_loss_cv_accuracy_is_one_on_separable_data():
    rng = np.random.default_rng(5)
    (zm, ym), (zn, yn) = confident(rng, 500), unsure(rng, 500)
    assert mia.loss_lr_cv_accuracy(zm, ym, zn, yn) >= 0.95


def test_loss_cv_accuracy_with_constant_loss_is_exactly_half():
    # Constant feature: one prediction for all; each stratified 20-sample test fold is 10/10.
    z, y = np.zeros((100, 3)), np.zeros(100, dtype=int)
    assert mia.loss_lr_cv_accuracy(z, y, z, y) == 0.5


@pytest.mark.parametrize("n_member, n_nonmember", [(1, 50), (50, 5)])
def test_loss_cv_accuracy_is_nan_when_no_stratified_split_exists(n_member, n_nonmember):
    # 5 + 5 samples: a 10 % test fold holds 1 sample, fewer than the 2 classes.
    rng = np.random.default_rng(6)
    (zm, ym), (zn, yn) = confident(rng, n_member), confident(rng, n_nonmember)
    assert math.isnan(mia.loss_lr_cv_accuracy(zm, ym, zn, yn))


def test_loss_cv_accuracy_defined_from_six_per_side():
    rng = np.random.default_rng(7)
    (zm, ym), (zn, yn) = confident(rng, 6), unsure(rng, 40)
    assert 0.0 <= mia.loss_lr_cv_accuracy(zm, ym, zn, yn) <= 1.0


# --- ROC ---------------------------------------------------------------------------------


def test_roc_perfect_separation():
    r = mia.roc(np.linspace(1, 2, 50), np.linspace(-2, -1, 2000))
    assert r["auc"] == 1.0 and r["tpr_at"][0.001] == 1.0 and r["tpr_at"][0.01] == 1.0
    assert (r["n_members"], r["n_nonmembers"]) == (50, 2000)


def test_roc_curve_runs_from_origin_to_one_and_is_monotone():
    r = mia.roc([0.3, 0.9, 0.1], [0.2, 0.5])
    assert (r["fpr"][0], r["tpr"][0], r["fpr"][-1], r["tpr"][-1]) == (0, 0, 1, 1)
    assert (np.diff(r["fpr"]) >= 0).all() and (np.diff(r["tpr"]) >= 0).all()


def test_roc_same_distribution_is_half():
    rng = np.random.default_rng(8)
    assert abs(mia.roc(rng.normal(size=5000), rng.normal(size=5000))["auc"] - 0.5) < 0.03
    s = rng.normal(size=100)
    assert mia.roc(s, s)["auc"] == pytest.approx(0.5)


def test_roc_auc_by_counting_pairs():
    # 0.9 beats both, 0.8 beats both, 0.4 beats 0.3 only: 5 of 6 pairs.
    assert mia.roc([0.9, 0.8, 0.4], [0.7, 0.3])["auc"] == pytest.approx(5 / 6)
    # 0.5 ties 0.5 (half) and beats 0.1, 0.9 beats both: 3.5 of 4 pairs.
    assert mia.roc([0.5, 0.9], [0.5, 0.1])["auc"] == pytest.approx(3.5 / 4)


def test_tpr_at_fpr_picks_the_largest_tpr_at_or_left_of_the_target():
    # Curve (FPR, TPR): (0,0) (0,.25) (0,.5) (.25,.5) (.25,.75) (.5,.75) (.75,.75) (.75,1) (1,1)
    r = mia.roc([10, 9, 7, 3], [8, 6, 5, 2], fprs=(0.25, 0.3, 0.8))
    assert r["tpr_at"] == {0.25: 0.75, 0.3: 0.75, 0.8: 1.0}
    assert r["tpr_at_reason"] == {} and r["min_fpr"] == 0.25


def test_tpr_at_fpr_convention_is_at_most_not_strictly_below():
    # Same curve. At FPR 0.25 (one false positive of 4) "<=" admits (.25, .75); LiRA's
    # plot.py, tpr[np.where(fpr < t)[0][-1]], stops at (0, .5). Off the 1/n grid they agree.
    r = mia.roc([10, 9, 7, 3], [8, 6, 5, 2], fprs=(0.25, 0.6))
    fpr, tpr = r["fpr"], r["tpr"]
    lira = {t: tpr[np.where(fpr < t)[0][-1]] for t in (0.25, 0.6)}
    assert r["tpr_at"][0.25] == 0.75 and lira[0.25] == 0.5
    assert r["tpr_at"][0.6] == lira[0.6] == 0.75


def test_tpr_below_one_over_n_nonmembers_is_nan_with_the_reason():
    # 37 non-members, as the digits held-out forget class: FPR moves in steps of 1/37, so
    # 0.1 % and 1 % both admit only FPR = 0 and would be the same number.
    rng = np.random.default_rng(12)
    r = mia.roc(rng.normal(1, 1, 145), rng.normal(0, 1, 37), fprs=(0.001, 0.01, 1 / 37, 0.1))
    assert r["min_fpr"] == 1 / 37 and r["n_nonmembers"] == 37
    assert math.isnan(r["tpr_at"][0.001]) and math.isnan(r["tpr_at"][0.01])
    assert set(r["tpr_at_reason"]) == {0.001, 0.01}
    assert "1/37 = 2.7 %" in r["tpr_at_reason"][0.001] and "0.1 % FPR" in r["tpr_at_reason"][0.001]
    # from 1/n on, at most floor(t n) false positives: one at 1/37, three at 10 %
    assert r["tpr_at"][1 / 37] == r["tpr"][r["fpr"] <= 1 / 37].max() > 0
    assert r["tpr_at"][0.1] == r["tpr"][r["fpr"] <= 3 / 37].max()


def test_tpr_at_fpr_keeps_collinear_points_and_does_not_interpolate():
    # Tied pairs give the diagonal (0,0) (.25,.25) (.5,.5) (.75,.75) (1,1): at FPR 0.6 the
    # answer is 0.5, not the 0.6 of interpolation nor the 0.25 of a thinned curve.
    r = mia.roc([4, 3, 2, 1], [4, 3, 2, 1], fprs=(0.6,))
    assert r["tpr_at"][0.6] == 0.5
    assert len(r["fpr"]) == 5 and r["auc"] == pytest.approx(0.5)


def test_widget_payload_sends_null_and_the_reason_for_unsupported_tpr():
    import json

    from mucomp_widget._payload import _roc

    p = _roc(mia.roc(np.arange(5.0), np.arange(37.0) - 30))
    assert p["tpr_at"] == {"0.001": None, "0.01": None}
    assert "1/37" in p["tpr_at_reason"]["0.01"] and p["min_fpr"] == pytest.approx(1 / 37)
    json.dumps({k: v for k, v in p.items() if k not in ("fpr", "tpr")}, allow_nan=False)
    assert _roc(mia.roc(np.arange(5.0), np.arange(200.0)))["tpr_at"]["0.01"] == 0.0


def test_auc_ci_of_single_pairs_is_the_pair_auc():
    assert mia.auc_ci([0.7], [0.3]) == (1.0, 1.0)
    assert mia.auc_ci([0.5], [0.5]) == (0.5, 0.5)
    assert mia.auc_ci([0.2], [0.6]) == (0.0, 0.0)


def test_auc_ci_contains_point_auc_and_is_seeded():
    rng = np.random.default_rng(9)
    m, n = rng.normal(0.5, 1, 5000), rng.normal(0, 1, 5000)
    point = mia.roc(m, n)["auc"]
    lo, hi = mia.auc_ci(m, n, seed=1)
    assert lo < point < hi and hi - lo < 0.05
    assert mia.auc_ci(m, n, seed=1) == (lo, hi)
    assert mia.auc_ci(m, n, seed=2) != (lo, hi)


# --- validation --------------------------------------------------------------------------

Z3, Y3 = np.zeros((3, 2)), np.array([0, 1, 0])
EMPTY_Z, EMPTY_Y = np.zeros((0, 2)), []


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: mia.true_class_probability(np.zeros(3), [0, 0, 0]), r"2-D.*\(3,\)"),
        (lambda: mia.softmax(np.zeros((3, 1))), r"at least 2 classes.*\(3, 1\)"),
        (lambda: mia.cross_entropy_loss(Z3, [0, 1]), r"3 rows.*\(2,\)"),
        (lambda: mia.logit_confidence(Z3, [0, 2, 0]), r"\[0, 2\).*\[0, 2\]"),
        (lambda: mia.svc_mia_efficacy(Z3, Y3, Z3, Y3, EMPTY_Z, EMPTY_Y), "target is empty"),
        (lambda: mia.svc_mia_efficacy(Z3, Y3[:2], Z3, Y3, Z3, Y3), "shadow_in_labels"),
        (lambda: mia.svc_mia_efficacy(Z3, Y3, Z3, Y3, Z3, Y3, max_shadow=0), "max_shadow"),
        (lambda: mia.svc_mia_efficacy(Z3, Y3, Z3, Y3, Z3, Y3, protocol="first"), "protocol.*'first'"),
        (lambda: mia.svc_mia_efficacy_draws(Z3, Y3, Z3, Y3, Z3, Y3, draws=-1), "draws.*-1"),
        (lambda: mia.svc_mia_efficacy_draws(Z3, Y3, Z3, Y3, Z3, Y3, draws=1.5), "draws.*1.5"),
        (lambda: mia.entropy_lr_mia(EMPTY_Z, Z3, Z3), "shadow_in is empty"),
        (lambda: mia.entropy_lr_mia(Z3, Z3, np.zeros(3)), r"target_logits.*\(3,\)"),
        (lambda: mia.loss_lr_cv_accuracy(Z3, Y3, EMPTY_Z, EMPTY_Y), "nonmember is empty"),
        (lambda: mia.loss_lr_cv_accuracy(Z3, Y3, Z3, Y3, n_splits=1), "n_splits.*got 1"),
        (lambda: mia.roc([], [0.1]), "member_scores is empty"),
        (lambda: mia.roc([0.1, np.nan], [0.1]), "finite.*1 NaN"),
        (lambda: mia.roc([0.1], [0.2], fprs=(0.0,)), r"\(0, 1\].*0\.0"),
        (lambda: mia.auc_ci([0.1], [[0.2]]), r"nonmember_scores.*1-D"),
        (lambda: mia.auc_ci([0.1], [0.2], level=1.0), "level"),
    ],
)
def test_bad_inputs_raise_config_error(call, match):
    with pytest.raises(ConfigError, match=match) as err:
        call()
    assert isinstance(err.value, ValueError)
