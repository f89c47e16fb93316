"""Claims verdicts on synthetic tables with known answers, the verdict rule, report texts (each
experiment's section, conclusions chosen by the verdicts, the abstract's counts), and the figure
registry the plot rule and the report read."""

import inspect
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from rnnbench import (
    aggregate,
    claims,
    experiments,
    grid,
    numbers,
    paper,
    plotting,
    report,
    results,
    stats,
)
from rnnbench.cells import CELLS
from rnnbench.experiments import EXPERIMENTS, FIGURES, e1_init, e2_clipping
from rnnbench.numbers import fmt
from rnnbench.spec import ClipSpec
from rnnbench.verdicts import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, above, below, between
from rnnbench.verdicts import claim_verdict as verdict

ROOT = Path(__file__).resolve().parents[1]
SEEDS = range(10)


def decay_row(slope, width=0.0, **kw):
    base = dict(
        experiment="e1_init",
        cell_id=f"c{len(kw)}",
        task="adding",
        seq_len=200,
        hidden_size=8,
        step=0,
        cell="rnn",
        nonlinearity="linear",
        init="orthogonal",
        rho=1.0,
        forget_bias=1.0,
        variant="v",
        lr=math.nan,
        clip=pd.NA,
        clip_threshold=math.nan,
        n_seeds=5,
        slope_log10_per_step=slope,
        slope_low=slope - width,
        slope_high=slope + width,
        bound_slope_log10_per_step=slope,  # finite: the cell has a gradient bound
        max_distance=200,
        efold_steps=10.0,
    )
    row = {**base, **kw}
    return {"cell_label": CELLS[row["cell"]].label, **row}


def run_row(experiment="e2_clipping", status="unsolved", **kw):
    base = dict(
        experiment=experiment,
        cell_id="adding_T50_H8_rnn",
        variant="rnn",
        task="adding",
        cell="rnn",
        nonlinearity="linear",
        init="orthogonal",
        rho=1.2,
        hidden_size=8,
        seq_len=50,
        lr=0.01,
        selected=True,
        clip="none",
        clip_threshold=math.inf,
        seed=0,
        status=status,
        diverged_step=3 if status == "diverged" else None,
        sequences_to_solve=None,
        solved_step=None,
        steps_trained=100,
        final_loss=0.2,
        baseline_loss=1 / 6,
        final_metric=0.2,
        baseline_metric=1 / 6,
        max_grad_norm=10.0,
        steps=100,
        batch_size=32,
        baseline_solved=False,
    )
    row = {**base, **kw}
    clip_setting = ClipSpec(row["clip"], row["clip_threshold"]).label
    return {"clip_setting": clip_setting, "cell_label": CELLS[row["cell"]].label, **row}


def tables(linear_exact=True, sigmoid_faster=True, diverge_none=1.0, diverge_norm=0.0):
    rows = []
    for rho in (0.5, 0.9, 1.0, 1.5):
        slope = math.log10(rho) + (0 if linear_exact else 0.01)
        rows.append(decay_row(slope, rho=rho))
        tanh = math.log10(rho) - 0.01
        rows.append(decay_row(tanh, 0.001, nonlinearity="tanh", rho=rho))
        sig = tanh + (math.log10(0.25) if sigmoid_faster else 0.005)
        rows.append(decay_row(sig, 0.001, nonlinearity="sigmoid", rho=rho))
        rows.append(decay_row(tanh - 0.01, 0.001, nonlinearity="relu", rho=rho))
    runs = []
    for clip, share in (("none", diverge_none), ("norm", diverge_norm)):
        for seed in SEEDS:
            diverged = seed < share * len(SEEDS)
            runs.append(
                run_row(
                    status="diverged" if diverged else "unsolved",
                    clip=clip,
                    clip_threshold=math.inf if clip == "none" else 1.0,
                    seed=seed,
                )
            )
    empty = pd.DataFrame(columns=["experiment"])
    return {
        "decay_rates": pd.DataFrame(rows),
        "runs": pd.DataFrame(runs),
        "horizons": empty,
        "gradient_profiles": empty,
        "curves": empty,
        "replications": pd.DataFrame(columns=["source", "target", "verdict"]),
    }


def card(t) -> pd.DataFrame:
    return claims.scorecard(experiments.claims(), t).set_index("id")


def verdicts(t):
    return card(t)["verdict"]


def section(experiment: str, t) -> report.Section:
    """An experiment's report section, from all of t and the scorecard of its claims."""
    e = EXPERIMENTS[experiment]
    return paper.experiment_section(e, t, claims.scorecard(list(e.claims), t))


