"""U-LiRA audit (Hayes et al., SaTML 2025): study.audit("ulira", ...).

The expensive part (K shadow Originals and Retrains) is built once for the module in its
own workdir and shared; every other test only unlearns shadows or scores arrays.
"""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

import mucomp_widget as mu
from mucomp_widget.audits import ulira
from mucomp_widget.errors import ConfigError, StudyError
from mucomp_widget.methods.registry import RunCancelled
from mucomp_widget.store import ModelCache

K = 4  # shadows: the smallest allowed; every forget sample is IN for 2 of them
# A shorter recipe than digits' 20 epochs (every model of this file trains 2.5x faster);
# small_cnn still fits the training set, which is all the known answers need.
RECIPE = {"epochs": 8}


@pytest.fixture(scope="module")
def audited(digits, tmp_path_factory):
    """Digits, class 3 forgotten, in a fresh workdir: a GA run with a tiny lr (forgets
    nothing) and an FT run (forgets class 3), both audited with the same K shadows."""
    wd = tmp_path_factory.mktemp("ulira-cache")
    study = mu.Study(digits, mu.forget.classes(3), workdir=wd, recipe=RECIPE, progress=False).prepare()
    tiny = study.unlearn("ga", lr=1e-9, epochs=1)
    ft = study.unlearn("ft", epochs=5)
    res_tiny = study.audit("ulira", tiny.id, shadows=K, n_boot=300)
    res_ft = study.audit("ulira", ft.id, shadows=K, n_boot=300)
    return SimpleNamespace(study=study, workdir=wd, tiny=tiny, ft=ft, res_tiny=res_tiny, res_ft=res_ft)


# --------------------------------------------------------------- pure pieces, hand values


def test_phi_hand_values_and_stability():
    z = np.array([[2.0, 0.0, 0.0], [0.0, 1000.0, 0.0], [math.log(3), 0.0, 0.0]])
    phi = ulira.logit_confidence(z, np.array([0, 0, 0]))
    # log p_y - log(1 - p_y): [2 - ln 2, -1000 - ln 1 (other classes 1000 and 0), ln 3 - ln 2]
    np.testing.assert_allclose(phi, [2 - math.log(2), -1000.0, math.log(3) - math.log(2)], atol=1e-9)
    p = np.exp(z[2]) / np.exp(z[2]).sum()
    assert phi[2] == pytest.approx(math.log(p[0]) - math.log(1 - p[0]))


def _hand_phis():
    nan = np.nan
    # sample 0 is IN for shadows 0, 1 (values 1, 3: median 2); sample 1 for 1, 2 (2, 4: median 3)
    u = np.array([[1.0, nan], [3.0, 2.0], [nan, 4.0], [nan, nan]])
    # retrained: sample 0 -> 0, 0, 2, -2 (median 0); sample 1 -> 1, 1, -1, 3 (median 1)
    r = np.array([[0.0, 1.0], [0.0, 1.0], [2.0, -1.0], [-2.0, 3.0]])
    return u, r


def test_gaussians_global_hand_values():
    u, r = _hand_phis()
    mu_u, sd_u, mu_r, sd_r, mode = ulira.fit_gaussians(u, r, "auto")
    assert mode == "global"  # 4 shadows < 64
    np.testing.assert_allclose(mu_u, [2, 3])
    np.testing.assert_allclose(mu_r, [0, 1])
    # residuals: +-1 four times (unlearned), 0, 0, 2, -2, 0, 0, -2, 2 (retrained): 20 / 12
    pooled = math.sqrt(20 / 12)
    np.testing.assert_allclose(sd_u, [pooled, pooled])
    np.testing.assert_allclose(sd_r, [pooled, pooled])
    s = ulira.log_likelihood_ratio([2.0, 1.0], mu_u, sd_u, mu_r, sd_r)
    # shared width: ((phi - mu_r)^2 - (phi - mu_u)^2) / (2 sd^2)
    np.testing.assert_allclose(s, [4 / (2 * 20 / 12), -4 / (2 * 20 / 12)])


