"""The GPU path on a CPU (issue 11): every CUDA-only branch forced where torch allows it,
the fast CIFAR-10 recipe, the core without umap/anywidget, and benchmarks/gpu_check.py."""

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import mucomp_widget as mu
from mucomp_widget import training
from mucomp_widget.errors import ConfigError
from mucomp_widget.loaders import DeviceData, TensorLoader
from mucomp_widget.methods.registry import RunContext, available, get_method, invoke, resolve_hyperparameters
from mucomp_widget.models import resnet18, small_cnn
from mucomp_widget.training import (
    Recipe, autocast, can_pin, cudnn_flags, cudnn_settings, device_policy, forced_policy,
    one_cycle, prepare_model, to_device, train_model,
)
from tests.test_datasets import _write_cifar

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
BF16 = {"autocast_dtype": torch.bfloat16, "channels_last": True}
# Makes `import umap`, `import anywidget` and `import ipywidgets` fail in a subprocess.
BLOCK = ("import sys\n"
         "for _name in ('umap', 'anywidget', 'ipywidgets'):\n"
         "    sys.modules[_name] = None\n")


def _env(tmp_path):
    env = dict(os.environ, MUCOMP_HOME=str(tmp_path / "home"), PYTHONPATH="")
    env.setdefault("MUCOMP_TEST_THREADS", str(torch.get_num_threads()))
    return env


def _finite(model):
    return all(torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point())


# ---------------------------------------------------------------------------- the policy


def test_cuda_branches_are_off_on_a_cpu_and_on_for_cuda():
    assert device_policy("cpu") == training.DevicePolicy()  # the default CPU path: nothing changes
    cuda = device_policy("cuda")  # a decision, not a device: answered without a GPU too
    assert cuda.channels_last and cuda.pin_memory and cuda.non_blocking
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    assert cuda.autocast_dtype == (torch.bfloat16 if bf16 else None)


def test_forced_flags_hold_in_their_block_only_and_are_checked():
    with forced_policy(channels_last=True):
        with forced_policy(autocast_dtype=torch.bfloat16) as inner:
            assert inner.channels_last and inner.autocast_dtype == torch.bfloat16
        assert device_policy("cpu") == training.DevicePolicy(channels_last=True)
    assert device_policy("cpu") == training.DevicePolicy()
    with pytest.raises(ConfigError, match="no flag 'channel_last'"):
        with forced_policy(channel_last=True):
            pass
    with pytest.raises(ConfigError, match="autocast_dtype must be None, torch.bfloat16.*float64"):
        with forced_policy(autocast_dtype=torch.float64):
            pass
    with pytest.raises(ConfigError, match="'pin_memory' must be True or False, got 1"):
        with forced_policy(pin_memory=1):
            pass
    assert device_policy("cpu") == training.DevicePolicy()


# ---------------------------------------------------------------------------- bfloat16 autocast


def test_bf16_autocast_runs_on_a_cpu_when_forced(digits):
    layer = torch.nn.Linear(4, 3)
    with autocast(CPU):
        assert layer(torch.randn(2, 4)).dtype == torch.float32  # default: float32 on a CPU
    with forced_policy(autocast_dtype=torch.bfloat16), autocast(CPU):
        assert layer(torch.randn(2, 4)).dtype == torch.bfloat16
    torch.manual_seed(0)
    net = small_cnn(10, 1, 8)
    before = [p.detach().clone() for p in net.parameters()]
    with forced_policy(**BF16):
        data = DeviceData(digits, CPU)
        loader = TensorLoader(data, np.arange(256), 64, shuffle=True, augment=None,
                              generator=torch.Generator().manual_seed(0))
        losses = train_model(prepare_model(net, CPU), loader, Recipe(epochs=2, lr=0.1), CPU)
    assert np.isfinite(losses).all() and losses[1] < losses[0]
    assert _finite(net) and any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


@pytest.fixture(scope="module")
def trained_digits_cnn(digits):
    """A small CNN that fits digits, trained in float32 (a base for the method steps)."""
    torch.manual_seed(0)
    net = small_cnn(10, 1, 8)
    loader = TensorLoader(DeviceData(digits, CPU), np.arange(800), 64, shuffle=True,
                          generator=torch.Generator().manual_seed(0))
    train_model(net, loader, Recipe(epochs=3, lr=0.1), CPU)
    return net


