"""The GPU path, proven in one run (issue 11): train, unlearn with every method, evaluate.

On a CUDA machine, in under 5 minutes of wall time: the Retrain model (ResNet-18 on
CIFAR-10-shaped data: real CIFAR-10 from ``--root``, synthetic otherwise) is trained by the
chosen recipe; every built-in method runs for one epoch from it (no Original is trained, to
stay within the time: the check measures speed and that every path runs, not how well the
methods forget); one model is evaluated (its inference pass and every metric). Each stage prints one JSON line with images/s,
wall seconds, peak GPU memory and test accuracy; a last ``total`` line says whether every
stage ran and the whole stayed within ``--budget-s`` (training stops past 40 % of it,
methods past 85 %, leaving the rest to the evaluation). Exit status: 0 when it did, 1 when
not, 2 without CUDA (nothing runs).

It needs torch, torchvision, numpy, scikit-learn, pandas and tqdm, and the source tree
(it puts the repository root on ``sys.path``): no umap-learn, no anywidget, no install.

    python benchmarks/gpu_check.py                      # synthetic data, fast recipe
    python benchmarks/gpu_check.py --root ~/data        # real CIFAR-10 (cifar-10-batches-py)
    python benchmarks/gpu_check.py --recipe reference   # the reference recipe, 10 epochs

``--dry-run-cpu`` is for the test suite only: the same stages on a CPU, on a tiny synthetic
set with a small CNN, with the CUDA branches forced on where torch allows it (bfloat16
autocast, channels_last, non-blocking copies; pinning needs a CUDA driver).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import mucomp_widget as mu  # noqa: E402
from mucomp_widget.datasets import CIFAR10_MEAN, CIFAR10_STD  # noqa: E402
from mucomp_widget.evaluation.inference import infer, logits_of  # noqa: E402
from mucomp_widget.evaluation.summary import evaluate  # noqa: E402
from mucomp_widget.loaders import DeviceData, TensorLoader  # noqa: E402
from mucomp_widget.methods.registry import (  # noqa: E402
    RunContext, available, get_method, invoke, resolve_hyperparameters,
)
from mucomp_widget.training import (  # noqa: E402
    Recipe, cudnn_settings, device_policy, forced_policy, prepare_model, seeded, train_model,
)

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
REFERENCE_EPOCHS = 10  # the reference recipe's 200 epochs would take the better part of an hour
TRAIN_SHARE, EVAL_SHARE = 0.4, 0.15  # of --budget-s: training stops past the first, methods leave the second
NO_CUDA = ("gpu_check: CUDA is not available (torch.cuda.is_available() is False), so there is "
           "no GPU path to check. Run it on a machine with an NVIDIA GPU and a CUDA build of "
           "torch; --dry-run-cpu exists for the test suite only.")


class OverBudget(Exception):
    """The training stage ran past its share of the time budget."""


def synthetic_cifar(n_train: int, n_test: int, seed: int = 0) -> mu.datasets.Dataset:
    """CIFAR-10-shaped uint8 images (3x32x32, 10 balanced classes) with a learnable signal.

    Each class has a smooth random colour template (4x4, upsampled); a sample is its class's
    template plus pixel noise, so accuracy well above chance means the network learned.
    """
    g = torch.Generator().manual_seed(seed)
    templates = F.interpolate(torch.rand(10, 3, 4, 4, generator=g), size=(32, 32), mode="bilinear",
                              align_corners=False) * 160 + 48

    def make(n):
        y = torch.arange(n) % 10
        y = y[torch.randperm(n, generator=g)]
        x = torch.empty(n, 3, 32, 32, dtype=torch.uint8)
        for i in range(0, n, 8192):
            chunk = templates[y[i:i + 8192]] + 56 * torch.randn(len(y[i:i + 8192]), 3, 32, 32, generator=g)
            x[i:i + 8192] = chunk.clamp_(0, 255).round_().to(torch.uint8)
        return x.numpy(), y.numpy()

    x_tr, y_tr = make(n_train)
    x_te, y_te = make(n_test)
    return mu.datasets.from_arrays(x_tr, y_tr, x_te, y_te, CIFAR_CLASSES, name="synthetic-cifar10",
                                   mean=CIFAR10_MEAN, std=CIFAR10_STD, augment={"pad": 4, "flip": True})


def pick_recipe(name: str, epochs: int | None) -> tuple[Recipe, str]:
    """The Retrain recipe and a note on how it relates to the reference's."""
    if name == "fast":
        recipe = Recipe.fast_cifar10()
        if epochs:
            recipe = Recipe(**{**recipe.to_dict(), "epochs": epochs})
        n = recipe.epochs
        return recipe, (f"Recipe.fast_cifar10 ({n} epoch{'s' if n != 1 else ''}): a short one-cycle "
                        "recipe, not the reference system's")
    epochs = epochs or REFERENCE_EPOCHS
    recipe = Recipe(epochs=epochs, lr=0.1, batch_size=128)
    return recipe, (f"the reference recipe (SGD, cosine, batch 128) cut to {epochs} of its 200 epochs "
                    "(the cosine schedule spans these epochs)")