def test_the_verdict_rule():
    assert verdict(0.0, 0.0, above(0)) == INCONCLUSIVE  # a tie is never reproduced
    assert verdict(0.1, 0.3, above(0)) == REPRODUCED
    assert verdict(-0.3, -0.1, above(0)) == NOT_REPRODUCED
    assert verdict(-0.1, 0.2, above(0)) == INCONCLUSIVE
    assert verdict(0.0, 0.3, above(0)) == INCONCLUSIVE  # touching no-effect: not excluded
    assert verdict(-0.3, 0.0, above(0)) == INCONCLUSIVE
    assert verdict(0.5, 0.9, below(1)) == REPRODUCED
    assert verdict(1.1, 2.0, below(1)) == NOT_REPRODUCED
    assert verdict(math.nan, 1.0, above(0)) == INCONCLUSIVE
    assert verdict(0.0, 1e-9, below(1e-3)) == REPRODUCED  # a tolerance band
    assert verdict(2e-3, 3e-3, below(1e-3)) == NOT_REPRODUCED


def test_verdicts_follow_the_measurements():
    good = verdicts(tables())
    assert good["linear_rho_power"] == good["exploding"] == good["vanishing"] == "reproduced"
    assert good["sigmoid_faster"] == good["relu_still_vanishes"] == "reproduced"
    assert good["unclipped_diverge"] == good["clipping_prevents"] == "reproduced"
    bad = verdicts(
        tables(linear_exact=False, sigmoid_faster=False, diverge_none=0.1, diverge_norm=0.9)
    )
    assert bad["linear_rho_power"] == bad["sigmoid_faster"] == "not reproduced"
    assert bad["clipping_prevents"] == bad["unclipped_diverge"] == "not reproduced"
    # Experiments absent from the grid are inconclusive, with the reason as the measured value.
    assert good["lstm_beats_tanh_adding"] == good["irnn_comparable_lstm_adding"] == "inconclusive"
    c = card(tables())
    assert "e3_long_range" in c.loc["lstm_beats_tanh_adding", "measured"]
    assert c["claim"].str.len().gt(10).all() and c["source"].str.len().gt(3).all()
    assert c["test"].str.len().gt(10).all()


def test_scorecard_rows_carry_test_n_effect_and_interval():
    c = card(tables(diverge_none=0.7))
    row = c.loc["unclipped_diverge"]
    assert row["n"] == 10 and row["effect"] == pytest.approx(0.7)
    assert (row["low"], row["high"]) == pytest.approx(stats.wilson_interval(7, 10))
    assert row["verdict"] == "inconclusive"  # [0.40, 0.89] straddles the claimed 0.5
    assert "Wilson" in row["test"] and "> 0.5" in row["expected"]
    diff = c.loc["clipping_prevents"]
    assert (diff["low"], diff["high"]) == pytest.approx(stats.newcombe_interval(7, 10, 0, 10))
    assert diff["n"] == 20 and "Newcombe" in diff["test"]
    assert "adding_baseline" not in c.index  # a generator check, in tests/test_tasks.py


def test_one_seed_gives_no_interval_and_no_verdict():
    t = tables()
    t["decay_rates"] = t["decay_rates"].assign(n_seeds=1, slope_low=math.nan, slope_high=math.nan)
    v = verdicts(t)
    assert v["linear_rho_power"] == v["exploding"] == v["sigmoid_faster"] == "inconclusive"


def test_claim_sources_are_papers():
    src = Path(claims.__file__).parent
    for path in src.glob("*.py"):
        text = path.read_text()
        assert "seed text" not in text and "../shared" not in text, path.name
    years = card(tables())["source"].str.contains(r"(?:19|20)\d\d")
    assert years.all()


# E3: horizons ---------------------------------------------------------------------------------


