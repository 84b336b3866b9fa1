"""Does packing several small training runs on one GPU pay? Throughput of N identical training tasks
run through Ray with 1 run per GPU (num_gpus=1) against k runs per GPU (num_gpus=1/k).

Each task trains a torchvision ResNet18 on random 128 px images for `--batches` batches (the
shape of a paper-profile run, without the data loading), so the comparison isolates what
packing does to a GPU that one small model leaves mostly idle.

    python benchmarks/ray_packing.py --runs 8 --per-gpu 1,4

Without Ray installed (`pip install .[ray]`) the same runs train in k spawned processes at a
time on the one GPU (`--engine processes`): what Ray's fractional GPUs do to the GPU, without
Ray's scheduling. The engine used is printed.
"""

from __future__ import annotations

import argparse
import time


def train_run(batches: int, size: int, batch: int) -> float:
    import torch
    import torchvision

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=3).to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, size, size, device=dev).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 3, (batch,), device=dev)
    t0 = time.perf_counter()
    for _ in range(batches):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev == "cuda"):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if dev == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def by_processes(a) -> None:
    """k runs at a time on the one GPU, each in its own spawned process (as Ray would place them)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    import torch

    if not torch.cuda.is_available():
        print("no GPU: packing is a GPU question; nothing measured")
        return
    base = None
    for k in [int(v) for v in a.per_gpu.split(",")]:
        with ProcessPoolExecutor(k, mp_context=mp.get_context("spawn")) as pool:
            list(pool.map(train_run, [2] * k, [a.size] * k, [a.batch] * k))  # start-up and warm-up, untimed
            t0 = time.perf_counter()
            list(pool.map(train_run, [a.batches] * a.runs, [a.size] * a.runs, [a.batch] * a.runs))
            wall = time.perf_counter() - t0
        rate = a.runs * a.batches * a.batch / wall
        base = base or rate
        print(f"{k} run(s) per GPU (engine: processes, Ray not used): {a.runs} runs in {wall:.1f} s, "
              f"{rate:,.0f} img/s, {rate / base:.2f}x the first setting")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", "--cells", dest="runs", type=int, default=8)
    ap.add_argument("--per-gpu", default="1,4", help="runs per GPU to compare (comma-separated)")
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--engine", choices=("auto", "ray", "processes"), default="auto",
                    help="auto: Ray when installed, else processes")
    a = ap.parse_args(argv)
    engine = a.engine
    if engine == "auto":
        try:
            import ray  # noqa: F401
            engine = "ray"
        except ImportError:
            engine = "processes"
    if engine == "processes":
        return by_processes(a)
    import ray

    ray.init(include_dashboard=False, log_to_driver=False)
    gpus = ray.cluster_resources().get("GPU", 0)
    if not gpus:
        print("no GPU in the Ray cluster: packing is a GPU question; nothing measured")
        ray.shutdown()
        return
    task = ray.remote(train_run)
    base = None
    for k in [int(v) for v in a.per_gpu.split(",")]:
        t0 = time.perf_counter()
        ray.get([task.options(num_gpus=1 / k).remote(a.batches, a.size, a.batch) for _ in range(a.runs)])
        wall = time.perf_counter() - t0
        rate = a.runs * a.batches * a.batch / wall
        base = base or rate
        print(f"{k} run(s) per GPU ({gpus:g} GPU): {a.runs} runs in {wall:.1f} s, {rate:,.0f} img/s, "
              f"{rate / base:.2f}x the first setting")
    ray.shutdown()


if __name__ == "__main__":
    main()
