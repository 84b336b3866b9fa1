"""How the course's training slows down when another CPU-bound process shares the cores.

Small networks on a CPU are very sensitive to oversubscription: with as many math threads as
cores, a second busy process makes the threads wait for each other at every parallel region.
This times the quick profile's WGAN-GP training step (notebook 03's step) with 1, 2, ... threads,
alone and beside a CPU-bound competitor process, each in a fresh subprocess, and prints the
slowdown each thread setting suffers.

    python benchmarks/thread_contention.py --steps 20
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time
import numpy as np, torch
threads, steps = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
from helpers.gan.core import make_run
from helpers.gan.presets import get_preset
from helpers.gan.steps import wgan_step
p = get_preset("wgan-gp", "quick")
x = (np.random.default_rng(0).random((256, 64, 64)) * 255).astype(np.uint8)
run = make_run(p, x, 0, "cpu")
wgan_step(run)  # warm-up
t0 = time.perf_counter()
for _ in range(steps):
    wgan_step(run)
print(json.dumps({"sec_per_step": (time.perf_counter() - t0) / steps}))
"""

BUSY = "import time\nt = time.time()\nwhile time.time() - t < 3600:\n    sum(i * i for i in range(10000))\n"


def measure(threads: int, steps: int, env: dict) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, str(threads), str(steps)], env=env, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["sec_per_step"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts to try")
    ap.add_argument("--wait-policy", default=None, help="OMP_WAIT_POLICY for the trainer (e.g. PASSIVE)")
    a = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if a.wait_policy:
        env["OMP_WAIT_POLICY"] = a.wait_policy
    rows = []
    for t in [int(v) for v in a.threads.split(",")]:
        alone = measure(t, a.steps, env)
        busy = subprocess.Popen([sys.executable, "-c", BUSY])
        try:
            time.sleep(1)
            loaded = measure(t, a.steps, env)
        finally:
            busy.kill()
            busy.wait()
        rows.append((t, alone, loaded))
        print(f"threads={t}: alone {alone:.3f} s/step, beside a busy process {loaded:.3f} s/step, "
              f"slowdown {loaded / alone:.2f}x", flush=True)
    best_alone = min(r[1] for r in rows)
    for t, alone, loaded in rows:
        print(f"threads={t}: {alone / best_alone:.2f}x the fastest idle setting; {loaded / best_alone:.2f}x it under load")


if __name__ == "__main__":
    main()
