"""The figures at the report's column width. Every registered figure, drawn from the .test run's
tables (slow) and from small synthetic tables (fast), is checked as a reader would look at it:
its PNG fits the report's column at the report's DPI, no text is smaller than MIN_FONT_PT,
every configured variant is drawn, no legend covers a plotted line, marker or error bar, and no
marker is cut at a panel's edge (matplotlib's bounding boxes, in display coordinates)."""

import io
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import Collection
from matplotlib.text import Text
from PIL import Image

from rnnbench import aggregate, claims, paper, plotting
from rnnbench.experiments import EXPERIMENTS, FIGURES, e1_init, e2_clipping
from rnnbench.experiments import replications as replication_figures
from rnnbench.tables import read_table

matplotlib.use("Agg")
MAX_HEIGHT_PX = 1.5 * plotting.PAGE_WIDTH_PX  # a figure taller than this is more than a page


# -- the checks ---------------------------------------------------------------------------------


def png_size(fig) -> tuple[int, int]:
    """The size in px of the PNG `plotting.save` writes."""
    buf = io.BytesIO()
    fig.savefig(
        buf, format="png", dpi=plotting.DPI, bbox_inches="tight", pad_inches=plotting.PAD_IN
    )
    return Image.open(buf).size


def shown_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def texts(fig) -> list[Text]:
    """Every visible, non-empty text: titles, labels, tick labels, legends, annotations."""
    found = [t for t in fig.texts + [fig._suptitle, fig._supxlabel, fig._supylabel] if t]
    for ax in shown_axes(fig):
        found += ax.findobj(Text)
    for legend in legends(fig):
        found += [*legend.get_texts(), legend.get_title()]
    unique = {id(t): t for t in found}.values()  # an axes' legend is among its children too
    return [t for t in unique if t.get_visible() and t.get_text().strip()]


def legends(fig) -> list:
    found = list(fig.legends)
    found += [ax.get_legend() for ax in shown_axes(fig) if ax.get_legend() is not None]
    return found


def names_drawn(fig) -> list[str]:
    """Every string a reader can find: texts, and the labels of the plotted artists."""
    labels = [t.get_text() for t in texts(fig)]
    for ax in shown_axes(fig):
        artists = [*ax.lines, *ax.collections, *ax.containers, *ax.patches]
        labels += [str(a.get_label()) for a in artists]
    return labels


def _densify(points: np.ndarray, per_segment: int = 20) -> np.ndarray:
    """points (N, 2) and points along the segments between them."""
    if len(points) < 2:
        return points
    t = np.linspace(0, 1, per_segment)[:, None, None]
    seg = points[:-1][None] * (1 - t) + points[1:][None] * t  # (per_segment, N-1, 2)
    return seg.reshape(-1, 2)


def drawn_points(ax, renderer) -> list[np.ndarray]:
    """The display coordinates of what ax plots: the vertices of its lines (and points along
    their segments), markers, error bars, bands and bars, where they are visible (inside the
    panel, or drawn unclipped)."""
    window = ax.get_window_extent(renderer)
    out = []

    def keep(xy, clipped):
        xy = xy[np.isfinite(xy).all(axis=1)]
        if clipped:
            inside = (
                (xy[:, 0] >= window.x0)
                & (xy[:, 0] <= window.x1)
                & (xy[:, 1] >= window.y0)
                & (xy[:, 1] <= window.y1)
            )
            xy = xy[inside]
        if len(xy):
            out.append(xy)

    for line in ax.lines:
        if not line.get_visible():
            continue
        xy = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
        if line.get_linestyle() not in ("None", "none", "", " "):
            xy = _densify(xy)
        keep(xy, line.get_clip_on())
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        transform = coll.get_transform()
        for path in coll.get_paths():
            keep(_densify(transform.transform(path.vertices)), coll.get_clip_on())
        offsets = coll.get_offsets()
        if len(offsets) and isinstance(coll, Collection):
            keep(coll.get_offset_transform().transform(offsets), coll.get_clip_on())
    for patch in ax.patches:
        box = patch.get_window_extent(renderer)
        corners = np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])
        keep(_densify(np.vstack([corners, corners[:1]])), patch.get_clip_on())
    return out