def e3_runs(model_statuses: dict[tuple[str, str], dict[int, list[str]]], task="adding"):
    """Runs of E3 models (variant, cell) with per-T per-seed statuses; variants named by
    their fields: irnn = relu + identity, rnn-tanh = tanh + orthogonal."""
    fields = {
        "lstm": ("lstm", "tanh", "default"),
        "rnn-tanh": ("rnn", "tanh", "orthogonal"),
        "rnn-sigmoid": ("rnn", "sigmoid", "orthogonal"),
        "irnn": ("rnn", "relu", "identity"),
        "indrnn": ("indrnn", "relu", "default"),
    }
    rows = []
    for variant, by_t in model_statuses.items():
        cell, nonlinearity, init = fields[variant]
        for seq_len, statuses in by_t.items():
            for seed, status in enumerate(statuses):
                rows.append(
                    run_row(
                        "e3_long_range",
                        status,
                        cell_id=f"{task}_T{seq_len}_H8_{variant}",
                        variant=variant,
                        task=task,
                        cell=cell,
                        nonlinearity=nonlinearity,
                        init=init,
                        seq_len=seq_len,
                        seed=seed,
                        clip="norm",
                        clip_threshold=1.0,
                        skipped_after=seq_len // 2 if status == "skipped" else None,
                        sequences_to_solve=640 + seed if status == "solved" else None,
                    )
                )
    df = pd.DataFrame(rows)
    for column in ("diverged_step", "skipped_after", "sequences_to_solve"):
        df[column] = df[column].astype("Int64")
    return df


def e3_tables(*frames) -> dict:
    runs = pd.concat(frames, ignore_index=True)
    t = tables()
    t["runs"] = pd.concat([t["runs"], runs], ignore_index=True)
    t["horizons"] = aggregate.horizons(t["runs"])
    return t


S, U, K = "solved", "unsolved", "skipped"


def test_lstm_horizon_claims_compare_with_the_tanh_rnn_task_by_task():
    lstm = {10: [S] * 6, 100: [S] * 6}
    rnn = {10: [S] * 6, 100: [U] * 6}
    clear = e3_tables(
        e3_runs({"lstm": lstm, "rnn-tanh": rnn}),
        e3_runs({"lstm": lstm, "rnn-tanh": rnn}, task="temporal_order"),
    )
    c = card(clear)
    for task in ("adding", "temporal_order"):
        row = c.loc[f"lstm_beats_tanh_{task}"]
        # the LSTM reaches the grid's largest T: censored, its difference is open above
        assert row["verdict"] == "reproduced"
        assert (row["effect"], row["low"], row["high"]) == (90, 90, math.inf)
        assert row["measured"].endswith(f"on: {task}")
    # A tie at the largest T (both censored): no interval, inconclusive.
    tie = card(e3_tables(e3_runs({"lstm": lstm, "rnn-tanh": lstm}))).loc["lstm_beats_tanh_adding"]
    assert tie["verdict"] == "inconclusive" and (tie["low"], tie["high"]) == (-math.inf, math.inf)
    # The RNN does better: not reproduced.
    loss = card(e3_tables(e3_runs({"lstm": rnn, "rnn-tanh": lstm}, task="temporal_order")))
    assert loss.loc["lstm_beats_tanh_temporal_order", "verdict"] == "not reproduced"


def test_irnn_claim_is_a_strict_win_and_skipped_runs_count_as_unsolved():
    top = {10: [S] * 6, 100: [S] * 6}
    tie = e3_tables(e3_runs({"irnn": top, "rnn-tanh": top}))
    c = card(tie).loc["irnn_beats_tanh_adding"]  # both censored at the largest T: no comparison
    assert c["verdict"] == "inconclusive" and c["effect"] == 0
    assert (c["low"], c["high"]) == (-math.inf, math.inf)
    lower = e3_tables(e3_runs({"irnn": {10: [S] * 6, 100: [U] * 6}, "rnn-tanh": top}))
    c = card(lower).loc["irnn_beats_tanh_adding"]  # the tanh RNN censored: the difference is <= -90
    assert c["verdict"] == "not reproduced" and (c["low"], c["high"]) == (-math.inf, -90)
    skipped = {10: [U] * 6, 100: [K] * 6}  # failed at 10, so never trained at 100
    win = e3_tables(e3_runs({"irnn": top, "rnn-tanh": skipped}))
    c = card(win).loc["irnn_beats_tanh_adding"]
    assert c["verdict"] == "reproduced" and c["effect"] == 100  # no horizon counts as 0
    # Unselected learning rates do not count: a solved sweep member at another lr is ignored.
    other = e3_runs({"rnn-tanh": top}).assign(lr=0.1, selected=False)
    with_sweep = e3_tables(e3_runs({"irnn": top, "rnn-tanh": skipped}), other)
    assert card(with_sweep).loc["irnn_beats_tanh_adding", "verdict"] == "reproduced"


def test_long_range_claim_uses_newcombe_on_short_against_long():
    t = e3_tables(e3_runs({"rnn-tanh": {10: [S] * 8, 100: [U] * 6 + [K] * 2}}))
    c = card(t).loc["long_range_hard"]
    assert c["verdict"] == "reproduced" and c["effect"] == 1.0
    assert (c["low"], c["high"]) == pytest.approx(stats.newcombe_interval(8, 8, 0, 8))
    flat = e3_tables(e3_runs({"rnn-tanh": {10: [S, U] * 3, 100: [S, U] * 3}}))
    assert card(flat).loc["long_range_hard", "verdict"] == "inconclusive"


