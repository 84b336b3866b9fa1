#!/usr/bin/env bash
# A rehearsal of the GPU check on a CPU machine, before a GPU is ever at hand: does the packaging
# work on a fresh machine with only its own Python and the wheel folder? It
#   1. makes (or reuses) a bare Python 3.12 virtual environment, BARE, holding only what a GPU
#      machine's image has: PyTorch and torchvision (PyPI's build) and the scientific stack;
#   2. clones this course's committed state into a fresh folder (CLONE) and writes the wheel
#      folder there with benchmarks/gpu_wheels.py (needs pip access; DOWNLOAD_PY, any Python
#      with pip);
#   3. runs `bash benchmarks/gpu_check.sh --cpu` in the clone with PY=BARE/bin/python, without
#      network where `unshare` allows it (a network namespace with only the loopback);
# and prints the check's table and the time it took. Minutes and about 6 GB (PyTorch) the
# first time; not part of `make test`.
#
#   bash benchmarks/gpu_check_rehearsal.sh
# Settings (environment): PYTHON312 (default: python3.12, else pyenv's 3.12.*), BARE (default
# /tmp/bare312), CLONE (default a new temporary folder), DOWNLOAD_PY (default python3);
# anything else gpu_check.sh reads (DEADLINE, PART_LIMIT, LOG_DIR) passes through.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
BARE=${BARE:-/tmp/bare312}
CLONE=${CLONE:-$(mktemp -d -t gpu_check_clone.XXXXXX)/course}
DOWNLOAD_PY=${DOWNLOAD_PY:-python3}
# What a GPU machine's image has, at the course's versions
STACK=(torch torchvision numpy scipy pandas scikit-learn matplotlib seaborn pillow tqdm pyyaml jinja2)

if ! "$BARE/bin/python" -c "import torch, torchvision" 2>/dev/null; then
  PYTHON312=${PYTHON312:-$(command -v python3.12 || ls -d "$HOME"/.pyenv/versions/3.12.*/bin/python3 2>/dev/null | tail -1)}
  [[ -n $PYTHON312 ]] || { echo "error: no Python 3.12 found: set PYTHON312" >&2; exit 2; }
  [[ ! -e $BARE ]] || { echo "error: $BARE exists but cannot import torch: remove it or set BARE" >&2; exit 2; }
  echo "== a bare Python 3.12 in $BARE, with ${STACK[*]}"
  "$PYTHON312" -m venv "$BARE"
  "$BARE/bin/python" -m pip install -q -c constraints.txt "${STACK[@]}"
fi
"$BARE/bin/python" -c "import sys, torch; print('bare Python', sys.version.split()[0], '| torch', torch.__version__)"

echo "== a fresh clone of $(git rev-parse --short HEAD) in $CLONE"
[[ -z $(git status --porcelain --untracked-files=no) ]] || echo "   (uncommitted changes here are not in it)"
git clone -q "$SRC" "$CLONE"
cd "$CLONE"
echo "== the wheel folder, written by $DOWNLOAD_PY"
"$DOWNLOAD_PY" benchmarks/gpu_wheels.py

echo "== the check: PY=$BARE/bin/python bash benchmarks/gpu_check.sh --cpu"
run=(env PY="$BARE/bin/python" bash benchmarks/gpu_check.sh --cpu)
if ! command -v ip >/dev/null; then NET=()
elif unshare -n true 2>/dev/null; then NET=(unshare -n)
elif unshare -rn true 2>/dev/null; then NET=(unshare -rn)
else NET=(); echo "   (unshare cannot cut the network here: the check runs with it, as pip is told --no-index)"; fi
t0=$SECONDS
set +e
if ((${#NET[@]})); then
  echo "   without network (${NET[*]}: only the loopback, which the notebook kernels use)"
  "${NET[@]}" bash -c 'ip link set lo up && exec "$@"' _ "${run[@]}"
else
  "${run[@]}"
fi
rc=$?
echo "rehearsal: the check exited with $rc after $((SECONDS - t0)) s (clone: $CLONE)"
exit $rc
