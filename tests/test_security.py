"""Security of the launched app (`python app.py` in a subprocess, one launch for the module): Gradio's file route
serves the page's weight bundle and static/ and nothing else (absolute paths, ../ traversal raw and URL-encoded,
the repository's source and weights, /etc/passwd, /proc/self/environ are refused); an API call cannot name a
server file as its input; an upload's file name cannot place a file outside Gradio's cache; a recognisable fake
HF_TOKEN set for the app (with VAE_MODEL_REPO pointing at a Hub that refuses connections) appears nowhere in its
log, page, config, API description or error messages; and no code path of vae/, webapp/, train/ or app.py unpickles.

Run: python -m pytest tests/test_security.py   (about 30 s on 2 cores)
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from gradio_client import Client

from app_server import REPO, files_under, free_port, launch_app

FAKE_TOKEN = "hf_FAKEtokenDoNotLeak0123456789abcdefXYZ"


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    server = launch_app(tmp_path_factory.mktemp("app"), HF_TOKEN=FAKE_TOKEN, VAE_MODEL_REPO="nobody/no-such-model",
                        HF_ENDPOINT=closed_port_url(), VAE_HUB_TIMEOUT="2")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def config(app) -> dict:
    return httpx.get(app.url + "config", timeout=30).json()


def bundle_url_path(config: dict) -> str:
    """The weight file the page fetches: the HTML component's bundle_path, 'gradio_api/file=<absolute path>'."""
    found = re.search(r"gradio_api/file=([^\"']+\.safetensors)", json.dumps(config))
    assert found, "the page's weight bundle is not in the config"
    return found.group(1)


def get(app, path: str) -> httpx.Response:
    # raw path: httpx must not normalise the ../ away before it reaches the server
    return httpx.get(app.url.rstrip("/") + path, timeout=30, follow_redirects=False)


# ---------------------------------------------------------------------------------------------------------
# files


def test_the_page_bundle_and_static_files_are_served(app, config):
    bundle = bundle_url_path(config)
    response = get(app, "/gradio_api/file=" + bundle)
    assert response.status_code == 200 and len(response.content) > 10_000
    example = sorted((REPO / "static" / "examples").glob("*.png"))[0]
    assert get(app, "/gradio_api/file=" + str(example)).status_code == 200


def secret_paths(app, config) -> list[str]:
    bundle = bundle_url_path(config)
    folder = str(Path(bundle).parent)
    repo = str(REPO)
    return [
        "/etc/passwd",
        "/proc/self/environ",  # would hold HF_TOKEN
        f"{repo}/app.py",
        f"{repo}/vae/hub.py",
        f"{repo}/pretrained/model.safetensors",  # the full model (encoder too) is not what the page needs
        f"{repo}/pretrained/config.json",
        str(app.log),
        f"{folder}/../../app.log",
        f"{folder}/../../../../../../etc/passwd",
        f"{repo}/static/../app.py",
        f"{repo}/static/examples/../../app.py",
        "app.py",
        "./app.py",
        "../app.py",
        "static/../app.py",
        "pretrained/model.safetensors",
        str(app.cache) + "/../app.log",
    ]


def test_files_outside_what_the_app_serves_are_refused(app, config):
    leaked = []
    for path in secret_paths(app, config):
        for spelled in (path, quote(path, safe=""), path.replace("/", "%2F").replace("..", "%2e%2e")):
            response = get(app, "/gradio_api/file=" + spelled)
            if response.status_code < 400 or b"root:" in response.content or b"import" in response.content[:4000]:
                leaked.append((spelled, response.status_code))
    assert leaked == []


def test_other_routes_do_not_traverse_either(app):
    for path in ["/static/../app.py", "/static/%2e%2e/app.py", "/assets/../../app.py", "/assets/%2e%2e%2f%2e%2e%2fapp.py",
                 "/gradio_api/file/../app.py", "/file=/etc/passwd", "/gradio_api/file=%2Fetc%2Fpasswd",
                 "/..%2f..%2f..%2fetc%2fpasswd", "/favicon.ico/../../app.py"]:
        response = get(app, path)
        assert b"root:x:" not in response.content and b"def create_demo" not in response.content, path


