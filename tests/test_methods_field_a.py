"""NegGrad+, l1-sparse and Bad Teacher: the paper code's updates, their checks, and their
digits presets.

The update tests run a method through the public path (registered defaults and
constraints, ``invoke``) and, on a copy of the same tiny model and loaders seeded alike, a
step-by-step transcription of the paper's code, written here from its source:

- NegGrad+ (github.com/meghdadk/SCRUB): ``negative_grad`` and ``run_neggrad_epoch`` of
  ``small_scale_unlearning.ipynb``; ``train_negrad`` of ``thirdparty/repdistiller/helper/loops.py``;
- l1-sparse (github.com/OPTML-Group/Unlearn-Sparse): ``FT_iter(with_l1=True)`` of
  ``unlearn/FT.py`` inside ``_iterative_unlearn_impl`` of ``unlearn/impl.py``;
- Bad Teacher (github.com/vikram2000b/bad-teaching-unlearning): ``UnlearnerLoss`` and
  ``unlearning_step`` of ``unlearn.py``, with ``UnLearningData``'s forget/retain flags.

Float32 on the CPU; the two sides run the same operations, compared with a tolerance.
"""

from __future__ import annotations

import copy
import itertools
import sys
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mucomp_widget as mu
from mucomp_widget.errors import ConfigError
from mucomp_widget.methods.bad_teacher import incompetent_teacher
from mucomp_widget.methods.l1_sparse import l1_weight
from mucomp_widget.methods.registry import get_method
from tests.tiny import CLASSES, assert_same_model, loaders, ours, tiny_data

METHODS = ("neggrad_plus", "l1_sparse", "bad_teacher")


def build_tiny() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, CLASSES))


def tiny_model(seed: int) -> nn.Module:
    """A tiny model with BatchNorm, its statistics moved off their initial values."""
    torch.manual_seed(seed)
    model = build_tiny()
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(32, 6) * 2 + 1)
    return model.eval()


# ------------------------------------------------------------------------------ registration


def test_registered_defaults_are_the_papers():
    assert get_method("neggrad_plus").defaults == {
        "epochs": 10, "lr": 0.01, "batch_size": 128, "forget_batch_size": 64, "alpha": 0.95,
        "prox": 5e-4, "train_mode": False}
    assert get_method("l1_sparse").defaults == {"epochs": 10, "lr": 0.01, "batch_size": 256,
                                                "alpha": 1e-4}
    assert get_method("bad_teacher").defaults == {"epochs": 1, "lr": 1e-4, "batch_size": 256,
                                                  "kd_t": 1.0, "retain_share": 0.3}
    for name, venue in zip(METHODS, ("NeurIPS 2023", "NeurIPS 2023", "AAAI 2023")):
        spec = get_method(name)
        assert spec.builtin and spec.doc and name in mu.methods.available()
        assert venue in sys.modules[spec.fn.__module__].__doc__  # the module cites the paper


# ------------------------------------------------------------------------------ NegGrad+


def l2_penalty(model, model_init, weight_decay):
    """The notebook's l2_penalty: (wd / 2) * squared distance to the starting weights."""
    l2_loss = 0
    for (_, p), (_, p_init) in zip(model.named_parameters(), model_init.named_parameters()):
        if p.requires_grad:
            l2_loss += (p - p_init).pow(2).sum()
    l2_loss *= weight_decay / 2.0
    return l2_loss


@pytest.mark.parametrize("seed, batch_size, forget_batch_size, prox", [
    (0, 6, 8, 5e-4),   # 7 retain batches, 4 forget batches: the forget batches cycle
    (1, 8, 4, 0.1),    # 5 retain batches, 7 forget batches: the last forget batches unused
    (2, 16, 64, 0.1),  # the notebook's 128/64 ratio inverted: one forget batch of 26
])
def test_neggrad_plus_is_the_small_scale_notebook_update(seed, batch_size, forget_batch_size, prox):
    data = tiny_data(seed)
    start = tiny_model(seed)
    mine = ours("neggrad_plus", copy.deepcopy(start), *loaders(data, batch_size, seed), seed,
                epochs=3, lr=0.05, batch_size=batch_size, forget_batch_size=forget_batch_size,
                prox=prox)

    model = copy.deepcopy(start)
    forget_loader, retain_loader = loaders(data, batch_size, seed, forget_batch_size=forget_batch_size)
    alpha = 0.95
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=0.0)
    model_init = copy.deepcopy(model)
    for _ in range(3):  # negative_grad -> run_neggrad_epoch
        model.eval()
        for batch_retain, batch_forget in zip(retain_loader, itertools.cycle(forget_loader)):
            input_r, target_r = batch_retain
            input_f, target_f = batch_forget
            output_r = model(input_r)
            output_f = model(input_f)
            loss = (alpha * (loss_fn(output_r, target_r) + l2_penalty(model, model_init, prox))
                    - (1 - alpha) * loss_fn(output_f, target_f))
            model.zero_grad()
            loss.backward()
            optimizer.step()
    assert_same_model(mine, model, start)
    for k in ("1.running_mean", "1.running_var"):  # eval mode: statistics untouched
        assert torch.equal(mine.state_dict()[k], start.state_dict()[k])


