"""Fashion-MNIST, KMNIST and EMNIST letters: torchvision's own classes, downloaded from a local
server serving small files in the real IDX format, md5-checked, and offline behaviour."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
import torchvision
from helpers import idx_bytes

from cnn_core.data.dataset_store import MnistStore, offered
from cnn_core.data.datasets import DATASETS
from cnn_core.data.download import DownloadError, download_dataset
from cnn_core.data.mnist import classes, raw_dir


def fixture_files(seed: int, train: int = 60, test: int = 12, classes: int = 10
                  ) -> dict[str, bytes]:
    """The four gzipped files of a tiny MNIST-format dataset."""
    rng = np.random.default_rng(seed)
    files = {}
    for part, n in (("train", train), ("t10k", test)):
        files[f"{part}-images-idx3-ubyte.gz"] = gzip.compress(
            idx_bytes(rng.integers(0, 256, (n, 28, 28))), mtime=0)
        files[f"{part}-labels-idx1-ubyte.gz"] = gzip.compress(
            idx_bytes(rng.integers(0, classes, n)), mtime=0)
    return files


def md5s(files: dict[str, bytes]) -> list[tuple[str, str]]:
    return [(name, hashlib.md5(body).hexdigest()) for name, body in files.items()]


class Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self):
        body = self.files.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    """serve(files) -> the URL of a local server (127.0.0.1) serving ``files`` by name."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def start(files: dict[str, bytes]) -> str:
        Handler.files = files
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    server.shutdown()


@pytest.mark.parametrize("key, folder", [("fashion_mnist", "FashionMNIST"), ("kmnist", "KMNIST")])
def test_download_md5_check_and_load_through_torchvision(serve, tmp_path, key, folder):
    files = fixture_files(seed=len(key))
    url = serve(files)
    download_dataset(DATASETS[key], tmp_path, mirrors=[url], resources=md5s(files))
    raw = tmp_path / folder / "raw"
    assert raw == raw_dir(tmp_path, DATASETS[key])
    assert (raw / "train-images-idx3-ubyte").stat().st_size == 16 + 60 * 784
    splits = MnistStore(root=tmp_path, allow_download=False, dataset=key,
                        resources=md5s(files)).wait(timeout=60)
    assert splits.source == "full" and splits.dataset == key
    assert len(splits.train_images) + len(splits.val_images) == 60
    assert len(splits.test_images) == 12
    expected = np.frombuffer(gzip.decompress(files["t10k-images-idx3-ubyte.gz"])[16:],
                             np.uint8).reshape(12, 28, 28)
    assert torch.equal(splits.test_images, torch.from_numpy(expected.copy()))
    assert splits.classes == tuple(getattr(torchvision.datasets, folder).classes)
    assert key.split("_")[0] in splits.description.lower().replace("-", "_")


@pytest.mark.parametrize("key", ["fashion_mnist", "kmnist"])
def test_files_failing_torchvisions_md5_are_refused_and_removed(serve, tmp_path, key):
    """Served under the real names but not the real files: torchvision's own md5 list (the
    default resources) refuses them, and nothing unverified stays on disk."""
    url = serve(fixture_files(seed=1))
    with pytest.raises(DownloadError, match="md5 check failed") as info:
        download_dataset(DATASETS[key], tmp_path, mirrors=[url], timeout=5)
    assert "\n" not in str(info.value) and DATASETS[key].title in str(info.value)
    assert not list(raw_dir(tmp_path, DATASETS[key]).glob("*"))


def test_a_missing_file_is_a_clear_http_error(serve, tmp_path):
    url = serve({})
    with pytest.raises(DownloadError, match="answered 404"):
        download_dataset(DATASETS["kmnist"], tmp_path, mirrors=[url], timeout=5)


