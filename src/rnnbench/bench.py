"""`rnnbench bench`: the suite's ensemble trainer step against the naive per-seed baseline.

Everything is measured in one process, in interleaved rounds, so that machine load hits every
implementation alike. A round runs one untimed step, then consecutive steps for at least
`--round-seconds`, as a training loop does (the first step after another implementation ran is
slower for every implementation: caches, idle cores); a rate is the fastest round's mean step (as
`timeit` recommends), and so is the sgemm peak measured in the same run. One trainer step =
forward, backward, clipping and an Adam update, on one fixed batch of the adding task (data
generation is left out on both sides). glibc's malloc keeps freed memory (`--allocator steady`):
the naive baseline's per-step buffers are not page-faulted in again at every step, whatever ran
before in the process (`set_allocator`).

- `naive`: one `nn.RNN` / `nn.LSTM` / `nn.GRU` + `nn.Linear` read-out per seed, autograd,
  `torch.optim.Adam`, at torch's default thread count, the seeds one after another.
- `ensemble`: the suite's trainer: every seed in one `Ensemble`, gradients from the hand-written
  BPTT, per-model clipping and `EnsembleOptimizer`: the trainer's own step (`trainstep`).
- `autograd`: the same ensemble with autograd through the time loop (optional, for reference).
- `eager`: the same ensemble without the compiled kernels: the cells' Python time loops, and for the
  LSTM the eager cell instead of the fused one (optional).
- `aten`: the same ensemble with the compiled loops making ATen calls per step at every hidden
  size, as before the small-size path (H <= 32; optional).

GFLOP/s count 6 B H^2 T per model step for the vanilla RNN (forward W h, backward dh and dW), four
(three) times that for the LSTM (GRU); input projections and elementwise work are not counted.
The roofline counts both (`roofline_steps_per_s`): per model step, 6 B T (R + G H (D+1)) flops of
products (R recurrent weights, G gate blocks, D inputs) at the sgemm peak, plus the cell's tanh
and sigmoid evaluations (`Cell.transcendentals`, B T H each) at their measured throughput (the
compiled float32 tanh, torch's sigmoid, on an in-cache block: one thread's, times the row's
thread count), all measured in the same run; `roofline_fraction` is the measured rate over it.
The read-out, loss, clipping and optimizer are outside it.

Besides the grid given (H, T, batch, models, threads), the default table has the pipeline's
shapes (PIPELINE: H = 16 and 32, batch 32, T = 100, 10 models, one thread for both sides).
Also: `gradient_profile` (float32 as in training, and float64) timed against one trainer step, and
the trainer's cost against T and against the hidden size.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from .benchsteps import (
    ALLOCATORS,
    STEPS,
    TASK,
    Peaks,
    adding_batch,
    elementwise_peaks,
    ensemble_step,
    roofline_steps_per_s,
    set_allocator,
    sgemm_peak,
    step_seconds,
)

COLUMNS = [
    "impl",
    "cell",
    "hidden_size",
    "batch_size",
    "seq_len",
    "models",
    "threads",
    "model_steps_per_s",
    "gflops",
    "peak_gflops",
    "peak_fraction",
    "speedup_vs_naive",
    "roofline_steps_per_s",
    "roofline_fraction",
    "time_vs_first_cell",
]


@dataclass(frozen=True)
class BenchConfig:
    cells: tuple[str, ...] = ("rnn", "lstm")
    hidden_sizes: tuple[int, ...] = (64, 128)
    seq_lens: tuple[int, ...] = (100, 500)
    batch_size: int = 64
    models: int = 16  # seeds trained at once (the naive baseline trains them one by one)
    threads: tuple[int, ...] = (2,)  # for the ensemble; the first also for profile and scaling
    naive_threads: tuple[int, ...] = (0,)  # 0: torch's default thread count (the baseline)
    impls: tuple[str, ...] = ("naive", "ensemble")
    rounds: int = 3  # interleaved rounds per implementation; the fastest round counts
    round_seconds: float = 0.5  # consecutive steps per round until this long (at least one)
    allocator: str = "steady"  # ALLOCATORS: how glibc's malloc runs in the benchmark's process
    device: str = "cpu"
    pipeline_hidden_sizes: tuple[int, ...] = (16, 32)  # at the PIPELINE shape; () to skip
    profile_seq_len: int = 500  # gradient_profile vs one training step, 0 to skip
    scaling_seq_lens: tuple[int, ...] = (50, 100, 200, 400, 800)  # at the first hidden size
    scaling_hidden_sizes: tuple[int, ...] = (32, 64, 128, 256)  # at the first T
    out_dir: Path = field(default=Path("results/benchmarks"))


# The pipeline's jobs: E3 trains at H = 16, E2, E4 and E5 at H = 32, one thread per job, the
# ensembles of 2 lrs x 5 seeds; batch 32 as E2-E4 (E5: 64)
PIPELINE = dict(batch_size=32, models=10, seq_lens=(100,), threads=(1,), naive_threads=(1,))
QUICK = dict(
    hidden_sizes=(64,), seq_lens=(100,), rounds=2, profile_seq_len=100, pipeline_hidden_sizes=(16,)
)
QUICK_SCALING = dict(scaling_seq_lens=(50, 100), scaling_hidden_sizes=(32, 64))


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="measure training speed against the naive per-seed baseline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = BenchConfig()
    p.add_argument(
        "--cells",
        nargs="+",
        default=list(d.cells),
        help="built-in names or module:Class paths, timed in the same interleaved rounds "
        "(time_vs_first_cell: each against the first)",
    )
    p.add_argument("--hidden-sizes", nargs="+", type=int, default=list(d.hidden_sizes))
    p.add_argument("--seq-lens", nargs="+", type=int, default=list(d.seq_lens), help="T")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--models", type=int, default=d.models, help="seeds trained at once")
    p.add_argument("--threads", nargs="+", type=int, default=list(d.threads), help="ensemble")
    p.add_argument(
        "--naive-threads", nargs="+", type=int, default=[0], help="0: torch's default (baseline)"
    )
    p.add_argument("--impls", nargs="+", default=list(d.impls), choices=list(STEPS))
    p.add_argument("--rounds", type=int, default=d.rounds, help="timed rounds; fastest counts")
    p.add_argument(
        "--round-seconds", type=float, default=d.round_seconds, help="steps back to back per round"
    )
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    p.add_argument(
        "--allocator", default=d.allocator, choices=list(ALLOCATORS), help="glibc malloc mode"
    )
    p.add_argument(
        "--pipeline-hidden-sizes",
        nargs="*",
        type=int,
        default=list(d.pipeline_hidden_sizes),
        help="H at the pipeline's shape (batch 32, T 100, 10 models, 1 thread); none to skip",
    )
    p.add_argument(
        "--profile-seq-len", type=int, default=d.profile_seq_len, help="0: skip the profile timing"
    )
    p.add_argument("--no-scaling", action="store_true", help="skip the cost-scaling table")
    p.add_argument("--quick", action="store_true", help="H=64, T=100, small scaling table")
    p.add_argument("--out", type=Path, default=None, help="CSV (default results/benchmarks/...)")


def config_from_args(args) -> BenchConfig:
    from . import cells

    for name in args.cells:
        cells.get(name)  # an unknown cell is a one-line error before anything is timed
    cfg = BenchConfig(
        cells=tuple(args.cells),
        hidden_sizes=tuple(args.hidden_sizes),
        seq_lens=tuple(args.seq_lens),
        batch_size=args.batch_size,
        models=args.models,
        threads=tuple(args.threads),
        naive_threads=tuple(args.naive_threads),
        impls=tuple(args.impls),
        rounds=args.rounds,
        round_seconds=args.round_seconds,
        device=args.device,
        allocator=args.allocator,
        pipeline_hidden_sizes=tuple(args.pipeline_hidden_sizes),
        profile_seq_len=args.profile_seq_len,
        out_dir=Path(args.out).parent if args.out else BenchConfig().out_dir,
    )
    if args.quick:  # smaller defaults; options given explicitly win
        defaults = BenchConfig()
        quick = {
            k: v
            for k, v in {**QUICK, **QUICK_SCALING}.items()
            if getattr(cfg, k) == getattr(defaults, k)
        }
        cfg = replace(cfg, **quick)
    if args.no_scaling:
        cfg = replace(cfg, scaling_seq_lens=(), scaling_hidden_sizes=())
    return cfg


def run(args) -> int:
    cfg = config_from_args(args)
    tables = benchmark(cfg, log=lambda line: print(line, file=sys.stderr, flush=True))
    out = Path(args.out) if args.out else cfg.out_dir / "training.csv"
    paths = write_tables(tables, out)
    print(format_table(tables["training"]))
    if "profile" in tables:
        print(tables["profile"].to_string(index=False))
    if "scaling" in tables:
        print(tables["scaling"].to_string(index=False))
    print("wrote " + ", ".join(map(str, paths)))
    return 0


# --- measurement -----------------------------------------------------------------------------


def benchmark(cfg: BenchConfig, log: Callable[[str], None] = lambda line: None) -> dict:
    """All tables of one run: training (COLUMNS), peak, profile, scaling (pandas DataFrames)."""
    import pandas as pd
    import torch

    from . import runtime

    allocator = set_allocator(cfg.allocator)
    log(f"allocator: {allocator}")
    default_threads = torch.get_num_threads()  # torch's choice, before setup() overrides it
    naive_threads = [n or default_threads for n in cfg.naive_threads]  # [0]: the baseline
    device = runtime.setup(cfg.threads[0], cfg.device)
    thread_counts = sorted({1, 2, *naive_threads, *cfg.threads})
    tanh, sigmoid = elementwise_peaks(device)  # one thread's: each thread has a core's units
    peaks = {n: Peaks(sgemm_peak(n, device), n * tanh, n * sigmoid) for n in thread_counts}
    log(
        "peaks: "
        + ", ".join(
            f"{n} threads sgemm {p.sgemm:.0f} GFLOP/s, tanh {p.tanh:.2f} G/s, sigmoid "
            f"{p.sigmoid:.2f} G/s"
            for n, p in peaks.items()
        )
    )
    grids = [(cfg, naive_threads), *[(p, list(p.naive_threads)) for p in _pipeline(cfg)]]
    rows = []
    for grid, naive in grids:
        for hidden in grid.hidden_sizes:
            for seq_len in grid.seq_lens:
                shape = dict(hidden_size=hidden, seq_len=seq_len)
                rows += _compare(grid, shape, naive, peaks, device, log)
    tables = {
        "training": pd.DataFrame(rows, columns=COLUMNS),
        "peak": pd.DataFrame(
            [
                dict(
                    threads=n,
                    peak_gflops=p.sgemm,
                    tanh_gevals=p.tanh,
                    sigmoid_gevals=p.sigmoid,
                    device=str(device),
                    allocator=allocator,
                )
                for n, p in peaks.items()
            ]
        ),
    }
    if cfg.profile_seq_len:
        profile = [row for grid, _ in grids for row in _profile_rows(grid, device, log)]
        tables["profile"] = pd.DataFrame(profile)
    if cfg.scaling_seq_lens or cfg.scaling_hidden_sizes:
        tables["scaling"] = pd.DataFrame(_scaling_rows(cfg, device, log))
    return tables


def _pipeline(cfg: BenchConfig) -> list[BenchConfig]:
    """The pipeline's shapes as a grid of their own (none where the grid given covers them)."""
    hidden = tuple(
        h
        for h in cfg.pipeline_hidden_sizes
        if not (
            h in cfg.hidden_sizes
            and all(getattr(cfg, k) == v for k, v in PIPELINE.items() if k != "seq_lens")
            and set(PIPELINE["seq_lens"]) <= set(cfg.seq_lens)
        )
    )
    return [replace(cfg, hidden_sizes=hidden, **PIPELINE)] if hidden else []


