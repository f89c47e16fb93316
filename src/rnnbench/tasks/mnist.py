"""MNIST read as a sequence: the data (fetched once, checked, parsed) and its three tasks.

Data. The four standard IDX files (train/t10k images/labels, gzipped) live in
<data_dir>/mnist/, where data_dir is `task.data_dir`, else $RNNBENCH_DATA, else ~/.cache/rnnbench.
`fetch` downloads them from the first public mirror that serves them (MIRRORS; the environment
variable RNNBENCH_MNIST_MIRRORS, base URLs separated by spaces, replaces the list) and keeps a file
only when its SHA-256 is the published one (SHA256; RNNBENCH_MNIST_SHA256, a JSON file
{file name: sha256}, replaces the table: the tests' fixture). Every read checks the SHA-256 again
and the IDX header (magic number, dimensions, length) before numpy parses the bytes. A missing,
altered or truncated file is a one-line `DataError` (a SpecError) naming the folder or the file.

Tasks (registered in rnnbench.tasks.TASKS). The image is read in raster order, pixels scaled to
[0, 1], the class read out at the last step; task.seq_len is the 784 pixels for all three:
  smnist    784 steps of 1 pixel (Le et al. 2015)
  psmnist   784 steps of 1 pixel in one fixed random order (PERMUTATION_SEED; Le et al. 2015)
  rowmnist  28 steps of one 28-pixel row: the cheap variant
Splits: the standard 60,000 training and 10,000 test images; the validation split is 1 in 12 of
the training images (5,000), drawn by VAL_SEED, and the models train on the other 55,000. The
fixed sets are the first task.val_size / task.test_size images of their split (at most all).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
import urllib.request
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import DataError, SpecError
from .base import Task

FILES = {  # split -> (images, labels)
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
# SHA-256 of the gzip files as distributed: tensorflow/haskell,
# tensorflow-mnist-input-data/Setup.hs (`fileInfos`), the same in guildai's mnist package; the
# files are those torchvision checks by MD5 (pytorch/vision, torchvision/datasets/mnist.py:
# f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d...). Sizes 9,912,422 / 28,881 / 1,648,877 /
# 4,542 bytes.
SHA256 = {
    "train-images-idx3-ubyte.gz": (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
    ),
    "train-labels-idx1-ubyte.gz": (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
    ),
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's
    "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow's
    "http://yann.lecun.com/exdb/mnist/",  # the original distribution
)
MIRRORS_ENV, SHA256_ENV, DATA_ENV = (
    "RNNBENCH_MNIST_MIRRORS",
    "RNNBENCH_MNIST_SHA256",
    "RNNBENCH_DATA",
)
FETCH = "rnnbench data fetch mnist"  # the command every missing-data message names
SIDE = 28
PIXELS = SIDE * SIDE
IDX_MAGIC = {3: 0x0803, 1: 0x0801}  # unsigned bytes; images have 3 dims, labels 1
VAL_EVERY = 12  # 1 in 12 training images is validation: 5,000 of 60,000
VAL_SEED = 0  # draws the validation split
PERMUTATION_SEED = 1234  # draws psmnist's pixel order
DOWNLOAD_TIMEOUT_S = 60


# --- where the files are, and what they must hash to ----------------------------------------


def folder(data_dir: str = "") -> Path:
    """The MNIST folder: <task.data_dir, else $RNNBENCH_DATA, else ~/.cache/rnnbench>/mnist."""
    base = data_dir or os.environ.get(DATA_ENV) or "~/.cache/rnnbench"
    return Path(base).expanduser().resolve() / "mnist"


def checksums() -> dict[str, str]:
    """File name -> SHA-256 the file must have (SHA256, or the table $RNNBENCH_MNIST_SHA256)."""
    path = os.environ.get(SHA256_ENV)
    if not path:
        return dict(SHA256)
    try:
        table = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise DataError(SHA256_ENV, f"cannot read the checksum table {path} ({err})") from None
    missing = sorted(set(SHA256) - set(table))
    if missing:
        raise DataError(SHA256_ENV, f"{path} gives no SHA-256 for {', '.join(missing)}")
    return {name: table[name] for name in SHA256}


def mirrors() -> list[str]:
    """Base URLs tried in turn (MIRRORS, or the list in $RNNBENCH_MNIST_MIRRORS)."""
    return os.environ.get(MIRRORS_ENV, "").split() or list(MIRRORS)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch_hint(data_dir: str) -> str:
    return FETCH + (f" --data-dir {data_dir}" if data_dir else "")


def verify(path: Path, expected: str, data_dir: str = "") -> None:
    """A one-line DataError unless path's SHA-256 is `expected`."""
    got = sha256(path)
    if got != expected:
        raise DataError(
            f"{path}",
            f"SHA-256 {got} is not the published {expected} (truncated or altered; "
            f"delete it and run `{_fetch_hint(data_dir)}`)",
        )


