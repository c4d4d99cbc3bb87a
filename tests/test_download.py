"""The MNIST downloader (vae.mnist.download_mnist and `python -m train --download`) against a real HTTP server on
127.0.0.1 serving copies of the real files: md5 checking, fallback to the next mirror, nothing left behind by a
bad download, no re-download of files already there; an unreachable mirror (a closed port on 127.0.0.1) gives a
message that says the download failed and what to do instead, and leaves no empty folder behind. The same for
Fashion-MNIST (`--dataset fashion-mnist --download`): its canonical md5 sums, its own mirrors, and a local folder of
repackaged files taken as it is.

    python -m pytest tests/test_download.py      # about 15 s, no internet needed

The train-images file the tests serve may be a rebuilt copy whose md5 is not the canonical one the downloader checks
(so is this project's workspace copy, see the README beside it), so the tests that serve it set vae.mnist.MD5 for that
one file to the served copy's real md5. The other three files are checked against the library's canonical sums.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

import vae.datasets
import vae.mnist
from vae.mnist import MNISTError, download_mnist, load_mnist

GZ = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
      "t10k-labels-idx1-ubyte.gz"]


class _RecordingHandler(SimpleHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep the test output clean
        pass


def _serve(source, tmp_path, monkeypatch):
    """A local HTTP server of the four files in `source`; yields (server, dict of mirror URLs): 'good' (the files),
    'missing' (404 for everything), 'corrupt' (each file with one byte changed). server.requests lists the paths
    asked for."""
    root = tmp_path / "www"
    for sub in ("good", "missing", "corrupt"):
        (root / sub).mkdir(parents=True)
    for name in GZ:
        shutil.copy(source / name, root / "good" / name)
        data = bytearray((source / name).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (root / "corrupt" / name).write_bytes(bytes(data))
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_RecordingHandler, directory=str(root)))
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    yield server, {sub: f"{base}/{sub}/" for sub in ("good", "missing", "corrupt")}
    server.shutdown()
    server.server_close()


@pytest.fixture
def mirrors(tmp_path, mnist_path, monkeypatch):
    """_serve of the MNIST files."""
    # the rebuilt training images: expect the served file's own md5 (see the module docstring)
    monkeypatch.setitem(vae.mnist.MD5, GZ[0], hashlib.md5((mnist_path / GZ[0]).read_bytes()).hexdigest())
    yield from _serve(mnist_path, tmp_path, monkeypatch)


def _listing(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())  # hidden files (.part) included


def test_downloads_the_four_files_and_checks_their_md5(mirrors, tmp_path, mnist_path, mnist_test):
    server, url = mirrors
    folder = download_mnist(tmp_path / "data", mirrors=(url["good"],))
    assert _listing(folder) == sorted(GZ)  # and no temporary files
    for name in GZ:
        assert (folder / name).read_bytes() == (mnist_path / name).read_bytes()
    assert sorted(server.requests) == sorted(f"/good/{name}" for name in GZ)
    images, labels = load_mnist(folder, "test")
    assert (images == mnist_test[0]).all() and (labels == mnist_test[1]).all()


def test_a_404_on_the_first_mirror_falls_back_to_the_second(mirrors, tmp_path):
    server, url = mirrors
    folder = download_mnist(tmp_path / "data", mirrors=(url["missing"], url["good"]))
    assert _listing(folder) == sorted(GZ)
    for name in GZ:  # each file: first the missing mirror (404), then the good one
        assert server.requests.index(f"/missing/{name}") < server.requests.index(f"/good/{name}")


def test_a_checksum_mismatch_raises_and_leaves_nothing_behind(mirrors, tmp_path):
    server, url = mirrors
    folder = tmp_path / "data"
    with pytest.raises(MNISTError) as e:
        download_mnist(folder, mirrors=(url["corrupt"],))
    msg = str(e.value)
    assert GZ[0] in msg and "md5" in msg and "does not match" in msg and "--data-dir" in msg, msg
    assert not folder.exists()  # neither the corrupt file nor its .part temporary; the empty folder it made is gone


def test_a_corrupt_mirror_is_skipped_for_a_good_one(mirrors, tmp_path):
    server, url = mirrors
    folder = download_mnist(tmp_path / "data", mirrors=(url["corrupt"], url["good"]))
    assert _listing(folder) == sorted(GZ)
    load_mnist(folder, "train")  # the files kept are the good ones: they read (and the md5 matched)


def test_no_reachable_mirror_says_what_failed(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    folder = tmp_path / "data"
    with pytest.raises(MNISTError) as e:
        download_mnist(folder, mirrors=("http://127.0.0.1:1/",), timeout=5)
    msg = str(e.value)
    assert "http://127.0.0.1:1/" + GZ[0] in msg and "Connection refused" in msg, msg
    # the user asked for the download: the message says it failed and what to do, not "add --download"
    assert "download failed" in msg and "internet connection" in msg and "MNIST_DIR" in msg and str(folder) in msg
    assert "--download" not in msg
    assert not folder.exists()


def test_a_failed_download_removes_only_the_empty_folders_it_made(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    offline = dict(mirrors=("http://127.0.0.1:1/",), timeout=5)
    with pytest.raises(MNISTError):
        download_mnist(tmp_path / "data" / "mnist", **offline)  # both made by the download
    assert _listing(tmp_path) == []
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(MNISTError):
        download_mnist(existing / "mnist", **offline)
    assert _listing(tmp_path) == ["existing"] and _listing(existing) == []  # it was there before: kept, though empty
    with pytest.raises(MNISTError):
        download_mnist(existing, **offline)
    assert existing.is_dir()
    (existing / "notes.txt").write_text("mine")
    with pytest.raises(MNISTError):
        download_mnist(existing, **offline)
    assert _listing(existing) == ["notes.txt"]


def test_download_without_a_folder_says_to_name_one(monkeypatch):
    monkeypatch.delenv("MNIST_DIR", raising=False)
    with pytest.raises(MNISTError, match="--download needs a folder") as e:
        download_mnist(None)
    assert "--data-dir" in str(e.value) and "MNIST_DIR" in str(e.value)


def test_files_already_there_are_not_downloaded_again(mirrors, tmp_path, mnist_path):
    server, url = mirrors
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(mnist_path / "t10k-images-idx3-ubyte.gz", folder)
    # a raw (decompressed) copy counts as present too
    (folder / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress((mnist_path / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    download_mnist(folder, mirrors=(url["good"],))
    assert sorted(server.requests) == ["/good/train-images-idx3-ubyte.gz", "/good/train-labels-idx1-ubyte.gz"]
    assert {name: (folder / name).stat().st_mtime_ns for name in before} == before
    server.requests.clear()
    download_mnist(folder, mirrors=(url["good"],))  # everything there now: no request at all
    assert server.requests == []


def test_cli_download_uses_the_data_sets_mirrors(mirrors, tmp_path, tiny_run_args, monkeypatch, capsys):
    # `python -m train --download` into an empty folder, with the library's mirror list pointed at the local server
    # (in-process, since a subprocess could not see the patch)
    from train.__main__ import main

    server, url = mirrors
    monkeypatch.setattr(vae.datasets.MNIST, "mirrors", (url["missing"], url["good"]))
    data, out = tmp_path / "data", tmp_path / "run"
    args = list(tiny_run_args)
    args[args.index("--data-dir") + 1] = str(data)
    threads = torch.get_num_threads()
    try:
        code = main(["--download", *args, "--out-dir", str(out), "--epochs", "1", "--train-subset", "500"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0, capsys.readouterr().err
    assert _listing(data) == sorted(GZ)
    assert all(f"/good/{name}" in server.requests for name in GZ)
    assert (out / "model.safetensors").is_file()


def test_cli_download_offline_says_the_download_failed_and_leaves_no_folder(tmp_path, tiny_run_args, monkeypatch,
                                                                            capsys):
    # what a newcomer without internet hits: `python -m train --download --data-dir data/mnist`
    from train.__main__ import main

    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(vae.datasets.MNIST, "mirrors", ("http://127.0.0.1:1/",))
    monkeypatch.chdir(tmp_path)
    args = list(tiny_run_args)
    args[args.index("--data-dir") + 1] = "data/mnist"
    code = main(["--download", *args, "--out-dir", "run", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: could not download") and "download failed" in err and "--download" not in err, err
    assert _listing(tmp_path) == []  # neither data/mnist nor data/, nor the run folder


# ---------------------------------------------------------------------------------------------------------
# Fashion-MNIST: the same downloader with the data set's canonical md5 sums


FASHION_CANONICAL_MD5 = {  # published with the data set (its README, and torchvision's FashionMNIST)
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}


@pytest.fixture
def fashion_server(tmp_path, fashion_path, monkeypatch):
    """_serve of the Fashion-MNIST files (as they are: their md5 is whatever the local copy's is)."""
    yield from _serve(fashion_path, tmp_path, monkeypatch)


def _served_md5(fashion_path) -> dict[str, str]:
    return {name: hashlib.md5((fashion_path / name).read_bytes()).hexdigest() for name in GZ}


def test_fashion_downloads_are_checked_against_the_canonical_md5(fashion_server, tmp_path):
    server, url = fashion_server
    assert vae.datasets.FASHION_MNIST.md5 == FASHION_CANONICAL_MD5
    folder = tmp_path / "data" / "fashion-mnist"
    with pytest.raises(vae.datasets.DataSetError) as e:
        vae.datasets.download(folder, "fashion-mnist", mirrors=(url["corrupt"],))
    msg = str(e.value)
    assert f"does not match the expected {FASHION_CANONICAL_MD5[GZ[0]]}" in msg, msg
    assert "four Fashion-MNIST IDX files" in msg and "set FASHION_MNIST_DIR" in msg, msg
    assert not (tmp_path / "data").exists()  # nothing left behind


def test_fashion_download_keeps_files_whose_md5_matches(fashion_server, fashion_path, tmp_path, monkeypatch,
                                                        fashion_test):
    # what the check accepts: the served files, once their sums are the expected ones
    server, url = fashion_server
    monkeypatch.setattr(vae.datasets.FASHION_MNIST, "md5", _served_md5(fashion_path))
    folder = vae.datasets.download(tmp_path / "fashion", "fashion-mnist", mirrors=(url["corrupt"], url["good"]))
    assert _listing(folder) == sorted(GZ) and all(f"/good/{n}" in server.requests for n in GZ)
    images, labels = vae.datasets.load_split(folder, "test", "fashion-mnist")
    assert (images == fashion_test[0]).all() and (labels == fashion_test[1]).all()


def test_a_local_fashion_folder_is_taken_as_it_is(fashion_server, fashion_path):
    # the files are there (whatever their gzip bytes): --download fetches nothing and the folder reads
    server, url = fashion_server
    assert vae.datasets.download(fashion_path, "fashion-mnist", mirrors=(url["good"],)) == fashion_path
    assert server.requests == []


def test_cli_fashion_download_uses_the_fashion_mirrors(fashion_server, fashion_path, tmp_path, tiny_run_args,
                                                       monkeypatch, capsys):
    from train.__main__ import main

    server, url = fashion_server
    monkeypatch.setattr(vae.datasets.FASHION_MNIST, "mirrors", (url["good"],))
    monkeypatch.setattr(vae.datasets.FASHION_MNIST, "md5", _served_md5(fashion_path))
    monkeypatch.setattr(vae.datasets.MNIST, "mirrors", ("http://127.0.0.1:1/",))  # never MNIST's
    data, out = tmp_path / "data", tmp_path / "run"
    args = list(tiny_run_args)
    args[args.index("--data-dir") + 1] = str(data)
    threads = torch.get_num_threads()
    try:
        code = main(["--dataset", "fashion-mnist", "--download", *args, "--out-dir", str(out), "--epochs", "1",
                     "--train-subset", "300", "--no-snapshots"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0, capsys.readouterr().err
    assert _listing(data) == sorted(GZ) and sorted(server.requests) == sorted(f"/good/{n}" for n in GZ)
    assert (out / "config.json").read_text().count('"dataset": "fashion-mnist"') == 1