def test_the_median_loss_ratio_bootstraps_the_median_and_counts_divergence_as_worst():
    """The median test loss over the baseline (a replication target's and a claim's measure)."""
    from rnnbench.measures import MEASURES, Missing, Sample

    def copy_runs(losses):
        base = 10 * math.log(8) / 120
        return pd.DataFrame(
            [
                run_row("e3_long_range", "unsolved", task="copy", cell="lstm", seq_len=100,
                        seed=i, final_loss=loss * base, baseline_loss=base)
                for i, loss in enumerate(losses)
            ]
        )  # fmt: skip

    def ratio(runs):
        return MEASURES["median_loss_ratio"].compute(Sample(runs))

    ratios = [0.5, 0.6, 0.4, 0.55, 0.45]
    good = ratio(copy_runs(ratios))
    assert good.effect == pytest.approx(0.5)
    assert (good.low, good.high) == pytest.approx(
        stats.bootstrap_interval(np.asarray(ratios), np.median)
    )
    # A diverged run (NaN loss) counts as infinitely bad; every resampled median is above 1.
    bad = ratio(copy_runs([1.2, 1.1, np.nan, 1.3, 1.05]))
    assert bad.effect == pytest.approx(1.2) and bad.low >= 1.05 and bad.high == math.inf
    assert "∞" in bad.text
    # A cell the ladder skipped measured nothing, saying why.
    with pytest.raises(Missing, match="skipped it"):
        ratio(copy_runs([np.nan] * 5).assign(status="skipped", skipped_after=10))


def test_rates_print_with_their_interval_and_n():
    assert numbers.rate(3, 5) == "60% [23%, 88%], n = 5"
    assert numbers.rate(0, 0) == "–"
    assert numbers.ci(0.25, 0.1, 0.4, 5) == "0.25 [0.1, 0.4], n = 5"
    assert numbers.count(1, "source") == "1 source" and numbers.count(2, "source") == "2 sources"


def test_divergence_rates_are_the_claims_measure_per_group():
    runs = tables(diverge_none=0.7)["runs"]
    per_clip = results.divergence_rates(runs, ["clip"]).set_index("clip")
    none = per_clip.loc["none"]
    assert (none["n_diverged"], none["n_runs"], none["median_step"]) == (7, 10, 3)
    assert (none["low"], none["high"]) == pytest.approx(stats.wilson_interval(7, 10))
    row = card(tables(diverge_none=0.7)).loc["unclipped_diverge"]
    assert (row["effect"], row["low"], row["high"]) == pytest.approx(
        (none["divergence_rate"], none["low"], none["high"])
    )


def test_e2_and_e3_sections_print_n_intervals_skips_and_the_shared_clip_label():
    t = e3_tables(
        e3_runs({"lstm": {10: [S] * 4, 20: [S, S, U, U]}, "rnn-tanh": {10: [U] * 4, 20: [K] * 4}})
    )
    e2 = section("e2_clipping", t)
    settings = e2.tables[0].frame["clipping"].tolist()
    assert settings == ["none", "norm 1"]  # the runs' clip_setting, as in the figures
    e2_runs = EXPERIMENTS["e2_clipping"].rows(t)["runs"]
    assert settings == plotting.clip_order(e2_clipping.divergence_data(e2_runs))
    assert e2.tables[0].frame["T = 50"].tolist() == [
        "100% [72%, 100%], n = 10",
        "0% [0%, 28%], n = 10",
    ]
    assert "Without clipping 10 of 10 runs diverged (100% [72%, 100%], n = 10)" in e2.paragraphs[0]
    assert e2.paragraphs[1].startswith(e2_clipping.UNCLIPPED_DIVERGE.sentences["reproduced"])
    e3 = section("e3_long_range", t)
    text = " ".join(e3.paragraphs)
    assert "1 of 4 cells (4 runs at the selected learning rate) were not trained" in text
    assert "lower-bound" in text and "learning rate 0.01 (no sweep)" in text
    horizon = e3.tables[0].frame.set_index("variant")["adding"]
    assert (
        horizon["lstm"] == ">= 20 [10, 20], n = 4" and horizon["rnn-tanh"] == "none [0, 0], n = 4"
    )
    seqs = e3.tables[1].frame
    assert seqs.columns.tolist() == ["variant", "task", "T", "sequences to solve"]
    assert seqs["sequences to solve"].iloc[0].endswith("n = 4 (4 solved)")


