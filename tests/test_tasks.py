"""Task generators against their definitions and closed-form baselines (Monte Carlo)."""

import math

import numpy as np
import pytest
import torch

from rnnbench import tasks
from rnnbench.errors import SpecError
from rnnbench.spec import TaskSpec
from rnnbench.tasks import TASKS
from rnnbench.tasks import digits as task_module


def test_adding_baseline_is_one_sixth():
    x, y = TASKS["adding"].sample(200_000, 30, np.random.default_rng(0))
    assert x.shape == (30, 200_000, 2)
    assert (x[:, :, 1].sum(0) == 1 + 1).all()  # one marker in each half
    assert (x[:15, :, 1].sum(0) == 1).all()
    np.testing.assert_allclose(y, (x[..., 0] * x[..., 1]).sum(0), rtol=1e-6)
    mse = np.mean((y - 1.0) ** 2)
    assert mse == pytest.approx(1 / 6, abs=2e-3)
    assert TASKS["adding"].baseline_loss(30) == 1 / 6


@pytest.mark.parametrize("seq_len", [5, 50])
@pytest.mark.parametrize("alphabet,recall", [(8, 10), (4, 3)])  # Arjovsky et al.'s; another
def test_copy_memoryless_baseline(seq_len, alphabet, recall):
    task = tasks.get(TaskSpec(name="copy", seq_len=seq_len, alphabet=alphabet, recall=recall))
    x, y = task.sample(50_000, seq_len, np.random.default_rng(1))
    length = seq_len + 2 * recall
    assert task.length(seq_len) == length and task.input_size == alphabet + 2
    assert x.shape == (length, 50_000, alphabet + 2) and y.shape == (length, 50_000)
    tokens = x.argmax(-1)
    np.testing.assert_array_equal(tokens[:recall], y[-recall:])  # recall the first symbols
    assert set(np.unique(tokens[:recall])) == set(range(1, alphabet + 1))
    assert (tokens[seq_len + recall - 1] == alphabet + 1).all()  # the delimiter
    assert (tokens[recall : seq_len + recall - 1] == 0).all() and (y[:-recall] == 0).all()
    # The best input-independent predictor uses each step's marginal: its loss is the mean entropy.
    entropy = 0.0
    for t in range(length):
        p = np.bincount(y[t], minlength=task.output_size) / y.shape[1]
        entropy -= np.sum(p[p > 0] * np.log(p[p > 0]))
    assert entropy / length == pytest.approx(task.baseline_loss(seq_len), rel=2e-3)
    assert task.baseline_loss(seq_len) == recall * math.log(alphabet) / length
    modes = [np.bincount(y[t]).argmax() for t in range(length)]  # the blind guess per step
    hits = np.mean([y[t] == modes[t] for t in range(length - recall, length)])
    assert hits == pytest.approx(task.baseline_metric(), abs=0.01)  # 1 / alphabet


@pytest.mark.parametrize("seq_len", [10, 100])
def test_temporal_order_markers_and_classes(seq_len):
    x, y = TASKS["temporal_order"].sample(40_000, seq_len, np.random.default_rng(2))
    tokens = x.argmax(-1)  # (T, n)
    markers = tokens < 2
    assert (markers.sum(0) == 2).all()
    pos = np.sort(np.argwhere(markers.T)[:, 1].reshape(-1, 2), axis=1)
    assert (pos[:, 0] >= int(0.1 * seq_len)).all() and (
        pos[:, 0] < max(int(0.2 * seq_len), 2)
    ).all()
    assert (pos[:, 1] >= int(0.5 * seq_len)).all() and (pos[:, 1] < int(0.6 * seq_len) + 1).all()
    first, second = tokens[pos[:, 0], np.arange(len(y))], tokens[pos[:, 1], np.arange(len(y))]
    np.testing.assert_array_equal(y, 2 * first + second)
    freq = np.bincount(y, minlength=4) / len(y)
    np.testing.assert_allclose(freq, 0.25, atol=0.01)  # best guess is right 25% of the time


def test_digits_fixed_split_and_permutation():
    plain, perm = TASKS["digits"], TASKS["digits_permuted"]
    xa, ya = plain.fixed_set("test", 64, 0)
    xb, yb = perm.fixed_set("test", 64, 0)
    assert xa.shape == (64, 297, 1) and len(ya) == 297
    xv, _ = plain.fixed_set("val", 64, 0)
    assert xv.shape == (64, 300, 1)
    pixels = [
        set(map(bytes, x[:, :, 0].T))
        for x in (xa, xv, task_module._digits_split(False, "train")[0])
    ]
    assert not (pixels[0] & pixels[1]) and not (pixels[1] & pixels[2])  # disjoint splits
    np.testing.assert_array_equal(ya, yb)
    np.testing.assert_array_equal(np.sort(xa[:, :, 0], 0), np.sort(xb[:, :, 0], 0))
    assert not np.array_equal(xa, xb)
    x, y = plain.sample(32, 64, np.random.default_rng(0))
    assert x.shape == (64, 32, 1) and 0 <= x.min() and x.max() <= 1 and set(y) <= set(range(10))
    with pytest.raises(SpecError, match="task.seq_len"):
        plain.check(100)