def legend_overlaps(fig) -> list[str]:
    """'legend <title> covers data of panel <title>' for each legend over a plotted point."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = []
    for legend in legends(fig):
        box = legend.get_window_extent(renderer)
        for ax in shown_axes(fig):
            for xy in drawn_points(ax, renderer):
                inside = (
                    (xy[:, 0] > box.x0)
                    & (xy[:, 0] < box.x1)
                    & (xy[:, 1] > box.y0)
                    & (xy[:, 1] < box.y1)
                )
                if inside.any():
                    title = legend.get_title().get_text()
                    found.append(f"legend {title!r} covers data of panel {ax.get_title()!r}")
                    break
    return found


def cut_markers(fig) -> list[str]:
    """Markers that a panel's edge cuts: partly inside the panel, partly outside."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = []
    for ax in shown_axes(fig):
        window = ax.get_window_extent(renderer)
        for line in ax.lines:
            if line.get_marker() in (None, "None", "none", "", " ") or not line.get_clip_on():
                continue
            r = line.get_markersize() / 2 * fig.dpi / 72  # px
            xy = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
            for x, y in xy[np.isfinite(xy).all(axis=1)]:
                overlaps = (
                    x + r > window.x0
                    and x - r < window.x1
                    and y + r > window.y0
                    and y - r < window.y1
                )
                whole = (
                    x - r >= window.x0 - 1
                    and x + r <= window.x1 + 1
                    and y - r >= window.y0 - 1
                    and y + r <= window.y1 + 1
                )
                if overlaps and not whole:
                    found.append(
                        f"{line.get_label()!r} at ({x:.0f}, {y:.0f}) px in {ax.get_title()!r}"
                    )
    return found


def missing_names(fig, expected: set[str]) -> list[str]:
    """The expected names that no text or artist label of fig contains."""
    drawn = names_drawn(fig)
    return [n for n in sorted(expected) if not any(n in s for s in drawn)]


def small_texts(fig) -> list[str]:
    return [
        f"{t.get_text()!r}: {t.get_fontsize():g} pt"
        for t in texts(fig)
        if t.get_fontsize() < plotting.MIN_FONT_PT
    ]


def check(fig, expected: set[str]) -> None:
    """Every check of this module on one figure (then closed)."""
    try:
        assert not small_texts(fig), small_texts(fig)
        assert not missing_names(fig, expected), f"not drawn: {missing_names(fig, expected)}"
        assert not legend_overlaps(fig), legend_overlaps(fig)
        assert not cut_markers(fig), cut_markers(fig)
        width, height = png_size(fig)
        assert width <= plotting.PAGE_WIDTH_PX, f"{width} px wide"
        assert height <= MAX_HEIGHT_PX, f"{height} px high"
    finally:
        matplotlib.pyplot.close(fig)


# -- what each figure must draw: the variants its tables configure ------------------------------


def expected_names(name: str, t: dict[str, pd.DataFrame]) -> set[str]:
    def of(table, experiment, column):
        df = t[table]
        return set(df.loc[df["experiment"] == experiment, column].dropna())

    rep = t.get("replications")
    ran = None if rep is None else rep[(rep["verdict"] != "not run") & (rep["published"] > 0)]
    return {
        "f1_gradient_decay": lambda: of("gradient_profiles", "e1_init", "variant"),
        "f2_divergence": lambda: of("runs", "e2_clipping", "clip_setting"),
        "f3_grad_norm_traces": lambda: of("curves", "e2_clipping", "clip_setting"),
        "f4_horizons": lambda: (
            of("horizons", "e3_long_range", "variant") | of("horizons", "e3_long_range", "task")
        ),
        "f9_sequences_to_solve": lambda: (
            of("horizons", "e3_long_range", "variant") | of("horizons", "e3_long_range", "task")
        ),
        "f5_gradient_flow": lambda: of("gradient_profiles", "e4_gradient_flow", "variant"),
        "f6_digits": lambda: of("runs", "e5_digits", "variant") | of("runs", "e5_digits", "task"),
        "f7_replications": lambda: set(ran["target"]),
        "f8_replication_curves": lambda: (
            set(rep.loc[rep["measure"] == "mean_sequences_to_solve", "target"])
            | set(ran.loc[ran["measure"] == "median_final_loss", "target"])
        ),
    }[name]()


# -- fast: synthetic tables ---------------------------------------------------------------------


def profile_rows(variant, cell, label, nonlinearity, init, rho, slope, bound=True, **kw):
    rows = []
    for seed in range(3):
        for d in range(0, 41, 4):
            rows.append(
                dict(experiment="e1_init", task="adding", seq_len=40, hidden_size=8,
                     variant=variant, cell=cell, cell_label=label, nonlinearity=nonlinearity,
                     init=init, rho=rho, forget_bias=kw.get("forget_bias", 1.0), seed=seed,
                     distance=d, log10_grad_norm=slope * d + 0.01 * seed,
                     log10_bound=(slope + 0.01) * d if bound else math.nan)
            )  # fmt: skip
    return rows


