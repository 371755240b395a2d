import subprocess
import sys

import numpy as np
import pytest

from mucomp_widget.errors import ConfigError
from mucomp_widget.evaluation.embedding import align, embed, top_probabilities, warm_up


def clustered(n=500, d=64, k=10, seed=0):
    """k well-separated Gaussian clusters in d dimensions (d > 50: embed reduces with PCA)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    centers = rng.normal(scale=4.0, size=(k, d))
    return (centers[labels] + rng.normal(size=(n, d))).astype(np.float32), labels


@pytest.fixture(scope="session")
def layout():
    """Compile umap's kernels once (warm_up), then the layout every test compares with."""
    warm_up()
    x, labels = clustered()
    return x, labels, embed(x)


def spread(coords):
    return float(np.sqrt(((coords - coords.mean(axis=0)) ** 2).sum(axis=1).mean()))


def test_embed_is_float32_n_by_2_and_deterministic(layout):
    x, _, coords = layout
    assert coords.shape == (len(x), 2) and coords.dtype == np.float32
    assert np.isfinite(coords).all()
    np.testing.assert_array_equal(embed(x), coords)
    assert not np.array_equal(embed(x, seed=1), coords)


def test_embed_is_deterministic_with_far_apart_clusters(layout):
    """Five separate graph components: umap's spectral start (ARPACK) differed call to call."""
    x, _ = clustered(n=300, k=5)
    np.testing.assert_array_equal(embed(x), embed(x))


def test_embed_is_identical_in_a_fresh_process(layout, tmp_path):
    x, _, coords = layout
    np.save(tmp_path / "x.npy", x)
    code = (
        "import numpy as np; from mucomp_widget.evaluation.embedding import embed; "
        f"np.save({str(tmp_path / 'y.npy')!r}, embed(np.load({str(tmp_path / 'x.npy')!r})))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), coords)


def test_clusters_stay_together_in_2d(layout):
    _, labels, coords = layout
    d = ((coords[:, None] - coords[None]) ** 2).sum(axis=-1)
    np.fill_diagonal(d, np.inf)
    neighbours = np.argsort(d, axis=1)[:, :10]
    assert (labels[neighbours] == labels[:, None]).mean() > 0.9


@pytest.mark.parametrize("reflect", [False, True])
def test_align_recovers_a_similarity_transform(reflect):
    rng = np.random.default_rng(1)
    coords = rng.normal(size=(50, 2))
    angle = 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    if reflect:
        rot = rot @ np.diag([1.0, -1.0])
    reference = 2.5 * coords @ rot + np.array([3.0, -1.0])
    np.testing.assert_allclose(align(coords, reference), reference, atol=1e-10)
    np.testing.assert_allclose(align(reference, reference), reference, atol=1e-12)


def test_align_to_a_point_cloud_of_zeros_collapses_to_its_centre():
    reference = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(align(np.zeros((2, 2)), reference), [[2.0, 3.0], [2.0, 3.0]])


def test_reference_keeps_samples_in_place(layout):
    x, _, coords = layout
    perturbed = x + 0.2 * np.random.default_rng(2).normal(size=x.shape).astype(np.float32)
    with_ref = embed(perturbed, reference=coords)
    independent = align(embed(perturbed), coords)
    moved = np.linalg.norm(with_ref - coords, axis=1).mean() / spread(coords)
    moved_independently = np.linalg.norm(independent - coords, axis=1).mean() / spread(coords)
    assert with_ref.dtype == np.float32 and with_ref.shape == coords.shape
    assert moved < 0.3
    assert moved < moved_independently / 2


def test_reference_still_shows_what_changed(layout):
    """A class whose features merged into another's moves onto it, away from its old place."""
    x, labels, coords = layout
    changed = x.copy()
    rng = np.random.default_rng(4)
    changed[labels == 0] = x[labels == 1] + rng.normal(size=x[labels == 1].shape).astype(np.float32)
    after = embed(changed, reference=coords)
    gone = np.linalg.norm(after[labels == 0] - after[labels == 1].mean(axis=0), axis=1).mean()
    stayed = np.linalg.norm(after[labels == 0] - coords[labels == 0].mean(axis=0), axis=1).mean()
    assert gone < 0.3 * stayed


def test_top_probabilities_by_hand():
    logits = np.array([[0.0, 2.0, 4.0, -1.0], [1.0, 3.0, 1.0, 1.0]])
    classes, probs = top_probabilities(logits, k=3)
    assert classes.dtype == np.int32 and probs.dtype == np.float32 and classes.shape == (2, 3)
    np.testing.assert_array_equal(classes, [[2, 1, 0], [1, 0, 2]])  # ties: lower class first
    e = np.exp([0.0, 1.0, 2.0, -0.5])
    np.testing.assert_allclose(probs[0], e[[2, 1, 0]] / e.sum(), rtol=1e-6)
    np.testing.assert_allclose(probs[1], np.array([np.e, 1, 1]) / (np.e + 3), rtol=1e-6)
    _, sharper = top_probabilities(logits, k=1, temperature=1.0)
    np.testing.assert_allclose(sharper[0, 0], np.exp(4) / np.exp([0, 2, 4, -1]).sum(), rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{"k": 5}, {"k": 0}, {"temperature": 0.0}])
