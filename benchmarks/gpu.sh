#!/usr/bin/env bash
# The GPU checks in one call of at most 8 minutes, on a machine with PyTorch (and a GPU) but no
# Snakemake and no network: the .test pipeline with runtime.device set, then `rnnbench bench` at
# the pipeline's shapes (H 16 and 32, batch 32, T 100, 10 models) and at H = 128.
#
#   benchmarks/gpu.sh --inventory     # what the machine has: $OUT/inventory.txt, $OUT/freeze.txt
#   benchmarks/gpu-wheels.sh FREEZE   # here: build/wheels/part-N, what that machine lacks
#   benchmarks/gpu.sh                 # there, build/wheels/part-* carried: the checks on cuda
#   benchmarks/gpu.sh --device cpu    # the same on the CPU (checks the script itself)
#   benchmarks/gpu.sh --dry-run       # the environment, then the pipeline's dry run only
#
# Everything goes to $OUT (default results/gpu): gpu.log, inventory, the pipeline's tables and
# job times (pipeline/), the benchmark's CSVs (bench/), and seconds per stage (stages.tsv). The
# pipeline runs in a scratch copy of the checkout, so results/ of the checkout is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
device=cuda
dry_run=0
inventory=0
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=${2:?--device cuda|cpu} && shift ;;
    --dry-run) dry_run=1 ;;
    --inventory) inventory=1 ;;
    *) echo "usage: benchmarks/gpu.sh [--device cuda|cpu] [--dry-run] [--inventory]" >&2 && exit 2 ;;
  esac
  shift
done
out=$(mkdir -p "${OUT:-results/gpu}" && cd "${OUT:-results/gpu}" && pwd)
python=${PYTHON:-python3}
budget=${GPU_BUDGET_S:-480} # the whole call; each stage gets what the earlier ones left
start=$SECONDS
log() { echo "[gpu.sh +$((SECONDS - start))s] $*" | tee -a "$out/gpu.log"; }
left() { echo $((budget - (SECONDS - start) - ${1:-0})); }
stage() { # stage NAME SECONDS COMMAND...: run with a time limit, record its wall time
  local name=$1 limit=$2 t0=$SECONDS rc=0
  shift 2
  log "$name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" >> "$out/$name.log" 2>&1 || rc=$?
  printf '%s\t%s\t%s\n' "$name" "$((SECONDS - t0))" "$rc" >> "$out/stages.tsv"
  log "$name: exit $rc after $((SECONDS - t0))s (log: $out/$name.log)"
  return $rc
}
printf 'stage\tseconds\texit\n' > "$out/stages.tsv"

# 0. What this machine has: gpu-wheels.sh leaves out of build/wheels what freeze.txt lists.
"$python" - > "$out/inventory.txt" 2>&1 << 'PY' || true
import platform, sys
print("python", sys.version.split()[0], platform.machine())
try:
    import torch
    print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
    if torch.cuda.is_available():
        print("device", torch.cuda.get_device_name(0))
except ImportError as err:
    print("torch missing:", err)
PY
"$python" -m pip freeze > "$out/freeze.txt" 2> /dev/null || true
command -v nvidia-smi > /dev/null && nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
log "$(tr '\n' ' ' < "$out/inventory.txt")"
[ $inventory = 1 ] && exit 0

# 1. An environment over the machine's packages (its torch: the parent's site-packages on the
# path, as --system-site-packages would, also when PYTHON is a venv's), the rest from build/wheels.
venv=${GPU_VENV:-/tmp/rnnbench-gpu-venv}
rm -rf "$venv" && "$python" -m venv "$venv"
"$python" -c 'import site; print("\n".join(site.getsitepackages()))' \
  > "$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/parent.pth"
if [ -d build/wheels ]; then # gpu-wheels.sh's parts, each carried by a call of its own
  install=(--no-index)
  for part in build/wheels/part-* build/wheels; do install+=(--find-links "$part"); done
else
  install=() # no wheels carried: the machine's own index (a machine with network)
fi
stage install "$(left 420)" "$venv/bin/pip" install -q "${install[@]}" -e . || exit 1
export PATH="$venv/bin:$PATH" TORCH_EXTENSIONS_DIR="$venv/torch_extensions"
if [ "$device" = cuda ]; then
  python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'" 2>> "$out/gpu.log" \
    || { log "no CUDA device: stopping"; exit 1; }
fi

# 2. The .test pipeline, device overridden, in a scratch copy of the checkout.
work=$(mktemp -d /tmp/rnnbench-gpu-XXXXXX)
tar --exclude=./results --exclude=./build --exclude=./.snakemake --exclude=./logs --exclude=./report \
  -cf - . | tar -xf - -C "$work"
config=(--configfile .test/config/config.yaml --config "runtime={device: $device}")
if [ $dry_run = 1 ]; then
  (cd "$work" && stage pipeline_dry_run "$(left)" snakemake -n --cores "$(nproc)" "${config[@]}")
  log "dry run: done"
  exit 0
fi
rc=0
(cd "$work" && stage pipeline "$(left 150)" snakemake --cores "$(nproc)" "${config[@]}") || rc=$?
mkdir -p "$out/pipeline" # the tables (with their provenance) and each job's wall time
cp -r "$work/results/tables" "$work/results/benchmarks" "$out/pipeline/" 2> /dev/null || true

# 3. The benchmark: the pipeline's shapes (added by default) and H = 128, both sides one thread.
stage bench "$(left 10)" rnnbench bench --device "$device" --cells rnn lstm gru indrnn \
  --hidden-sizes 128 --seq-lens 100 --batch-size 32 --models 10 --threads 1 --naive-threads 1 \
  --rounds 2 --round-seconds 0.3 --profile-seq-len 100 --no-scaling \
  --out "$out/bench/training.csv" || rc=$?
log "done in $((SECONDS - start))s (exit $rc): $out"
exit $rc