def test_an_api_call_cannot_name_a_server_file(app):
    """A FileData argument whose path is not an upload is refused before the app opens it."""
    for path in ["/etc/passwd", str(REPO / "pretrained" / "model.safetensors"), str(REPO / "app.py")]:
        body = json.dumps({"data": [{"path": path, "meta": {"_type": "gradio.FileData"}}, "default"]})
        post = httpx.post(app.url + "gradio_api/call/encode", content=body,
                          headers={"content-type": "application/json"}, timeout=30)
        stream = httpx.get(app.url + f"gradio_api/call/encode/{post.json()['event_id']}", timeout=60).text
        assert "event: error" in stream and "mu" not in stream, (path, stream)
    assert app.alive()


def test_an_upload_name_cannot_choose_where_the_file_lands(app):
    before = set(files_under(app.cache.parent))
    names = ["../../escaped.png", "..%2F..%2Fescaped2.png", "/tmp/escaped3.png", "a/../../escaped4.png", "\x00x.png"]
    for name in names:
        response = httpx.post(app.url + "gradio_api/upload", files={"files": (name, b"\x89PNG not really")}, timeout=30)
        if response.status_code == 200:
            (stored,) = response.json()
            assert Path(stored).resolve().is_relative_to(app.cache.resolve()), (name, stored)
    new = set(files_under(app.cache.parent)) - before
    assert all(p.resolve().is_relative_to(app.cache.resolve()) for p in new), new
    assert not Path("/tmp/escaped3.png").exists()


# ---------------------------------------------------------------------------------------------------------
# the token


def test_the_fake_token_appears_nowhere(app, config):
    client = Client(app.url, verbose=False)
    outputs = {
        "page": httpx.get(app.url, timeout=30).text,
        "config": json.dumps(config),
        "info": httpx.get(app.url + "gradio_api/info", timeout=30).text,
        "openapi": httpx.get(app.url + "gradio_api/openapi.json", timeout=30).text,
        "api": json.dumps(client.view_api(return_format="dict", print_info=False)),
    }
    try:
        client.predict(99, 0, api_name="/generate")
    except Exception as e:  # noqa: BLE001 - the error text is one more output to search
        outputs["error"] = str(e)
    outputs["log"] = app.log_text()
    # the app really fell back from the unreachable repo, and says so: the search covered that path
    assert "nobody/no-such-model" in outputs["log"] and "bundled model" in outputs["log"]
    assert "nobody/no-such-model" in outputs["config"]  # the footer
    assert "outside the latent range" in outputs.get("error", "")
    for name, text in outputs.items():
        assert FAKE_TOKEN not in text and FAKE_TOKEN[3:20] not in text, name
    for path in files_under(app.cache.parent):  # everything the process wrote: cache, tmp, Hub home, log
        data = path.read_bytes()
        assert FAKE_TOKEN.encode() not in data, path


# ---------------------------------------------------------------------------------------------------------
# no unpickling


UNPICKLERS = {"torch.load", "pickle", "cPickle", "dill", "joblib", "cloudpickle", "shelve", "marshal", "torch.jit.load"}


def unpickling_uses(text: str) -> list[str]:
    """Imports of a pickle library, torch.load / torch.jit.load, and allow_pickle= anything but False, in a module."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in UNPICKLERS]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in UNPICKLERS or (node.module == "torch" and any(
                    a.name in ("load", "jit") for a in node.names)):
                found.append(node.module)
        elif isinstance(node, ast.Attribute) and ast.unparse(node) in UNPICKLERS:
            found.append(ast.unparse(node))
        elif isinstance(node, ast.keyword) and node.arg == "allow_pickle":
            if not (isinstance(node.value, ast.Constant) and node.value.value is False):
                found.append("allow_pickle")
    return found


def test_no_code_path_unpickles():
    sources = sorted([*REPO.glob("vae/*.py"), *REPO.glob("webapp/*.py"), *REPO.glob("train/*.py"), REPO / "app.py"])
    assert len(sources) > 10
    found = {str(p.relative_to(REPO)): unpickling_uses(p.read_text()) for p in sources}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_source_check_catches_an_unpickler():
    """The check above is not vacuous."""
    assert unpickling_uses("import torch\nm = torch.load('x.pt')") == ["torch.load"]
    assert unpickling_uses("import numpy as np\na = np.load('a.npy', allow_pickle=True)") == ["allow_pickle"]
    assert unpickling_uses("import pickle") == ["pickle"]
    assert unpickling_uses("from torch import load") == ["torch"]
    assert unpickling_uses("import numpy as np\na = np.load('a.npy', allow_pickle=False)") == []
