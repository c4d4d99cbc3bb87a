"""A local stand-in for huggingface.co, so tests run the real huggingface_hub client against repos held in memory.

    with FakeHub() as hub:
        sha = hub.add_repo("someone/vae-2d", {"config.json": b"{}", "model.safetensors": weights})
        hub.use(monkeypatch, tmp_path / "hf-home")       # this process (HF_ENDPOINT, HF_HOME, no HF_TOKEN)
        path = hf_hub_download("someone/vae-2d", "config.json", revision=sha, token=False)
        subprocess.run([sys.executable, "app.py"], env=hub.env(tmp_path / "hf-home"))  # a child process
        assert hub.downloads("someone/vae-2d") == ["config.json"]

What of the Hub's protocol it answers (as huggingface_hub 2.4.0 asks for it):
- GET /api/models/{namespace}/{name}[/revision/{revision}][?blobs=True] -> model info: id, author, sha, private,
  lastModified, createdAt, gated, disabled, siblings (with blobs: size, blobId, and lfs for LFS-tracked files).
- HEAD and GET /{namespace}/{name}/resolve/{revision}/{filename} -> the file, with X-Repo-Commit, ETag (the git
  blob sha1, or the sha256 for LFS-tracked files, also sent as X-Linked-Etag / X-Linked-Size) and Content-Length;
  a `Range: bytes=a-b` request (the client's resume) gets 206. Served directly: no redirect to a CDN.
- A revision is a branch, a tag or a full commit sha. Errors carry the headers the client maps to exceptions:
  anonymous request for an unknown or private repo -> 401, X-Error-Code: RepoNotFound (as huggingface.co answers)
  -> RepositoryNotFoundError; the same with a token -> 404 RepoNotFound; unknown revision -> 404 RevisionNotFound
  -> RevisionNotFoundError; unknown file -> 404 EntryNotFound -> EntryNotFoundError; a token other than
  `hub.token` -> 401 "Invalid credentials in Authorization header" (the Hub rejects bad tokens even on public repos).
- GET /api/whoami-v2 with `hub.token` -> the account it belongs to (a user named `hub.user`), as `HfApi.whoami` and
  Gradio's local sign-in read it; without it or with another token -> 401.
- GET /api/agent-harnesses -> an empty registry. The client fetches it before its first request in a process unless
  HF_HUB_DISABLE_TELEMETRY is set, with its own 3 s timeout: against a stalled Hub, a fresh process's first call
  takes up to 3 s longer than the timeout it was given.
- Uploads, as `HfApi.create_repo`, `create_branch` and `upload_folder` send them for small files, each refused
  with 401 unless it carries `hub.token`; POST /api/validate-yaml (a README.md's front matter must parse) first.
  POST /api/repos/create {name, organization, visibility} -> a new repo whose first commit holds .gitattributes,
  as the Hub makes one (409 when it exists: `exist_ok=True` passes); POST /api/models/{repo}/branch/{branch}
  [{startingPoint}] -> a branch at main (409 when it exists); POST /api/models/{repo}/preupload/{revision} {files}
  -> every file "regular" (sent base64 in the commit) with the oid of the file already there, so the client skips
  unchanged files; POST /api/models/{repo}/commit/{branch} (ndjson: header, file, deletedFile, deletedFolder) ->
  a new commit on that branch: {commitOid, commitUrl}.
- Faults: `stall` (hold the request, never answer or answer late) and `throttle` (send file bytes slowly).
Not implemented: files over REGULAR_MAX_SIZE in an upload (the Hub stores them in Xet, through a storage protocol
this fake does not speak: the preupload is refused with 400 saying so) and LFS pointers in a commit; the Hub's
answer "lfs" for *.safetensors (here they go as regular files, and are still served as LFS files); deleting repos
and branches, pull requests, repo types other than models, repo ids without a namespace, list/tree/refs endpoints
(snapshot_download, list_repo_files), CDN redirects, gated repos.

Every request is recorded in `hub.requests` (method, path, lower-cased headers), e.g. to assert which files were
downloaded (`hub.downloads(repo_id)`) or that no request carried an Authorization header.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

# Suffixes the Hub's default .gitattributes stores in LFS; larger files are LFS too.
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".npy", ".npz", ".onnx", ".pkl", ".h5")
LFS_MIN_SIZE = 10 * 1024 * 1024
# The largest file an upload may hold: the client sends a "regular" file's bytes inside the commit and assumes it is
# at most 5 MB (huggingface_hub/_commit_api.py, _local_oid); the Hub sends bigger ones to Xet.
REGULAR_MAX_SIZE = 5 * 1000 * 1000
GITATTRIBUTES = "".join(f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n" for suffix in LFS_SUFFIXES).encode()

API_PATH = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?$")
RESOLVE_TEMPLATE = "/{repo_id}/resolve/{revision}/{filename}"  # huggingface_hub's, after the endpoint
RESOLVE_PATH = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
WRITE_PATH = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/(?P<action>branch|preupload|commit)/(?P<rev>[^/]+)$")


# What /api/agent-harnesses answers: no known AI-agent harness, so the client's User-Agent names none.
AGENT_REGISTRY = json.dumps({"standardEnvVars": [], "harnesses": {}}).encode()


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(filename: str, data: bytes) -> bool:
    return filename.endswith(LFS_SUFFIXES) or len(data) >= LFS_MIN_SIZE


def lfs_pointer(data: bytes) -> bytes:
    """The text git stores in place of an LFS file (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md)."""
    oid = hashlib.sha256(data).hexdigest()
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(data)}\n".encode()


@dataclass
class Request:
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names lower-cased


@dataclass
class Repo:
    private: bool
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> the commit's whole tree
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> sha
    dates: dict[str, str] = field(default_factory=dict)  # sha -> ISO time of the commit
    messages: dict[str, str] = field(default_factory=dict)  # sha -> commit message, for commits uploaded


class FakeHub:
    def __init__(self, token: str = "hf_fake_hub_token", user: str = "someone"):
        self.token = token  # the one token this Hub accepts (it unlocks private repos)
        self.user = user  # the account the token belongs to (/api/whoami-v2)
        self.repos: dict[str, Repo] = {}
        self.requests: list[Request] = []
        self.faults: dict[str | None, dict] = {}  # repo id, or None for every request -> {"stall": s, "bytes_per_s": r}
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"hub": self}))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- repos -------------------------------------------------------------------------------------------------

    def add_repo(self, repo_id: str, files: dict[str, bytes], branch: str = "main", private: bool = False) -> str:
        """Create the repo with one commit holding `files` on `branch`; returns the commit sha."""
        self.repos[repo_id] = Repo(private=private)
        return self.add_commit(repo_id, files, branch=branch)

    def add_commit(self, repo_id: str, files: dict[str, bytes], branch: str = "main") -> str:
        """A new commit whose tree is exactly `files`, on top of `branch` (created if new); returns its sha."""
        repo = self.repos[repo_id]
        parent = repo.refs.get(branch, "")
        tree = "".join(f"{name} {git_blob_sha1(data)}\n" for name, data in sorted(files.items()))
        sha = hashlib.sha1(f"{repo_id}\n{parent}\n{tree}".encode()).hexdigest()  # from the content: stable across runs
        repo.commits[sha] = dict(files)
        repo.dates[sha] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        repo.refs[branch] = sha
        return sha

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The tree of `revision` (a branch, tag or commit) of `repo_id`: what an upload left there."""
        repo = self.repos[repo_id]
        return dict(repo.commits[revision if revision in repo.commits else repo.refs[revision]])

    def add_tag(self, repo_id: str, tag: str, revision: str = "main") -> str:
        repo = self.repos[repo_id]
        repo.refs[tag] = revision if revision in repo.commits else repo.refs[revision]
        return repo.refs[tag]

    # --- faults ------------------------------------------------------------------------------------------------

    def stall(self, seconds: float = math.inf, repo_id: str | None = None) -> None:
        """Hold each request (for `repo_id`, or all) `seconds` before answering; math.inf: never answer."""
        self.faults.setdefault(repo_id, {})["stall"] = seconds

    def throttle(self, bytes_per_s: float, repo_id: str | None = None) -> None:
        """Send file contents at about `bytes_per_s` (in chunks of at most 1 KiB)."""
        self.faults.setdefault(repo_id, {})["bytes_per_s"] = bytes_per_s

    def clear_faults(self) -> None:
        self.faults.clear()

    # --- what the client asked -----------------------------------------------------------------------------------

    def writes(self) -> list[Request]:
        """Every request that would change the Hub (repo creation, branches, uploads, commits)."""
        return [r for r in self.requests if r.method == "POST" and urlsplit(r.path).path != "/api/validate-yaml"]

    def downloads(self, repo_id: str) -> list[str]:
        """The files of `repo_id` whose content was sent (GET on resolve), in order, any revision."""
        matches = (RESOLVE_PATH.match(urlsplit(r.path).path) for r in self.requests if r.method == "GET")
        return [unquote(m["file"]) for m in matches if m and m["repo"] == repo_id]

    # --- pointing huggingface_hub here ---------------------------------------------------------------------------

    def use(self, monkeypatch, hf_home: str | Path) -> None:
        """Point this process's huggingface_hub here, its cache at hf_home/hub, with no token. The client reads
        HF_ENDPOINT and HF_HOME once, at import, into `constants` (and the module-level HfApi behind
        `huggingface_hub.model_info`), so those are patched as well as the environment; HfApi() and hf_hub_download
        read the constants at each call. The agent-harness registry the client fetches once per process is
        forgotten, so every test sees the same requests whatever ran before it."""
        from huggingface_hub import constants, hf_api
        from huggingface_hub.utils import _detect_agent

        home = Path(hf_home)
        monkeypatch.setenv("HF_ENDPOINT", self.url)
        monkeypatch.setenv("HF_HOME", str(home))
        for name in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN", "HF_TOKEN_PATH", "HUGGING_FACE_HUB_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        for name, value in {"ENDPOINT": self.url, "HUGGINGFACE_CO_URL_TEMPLATE": self.url + RESOLVE_TEMPLATE,
                            "HF_HUB_OFFLINE": False, "HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub"),
                            "HF_ASSETS_CACHE": str(home / "assets"), "HF_TOKEN_PATH": str(home / "token"),
                            "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
                            "AGENT_HARNESSES_PATH": str(home / ".agent_harnesses.json")}.items():
            monkeypatch.setattr(constants, name, value)
        monkeypatch.setattr(hf_api.api, "endpoint", self.url)
        monkeypatch.setattr(_detect_agent, "_registry", None)

    def env(self, hf_home: str | Path, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment for a child process that uses this Hub: `base` (os.environ) without any HF_ setting
        (no token, no offline mode, no other cache), plus HF_ENDPOINT and HF_HOME (its cache: hf_home/hub)."""
        base = os.environ if base is None else base
        env = {k: v for k, v in base.items() if not k.startswith(("HF_", "HUGGINGFACE", "HUGGING_FACE"))}
        return env | {"HF_ENDPOINT": self.url, "HF_HOME": str(hf_home)}

    # --- server ------------------------------------------------------------------------------------------------

    def start(self) -> FakeHub:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases stalled requests
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub

    def do_GET(self):  # noqa: N802
        hub = self.hub
        url = urlsplit(self.path)
        hub.requests.append(Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        match = API_PATH.match(url.path) or RESOLVE_PATH.match(url.path)
        fault = (match and hub.faults.get(match["repo"])) or hub.faults.get(None) or {}
        stall = fault.get("stall", 0)
        if hub._stopping.wait(None if stall == math.inf else stall) or stall == math.inf:
            return  # never answer: the connection closes when the hub stops
        if url.path == "/api/agent-harnesses":  # the client fetches it once per process (utils/_detect_agent.py)
            return self.answer(200, {"Content-Type": "application/json"}, AGENT_REGISTRY)
        if url.path == "/api/whoami-v2":
            if self.headers.get("Authorization") != f"Bearer {hub.token}":
                return self.error(401, None, "Invalid credentials in Authorization header")
            account = {"type": "user", "name": hub.user, "fullname": hub.user.title(), "orgs": [],
                       "avatarUrl": f"{hub.url}/avatars/{hub.user}.png", "auth": {"type": "access_token"}}
            return self.answer(200, {"Content-Type": "application/json"}, json.dumps(account).encode())
        if match is None:
            return self.answer(404, {}, b'{"error": "Sorry, we can\'t find the page you are looking for."}')
        repo_id = match["repo"]
        repo, auth = hub.repos.get(repo_id), self.headers.get("Authorization")
        if auth is not None and auth != f"Bearer {hub.token}":
            return self.error(401, None, "Invalid credentials in Authorization header")
        if repo is None or (repo.private and auth is None):
            return self.error(404 if auth else 401, "RepoNotFound",
                              "Repository not found" if auth else "Invalid username or password.")
        rev = unquote(match["rev"] or "main")
        sha = rev if rev in repo.commits else repo.refs.get(rev)
        if sha is None:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        files = repo.commits[sha]
        if "file" not in match.groupdict():
            blobs = parse_qs(url.query).get("blobs", ["false"])[0].lower() == "true"
            siblings = [sibling(name, data, blobs) for name, data in sorted(files.items())]
            info = {"_id": sha[:24], "id": repo_id, "modelId": repo_id, "author": repo_id.split("/")[0], "sha": sha,
                    "private": repo.private, "gated": False, "disabled": False, "lastModified": repo.dates[sha],
                    "createdAt": min(repo.dates.values()), "downloads": 0, "likes": 0, "tags": [], "siblings": siblings}
            return self.answer(200, {"Content-Type": "application/json"}, json.dumps(info).encode())
        filename = unquote(match["file"])
        if filename not in files:
            return self.error(404, "EntryNotFound", f"{filename} does not exist on \"{rev}\"", {"X-Repo-Commit": sha})
        data = files[filename]
        headers = {"X-Repo-Commit": sha, "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        if is_lfs(filename, data):
            etag = hashlib.sha256(data).hexdigest()
            headers |= {"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))}
        else:
            etag = git_blob_sha1(data)
        headers["ETag"] = f'"{etag}"'
        status, ranged = 200, re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if ranged:
            start, end = int(ranged[1]), int(ranged[2] or len(data) - 1)
            status, headers["Content-Range"], data = 206, f"bytes {start}-{end}/{len(data)}", data[start:end + 1]
        self.answer(status, headers, data, fault.get("bytes_per_s"))

    do_HEAD = do_GET

    def do_POST(self):  # noqa: N802
        hub = self.hub
        url = urlsplit(self.path)
        hub.requests.append(Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path == "/api/validate-yaml":  # upload_folder's check of README.md's metadata, before anything is sent
            return self.validate_yaml(json.loads(body)["content"])
        auth = self.headers.get("Authorization")
        if auth != f"Bearer {hub.token}":  # every write needs the token
            return self.error(401, None, "Invalid username or password." if auth is None
                              else "Invalid credentials in Authorization header")
        if url.path == "/api/repos/create":
            return self.create_repo(json.loads(body))
        match = WRITE_PATH.match(url.path)
        if match is None:
            return self.answer(404, {}, b'{"error": "Sorry, we can\'t find the page you are looking for."}')
        repo_id, rev = match["repo"], unquote(match["rev"])
        repo = hub.repos.get(repo_id)
        if repo is None:
            return self.error(404, "RepoNotFound", "Repository not found")
        if match["action"] == "branch":
            start = (json.loads(body or b"{}").get("startingPoint") or "main")
            sha = start if start in repo.commits else repo.refs.get(start)
            if rev in repo.refs:
                return self.error(409, None, "Reference already exists")
            if sha is None:
                return self.error(404, "RevisionNotFound", f"Invalid rev id: {start}")
            repo.refs[rev] = sha
            return self.answer(200, {"Content-Type": "application/json"}, b"{}")
        if rev not in repo.refs:  # preupload and commit go to a branch
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        tree = repo.commits[repo.refs[rev]]
        if match["action"] == "preupload":
            files = json.loads(body)["files"]
            too_big = [f["path"] for f in files if f["size"] > REGULAR_MAX_SIZE]
            if too_big:
                return self.error(400, None, f"{', '.join(too_big)}: over {REGULAR_MAX_SIZE} bytes; the Hub would "
                                  "take them through Xet, which this fake Hub does not implement")
            answer = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                       "oid": git_blob_sha1(tree[f["path"]]) if f["path"] in tree else None} for f in files]
            return self.answer(200, {"Content-Type": "application/json"}, json.dumps({"files": answer}).encode())
        return self.commit(repo_id, repo, rev, [json.loads(line) for line in body.splitlines() if line.strip()])

    def validate_yaml(self, content: str):
        """The card's YAML front matter must parse (the Hub checks more: its metadata schema)."""
        import yaml

        front = re.match(r"^---\n(.*?)\n---\n", content, re.S)
        try:
            yaml.safe_load(front[1] if front else "")
        except yaml.YAMLError as e:
            return self.answer(400, {"Content-Type": "application/json"},
                               json.dumps({"errors": [{"message": str(e)}], "warnings": []}).encode())
        return self.answer(200, {"Content-Type": "application/json"}, b'{"errors": [], "warnings": []}')

    def create_repo(self, payload: dict):
        hub = self.hub
        if payload.get("type", "model") != "model" or not payload.get("organization"):
            return self.error(400, None, "this fake Hub holds model repos named namespace/name only")
        repo_id = f"{payload['organization']}/{payload['name']}"
        if repo_id in hub.repos:  # the Hub's 409 names the repo's url too: create_repo(exist_ok=True) returns it
            message = "You already created this model repo"
            return self.answer(409, {"Content-Type": "application/json", "X-Error-Message": message},
                               json.dumps({"error": message, "url": f"{hub.url}/{repo_id}"}).encode())
        hub.add_repo(repo_id, {".gitattributes": GITATTRIBUTES}, private=payload.get("visibility") == "private")
        return self.answer(200, {"Content-Type": "application/json"},
                           json.dumps({"url": f"{hub.url}/{repo_id}", "name": repo_id}).encode())

    def commit(self, repo_id: str, repo: Repo, branch: str, items: list[dict]):
        """One ndjson commit: a header, then files (base64) and deletions, applied to the branch's tree."""
        tree, header = dict(repo.commits[repo.refs[branch]]), {}
        for item in items:
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file" and value.get("encoding") == "base64":
                tree[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                tree.pop(value["path"], None)
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                tree = {path: data for path, data in tree.items() if not path.startswith(prefix)}
            else:  # lfsFile: its bytes would have gone to Xet or LFS storage, which this fake does not have
                return self.error(400, None, f"this fake Hub cannot commit a {key!r} entry")
        parent = header.get("parentCommit")
        if parent and parent != repo.refs[branch]:
            return self.error(412, None, f"A commit has happened since {parent}: the branch is at "
                              f"{repo.refs[branch]}")
        sha = self.hub.add_commit(repo_id, tree, branch=branch)
        repo.messages[sha] = header.get("summary", "")
        return self.answer(200, {"Content-Type": "application/json"}, json.dumps(
            {"success": True, "commitOid": sha, "commitUrl": f"{self.hub.url}/{repo_id}/commit/{sha}"}).encode())

    def error(self, status: int, code: str | None, message: str, headers: dict | None = None):
        headers = (headers or {}) | {"Content-Type": "application/json", "X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self.answer(status, headers, json.dumps({"error": message}).encode())

    def answer(self, status: int, headers: dict, body: bytes, bytes_per_s: float | None = None):
        self.send_response(status)
        for name, value in (headers | {"Content-Length": str(len(body))}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        chunk = 1024 if bytes_per_s else len(body) or 1
        for i in range(0, len(body), chunk):
            self.wfile.write(body[i:i + chunk])
            if bytes_per_s:
                time.sleep(chunk / bytes_per_s)

    def log_message(self, *args):
        pass


def sibling(name: str, data: bytes, blobs: bool) -> dict:
    """One entry of model info's `siblings`, as the Hub lists it (sizes and hashes only with ?blobs=True)."""
    if not blobs:
        return {"rfilename": name}
    if not is_lfs(name, data):
        return {"rfilename": name, "size": len(data), "blobId": git_blob_sha1(data)}
    pointer = lfs_pointer(data)
    return {"rfilename": name, "size": len(data), "blobId": git_blob_sha1(pointer),
            "lfs": {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "pointerSize": len(pointer)}}
