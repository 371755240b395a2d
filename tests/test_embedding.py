import subprocess
import sys

import numpy as np
import pytest

from mucomp_widget.errors import ConfigError
from mucomp_widget.evaluation.embedding import align, disparity, embed, top_probabilities, warm_up


def clustered(n=500, d=64, k=10, seed=0):
    """k well-separated Gaussian clusters in d dimensions (d > 50: embed reduces with PCA)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    centers = rng.normal(scale=4.0, size=(k, d))
    return (centers[labels] + rng.normal(size=(n, d))).astype(np.float32), labels


def read_only(*arrays):
    for a in arrays:
        a.flags.writeable = False
    return arrays


@pytest.fixture(scope="session")
def layout():
    """Compile umap's kernels once (warm_up), then the layout every test compares with
    (read-only, so no test can change what the others see)."""
    warm_up()
    x, labels = clustered()
    return read_only(x, labels, embed(x))


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
    """Same seed, same machine, same thread count: bit-identical, placement included."""
    x, _, coords = layout
    other = x + np.random.default_rng(6).normal(size=x.shape).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "other.npy", other)
    code = (
        "import numpy as np; from mucomp_widget.evaluation.embedding import embed; "
        f"x, o = np.load({str(tmp_path / 'x.npy')!r}), np.load({str(tmp_path / 'other.npy')!r}); "
        f"c = embed(x); np.save({str(tmp_path / 'y.npy')!r}, np.stack([c, embed(o, reference=(x, c))]))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    fresh = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(fresh[0], coords)
    np.testing.assert_array_equal(fresh[1], embed(other, reference=(x, coords)))


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


@pytest.mark.parametrize("dims", [2, 10, 50])
@pytest.mark.parametrize("how", ["thrown far", "collapsed"])
def test_trimmed_align_is_not_dragged_by_rows_that_moved(dims, how):
    """A similarity transform, then 40 % of the rows moved: thrown 15 spreads away or
    collapsed onto one point. Fitted on the best half, the others land exactly on their
    reference; fitted on all rows, they do not."""
    rng = np.random.default_rng(dims)
    reference = rng.normal(size=(300, dims))
    rot = np.linalg.qr(rng.normal(size=(dims, dims)))[0]
    coords = (reference - 1.0) @ rot.T / 3.0
    moved = np.arange(300) < 120
    if how == "thrown far":
        coords[moved] += rng.normal(scale=15 / 3, size=(120, dims))
    else:
        coords[moved] = coords.mean(axis=0)
    trimmed = align(coords, reference, trim=0.5)
    np.testing.assert_allclose(trimmed[~moved], reference[~moved], atol=1e-8)
    assert np.linalg.norm(align(coords, reference)[~moved] - reference[~moved], axis=1).mean() > 0.01


@pytest.mark.parametrize("trim", [0.0, 1.5, True, "half"])
def test_align_rejects_a_trim_outside_0_1(trim):
    with pytest.raises(ConfigError, match="trim"):
        align(np.zeros((5, 2)), np.zeros((5, 2)), trim=trim)


def test_disparity_by_hand():
    reference = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])  # spread sqrt(2)
    coords = reference + np.array([[3.0, 4.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    assert disparity(reference, reference) == 0.0
    assert disparity(coords, reference) == pytest.approx(5.0 / 4 / np.sqrt(2))
    assert disparity(coords, reference, np.array([False, True, True, True])) == 0.0
    assert disparity(np.zeros((3, 2)), np.zeros((3, 2))) == 0.0
    assert disparity(np.eye(2), np.zeros((2, 2))) == np.inf
    with pytest.raises(ConfigError, match="rows"):
        disparity(coords, reference, np.zeros(4, dtype=bool))


def test_placement_by_hand():
    """With two neighbours at membership 1 each, a copy of the reference puts every sample
    halfway between its own place and its nearest other sample's place."""
    rng = np.random.default_rng(8)
    features, coords = rng.normal(size=(40, 6)), rng.normal(size=(40, 2))
    d = np.linalg.norm(features[:, None] - features[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    expected = (coords + coords[d.argmin(axis=1)]) / 2
    np.testing.assert_allclose(embed(features, reference=(features, coords), n_neighbors=2), expected,
                               atol=1e-5)


def rotated(x, seed):
    """The same features in another basis, scaled and shifted: the same model for UMAP."""
    rng = np.random.default_rng(seed)
    rot = np.linalg.qr(rng.normal(size=(x.shape[1], x.shape[1])))[0]
    return (2.5 * x @ rot + rng.normal(size=x.shape[1])).astype(np.float32)


@pytest.mark.parametrize("seed", range(5))
def test_a_copy_of_the_reference_gets_its_layout(seed):
    """The same features, or the same features in another basis, land where the reference
    has its samples: mean displacement under 10 % of the spread (measured 2-3 %)."""
    x, _ = clustered(seed=seed)
    coords = embed(x, seed=seed)
    for copy in (x, rotated(x, seed)):
        placed = embed(copy, reference=(x, coords), seed=seed)
        assert placed.dtype == np.float32 and placed.shape == coords.shape
        assert disparity(placed, coords) < 0.1


@pytest.mark.parametrize("seed", range(5))
def test_a_group_that_became_another_lands_with_it(seed):
    """Class 0's features became class 1's (plus noise, in another basis): class 0 lands
    on class 1, far from its old place (measured 0.01-0.03 of it), and the classes that did
    not change stay in place (measured 2-3 % of the spread)."""
    x, labels = clustered(seed=seed)
    coords = embed(x, seed=seed)
    changed = x.copy()
    noise = np.random.default_rng(100 + seed).normal(size=x[labels == 1].shape)
    changed[labels == 0] = x[labels == 1] + noise.astype(np.float32)
    after = embed(rotated(changed, seed), reference=(x, coords), seed=seed)
    gone = np.linalg.norm(after[labels == 0] - after[labels == 1].mean(axis=0), axis=1).mean()
    stayed = np.linalg.norm(after[labels == 0] - coords[labels == 0].mean(axis=0), axis=1).mean()
    assert gone < 0.3 * stayed
    assert disparity(after, coords, labels != 0) < 0.1


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
    np.testing.assert_allclose(embed(np.ones((1, 8)), reference=(np.zeros((1, 8)), [[5.0, -2.0]])),
                               [[5.0, -2.0]])


def test_identical_features_put_every_sample_on_one_point():
    """A collapsed model (same features for every sample) must not give NaN."""
    np.testing.assert_array_equal(embed(np.ones((30, 64))), np.zeros((30, 2), np.float32))
    rng = np.random.default_rng(5)
    reference = (rng.normal(size=(30, 64)), rng.normal(size=(30, 2)))
    placed = embed(np.ones((30, 64)), reference=reference)
    assert np.isfinite(placed).all() and (placed == placed[0]).all()
    assert (placed[0] >= reference[1].min(axis=0)).all() and (placed[0] <= reference[1].max(axis=0)).all()


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
        (np.zeros((12, 4)), np.zeros((12, 2)), r"\(features, coords\) pair.*ndarray"),
        (np.zeros((12, 4)), (np.zeros((12, 4)), np.zeros((12, 3))), r"\(12, 2\).*\(12, 3\)"),
        (np.zeros((12, 4)), (np.zeros((12, 4)), np.zeros((11, 2))), r"\(12, 2\).*\(11, 2\)"),
        (np.zeros((12, 4)), (np.zeros((12, 5)), np.zeros((12, 2))), r"\(12, 4\).*\(12, 5\)"),
        (np.zeros((12, 4)), (np.full((12, 4), np.inf), np.zeros((12, 2))), "reference features.*finite"),
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
