"""The in-browser trainer's data (webapp/training_data.py, static/js/core/trainingdata.js): the files written from the
real MNIST and Fashion-MNIST IDX files, within 12 MB, read back under Node by the page's reader and compared image by
image with the IDX files (tests/node/trainingdata.test.mjs: MNIST's 60,000 training images exact, Fashion-MNIST's
55,000 at 4 bits, the test subset exact, the first chunks readable before the rest has arrived, damaged and
truncated files refused); written once; a budget that cannot hold every image exactly gets a 4-bit prefix of the
shuffled order; and, without the data set, no file and a message that says how to get it.

On a Space without the folder, the library's md5-checked download fetches the data set (from a local mirror).
Served: the launched app (tests/app_server.py) serves the file at gradio_api/file=, whole and by ranges; without the
data set the app starts and serves its other tabs.

Needs MNIST and Fashion-MNIST (tests/conftest.py: MNIST_DIR, FASHION_MNIST_DIR) and Node.js 18+.
Run: python -m pytest tests/test_training_data.py   (about a minute and a half on 2 busy cores)
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import struct

import httpx
import numpy as np
import pytest
from gradio_client import Client
from PIL import Image

from vae.datasets import class_words, get_dataset, load_split
from vae.snapshots import subset_indices
from webapp.training_data import (MAX_BYTES, TEST_SIZE, encode, missing_message, training_data_path,
                                  training_order)

from app_server import launch_app
from conftest import REPO, node_test

NODE_TEST = REPO / "tests" / "node" / "trainingdata.test.mjs"


def header_of(data: bytes) -> dict:
    (length,) = struct.unpack("<I", data[8:12])
    return json.loads(data[12:12 + length])


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    return tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="module")
def mnist_file(mnist_path, bundles, monkeypatch_module):
    monkeypatch_module.setenv("MNIST_DIR", str(mnist_path))
    return training_data_path("mnist", bundles)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_the_page_reads_the_file_as_the_idx_files_hold_it(name, request, node_executable, tmp_path, bundles,
                                                          monkeypatch):
    folder = request.getfixturevalue("mnist_path" if name == "mnist" else "fashion_path")
    monkeypatch.setenv(get_dataset(name).env, str(folder))
    path = training_data_path(name, bundles)
    data = path.read_bytes()
    header = header_of(data)
    bits = {c["bits"] for c in header["chunks"][1:]}
    assert header["test_n"] == TEST_SIZE and len(data) <= MAX_BYTES and len(bits) == 1
    # MNIST: every training image, exact; Fashion-MNIST: 4 bits, and as many as fit
    assert (header["train_n"], bits) == ((60_000, {8}) if name == "mnist" else (55_000, {4}))
    # what the Node test compares with: the file's order of the training images and the test subset's indices
    training_order(60_000).astype("<i4").tofile(tmp_path / "order.i32")
    subset_indices(10_000, TEST_SIZE).astype("<i4").tofile(tmp_path / "test.i32")
    (tmp_path / "expected.json").write_text(json.dumps({"dataset": name, "class_names": class_words(name)["names"],
                                                        "train_n": header["train_n"], "bits": bits.pop()}))
    run = node_test(node_executable, NODE_TEST, TRAINING_DATA_FILE=str(path), TRAINING_DATA_IDX=str(folder),
                    TRAINING_DATA_INDICES=str(tmp_path))
    if run.returncode != 0:
        pytest.fail(f"node --test failed ({run.returncode}):\n{run.stdout}\n{run.stderr}", pytrace=False)
    assert "# fail 0" in run.stdout and "# pass 0" not in run.stdout, run.stdout


def test_the_same_data_writes_the_same_file_once(mnist_file, mnist_path):
    again = training_data_path("mnist", mnist_file.parent)
    assert again == mnist_file and list(mnist_file.parent.glob("training-data-mnist-*")) == [mnist_file]
    assert not list(mnist_file.parent.glob(".*.tmp"))  # the atomic write left no temporary file


def test_what_does_not_fit_exactly_is_a_4_bit_prefix_of_the_shuffled_order(mnist_path):
    """With a smaller budget (as Fashion-MNIST's 26 MB of exact chunks meet 12 MB), the training images go at 4 bits,
    the shuffled order's first chunks that fit; the test chunk stays exact."""
    train, test = load_split(mnist_path, "train"), load_split(mnist_path, "test")
    data, held = encode("mnist", train, test, max_bytes=3_000_000)
    header = header_of(data)
    assert len(data) <= 3_000_000 and header["train_n"] == len(held) and 20_000 <= len(held) < 60_000
    assert (held == training_order(60_000)[:len(held)]).all()
    assert {c["bits"] for c in header["chunks"]} == {8, 4} and header["chunks"][0]["bits"] == 8
    start = 12 + struct.unpack("<I", data[8:12])[0]
    raw = gzip.decompress(data[start:start + header["chunks"][0]["bytes"]])  # the test chunk: the replay's subset
    keep = subset_indices(10_000, TEST_SIZE)
    assert raw == test[1][keep].tobytes() + test[0][keep].tobytes()
    second = start + header["chunks"][0]["bytes"]
    raw = gzip.decompress(data[second:second + header["chunks"][1]["bytes"]])
    first = held[:header["chunks"][1]["n"]]
    levels = np.stack([np.frombuffer(raw, np.uint8)[len(first):] >> 4, np.frombuffer(raw, np.uint8)[len(first):] & 15],
                      axis=-1).reshape(len(first), 784)
    assert (np.abs(levels * 17 - train[0][first].reshape(-1, 784).astype(int)) <= 8).all()


def test_without_the_data_set_there_is_no_file_and_a_message(tmp_path, monkeypatch):
    for name in ("MNIST_DIR", "FASHION_MNIST_DIR", "SPACE_ID"):
        monkeypatch.delenv(name, raising=False)
    assert training_data_path("mnist", tmp_path) is None
    assert "MNIST_DIR" in missing_message("mnist") and "--download" in missing_message("mnist")
    assert "FASHION_MNIST_DIR" in missing_message("fashion-mnist")
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "nowhere"))
    assert training_data_path("mnist", tmp_path) is None
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "train-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03 not an idx file")
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "broken"))
    assert training_data_path("mnist", tmp_path) is None
    assert not list(tmp_path.glob("training-data-*"))