@pytest.mark.parametrize("method", [n for n in available() if get_method(n).builtin])
def test_each_method_steps_finitely_under_bf16_and_channels_last(digits, trained_digits_cnn, method):
    """One epoch of every built-in method in the CUDA configuration (bf16 autocast, NHWC)."""
    ids = np.arange(400)
    y = digits.y_train.numpy()[ids]
    spec = get_method(method)
    hp = resolve_hyperparameters(spec, digits.method_defaults, {"epochs": 1})
    with forced_policy(**BF16, non_blocking=True):
        data = DeviceData(digits, CPU)
        model = prepare_model(copy.deepcopy(trained_digits_cnn), CPU)
        assert model.block1[0].weight.is_contiguous(memory_format=torch.channels_last)
        dtypes = set()
        model.fc.register_forward_hook(lambda _m, _i, out: dtypes.add(out.dtype))
        gen = torch.Generator().manual_seed(0)
        forget = TensorLoader(data, ids[y == 3], hp["batch_size"], shuffle=True, generator=gen)
        retain = TensorLoader(data, ids[y != 3], hp["batch_size"], shuffle=True, generator=gen)
        ctx = RunContext(device=CPU, seed=0, num_classes=10, forget_classes=(3,), epochs=1, method=method)
        with training.seeded(0, CPU):
            result = invoke(spec, model, forget, retain, hp, ctx)  # raises on NaN weights
    assert np.isfinite(result.losses).all() and result.images > 0
    # The forward passes ran under bf16 autocast; SSD's run in float32 by design (methods/ssd.py).
    assert (torch.bfloat16 in dtypes) == (method != "ssd"), dtypes
    changed = [not torch.equal(a, b) for a, b in zip(trained_digits_cnn.state_dict().values(),
                                                        result.model.state_dict().values())]
    assert any(changed)


def test_inference_under_bf16_keeps_float32_grams_and_logits(digits, trained_digits_cnn):
    """On CUDA the inference pass runs in bf16 autocast: Grams and logits must stay float32."""
    from mucomp_widget.evaluation.inference import infer

    study = mu.Study(digits, mu.forget.classes(3), "small_cnn", probe_size=64, cka_size=16, progress=False)
    kw = dict(probe_ids=study.probe_ids, feature_layer="avgpool", gram_sets=study.cka_sets,
              blocks=study.arch.blocks)
    plain = infer(trained_digits_cnn, DeviceData(digits, CPU), **kw)
    with forced_policy(**BF16):
        fast = infer(prepare_model(copy.deepcopy(trained_digits_cnn), CPU), DeviceData(digits, CPU), **kw)
    assert fast.train_logits.dtype == np.float32 and fast.grams.keys() == plain.grams.keys()
    for key, g in fast.grams.items():
        assert g.dtype == np.float32
        assert np.abs(g - plain.grams[key]).max() <= 0.02 * np.abs(plain.grams[key]).max()
    agree = (fast.test_logits.argmax(1) == plain.test_logits.argmax(1)).mean()
    assert agree >= 0.97


def test_a_whole_study_runs_in_the_cuda_configuration(digits, tmp_path):
    """Train, unlearn with an epoch trace, evaluate and tabulate, every CUDA branch forced."""
    small = mu.datasets.from_arrays(digits.x_train[:400], digits.y_train[:400], digits.x_test[:120],
                                    digits.y_test[:120], name="digits-400")
    with forced_policy(**BF16, pin_memory=True, non_blocking=True):
        study = mu.Study(small, mu.forget.classes(3), workdir=tmp_path, progress=False,
                         recipe={"epochs": 4, "batch_size": 64}, probe_size=60, cka_size=20,
                         trace_size=30)
        run = study.unlearn("ft", epochs=1, trace=True)
        res = study.results.set_index("id")
    assert len(run.trace["UA"]) == 2  # the base, then epoch 1
    assert res[["UA", "RA", "TUA", "TRA", "PS", "MIA"]].notna().all().all()
    assert res.loc["original", "TRA"] > 0.5  # it learned in bf16
    assert all(np.isfinite(g).all() for g in run.outputs.grams.values())


# ---------------------------------------------------------------------------- channels_last


@pytest.mark.parametrize("arch", ["resnet18", "small_cnn"])
def test_channels_last_predicts_like_contiguous(arch, tmp_path):
    torch.manual_seed(0)
    net = (resnet18(10, 3) if arch == "resnet18" else small_cnn(10, 3, 32)).eval()
    _write_cifar(tmp_path, per_batch=2, n_test=4)
    ds = mu.datasets.cifar10(tmp_path)
    ids = torch.arange(4)
    x_plain, _ = DeviceData(ds, CPU).batch("test", ids)
    with torch.no_grad():
        plain = net(x_plain)
        with forced_policy(channels_last=True):
            fast_net = prepare_model(net, CPU)
            x_fast, _ = DeviceData(ds, CPU).batch("test", ids)
            fast = fast_net(x_fast)
    assert not x_plain.is_contiguous(memory_format=torch.channels_last)
    assert x_fast.is_contiguous(memory_format=torch.channels_last) and torch.equal(x_fast, x_plain)
    assert next(fast_net.parameters()).is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------- copies


