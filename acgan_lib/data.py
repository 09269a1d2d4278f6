"""MNIST for the ACGAN: IDX parsing, checked download + cache, and the bundled offline subset.

Sources (``load_mnist(source=...)``):

* ``"bundled"`` - 5,000 real MNIST training digits (500 per class) shipped inside the package
  (see ``assets/mnist_5k/README.md`` for provenance). Works offline; the notebooks' default.
* ``"full"`` - the canonical 60,000/10,000 MNIST files from the data directory, downloaded there
  first if missing (SHA-256 verified, written atomically).
* ``"auto"`` - ``"full"`` if it is cached or can be downloaded, else ``"bundled"`` (with a message).
* a path - a directory holding the four canonical IDX files (gzip or raw).

Data directory: ``$ACGAN_DATA_DIR`` or ``~/.cache/acgan_lib/mnist`` (CLI: ``--data-dir``).
Images come back as (N, 28, 28, 1) float32 in [-1, 1] (``x / 127.5 - 1``), labels (N,) int32.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import struct
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from . import files
from .models import IMAGE_SIZE, NUM_CLASSES  # the networks' input format, defined once

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
BUNDLED_DIR = Path(__file__).parent / "assets" / "mnist_5k"
BUNDLED_FILES = {
    "images-idx3-ubyte.gz": "66f9ac540966baaec46dc847ef780170f83ff188761931c0115f3f60497c4797",
    "labels-idx1-ubyte.gz": "0bd1c3ebe2126da16fe15ba87422f75d0a4b37066970e0e29aa16577a2857965",
}
# Canonical MNIST files: name -> (bytes, sha256).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": (9_912_422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train-labels-idx1-ubyte.gz": (28_881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "t10k-images-idx3-ubyte.gz": (1_648_877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "t10k-labels-idx1-ubyte.gz": (4_542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}
SPLITS = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
# Mirrors tried in order (the first is the one the tfjs example uses).
MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
DOWNLOAD_TIMEOUT_S = 30.0


class DataError(ValueError):
    """A data file is missing, corrupt or not what it claims to be."""


class DownloadError(RuntimeError):
    """MNIST could not be downloaded (network, HTTP or checksum failure)."""


@dataclasses.dataclass
class Dataset:
    """Images (N, 28, 28, 1) float32 in [-1, 1], labels (N,) int32, and where they came from."""
    images: np.ndarray
    labels: np.ndarray
    source: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def fingerprint(self) -> str:
        """SHA-256 of the images (as float32) and labels (as int32), in order: equal only for the same data.

        Stored in every training checkpoint; resuming on other data of the same size is refused.
        """
        h = hashlib.sha256()
        for arr, dtype in ((self.images, np.float32), (self.labels, np.int32)):
            a = np.ascontiguousarray(arr, dtype=dtype)
            h.update(f"{a.shape}".encode())
            h.update(memoryview(a).cast("B"))
        return "sha256:" + h.hexdigest()


def default_data_dir() -> Path:
    """``$ACGAN_DATA_DIR`` if set, else ``~/.cache/acgan_lib/mnist``."""
    env = os.environ.get("ACGAN_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "acgan_lib" / "mnist"


# ----------------------------------------------------------------------------- IDX parsing
def _read_bytes(path: Path) -> bytes:
    """File contents, gunzipped when the name ends in .gz (errors name the file)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    if path.suffix == ".gz":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: not a valid gzip file ({e}); delete it and download again") from None
    return raw