def _compare(cfg: BenchConfig, shape: dict, naive_threads: list, peaks: dict, device, log):
    """Interleaved rounds of every cell x implementation on one shape (H, T) -> one row per
    cell x impl x threads; time_vs_first_cell: its step time over the first cell's (same impl
    and threads), measured in the same rounds."""
    import torch

    from . import cells

    b, e, hidden, seq_len = cfg.batch_size, cfg.models, shape["hidden_size"], shape["seq_len"]
    runners = {}  # (cell, impl, threads) -> one step of all `models` seeds
    for cell in cfg.cells:
        for impl in cfg.impls:
            for n in naive_threads if impl == "naive" else cfg.threads:
                step = STEPS[impl](cell, hidden, b, seq_len, e, device)
                if step is not None:  # None: a cell without a torch.nn baseline has no naive run
                    runners[(cell, impl, n)] = step
    best = {key: math.inf for key in runners}
    for _ in range(cfg.rounds):
        for key, step in runners.items():
            torch.set_num_threads(key[2])
            best[key] = min(best[key], step_seconds(step, device, cfg.round_seconds))
    rows = []
    for (cell, impl, n), seconds in best.items():
        flop_per_model_step = 6 * b * cells.get(cell).recurrent_weights(hidden) * seq_len
        naive_rate = e / best.get((cell, "naive", naive_threads[0]), math.nan)  # the baseline
        rate = e / seconds
        gflops = rate * flop_per_model_step / 1e9
        peak = peaks[n]
        roofline = roofline_steps_per_s(cell, hidden, b, seq_len, peak)
        rows.append(
            dict(
                impl=impl,
                **_row_shape(dict(shape, cell=cell), b, e),
                threads=n,
                model_steps_per_s=rate,
                gflops=gflops,
                peak_gflops=peak.sgemm,
                peak_fraction=gflops / peak.sgemm,
                speedup_vs_naive=rate / naive_rate,
                roofline_steps_per_s=roofline,
                roofline_fraction=rate / roofline,
                time_vs_first_cell=seconds / best.get((cfg.cells[0], impl, n), math.nan),
            )
        )
        log(
            f"{impl:9s} {cell:4s} H={hidden:<4d} T={seq_len:<4d} "
            f"B={b:<3d} threads={n} {rate:8.1f} model-steps/s {gflops:6.1f} GFLOP/s "
            f"({gflops / peak.sgemm:.0%} of peak, {rate / roofline:.0%} of roofline) "
            f"x{rate / naive_rate:.2f} vs naive, "
            f"{rows[-1]['time_vs_first_cell']:.2f}x the time of {cfg.cells[0]}"
        )
    return rows