def test_e3_says_why_one_indrnn_layer_has_no_horizon_on_adding_and_cites_the_replication():
    def paragraphs(indrnn):
        t = e3_tables(e3_runs({"lstm": {10: [S] * 4, 20: [S] * 4}, "indrnn": indrnn}))
        return " ".join(section("e3_long_range", t).paragraphs)

    text = paragraphs({10: [U] * 4, 20: [K] * 4})
    assert "indrnn (one IndRNN layer) solves adding at no T of this grid" in text
    assert "Section 5.1" in text and "llczg18_adding_indrnn" in text
    assert "one IndRNN layer" not in paragraphs({10: [S] * 4, 20: [U] * 4})


def test_replications_section_without_targets_says_how_to_run_them():
    empty = pd.DataFrame(columns=["target", "verdict"])
    s = section("replications", {"replications": empty})
    assert s.tables == [] and s.figures == [] and len(s.paragraphs) == 1
    assert "--configfile config/replications.yaml" in s.paragraphs[0]


def test_replications_section_sets_published_beside_ours_with_verdicts():
    rows = [
        dict(target="a", source="S", citation="S. One, 2000", place="Table 1", run="r",
             tier="laptop", cell_id="r_T10", task="adding", seq_len=10, cell_label="LSTM",
             setting="adding T=10", deviations="none", measure="solved_fraction",
             measure_text="solved",
             published=1.0, unit="fraction", approximate=False, band_low=0.5, band_high=1.5,
             ours=0.8, low=0.49, high=0.96, n=5, interval="Wilson", verdict="inconclusive",
             note=""),
        dict(target="b", source="S", citation="S. One, 2000", place="Fig. 2", run="q",
             tier="full", cell_id="q_T10", task="adding", seq_len=10, cell_label="RNN",
             setting="adding T=10", deviations="none", measure="median_final_loss",
             measure_text="median",
             published=0.1, unit="MSE", approximate=True, band_low=0.05, band_high=0.2,
             ours=math.nan, low=math.nan, high=math.nan, n=0, interval="bootstrap",
             verdict="not run", note=""),
    ]  # fmt: skip
    s = section("replications", {"replications": pd.DataFrame(rows)})
    frame = s.tables[0].frame.set_index("target")
    assert frame.loc["a", "ours [95%], n"] == "0.8 [0.49, 0.96], n = 5"
    assert frame.loc["b", "ours [95%], n"] == "–" and frame.loc["b", "published"] == "0.1 (approx.)"
    assert frame.loc["a", "source, place"] == "S, Table 1"
    assert "2 targets from 1 source; this tier ran 1: 0 agree" in s.paragraphs[0]
    assert "and 1 belongs to a larger tier" in s.paragraphs[0]
    assert s.figures == [f.name for f in EXPERIMENTS["replications"].figures]
    assert "S: S. One, 2000" in s.paragraphs[-1] and len(s.tables[1].frame) == 2
    assert "solved_fraction: solved (Wilson)" in s.paragraphs[1]


def test_fmt_never_prints_nan_or_none():
    for v in (math.nan, None, pd.NA, np.float64("nan")):
        assert fmt(v) == "–"
    assert fmt(math.inf) == "∞" and fmt(3.0) == "3" and fmt(0.1234) == "0.123"
    assert fmt(np.int64(4)) == "4" and fmt(True) == "yes"
    assert fmt(math.nan, spec="+.1f") == "–" and fmt(math.inf, spec=".3g") == "∞"


def test_html_escapes_config_strings():
    sec = report.Section(
        "<script>alert(1)</script>",
        paragraphs=["a < b & c"],
        tables=[report.Table(pd.DataFrame({"x": ["<b>"]}))],
    )
    page = report.render_html("abs", [sec], {}, figures_dir=None)
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "&lt;b&gt;" in page


def test_markdown_renders_every_table_of_a_section():
    sec = report.Section(
        "s",
        tables=[
            report.Table(pd.DataFrame({"a": [1]}), "first"),
            report.Table(pd.DataFrame({"b": [2]}), "second"),
        ],
    )
    md = report.render_markdown("abs", [sec], {})
    assert "| a |" in md and "| b |" in md and "*first*" in md and "*second*" in md


