import numpy as np
import pytest

import mucomp_widget as mu
from mucomp_widget.errors import ForgetSetError, MucompError

Y_TRAIN = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 3])
Y_TEST = np.array([0, 1, 2, 3, 3])


def test_single_class_splits_train_and_test():
    s = mu.forget.classes(1).resolve(Y_TRAIN, Y_TEST, 4)
    assert s.forget_train.tolist() == [1, 4, 7]
    assert s.retain_train.tolist() == [0, 2, 3, 5, 6, 8, 9]
    assert s.forget_test.tolist() == [1]
    assert s.retain_test.tolist() == [0, 2, 3, 4]
    assert s.forget_classes == (1,) and s.classwise


def test_several_classes():
    s = mu.forget.classes([2, 0]).resolve(Y_TRAIN, Y_TEST, 4)
    assert s.forget_classes == (0, 2)
    assert sorted(Y_TRAIN[s.forget_train]) == [0, 0, 0, 2, 2, 2]
    assert set(Y_TRAIN[s.retain_train]) == {1, 3}


def test_random_fraction_is_seeded_and_disjoint():
    y = np.arange(1000) % 10
    a = mu.forget.random(fraction=0.1, seed=4).resolve(y, y[:10], 10)
    b = mu.forget.random(fraction=0.1, seed=4).resolve(y, y[:10], 10)
    c = mu.forget.random(fraction=0.1, seed=5).resolve(y, y[:10], 10)
    assert len(a.forget_train) == 100 and len(a.retain_train) == 900
    assert np.array_equal(a.forget_train, b.forget_train)
    assert not np.array_equal(a.forget_train, c.forget_train)
    assert not np.intersect1d(a.forget_train, a.retain_train).size
    assert a.forget_classes == () and not a.classwise
    assert len(a.forget_test) == 0 and len(a.retain_test) == 10


def test_random_count_and_indices():
    s = mu.forget.random(count=3, seed=0).resolve(Y_TRAIN, Y_TEST, 4)
    assert len(s.forget_train) == 3
    s = mu.forget.indices([7, 2, 2]).resolve(Y_TRAIN, Y_TEST, 4)
    assert s.forget_train.tolist() == [2, 7]
    assert len(s.retain_train) == 8


@pytest.mark.parametrize("make, match", [
    (lambda: mu.forget.classes(7).resolve(Y_TRAIN, Y_TEST, 4), "out of range.*0..3"),
    (lambda: mu.forget.classes(-1).resolve(Y_TRAIN, Y_TEST, 4), "out of range"),
    (lambda: mu.forget.classes([]), "at least one class"),
    (lambda: mu.forget.classes("3"), "integers"),
    (lambda: mu.forget.classes([0, 1, 2, 3]).resolve(Y_TRAIN, Y_TEST, 4), "every class"),
    (lambda: mu.forget.classes(3).resolve(Y_TRAIN[:9], Y_TEST, 4), "no training samples"),
    (lambda: mu.forget.random(fraction=0.0), r"between 0 and 1.*0\.0"),
    (lambda: mu.forget.random(fraction=1.0), "between 0 and 1"),
    (lambda: mu.forget.random(fraction=1.5), "1.5"),
    (lambda: mu.forget.random(), "exactly one"),
    (lambda: mu.forget.random(fraction=0.1, count=3), "exactly one"),
    (lambda: mu.forget.random(count=0), "positive integer"),
    (lambda: mu.forget.random(count=10).resolve(Y_TRAIN, Y_TEST, 4), "nothing to retain"),
    (lambda: mu.forget.random(fraction=0.01).resolve(Y_TRAIN, Y_TEST, 4), "empty forget set"),
    (lambda: mu.forget.indices([]), "at least one"),
    (lambda: mu.forget.indices([3, 10]).resolve(Y_TRAIN, Y_TEST, 4), "index 10 is out of range"),
    (lambda: mu.forget.indices(range(10)).resolve(Y_TRAIN, Y_TEST, 4), "all 10"),
])
def test_bad_forget_sets_raise_clear_errors(make, match):
    with pytest.raises(ForgetSetError, match=match) as info:
        make()
    assert isinstance(info.value, MucompError)


@pytest.mark.parametrize("spec", [
    mu.forget.classes([3, 5]), mu.forget.random(fraction=0.2, seed=3),
    mu.forget.random(count=7), mu.forget.indices([1, 4]),
])
def test_specs_round_trip_through_dicts(spec):
    again = mu.forget.from_dict(spec.to_dict())
    assert again == spec and again.key() == spec.key()
