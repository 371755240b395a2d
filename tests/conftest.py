import numpy as np
import pytest

import mucomp_widget as mu


@pytest.fixture(autouse=True, scope="session")
def _no_writes_to_home(tmp_path_factory):
    """Studies that do not name a workdir cache models here, not in ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MUCOMP_HOME", str(tmp_path_factory.mktemp("mucomp-home")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def digits():
    return mu.datasets.digits()


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    """A model cache shared by the whole session, so each Original/Retrain trains once."""
    return tmp_path_factory.mktemp("mucomp-cache")


@pytest.fixture
def make_study(digits, workdir):
    def make(forget=None, **kw):
        kw.setdefault("workdir", workdir)
        kw.setdefault("progress", False)
        return mu.Study(kw.pop("dataset", digits), forget if forget is not None else mu.forget.classes(3), **kw)
    return make


@pytest.fixture(scope="session")
def class3_study(digits, workdir):
    """Digits, class 3 forgotten, with one run of every built-in method at its defaults."""
    study = mu.Study(digits, mu.forget.classes(3), workdir=workdir, progress=False)
    for name in ("ft", "ga", "rl", "scrub", "salun"):
        study.unlearn(name)
    return study


def tiny_arrays(n_train=120, n_test=40, k=3, shape=(1, 8, 8), seed=0):
    """Separable synthetic images: class c has a bright patch at position c."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = np.arange(n) % k
        x = rng.integers(0, 40, size=(n, *shape)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, :, c * 2:(c * 2) + 2, :] = 250
        return x, y

    return (*make(n_train), *make(n_test))
