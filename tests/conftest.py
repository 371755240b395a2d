import os

import numpy as np
import pytest
import torch

import mucomp_widget as mu

# `make test` runs the suite again with one torch thread: results may differ across thread
# counts, so no test may depend on one thread count's numbers.
if os.environ.get("MUCOMP_TEST_THREADS"):
    torch.set_num_threads(int(os.environ["MUCOMP_TEST_THREADS"]))


@pytest.fixture(autouse=True, scope="session")
def _no_writes_to_home(tmp_path_factory):
    """Studies that do not name a workdir cache models here, not in ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MUCOMP_HOME", str(tmp_path_factory.mktemp("mucomp-home")))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _restore_method_registry():
    """Methods a test registers are gone after it, pass or fail."""
    from mucomp_widget.methods import registry

    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


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
def _class3(digits, workdir):
    study = mu.Study(digits, mu.forget.classes(3), workdir=workdir, progress=False).prepare()
    for name in ("ft", "ga", "rl", "scrub", "salun"):
        study.unlearn(name)
    return study


@pytest.fixture
def class3_study(_class3):
    """Digits, class 3 forgotten, with one run of every built-in method at its defaults.

    Built once per session and shared, so it is put back as it was after every test, pass
    or fail: runs a test added are deleted, replaced reference models and listeners restored.
    """
    study = _class3
    runs, listeners = dict(study._runs), list(study._listeners)
    refs = {k: (study._runs[k], study._weights[k], study._outputs[k]) for k in ("original", "retrain")}
    yield study
    study._listeners[:] = listeners
    for rid in [r for r in study._runs if r not in runs]:
        study.delete(rid)
    changed = [k for k, (run, _, _) in refs.items() if study._runs.get(k) is not run]
    for k in changed:
        study._runs[k], study._weights[k], study._outputs[k] = refs[k]
        study._embeddings.clear()
    if changed:
        for rid in study._runs:
            study._score(rid)


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
