"""MNIST loading: the bundled set, torchvision's download against a local server, fallbacks."""

import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest
import torch

from cnn_core.data.dataset_store import MnistStore
from cnn_core.data.download import DownloadError, download_mnist
from cnn_core.data.mnist import BUNDLED_DIR, load_bundled, normalize

TEST_RESOURCES = [("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                  ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")]


class MnistHandler(http.server.BaseHTTPRequestHandler):
    """Serves the bundled files; ``mode`` makes it misbehave like a real network can."""

    mode = "good"

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        path = BUNDLED_DIR / name
        if not path.exists():
            self.send_error(404)
            return
        body = path.read_bytes()
        if self.mode == "corrupt":
            body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.mode == "cut":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def mnist_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), MnistHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    MnistHandler.mode = "good"


def test_bundled_set_is_the_real_test_set():
    splits = load_bundled()
    assert splits.source == "bundled"
    assert splits.train_images.shape == (8000, 28, 28) and splits.train_images.dtype == torch.uint8
    assert splits.val_images.shape == (2000, 28, 28)
    assert splits.train_labels[:4].tolist() == [7, 2, 1, 0]
    assert torch.equal(splits.test_images, splits.val_images)
    x = normalize(splits.train_images[:5])
    assert x.shape == (5, 1, 28, 28) and abs(float(normalize(splits.train_images).mean())) < 0.1


def test_download_good_files_with_md5_check(mnist_server, tmp_path):
    _, url = mnist_server
    download_mnist(tmp_path, mirrors=[url], resources=TEST_RESOURCES)
    raw = tmp_path / "MNIST" / "raw"
    images = raw / "t10k-images-idx3-ubyte.gz"
    assert hashlib.md5(images.read_bytes()).hexdigest() == TEST_RESOURCES[0][1]
    assert (raw / "t10k-images-idx3-ubyte").stat().st_size == 16 + 10000 * 784


@pytest.mark.parametrize("mode", ["corrupt", "cut"])
def test_bad_downloads_leave_no_file_behind(mnist_server, tmp_path, mode):
    MnistHandler.mode = mode
    _, url = mnist_server
    with pytest.raises(DownloadError) as info:
        download_mnist(tmp_path, mirrors=[url], resources=TEST_RESOURCES, timeout=5)
    assert "\n" not in str(info.value)
    raw = tmp_path / "MNIST" / "raw"
    assert not list(raw.glob("*")), f"left behind: {list(raw.glob('*'))}"


@pytest.mark.timeout(60)  # a bound on a hang (no retries, no backoff), not a speed test
def test_refused_connection_fails_with_a_clear_message(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    with pytest.raises(DownloadError, match="refused"):
        download_mnist(tmp_path, mirrors=[f"http://127.0.0.1:{port}/"],
                       resources=TEST_RESOURCES)


@pytest.mark.timeout(60)  # the download's own timeout (1 s) must end it: a bound on a hang
def test_a_server_that_never_answers_is_given_up_on(tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)  # accepts connections, never answers
    try:
        with pytest.raises(DownloadError, match="did not answer within 1 s"):
            download_mnist(tmp_path, mirrors=[f"http://127.0.0.1:{silent.getsockname()[1]}/"],
                           resources=TEST_RESOURCES, timeout=1.0)
    finally:
        silent.close()


def test_store_falls_back_to_the_bundled_set_and_says_why(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = MnistStore(root=tmp_path, mirrors=[f"http://127.0.0.1:{port}/"],
                       allow_download=True)
    splits = store.wait(timeout=60)
    assert splits.source == "bundled"
    assert "refused" in store.offline_reason
    assert store.status().state == "ready" and "Offline" in store.status().message


def test_store_replaces_a_corrupt_archive_on_disk(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(b"garbage")
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"garbage")
    store = MnistStore(root=tmp_path, allow_download=False)
    assert store.wait(timeout=60).source == "bundled"
    assert not (raw / "t10k-images-idx3-ubyte.gz").exists()
    assert not (raw / "t10k-images-idx3-ubyte").exists()


def test_full_dataset_is_used_when_on_disk(tmp_path, monkeypatch):
    """With all four files on disk (here: the test files under the training names too),
    the store loads them through torchvision without downloading."""
    import gzip

    from cnn_core.data import mnist as data

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for kind in ("images-idx3", "labels-idx1"):
        content = gzip.decompress((BUNDLED_DIR / f"t10k-{kind}-ubyte.gz").read_bytes())
        (raw / f"t10k-{kind}-ubyte").write_bytes(content)
        (raw / f"train-{kind}-ubyte").write_bytes(content)
    monkeypatch.setattr(data, "FULL_VALIDATION", 1000)
    store = MnistStore(root=Path(tmp_path), allow_download=False)
    splits = store.wait(timeout=60)
    assert splits.source == "full" and store.offline_reason is None
    assert len(splits.train_images) == 9000 and len(splits.test_images) == 10000