# ---------------------------------------------------------------------------------------------------------
# served by the launched app


@pytest.mark.slow
def test_the_launched_app_serves_the_file_for_the_browser_to_keep(mnist_path, tmp_path, monkeypatch):
    """`python app.py` as a Space runs it: the file training_data_path writes into the app's bundle folder (its
    default, under the temporary folder) is served at gradio_api/file=, whole and by byte ranges (a resumed
    download), with the validators a browser revalidates with; its name changes with its data."""
    app = launch_app(tmp_path / "app", MNIST_DIR=str(mnist_path))
    try:
        monkeypatch.setenv("MNIST_DIR", str(mnist_path))
        path = training_data_path("mnist", app.tmp / "vae-explorer")  # the app's tempfile.gettempdir()/vae-explorer
        url = f"{app.url}gradio_api/file={path}"
        response = httpx.get(url, timeout=60)
        assert response.status_code == 200 and response.content == path.read_bytes()
        assert int(response.headers["content-length"]) == len(response.content) <= MAX_BYTES
        assert response.headers["etag"] and response.headers["last-modified"]
        assert response.headers["accept-ranges"] == "bytes"
        part = httpx.get(url, headers={"Range": "bytes=0-11"}, timeout=60)
        assert part.status_code == 206 and part.content == path.read_bytes()[:12]
        assert httpx.get(f"{app.url}gradio_api/file={path.parent / 'elsewhere.bin'}", timeout=60).status_code == 403
    finally:
        app.stop()


@pytest.mark.slow
def test_without_the_data_set_the_app_starts_and_serves_its_tabs(tmp_path, monkeypatch):
    """No MNIST_DIR: no file, the message, and every endpoint the other tabs use answers."""
    app = launch_app(tmp_path / "app", MNIST_DIR="", FASHION_MNIST_DIR="")
    try:
        monkeypatch.delenv("MNIST_DIR", raising=False)
        monkeypatch.delenv("SPACE_ID", raising=False)
        assert training_data_path("mnist", app.tmp / "vae-explorer") is None
        assert "MNIST_DIR" in missing_message("mnist")
        client = Client(app.url, verbose=False)
        assert len(client.predict(api_name="/models")) >= 1
        with Image.open(client.predict(0.0, 0.0, api_name="/generate")) as digit:
            assert digit.size == (28, 28)
        assert app.alive() and "Traceback" not in app.log_text()
    finally:
        app.stop()


def test_on_a_space_without_the_folder_the_data_set_is_downloaded_md5_checked(mnist_path, tmp_path, monkeypatch):
    """SPACE_ID set and no MNIST_DIR: the library's download (from a local mirror here) fills a folder beside the
    bundles' (not inside it: that one is served), then the file is written; a mirror whose bytes fail the md5 check
    leaves no file and no data."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from vae.datasets import MNIST

    for name in ("MNIST_DIR", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("SPACE_ID", "someone/vae-explorer")
    www = tmp_path / "www"
    (www / "corrupt").mkdir(parents=True)
    for name in MNIST.md5:
        shutil.copy(mnist_path / name, www / name)
        monkeypatch.setitem(MNIST.md5, name, hashlib.md5((mnist_path / name).read_bytes()).hexdigest())
        (www / "corrupt" / name).write_bytes((mnist_path / name).read_bytes()[:-1] + b"\0")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(SimpleHTTPRequestHandler, directory=str(www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        monkeypatch.setattr(MNIST, "mirrors", (base + "corrupt/",))
        assert training_data_path("mnist", tmp_path / "bad" / "vae-explorer") is None
        assert not list((tmp_path / "bad").rglob("*.gz")) and not list((tmp_path / "bad").rglob("training-data-*"))
        monkeypatch.setattr(MNIST, "mirrors", (base,))
        bundles = tmp_path / "good" / "vae-explorer"
        path = training_data_path("mnist", bundles)
        assert path.parent == bundles and header_of(path.read_bytes())["train_n"] == 60_000
        downloaded = tmp_path / "good" / "vae-explorer-data" / "mnist"
        assert sorted(p.name for p in downloaded.iterdir()) == sorted(MNIST.md5)
        assert not list(bundles.rglob("*.gz"))
    finally:
        server.shutdown()
        server.server_close()
