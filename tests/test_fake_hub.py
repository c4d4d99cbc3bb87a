"""tests/fake_hub.py against the real huggingface_hub client: model info and downloads by branch, tag and commit,
the Hub cache (no second download), the errors the client raises for an unknown repo, revision or file and for a
private repo, a stalled Hub (the client's timeout fires), no Authorization header with token=False even when
HF_TOKEN is set, and a child process pointed at the fake Hub by HF_ENDPOINT alone. Uploads, as huggingface_hub
sends them for small files: create_repo (private too), create_branch, upload_folder (preupload, then one commit), an
unchanged folder making no commit, and writes refused without the token or for files the fake cannot take.

Run: python -m pytest tests/test_fake_hub.py   (a few seconds)
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest
from huggingface_hub import HfApi, hf_hub_download, model_info
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from fake_hub import REGULAR_MAX_SIZE, FakeHub

REPO_ID = "someone/vae-2d"
V1 = {"config.json": b'{"hidden": 32}', "model.safetensors": bytes(range(256)) * 40}
V2 = {"config.json": b'{"hidden": 64}', "model.safetensors": bytes(range(255, -1, -1)) * 80, "README.md": b"# v2"}


@pytest.fixture
def hub(monkeypatch, tmp_path):
    with FakeHub() as hub:
        hub.v1 = hub.add_repo(REPO_ID, V1)
        hub.add_tag(REPO_ID, "v1")
        hub.v2 = hub.add_commit(REPO_ID, V2)
        hub.use(monkeypatch, tmp_path / "hf-home")
        yield hub


def sizes(info) -> dict[str, int]:
    return {s.rfilename: s.size for s in info.siblings}


def test_model_info_by_branch_tag_and_commit(hub):
    api = HfApi(endpoint=hub.url)
    latest = api.model_info(REPO_ID, revision="main", files_metadata=True, token=False, timeout=5)
    assert latest.id == REPO_ID and latest.sha == hub.v2 and latest.private is False
    assert sizes(latest) == {name: len(data) for name, data in V2.items()}
    weights = next(s for s in latest.siblings if s.rfilename == "model.safetensors")
    assert weights.lfs.sha256 == hashlib.sha256(V2["model.safetensors"]).hexdigest()

    for revision in ("v1", hub.v1):
        old = api.model_info(REPO_ID, revision=revision, files_metadata=True, token=False, timeout=5)
        assert old.sha == hub.v1 and sizes(old) == {name: len(data) for name, data in V1.items()}
    assert model_info(REPO_ID, token=False).sha == hub.v2  # the module-level HfApi, pointed here by hub.use
    assert [r.path for r in hub.requests] == [
        "/api/agent-harnesses",  # the client's first request in a process (huggingface_hub/utils/_detect_agent.py)
        f"/api/models/{REPO_ID}/revision/main?blobs=true",
        f"/api/models/{REPO_ID}/revision/v1?blobs=true",
        f"/api/models/{REPO_ID}/revision/{hub.v1}?blobs=true",
        f"/api/models/{REPO_ID}",
    ]


def test_download_by_branch_and_commit_and_the_cache(hub):
    path = hf_hub_download(REPO_ID, "model.safetensors", revision="main", token=False)
    assert Path(path).read_bytes() == V2["model.safetensors"]
    assert hf_hub_download(REPO_ID, "model.safetensors", revision="main", token=False) == path  # HEAD only
    old = hf_hub_download(REPO_ID, "model.safetensors", revision=hub.v1, token=False)
    assert Path(old).read_bytes() == V1["model.safetensors"] and f"/snapshots/{hub.v1}/" in old
    requests_before = len(hub.requests)
    assert hf_hub_download(REPO_ID, "model.safetensors", revision=hub.v1, token=False) == old
    assert len(hub.requests) == requests_before  # a commit already in the cache: no request at all
    assert hub.downloads(REPO_ID) == ["model.safetensors", "model.safetensors"]  # one GET per commit
    files = [(r.method, r.path) for r in hub.requests if "/resolve/" in r.path]
    assert files == [("HEAD", f"/{REPO_ID}/resolve/main/model.safetensors"),
                     ("GET", f"/{REPO_ID}/resolve/main/model.safetensors"),
                     ("HEAD", f"/{REPO_ID}/resolve/main/model.safetensors"),
                     ("HEAD", f"/{REPO_ID}/resolve/{hub.v1}/model.safetensors"),
                     ("GET", f"/{REPO_ID}/resolve/{hub.v1}/model.safetensors")]


def test_a_resumed_download_gets_the_rest_of_the_file(hub):
    data = V2["model.safetensors"]
    got = httpx2.get(f"{hub.url}/{REPO_ID}/resolve/main/model.safetensors", headers={"Range": "bytes=100-"})
    assert got.status_code == 206 and got.content == data[100:]
    assert got.headers["Content-Range"] == f"bytes 100-{len(data) - 1}/{len(data)}"


def test_unknown_repo_revision_and_file_raise_the_clients_errors(hub):
    api = HfApi(endpoint=hub.url)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("nobody/nothing", token=False, timeout=5)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("nobody/nothing", "config.json", token=False)
    with pytest.raises(RevisionNotFoundError):
        api.model_info(REPO_ID, revision="no-such-branch", token=False, timeout=5)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(REPO_ID, "config.json", revision="no-such-branch", token=False)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(REPO_ID, "no-such-file.bin", token=False)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(REPO_ID, "README.md", revision="v1", token=False)  # added in the second commit only


def test_a_private_repo_is_not_found_without_the_token(hub):
    hub.add_repo("someone/private", {"config.json": b"{}"}, private=True)
    with pytest.raises(RepositoryNotFoundError) as anonymous:
        model_info("someone/private", token=False)
    assert anonymous.value.response.status_code == 401  # as huggingface.co answers an anonymous request
    assert model_info("someone/private", token=hub.token).private is True


def test_a_stalled_hub_trips_the_clients_timeout(hub):
    hub.stall(repo_id=REPO_ID)
    start = time.monotonic()
    with pytest.raises(httpx2.TimeoutException):
        HfApi(endpoint=hub.url).model_info(REPO_ID, token=False, timeout=1)
    assert time.monotonic() - start < 1 + 4  # the 1 s given fired (a stall never answers), with a busy machine's slack
    assert hub.requests[-1].path == f"/api/models/{REPO_ID}"  # the request arrived, no answer came

    hub.clear_faults()
    hub.stall(0.3)  # every repo, answered late
    start = time.monotonic()
    assert model_info(REPO_ID, token=False, timeout=5).sha == hub.v2
    assert time.monotonic() - start >= 0.3


def test_a_throttled_hub_sends_slowly(hub):
    hub.throttle(bytes_per_s=16 * 1024)
    start = time.monotonic()
    path = hf_hub_download(REPO_ID, "model.safetensors", token=False)  # 20 KiB
    assert time.monotonic() - start > 1.0 and Path(path).read_bytes() == V2["model.safetensors"]


def test_token_false_sends_no_authorization_even_with_hf_token_set(hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")  # after hub.use, which clears it
    HfApi(endpoint=hub.url).model_info(REPO_ID, files_metadata=True, token=False, timeout=5)
    hf_hub_download(REPO_ID, "config.json", token=False)
    assert hub.requests and not any("authorization" in r.headers for r in hub.requests)

    # The check can fail: without token=False the client sends HF_TOKEN, and the Hub refuses a token it does not know.
    with pytest.raises(HfHubHTTPError):
        HfApi(endpoint=hub.url).model_info(REPO_ID, timeout=5)
    assert hub.requests[-1].headers["authorization"] == "Bearer hf_not_a_real_token"


CHILD = """
import sys
from pathlib import Path
from urllib.parse import urlsplit
from huggingface_hub import hf_hub_download
print(Path(hf_hub_download(sys.argv[1], "config.json", revision="v1", token=False)).read_text())
"""


def test_a_child_process_uses_the_hub_named_in_hf_endpoint(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")  # hub.env leaves every HF_ setting of the parent out
    out = subprocess.run([sys.executable, "-c", CHILD, REPO_ID], env=hub.env(tmp_path / "child-home"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == V1["config.json"].decode()
    assert hub.downloads(REPO_ID) == ["config.json"]
    assert (tmp_path / f"child-home/hub/models--someone--vae-2d/snapshots/{hub.v1}/config.json").is_file()


# ---------------------------------------------------------------------------------------------------------
# uploads


def a_run_folder(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden": 48}')
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 4000)  # 1 MB: a "regular" upload here
    (folder / "README.md").write_text("# a model")
    (folder / "sub").mkdir()
    (folder / "sub" / "notes.txt").write_text("nested")
    return folder


def test_upload_folder_makes_a_commit_that_downloads_give_back(hub, tmp_path):
    folder = a_run_folder(tmp_path / "run")
    api = HfApi(endpoint=hub.url, token=hub.token)
    url = api.create_repo("me/uploaded", private=True)
    assert url.repo_id == "me/uploaded" and hub.repos["me/uploaded"].private
    assert api.create_repo("me/uploaded", exist_ok=True).repo_id == "me/uploaded"  # 409 -> exists, fine
    with pytest.raises(HfHubHTTPError):
        api.create_repo("me/uploaded")  # without exist_ok: the 409 is an error
    info = api.upload_folder(repo_id="me/uploaded", folder_path=str(folder), commit_message="first",
                             ignore_patterns=["sub/*"])
    files = hub.files("me/uploaded")
    assert info.oid == hub.repos["me/uploaded"].refs["main"]
    assert hub.repos["me/uploaded"].messages[info.oid] == "first"
    assert set(files) == {".gitattributes", "config.json", "model.safetensors", "README.md"}
    assert all(files[name] == (folder / name).read_bytes() for name in ("config.json", "model.safetensors"))
    assert [urlsplit(r.path).path for r in hub.requests if r.method == "POST"] == [
        "/api/repos/create", "/api/repos/create", "/api/repos/create", "/api/validate-yaml",
        "/api/models/me/uploaded/preupload/main", "/api/models/me/uploaded/commit/main"]
    # private: only the token reads it back, through the client's own download code
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("me/uploaded", "config.json", token=False)
    path = hf_hub_download("me/uploaded", "model.safetensors", revision=info.oid, token=hub.token)
    assert Path(path).read_bytes() == (folder / "model.safetensors").read_bytes()


def test_a_branch_and_an_unchanged_upload(hub, tmp_path):
    folder = a_run_folder(tmp_path / "run")
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_repo("me/branches")
    first = api.upload_folder(repo_id="me/branches", folder_path=str(folder)).oid
    api.create_branch("me/branches", branch="dev")
    api.create_branch("me/branches", branch="dev", exist_ok=True)
    (folder / "config.json").write_text('{"hidden": 64}')
    on_dev = api.upload_folder(repo_id="me/branches", folder_path=str(folder), revision="dev").oid
    assert hub.repos["me/branches"].refs == {"main": first, "dev": on_dev} and on_dev != first
    assert hub.files("me/branches", "dev")["config.json"] == b'{"hidden": 64}'
    assert hub.files("me/branches", "main")["config.json"] == b'{"hidden": 48}'
    assert hub.files("me/branches", "dev")["sub/notes.txt"] == b"nested"
    commits = len(hub.repos["me/branches"].commits)
    assert api.upload_folder(repo_id="me/branches", folder_path=str(folder), revision="dev").oid == on_dev
    assert len(hub.repos["me/branches"].commits) == commits  # every file unchanged: no commit, as on the Hub


def test_writes_need_the_token_and_files_the_fake_can_take(hub, tmp_path):
    with pytest.raises(HfHubHTTPError) as anonymous:
        HfApi(endpoint=hub.url, token=False).create_repo("me/nope")
    assert anonymous.value.response.status_code == 401 and "me/nope" not in hub.repos
    with pytest.raises(HfHubHTTPError) as wrong:
        HfApi(endpoint=hub.url, token="hf_someone_else").create_repo("me/nope")
    assert wrong.value.response.status_code == 401
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_repo("me/big")
    big = tmp_path / "big"
    big.mkdir()
    (big / "model.safetensors").write_bytes(b"\0" * (REGULAR_MAX_SIZE + 1))
    with pytest.raises(HfHubHTTPError, match="Xet"):  # what the real Hub would take through Xet, the fake refuses
        api.upload_folder(repo_id="me/big", folder_path=str(big))
    assert set(hub.files("me/big")) == {".gitattributes"}
