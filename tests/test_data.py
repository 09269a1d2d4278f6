import gzip
import hashlib
import http.server
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from acgan_lib import data


def write_idx(path: Path, magic: int, dims, payload: bytes, gz: bool = True) -> Path:
    raw = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def make_pair(tmp_path, n=5, gz=True, prefix="train"):
    rng = np.random.default_rng(0)
    pix = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    lab = (np.arange(n) % 10).astype(np.uint8)
    sfx = ".gz" if gz else ""
    ip = write_idx(tmp_path / f"{prefix}-images-idx3-ubyte{sfx}", 2051, (n, 28, 28), pix.tobytes(), gz)
    lp = write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte{sfx}", 2049, (n,), lab.tobytes(), gz)
    return ip, lp, pix, lab


@pytest.mark.parametrize("gz", [True, False])
def test_parse_idx_roundtrip(tmp_path, gz):
    ip, lp, pix, lab = make_pair(tmp_path, gz=gz)
    assert np.array_equal(data.parse_idx(ip), pix)
    assert np.array_equal(data.parse_idx(lp), lab)
    ds = data.load_idx_pair(ip, lp, "test")
    assert ds.images.shape == (5, 28, 28, 1) and ds.images.dtype == np.float32
    assert ds.images.min() >= -1 and ds.images.max() <= 1
    np.testing.assert_allclose(ds.images[..., 0], pix / 127.5 - 1, atol=1e-6)
    assert ds.labels.dtype == np.int32 and ds.labels.tolist() == lab.tolist()


def test_load_directory_source(tmp_path):
    make_pair(tmp_path, n=20)
    ds = data.load_mnist(str(tmp_path), verbose=False)
    assert len(ds) == 20 and str(tmp_path) in ds.source


def test_wrong_magic(tmp_path):
    p = write_idx(tmp_path / "x.gz", 1234, (1, 28, 28), bytes(784))
    with pytest.raises(data.DataError, match=r"x\.gz: wrong magic number 1234"):
        data.parse_idx(p)


def test_labels_file_passed_as_images(tmp_path):
    ip, lp, _, _ = make_pair(tmp_path)
    with pytest.raises(data.DataError, match="magic number 2049, but an images file must have 2051"):
        data.load_idx_pair(lp, ip, "swapped")


def test_wrong_image_size(tmp_path):
    p = write_idx(tmp_path / "imgs.gz", 2051, (2, 32, 32), bytes(2 * 32 * 32))
    with pytest.raises(data.DataError, match=r"imgs\.gz: images are 32x32, expected 28x28"):
        data.parse_idx(p)


def test_truncated_payload(tmp_path):
    p = write_idx(tmp_path / "imgs.gz", 2051, (3, 28, 28), bytes(2 * 784 + 100))
    with pytest.raises(data.DataError, match=r"imgs\.gz: payload truncated: header says 3 items"):
        data.parse_idx(p)


def test_truncated_gzip_stream(tmp_path):
    ip, _, _, _ = make_pair(tmp_path)
    raw = ip.read_bytes()
    ip.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(data.DataError, match="not a valid gzip file"):
        data.parse_idx(ip)


def test_non_gzip_gz(tmp_path):
    p = tmp_path / "train-images-idx3-ubyte.gz"
    p.write_bytes(b"<html>Not Found</html>")
    with pytest.raises(data.DataError, match=r"train-images-idx3-ubyte\.gz: not a valid gzip file"):
        data.parse_idx(p)


def test_counts_disagree(tmp_path):
    ip, _, _, _ = make_pair(tmp_path, n=5)
    lp = write_idx(tmp_path / "l.gz", 2049, (4,), bytes(4))
    with pytest.raises(data.DataError, match="holds 5 images but .* holds 4 labels"):
        data.load_idx_pair(ip, lp, "x")


def test_label_out_of_range(tmp_path):
    ip, _, _, _ = make_pair(tmp_path, n=2)
    lp = write_idx(tmp_path / "l.gz", 2049, (2,), bytes([3, 11]))
    with pytest.raises(data.DataError, match="labels must be 0..9, found 11"):
        data.load_idx_pair(ip, lp, "x")


def test_bundled_subset_is_real_and_balanced(bundled):
    assert bundled.images.shape == (5000, 28, 28, 1)
    assert np.bincount(bundled.labels).tolist() == [500] * 10
    assert "bundled" in bundled.source
    # real digits: mostly background (-1) with bright strokes
    assert 0.70 < np.mean(bundled.images < -0.9) < 0.90