@pytest.mark.parametrize("seed", [0, 3])
def test_neggrad_plus_in_train_mode_without_prox_is_train_negrad(seed):
    data = tiny_data(seed)
    start = tiny_model(seed)
    mine = ours("neggrad_plus", copy.deepcopy(start), *loaders(data, 8, seed), seed,
                epochs=2, lr=0.05, batch_size=8, forget_batch_size=6, alpha=0.9, prox=0,
                train_mode=True)

    model = copy.deepcopy(start)
    forget_loader, retain_loader = loaders(data, 8, seed, forget_batch_size=6)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=0.0)
    for _ in range(2):  # train_negrad
        model.train()
        for (inp, target), (del_input, del_target) in zip(retain_loader, itertools.cycle(forget_loader)):
            output = model(inp)
            del_output = model(del_input)
            loss = 0.9 * criterion(output, target) - 0.1 * criterion(del_output, del_target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    assert_same_model(mine, model, start)
    assert not torch.equal(mine.state_dict()["1.running_mean"], start.state_dict()["1.running_mean"])


# ------------------------------------------------------------------------------ l1-sparse


def l1_regularization(model):
    return torch.linalg.norm(torch.cat([p.view(-1) for p in model.parameters()]), ord=1)


@pytest.mark.parametrize("seed, epochs", [(0, 3), (1, 4)])
def test_l1_sparse_is_the_paper_code_update(seed, epochs):
    data = tiny_data(seed)
    start = tiny_model(seed)
    mine = ours("l1_sparse", copy.deepcopy(start), *loaders(data, 8, seed), seed,
                epochs=epochs, lr=0.05, batch_size=8, alpha=0.01)

    model = copy.deepcopy(start)
    _, train_loader = loaders(data, 8, seed)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), 0.05, momentum=0.9, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[91, 136], gamma=0.1)
    no_l1_epochs = 0
    for epoch in range(epochs):  # _iterative_unlearn_impl -> FT_iter(with_l1=True)
        model.train()
        for image, target in train_loader:
            if epoch < epochs - no_l1_epochs:
                current_alpha = 0.01 * (1 - epoch / (epochs - no_l1_epochs))
            else:
                current_alpha = 0
            output_clean = model(image)
            loss = criterion(output_clean, target)
            loss += current_alpha * l1_regularization(model)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
    assert_same_model(mine, model, start)

    # The penalty matters here: without it the weights end elsewhere.
    plain = ours("l1_sparse", copy.deepcopy(start), *loaders(data, 8, seed), seed,
                 epochs=epochs, lr=0.05, batch_size=8, alpha=0.0)
    assert max(float((plain.state_dict()[k] - mine.state_dict()[k]).abs().max())
               for k in mine.state_dict()) > 1e-3


def test_l1_weight_steps_down_linearly_once_per_epoch():
    weights = [l1_weight(1e-4, e, 10) for e in range(10)]
    assert weights[0] == pytest.approx(1e-4)
    assert weights[-1] == pytest.approx(1e-5)
    assert np.allclose(np.diff(weights), -1e-5)


# ------------------------------------------------------------------------------ Bad Teacher