class Stage:
    """Times one stage and prints its JSON line: images/s, wall seconds, peak GPU memory and
    test accuracy (``after()``, run once the clock has stopped, gives it)."""

    def __init__(self, name: str, device: torch.device, common: dict):
        self.name, self.device, self.common = name, device, common
        self.images, self.test_acc, self.extra, self.error, self.after = 0, None, {}, None, None

    def __enter__(self) -> "Stage":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self.start = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, _tb) -> bool:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.wall = time.perf_counter() - self.start
        peak = (torch.cuda.max_memory_allocated(self.device) / 2**20
                if self.device.type == "cuda" else None)
        if exc is not None:
            self.error = f"{type(exc).__name__}: {exc}"
        elif self.after is not None:
            try:
                self.test_acc = self.after()
            except Exception as err:  # noqa: BLE001 - reported in the line
                self.error = f"test accuracy: {type(err).__name__}: {err}"
        line = {"stage": self.name,
                "images_per_s": round(self.images / self.wall, 1) if self.images and self.wall > 0 else None,
                "wall_s": round(self.wall, 3),
                "peak_gpu_mb": None if peak is None else round(peak, 1),
                "test_acc": None if self.test_acc is None else round(float(self.test_acc), 4),
                **self.common, "images": self.images, **self.extra}
        if self.error:
            line["error"] = self.error
        print(json.dumps(line), flush=True)
        return exc_type is not None and issubclass(exc_type, Exception)  # reported: go on


def test_accuracy(model, data: DeviceData) -> float:
    y = data.dataset.y_test.numpy()
    return float((logits_of(model, data, "test", np.arange(len(y))).argmax(1) == y).mean())