def e1_profiles() -> pd.DataFrame:
    """An E1 grid as a researcher's might be: an RNN over nonlinearities and rho, other inits,
    gated cells without a bound and a plugin cell with a bound at its default init."""
    rows = []
    for nl in ("linear", "tanh", "sigmoid"):
        for rho in (0.5, 1.0, 1.5):
            rows += profile_rows(f"rnn-{nl}-orthogonal-rho{rho:g}", "rnn", "RNN", nl,
                                 "orthogonal", rho, math.log10(rho) - 0.1)  # fmt: skip
        rows += profile_rows(f"rnn-{nl}-identity-rho1", "rnn", "RNN", nl, "identity", 1.0, -0.05)
    for fb in (0.0, 1.0):
        rows += profile_rows(f"lstm-default-fb{fb:g}", "lstm", "LSTM", "tanh", "default", 1.0,
                             -0.2 + 0.1 * fb, bound=False, forget_bias=fb)  # fmt: skip
    rows += profile_rows("gru-default", "gru", "GRU", "tanh", "default", 1.0, -0.15, bound=False)
    rows += profile_rows("exprnn", "mycells:ExpRNN", "expRNN", "tanh", "default", 1.0, -0.01)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("lengths", [(40,), (40, 80)])
def test_f1_draws_every_probed_variant_gated_and_plugin_cells_included(lengths):
    one = e1_profiles()
    profiles = pd.concat(
        [one.assign(seq_len=t, distance=one["distance"] * t // 40) for t in lengths]
    )
    fig = e1_init.plot_gradient_decay(profiles)
    labels = {line.get_label() for ax in shown_axes(fig) for line in ax.lines}
    assert set(profiles["variant"]) <= labels
    titles = [ax.get_title().split("\n") for ax in shown_axes(fig)]
    cells = {"RNN-linear", "RNN-tanh", "RNN-sigmoid", "LSTM", "GRU", "expRNN"}
    assert {t[0] for t in titles} == cells and len(titles) == len(cells) * len(lengths)
    if len(lengths) > 1:  # several grid points: each panel names its own
        assert {t[1] for t in titles} == {f"T = {t}" for t in lengths}
    rows = {round(ax.get_position().y0, 3) for ax in shown_axes(fig)}
    assert len(rows) > 1  # a grid of panels, not one row
    for ax in shown_axes(fig):  # y-range from the data: every measured point in view
        low, high = ax.get_ylim()
        for line in ax.lines:
            y = np.asarray(line.get_ydata(), dtype=float)
            assert np.all((y[np.isfinite(y)] >= low) & (y[np.isfinite(y)] <= high))
    check(fig, set(profiles["variant"]))


def test_e1_text_gives_every_probed_variant_its_slope_interval_and_n():
    profiles = e1_profiles().assign(
        cell_id=lambda d: "adding_T40_H8_" + d["variant"],
        lr=math.nan,
        clip=pd.NA,
        clip_threshold=math.nan,
        clip_setting=math.nan,
        step=0,
    )
    rates = aggregate.decay_rates(profiles)
    no_claims = pd.DataFrame(columns=claims.COLUMNS)
    e1 = paper.experiment_section(EXPERIMENTS["e1_init"], {"decay_rates": rates}, no_claims)
    cells = [v for t in e1.tables for v in t.frame.to_numpy().ravel() if "], n = 3" in str(v)]
    assert len(cells) == rates["variant"].nunique()  # each variant once, with its interval and n
    others = e1.tables[1].frame
    assert set(others["variant"] + " " + others["init"]) == {
        "expRNN default",
        "GRU default",
        "LSTM (forget bias 0) default",
        "LSTM (forget bias 1) default",
        *(f"RNN-{nl} identity" for nl in ("linear", "tanh", "sigmoid")),
    }
    gated = e1.paragraphs[-1]  # the gated cells' decay beside the bounded cells' at their init
    assert (
        gated.index("LSTM (forget bias 1): ") < gated.index("Beside them") < gated.index("expRNN: ")
    )


def e2_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """E2 runs and curves: unclipped runs diverge at step 3 (logged every 5), clipped ones by
    norm and by value train on."""
    settings = [("none", math.inf, "none"), ("norm", 1.0, "norm 1"), ("norm", 10.0, "norm 10"),
                ("value", 0.1, "value 0.1"), ("value", 1.0, "value 1")]  # fmt: skip
    runs, curves = [], []
    for nl in ("relu", "tanh"):
        for T in (10, 30, 100):
            for clip, threshold, label in settings:
                for seed in range(4):
                    diverged = clip == "none" and seed < 3
                    base = dict(
                        experiment="e2_clipping",
                        cell="rnn",
                        cell_label="RNN",
                        nonlinearity=nl,
                        rho=1.2,
                        seq_len=T,
                        lr=0.01,
                        clip=clip,
                        clip_threshold=threshold,
                        clip_setting=label,
                        seed=seed,
                    )
                    status = "diverged" if diverged else "unsolved"
                    step = 3 if diverged else None
                    runs.append(dict(base, selected=True, status=status, diverged_step=step))
                    for step in (0, 5, 10, 15, 20):
                        if diverged and step > 3:
                            curves.append(dict(base, step=3, grad_norm=math.nan))
                            break
                        curves.append(dict(base, step=step, grad_norm=1e3 / (1 + step) ** 2))
    curves = pd.DataFrame(curves).drop_duplicates(
        ["nonlinearity", "seq_len", "clip_setting", "seed", "step"]
    )
    return pd.DataFrame(runs), curves


def test_f2_keeps_each_point_at_its_T():
    runs, _ = e2_tables()
    fig = e2_clipping.plot_divergence(runs)
    for ax in shown_axes(fig):
        for container in ax.containers:
            x = np.asarray(container.lines[0].get_xdata(), dtype=float)
            assert np.all(np.abs(x - np.round(x)) < 0.4)  # nearer its own T's tick than any other
    check(fig, set(runs["clip_setting"]))


def test_f3_draws_every_clip_mode_and_the_unclipped_trace_until_it_diverges():
    _, curves = e2_tables()
    fig = e2_clipping.plot_grad_norm_traces(curves)
    panels = shown_axes(fig)
    modes = {ax.get_title().rsplit(", ", 1)[-1] for ax in panels}
    assert modes == {"norm clipping", "value clipping"}
    for ax in panels:
        unclipped = [line for line in ax.lines if line.get_label() == "none"]
        assert len(unclipped) == 1 and len(unclipped[0].get_xdata()) >= 1
        clipped = [line for line in ax.lines if not line.get_label().startswith(("none", "_"))]
        assert clipped  # a clip that never acts follows the unclipped trace: it shows beneath
        assert unclipped[0].get_linewidth() > max(line.get_linewidth() for line in clipped)
        assert unclipped[0].get_markersize() > max(line.get_markersize() for line in clipped)
        marks = [line for line in ax.lines if line.get_marker() == "x"]
        assert [list(m.get_xdata()) for m in marks] == [[3]]  # where the seeds diverged
    check(fig, set(curves["clip_setting"]))


def replications_table(verdicts=("agrees", "disagrees")) -> pd.DataFrame:
    rows = []
    for i, verdict in enumerate(verdicts):
        ours = 1.0 if verdict == "agrees" else 9.5
        rows.append(dict(target=f"target_{i}", source="S", published=0.07, band_low=0.035,
                         band_high=0.14, ours=ours * 0.07, low=ours * 0.069, high=ours * 0.071,
                         n=5, verdict=verdict, measure="median_final_loss"))  # fmt: skip
    rows.append(dict(rows[0], target="not_run", verdict="not run", ours=math.nan))
    return pd.DataFrame(rows)


def test_f7_lists_only_the_verdicts_drawn_and_shows_narrow_intervals():
    rep = replications_table()
    fig = replication_figures.plot_replications(rep)
    legend_texts = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"agrees", "disagrees"} <= legend_texts and "inconclusive" not in legend_texts
    (ax,) = shown_axes(fig)
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    ends = [line for line in ax.lines if line.get_marker() == "|"]
    assert len(dots) == 2 and len(ends) == 4  # the 'not run' target is not drawn
    # an interval narrower than its dot still shows: its ends stand out above and below the dot
    assert min(e.get_markersize() for e in ends) > max(d.get_markersize() for d in dots)
    assert min(e.get_zorder() for e in ends) < max(d.get_zorder() for d in dots)
    check(fig, {"target_0", "target_1"})


def test_the_checks_fail_on_a_figure_a_reader_squints_at():
    fig, ax = matplotlib.pyplot.subplots(figsize=(12, 3))
    ax.plot([0, 1, 2], [0, 1, 2], "o-", label="drawn")
    ax.plot([2.0], [2.0], "X", ms=20)  # at the data's corner: autoscale's margin cuts it
    ax.legend(loc="center", fontsize=7)
    fig.canvas.draw()
    assert legend_overlaps(fig) and small_texts(fig) and cut_markers(fig)
    assert png_size(fig)[0] > plotting.PAGE_WIDTH_PX
    assert missing_names(fig, {"drawn", "forgotten"}) == ["forgotten"]
    with pytest.raises(AssertionError):
        check(fig, {"drawn"})


# -- slow: the .test run's tables -----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FIGURES))
def test_each_figure_of_the_test_run_is_legible_at_page_width(test_run, name):
    figure = FIGURES[name]
    t = {n: read_table(test_run / f"results/tables/{n}.parquet") for n in figure.inputs}
    expected = expected_names(name, t)
    assert expected, f"the .test run configures nothing for {name}"
    check(figure.plot(**EXPERIMENTS[figure.experiment].rows(t)), expected)  # as the plot rule
    with Image.open(test_run / f"results/figures/{name}.png") as png:  # as the pipeline saved it
        assert png.size[0] <= plotting.PAGE_WIDTH_PX
