#!/usr/bin/env bash
# The GPU check: one GPU, under 10 minutes. Prints, for the GAN, DDPM and classifier loops, our
# throughput against a plain reference loop (ratio), bf16 on vs off, Ray packing (1 vs 4 cells
# per GPU) and the paper profile's projected hours (one GPU, and a cluster of four).
#   bash benchmarks/gpu_check.sh            (from the course folder, after `make setup`)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if ! $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "no CUDA device: this check is for a GPU machine (CPU ratios: benchmarks/*_throughput.py)"; exit 1
fi
$PY -c "import torch; print('GPU:', torch.cuda.get_device_name(0), '| torch', torch.__version__)"
echo "== GANs, paper size (128 px, width 64): ours vs plain loop"
$PY benchmarks/gan_throughput.py --device cuda --size 128 --width 64 --batch 64 --repeats 2
echo "== DDPM, paper preset: training and DDIM sampling, ours vs plain loop"
$PY benchmarks/ddpm_throughput.py --profile paper --train-steps 60 --sample-images 64 --ddim-steps 50 --ddpm-images 4
echo "== classifiers, 128 px: ours vs plain loop, bf16 on and off"
for arch in resnet50 efficientnet_v2_s densenet201; do
  for bf16 in on off; do
    $PY benchmarks/classifier_throughput.py --device cuda --arch "$arch" --size 128 --batch 32 --images 2048 \
      --epochs 1 --repeats 2 --bf16 "$bf16"
  done
done
echo "== Ray packing: 8 ResNet18 cells, 1 vs 4 per GPU"
$PY benchmarks/ray_packing.py --cells 8 --per-gpu 1,4 --batches 100
echo "== paper profile plan: measured per-batch costs -> projected hours"
RUNS=$(mktemp -d)
$PY -m helpers classify --profile paper --dataset phantom --data-dir "$RUNS/phantom" --runs-dir "$RUNS/runs" --plan --workers 4
$PY -m helpers classify --profile paper --dataset phantom --data-dir "$RUNS/phantom" --runs-dir "$RUNS/runs" --plan --workers 16 | tail -1
echo "(the second line: a cluster of four such GPUs, four cells each)"