def test_pinned_non_blocking_copies_where_torch_allows(monkeypatch, digits):
    assert can_pin() == torch.cuda.is_available()
    t = torch.arange(12)
    with forced_policy(pin_memory=True, non_blocking=True):
        assert torch.equal(to_device(t, CPU), t)  # nothing to pin for a CPU target
        same = DeviceData(digits, CPU).batch("train", torch.arange(8), {"pad": 1, "flip": True},
                                             torch.Generator().manual_seed(0))
    plain = DeviceData(digits, CPU).batch("train", torch.arange(8), {"pad": 1, "flip": True},
                                          torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(same, plain))
    # A non-CPU target ("meta" needs no driver): the pinned, non-blocking branch is taken.
    pinned, nb = [], []
    real_to = torch.Tensor.to
    monkeypatch.setattr(training, "can_pin", lambda: True)
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: pinned.append(True) or self)
    monkeypatch.setattr(torch.Tensor, "to", lambda self, *a, **k: nb.append(k.get("non_blocking")) or real_to(self, *a, **k))
    with forced_policy(pin_memory=True, non_blocking=True):
        out = to_device(t, "meta")
    assert out.device.type == "meta" and pinned == [True] and nb == [True]
    pinned.clear(), nb.clear()
    to_device(t, "meta")  # the CPU policy: neither
    assert pinned == [] and nb == [False]


# ---------------------------------------------------------------------------- cuDNN


def test_determinism_turns_cudnn_autotuning_off():
    assert cudnn_flags(True) == {"benchmark": False, "deterministic": True}
    assert cudnn_flags(False) == {"benchmark": True, "deterministic": False}
    cudnn = torch.backends.cudnn
    saved = (cudnn.benchmark, cudnn.deterministic)
    with cudnn_settings(deterministic=False):
        assert cudnn.benchmark is True and cudnn.deterministic is False
        with cudnn_settings(deterministic=True):
            assert cudnn.benchmark is False and cudnn.deterministic is True
        assert cudnn.benchmark is True
    assert (cudnn.benchmark, cudnn.deterministic) == saved


# ---------------------------------------------------------------------------- the fast recipe


def test_fast_recipe_is_labelled_and_cached_apart_from_the_reference():
    ref, fast = Recipe(), Recipe.fast_cifar10()
    # Recipes made before the new fields keep their exact dict, hence their cache keys.
    assert list(ref.to_dict()) == ["epochs", "lr", "batch_size", "momentum", "weight_decay",
                                   "nesterov", "augment"]
    assert fast.name == "fast-cifar10" and "NOT the reference" in Recipe.fast_cifar10.__doc__
    assert (fast.schedule, fast.batch_size, fast.label_smoothing) == ("onecycle", 512, 0.2)
    assert Recipe(**fast.to_dict()) == fast and Recipe(**ref.to_dict()) == ref
    same_epochs = Recipe(**{**ref.to_dict(), "epochs": fast.epochs})
    assert training.cache_key(recipe=fast.to_dict()) != training.cache_key(recipe=same_epochs.to_dict())
    assert Recipe(schedule="onecycle").to_dict()["schedule"] == "onecycle"


@pytest.mark.parametrize("kw, match", [
    ({"schedule": "linear"}, "schedule must be one of.*'linear'"),
    ({"warmup": 1.0}, "warmup must be below 1.*1.0"),
    ({"label_smoothing": -0.1}, "label_smoothing must be >= 0, got -0.1"),
    ({"name": " "}, "name must be a non-empty string"),
])
def test_recipe_refuses_bad_new_fields(kw, match):
    with pytest.raises(ConfigError, match=match):
        Recipe(**kw)


def test_one_cycle_rises_to_the_peak_then_falls_and_never_stops():
    f = one_cycle(10, 0.2)
    factors = [f(s) for s in range(10)]
    assert factors.index(1.0) == 2 and factors[0] < factors[1] < 1.0
    assert all(a > b for a, b in zip(factors[2:], factors[3:])) and factors[-1] > 0
    assert one_cycle(1, 0.5)(0) == 1.0 and one_cycle(4, 0.0)(0) == 1.0


def test_onecycle_steps_per_batch(monkeypatch, digits):
    seen = []
    real = torch.optim.SGD.step

    def step(self, *a, **k):
        seen.append(self.param_groups[0]["lr"])
        return real(self, *a, **k)

    monkeypatch.setattr(torch.optim.SGD, "step", step)
    loader = TensorLoader(DeviceData(digits, CPU), np.arange(128), 32)
    recipe = Recipe(epochs=2, lr=0.2, schedule="onecycle", warmup=0.25, label_smoothing=0.2)
    losses = train_model(small_cnn(10, 1, 8), loader, recipe, CPU)
    f = one_cycle(8, 0.25)
    assert np.isfinite(losses).all()
    assert seen == pytest.approx([0.2 * f(s) for s in range(8)])