def test_offline_offers_only_what_is_on_disk_and_says_why(serve, tmp_path):
    keys, why_not = offered(tmp_path, allow_download=False)
    assert keys == ["mnist"]
    assert set(why_not) == {"fashion_mnist", "kmnist", "emnist_letters"}
    assert "downloading is turned off" in why_not["kmnist"]
    store = MnistStore(root=tmp_path, allow_download=False, dataset="kmnist")
    store.start()
    store._thread.join(30)
    status = store.status()
    assert status.state == "unavailable" and "downloading is turned off" in status.message
    files = fixture_files(seed=3)
    download_dataset(DATASETS["kmnist"], tmp_path, mirrors=[serve(files)], resources=md5s(files))
    assert offered(tmp_path, allow_download=False)[0] == ["mnist", "kmnist"]
    assert offered(tmp_path, allow_download=True)[0] == list(DATASETS)


def test_emnist_letters_are_upright_and_labelled_from_zero(tmp_path):
    """EMNIST stores letters transposed and labelled 1-26; the splits hold them upright, 0-25."""
    raw = raw_dir(tmp_path, DATASETS["emnist_letters"])
    raw.mkdir(parents=True)
    image = np.zeros((28, 28), np.uint8)
    image[2, :] = 255  # a row in the file: a column once upright
    for part, n in (("train", 12), ("test", 6)):
        (raw / f"emnist-letters-{part}-images-idx3-ubyte").write_bytes(
            idx_bytes(np.stack([image] * n)))
        (raw / f"emnist-letters-{part}-labels-idx1-ubyte").write_bytes(
            idx_bytes(np.arange(1, n + 1)))
    splits = MnistStore(root=Path(tmp_path), allow_download=False,
                        dataset="emnist_letters").wait(timeout=60)
    assert splits.test_labels.tolist() == [0, 1, 2, 3, 4, 5]
    assert splits.test_images[0][:, 2].min() == 255 and splits.test_images[0][2, 5] == 0
    assert len(splits.classes) == 26 and splits.classes[0] == "a"


@pytest.mark.parametrize("key", list(DATASETS))
def test_each_datasets_output_count_is_torchvisions_class_count(key):
    assert DATASETS[key].outputs == len(classes(DATASETS[key]))


def test_emnist_letters_needs_26_outputs_and_says_which_layer(monkeypatch):
    from cnn_core.data.datasets import output_refusal, outputs_note
    from cnn_core.design.presets import LENET5
    from cnn_core.design.shapes import analyze
    from cnn_core.design.spec import ArchitectureSpec, Layer

    report = analyze(LENET5)
    letters = DATASETS["emnist_letters"]
    refusal = output_refusal(report, letters)
    last = len(LENET5.layers)
    assert refusal == (f"EMNIST letters has 26 classes, so the last layer must output 26 "
                       f"values (one per letter), but layer {last} (linear) outputs 10; set "
                       "its out_features to 26")
    assert output_refusal(report, DATASETS["kmnist"]) is None
    wider = ArchitectureSpec(LENET5.layers[:-1] + (Layer("linear", {"out_features": 26}),),
                             LENET5.input_shape)
    assert output_refusal(analyze(wider), letters) is None
    assert "must output 10 values" in output_refusal(analyze(wider), DATASETS["mnist"])
    assert "EMNIST letters: 26 outputs" in outputs_note(report)
    assert outputs_note(analyze(wider)).endswith("so it can train on EMNIST letters.")


def test_downloading_changes_nothing_process_wide(serve, tmp_path):
    """The timeout goes to the one urlopen call: no global opener, no default socket timeout."""
    import socket
    import urllib.request

    opener, default_timeout = urllib.request._opener, socket.getdefaulttimeout()
    files = fixture_files(seed=5)
    download_dataset(DATASETS["fashion_mnist"], tmp_path, mirrors=[serve(files)],
                     resources=md5s(files), timeout=3)
    assert urllib.request._opener is opener and socket.getdefaulttimeout() == default_timeout
