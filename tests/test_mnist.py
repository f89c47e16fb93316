"""MNIST on a generated fixture in the real gzip IDX format: parsing and its one-line errors,
the splits, the permutation, fetching from mirrors on 127.0.0.1, training every cell on every
MNIST task, the memory refusal, and one tiny pipeline run."""

import contextlib
import functools
import gzip
import http.server
import json
import math
import subprocess
import threading

import numpy as np
import pandas as pd
import pytest
import yaml

from rnnbench import cells, cli, resolve, tasks
from rnnbench.errors import SpecError
from rnnbench.resources import check_memory
from rnnbench.spec import TaskSpec, TrialSpec
from rnnbench.tasks import TASKS
from rnnbench.tasks.mnist import (
    FILES,
    PIXELS,
    SHA256,
    SHA256_ENV,
    VAL_EVERY,
    DataError,
    fetch,
    pixel_order,
    read_idx,
    sha256,
    splits,
    write_fixture,
)
from rnnbench.train import train_trial
from tests.workflow import copy_workflow, isolated_env

N_TRAIN, N_TEST = 300, 60
NAMES = [name for name, t in TASKS.items() if t.dataset == "mnist"]


@pytest.fixture(scope="session")
def fixture_files(tmp_path_factory):
    """The four files of a few hundred random images, and their SHA-256 table."""
    source = tmp_path_factory.mktemp("fixture") / "mnist"
    sums = write_fixture(source, N_TRAIN, N_TEST, seed=0)
    return source, sums


@pytest.fixture
def data(fixture_files, tmp_path, monkeypatch):
    """A data folder (task.data_dir) holding a fresh copy of the fixture, its checksums in use."""
    source, sums = fixture_files
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    for name in SHA256:
        (tmp_path / "data" / "mnist" / name).write_bytes((source / name).read_bytes())
    use_checksums(tmp_path / "sums.json", sums, monkeypatch)
    return tmp_path / "data"


def use_checksums(path, sums, monkeypatch):
    path.write_text(json.dumps(sums))
    monkeypatch.setenv(SHA256_ENV, str(path))


def one_line_error(fn, *args) -> str:
    with pytest.raises(DataError) as err:
        fn(*args)
    message = str(err.value)
    assert "\n" not in message
    return message


# --- the files ------------------------------------------------------------------------------


def test_the_fixture_parses_back_to_what_was_written(data):
    rng = np.random.default_rng(0)  # write_fixture's draws, in its order
    images = rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, N_TRAIN, dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(data / "mnist" / FILES["train"][0], 3), images)
    np.testing.assert_array_equal(read_idx(data / "mnist" / FILES["train"][1], 1), labels)
    raw = gzip.decompress((data / "mnist" / FILES["train"][0]).read_bytes())
    assert raw[:16] == bytes.fromhex("00000803") + (N_TRAIN).to_bytes(4, "big") + bytes(
        [0, 0, 0, 28, 0, 0, 0, 28]
    )  # the IDX header as MNIST's: magic 2051, N, 28, 28 (big-endian)


def test_the_published_checksums_are_sha256_of_the_four_files():
    assert set(SHA256) == {name for pair in FILES.values() for name in pair}
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in SHA256.values())


def test_splits_are_the_standard_ones_with_a_seeded_validation_split(data):
    parts = splits(str(data))
    (xt, yt), (xv, yv), (xs, ys) = parts["train"], parts["val"], parts["test"]
    assert len(yv) == N_TRAIN // VAL_EVERY and len(yt) == N_TRAIN - len(yv)
    assert 60_000 // VAL_EVERY == 5_000  # on the real files: 55,000 / 5,000 / 10,000
    assert len(ys) == N_TEST and xs.shape == (N_TEST, PIXELS)
    everything = read_idx(data / "mnist" / FILES["train"][0], 3).reshape(N_TRAIN, PIXELS)
    rows = {r.tobytes() for r in everything}
    assert {r.tobytes() for r in xt} | {r.tobytes() for r in xv} == rows  # a partition
    assert not {r.tobytes() for r in xt} & {r.tobytes() for r in xv}
    np.testing.assert_array_equal(splits(str(data))["val"][0], xv)


