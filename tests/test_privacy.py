import math

import numpy as np
import pytest

from mucomp_widget.errors import ConfigError
from mucomp_widget.evaluation.privacy import (
    DELTA,
    attack_curves,
    attack_score_from_rates,
    attack_values,
    confidence_values,
    entropy_values,
    epsilon_from_rates,
    privacy_attack,
    privacy_score,
    privacy_score_ci,
)


def _pair(n, seed=0, shift=1.0):
    """Retrain logits and an unlearned model that is a noisy, less confident copy of it."""
    rng = np.random.default_rng(seed)
    retrain = rng.normal(0, 2, (n, 10))
    retrain[:, 3] += 4
    unlearned = retrain + rng.normal(0, 0.5, retrain.shape)
    unlearned[:, 3] -= shift
    return unlearned, retrain


# --- epsilon estimator -----------------------------------------------------------------

def test_epsilon_of_known_rates():
    # FPR = 0.1, FNR = 0.2: ln((0.9 - d) / 0.2) ~ ln 4.5 < ln((0.8 - d) / 0.1) ~ ln 8.
    eps = epsilon_from_rates(0.1, 0.2)
    expected = min(math.log(0.9 - 1e-5) - math.log(0.2), math.log(0.8 - 1e-5) - math.log(0.1))
    assert eps == pytest.approx(expected, rel=1e-12)
    assert eps == pytest.approx(math.log(4.5), abs=2e-5)
    assert attack_score_from_rates(0.1, 0.2) == pytest.approx(1 - 2 ** -expected, rel=1e-12)
    assert attack_score_from_rates(0.1, 0.2) == pytest.approx(0.6475, abs=1e-4)


def test_epsilon_is_symmetric_and_vectorised():
    fpr = np.array([0.1, 0.2, 0.3])
    fnr = np.array([0.2, 0.1, 0.3])
    eps = epsilon_from_rates(fpr, fnr)
    assert eps.shape == (3,)
    assert eps[0] == pytest.approx(eps[1], rel=1e-12)
    # FPR = FNR = 0.3: ln((0.7 - d) / 0.3) on both sides.
    assert eps[2] == pytest.approx(math.log((0.7 - DELTA) / 0.3), rel=1e-12)


def test_weak_attack_has_zero_epsilon():
    # FPR + FNR >= 1 is no better than guessing: both logs are negative, epsilon clamps to 0.
    assert epsilon_from_rates(0.6, 0.6) == 0.0
    assert epsilon_from_rates(0.5, 0.5) == 0.0
    assert attack_score_from_rates(0.7, 0.4) == 0.0


def test_special_cases():
    assert epsilon_from_rates(0.0, 0.0) == np.inf
    assert attack_score_from_rates(0.0, 0.0) == 1.0
    for fpr, fnr in [(1.0, 0.0), (0.0, 1.0), (0.3, 1 - 1e-6), (1 - 1e-6, 0.0)]:
        assert epsilon_from_rates(fpr, fnr) == 0.0
        assert attack_score_from_rates(fpr, fnr) == 0.0


def test_zero_fpr_alone_is_clipped_not_special():
    # FPR = 0 clips to 1e-10, so the other log is huge and ln((1 - d - 1e-10) / 0.2) wins.
    assert epsilon_from_rates(0.0, 0.2) == pytest.approx(math.log((1 - DELTA - 1e-10) / 0.2), rel=1e-9)
    assert 0 < attack_score_from_rates(0.0, 0.2) < 1


# --- per-sample metrics ----------------------------------------------------------------

@pytest.mark.parametrize("k", [2, 10, 100])
def test_entropy_of_uniform_logits_is_log_k(k):
    logits = np.stack([np.full(k, 3.0), np.full(k, -7.0)])
    np.testing.assert_allclose(entropy_values(logits), [math.log(k)] * 2, rtol=1e-12)


def test_entropy_uses_temperature_two():
    # [2 ln 3, 0] / 2 = [ln 3, 0] -> p = [3/4, 1/4].
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert entropy_values([[2 * math.log(3), 0.0]])[0] == pytest.approx(h, rel=1e-12)
    assert entropy_values([[math.log(3), 0.0]], temperature=1.0)[0] == pytest.approx(h, rel=1e-12)


def test_confidence_is_logit_of_top_probability():
    # p_max = 3/4: ln(3/4) - ln(1/4) = ln 3.
    assert confidence_values([[math.log(3), 0.0]])[0] == pytest.approx(math.log(3), rel=1e-12)
    # p = [1/2, 1/4, 1/4]: ln(1/2) - ln(1/2) = 0, whichever column holds the max.
    np.testing.assert_allclose(confidence_values([[math.log(2), 0, 0], [0, 0, math.log(2)]]), [0, 0], atol=1e-12)
    # A tie for the max: p_max = 1/2 again.
    assert confidence_values([[1.0, 1.0]])[0] == pytest.approx(0.0, abs=1e-12)