def test_cifar10_fast_recipe_trains_on_cifar_shaped_files(tmp_path):
    _write_cifar(tmp_path, per_batch=8, n_test=10)
    with pytest.raises(ConfigError, match="recipe must be one of.*'turbo'"):
        mu.datasets.cifar10(tmp_path, recipe="turbo")
    fast_ds = mu.datasets.cifar10(tmp_path, recipe="fast")
    assert fast_ds.train_defaults == Recipe.fast_cifar10().to_dict()
    assert fast_ds.x_train.shape[1:] == (3, 32, 32)
    kw = dict(model="small_cnn", workdir=tmp_path / "w", progress=False,
              recipe={"epochs": 2, "batch_size": 16})
    fast = mu.Study(fast_ds, mu.forget.random(count=6), **kw)
    ref = mu.Study(mu.datasets.cifar10(tmp_path), mu.forget.random(count=6), **kw)
    assert fast.recipe.name == "fast-cifar10" and fast.recipe.schedule == "onecycle"
    assert fast._key("original") != ref._key("original")
    run = fast.original
    assert len(run.losses) == 2 and np.isfinite(run.losses).all()


# ---------------------------------------------------------------------------- headless core


def test_core_runs_without_umap_anywidget_or_ipywidgets(tmp_path):
    code = BLOCK + textwrap.dedent(f"""
        sys.path.insert(0, {str(ROOT)!r})
        import os, torch
        torch.set_num_threads(int(os.environ["MUCOMP_TEST_THREADS"]))
        import mucomp_widget as mu
        study = mu.Study(mu.datasets.digits(), mu.forget.classes(3), recipe={{"epochs": 2}},
                         workdir={str(tmp_path / "w")!r}, progress=False, probe_size=100)
        run = study.unlearn("ga", epochs=1)
        res = study.results
        assert list(res["id"]) == ["original", "retrain", run.id], list(res["id"])
        assert res["TRA"].notna().all() and res["PS"].notna().all()
        loaded = [m for m in ("umap", "anywidget", "ipywidgets", "traitlets") if sys.modules.get(m) is not None]
        print("LOADED", loaded)
        try:
            mu.Comparator
        except ImportError:
            print("WIDGET_REFUSED")
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LOADED []" in proc.stdout and "WIDGET_REFUSED" in proc.stdout


# ---------------------------------------------------------------------------- gpu_check.py

SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
KEYS = {"stage", "images_per_s", "wall_s", "peak_gpu_mb", "test_acc", "gpu"}


def _run_gpu_check(tmp_path, *args):
    code = BLOCK + textwrap.dedent(f"""
        import os, runpy, torch
        torch.set_num_threads(int(os.environ["MUCOMP_TEST_THREADS"]))
        sys.argv = [{str(SCRIPT)!r}, *{list(args)!r}]
        try:
            runpy.run_path(sys.argv[0], run_name="__main__")
        finally:
            print("LOADED", [m for m in ("umap", "anywidget", "ipywidgets") if sys.modules.get(m) is not None])
    """)
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=600)


def test_gpu_check_dry_run_prints_one_json_line_per_stage(tmp_path):
    proc = _run_gpu_check(tmp_path, "--dry-run-cpu")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "LOADED []" in proc.stdout
    lines = [json.loads(s) for s in proc.stdout.splitlines() if s.startswith("{")]
    methods = [n for n in available() if get_method(n).builtin]
    assert [d["stage"] for d in lines] == ["data", "retrain", *(f"unlearn:{m}" for m in methods),
                                           "evaluate", "total"]
    for d in lines[:-1]:
        assert KEYS <= set(d) and "error" not in d, d
        assert d["wall_s"] >= 0 and d["peak_gpu_mb"] is None  # no GPU memory on a CPU
        assert d["autocast"] == "bfloat16" and d["channels_last"] is True  # CUDA branches forced
    for d in lines[1:-1]:
        assert d["images_per_s"] > 0 and 0 <= d["test_acc"] <= 1, d
    assert lines[1]["recipe"] == "fast-cifar10" and "not the reference" in lines[1]["note"]
    assert lines[-1]["ok"] is True and lines[-1]["failed"] == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_gpu_check_refuses_to_run_without_cuda(tmp_path):
    proc = _run_gpu_check(tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "CUDA is not available" in proc.stderr and "{" not in proc.stdout