# --- reading --------------------------------------------------------------------------------


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """The unsigned-byte array of a gzipped IDX file with `ndim` dimensions, header checked."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(str(path), f"not a complete gzip file ({err})") from None
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(str(path), f"{len(raw)} bytes, shorter than an IDX header ({header})")
    (magic,) = struct.unpack(">I", raw[:4])
    if magic != IDX_MAGIC[ndim]:
        raise DataError(
            f"{path}",
            f"IDX magic number {magic:#010x}, expected {IDX_MAGIC[ndim]:#010x} "
            f"(unsigned bytes, {ndim} dimensions)",
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    size = int(np.prod(dims))
    if len(raw) - header != size:
        raise DataError(
            f"{path}",
            f"{len(raw) - header} data bytes, its header's dimensions "
            f"{' x '.join(map(str, dims))} need {size}",
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def read_split(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 784) uint8 and labels (N,) int64 of the standard split "train" or "test"."""
    images_file, labels_file = (directory / name for name in FILES[split])
    images, labels = read_idx(images_file, 3), read_idx(labels_file, 1)
    if images.shape[1:] != (SIDE, SIDE):
        raise DataError(
            str(images_file), f"images of {images.shape[1:]} pixels, MNIST's are 28 x 28"
        )
    if len(images) != len(labels):
        raise DataError(str(labels_file), f"{len(labels)} labels for {len(images)} images")
    if labels.size and labels.max() > 9:
        raise DataError(str(labels_file), f"label {labels.max()}, MNIST's are 0-9")
    return images.reshape(len(images), PIXELS), labels.astype(np.int64)


def check_present(data_dir: str = "") -> Path:
    """The MNIST folder, or a one-line DataError naming it, the missing files and the fetch."""
    directory = folder(data_dir)
    missing = [name for name in SHA256 if not (directory / name).is_file()]
    if missing:
        raise DataError(
            "task.data_dir",
            f"MNIST files missing in {directory} ({', '.join(missing)}); "
            f"fetch them with `{_fetch_hint(data_dir)}`",
        )
    return directory


def splits(data_dir: str = "") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The splits train, val, test: images (N, 784) uint8 and labels (N,); every file verified
    (once per process)."""
    directory = check_present(data_dir)
    return _splits(str(directory), data_dir, tuple(sorted(checksums().items())))


@lru_cache(maxsize=2)
def _splits(directory: str, data_dir: str, sums: tuple[tuple[str, str], ...]):
    for name, expected in sums:
        verify(Path(directory, name), expected, data_dir)
    x, y = read_split(Path(directory), "train")
    order = np.random.default_rng(VAL_SEED).permutation(len(y))
    val, train = order[: len(y) // VAL_EVERY], order[len(y) // VAL_EVERY :]
    return {
        "train": (x[train], y[train]),
        "val": (x[val], y[val]),
        "test": read_split(Path(directory), "test"),
    }


@lru_cache(maxsize=2)
def pixel_order(permuted: bool) -> np.ndarray:
    """The order pixels are read in: raster, or psmnist's fixed permutation (PERMUTATION_SEED)."""
    if permuted:
        return np.random.default_rng(PERMUTATION_SEED).permutation(PIXELS)
    return np.arange(PIXELS)


# --- fetching -------------------------------------------------------------------------------