def unlearner_loss(output, labels, full_teacher_logits, unlearn_teacher_logits, kl_temperature):
    """UnlearnerLoss: torch's default reduction ('mean' over every element)."""
    labels = torch.unsqueeze(labels, dim=1)
    f_teacher_out = F.softmax(full_teacher_logits / kl_temperature, dim=1)
    u_teacher_out = F.softmax(unlearn_teacher_logits / kl_temperature, dim=1)
    overall_teacher_out = labels * u_teacher_out + (1 - labels) * f_teacher_out
    student_out = F.log_softmax(output / kl_temperature, dim=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that 'mean' is not 'batchmean'
        return F.kl_div(student_out, overall_teacher_out)


def test_incompetent_teacher_is_a_newly_built_model_under_the_seed():
    start = tiny_model(0)
    teacher = incompetent_teacher(start, 123, torch.device("cpu"))
    torch.manual_seed(123)
    fresh = build_tiny().eval()  # the paper's "ResNet18(pretrained=False)" for this model
    for k, v in fresh.state_dict().items():
        assert torch.equal(teacher.state_dict()[k], v), k
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    again = incompetent_teacher(start, 123, torch.device("cpu"))
    other = incompetent_teacher(start, 124, torch.device("cpu"))
    assert all(torch.equal(again.state_dict()[k], v) for k, v in teacher.state_dict().items())
    assert not torch.equal(other.state_dict()["0.weight"], teacher.state_dict()["0.weight"])
    assert not torch.equal(start.state_dict()["0.weight"], teacher.state_dict()["0.weight"])
    assert torch.equal(start.state_dict()["0.weight"], tiny_model(0).state_dict()["0.weight"])


@pytest.mark.parametrize("seed, batch_size, retain_share, kd_t", [
    (0, 8, 0.3, 1.0), (1, 16, 0.5, 2.0), (2, 8, 1.0, 1.0)])
def test_bad_teacher_given_the_same_batches_is_the_paper_update(seed, batch_size, retain_share, kd_t):
    """The batches (forget samples and the retain subset, shuffled together) are recorded
    from our run and replayed through the paper's step; which sample is a forget sample is
    read off the inputs."""
    data = tiny_data(seed)
    start = tiny_model(seed)
    recorded = []
    model = copy.deepcopy(start)
    # The teachers are copies of this model (hook included) in eval mode; record the student.
    model.register_forward_pre_hook(lambda m, args: recorded.append(args[0].clone()) if m.training else None)
    mine = ours("bad_teacher", model, *loaders(data, batch_size, seed), seed,
                epochs=2, lr=0.01, batch_size=batch_size, retain_share=retain_share, kd_t=kd_t)

    forget_x = data.batch("train", torch.arange(26))[0]
    retain_x = data.batch("train", torch.arange(26, 66))[0]

    def nearest(x, pool):  # distance from each row of x to the closest row of pool
        return ((x[:, None, :] - pool[None, :, :]) ** 2).sum(-1).min(dim=1).values

    def flags(x):
        return (nearest(x, forget_x) == 0).float()

    n_subset = int(retain_share * 40)
    per_epoch = -(-(26 + n_subset) // batch_size)
    assert len(recorded) == 2 * per_epoch
    for epoch in range(2):  # every forget sample once, and the same retain subset, per epoch
        xs = torch.cat(recorded[epoch * per_epoch:(epoch + 1) * per_epoch])
        f = flags(xs).bool()
        assert int(f.sum()) == 26 and len(xs) == 26 + n_subset
        assert nearest(xs[~f], retain_x).max() == 0
        if epoch == 0:
            subset = xs[~f]
        else:
            assert nearest(xs[~f], subset).max() == 0

    # The incompetent teacher: a new model seeded by the run generator's first draw.
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(int(torch.randint(2**62, (1,), generator=g)))
    unlearning_teacher = build_tiny().eval()
    full_trained_teacher = copy.deepcopy(start).eval()
    student = copy.deepcopy(start).train()
    optimizer = torch.optim.Adam(student.parameters(), lr=0.01)
    for x in recorded:  # blindspot_unlearner -> unlearning_step
        y = flags(x)
        with torch.no_grad():
            full_teacher_logits = full_trained_teacher(x)
            unlearn_teacher_logits = unlearning_teacher(x)
        output = student(x)
        optimizer.zero_grad()
        loss = unlearner_loss(output, y, full_teacher_logits, unlearn_teacher_logits, kd_t)
        loss.backward()
        optimizer.step()
    assert_same_model(mine, student, start)


# ------------------------------------------------------------------------------ digits


@pytest.mark.parametrize("method", METHODS)
def test_digits_defaults_forget_class3_and_keep_the_rest(make_study, method):
    study = make_study()
    run = study.unlearn(method)
    assert run.hyperparameters == {**get_method(method).defaults,
                                   **study.dataset.method_defaults[method]}
    assert run.metrics["UA"] <= 0.2, f"{method} did not forget class 3: {run.metrics}"
    assert run.metrics["RA"] >= 0.95, f"{method} broke the retained classes: {run.metrics}"
    assert len(run.losses) == run.hyperparameters["epochs"] and np.isfinite(run.losses).all()


@pytest.mark.parametrize("method, hp, match", [
    ("neggrad_plus", {"alpha": 1.5}, "alpha must be a number >= 0 and <= 1, got 1.5"),
    ("neggrad_plus", {"alpha": -0.1}, "alpha must be a number >= 0 and <= 1"),
    ("neggrad_plus", {"forget_batch_size": 0}, "forget_batch_size must be an integer >= 1, got 0"),
    ("neggrad_plus", {"prox": -1e-4}, "prox must be a number >= 0"),
    ("neggrad_plus", {"train_mode": 1}, "train_mode must be True or False, got 1"),
    ("neggrad_plus", {"retain_share": 0.3}, "'neggrad_plus' has no hyperparameter 'retain_share'"),
    ("l1_sparse", {"alpha": -1e-4}, "alpha must be a number >= 0"),
    ("l1_sparse", {"alpha": float("nan")}, "alpha must be a number >= 0"),
    ("l1_sparse", {"epochs": 0}, "epochs must be an integer >= 1, got 0"),
    ("bad_teacher", {"kd_t": 0}, "kd_t must be a number > 0, got 0"),
    ("bad_teacher", {"retain_share": 0}, "retain_share must be a number > 0 and <= 1, got 0"),
    ("bad_teacher", {"retain_share": 1.2}, "retain_share must be a number > 0 and <= 1"),
    ("bad_teacher", {"lr": 0}, "lr must be a number > 0, got 0"),
    ("bad_teacher", {"temperature": 2.0}, "'bad_teacher' has no hyperparameter 'temperature'"),
])
def test_bad_hyperparameters_raise_before_running(make_study, method, hp, match):
    study = make_study()
    before = list(study._runs)
    with pytest.raises(ConfigError, match=match):
        study.unlearn(method, **hp)
    assert list(study._runs) == before