def count_images(model):
    """A forward pre-hook that counts the images of every forward pass -> (counter, handle)."""
    seen = [0]

    def hook(_m, args):
        if args and hasattr(args[0], "shape"):
            seen[0] += int(args[0].shape[0])
    return seen, model.register_forward_pre_hook(hook)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", help="folder holding cifar-10-batches-py (default: synthetic CIFAR-10-shaped data)")
    ap.add_argument("--recipe", choices=("fast", "reference"), default="fast",
                    help="the Retrain recipe: Recipe.fast_cifar10() (default) or the reference's, cut short")
    ap.add_argument("--epochs", type=int, help="Retrain epochs (default: 15 fast, 10 reference)")
    ap.add_argument("--model", choices=("resnet18", "small_cnn"), default=None,
                    help="architecture (default: resnet18; small_cnn with --dry-run-cpu)")
    ap.add_argument("--forget-class", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget-s", type=float, default=285.0,
                    help="wall-time budget: training stops past 40 %%, methods past 85 %% of it (default 285)")
    ap.add_argument("--deterministic", action="store_true",
                    help="cuDNN deterministic, autotuning (benchmark) off; default: autotuning on")
    ap.add_argument("--dry-run-cpu", action="store_true",
                    help="tests only: the stages on a CPU, tiny synthetic data, CUDA branches forced")
    args = ap.parse_args(argv)

    dry = args.dry_run_cpu
    if not dry and not torch.cuda.is_available():
        print(NO_CUDA, file=sys.stderr)
        return 2
    if args.epochs is not None and args.epochs < 1:
        ap.error(f"--epochs must be >= 1, got {args.epochs}")
    t_start = time.perf_counter()
    device = torch.device("cpu") if dry else torch.device("cuda", torch.cuda.current_device())
    model_name = args.model or ("small_cnn" if dry else "resnet18")
    recipe, note = pick_recipe(args.recipe, 1 if dry and args.epochs is None else args.epochs)
    if dry:
        recipe = Recipe(**{**recipe.to_dict(), "batch_size": min(recipe.batch_size, 32)})

    with ExitStack() as stack:
        if dry:  # every CUDA branch that torch allows on a CPU
            stack.enter_context(forced_policy(autocast_dtype=torch.bfloat16, channels_last=True,
                                              pin_memory=True, non_blocking=True))
        stack.enter_context(cudnn_settings(args.deterministic))
        policy = device_policy(device)
        common = {"gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else "none (cpu dry run)",
                  "device": str(device), "model": model_name,
                  "autocast": str(policy.autocast_dtype).replace("torch.", "") if policy.autocast_dtype else "float32",
                  "channels_last": policy.channels_last}
        failed = []

        with Stage("data", device, common) as st:
            if args.root:
                ds = mu.datasets.cifar10(args.root, recipe=args.recipe)
            else:
                ds = synthetic_cifar(*((64, 32) if dry else (50_000, 10_000)), seed=args.seed)
            study = mu.Study(ds, mu.forget.classes(args.forget_class), model_name, seed=args.seed,
                             device=device, workdir=stack.enter_context(tempfile.TemporaryDirectory()),
                             recipe=recipe, progress=False,
                             **({"probe_size": 32, "cka_size": 8} if dry else {}))
            data = DeviceData(ds, device)
            st.images = ds.n_train + ds.n_test
            st.extra = {"dataset": ds.name, "train": ds.n_train, "test": ds.n_test,
                        "pinned_copy": policy.pin_memory and device.type == "cuda",
                        "non_blocking": policy.non_blocking}
        if st.error:
            return 1

        split, seed = study.split, args.seed
        train_cap = TRAIN_SHARE * args.budget_s
        with Stage("retrain", device, common) as st:
            st.extra = {"recipe": recipe.name, "epochs": recipe.epochs, "batch_size": recipe.batch_size,
                        "note": note, "deterministic": args.deterministic}
            loader = TensorLoader(data, split.retain_train, recipe.batch_size, shuffle=True,
                                  augment=ds.augment if recipe.augment else None,
                                  generator=torch.Generator().manual_seed(seed))
            done = [0]

            def report(epoch, loss):
                done[0] = epoch
                st.extra["last_loss"] = round(loss, 4)
                if time.perf_counter() - t_start > train_cap:
                    raise OverBudget(f"training passed {train_cap:.0f} s ({TRAIN_SHARE:.0%} of --budget-s) "
                                     f"after {epoch} of {recipe.epochs} epochs")

            with seeded(seed, device):
                retrain = prepare_model(study.arch.build(), device)
                seen, hook = count_images(retrain)
                try:
                    train_model(retrain, loader, recipe, device, report)
                except OverBudget as exc:
                    retrain.eval()
                    st.extra["cut"] = str(exc)
                    failed.append("retrain")
                finally:
                    hook.remove()
                    st.images = seen[0]
                    st.extra["epochs_run"] = done[0]
            st.after = lambda: test_accuracy(retrain, data)
        if st.error:
            return 1

        builtin = [n for n in available() if get_method(n).builtin]
        for name in builtin:
            spec = get_method(name)
            hp = resolve_hyperparameters(spec, ds.method_defaults, {"epochs": 1})
            left = (1 - EVAL_SHARE) * args.budget_s - (time.perf_counter() - t_start)
            with Stage(f"unlearn:{name}", device, common) as st:
                st.extra = {"epochs": hp["epochs"], "batch_size": hp["batch_size"], "base": "retrain"}
                if left <= 0:
                    raise OverBudget(f"no time left for methods in --budget-s {args.budget_s:g} "
                                     f"({EVAL_SHARE:.0%} is kept for the evaluation)")
                model = prepare_model(copy.deepcopy(retrain), device)
                gen = torch.Generator().manual_seed(seed)
                forget_loader = TensorLoader(data, split.forget_train, hp["batch_size"], shuffle=True, generator=gen)
                retain_loader = TensorLoader(data, split.retain_train, hp["batch_size"], shuffle=True, generator=gen)
                ctx = RunContext(device=device, seed=seed, num_classes=ds.num_classes,
                                 forget_classes=split.forget_classes, epochs=hp["epochs"],
                                 time_limit=left, method=name)
                with seeded(seed, device):
                    result = invoke(spec, model, forget_loader, retain_loader, hp, ctx)
                st.images = result.images
                st.extra["rte_s"] = round(result.rte, 3)
                st.after = lambda: test_accuracy(prepare_model(result.model, device), data)
            if st.error:
                failed.append(st.name)

        with Stage("evaluate", device, common) as st:
            t0 = time.perf_counter()
            out = infer(retrain, data, probe_ids=study.probe_ids, feature_layer=study.arch.feature_layer,
                        gram_sets=study.cka_sets, blocks=study.arch.blocks)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t1 = time.perf_counter()
            metrics, _ = evaluate(out, study.setup, retrain=out, cka_against={"retrain": out})
            st.images = out.forwarded
            st.test_acc = float((out.test_logits.argmax(1) == ds.y_test.numpy()).mean())
            st.extra = {"model_evaluated": "retrain", "infer_s": round(t1 - t0, 3),
                        "metrics_s": round(time.perf_counter() - t1, 3),
                        "inference_images_per_s": round(out.forwarded / max(t1 - t0, 1e-9), 1),
                        "TRA": round(metrics["TRA"], 4), "PS": round(metrics["PS"], 4)}
        if st.error:
            failed.append("evaluate")

    total = time.perf_counter() - t_start
    ok = not failed and total <= args.budget_s
    print(json.dumps({"stage": "total", "wall_s": round(total, 3), "budget_s": args.budget_s,
                      "ok": ok, "failed": failed, "methods": builtin, **common}), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