def test_stratified_split():
    labels = np.repeat(np.arange(10), 20)
    rest, held = data.stratified_split(labels, 5, seed=1)
    assert len(held) == 50 and np.bincount(labels[held]).tolist() == [5] * 10
    assert not set(rest) & set(held) and len(rest) + len(held) == 200


# ----------------------------------------------------------------------------- downloads
class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    mode = "ok"

    def do_GET(self):  # noqa: N802
        name = self.path.rsplit("/", 1)[-1]
        if name not in self.files or self.mode == "404":
            self.send_error(404)
            return
        body = self.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.mode == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    th = threading.Thread(target=httpd.serve_forever, daemon=True)
    th.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}/mnist/"
    httpd.shutdown()
    httpd.server_close()


def _serve_pair(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    ip, lp, pix, lab = make_pair(src, n=7)
    files = {p.name: p.read_bytes() for p in (ip, lp)}
    expected = {n: (len(b), hashlib.sha256(b).hexdigest()) for n, b in files.items()}
    return files, expected


def test_download_verifies_and_caches(tmp_path, server):
    httpd, url = server
    files, expected = _serve_pair(tmp_path)
    _Handler.files, _Handler.mode = files, "ok"
    cache = tmp_path / "cache"
    for name in files:
        path = data.download_file(name, cache, mirrors=[url], timeout=5, expected=expected[name])
        assert path.read_bytes() == files[name]
    assert sorted(p.name for p in cache.iterdir()) == sorted(files)
    ds = data.load_mnist(str(cache), verbose=False)
    assert len(ds) == 7


@pytest.mark.parametrize("mode,match", [
    ("checksum", "SHA-256 mismatch"),
    ("404", "HTTP Error 404"),
    ("truncate", "IncompleteRead|got .* bytes, expected|Connection"),
])
def test_download_failures_leave_nothing(tmp_path, server, mode, match):
    httpd, url = server
    files, expected = _serve_pair(tmp_path)
    name = "train-images-idx3-ubyte.gz"
    _Handler.files, _Handler.mode = files, ("ok" if mode == "checksum" else mode)
    if mode == "checksum":
        expected[name] = (expected[name][0], "0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(data.DownloadError, match=match):
        data.download_file(name, cache, mirrors=[url], timeout=5, expected=expected[name])
    assert list(cache.iterdir()) == []


def test_download_connection_refused(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    cache = tmp_path / "cache"
    with pytest.raises(data.DownloadError, match="(?s)could not download .*refused"):
        data.download_file("train-labels-idx1-ubyte.gz", cache, mirrors=[f"http://127.0.0.1:{port}/"], timeout=5)
    assert list(cache.iterdir()) == []


def test_second_mirror_used_when_first_fails(tmp_path, server):
    httpd, url = server
    files, expected = _serve_pair(tmp_path)
    _Handler.files, _Handler.mode = files, "ok"
    name = "train-labels-idx1-ubyte.gz"
    path = data.download_file(name, tmp_path / "c", mirrors=[url + "missing/nope/", url], timeout=5,
                              expected=expected[name])
    assert path.exists()


def test_auto_falls_back_to_bundled_when_offline(tmp_path, capsys):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    ds = data.load_mnist("auto", data_dir=tmp_path / "c", mirrors=[f"http://127.0.0.1:{port}/"], timeout=2)
    assert "bundled" in ds.source and len(ds) == 5000
    assert "using the bundled subset" in capsys.readouterr().out
    with pytest.raises(data.DownloadError):
        data.load_mnist("full", data_dir=tmp_path / "c", mirrors=[f"http://127.0.0.1:{port}/"], timeout=2)


def test_unknown_source():
    with pytest.raises(ValueError, match="must be 'auto', 'bundled', 'full' or an existing directory"):
        data.load_mnist("mnist-please", verbose=False)


def test_fingerprint_tells_same_size_data_apart(bundled):
    """Issue 22 §2: resume compares a fingerprint, not just the count."""
    first = data.Dataset(bundled.images[:100], bundled.labels[:100], "a")
    same = data.Dataset(bundled.images[:100].copy(), bundled.labels[:100].astype(np.int64), "b")
    other = data.Dataset(bundled.images[100:200], bundled.labels[100:200], "a")
    relabelled = data.Dataset(bundled.images[:100], (bundled.labels[:100] + 1) % 10, "a")
    assert first.fingerprint() == same.fingerprint()
    assert len({first.fingerprint(), other.fingerprint(), relabelled.fingerprint()}) == 3
