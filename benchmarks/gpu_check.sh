#!/usr/bin/env bash
# The GPU check, for a fresh GPU machine without network: its own Python 3.12 with a CUDA
# PyTorch, this course folder and the wheel folder benchmarks/gpu_wheels.py wrote (wheels/).
# Within DEADLINE seconds (default 480), installation included, it
#   1. installs into a temporary folder what the machine's Python lacks of the course's
#      requirements (benchmarks/gpu_wheels_install.py; a missing piece is named);
#   2. runs notebooks 03, 04, 05, 06 and 08 on the smoke profile on the GPU (papermill);
#   3. measures the GAN, DDPM and classifier loops against plain reference loops (ratio), bf16
#      on and off, packing (1 vs 4 runs per GPU) and the paper profile's projected hours;
#   4. measures the settings only a GPU can decide: the DDPM's layout, torch.compile, the
#      classifiers' optimiser and batched augmentation, the gradient penalty under bf16;
# each part at most PART_LIMIT seconds (default 90), skipped with a line when less time is
# left, and ends with a table: part, status (ok / failed / timeout / skipped), seconds, ratios.
#
#   bash benchmarks/gpu_check.sh                 # on the GPU machine
#   bash benchmarks/gpu_check.sh --cpu           # anywhere: GPU parts skipped, notebooks on the CPU
#   bash benchmarks/gpu_check.sh --only gan,nb   # only the parts whose names start so
#   bash benchmarks/gpu_check.sh --list          # the parts; nothing runs
# Settings (environment): PY (the Python to use, default python3), WHEELS (default wheels/),
# DEADLINE, PART_LIMIT, LOG_DIR (default a new temporary folder: the installed packages, the
# smoke runs, each part's output and errors), INSTALL_DIR (default LOG_DIR/site;
# a folder from an earlier run is reused: only what it lacks is installed).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# ---- The parts, in order: "NAME|KIND|WHAT|COMMAND". KIND gpu: skipped with --cpu. COMMAND runs
# with bash in the course folder, under the part's time limit; $PY is the machine's Python,
# `notebook NN_` runs notebooks/NN_*.ipynb on smoke. A line a part prints with "ratio N" is
# copied into the table (also "|diff| N", and "layout: ..."). Add a part here. ----
PARTS=(
  # The notebooks first: cheap and fixed in time, they show the course's GPU path end to end
  'smoke-data|any|phantom images of the smoke profile, drawn once for the notebooks|$PY -m helpers prepare --profile smoke --dataset phantom --data-dir "$SMOKE/data" --runs-dir "$SMOKE/runs"'
  'nb-03|any|notebook 03 (WGAN) on smoke|notebook 03_'
  'nb-04|any|notebook 04 (DCGAN) on smoke|notebook 04_'
  'nb-05|any|notebook 05 (cWGAN) on smoke|notebook 05_'
  'nb-06|any|notebook 06 (DDPM) on smoke|notebook 06_'
  'nb-08|any|notebook 08 (classifiers) on smoke|notebook 08_'
  # The loops against plain reference loops; new throughput or precision benchmarks go here
  'gan|gpu|GANs, paper size (128 px, width 64): ours vs plain loop|$PY benchmarks/gan_throughput.py --device cuda --size 128 --width 64 --batch 64 --repeats 2'
  'ddpm|gpu|DDPM, paper preset: training and DDIM sampling, ours vs plain loop|$PY benchmarks/ddpm_throughput.py --profile paper --train-steps 60 --sample-images 64 --ddim-steps 50 --ddpm-images 4'
  'clf-resnet50|gpu|classifier resnet50, 128 px, bf16 on and off vs plain fp32 loop|$PY benchmarks/classifier_throughput.py --device cuda --arch resnet50 --size 128 --batch 32 --images 2048 --epochs 1 --repeats 2 --bf16 on,off'
  'clf-efficientnet_v2_s|gpu|classifier efficientnet_v2_s, as above|$PY benchmarks/classifier_throughput.py --device cuda --arch efficientnet_v2_s --size 128 --batch 32 --images 2048 --epochs 1 --repeats 2 --bf16 on,off'
  'clf-densenet201|gpu|classifier densenet201, as above|$PY benchmarks/classifier_throughput.py --device cuda --arch densenet201 --size 128 --batch 32 --images 2048 --epochs 1 --repeats 2 --bf16 on,off'
  'packing|gpu|packing: 8 ResNet18 runs, 1 vs 4 per GPU|$PY benchmarks/ray_packing.py --runs 8 --per-gpu 1,4 --batches 100'
  # Each study on its own data, planned from the data sets' released counts (nothing to prepare)
  'plan|gpu|paper profile plan, study by study: measured costs -> projected hours (1 GPU, 4 GPUs)|$PY -m helpers classify --profile paper --runs-dir "$RUNS/runs" --plan --workers 4'
  # Settings only a GPU can decide, each against the plain loop (alone: --only choice)
  'choice-ddpm-layout|gpu|DDPM U-Net layout: NCHW vs channels_last|$PY benchmarks/ddpm_throughput.py --profile paper --train-steps 60 --sample-images 16 --ddim-steps 50 --ddpm-images 1 --layout nchw,channels_last'
  'choice-gan-compile|gpu|GANs, paper size, with torch.compile (inductor)|$PY benchmarks/gan_throughput.py --device cuda --size 128 --width 64 --batch 64 --repeats 2 --compile inductor'
  'choice-clf-compile|gpu|classifier resnet50: torch.compile on/off x foreach/fastai Adam|$PY benchmarks/classifier_throughput.py --device cuda --arch resnet50 --size 128 --batch 32 --images 2048 --epochs 1 --repeats 2 --compile on,off --optimizer foreach,fastai'
  'choice-clf-augment|gpu|classifier resnet50, the BUSI study augmentation: batched on the GPU vs per image|$PY benchmarks/classifier_throughput.py --device cuda --arch resnet50 --size 128 --batch 32 --images 2048 --epochs 1 --repeats 2 --augment busi_study --batched-augment on,off'
  'choice-penalty|gpu|gradient penalty under bf16 vs fp32, paper critic at 128 px|$PY benchmarks/penalty_precision.py --device cuda --profile paper --size 128 --width 64 --batch 64'
)

