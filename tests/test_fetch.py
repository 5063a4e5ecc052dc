"""The downloader, against an HTTP server on 127.0.0.1 that the test starts.

No other address is ever contacted: mirrors are injected, and proxies are
disabled so urllib connects to 127.0.0.1 directly.
"""
import gzip
import hashlib
import socket
import struct
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from numpyvae.datasets import load
from numpyvae.datasets import mnist
from numpyvae.datasets.fetch import FetchError, fetch_all, fetch_file, fetch_mnist

GOOD = b"the right bytes\n" * 1000
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves files from a directory, counts requests, prints nothing."""
    requests = 0

    def do_GET(self):
        type(self).requests += 1
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture
def serve(tmp_path):
    """serve({name: bytes}) -> base URL of a fresh 127.0.0.1 server holding those files."""
    servers = []

    def start(files):
        root = tmp_path / f"site{len(servers)}"
        root.mkdir()
        for name, data in files.items():
            (root / name).write_bytes(data)
        handler = type("Handler", (QuietHandler,), {"requests": 0})
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        server.handler = handler
        return server, f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens: bind a port, then close it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir())


def test_good_file(serve, tmp_path):
    server, url = serve({"f.gz": GOOD})
    dest = tmp_path / "cache"
    log = []
    fetch_all({"f.gz": GOOD_SHA}, dest, [url], timeout=5, log=log.append)
    assert (dest / "f.gz").read_bytes() == GOOD
    assert leftovers(dest) == ["f.gz"]                     # no temporary file left behind
    assert "checksum OK" in log[-1]
    assert server.handler.requests == 1


def test_corrupted_file_is_deleted_and_reported(serve, tmp_path):
    _, url = serve({"f.gz": GOOD[:-1] + b"?"})
    dest = tmp_path / "cache"
    log = []
    with pytest.raises(FetchError, match=r"(?s)f\.gz.*checksum mismatch.*deleted the partial file"):
        fetch_all({"f.gz": GOOD_SHA}, dest, [url], timeout=5, log=log.append)
    assert leftovers(dest) == []
    assert "checksum mismatch" in log[-1]


def test_unreachable_mirror(closed_port_url, tmp_path):
    with pytest.raises(FetchError, match=r"download failed"):
        fetch_all({"f.gz": GOOD_SHA}, tmp_path, [closed_port_url], timeout=5, log=lambda m: None)
    assert leftovers(tmp_path) == []


def test_missing_on_server_404(serve, tmp_path):
    _, url = serve({})
    dest = tmp_path / "new" / "cache"                      # created by fetch_file
    with pytest.raises(FetchError, match=r"404"):
        fetch_file("f.gz", GOOD_SHA, dest, [url], timeout=5, log=lambda m: None)
    assert leftovers(dest) == []


def test_falls_back_to_next_mirror(serve, closed_port_url, tmp_path):
    _, bad_url = serve({"f.gz": b"corrupt"})
    _, good_url = serve({"f.gz": GOOD})
    log = []
    fetch_file("f.gz", GOOD_SHA, tmp_path, [closed_port_url, bad_url, good_url], timeout=5, log=log.append)
    assert (tmp_path / "f.gz").read_bytes() == GOOD
    assert [("download failed" in m, "checksum mismatch" in m, "checksum OK" in m) for m in log] == [
        (True, False, False), (False, True, False), (False, False, True)]


def test_verified_file_is_not_downloaded_again(serve, tmp_path):
    server, url = serve({"f.gz": GOOD})
    (tmp_path / "f.gz").write_bytes(GOOD)
    fetch_file("f.gz", GOOD_SHA, tmp_path, [url], timeout=5, log=lambda m: None)
    assert server.handler.requests == 0


def test_wrong_file_in_cache_is_replaced(serve, tmp_path):
    server, url = serve({"f.gz": GOOD})
    (tmp_path / "f.gz").write_bytes(b"stale")
    log = []
    fetch_file("f.gz", GOOD_SHA, tmp_path, [url], timeout=5, log=log.append)
    assert (tmp_path / "f.gz").read_bytes() == GOOD
    assert "wrong checksum, deleted" in log[0] and server.handler.requests == 1


def test_wrong_file_in_cache_is_deleted_even_if_mirrors_fail(closed_port_url, tmp_path):
    (tmp_path / "f.gz").write_bytes(b"stale")
    with pytest.raises(FetchError):
        fetch_file("f.gz", GOOD_SHA, tmp_path, [closed_port_url], timeout=5, log=lambda m: None)
    assert leftovers(tmp_path) == []


def idx_gz(type_code, shape, payload):
    return gzip.compress(struct.pack(">BBBB", 0, 0, type_code, len(shape))
                         + struct.pack(f">{len(shape)}I", *shape) + payload)


def tiny_mnist_files():
    """Four small IDX files in MNIST's layout: 3 training and 2 test images."""
    return {
        "train-images-idx3-ubyte.gz": idx_gz(0x08, (3, 28, 28), bytes([0]) * 784 + bytes([255]) * 784 * 2),
        "train-labels-idx1-ubyte.gz": idx_gz(0x08, (3,), bytes([5, 0, 4])),
        "t10k-images-idx3-ubyte.gz": idx_gz(0x08, (2, 28, 28), bytes([51]) * 784 * 2),
        "t10k-labels-idx1-ubyte.gz": idx_gz(0x08, (2,), bytes([7, 2])),
    }


def test_fetch_mnist_into_cache_then_load(serve, tmp_path, monkeypatch):
    files = tiny_mnist_files()
    _, url = serve(files)
    monkeypatch.setenv("NUMPYVAE_DATA", str(tmp_path / "root"))
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    directory = fetch_mnist(mirrors=[url], files=sums, timeout=5, log=lambda m: None)
    assert directory == tmp_path / "root" / "mnist"
    data = load("mnist")                                   # finds the cache through NUMPYVAE_DATA
    assert data.x_train.shape == (3, 784) and data.x_test.shape == (2, 784)
    assert data.y_train.tolist() == [5, 0, 4] and data.y_test.tolist() == [7, 2]
    assert data.x_train[0].max() == 0 and data.x_train[1].min() == 1
    np.testing.assert_allclose(data.x_test, 0.2, rtol=1e-7)  # 51 / 255


def test_known_mnist_checksums_are_well_formed():
    assert sorted(mnist.SHA256) == sorted(
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
    assert all(len(s) == 64 and int(s, 16) >= 0 for s in mnist.SHA256.values())
    assert len(mnist.MIRRORS) >= 2 and all(m.startswith("https://") for m in mnist.MIRRORS)