def test_gaussians_per_example_hand_values_and_floor():
    u, r = _hand_phis()
    mu_u, sd_u, mu_r, sd_r, mode = ulira.fit_gaussians(u, r, "per_example")
    assert mode == "per_example"
    np.testing.assert_allclose(sd_u, [1, 1])
    np.testing.assert_allclose(sd_r, [math.sqrt(2), math.sqrt(2)])
    s = ulira.log_likelihood_ratio([2.0], mu_u[:1], sd_u[:1], mu_r[:1], sd_r[:1])
    # log N(2; 2, 1) - log N(2; 0, sqrt 2) = 0 - 0 - (-(2 / sqrt 2)^2 / 2 - ln sqrt 2)
    assert s[0] == pytest.approx(1 + 0.5 * math.log(2))
    # identical unlearned values: the width is floored at 10 % of the pooled width, not 0
    u2 = u.copy()
    u2[1, 0] = 1.0
    _, sd_u2, _, _, _ = ulira.fit_gaussians(u2, r, "per_example")
    assert 0 < sd_u2[0] < 1
    with pytest.raises(ConfigError, match="variance"):
        ulira.fit_gaussians(u, r, "median")


def test_attack_hand_values():
    a = ulira.attack([1.0, 0.0], [0.5, -1.0], n_boot=50)
    # thresholds >= 1: (TPR .5, FPR 0) -> .75; >= .5: (.5, .5); >= 0: (1, .5) -> .75; >= -1: (1, 1)
    assert a.accuracy == pytest.approx(0.75)
    assert a.auc == pytest.approx(0.75)  # 3 of the 4 pairs ordered right
    tie = ulira.attack([0.0], [0.0], n_boot=50)
    assert tie.accuracy == 0.5 and tie.auc == 0.5
    sep = ulira.attack([3.0, 2.0, 1.0], [0.0, -1.0, -2.0], n_boot=50)
    assert sep.accuracy == 1.0 and sep.auc == 1.0 and sep.auc_ci == (1.0, 1.0)
    # n = 3 negatives: 1/n = 33 %, so no target FPR below it is estimable
    assert sep.tpr_at == {0.001: None, 0.01: None, 0.1: None}
    assert all("1/3" in sep.tpr_at_reason[t] for t in (0.001, 0.01, 0.1))
    # fewer than 100 negatives: the leak threshold admits floor(5 % of 3) = 0 false positives
    assert sep.threshold_fpr == 0.05 and sep.threshold == 0.0 and sep.leaks.all()
    with pytest.raises(ConfigError, match="one length"):
        ulira.attack([1.0, 2.0], [1.0])


def test_attack_chance_level_on_exchangeable_scores():
    rng = np.random.default_rng(0)
    for seed in range(3):
        x = rng.normal(size=(2, 200))
        a = ulira.attack(x[0], x[1], n_boot=300, seed=seed)
        assert a.auc_chance[0] < 0.5 < a.auc_chance[1]
        assert 0.5 < a.accuracy_chance < 0.65
        shifted = ulira.attack(x[0] + 2.0, x[1], n_boot=300, seed=seed)
        assert shifted.accuracy > shifted.accuracy_chance and shifted.p_value < 0.01