def test_e1_names_cells_from_the_data_and_a_forget_bias_only_where_it_varies():
    t = tables()
    unbounded = dict(init="default", bound_slope_log10_per_step=math.nan)
    gated = [decay_row(-0.01, cell="lstm", forget_bias=b, **unbounded) for b in (0.0, 1.0)]
    gated.append(decay_row(-0.02, cell="gru", **unbounded))
    t["decay_rates"] = pd.concat([t["decay_rates"], pd.DataFrame(gated)], ignore_index=True)
    e1 = section("e1_init", t)
    text = e1.paragraphs[-1]
    assert "LSTM (forget bias 0): " in text and "LSTM (forget bias 1): " in text
    assert "GRU: " in text and "GRU (forget" not in text and "at init default" in text
    assert e1.tables[0].frame.columns[0] == "nonlinearity"  # only bounded cells, one cell
    assert e1.figures == [f.name for f in EXPERIMENTS["e1_init"].figures] == ["f1_gradient_decay"]


@pytest.mark.parametrize("faster", [True, False])
def test_e1_conclusions_are_the_claims_sentences_for_their_verdicts(faster):
    t = tables(sigmoid_faster=faster)
    verdict = "reproduced" if faster else "not reproduced"
    assert verdicts(t)["sigmoid_faster"] == verdict
    text = " ".join(section("e1_init", t).paragraphs)
    assert e1_init.SIGMOID_FASTER.sentences[verdict] in text
    other = e1_init.SIGMOID_FASTER.sentences["not reproduced" if faster else "reproduced"]
    assert other not in text and "so its gradient vanishes faster" not in text
    assert e1_init.LINEAR_RHO_POWER.sentences["reproduced"] in text
    measured = card(t).loc["sigmoid_faster", "measured"]
    assert f"Measured: {measured}; {verdict}." in text  # with its interval and n


def test_every_registered_figure_has_its_caption_tables_and_report_section():
    for figure in FIGURES.values():
        assert (ROOT / figure.caption).read_text().strip(), figure.name
        assert figure.inputs and set(figure.inputs) <= set(aggregate.TABLES), figure.name
        assert figure.category and figure.experiment in EXPERIMENTS, figure.name
    assert [f for e in EXPERIMENTS.values() for f in e.figures] == list(FIGURES.values())
    score = claims.scorecard(experiments.claims(), tables())
    empty = {name: table.iloc[:0] for name, table in tables().items()}
    for e in EXPERIMENTS.values():
        assert e.report is not None, e.id
        s = paper.experiment_section(e, tables(), score)
        assert s.title == e.title and s.figures in ([f.name for f in e.figures], []), e.id
        s = paper.experiment_section(e, empty, score)
        assert s.title == e.title and s.figures == [], e.id  # not in the grid: no figure
    e1, e2 = (paper.experiment_section(EXPERIMENTS[e], tables(), score) for e in ("e1_init",
              "e2_clipping"))  # fmt: skip
    assert e1.figures == ["f1_gradient_decay"]
    assert e2.figures == ["f2_divergence", "f3_grad_norm_traces"]


def test_experiment_ids_live_in_their_modules_only():
    """Each experiment's id appears in its own module of src/rnnbench and nowhere else in the
    library or the workflow (the schema is generated from the registry)."""
    sources = [*(ROOT / "src/rnnbench").rglob("*.py"), *(ROOT / "workflow").rglob("*.smk")]
    sources += [*(ROOT / "workflow/scripts").glob("*.py"), ROOT / "Snakefile"]
    for e in EXPERIMENTS.values():
        if e.id == "replications":  # also the name of the module that parses the targets
            continue
        found = {p.relative_to(ROOT).as_posix() for p in sources if e.id in p.read_text()}
        assert found == {f"src/rnnbench/experiments/{e.id}.py"}, e.id


def test_figures_report_and_aggregate_name_no_cell_or_task():
    """The code that draws and writes (not the claims, which are data) names no cell or task:
    what differs between cells is read from the tables."""
    jobs = grid.trials(yaml.safe_load((ROOT / "config/config.yaml").read_text()))
    names = {j.spec.model.cell for j in jobs} | {j.spec.task.name for j in jobs}
    texts = {m.__name__: Path(m.__file__).read_text() for m in (plotting, report, paper, results)}
    texts["aggregate"] = Path(aggregate.__file__).read_text()
    for e in EXPERIMENTS.values():
        functions = {*(f.plot for f in e.figures), e.report}
        module = inspect.getmodule(e.report)
        functions |= {f for f in vars(module).values() if inspect.isfunction(f)}
        functions = {f for f in functions if f.__module__ == module.__name__}
        texts[module.__name__] = "\n".join(inspect.getsource(f) for f in functions)
    for name, text in texts.items():
        assert not [n for n in names if f'"{n}"' in text or f"'{n}'" in text], name


