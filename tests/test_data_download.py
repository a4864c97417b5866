"""Downloads through a real HTTP server on 127.0.0.1 serving a tiny IDX set the test writes:
a good set, a corrupted file, a truncated file, a transfer cut short, a 404."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from layerkit.data import MNIST, FashionMNIST, sources
from layerkit.data.idx import IDXHeader, header_bytes
from layerkit.errors import DataError

NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
N_TRAIN, N_TEST = 20, 10


def _idx_gz(array: np.ndarray) -> bytes:
    return gzip.compress(
        header_bytes(IDXHeader(array.dtype, array.shape)) + array.tobytes(), mtime=0
    )


def _tiny_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "train_images": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(N_TRAIN) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(N_TEST)[::-1] % 10).astype(np.uint8),
    }


class Server:
    """Serves ``files`` (name -> bytes); ``short`` names are cut mid-transfer."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.short: set[str] = set()
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append(name)
                body = server.files.get(name)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if name in server.short:
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                else:
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/files/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def tiny() -> dict[str, np.ndarray]:
    return _tiny_arrays()


@pytest.fixture
def server(tiny: dict[str, np.ndarray]) -> Iterator[Server]:
    with Server() as srv:
        srv.files = {NAMES[role]: _idx_gz(array) for role, array in tiny.items()}
        yield srv


def md5s(server: Server) -> dict[str, str]:
    """The checksums of the good files, injected through the ``md5`` option."""
    return {name: hashlib.md5(body).hexdigest() for name, body in server.files.items()}


def cache_files(isolated: Path, name: str = "mnist") -> list[str]:
    directory = isolated / "cache" / "layerkit" / name
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_good_download_lands_in_the_cache(isolated: Path, server: Server, tiny: dict) -> None:
    dataset = MNIST(url=server.url, md5=md5s(server), train_size=N_TRAIN, test_size=N_TEST)
    assert dataset.locate() is None
    splits = dataset.load()
    np.testing.assert_array_equal(splits["train"].x[:, 0], tiny["train_images"])
    np.testing.assert_array_equal(splits["test"].y, tiny["test_labels"])
    assert cache_files(isolated) == sorted(NAMES.values())  # and no temp files
    for name, body in server.files.items():
        assert (isolated / "cache" / "layerkit" / "mnist" / name).read_bytes() == body
    location = dataset.locate()
    assert location is not None and location.origin == "cache"
    served = len(server.requests)
    dataset.load()  # found in the cache: nothing downloaded again
    assert len(server.requests) == served == 4


def test_published_checksums_are_the_default(isolated: Path, server: Server) -> None:
    # Without the md5 option the real upstream MD5s apply, which our tiny files cannot match.
    with pytest.raises(
        DataError,
        match=r"MD5 mismatch: got [0-9a-f]{32}, expected f68b3c2dcbeaaa9fbdd348bbdeb94873",
    ):
        MNIST(url=server.url).load()
    assert cache_files(isolated) == []


def test_corrupted_file_leaves_nothing_behind(isolated: Path, server: Server) -> None:
    good = md5s(server)
    body = bytearray(server.files[NAMES["train_labels"]])
    body[20] ^= 0xFF
    server.files[NAMES["train_labels"]] = bytes(body)
    with pytest.raises(DataError) as info:
        MNIST(url=server.url, md5=good, train_size=N_TRAIN, test_size=N_TEST).load()
    message = str(info.value)
    assert "could not download train-labels-idx1-ubyte.gz" in message
    assert (
        f"MD5 mismatch: got {hashlib.md5(body).hexdigest()}, expected {good[NAMES['train_labels']]}"
        in message
    )
    # The file before it was complete and verified; the corrupted one left no trace.
    assert cache_files(isolated) == [NAMES["train_images"]]

    # Once the mirror is fixed, only the missing files are downloaded.
    server.files[NAMES["train_labels"]] = _idx_gz(_tiny_arrays()["train_labels"])
    server.requests.clear()
    MNIST(url=server.url, md5=good, train_size=N_TRAIN, test_size=N_TEST).load()
    assert sorted(server.requests) == sorted(
        n for n in NAMES.values() if n != NAMES["train_images"]
    )
    assert cache_files(isolated) == sorted(NAMES.values())