usage() { sed -n '2,/^set -uo/p' "$ROOT/benchmarks/gpu_check.sh" | sed '$d; s/^# \{0,1\}//'; }
CPU=0; ONLY=""; LIST=0
while (($#)); do
  case $1 in
    --cpu) CPU=1 ;;
    --only) [[ $# -ge 2 ]] || { echo "error: --only wants part names, e.g. --only gan,nb (see --list)" >&2; exit 2; }
            ONLY=$2; shift ;;
    --only=*) ONLY=${1#--only=} ;;
    --list) LIST=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown option '$1': use --cpu, --only NAMES, --list or --help" >&2; exit 2 ;;
  esac
  shift
done
selected() {  # selected NAME: in --only (prefixes, comma-separated), or no --only
  [[ -z $ONLY ]] && return 0
  local p; IFS=, read -ra want <<<"$ONLY"
  for p in "${want[@]}"; do [[ -n $p && $1 == "$p"* ]] && return 0; done
  return 1
}
if ((LIST)); then
  for line in "${PARTS[@]}"; do IFS='|' read -r name kind what _ <<<"$line"
    selected "$name" && printf '%-24s %-4s %s\n' "$name" "$kind" "$what"; done
  exit 0
fi
if [[ -n $ONLY ]] && ! for line in "${PARTS[@]}"; do selected "${line%%|*}" && break; done; then
  echo "error: --only $ONLY names no part (see --list)" >&2; exit 2
fi

PY=${PY:-python3}; WHEELS=${WHEELS:-$ROOT/wheels}; DEADLINE=${DEADLINE:-480}; PART_LIMIT=${PART_LIMIT:-90}
MIN_PART=${MIN_PART:-15}  # a part is skipped when fewer seconds than this are left
START=$SECONDS
if ! command -v "$PY" >/dev/null || ! EXE=$("$PY" -c 'import sys; print(sys.executable)' 2>/dev/null); then
  echo "error: PY=$PY does not run Python here: set PY to the machine's Python 3.12" >&2; exit 2
fi
PY=$EXE
LOG_DIR=${LOG_DIR:-$(mktemp -d -t gpu_check.XXXXXX)}; mkdir -p "$LOG_DIR"
INSTALL_DIR=${INSTALL_DIR:-$LOG_DIR/site}; SMOKE=$LOG_DIR/smoke; RUNS=$LOG_DIR/paper
echo "GPU check: $PY ($("$PY" -c 'import platform; print(platform.python_version())')), wheels $WHEELS;" \
     "logs, installed packages and runs in $LOG_DIR"

NAMES=(); STATUS=(); SECS=(); RATIOS=()
record() { NAMES+=("$1"); STATUS+=("$2"); SECS+=("$3"); RATIOS+=("${4:-}"); }
summary() {
  printf '\n%-22s %-17s %5s  %s\n' part status s "ratios (ours / plain loop), or the last error"
  local i
  for i in "${!NAMES[@]}"; do
    printf '%-22s %-17s %5s  %s\n' "${NAMES[$i]}" "${STATUS[$i]}" "${SECS[$i]}" "${RATIOS[$i]}"
  done
  echo "total $((SECONDS - START)) s of the ${DEADLINE} s allowed; output and errors of each part in $LOG_DIR"
}

# ---- The machine's PyTorch (a Python that cannot import it is not "no CUDA device")
if ! TORCH=$("$PY" -c 'import torch; print(torch.__version__, torch.version.cuda or "none", int(torch.cuda.is_available()))' \
             2>"$LOG_DIR/torch.err"); then
  echo "error: $PY cannot import torch ($(tail -1 "$LOG_DIR/torch.err")): the check uses the machine's own" \
       "PyTorch; set PY to the Python that has it" >&2; exit 2
fi
read -r TORCH_VERSION TORCH_CUDA HAS_CUDA <<<"$TORCH"
if ((CPU)); then
  echo "--cpu: GPU parts skipped, notebooks on the CPU (torch $TORCH_VERSION)"
  export COURSE_DEVICE=cpu CUDA_VISIBLE_DEVICES=""
elif ((HAS_CUDA)); then
  "$PY" -c "import torch; print('GPU:', torch.cuda.get_device_name(0), '| torch', torch.__version__, '| CUDA', torch.version.cuda)"
else
  echo "error: no CUDA device: torch $TORCH_VERSION (CUDA build: $TORCH_CUDA) sees no GPU here;" \
       "run with --cpu to check everything but the GPU parts" >&2; exit 2
fi

# ---- Install what the machine lacks, then check that the course imports
t0=$SECONDS
echo "== install: the course's requirements this Python lacks, from $WHEELS into $INSTALL_DIR"
if "$PY" benchmarks/gpu_wheels_install.py --wheels "$WHEELS" --target "$INSTALL_DIR" 2>"$LOG_DIR/install.err"; then
  export PYTHONPATH="$INSTALL_DIR:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
  export JUPYTER_PATH="$INSTALL_DIR/share/jupyter" JUPYTER_RUNTIME_DIR="$LOG_DIR/jupyter" IPYTHONDIR="$LOG_DIR/ipython"
  if "$PY" -c "import fastai.vision.all, papermill, ipykernel, helpers" 2>"$LOG_DIR/install.err"; then
    record install ok $((SECONDS - t0))
  else
    echo "error: after the install, $PY cannot import the course: $(grep -v '^ ' "$LOG_DIR/install.err" | tail -1)" >&2
    record install failed $((SECONDS - t0))
  fi
else
  tail -1 "$LOG_DIR/install.err" >&2
  record install failed $((SECONDS - t0))
fi
if [[ ${STATUS[0]} != ok ]]; then summary; exit 1; fi

# ---- Helpers the parts' commands call
export PY ROOT SMOKE RUNS LOG_DIR
notebook() {  # notebook NN_: notebooks/NN_*.ipynb on the smoke profile, papermill, the kernel above
  "$PY" - "$1" <<'EOF'
import os, sys
from helpers.config import pick_device
from helpers.course.notebooks import notebooks
from helpers.course.runner import execute, failure, parameters
nb, = notebooks("notebooks", [sys.argv[1]], required=True)
smoke = os.environ["SMOKE"]
out = f"{smoke}/runs/notebooks/{nb.name}"
try:
    execute(nb, out, parameters("smoke", "phantom", f"{smoke}/runs", f"{smoke}/data"))
except Exception as e:  # the notebook's own error, one line
    sys.exit(f"{nb.name} failed: {failure(e)}")
print(f"{nb.name} ran on {pick_device()}; executed copy {out}")
EOF
}
export -f notebook

# ---- The parts, under one deadline
for line in "${PARTS[@]}"; do
  IFS='|' read -r name kind what cmd <<<"$line"
  selected "$name" || continue
  if ((CPU)) && [[ $kind == gpu ]]; then record "$name" "skipped (--cpu)" 0; continue; fi
  left=$((DEADLINE - (SECONDS - START)))
  limit=$((left < PART_LIMIT ? left : PART_LIMIT))
  if ((limit < MIN_PART)); then
    echo "-- $name skipped: ${left} s of the ${DEADLINE} s left"; record "$name" "skipped (time)" 0; continue
  fi
  echo "== $name: $what (at most $limit s)"
  t0=$SECONDS
  timeout -k 10 "$limit" bash -c "$cmd" 2>"$LOG_DIR/$name.err" | tee "$LOG_DIR/$name.out"
  rc=${PIPESTATUS[0]}
  case $rc in
    0) status=ok ;;
    124|137) status=timeout ;;
    *) status="failed (exit $rc)" ;;
  esac
  # its errors without progress bars and the kernel's routine warning
  errors() { tr '\r' '\n' <"$LOG_DIR/$name.err" | grep -v -e '%|' -e '^\s*$' -e 'IPKernelApp\] WARNING'; }
  if [[ $status != ok ]]; then
    echo "!! $name: $status; the end of its errors ($LOG_DIR/$name.err):"
    errors | tail -8
  fi
  # "dcgan steps=..: ours .. ratio 0.97 .." -> "dcgan steps=.. 0.97"; "after 10 steps: penalty ..
  # |diff| 3e-05 .." -> "after 10 steps |diff| 3e-05"; "layout: a / b = 1.1 (..)" as it is
  ratios=$(awk '/^layout: / { v = $0; sub(/ \(.*/, "", v); printf "%s%s", sep, v; sep = "; "; next }
                /ratio [0-9]|\|diff\| [0-9]/ {
                  lab = $0; sub(/:.*/, "", lab); sub(/ +ours +/, " ", lab); sub(/ +[0-9.]+ +reference.*/, "", lab)
                  gsub(/ +/, " ", lab)
                  if (match($0, /ratio [0-9.]+/)) v = substr($0, RSTART + 6, RLENGTH - 6)
                  else { match($0, /\|diff\| [0-9.e+-]+/); v = substr($0, RSTART, RLENGTH) }
                  printf "%s%s %s", sep, lab, v; sep = "; " }' "$LOG_DIR/$name.out")
  # a part that did not end well says why instead
  case $status in
    ok) ;;
    timeout) ratios="ran past its $limit s" ;;
    *) ratios=$(errors | tail -1 | cut -c1-100) ;;
  esac
  record "$name" "$status" $((SECONDS - t0)) "$ratios"
done

summary
for s in "${STATUS[@]}"; do [[ $s == ok || $s == skipped* ]] || exit 1; done