def _row_shape(shape: dict, batch: int, models: int) -> dict:
    return dict(
        cell=shape["cell"],
        hidden_size=shape["hidden_size"],
        batch_size=batch,
        seq_len=shape["seq_len"],
        models=models,
    )


def _profile_rows(cfg: BenchConfig, device, log) -> list[dict]:
    """gradient_profile of `models` models at T = profile_seq_len against one trainer step.

    As in training: float32 (training-time probes) or float64 (probes at initialisation), with
    the probe's buffers kept between calls (train.train_trial keeps them for the whole job).
    """
    import torch

    from .gradients import gradient_profile
    from .models import Ensemble
    from .spec import ModelSpec
    from .tasks import TASKS
    from .toolkit import Workspace

    task, seq_len, b, e = TASKS[TASK], cfg.profile_seq_len, cfg.batch_size, cfg.models
    n = cfg.threads[0]
    torch.set_num_threads(n)
    x, y = adding_batch(seq_len, b, e, device)
    rows = []
    for cell in cfg.cells:
        for hidden in cfg.hidden_sizes:
            spec = ModelSpec(cell=cell, hidden_size=hidden)
            model = Ensemble(spec, 2, 1, list(range(e)), seq_len=seq_len)
            model = model.to(device)
            step = ensemble_step(cell, hidden, b, seq_len, e, device)
            runs = {"train_step": (step, cfg.round_seconds)}  # name: (fn, min_seconds)
            for dtype, suffix in ((torch.float32, ""), (torch.float64, "_float64")):
                ws = Workspace()  # kept between the rounds, as train_trial keeps it
                profile = partial(gradient_profile, model, task, x, y, ws, dtype)
                runs[f"profile{suffix}"] = (profile, 0)
            best = dict.fromkeys(runs, math.inf)
            for _ in range(cfg.rounds):  # interleaved, as _compare: load hits all three alike
                for name, (fn, min_seconds) in runs.items():
                    best[name] = min(best[name], step_seconds(fn, device, min_seconds))
            row = dict(
                **_row_shape(dict(cell=cell, hidden_size=hidden, seq_len=seq_len), b, e),
                threads=n,
                **{f"{name}_seconds": seconds for name, seconds in best.items()},
            )
            for suffix in ("", "_float64"):
                row[f"profile{suffix}_over_step"] = best[f"profile{suffix}"] / best["train_step"]
            rows.append(row)
            log(
                f"gradient_profile {cell} H={hidden} T={seq_len}: float32 "
                f"{row['profile_over_step']:.2f}x, float64 {row['profile_float64_over_step']:.2f}x "
                f"one trainer step ({row['train_step_seconds']:.2f} s)"
            )
    return rows