def test_truncated_file_fails_its_checksum(isolated: Path, server: Server) -> None:
    good = md5s(server)
    name = NAMES["train_images"]
    server.files[name] = server.files[name][:-100]
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: MD5 mismatch"):
        MNIST(url=server.url, md5=good, train_size=N_TRAIN).load()
    assert not (isolated / "cache").exists()


def test_transfer_cut_short(isolated: Path, server: Server) -> None:
    server.short.add(NAMES["train_images"])
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte.gz: truncated transfer: received 7,859 of 15,719 bytes",
    ):
        MNIST(url=server.url, md5=md5s(server), train_size=N_TRAIN).load()
    assert not (isolated / "cache").exists()


def test_not_found(isolated: Path, server: Server) -> None:
    del server.files[NAMES["test_labels"]]
    with pytest.raises(DataError) as info:
        FashionMNIST(url=server.url, md5=md5s(server), train_size=N_TRAIN, test_size=N_TEST).load()
    message = str(info.value)
    assert f"{server.url}t10k-labels-idx1-ubyte.gz: HTTP 404 Not Found" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "$LAYERKIT_DATA/fashion_mnist" in message
    assert NAMES["test_labels"] not in cache_files(isolated, "fashion_mnist")


def test_unverifiable_download_is_checked_structurally(isolated: Path, server: Server) -> None:
    # A source without published checksums: the download is parsed as IDX before it is kept.
    source = sources.Source(
        name="custom",
        files=(sources.RemoteFile("train_images", NAMES["train_images"], md5=None),),
        mirrors=(server.url,),
    )
    name = NAMES["train_images"]
    server.files[name] = gzip.compress(gzip.decompress(server.files[name])[:-10])
    with pytest.raises(DataError, match=r"truncated: the header declares 20x28x28 uint8"):
        sources.fetch(source)
    assert not (isolated / "cache").exists()
    server.files[name] = _idx_gz(_tiny_arrays()["train_images"])
    location = sources.fetch(source)
    assert sorted(p.name for p in location.directory.iterdir()) == [name]


def test_mirror_from_environment(
    isolated: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAYERKIT_MNIST_MIRROR", server.url)
    MNIST(md5=md5s(server), train_size=N_TRAIN, test_size=N_TEST).load()
    assert len(server.requests) == 4


def test_mirrors_are_tried_in_order(isolated: Path, server: Server) -> None:
    source = sources.Source(
        name="mnist",
        files=MNIST.source.files,
        mirrors=("http://127.0.0.1:9/", server.url),  # the first refuses connections
    )
    location = sources.fetch(source, md5=md5s(server))
    assert sorted(location.files) == sorted(NAMES)


def test_force_downloads_again(isolated: Path, server: Server) -> None:
    dataset = MNIST(url=server.url, md5=md5s(server))
    dataset.fetch()
    dataset.fetch()
    assert len(server.requests) == 4
    dataset.fetch(force=True)
    assert len(server.requests) == 8


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "layerkit", "data", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_cli_fetch_then_list(isolated: Path, server: Server) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAYERKIT_")}
    env["XDG_CACHE_HOME"] = str(isolated / "cache")
    root = isolated / "data"
    md5_args = [f"--md5={name}={digest}" for name, digest in md5s(server).items()]

    bad = _cli("fetch", "mnist", "--dir", str(root), "--url", server.url, env=env)
    assert bad.returncode == 2
    assert "MD5 mismatch" in bad.stderr and "Traceback" not in bad.stderr
    assert not root.exists()

    done = _cli("fetch", "mnist", "--dir", str(root), "--url", server.url, *md5_args, env=env)
    assert done.returncode == 0, done.stderr
    assert f"mnist: files in {root / 'mnist'}" in done.stdout
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(NAMES.values())

    env["LAYERKIT_DATA"] = str(root)
    listing = _cli("list", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    rows = {row["name"]: row for row in json.loads(listing.stdout)["datasets"]}
    assert rows["mnist"]["status"] == "$LAYERKIT_DATA"
    assert rows["mnist"]["where"] == str(root / "mnist")
    assert rows["kmnist"]["status"] == "not found"
    assert rows["spiral"]["status"] == "generated"

    again = _cli("fetch", "mnist", env=env)
    assert again.returncode == 0
    assert f"mnist: already available in {root / 'mnist'} ($LAYERKIT_DATA)" in again.stdout
