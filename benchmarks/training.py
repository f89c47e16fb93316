"""Training speed: the suite's ensemble trainer against one torch.nn model per seed.

    python benchmarks/training.py            # the full comparison (a few minutes on 2 cores)
    python benchmarks/training.py --quick    # H=64, T=100 only (tens of seconds)

Same as `rnnbench bench`; every option of `rnnbench bench --help` applies. Writes
results/benchmarks/{training,peak,profile,scaling}.csv and scaling.png.
"""

import sys

from rnnbench.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