def test_the_abstract_counts_the_replications_verdicts():
    rep = pd.DataFrame(
        {"source": ["A", "A", "B", "C"], "verdict": ["agrees", "disagrees", "not run", "agrees"]}
    )
    text = paper.replications_text(rep)
    assert text.startswith("Of 4 published results from 3 sources, this run measured 3 in")
    assert "2 agree, 1 disagree and 0 are inconclusive" in text
    assert paper.replications_text(rep.iloc[:2]).startswith("Of 2 published results from 1 source,")
    assert paper.replications_text(rep.iloc[:0]) == ""


def profile_rows(experiment: str, cells: int, seeds: int, step: int = 0) -> list[dict]:
    return [
        dict(experiment=experiment, cell_id=f"c{c}", seed=seed, step=step, distance=0,
             cell_label="RNN", init="orthogonal")
        for c in range(cells)
        for seed in range(seeds)
    ]  # fmt: skip


def test_the_abstract_counts_agree_with_the_tables_and_the_setup_table():
    """Trained models are the runs table's rows; models probed at initialisation are the probe
    experiments' (E1's) cells x seeds only, not the profiles E4 records during training; the
    setup table counts them alike."""
    t = e3_tables(e3_runs({"lstm": {10: [S] * 4}}))
    probes = profile_rows("e1_init", cells=3, seeds=2)
    during = profile_rows("e4_gradient_flow", cells=2, seeds=2, step=10)
    t["gradient_profiles"] = pd.DataFrame(probes + during)
    t["replications"] = pd.DataFrame(columns=["source", "verdict"])
    score = card(t).reset_index()
    abstract = paper.abstract_text(score, t)
    n_runs = len(t["runs"])
    assert abstract.startswith(f"We train {n_runs} recurrent models and probe 6 more")
    assert f"to test {len(score)} claims" in abstract
    counts = score["verdict"].value_counts()
    assert f"{counts['reproduced']} are reproduced" in abstract
    assert paper.probed_models(t) == 6
    config = {
        "experiments": ["e1_init", "e3_long_range"],
        "e1_init": {"tasks": ["adding"], "seq_len": [200], "hidden_size": [8], "seeds": [0, 1]},
        "e3_long_range": {"tasks": ["adding"], "seq_len": [10], "hidden_size": [8],
                          "train": {"optimizer": "adam", "lr": 0.01, "steps": 5,
                                    "seeds": [0, 1, 2, 3]}},
    }  # fmt: skip
    setup = paper.setup_section(config, t, paper.setup_facts(config)).tables[0].frame
    runs = setup.set_index("experiment")["runs"]
    assert runs["E1"] == "6"  # as the abstract
    e3 = t["runs"][t["runs"]["experiment"] == "e3_long_range"]
    assert runs["E3"] == str(len(e3))


def test_an_interval_open_on_the_claimed_side_decides_a_one_sided_claim():
    """A censored horizon makes a difference's interval open: [90, inf) lies inside "> 0"."""
    assert verdict(90, math.inf, above(0)) == REPRODUCED
    assert verdict(-math.inf, -1, below(0)) == REPRODUCED
    assert verdict(-math.inf, 5, above(0)) == INCONCLUSIVE
    assert verdict(-math.inf, math.inf, above(0)) == INCONCLUSIVE


def test_n_to_decide_scales_the_interval_as_one_over_sqrt_n():
    from rnnbench.claims import n_to_decide
    from rnnbench.measures import Measured

    # effect 0.2, interval [-0.2, 0.6] (half-width 0.4 towards 0): n = 5 x (0.4 / 0.2)^2 = 20
    assert n_to_decide(Measured(5, 0.2, -0.2, 0.6, ""), above(0)) == 20
    assert n_to_decide(Measured(5, 0.2, 0.1, 0.6, ""), above(0)) == 5  # decided already
    assert n_to_decide(Measured(5, -0.1, -0.3, 0.1, ""), above(0)) == 20  # towards "not"
    assert n_to_decide(Measured(5, 0.0, -0.3, 0.3, ""), above(0)) == math.inf  # on the edge
    assert n_to_decide(Measured(5, 90, -math.inf, math.inf, ""), above(0)) == math.inf
    # inside an equivalence region (-1, 1): both ends must clear; 5 x (0.8 / 0.5)^2 = 12.8
    assert n_to_decide(Measured(5, 0.5, 0.0, 1.3, ""), between(-1, 1)) == 13
    assert n_to_decide(Measured(5, 0.0, -1.0, math.inf, ""), between(-1, 1)) == math.inf