@pytest.mark.parametrize("name", sorted(n for n, t in TASKS.items() if t.dataset is None))
def test_generators_are_pure(name):  # downloaded datasets: tests/test_mnist.py, on a fixture
    task, seq_len = TASKS[name], 64  # a length every task takes
    a = task.sample(8, seq_len, np.random.default_rng(7))
    b = task.sample(8, seq_len, np.random.default_rng(7))
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


def test_losses_metrics_and_solved():
    copy = TASKS["copy"]
    x, y = copy.sample(16, 5, np.random.default_rng(0))
    y = torch.from_numpy(y)[:, None]  # (L, E=1, B)
    perfect = torch.nn.functional.one_hot(y, 9).double() * 50  # (L, 1, B, 9)
    assert copy.metric(perfect, y).item() == 1.0
    assert copy.example_loss(perfect, y).max() < 1e-15
    uniform = torch.zeros(25, 1, 16, 9, dtype=torch.float64)
    assert copy.example_loss(uniform, y).mean().item() == pytest.approx(math.log(9))
    spec = TaskSpec(name="copy", seq_len=5)
    assert copy.solved(0.09 * copy.baseline_loss(5), 0.0, spec)
    assert not copy.solved(0.11 * copy.baseline_loss(5), 1.0, spec)
    assert TASKS["temporal_order"].solved(99.0, 0.995, spec)


