"""Publishing to the Hugging Face Hub without internet: the calls are intercepted at the huggingface_hub boundary
(HfApi methods patched, or a fake api object) and every file that would be sent is checked. The token must never
reach a file or the console.

    python -m pytest tests/test_hub.py      # about 15 s (one tiny training run)
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from huggingface_hub import HfApi, ModelCard

import train.publish
from train.publish import NOT_PUBLISHED, push_folder

FAKE_TOKEN = "hf_FAKEtokenDoNotLeak123"
MUST_GO = {"model.safetensors", "config.json", "README.md", "latents.safetensors", "loss_curve.png", "samples.png",
           "latent_scatter.png", "results.json", "metrics.json"}
# what a killed run or an interrupted atomic write can leave beside the model (see vae/atomic.py)
LEFTOVERS = [".model.safetensors.k3j2h1.tmp", ".checkpoint.safetensors.a8b7c6.tmp", ".write-test-4242"]


def _would_send(folder: Path, ignore_patterns: list[str]) -> set[str]:
    """The folder's files minus those matching an ignore pattern (fnmatch on the path relative to the folder)."""
    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    return {f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in ignore_patterns)}


class Recorder:
    """Stands in for the Hub: records each call; upload_folder notes which files it would send."""

    def __init__(self):
        self.calls: list[tuple[str, tuple, dict]] = []
        self.sent: set[str] = set()

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", (repo_id,), kwargs))
        return SimpleNamespace(repo_id=repo_id)

    def create_branch(self, repo_id, **kwargs):
        self.calls.append(("create_branch", (repo_id,), kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", (), kwargs))
        self.sent = _would_send(Path(kwargs["folder_path"]), list(kwargs.get("ignore_patterns") or []))
        return SimpleNamespace(oid="0123456789abcdef0123456789abcdef01234567")

    def named(self, name):
        return [(args, kwargs) for n, args, kwargs in self.calls if n == name]


def _patch_hfapi(mp: pytest.MonkeyPatch, recorder: Recorder) -> None:
    for name in ("create_repo", "create_branch", "upload_folder"):
        mp.setattr(HfApi, name, lambda self, *a, _name=name, **kw: getattr(recorder, _name)(*a, **kw))


# ---------------------------------------------------------------------------------------------------------
# the CLI: python -m train ... --push-to-hub me/repo --private --revision dev --commit-message x


@pytest.fixture(scope="module")
def pushed(tmp_path_factory, tiny_run_args):
    out = tmp_path_factory.mktemp("hub") / "model"
    out.mkdir()
    for name in LEFTOVERS:
        (out / name).write_bytes(b"partial")
    train_argv = [*tiny_run_args, "--out-dir", str(out), "--epochs", "1", "--train-subset", "500"]
    argv = [*train_argv, "--push-to-hub", "me/repo", "--private", "--revision", "dev", "--commit-message", "x"]
    recorder, stdout, stderr = Recorder(), io.StringIO(), io.StringIO()
    from train.__main__ import main

    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        mp.setenv("HF_TOKEN", FAKE_TOKEN)
        _patch_hfapi(mp, recorder)
        try:
            code = main(argv)
        finally:
            torch.set_num_threads(threads)
    return SimpleNamespace(out=out, code=code, recorder=recorder, stdout=stdout.getvalue(), stderr=stderr.getvalue(),
                           train_argv=train_argv)


def test_cli_push_creates_the_repo_and_branch_and_prints_the_commit(pushed):
    assert pushed.code == 0, pushed.stderr
    rec = pushed.recorder
    assert [name for name, _, _ in rec.calls] == ["create_repo", "create_branch", "upload_folder"]
    (args, kwargs), = rec.named("create_repo")
    assert args == ("me/repo",) and kwargs["private"] is True and kwargs["exist_ok"] is True
    assert kwargs.get("repo_type", "model") == "model"
    (args, kwargs), = rec.named("create_branch")
    assert args == ("me/repo",) and kwargs["branch"] == "dev" and kwargs["exist_ok"] is True
    (_, kwargs), = rec.named("upload_folder")
    assert kwargs["repo_id"] == "me/repo" and kwargs["revision"] == "dev" and kwargs["commit_message"] == "x"
    assert Path(kwargs["folder_path"]) == pushed.out
    assert "token" not in kwargs  # huggingface_hub finds the token itself
    assert "commit 0123456789abcdef0123456789abcdef01234567" in pushed.stdout


def test_cli_push_sends_the_model_and_nothing_private(pushed):
    sent = pushed.recorder.sent
    assert MUST_GO <= sent
    assert "checkpoint.safetensors" in {p.name for p in pushed.out.iterdir()}  # it is there, and stays local
    assert not {"checkpoint.safetensors", *LEFTOVERS} & sent
    assert all(not name.startswith(".") and not name.endswith(".tmp") for name in sent)
    assert sent - MUST_GO <= {"train_config.json"}


def test_the_token_appears_nowhere(pushed):
    for path in pushed.out.rglob("*"):
        if path.is_file():
            assert FAKE_TOKEN.encode() not in path.read_bytes(), path.name
    assert FAKE_TOKEN not in pushed.stdout and FAKE_TOKEN not in pushed.stderr


def test_the_card_shows_the_training_command_without_publishing_options(pushed):
    # the card tells readers how to *train* the model: the options given to main(), minus the upload options
    # (and --no-progress, which changes nothing in the result)
    text = ModelCard.load(pushed.out / "README.md").text
    assert "python -m train " + shlex.join(a for a in pushed.train_argv if a != "--no-progress") in text
    for option in ("--push-to-hub", "--revision", "--commit-message", "--private"):
        assert option not in text


# ---------------------------------------------------------------------------------------------------------
# push_folder with a fake api object


def test_push_folder_defaults(pushed):
    rec = Recorder()
    commit = push_folder(pushed.out, "me/public", api=rec)
    assert commit == "0123456789abcdef0123456789abcdef01234567"
    assert [name for name, _, _ in rec.calls] == ["create_repo", "upload_folder"]  # no branch for main
    (_, kwargs), = rec.named("create_repo")
    assert kwargs["private"] is False and kwargs["exist_ok"] is True
    (_, kwargs), = rec.named("upload_folder")
    assert kwargs["revision"] is None and kwargs["commit_message"] == "Upload VAE from model"
    assert MUST_GO <= rec.sent and "checkpoint.safetensors" not in rec.sent


def test_push_folder_to_main_creates_no_branch(pushed):
    rec = Recorder()
    push_folder(pushed.out, "me/repo", revision="main", api=rec)
    assert not rec.named("create_branch")


def test_huggingface_hub_itself_selects_the_same_files(pushed, monkeypatch):
    # One level deeper: the real HfApi.upload_folder builds the commit from our ignore patterns; only the network
    # steps are replaced (YAML validation, the commit itself, and the xet upload path).
    import huggingface_hub.hf_api as hf_api

    ops = []
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: SimpleNamespace(repo_id=repo_id))
    monkeypatch.setattr(HfApi, "_validate_yaml", lambda self, content, **kw: None)
    monkeypatch.setattr(hf_api, "is_xet_available", lambda: False)
    monkeypatch.setattr(HfApi, "create_commit",
                        lambda self, **kw: ops.extend(kw["operations"]) or SimpleNamespace(oid="f" * 40))
    patterns_before = list(NOT_PUBLISHED)
    assert push_folder(pushed.out, "me/repo") == "f" * 40
    assert {op.path_in_repo for op in ops} == _would_send(pushed.out, NOT_PUBLISHED)
    assert MUST_GO <= {op.path_in_repo for op in ops}
    # pushing twice must not change the module's pattern list (upload_folder extends the list it is given)
    push_folder(pushed.out, "me/repo")
    assert train.publish.NOT_PUBLISHED == patterns_before