def test_metrics_stay_finite_for_huge_logits():
    logits = np.array([[1000.0, 0.0, 0.0], [0.0, -1000.0, -1000.0]])
    conf = confidence_values(logits)
    ent = entropy_values(logits)
    assert np.isfinite(conf).all() and np.isfinite(ent).all()
    assert conf[0] == pytest.approx(1000 - math.log(2), rel=1e-12)
    assert ent[0] == pytest.approx(0.0, abs=1e-12)


def test_attack_values_keys_and_shapes():
    v = attack_values(np.zeros((4, 5)))
    assert set(v) == {"entropy", "confidence"}
    np.testing.assert_allclose(v["entropy"], math.log(5))
    np.testing.assert_allclose(v["confidence"], -math.log(4))


# --- threshold sweep -------------------------------------------------------------------

def test_curves_of_a_hand_worked_example():
    # Unlearned entropies [1, 1, 1, 0] vs retrain [1, 0, 0, 0]; at t = 1, "above_unlearn"
    # has TPR 3/4 and FPR 1/4, the only threshold that beats guessing.
    c = attack_curves([1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0], "entropy", grid="exact")
    up = c["above_unlearn"]
    np.testing.assert_array_equal(up["threshold"], [0.0, 1.0])
    np.testing.assert_allclose(up["tpr"], [1.0, 0.75])
    np.testing.assert_allclose(up["fpr"], [1.0, 0.25])
    np.testing.assert_allclose(up["fnr"], [0.0, 0.25])
    eps = math.log(0.75 - DELTA) - math.log(0.25)
    np.testing.assert_allclose(up["attack_score"], [0.0, 1 - 2 ** -eps], rtol=1e-12)
    down = c["above_retrain"]
    np.testing.assert_allclose(down["tpr"], [1.0, 0.25])
    np.testing.assert_allclose(down["fpr"], [1.0, 0.75])
    np.testing.assert_array_equal(down["attack_score"], [0.0, 0.0])


def test_reference_grid():
    c = attack_curves([0.3], [0.2], "entropy")
    for direction in ("above_unlearn", "above_retrain"):
        assert set(c[direction]) == {"threshold", "tpr", "fpr", "fnr", "attack_score"}
        assert all(len(a) == 51 for a in c[direction].values())
    np.testing.assert_allclose(c["above_unlearn"]["threshold"], np.arange(51) * 0.05, atol=1e-12)
    conf = attack_curves([0.3], [0.2], "confidence")["above_unlearn"]["threshold"]
    np.testing.assert_allclose(conf, -2.5 + np.arange(51) * 0.25, atol=1e-12)


def test_reference_rounds_and_clips_but_explicit_grid_does_not():
    # 11.3 clips to 10 and 9.996 rounds to 10.0: both reach the top threshold (10.0);
    # -3.0 clips to -2.5 and so counts at the bottom threshold.
    u = [11.3, 9.996, -3.0]
    r = [0.0, 0.0, 0.0]
    ref = attack_curves(u, r, "confidence")["above_unlearn"]
    assert ref["threshold"][-1] == 10.0
    assert ref["tpr"][-1] == pytest.approx(2 / 3)
    assert ref["tpr"][0] == 1.0
    raw = attack_curves(u, r, "confidence", grid=np.array([-2.5, 10.0]))["above_unlearn"]
    np.testing.assert_allclose(raw["tpr"], [2 / 3, 1 / 3])


def test_separated_values_give_a_perfect_attack():
    c = attack_curves([2.0] * 5, [0.0] * 5, "entropy")
    up = c["above_unlearn"]
    perfect = up["attack_score"] == 1.0
    # Every threshold in (0, 2] separates them: TPR 1, FPR 0.
    np.testing.assert_array_equal(perfect, (up["threshold"] > 0) & (up["threshold"] <= 2.0))


# --- privacy score ---------------------------------------------------------------------

@pytest.mark.parametrize("grid", ["reference", "exact"])
def test_identical_distributions_score_one(grid):
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (300, 10))
    shuffled = logits[rng.permutation(300)]  # same multiset of values, other row order
    assert privacy_score(logits, logits, grid) == 1.0
    assert privacy_score(logits, shuffled, grid) == 1.0


@pytest.mark.parametrize("grid", ["reference", "exact"])
def test_separated_models_score_zero(grid):
    unlearned = np.zeros((50, 10))  # uniform: entropy ln 10 ~ 2.30, confidence -ln 9
    retrain = np.zeros((50, 10))
    retrain[:, 0] = 50.0  # saturated: entropy ~ 0, confidence ~ 47.8
    assert privacy_score(unlearned, retrain, grid) == 0.0