def test_threshold_hugging_counts_runs_stopped_as_solved_that_fail_the_test_set():
    from rnnbench.experiments.e3_long_range import hugging_text

    runs = pd.DataFrame([
        run_row("e3_long_range", "solved", solved_step=40, steps_trained=40, freeze_margin=0.5),
        run_row("e3_long_range", "unsolved", solved_step=40, steps_trained=40, freeze_margin=0.5),
        run_row("e3_long_range", "unsolved", solved_step=90, steps_trained=100,
                freeze_margin=0.5),  # met the criterion once, never by the margin: not stopped
        run_row("e3_long_range", "diverged", solved_step=None, steps_trained=3, freeze_margin=0.5),
    ])  # fmt: skip
    text = hugging_text(runs)
    assert "freeze_margin = {0.5}, 1 of 2 fail" in text and "n = 2" in text


def test_the_scorecard_prints_n_to_decide_and_says_how_it_treats_many_claims():
    from rnnbench.paper import claims_section

    score = card(tables())
    section = claims_section(score)
    shown = section.tables[0].frame["n to decide"]
    for text, n in zip(shown, score["n_to_decide"], strict=True):
        assert text == (fmt(n) if math.isfinite(n) else "–")
    decided = int((score["verdict"] != INCONCLUSIVE).sum())
    assert f"of the {decided} decided" in section.paragraphs[0]
    assert "per-claim coverage" in section.paragraphs[0] and "Holm" in section.paragraphs[0]

    score = claims.scorecard(experiments.claims(), tables())  # as the report builds it
    score[["low", "high"]] = 0.0  # every interval closed: nothing more to say
    assert len(claims_section(score).paragraphs) == 1
    score.loc[score.index[1], ["verdict", "low", "high"]] = [INCONCLUSIVE, math.nan, math.nan]
    assert len(claims_section(score).paragraphs) == 1  # not measured: not a censored interval
    first = score.index[0]
    score.loc[first, ["verdict", "high"]] = [INCONCLUSIVE, math.inf]  # censored above
    assert len(claims_section(pd.DataFrame(columns=claims.COLUMNS)).paragraphs) == 1  # no claim
    said = claims_section(score).paragraphs[1]
    assert said.startswith(f"Undecided by the grid, not by the seeds: {score.loc[first, 'id']} ")


def test_a_claim_on_a_task_whose_positive_control_failed_is_inconclusive_saying_why():
    from rnnbench import aggregate

    fails = {10: [U] * 6, 100: [K] * 6}  # nothing solves adding's shortest T
    t = e3_tables(e3_runs({"lstm": fails, "rnn-tanh": fails}))
    checks = aggregate.controls(t["horizons"][t["horizons"]["experiment"] == "e3_long_range"])
    assert checks.set_index("task").loc["adding", "positive"] == False  # noqa: E712
    row = card(t).loc["lstm_beats_tanh_adding"]
    assert row["verdict"] == "inconclusive" and "positive control failed" in row["measured"]
    solved = {10: [S] * 6, 100: [U] * 6}
    t = e3_tables(e3_runs({"lstm": solved, "rnn-tanh": fails}))
    assert card(t).loc["lstm_beats_tanh_adding", "verdict"] == "reproduced"


def test_the_lr_edge_text_counts_each_edge_and_says_when_every_choice_is_one():
    from rnnbench.experiments.e3_long_range import edge_text

    h = pd.DataFrame(
        {
            "n_skipped": [0, 0, 0, 5],
            "n_runs": [5] * 4,
            "lr": [0.03, 0.003, 0.01, 0.03],
            "lr_at_edge": [True, True, False, True],
        }
    )
    runs = pd.DataFrame({"experiment": "e3_long_range", "lr": [0.003, 0.01, 0.03]})
    text = edge_text(h, runs)  # the last trial was skipped by the ladder: not counted
    assert text.startswith("In 2 of 3 trained trials") and "(1 the largest, 1 the smallest)" in text
    assert "every choice is at an edge" not in text
    h = pd.DataFrame({"n_skipped": [0, 0], "n_runs": [5, 5], "lr": [0.01, 0.003],
                      "lr_at_edge": [True, True]})  # fmt: skip
    two = edge_text(h, runs[runs["lr"] < 0.03])
    assert "(1 the largest, 1 the smallest)" in two and "every choice is at an edge" in two