def _scaling_rows(cfg: BenchConfig, device, log) -> list[dict]:
    """Seconds per trainer step (all models) against T and against H, per cell."""
    import torch

    from . import cells

    n, b, e = cfg.threads[0], cfg.batch_size, cfg.models
    torch.set_num_threads(n)
    grid = [("seq_len", cfg.hidden_sizes[0], t) for t in cfg.scaling_seq_lens]
    grid += [("hidden_size", h, cfg.seq_lens[0]) for h in cfg.scaling_hidden_sizes]
    rows = []
    for cell in cfg.cells:
        for axis, hidden, seq_len in grid:
            step = ensemble_step(cell, hidden, b, seq_len, e, device)
            seconds = min(step_seconds(step, device, cfg.round_seconds) for _ in range(cfg.rounds))
            flop = 6 * b * cells.get(cell).recurrent_weights(hidden) * seq_len * e
            rows.append(
                dict(
                    axis=axis,
                    cell=cell,
                    hidden_size=hidden,
                    batch_size=b,
                    seq_len=seq_len,
                    models=e,
                    threads=n,
                    step_seconds=seconds,
                    model_step_ms=1e3 * seconds / e,
                    gflops=flop / seconds / 1e9,
                )
            )
            log(f"scaling {cell} H={hidden} T={seq_len}: {1e3 * seconds / e:.2f} ms per model-step")
    return rows