def test_membership_is_balanced():
    for k, seed in ((4, 0), (8, 1), (16, 2)):
        m = ulira.shadow_membership(1437, k, seed)
        assert m.shape == (k, 1437)
        assert (m.sum(axis=0) == k // 2).all()
        assert (abs(m.sum(axis=1) - 1437 / 2) < 100).all()  # each shadow sees about half
    assert not np.array_equal(ulira.shadow_membership(100, 4, 0), ulira.shadow_membership(100, 4, 1))
    assert (ulira.shadow_membership(100, 6, -3).sum(axis=0) == 3).all()  # torch takes negative seeds


def test_blockwise_statistics_match():
    rng = np.random.default_rng(1)
    pos, neg = rng.normal(0.3, 1, (50, 40)).round(1), rng.normal(0, 1, (50, 40)).round(1)  # with ties
    for fn in (ulira._auc, ulira._best_accuracy):
        np.testing.assert_array_equal(ulira._rowwise(fn, pos, neg, cells=200), fn(pos, neg))


# --------------------------------------------------------------- audits of real runs


def test_each_forget_sample_in_exactly_half_of_the_shadows(audited):
    res = audited.res_ft
    assert res.in_mask.shape == (K, len(audited.study.split.forget_train))
    assert (res.in_mask.sum(axis=0) == K // 2).all()
    np.testing.assert_array_equal(np.isfinite(res.phi_unlearned), res.in_mask)
    np.testing.assert_array_equal(res.sample_ids, audited.study.split.forget_train)
    assert np.isfinite(res.phi_retrained).all() and res.phi_retrained.shape == res.in_mask.shape


def test_nothing_forgotten_leaks_like_the_original(audited):
    """Known answer: GA with lr 1e-9 for one epoch changes nothing, so it must be as easy
    to tell from retraining as the Original itself."""
    res = audited.res_tiny
    lo, hi = res.original.auc_ci
    assert lo - 1e-9 <= res.auc <= hi + 1e-9
    assert res.auc > 0.9 and res.accuracy > res.accuracy_chance
    assert res.p_value < 0.01 and res.leaks.mean() > 0.5


def test_a_method_that_forgets_scores_lower_than_the_original(audited):
    ft, res = audited.ft, audited.res_ft
    assert ft.metrics["UA"] < 0.05  # FT forgets class 3 (forget accuracy)
    assert res.auc < res.original.auc_ci[0]
    assert res.auc < audited.res_tiny.auc_ci[0]
    assert res.leaks.sum() < audited.res_tiny.leaks.sum()
    # the Original's reference line does not depend on the audited method
    np.testing.assert_array_equal(res.original.scores, audited.res_tiny.original.scores)
    assert res.original.auc > 0.9


def test_retrained_model_scores_near_chance(audited, make_study):
    """Known answer: a second Retrain model (another seed) audited as if FT made it is
    exchangeable with the study's Retrain, so the attack must be at chance."""
    study = audited.study
    other = make_study(seed=1, workdir=audited.workdir, recipe=RECIPE).retrain.state_dict
    run = study.add_checkpoint(other, name="retrain-seed1")
    try:
        res = study.audit("ulira", run.id, shadows=K, method="ft", epochs=5, n_boot=300)
        assert res.trained_models == 0
        # One model against one Retrain model: besides the sampling of forget samples (which
        # the intervals cover), a seed shifts a model's phi on the whole forgotten class
        # (digits, K = 4: AUC 0.45-0.56 between Retrain models of 8 seeds; best accuracy up
        # to 0.60 over 6 pairs of study and shadow seeds). Hence a margin of 0.15 around
        # chance: the same Gaussians put the Original at an AUC near 1.
        assert res.auc_ci[0] - 0.15 <= 0.5 <= res.auc_ci[1] + 0.15
        assert abs(res.auc - 0.5) <= 0.15
        assert res.accuracy <= 0.65
        # the same Gaussians still see the Original (the test can fail)
        assert res.original.auc > res.original.auc_chance[1]
        assert study._audits[("ulira", run.id)] is res
    finally:
        study.delete(run.id)


def test_tpr_only_where_the_negatives_support_it(audited):
    res = audited.res_ft
    n = len(res.sample_ids)
    assert 100 <= n < 1000  # digits' class 3: 146 training samples
    assert res.tpr_at[0.001] is None and "1/146" in res.target.tpr_at_reason[0.001]
    assert isinstance(res.tpr_at[0.01], float) and isinstance(res.tpr_at[0.1], float)
    assert 0 <= res.tpr_at[0.01] <= res.tpr_at[0.1] <= 1
    assert res.target.threshold_fpr == 0.01
    assert (res.target.retrain_scores > res.target.threshold).sum() <= math.floor(0.01 * n)
    np.testing.assert_array_equal(res.leaks, res.scores > res.target.threshold)
    assert res.fpr[0] == 0 and res.tpr[-1] == 1
    json.dumps(res.summary())
    assert list(res.to_frame()["id"]) == list(res.sample_ids)


def test_shadows_are_reused_in_memory_and_from_disk(audited, digits, monkeypatch):
    assert audited.res_tiny.trained_models == 2 * K
    assert audited.res_ft.trained_models == 0  # the second method only unlearned

    def no_training(*a, **k):
        raise AssertionError("a shadow model was trained again")

    monkeypatch.setattr(ulira, "train_model", no_training)
    monkeypatch.setattr("mucomp_widget.study.train_model", no_training)
    fresh = mu.Study(digits, mu.forget.classes(3), workdir=audited.workdir, recipe=RECIPE,
                     progress=False)
    res = fresh.audit("ulira", "original", shadows=K, method="ga", lr=1e-9, epochs=1, n_boot=300)
    assert res.trained_models == 0
    # the same shadows, unlearned with the same hyperparameters and seed: the same values
    assert res.hyperparameters == audited.tiny.hyperparameters
    np.testing.assert_array_equal(res.phi_retrained, audited.res_tiny.phi_retrained)
    np.testing.assert_array_equal(res.phi_unlearned, audited.res_tiny.phi_unlearned)


def test_cancel_keeps_finished_shadows(audited):
    study = audited.study

    def cancel_at_second(event):
        if event.get("stage") == f"ulira shadows 2/{K}":
            study.cancel()

    runs = list(study._runs)
    study.add_listener(cancel_at_second)
    try:
        with pytest.raises(RunCancelled):
            study.audit("ulira", audited.ft.id, shadows=K, seed=99)
    finally:
        study.remove_listener(cancel_at_second)
    assert list(study._runs) == runs
    sh = study._audit_cache[("ulira", "shadows", K, 99)]
    assert set(sh.originals) == {0} and set(sh.retrain_phi) == {0}
    cache = ModelCache(audited.workdir)
    base = ulira._key_base(study)
    forget = np.zeros(study.dataset.n_train, bool)
    forget[study.split.forget_train] = True
    ids0 = np.flatnonzero(sh.mask[0])
    assert cache.get(ulira._disk_key(base, "original", K, 99, 0, ids0)) is not None
    assert cache.get(ulira._disk_key(base, "retrain", K, 99, 0, np.flatnonzero(sh.mask[0] & ~forget))) is not None
    assert cache.get(ulira._disk_key(base, "original", K, 99, 1, np.flatnonzero(sh.mask[1]))) is None
    # the stop request does not outlive the cancelled audit: the next one runs
    assert study.audit("ulira", audited.ft.id, shadows=K, n_boot=50).trained_models == 0


def test_bad_input(audited):
    study = audited.study
    for bad in (3, 5, 2, 0, -4, True, 4.0, "8", None):
        with pytest.raises(ConfigError, match="shadows must be an even integer") as info:
            study.audit("ulira", audited.ft.id, shadows=bad)
        assert repr(bad) in str(info.value)
    with pytest.raises(ConfigError, match="seed must be an integer"):
        study.audit("ulira", audited.ft.id, shadows=K, seed="0")
    with pytest.raises(StudyError, match="no run 'nope'"):
        study.audit("ulira", "nope", shadows=K)
    for rid in ("original", "retrain"):
        with pytest.raises(ConfigError, match="pass method="):
            study.audit("ulira", rid, shadows=K)
    up = study.add_checkpoint(study.original.state_dict, name="uploaded copy")
    try:
        with pytest.raises(ConfigError, match="pass method="):
            study.audit("ulira", up.id, shadows=K)
    finally:
        study.delete(up.id)
    with pytest.raises(ConfigError, match="unknown method"):
        study.audit("ulira", "original", shadows=K, method="no_such_method")
    with pytest.raises(ConfigError, match="no hyperparameter 'bogus'"):
        study.audit("ulira", "original", shadows=K, method="ga", bogus=1)
    with pytest.raises(ConfigError, match="variance"):
        study.audit("ulira", audited.ft.id, shadows=K, variance="wide")
    with pytest.raises(ConfigError, match="give the run to audit"):
        study.audit("ulira", shadows=K)