def test_top_probabilities_rejects_bad_arguments(kwargs):
    with pytest.raises(ConfigError):
        top_probabilities(np.zeros((3, 4)), **kwargs)


def test_one_sample_sits_at_the_origin_or_on_its_reference():
    np.testing.assert_array_equal(embed(np.ones((1, 8))), np.zeros((1, 2), np.float32))
    np.testing.assert_allclose(embed(np.ones((1, 8)), reference=[[5.0, -2.0]]), [[5.0, -2.0]])


def test_identical_features_put_every_sample_on_one_point():
    """A collapsed model (same features for every sample) must not give NaN."""
    np.testing.assert_array_equal(embed(np.ones((30, 64))), np.zeros((30, 2), np.float32))
    reference = np.random.default_rng(5).normal(size=(30, 2))
    np.testing.assert_allclose(embed(np.ones((30, 64)), reference=reference),
                               np.tile(reference.mean(axis=0), (30, 1)), rtol=1e-6)


def test_few_samples_fall_back_to_principal_components():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 2))  # fewer than n_neighbors + 2 = 11
    coords = embed(x)
    assert coords.shape == (6, 2) and coords.dtype == np.float32
    pairwise = [np.linalg.norm(a[:, None] - a[None], axis=-1) for a in (coords, x)]
    np.testing.assert_allclose(*pairwise, atol=1e-5)  # PCA of 2-D data is a rotation
    one_feature = embed(rng.normal(size=(4, 1)))
    assert one_feature.shape == (4, 2) and (one_feature[:, 1] == 0).all()
    assert embed(rng.normal(size=(11, 64))).shape == (11, 2)  # UMAP after PCA to 10 dims


@pytest.mark.parametrize(
    ("features", "reference", "message"),
    [
        (np.zeros(10), None, r"\(10,\)"),
        (np.zeros((0, 4)), None, r"\(0, 4\)"),
        (np.full((12, 4), np.nan), None, "finite"),
        (np.zeros((12, 4)), np.zeros((12, 3)), r"\(12, 2\).*\(12, 3\)"),
        (np.zeros((12, 4)), np.zeros((11, 2)), r"\(12, 2\).*\(11, 2\)"),
    ],
)
def test_bad_shapes_are_config_errors(features, reference, message):
    with pytest.raises(ConfigError, match=message):
        embed(features, reference=reference)


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="n_neighbors"):
        embed(np.zeros((20, 4)), n_neighbors=1)
    with pytest.raises(ConfigError, match="reference"):
        align(np.zeros((5, 2)), np.zeros((4, 2)))