def parse_idx(path: str | Path, expect_magic: int | None = None) -> np.ndarray:
    """Parse an MNIST IDX file (gzip or raw) into a uint8 array, checking the header.

    Images (magic 2051) -> (N, 28, 28) uint8; labels (magic 2049) -> (N,) uint8.
    Raises DataError naming the file and the problem (magic, dimensions, payload size).
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 8:
        raise DataError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    magic, count = struct.unpack(">II", data[:8])
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise DataError(f"{path}: wrong magic number {magic}; expected {IMAGES_MAGIC} (images) "
                        f"or {LABELS_MAGIC} (labels) - is this an MNIST IDX file?")
    if expect_magic is not None and magic != expect_magic:
        kind = "images" if expect_magic == IMAGES_MAGIC else "labels"
        raise DataError(f"{path}: magic number {magic}, but an {kind} file must have {expect_magic}")
    if magic == IMAGES_MAGIC:
        if len(data) < 16:
            raise DataError(f"{path}: truncated header ({len(data)} bytes, images need 16)")
        rows, cols = struct.unpack(">II", data[8:16])
        if (rows, cols) != (IMAGE_SIZE, IMAGE_SIZE):
            raise DataError(f"{path}: images are {rows}x{cols}, expected {IMAGE_SIZE}x{IMAGE_SIZE}")
        shape, offset = (count, rows, cols), 16
    else:
        shape, offset = (count,), 8
    expected = int(np.prod(shape))
    payload = len(data) - offset
    if payload != expected:
        what = "truncated" if payload < expected else "has trailing bytes"
        raise DataError(f"{path}: payload {what}: header says {count} items ({expected} bytes), "
                        f"file holds {payload} bytes; delete it and download again")
    return np.frombuffer(data, np.uint8, count=expected, offset=offset).reshape(shape)


def to_model_range(pixels: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) in 0..255 -> float32 (N, 28, 28, 1) in [-1, 1], as the reference scales."""
    return (pixels.astype(np.float32) / 127.5 - 1.0)[..., None]


def to_pixels(images: np.ndarray) -> np.ndarray:
    """float (N, 28, 28, 1) in [-1, 1] -> uint8 (N, 28, 28) in 0..255 (for saving pictures)."""
    x = np.clip((np.asarray(images)[..., 0] + 1.0) * 127.5, 0, 255)
    return np.round(x).astype(np.uint8)


def load_idx_pair(images_path: str | Path, labels_path: str | Path, source: str) -> Dataset:
    """Images + labels from two IDX files, checked to agree in count and label range."""
    pixels = parse_idx(images_path, IMAGES_MAGIC)
    labels = parse_idx(labels_path, LABELS_MAGIC)
    if pixels.shape[0] != labels.shape[0]:
        raise DataError(f"{images_path} holds {pixels.shape[0]} images but {labels_path} holds "
                        f"{labels.shape[0]} labels; the two files must come from the same split")
    if labels.size and labels.max() >= NUM_CLASSES:
        raise DataError(f"{labels_path}: labels must be 0..9, found {int(labels.max())}")
    return Dataset(to_model_range(pixels), labels.astype(np.int32), source)