# --- output ----------------------------------------------------------------------------------


def write_tables(tables: dict, training_csv: Path) -> list[Path]:
    """training.csv where asked, the other tables beside it; scaling also as a figure."""
    training_csv.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, table in tables.items():
        path = training_csv if name == "training" else training_csv.with_name(f"{name}.csv")
        table.to_csv(path, index=False)
        paths.append(path)
    if "scaling" in tables and len(tables["scaling"]):
        paths.append(plot_scaling(tables["scaling"], training_csv.with_name("scaling.png")))
    return paths


def plot_scaling(scaling, path: Path) -> Path:
    """Two panels: ms per model-step against T and against H, one line per cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, axis in zip(axes, ("seq_len", "hidden_size"), strict=True):
        part = scaling[scaling.axis == axis]
        for cell, rows in part.groupby("cell"):
            ax.plot(rows[axis], rows.model_step_ms, marker="o", label=cell)
        ax.set(xscale="log", yscale="log", xlabel=axis, ylabel="ms per model-step")
        ax.set_xticks(sorted(set(part[axis])), [str(v) for v in sorted(set(part[axis]))])
        ax.minorticks_off()
        ax.legend()
    fixed = scaling.iloc[0]
    fig.suptitle(
        f"ensemble trainer, {fixed.models} models, batch {fixed.batch_size}, "
        f"{fixed.threads} threads"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def format_table(training) -> str:
    """The comparison as a fixed-width table."""
    cols = [
        "impl",
        "cell",
        "hidden_size",
        "batch_size",
        "seq_len",
        "threads",
        "model_steps_per_s",
        "gflops",
        "peak_fraction",
        "speedup_vs_naive",
        "roofline_fraction",
        "time_vs_first_cell",
    ]
    return training[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}")
