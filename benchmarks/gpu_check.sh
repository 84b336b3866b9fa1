#!/usr/bin/env bash
# The GPU check: one GPU, under 10 minutes. Prints, for the GAN, DDPM and classifier loops, our
# throughput against a plain reference loop (ratio), bf16 on vs off, packing (1 vs 4 runs per
# GPU, through Ray when installed) and the paper profile's projected hours (one GPU, and a
# cluster of four).
#   bash benchmarks/gpu_check.sh            (from the course folder, after `make setup`)
# Each part runs on its own under a time limit (PART_LIMIT seconds, default 300): one that fails
# is named at the end and the others still run. Progress bars and tracebacks go to
# $LOG_DIR/gpu_check.stderr.log (default: a temporary folder, printed at the start).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PART_LIMIT=${PART_LIMIT:-300}
LOG_DIR=${LOG_DIR:-$(mktemp -d)}
ERR="$LOG_DIR/gpu_check.stderr.log"
: >"$ERR"
if ! $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "no CUDA device: this check is for a GPU machine (CPU ratios: benchmarks/*_throughput.py)"; exit 1
fi
$PY -c "import torch; print('GPU:', torch.cuda.get_device_name(0), '| torch', torch.__version__)"
echo "(progress and errors: $ERR)"
FAILED=()
part() {  # part NAME COMMAND...: run one part under the time limit; remember it if it fails
  local name=$1; shift
  local t0=$SECONDS
  echo "== $name"
  if ! timeout "$PART_LIMIT" "$@" 2>>"$ERR"; then
    FAILED+=("$name")
    echo "!! $name failed or ran past ${PART_LIMIT} s; the end of its error output:"
    tail -c 4000 "$ERR" | tr '\r' '\n' | grep -v '%|' | tail -15
  fi
  echo "   ($name: $((SECONDS - t0)) s)"
}

# The paper plan needs the data prepared at 128 px (the phantom is drawn on the CPU): start it
# now, beside the GPU parts, and wait for it at the end.
RUNS=$(mktemp -d)
PLAN_ARGS=(--profile paper --dataset phantom --data-dir "$RUNS/phantom" --runs-dir "$RUNS/runs")
$PY -m helpers prepare "${PLAN_ARGS[@]}" >"$LOG_DIR/prepare.log" 2>&1 &
PREPARE=$!

part "GANs, paper size (128 px, width 64): ours vs plain loop" \
  $PY benchmarks/gan_throughput.py --device cuda --size 128 --width 64 --batch 64 --repeats 2
part "DDPM, paper preset: training and DDIM sampling, ours vs plain loop" \
  $PY benchmarks/ddpm_throughput.py --profile paper --train-steps 60 --sample-images 64 --ddim-steps 50 --ddpm-images 4
for arch in resnet50 efficientnet_v2_s densenet201; do
  part "classifier $arch, 128 px, ours with bf16 on and off vs the plain fp32 loop" \
    $PY benchmarks/classifier_throughput.py --device cuda --arch "$arch" --size 128 --batch 32 --images 2048 \
      --epochs 1 --repeats 2 --bf16 on,off
done
part "packing: 8 ResNet18 runs, 1 vs 4 per GPU" $PY benchmarks/ray_packing.py --runs 8 --per-gpu 1,4 --batches 100

echo "== waiting for the paper profile's data (phantom, 128 px)"
if wait "$PREPARE"; then
  part "paper profile plan: measured per-batch costs -> projected hours (1 GPU and a cluster of 4)" \
    $PY -m helpers classify "${PLAN_ARGS[@]}" --plan --workers 4
else
  FAILED+=("paper data"); tail -5 "$LOG_DIR/prepare.log"
fi
if ((${#FAILED[@]})); then
  printf 'failed: %s\n' "${FAILED[@]}"; exit 1
fi
echo "all parts ran"
