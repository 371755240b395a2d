"""Wall time of the `make demo` job after installation.

Runs `mucomp run --preset digits --forget-class 3 --methods ft,ga,rl,scrub,salun` in a
fresh process with an empty model cache (so the Original and the Retrain model are
trained, not loaded), several times, and prints the timings. Target: <= 60 s on a
2-core CPU machine.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time


def once() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "mucomp_widget.cli", "run", "--preset", "digits",
               "--forget-class", "3", "--methods", "ft,ga,rl,scrub,salun",
               "--out", os.path.join(tmp, "out"), "--workdir", os.path.join(tmp, "cache"),
               "--no-progress"]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def main(repeats: int = 3) -> None:
    import torch

    times = [once() for _ in range(repeats)]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"make demo job, empty cache, {repeats} runs: "
          f"median {statistics.median(times):.1f} s, max {max(times):.1f} s "
          f"({', '.join(f'{t:.1f}' for t in times)})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