# ----------------------------------------------------------------------------- download
def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_file(name: str, data_dir: str | Path, mirrors=MIRRORS, timeout: float = DOWNLOAD_TIMEOUT_S,
                  expected: tuple[int, str] | None = None) -> Path:
    """Download one canonical MNIST file into ``data_dir``, verified, written atomically.

    Tries each mirror in turn. The bytes go to a temporary file in ``data_dir`` that is renamed
    into place only after its size and SHA-256 match; on any failure nothing is left behind.
    Raises DownloadError listing what each mirror answered.
    """
    size, digest = expected or MNIST_FILES[name]
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / name
    errors = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + name
        try:
            with files.atomic_write(target, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                h = hashlib.sha256()
                got = 0
                for chunk in iter(lambda: resp.read(1 << 16), b""):
                    out.write(chunk)
                    h.update(chunk)
                    got += len(chunk)
                if got != size:
                    raise DownloadError(f"{url}: got {got} bytes, expected {size} (interrupted transfer?)")
                if h.hexdigest() != digest:
                    raise DownloadError(f"{url}: SHA-256 mismatch (got {h.hexdigest()}, expected {digest})")
            return target
        except (urllib.error.URLError, OSError, DownloadError, ValueError) as e:
            errors.append(f"  {url}: {e}")
    raise DownloadError(f"could not download {name}:\n" + "\n".join(errors) +
                        f"\nPut the file in {data_dir} by hand, or use the bundled subset (--data bundled).")


def ensure_mnist(data_dir: str | Path | None = None, mirrors=MIRRORS, timeout: float = DOWNLOAD_TIMEOUT_S,
                 verbose: bool = True) -> Path:
    """Make sure the four canonical files are in ``data_dir`` (download the missing ones)."""
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    for name in MNIST_FILES:
        if not (data_dir / name).exists():
            if verbose:
                print(f"downloading {name} -> {data_dir}")
            download_file(name, data_dir, mirrors=mirrors, timeout=timeout)
    return data_dir


def _find_split_files(directory: Path, split: str) -> tuple[Path, Path] | None:
    """The (images, labels) paths of a split in ``directory``, gzip or raw, if both exist."""
    found = []
    for name in SPLITS[split]:
        for cand in (directory / name, directory / name[:-3]):
            if cand.exists():
                found.append(cand)
                break
    return (found[0], found[1]) if len(found) == 2 else None


def load_bundled(verify: bool = True) -> Dataset:
    """The 5,000-digit real MNIST subset shipped with the package (500 per class)."""
    if verify:
        for name, digest in BUNDLED_FILES.items():
            got = sha256_of(BUNDLED_DIR / name)
            if got != digest:
                raise DataError(f"{BUNDLED_DIR / name}: checksum {got} != {digest}; reinstall acgan_lib")
    return load_idx_pair(BUNDLED_DIR / "images-idx3-ubyte.gz", BUNDLED_DIR / "labels-idx1-ubyte.gz",
                         source="bundled MNIST subset (5,000 training digits, 500 per class)")


def load_mnist(source: str = "auto", split: str = "train", data_dir: str | Path | None = None,
               mirrors=MIRRORS, timeout: float = DOWNLOAD_TIMEOUT_S, verbose: bool = True) -> Dataset:
    """Load MNIST from ``source`` ("auto", "bundled", "full" or a directory) - see the module doc.

    Prints (when ``verbose``) and records in ``Dataset.source`` which source was used.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if source == "bundled":
        if split != "train":
            raise ValueError("the bundled subset has only training digits; use split='train'")
        ds = load_bundled()
    elif source in ("auto", "full"):
        directory = Path(data_dir) if data_dir else default_data_dir()
        files = _find_split_files(directory, split)
        if files is None:
            try:
                ensure_mnist(directory, mirrors=mirrors, timeout=timeout, verbose=verbose)
                files = _find_split_files(directory, split)
            except DownloadError as e:
                if source == "full":
                    raise
                if verbose:
                    reason = str(e).splitlines()[1].strip() if "\n" in str(e) else str(e)
                    print(f"full MNIST unavailable ({reason}); using the bundled subset")
                if split != "train":
                    raise
                ds = load_bundled()
                files = None
        if files is not None:
            ds = load_idx_pair(*files, source=f"full MNIST {split} split from {directory}")
    else:
        directory = Path(source).expanduser()
        if not directory.is_dir():
            raise ValueError(f"data source must be 'auto', 'bundled', 'full' or an existing directory, "
                             f"got {source!r}")
        files = _find_split_files(directory, split)
        if files is None:
            raise DataError(f"{directory}: no {SPLITS[split][0]} / {SPLITS[split][1]} (gzip or raw) found")
        ds = load_idx_pair(*files, source=f"MNIST {split} split from {directory}")
    if verbose:
        print(f"data: {ds.source}: {len(ds)} digits")
    return ds


def stratified_split(labels: np.ndarray, per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (rest, held_out): ``per_class`` examples of every class held out, chosen by ``seed``."""
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < per_class:
            raise ValueError(f"class {c} has only {len(idx)} examples, cannot hold out {per_class}")
        held.append(rng.choice(idx, per_class, replace=False))
    held = np.sort(np.concatenate(held))
    rest = np.setdiff1d(np.arange(len(labels)), held)
    return rest, held
