import math

import numpy as np
import pytest

from mucomp_widget.errors import ConfigError
from mucomp_widget.evaluation import mia

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


@pytest.fixture(scope="module")
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
    svc = [mia.svc_mia_efficacy(zi, yi, zo, yo, zt, yt, max_shadow=30, seed=s) for s in range(6)]
    ent = [mia.entropy_lr_mia(zi, zo, zt, max_shadow=30, seed=s) for s in range(6)]
    assert svc[0] == mia.svc_mia_efficacy(zi, yi, zo, yo, zt, yt, max_shadow=30, seed=0)
    assert ent[0] == mia.entropy_lr_mia(zi, zo, zt, max_shadow=30, seed=0)
    assert len(set(svc)) > 1 and len(set(ent)) > 1


def test_identical_shadow_features_do_not_crash():
    z, y = np.zeros((50, 4)), np.zeros(50, dtype=int)
    eff = mia.svc_mia_efficacy(z, y, z, y, z[:5], y[:5])
    rate = mia.entropy_lr_mia(z, z, z[:5])
    assert 0.0 <= eff <= 1.0 and 0.0 <= rate <= 1.0


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


def test_tpr_at_fpr_picks_the_largest_tpr_left_of_the_target():
    # Curve (FPR, TPR): (0,0) (0,.25) (0,.5) (.25,.5) (.25,.75) (.5,.75) (.75,.75) (.75,1) (1,1)
    r = mia.roc([10, 9, 7, 3], [8, 6, 5, 2], fprs=(0.1, 0.25, 0.8))
    assert r["tpr_at"] == {0.1: 0.5, 0.25: 0.75, 0.8: 1.0}


def test_tpr_at_fpr_keeps_collinear_points_and_does_not_interpolate():
    # Tied pairs give the diagonal (0,0) (.25,.25) (.5,.5) (.75,.75) (1,1): at FPR 0.6 the
    # answer is 0.5, not the 0.6 of interpolation nor the 0.25 of a thinned curve.
    r = mia.roc([4, 3, 2, 1], [4, 3, 2, 1], fprs=(0.6,))
    assert r["tpr_at"][0.6] == 0.5
    assert len(r["fpr"]) == 5 and r["auc"] == pytest.approx(0.5)


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
