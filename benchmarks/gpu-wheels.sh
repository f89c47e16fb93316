#!/usr/bin/env bash
# Wheels for benchmarks/gpu.sh on a machine without network: rnnbench's dependencies except torch
# (and theirs), built here into build/wheels (git-ignored), to be carried there.
#
#   benchmarks/gpu-wheels.sh [FREEZE]
#
# FREEZE: that machine's `pip freeze` (benchmarks/gpu.sh --inventory writes $OUT/freeze.txt);
# what it lists is left out (pip there takes its own copy when the version fits, and names the
# package when not). setuptools comes too (it builds rnnbench there). A device call carries at
# most 64 MiB, so the wheels are split into build/wheels/part-N of at most MAX_MIB (64) each:
# carry one per call (the machine keeps what earlier calls carried while it stays warm).
# PYTHON_VERSION (e.g. 3.12; default: FREEZE's machine's, from inventory.txt beside it, else this
# python's) fetches the binary wheels built for that Python.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
freeze=${1:-}
dir=build/wheels
rm -rf "$dir" && mkdir -p "$dir"
deps=$("$python" - << 'PY'
import tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print("\n".join(["setuptools>=64"] + [d for d in deps if not d.replace(" ", "").startswith("torch")]))
PY
)
mapfile -t reqs <<< "$deps"
# every dependency as a wheel (pure-Python sdists built into wheels), for this python
"$python" -m pip wheel -q --prefer-binary -w "$dir" "${reqs[@]}"
norm() { tr 'A-Z_.' 'a-z--'; } # a distribution name as pip compares them
if [ -n "$freeze" ]; then
  for whl in "$dir"/*.whl; do
    name=$(basename "$whl" | cut -d- -f1 | norm)
    if cut -d= -f1 "$freeze" | cut -d' ' -f1 | norm | grep -qx "$name"; then
      rm "$whl" # that machine has it
    fi
  done
fi
target=${PYTHON_VERSION:-}
inventory=$(dirname "${freeze:-.}")/inventory.txt
if [ -z "$target" ] && [ -n "$freeze" ] && [ -f "$inventory" ]; then
  target=$(awk '/^python / {split($2, v, "."); print v[1] "." v[2]}' "$inventory")
fi
here=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
if [ -n "$target" ] && [ "$target" != "$here" ]; then # binary wheels again, for that python
  for whl in "$dir"/*-cp3*.whl; do
    [ -e "$whl" ] || continue
    spec=$(basename "$whl" | cut -d- -f1-2 | sed 's/-/==/')
    rm "$whl"
    "$python" -m pip download -q --no-deps --only-binary=:all: -d "$dir" \
      --python-version "$target" --platform manylinux2014_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 "$spec"
  done
fi
# into parts of at most MAX_MIB (64: what one device call carries), largest wheels first
"$python" - "$dir" "${MAX_MIB:-64}" << 'PY'
import sys
from pathlib import Path

folder, limit = Path(sys.argv[1]), float(sys.argv[2]) * 2**20
parts: list[list] = []  # [bytes, wheels]
for whl in sorted(folder.glob("*.whl"), key=lambda w: -w.stat().st_size):
    size = whl.stat().st_size
    part = next((p for p in parts if p[0] + size <= limit), None)
    if part is None:
        if size > limit:
            sys.exit(f"{whl.name} alone exceeds {limit / 2**20:.0f} MiB")
        parts.append(part := [0, []])
    part[0] += size
    part[1].append(whl)
for i, (size, wheels) in enumerate(parts, 1):
    (folder / f"part-{i}").mkdir()
    for whl in wheels:
        whl.rename(folder / f"part-{i}" / whl.name)
    print(f"{folder}/part-{i}: {len(wheels)} wheels, {size / 2**20:.1f} MiB")
PY
echo "for python ${target:-$here}; carry each part in a call of its own (gpu.sh reads them all)"
