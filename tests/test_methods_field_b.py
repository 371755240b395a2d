"""SSD and Boundary Shrink: the papers' rules on tiny fixed inputs, the class-wise-only
guard, hyperparameter checks, and the digits defaults forgetting class 3.

Transcriptions are written here from the papers' code:
- SSD (github.com/if-loops/selective-synaptic-dampening): ``ParameterPerturber.calc_importance``
  and ``modify_weight`` in ``src/ssd.py``, loaders of ``src/forget_full_class_main.py``;
- Boundary Shrink (github.com/TY-LEE-KR/Boundary-Unlearning-Code): ``boundary_shrink`` in
  ``boundary_unlearning.py``, ``FGSM``/``LinfPGD``/``clamper`` in ``adv_generator.py``
  (with the data's own mean/std where that code hard-codes CIFAR constants).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mucomp_widget as mu
from mucomp_widget.errors import ConfigError
from mucomp_widget.loaders import DeviceData
from mucomp_widget.methods import boundary_shrink as bs_module
from mucomp_widget.methods.registry import RunContext, get_method, register_method
from tests import tiny
from tests.tiny import CLASSES, FORGET, ours

N_FORGET = 24


def tiny_images(seed: int, n_retain: int = 40) -> DeviceData:
    """uint8 3x4x4 images of 4 classes; the first N_FORGET training samples are class 1.
    Each class brightens its own pixel row, on noise."""
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(N_FORGET, FORGET), rng.choice([0, 2, 3], n_retain)])
    x = rng.integers(0, 120, size=(len(y), 3, 4, 4))
    for i, c in enumerate(y):
        x[i, :, c, :] += 100
    x = x.astype(np.uint8)
    ds = mu.datasets.from_arrays(x, y, x[:8], y[:8], name="tiny-images")
    return DeviceData(ds, torch.device("cpu"))


def tiny_cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, CLASSES))


def loaders(data: DeviceData, batch_size: int, seed: int):
    return tiny.loaders(data, batch_size, seed, n_forget=N_FORGET)


def pretrained(seed: int, data: DeviceData) -> nn.Module:
    """A tiny CNN trained a little on all the data, so gradients are those of a fitted model."""
    model = tiny_cnn(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = data.batch("train", torch.arange(len(data.labels("train"))))
    model.train()
    for _ in range(30):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


# ------------------------------------------------------------------------------ SSD


def paper_importance(model, batches):
    """calc_importance: eval mode; per batch, zero the grads, mean CE, backward, add grad**2;
    divide by the number of batches."""
    imp = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    model.eval()
    for x, y in batches:
        for p in model.parameters():
            p.grad = None
        F.cross_entropy(model(x), y).backward()
        for n, p in model.named_parameters():
            imp[n] += p.grad.detach() ** 2
    return {n: v / len(batches) for n, v in imp.items()}


def paper_batches(data, idx, batch_size):
    """An unshuffled DataLoader over ``idx`` in the given order."""
    return [data.batch("train", torch.from_numpy(idx[i:i + batch_size]))
            for i in range(0, len(idx), batch_size)]


@pytest.mark.parametrize("seed, alpha, lam, forget_classes", [
    (0, 1.5, 1.0, (FORGET,)), (1, 1.2, 0.5, (FORGET,)), (2, 1.3, 4.0, (FORGET,)), (0, 1.5, 1.0, ()),
])
def test_ssd_dampens_exactly_the_papers_selection(seed, alpha, lam, forget_classes):
    data = tiny_images(seed)
    start = pretrained(seed, data)
    mine = ours("ssd", copy.deepcopy(start), *loaders(data, 8, seed), seed,
                forget_classes=forget_classes, alpha=alpha, lam=lam, batch_size=8)

    # The paper's loaders: forget set and full set (retain, then forget) unshuffled; its
    # full-class script builds both class by class, its random script in sample order.
    labels = data.labels("train").numpy()
    forget_idx, retain_idx = np.arange(N_FORGET), np.arange(N_FORGET, len(labels))
    if forget_classes:
        retain_idx = retain_idx[np.argsort(labels[retain_idx], kind="stable")]
    model = copy.deepcopy(start)
    f_imp = paper_importance(model, paper_batches(data, forget_idx, 8))
    full_idx = np.concatenate([retain_idx, forget_idx])
    o_imp = paper_importance(model, paper_batches(data, full_idx, 8))

    selected = clipped = untouched = 0
    for (name, p0), p in zip(start.named_parameters(), mine.parameters()):
        w0, w = p0.detach().double().numpy(), p.detach().double().numpy()
        f, o = f_imp[name].double().numpy(), o_imp[name].double().numpy()
        chosen = f > alpha * o
        expect = w0.copy()
        expect[chosen] = w0[chosen] * np.minimum(lam * o[chosen] / f[chosen], 1.0)
        np.testing.assert_allclose(w, expect, rtol=1e-4, atol=1e-7, err_msg=name)
        # weights below the selection threshold are not touched at all (away from the
        # threshold itself, where float rounding may decide)
        clear = f < 0.999 * alpha * o
        assert np.array_equal(w[clear], w0[clear]), name
        sure = f > 1.001 * alpha * o
        selected += int(sure.sum())
        clipped += int((sure & (lam * o >= 1.001 * f)).sum())
        untouched += int(clear.sum())
    assert selected > 0 and untouched > 0  # the test has teeth both ways
    if lam > alpha:
        assert clipped > 0  # min(., 1) was exercised
    # BatchNorm statistics are not parameters: left as they were
    for key in ("1.running_mean", "1.running_var"):
        assert torch.equal(mine.state_dict()[key], start.state_dict()[key])


def test_ssd_ignores_epochs_and_lr():
    data = tiny_images(0)
    start = pretrained(0, data)
    a = ours("ssd", copy.deepcopy(start), *loaders(data, 8, 0), 0, alpha=1.5)
    b = ours("ssd", copy.deepcopy(start), *loaders(data, 8, 0), 0, alpha=1.5, epochs=7, lr=3.0)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert any(not torch.equal(v, start.state_dict()[k]) for k, v in a.state_dict().items())


# ------------------------------------------------------------------------------ Boundary Shrink


def paper_attack(model, x, y, mean, std, *, bound, step, iters):
    """FGSM.perturb (iters=1, step=bound) / LinfPGD.perturb (no random start) with clamper:
    step in pixel space, clip the change to +-bound, clamp to [0, 1], round to 1/255."""
    mean, std = torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)
    x_nat = x * std + mean
    x_adv = x.detach().clone().requires_grad_(True)
    for _ in range(iters):
        model.zero_grad()
        F.cross_entropy(model(x_adv), y).backward()
        moved = x_adv.detach() * std + mean + x_adv.grad.sign() * step
        delta = torch.clamp(moved - x_nat, -bound, bound)
        pixels = torch.round(torch.clamp(x_nat + delta, 0.0, 1.0) * 255) / 255
        x_adv = ((pixels - mean) / std).requires_grad_(True)
    with torch.no_grad():
        return model(x_adv).argmax(dim=1)


@pytest.mark.parametrize("seed, attack, bound, step, iters", [
    (0, "fgsm", 0.1, None, 1), (1, "fgsm", 0.2, None, 1), (0, "pgd", 0.15, 0.05, 5),
    (2, "pgd", 0.3, 8 / 255, 4),
])
def test_boundary_labels_are_the_papers_nearest_classes(seed, attack, bound, step, iters):
    data = tiny_images(seed)
    frozen = pretrained(seed, data)
    forget, _ = loaders(data, 64, seed)
    x, y = next(iter(forget))
    ds = data.dataset
    got = bs_module.nearest_labels(frozen, x, y, bs_module.PixelSpace(forget), attack=attack,
                                   bound=bound, step=step or 0.0, iters=iters)
    want = paper_attack(copy.deepcopy(frozen), x, y, ds.mean, ds.std, bound=bound,
                        step=bound if attack == "fgsm" else step, iters=iters)
    assert torch.equal(got, want)
    assert (got != y).any()  # the attack crosses boundaries: the test has teeth


@pytest.mark.parametrize("seed, attack", [(0, "fgsm"), (1, "pgd"), (2, "fgsm")])
def test_boundary_shrink_is_the_papers_update(seed, attack):
    """Two epochs of three forget batches: the labels come from the frozen original model,
    SGD with momentum 0.9 (no weight decay) on the clean batches, train mode."""
    data = tiny_images(seed)
    start = pretrained(seed, data)
    hp = dict(epochs=2, lr=0.05, attack=attack, bound=0.2, step=0.06, iters=3, batch_size=8)
    mine = ours("boundary_shrink", copy.deepcopy(start), *loaders(data, 8, seed), seed, **hp)

    forget, _ = loaders(data, 8, seed)
    ds = data.dataset
    test_model, model = copy.deepcopy(start).eval(), copy.deepcopy(start)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    relabelled = 0
    for _ in range(2):
        for x, y in forget:
            target = paper_attack(test_model, x, y, ds.mean, ds.std, bound=0.2,
                                  step=0.2 if attack == "fgsm" else 0.06,
                                  iters=1 if attack == "fgsm" else 3)
            relabelled += int((target != y).sum())
            model.train()
            opt.zero_grad()
            F.cross_entropy(model(x), target).backward()
            opt.step()
    assert relabelled > 0
    sa, sb, s0 = mine.state_dict(), model.state_dict(), start.state_dict()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=1e-4, atol=1e-5, msg=lambda m: f"{k}: {m}")
    assert max(float((sa[k].float() - s0[k].float()).abs().max()) for k in sa) > 1e-3


def test_boundary_shrink_refuses_sample_wise_forgetting_before_touching_the_model():
    data = tiny_images(0)
    model = tiny_cnn(0)
    before = copy.deepcopy(model.state_dict())
    calls = []
    model.register_forward_pre_hook(lambda *_: calls.append(1))
    ctx = RunContext(device=torch.device("cpu"), seed=0, num_classes=CLASSES,
                     forget_classes=(), epochs=1)
    fn = get_method("boundary_shrink").fn
    with pytest.raises(ConfigError, match=r"boundary_shrink.*mu\.forget\.classes"):
        fn(model, *loaders(data, 8, 0), epochs=1, lr=0.1, attack="fgsm", bound=0.1,
           step=0.03, iters=1, momentum=0.9, weight_decay=0.0, ctx=ctx)
    assert calls == []
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_class_only_scope_is_declared_and_checked():
    assert get_method("boundary_shrink").scope == "class"
    assert get_method("ssd").scope == "any"
    with pytest.raises(ConfigError, match="scope"):
        register_method("bad_scope", scope="classes")(lambda model, f, r, **hp: model)

    ran = []

    @register_method("class_only_probe", scope="class")
    def probe(model, forget_loader, retain_loader, **hp):
        ran.append(1)
        return model

    data = tiny_images(0)
    with pytest.raises(ConfigError, match="class_only_probe"):
        ours("class_only_probe", tiny_cnn(0), *loaders(data, 8, 0), 0, forget_classes=())
    assert ran == []
    ours("class_only_probe", tiny_cnn(0), *loaders(data, 8, 0), 0)
    assert ran == [1]


# ------------------------------------------------------------------------------ studies


@pytest.mark.parametrize("method", ["ssd", "boundary_shrink"])
def test_digits_defaults_forget_class_3(make_study, method):
    study = make_study()
    run = study.unlearn(method)
    assert run.metrics["UA"] <= 0.2, run.metrics
    assert run.metrics["RA"] >= 0.95, run.metrics


def test_boundary_shrink_on_random_forgetting_raises_and_adds_no_run(make_study):
    study = make_study(mu.forget.random(fraction=0.1, seed=0))
    before = list(study._runs)
    with pytest.raises(ConfigError, match=r"boundary_shrink.*mu\.forget\.classes"):
        study.unlearn("boundary_shrink")
    assert list(study._runs) == before


@pytest.mark.parametrize("method, bad", [
    ("ssd", {"alpha": 0}), ("ssd", {"alpha": -1.0}), ("ssd", {"lam": 0.0}),
    ("ssd", {"alpha": "10"}), ("ssd", {"lam": float("nan")}),
    ("boundary_shrink", {"bound": 0.0}), ("boundary_shrink", {"attack": "cw"}),
    ("boundary_shrink", {"iters": 0}), ("boundary_shrink", {"iters": 2.5}),
    ("boundary_shrink", {"step": -0.1}), ("boundary_shrink", {"momentum": 1.0}),
    ("boundary_shrink", {"weight_decay": -1e-4}),
])
def test_bad_hyperparameters_raise_config_error(make_study, method, bad):
    study = make_study()
    before = list(study._runs)
    (key, value), = bad.items()
    with pytest.raises(ConfigError, match=key):
        study.unlearn(method, **bad)
    assert list(study._runs) == before