def fetch(data_dir: str = "", log=print) -> dict[str, str]:
    """Download what is missing or altered in the MNIST folder from the first mirror serving
    the published file; check every file; return {path: sha256}. A file is only ever replaced by
    one whose SHA-256 matches."""
    directory = folder(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    sums = checksums()
    for name, expected in sums.items():
        path = directory / name
        if path.is_file() and sha256(path) == expected:
            log(f"ok       {path}")
            continue
        if path.is_file():
            log(f"replace  {path} (its SHA-256 is not the published one)")
        log(f"fetched  {path} from {_download(name, path, expected)}")
    _splits.cache_clear()
    splits(data_dir)  # the headers parse: a file that hashes right is also readable
    return {str(directory / name): expected for name, expected in sums.items()}


def _download(name: str, path: Path, expected: str) -> str:
    """Fetch name from the first mirror whose copy hashes to expected; its URL."""
    part = path.with_name(f".{name}.part")
    failures = []
    for base in mirrors():
        url = base.rstrip("/") + "/" + name
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                part.write_bytes(response.read())
        except (OSError, ValueError) as err:  # URLError, HTTPError, timeouts are OSErrors
            failures.append(f"{url}: {getattr(err, 'reason', err)}")
            continue
        got = sha256(part)
        if got == expected:
            os.replace(part, path)
            return url
        failures.append(f"{url}: SHA-256 {got[:16]}... is not the published {expected[:16]}...")
    part.unlink(missing_ok=True)
    raise DataError(str(path), f"could not fetch {name} ({'; '.join(failures)})")


# --- a fixture in the real format (the tests, CI's documented-commands) -----------------------


def write_idx(path: Path, array: np.ndarray) -> None:
    """array (uint8, 1 or 3 dims) as a gzipped IDX file, byte for byte as MNIST's."""
    header = struct.pack(f">I{array.ndim}I", IDX_MAGIC[array.ndim], *array.shape)
    path.write_bytes(
        gzip.compress(header + np.ascontiguousarray(array, np.uint8).tobytes(), mtime=0)
    )


def write_fixture(directory: Path, n_train: int = 600, n_test: int = 100, seed: int = 0):
    """Random 28 x 28 images with labels 0-9 as the four MNIST files in directory; their
    SHA-256 table (what RNNBENCH_MNIST_SHA256 points at)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        images_file, labels_file = FILES[split]
        write_idx(directory / images_file, rng.integers(0, 256, (n, SIDE, SIDE), dtype=np.uint8))
        write_idx(directory / labels_file, rng.integers(0, 10, n, dtype=np.uint8))
    return {name: sha256(directory / name) for name in SHA256}


# --- the tasks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SequentialMNIST(Task):
    """sMNIST: x (784, n, 1) pixels in [0, 1] in raster order; y (n,) the digit."""

    name = "smnist"
    input_size, output_size = 1, 10
    dataset: ClassVar[str] = "mnist"  # downloaded data (the pipeline's fetch_data rule)
    permuted: ClassVar[bool] = False
    spec_fields = ("data_dir",)
    data_dir: str = ""

    def length(self, seq_len):
        return PIXELS // self.input_size

    def check(self, seq_len):
        if seq_len != PIXELS:
            raise SpecError(
                "task.seq_len",
                f"{self.name} reads the 784 pixels of a 28 x 28 image, seq_len "
                f"must be 784 (got {seq_len})",
            )

    def sample(self, n, seq_len, rng):
        x, y = splits(self.data_dir)["train"]
        idx = rng.integers(0, len(y), n)
        return self.sequences(x[idx]), y[idx]

    def fixed_set(self, split, seq_len, size):
        """The first `size` images of that split (at most all of them)."""
        x, y = splits(self.data_dir)[split]
        return self.sequences(x[:size]), y[:size]

    def sequences(self, images: np.ndarray) -> np.ndarray:
        """images (n, 784) uint8 -> x (L, n, D) float32 in [0, 1], in this task's pixel order."""
        pixels = images[:, pixel_order(self.permuted)].reshape(len(images), -1, self.input_size)
        return np.ascontiguousarray(pixels.transpose(1, 0, 2), dtype=np.float32) / np.float32(255)


@dataclass(frozen=True)
class PermutedMNIST(SequentialMNIST):
    """psMNIST: sMNIST's pixels in one fixed random order, the same for every image."""

    name = "psmnist"
    permuted = True


@dataclass(frozen=True)
class RowMNIST(SequentialMNIST):
    """Row-by-row MNIST: x (28, n, 28), one row of the image per step."""

    name = "rowmnist"
    input_size = SIDE
