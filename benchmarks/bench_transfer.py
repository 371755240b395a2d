"""Bytes the Comparator sends per model (issue 4 target: <= 80 KB with 2,000 probe points).

A CIFAR-10-sized split without images: 50,000 training samples of 10 classes (32
features, an MLP), one class forgotten (5,000 forget samples, each with attack values),
2,000 probe points. Also the embedded digits default. Buffers are counted at their binary
size plus the JSON around them.
"""

from __future__ import annotations

import tempfile

import numpy as np

import mucomp_widget as mu
from mucomp_widget import _codecs, _payload


def sizes(study) -> dict:
    for run in study.runs:
        study.embedding(run.id)
    return {r.id: _codecs.nbytes(_codecs.encode_tree(_payload.model(study, r.id))) for r in study.runs}


def main() -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(10, 32)) * 2
    y_tr, y_te = np.arange(50_000) % 10, np.arange(10_000) % 10
    x_tr = (centers[y_tr] + rng.normal(size=(50_000, 32))).astype(np.float32)
    x_te = (centers[y_te] + rng.normal(size=(10_000, 32))).astype(np.float32)
    ds = mu.datasets.from_arrays(x_tr, y_tr, x_te, y_te, name="cifar-sized")
    with tempfile.TemporaryDirectory() as tmp:
        big = mu.Study(ds, mu.forget.classes(0), workdir=tmp, progress=False,
                       recipe={"epochs": 2, "batch_size": 512})
        big.prepare()
        big.unlearn("ft", epochs=1, batch_size=512)
        small = mu.Study(mu.datasets.digits(), mu.forget.classes(3), workdir=tmp, progress=False)
        small.prepare()
        small.unlearn("ft")
        for name, study in (("50k train, 5,000 forget, 2,000 probe", big), ("digits, 145 forget, 1,437 probe", small)):
            s = sizes(study)
            print(f"{name}: " + ", ".join(f"{k} {v / 1000:.1f} KB" for k, v in s.items()))


if __name__ == "__main__":
    main()