def test_privacy_attack_report():
    unlearned = np.zeros((50, 10))
    retrain = np.zeros((50, 10))
    retrain[:, 0] = 50.0
    res = privacy_attack(unlearned, retrain)
    assert res["ps"] == 0.0
    np.testing.assert_allclose(res["values"]["unlearned"]["entropy"], math.log(10))
    np.testing.assert_allclose(res["values"]["retrain"]["confidence"], 50 - math.log(9))
    assert set(res["curves"]) == {"entropy", "confidence"}
    # Several rows are perfect; the first is entropy, above_unlearn, lowest such threshold.
    assert res["worst"] == {"metric": "entropy", "direction": "above_unlearn", "threshold": pytest.approx(0.05),
                            "attack_score": 1.0, "fpr": 0.0, "fnr": 0.0}


def test_worst_attack_matches_the_curves():
    u, r = _pair(400)
    res = privacy_attack(u, r)
    w = res["worst"]
    c = res["curves"][w["metric"]][w["direction"]]
    best = max(res["curves"][m][d]["attack_score"].max() for m in res["curves"] for d in res["curves"][m])
    assert w["attack_score"] == best
    assert res["ps"] == pytest.approx(1 - best, abs=1e-15)
    i = int(np.argmax(c["attack_score"]))
    assert (w["threshold"], w["fpr"], w["fnr"]) == (c["threshold"][i], c["fpr"][i], c["fnr"][i])
    assert 0 < res["ps"] < 1


@pytest.mark.parametrize("seed", range(5))
def test_exact_grid_finds_an_attack_at_least_as_strong(seed):
    u, r = _pair(500, seed=seed, shift=0.5 * seed)
    assert privacy_score(u, r, "exact") <= privacy_score(u, r, "reference")


def test_a_larger_shift_is_less_private():
    u_small, r = _pair(2000, shift=0.5)
    u_large, _ = _pair(2000, shift=3.0)
    assert privacy_score(u_large, r) < privacy_score(u_small, r) < 1


# --- bootstrap interval ----------------------------------------------------------------

def test_bootstrap_interval_contains_the_estimate_and_is_seeded():
    u, r = _pair(1000)
    ps = privacy_score(u, r)
    lo, hi = privacy_score_ci(u, r, n_boot=200, seed=3)
    assert 0 <= lo <= ps <= hi <= 1 and lo < hi
    assert privacy_score_ci(u, r, n_boot=200, seed=3) == (lo, hi)
    assert privacy_score_ci(u, r, n_boot=200, seed=4) != (lo, hi)


def test_bootstrap_interval_narrows_with_more_samples():
    small = privacy_score_ci(*_pair(100), n_boot=200)
    large = privacy_score_ci(*_pair(5000), n_boot=200)
    assert large[1] - large[0] < (small[1] - small[0]) / 2


def test_bootstrap_of_identical_models_is_exactly_one():
    logits = np.random.default_rng(2).normal(0, 3, (200, 10))
    assert privacy_score_ci(logits, logits, n_boot=20) == (1.0, 1.0)


# --- validation ------------------------------------------------------------------------

@pytest.mark.parametrize("u_shape, r_shape", [
    ((10,), (10,)),          # 1-D
    ((2, 5, 3), (2, 5, 3)),  # 3-D
    ((0, 5), (0, 5)),        # no rows
    ((4, 1), (4, 1)),        # one class
    ((4, 5), (5, 5)),        # different samples
    ((4, 5), (4, 6)),        # different classes
])
def test_bad_shapes_raise(u_shape, r_shape):
    with pytest.raises(ConfigError, match=r"shape|\(") as err:
        privacy_score(np.zeros(u_shape), np.zeros(r_shape))
    assert str(u_shape) in str(err.value) or str(r_shape) in str(err.value)
    with pytest.raises(ConfigError):
        privacy_score_ci(np.zeros(u_shape), np.zeros(r_shape))


def test_non_finite_logits_raise():
    logits = np.zeros((3, 4))
    bad = logits.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ConfigError, match="1 of 3 rows"):
        privacy_score(bad, logits)


def test_unknown_metric_and_grid_raise():
    with pytest.raises(ConfigError, match="confidence.*entropy"):
        attack_curves([0.1], [0.2], "loss")
    with pytest.raises(ConfigError, match="reference.*exact"):
        privacy_score(np.zeros((2, 3)), np.zeros((2, 3)), grid="fine")
    with pytest.raises(ConfigError, match="1-D"):
        attack_curves([0.1], [0.2], "entropy", grid=np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="1-D"):
        attack_curves([], [0.2], "entropy")


def test_bad_bootstrap_parameters_raise():
    u, r = _pair(10)
    with pytest.raises(ConfigError, match="n_boot"):
        privacy_score_ci(u, r, n_boot=0)
    with pytest.raises(ConfigError, match="level"):
        privacy_score_ci(u, r, level=95)