@pytest.mark.parametrize("seq_len", [20, 100])
def test_hochreiter_schmidhuber_adding_definition_and_baselines(seq_len):
    """Section 5.4 of Hochreiter & Schmidhuber (1997), and the constant predictor 0.5."""
    task = TASKS["adding_hs97"]
    x, y = task.sample(100_000, seq_len, np.random.default_rng(3))
    total = seq_len + seq_len // 10
    assert x.shape == (total, 100_000, 2) and task.length(seq_len) == total
    values, markers = x[..., 0], x[..., 1]
    start = (np.abs(markers) > 0).argmax(0)  # the first pair of each sequence
    lengths = total - start
    assert lengths.min() == seq_len and lengths.max() == total  # L ~ U{T..T + T/10}
    assert (markers == 1).sum(0).min() == 2 and (markers == 1).sum(0).max() == 2
    marked = np.argwhere((markers == 1).T)[:, 1].reshape(-1, 2) - start[:, None]  # from start
    assert (marked[:, 0] < 10).all() and (marked[:, 1] < seq_len // 2).all()
    assert (markers[-1] != 0).all() and (markers[start, np.arange(len(y))] != 0).all()
    pad = np.arange(total)[:, None] < start
    assert (x[pad] == 0).all() and np.abs(values).max() <= 1
    x12 = (values * (markers == 1)).sum(0)
    np.testing.assert_allclose(y, 0.5 + x12 / 4, atol=1e-6)
    assert np.mean((y - 0.5) ** 2) == pytest.approx(task.baseline_loss(seq_len), rel=0.02)
    assert np.mean(np.abs(y - 0.5) < 0.04) == pytest.approx(task.baseline_metric(), abs=0.005)
    out = torch.from_numpy(y + 0.039)[None, :, None]  # every error just inside the tolerance
    assert task.metric(out.double(), torch.from_numpy(y)[None].double()).item() == 1.0


@pytest.mark.parametrize("seq_len", [20, 100])
def test_pascanu_adding_definition_and_baselines(seq_len):
    """pascanur/trainingRNNs addition.py, and the constant predictor 0.5."""
    task = TASKS["adding_pascanu"]
    x, y = task.sample(100_000, seq_len, np.random.default_rng(4))
    total = task.length(seq_len)
    markers, values = x[..., 0], x[..., 1]
    assert (markers.sum(0) == 2).all() and values.min() >= 0 and values.max() <= 1
    first_value = (values > 0).argmax(0)
    lengths = total - first_value
    assert lengths.min() == seq_len and lengths.max() == seq_len + seq_len // 10 - 1
    pos = np.argwhere(markers.T > 0)[:, 1].reshape(-1, 2) - first_value[:, None]
    tenth = lengths // 10
    assert (pos[:, 0] < tenth).all() and (pos[:, 1] >= tenth).all()
    assert (pos[:, 1] < tenth + 4 * lengths // 10).all()
    np.testing.assert_allclose(y, (values * markers).sum(0) / 2, atol=1e-6)
    assert np.mean((y - 0.5) ** 2) == pytest.approx(task.baseline_loss(seq_len), rel=0.02)
    assert np.mean((y - 0.5) ** 2 <= 0.04) == pytest.approx(task.baseline_metric(), abs=0.005)


def test_symmetric_adding_baseline_is_two_thirds():
    task = TASKS["adding_symmetric"]
    x, y = task.sample(200_000, 30, np.random.default_rng(5))
    assert x[..., 0].min() < -0.99 and x[..., 0].max() > 0.99 and (x[..., 1].sum(0) == 2).all()
    np.testing.assert_allclose(y, (x[..., 0] * x[..., 1]).sum(0), rtol=1e-6, atol=1e-6)
    assert np.mean(y**2) == pytest.approx(task.baseline_loss(30), rel=0.01)  # predict 0: 2/3


def test_hochreiter_schmidhuber_temporal_order_definition():
    """Section 5.6, Task 6a of Hochreiter & Schmidhuber (1997) at their T = 100."""
    task = TASKS["temporal_order_hs97"]
    x, y = task.sample(20_000, 100, np.random.default_rng(6))
    assert x.shape == (110, 20_000, 8) and set(x.sum(-1).ravel()) == {0.0, 1.0}
    live = x.sum(-1) > 0  # (L, n): the sequence, after its padding
    start = live.argmax(0)
    assert (110 - start).min() == 100 and (110 - start).max() == 110
    tokens = x.argmax(-1)
    rows = np.arange(len(y))
    assert (tokens[start, rows] == 0).all() and (tokens[-1] == 1).all()  # E first, B last
    relevant = np.argwhere((tokens >= 6).T)[:, 1].reshape(-1, 2) - start[:, None]
    assert relevant[:, 0].min() == 10 and relevant[:, 0].max() == 20
    assert relevant[:, 1].min() == 50 and relevant[:, 1].max() == 60
    symbols = tokens[relevant.T + start, rows] - 6  # 0 X, 1 Y
    np.testing.assert_array_equal(y, 2 * symbols[0] + symbols[1])
    np.testing.assert_allclose(np.bincount(y) / len(y), 0.25, atol=0.015)  # the blind guess
    assert task.baseline_loss(100) == pytest.approx(math.log(4)) and task.baseline_metric() == 0.25


@pytest.mark.parametrize("alphabet,recall", [(4, 3), (8, 10)])
def test_copy_recall_reads_the_recalled_symbols_only(alphabet, recall):
    spec = TaskSpec(name="copy_recall", seq_len=7, alphabet=alphabet, recall=recall)
    task, copy = tasks.get(spec), tasks.get(TaskSpec(name="copy", seq_len=7, alphabet=alphabet,
                                                     recall=recall))  # fmt: skip
    x, y = task.sample(4000, 7, np.random.default_rng(2))
    xc, yc = copy.sample(4000, 7, np.random.default_rng(2))
    np.testing.assert_array_equal(x, xc)  # copy's sequences
    out = torch.randn((*y.shape, task.output_size), dtype=torch.float64)[:, None]  # (L, 1, B, O)
    yt = torch.from_numpy(y)[:, None]
    ce = torch.nn.functional.cross_entropy(out[-recall:].flatten(0, -2), yt[-recall:].flatten(),
                                           reduction="none")  # fmt: skip
    expected = ce.view(recall, 1, -1).mean(0)
    assert torch.allclose(task.example_loss(out, yt), expected)
    blanks_wrong = out.clone()
    blanks_wrong[:-recall] = 0  # the blank steps say nothing: the loss is unchanged
    assert torch.allclose(task.example_loss(blanks_wrong, yt), expected)
    # The best blind guess on a recalled symbol is uniform: loss ln(alphabet), accuracy 1/alphabet.
    p = np.bincount(y[-recall:].ravel(), minlength=task.output_size)[1:] / y[-recall:].size
    assert -(p * np.log(p)).sum() == pytest.approx(task.baseline_loss(7), rel=2e-3)
    assert task.baseline_loss(7) == math.log(alphabet)
    assert task.solved(9.0, 0.99, spec) and not task.solved(0.0, 0.989, spec)  # by accuracy


def test_a_margin_asks_the_criterion_to_be_beaten_by_that_factor():
    adding = TASKS["adding"]
    spec = TaskSpec(name="adding", seq_len=10)
    bound = spec.solved_loss_fraction * adding.baseline_loss(10)
    assert adding.solved(0.9 * bound, 0, spec) and not adding.solved(0.9 * bound, 0, spec, 0.8)
    assert adding.solved(0.79 * bound, 0, spec, 0.8)
    order = TASKS["temporal_order"]
    spec = TaskSpec(name="temporal_order", seq_len=10, solved_accuracy=0.99)
    assert order.solved(0, 0.992, spec) and not order.solved(0, 0.992, spec, 0.5)
    assert order.solved(0, 0.996, spec, 0.5)