def test_sequences_read_the_pixels_in_each_tasks_order(data):
    images = splits(str(data))["test"][0][:5]  # (5, 784) uint8
    smnist, psmnist, rowmnist = (
        tasks.get(TaskSpec(name=n, seq_len=784, data_dir=str(data))) for n in NAMES
    )
    x = smnist.sequences(images)
    assert x.shape == (784, 5, 1) and x.dtype == np.float32 and 0 <= x.min() <= x.max() <= 1
    np.testing.assert_allclose(x[:, 2, 0], images[2] / 255, rtol=1e-6)
    order = pixel_order(True)
    assert sorted(order) == list(range(PIXELS)) and (order != np.arange(PIXELS)).any()
    np.testing.assert_array_equal(order, np.random.default_rng(1234).permutation(784))
    np.testing.assert_array_equal(psmnist.sequences(images)[:, :, 0], x[order, :, 0])
    rows = rowmnist.sequences(images)
    assert rows.shape == (28, 5, 28) and rowmnist.length(784) == 28
    np.testing.assert_allclose(rows[3, 1], images[1, 3 * 28 : 4 * 28] / 255, rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_task_facts(name, data):
    task = tasks.get(TaskSpec(name=name, seq_len=784, data_dir=str(data)))
    assert task.baseline_loss(784) == pytest.approx(math.log(10)) and task.baseline_metric() == 0.1
    spec = TaskSpec(name=name, seq_len=784)
    assert task.solved(0.5, 0.99, spec) and not task.solved(0.01, 0.98, spec)  # by accuracy
    x, y = task.sample(7, 784, np.random.default_rng(0))
    assert x.shape == (task.length(784), 7, task.input_size) and y.shape == (7,)
    again = task.sample(7, 784, np.random.default_rng(0))  # pure: the stream decides
    np.testing.assert_array_equal(again[0], x)
    np.testing.assert_array_equal(again[1], y)
    val_x, val_y = task.fixed_set("val", 784, 1000)
    assert len(val_y) == N_TRAIN // VAL_EVERY  # at most the split
    with pytest.raises(SpecError, match="seq_len must be 784") as err:
        task.check(28)
    assert "\n" not in str(err.value)


# --- one-line errors ------------------------------------------------------------------------


def test_a_missing_file_names_the_folder_and_the_fetch_command(data):
    (data / "mnist" / FILES["test"][1]).unlink()
    message = one_line_error(splits, str(data))
    assert str(data / "mnist") in message and FILES["test"][1] in message
    assert f"rnnbench data fetch mnist --data-dir {data}" in message


def test_rnnbench_train_without_the_data_is_one_line_before_training(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(train_spec("smnist", "rnn", str(tmp_path / "none"))))
    assert cli.main(["train", str(spec), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "rnnbench data fetch mnist" in err
    assert not (tmp_path / "out").exists()


def test_a_wrong_checksum_names_the_file(data):
    path = data / "mnist" / FILES["train"][0]
    raw = bytearray(path.read_bytes())
    raw[-20] ^= 0xFF  # one altered byte
    path.write_bytes(bytes(raw))
    message = one_line_error(splits, str(data))
    assert str(path) in message and "is not the published" in message
    assert sha256(path) in message


@pytest.mark.parametrize(
    "corrupt,words",
    [
        (lambda raw: raw[: len(raw) // 2], "not a complete gzip file"),  # truncated download
        (lambda raw: b"not gzip at all", "not a complete gzip file"),
        (lambda raw: gzip.compress(b"\0\0\x08\x02" + gzip.decompress(raw)[4:]), "magic number"),
        (lambda raw: gzip.compress(gzip.decompress(raw)[:-28]), "data bytes"),
    ],
)
def test_a_corrupt_file_with_a_matching_checksum_is_one_line(
    data, tmp_path, monkeypatch, corrupt, words
):
    path = data / "mnist" / FILES["train"][0]
    path.write_bytes(corrupt(path.read_bytes()))
    sums = json.loads((tmp_path / "sums.json").read_text()) | {path.name: sha256(path)}
    use_checksums(tmp_path / "sums.json", sums, monkeypatch)  # past the checksum: the parser
    message = one_line_error(splits, str(data))
    assert str(path) in message and words in message


# --- fetching -------------------------------------------------------------------------------


@contextlib.contextmanager
def serve(directory):
    """An HTTP server for directory on 127.0.0.1 in a thread; yields its base URL and the paths
    it was asked for."""
    asked = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            asked.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_takes_each_file_from_the_first_mirror_serving_the_published_one(
    fixture_files, tmp_path, monkeypatch
):
    source, sums = fixture_files
    use_checksums(tmp_path / "sums.json", sums, monkeypatch)
    altered = tmp_path / "altered"
    altered.mkdir()
    for name in SHA256:
        (altered / name).write_bytes((source / name).read_bytes()[:-1] + b"x")
    with serve(source.parent) as (base, asked):
        mirrors = f"{base}/nothing-here/ {base}/altered-not-served/ {base}/mnist/"
        monkeypatch.setenv("RNNBENCH_MNIST_MIRRORS", mirrors)
        record = tmp_path / "record.json"
        argv = [
            "data",
            "fetch",
            "mnist",
            "--data-dir",
            str(tmp_path / "d"),
            "--record",
            str(record),
        ]
        assert cli.main(argv) == 0
        for name in SHA256:
            assert (tmp_path / "d/mnist" / name).read_bytes() == (source / name).read_bytes()
        assert json.loads(record.read_text())["sha256"] == {
            str(tmp_path / "d/mnist" / n): h for n, h in sums.items()
        }
        fetched = len(asked)
        fetch(str(tmp_path / "d"), log=lambda line: None)  # intact: nothing downloaded again
        assert len(asked) == fetched
    assert not list((tmp_path / "d/mnist").glob(".*.part"))


def test_a_mirror_serving_an_altered_file_is_refused(fixture_files, tmp_path, monkeypatch):
    source, sums = fixture_files
    use_checksums(tmp_path / "sums.json", sums, monkeypatch)
    altered = tmp_path / "mirror" / "mnist"
    altered.mkdir(parents=True)
    for name in SHA256:
        (altered / name).write_bytes((source / name).read_bytes()[:-1] + b"x")
    with serve(altered.parent) as (base, _):
        monkeypatch.setenv("RNNBENCH_MNIST_MIRRORS", f"{base}/mnist/")
        message = one_line_error(fetch, str(tmp_path / "d"), lambda line: None)
    assert "could not fetch" in message and "is not the published" in message
    assert not list((tmp_path / "d/mnist").iterdir())  # nothing altered is kept


# --- training -------------------------------------------------------------------------------


def train_spec(task: str, cell: str, data_dir: str, hidden: int = 3) -> dict:
    return {
        "task": {"name": task, "seq_len": 784, "data_dir": data_dir, "val_size": 8, "test_size": 8},
        "model": {"cell": cell, "hidden_size": hidden},
        "train": {"steps": 2, "batch_size": 4, "log_every": 1, "check_every": 1, "seeds": [0]},
    }


@pytest.mark.parametrize("cell", list(cells.CELLS))
@pytest.mark.parametrize("name", NAMES)
def test_rnnbench_train_runs_every_cell_on_every_mnist_task(name, cell, data, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(train_spec(name, cell, str(data))))
    assert cli.main(["train", str(spec), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    runs = pd.read_parquet(tmp_path / "out/runs.parquet")
    assert len(runs) == 1 and runs["final_loss"].notna().all()
    assert runs["baseline_metric"].iloc[0] == 0.1 and runs["task"].iloc[0] == name


def test_a_too_big_smnist_cell_is_refused_before_anything_is_allocated(tmp_path):
    data = train_spec("smnist", "lstm", str(tmp_path / "no-data-here"), hidden=2048)
    data["train"] |= {"batch_size": 256, "seeds": list(range(16))}
    spec = resolve.spec(TrialSpec, data)
    with pytest.raises(SpecError, match="runtime.max_mem_mb: this cell needs") as err:
        check_memory(spec)  # the pipeline's check, at DAG time
    assert "\n" not in str(err.value)
    with pytest.raises(SpecError, match="runtime.max_mem_mb") as err:
        train_trial(spec)  # refused before the data is read (there is none) or a weight exists
    assert not isinstance(err.value, DataError)


# --- the pipeline ---------------------------------------------------------------------------


@pytest.mark.slow
def test_the_pipeline_fetches_then_trains_rowmnist_and_smnist(fixture_files, tmp_path):
    source, sums = fixture_files
    work = copy_workflow(tmp_path / "work")
    (tmp_path / "sums.json").write_text(json.dumps(sums))
    over = yaml.safe_load((work / ".test/config/config.yaml").read_text())["e5_digits"]
    over |= {"tasks": ["rowmnist", "smnist"], "seq_len": [784], "hidden_size": [4]}
    over["task"] = {"data_dir": str(source.parent), "val_size": 16, "test_size": 16}
    over["train"] |= {"steps": 4, "batch_size": 4, "log_every": 2}
    # e5 only: the other experiments run in the shared .test run (conftest `test_run`)
    mnist = {"experiments": ["e5_digits"], "e5_digits": over}
    (tmp_path / "mnist.yaml").write_text(yaml.safe_dump(mnist))
    env = isolated_env(work) | {SHA256_ENV: str(tmp_path / "sums.json")}
    env["RNNBENCH_MNIST_MIRRORS"] = "http://127.0.0.1:9/"  # never the network
    command = ["snakemake", "--cores", "2", "--configfile", ".test/config/config.yaml"]
    result = subprocess.run(
        [*command, str(tmp_path / "mnist.yaml")],
        cwd=work, capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((work / "results/data/mnist.json").read_text())
    assert set(record["sha256"].values()) == set(sums.values())
    runs = pd.read_parquet(work / "results/tables/runs.parquet")
    e5 = runs[runs["experiment"] == "e5_digits"]
    assert set(e5["task"]) == {"rowmnist", "smnist"} and e5["final_metric"].notna().all()
    assert (work / "results/figures/f6_digits.png").stat().st_size > 0
    assert set(runs["experiment"]) == {"e5_digits"}
