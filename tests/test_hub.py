"""Publishing to the Hugging Face Hub without internet, both ways: `python -m train ... --push-to-hub` at the end of a
run and `python -m train.publish RUN_DIR REPO_ID` on a finished run folder. The calls are intercepted at the
huggingface_hub boundary (HfApi methods patched, or a fake api object) and every file that would be sent is checked.
The token must never reach a file or the console; a folder that is not a finished run is refused before any Hub call.
(The whole loop against a local Hub, nothing mocked: tests/test_train_publish_open.py.)

    python -m pytest tests/test_hub.py      # about 25 s (two tiny training runs)
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from huggingface_hub import HfApi, ModelCard

import train.publish
from conftest import REPO, cli_env
from train.publish import NOT_PUBLISHED, push_folder

FAKE_TOKEN = "hf_FAKEtokenDoNotLeak123"
MUST_GO = {"model.safetensors", "config.json", "README.md", "latents.safetensors", "loss_curve.png", "samples.png",
           "latent_scatter.png", "results.json", "metrics.json", "snapshots.safetensors"}  # the replay too
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


def assert_private_repo_and_dev_branch(rec) -> dict:
    """The recorded Hub calls of a push to me/repo, private, branch dev -> upload_folder's keyword arguments."""
    assert [name for name, _, _ in rec.calls] == ["create_repo", "create_branch", "upload_folder"]
    (args, kwargs), = rec.named("create_repo")
    assert args == ("me/repo",) and kwargs["private"] is True and kwargs["exist_ok"] is True
    assert kwargs.get("repo_type", "model") == "model"
    (args, kwargs), = rec.named("create_branch")
    assert args == ("me/repo",) and kwargs["branch"] == "dev" and kwargs["exist_ok"] is True
    (_, kwargs), = rec.named("upload_folder")
    assert kwargs["repo_id"] == "me/repo" and kwargs["revision"] == "dev"
    return kwargs


def test_cli_push_creates_the_repo_and_branch_and_prints_the_commit(pushed):
    assert pushed.code == 0, pushed.stderr
    rec = pushed.recorder
    kwargs = assert_private_repo_and_dev_branch(rec)
    assert kwargs["commit_message"] == "x"
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
    # the card tells readers how to *train* the model on a fresh clone: the options that differ from the preset, and
    # MNIST downloaded into the clone (no path of this machine, no upload or bookkeeping options)
    text = ModelCard.load(pushed.out / "README.md").text
    assert ("python -m train --download --data-dir data/mnist --hidden 32 --blocks 1 --epochs 1 --train-subset 500 "
            "--device cpu --threads 1 --iwae-k 50 --iwae-images 100") in text
    for option in ("--push-to-hub", "--revision", "--commit-message", "--private", "--no-progress", "--out-dir"):
        assert option not in text
    # the training replay, published with the model, is listed with its moments
    assert "## Training replay" in text and "snapshots.safetensors" in text and "| 0 | 0.00 |" in text
    data_dir = pushed.train_argv[pushed.train_argv.index("--data-dir") + 1]
    assert str(pushed.out) not in text and data_dir not in text  # (an absolute path: tests/conftest.py's mnist_path)


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


# ---------------------------------------------------------------------------------------------------------
# python -m train.publish RUN_DIR REPO_ID: a finished run folder, uploaded as it is


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _publish(argv: list[str]) -> SimpleNamespace:
    """train.publish.main(argv) in this process with the Hub recorded and a fake HF_TOKEN set."""
    recorder, stdout, stderr = Recorder(), io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        mp.setenv("HF_TOKEN", FAKE_TOKEN)
        _patch_hfapi(mp, recorder)
        code = train.publish.main([str(a) for a in argv])
    return SimpleNamespace(code=code, recorder=recorder, stdout=stdout.getvalue(), stderr=stderr.getvalue())


@pytest.fixture(scope="module")
def published(tmp_path_factory, run_train, tiny_run_args):
    """A tiny run trained by `python -m train` (no upload), then published with train.publish."""
    out = tmp_path_factory.mktemp("publish") / "run"
    trained = run_train(*tiny_run_args, "--out-dir", out, "--epochs", "1", "--train-subset", "500")
    assert trained.returncode == 0, trained.stderr[-3000:]
    for name in LEFTOVERS:
        (out / name).write_bytes(b"partial")
    before = _snapshot(out)
    result = _publish([out, "me/repo", "--private", "--revision", "dev", "--commit-message", "first model"])
    return SimpleNamespace(out=out, before=before, after=_snapshot(out), **vars(result))


def test_publish_uploads_the_finished_folder_and_prints_the_commit_to_pin(published):
    assert published.code == 0, published.stderr
    rec = published.recorder
    kwargs = assert_private_repo_and_dev_branch(rec)
    assert kwargs["commit_message"] == "first model"
    assert Path(kwargs["folder_path"]) == published.out and "token" not in kwargs
    assert "pin it with VAE_MODEL_REVISION=0123456789abcdef0123456789abcdef01234567" in published.stdout


def test_publish_sends_the_folder_minus_the_checkpoint_and_changes_nothing(published):
    sent = published.recorder.sent
    assert sent == set(published.before) - {"checkpoint.safetensors", *LEFTOVERS}
    assert MUST_GO <= sent and "checkpoint.safetensors" in published.before
    assert published.after == published.before  # no retraining, no re-evaluation, the card as the run wrote it


def test_publish_never_shows_the_token(published):
    assert FAKE_TOKEN not in published.stdout and FAKE_TOKEN not in published.stderr
    for name, data in published.after.items():
        assert FAKE_TOKEN.encode() not in data, name


@pytest.mark.parametrize("leave_out", ["model.safetensors", "config.json", "README.md"])
def test_publish_refuses_a_folder_that_is_not_a_finished_run(published, tmp_path, leave_out):
    run = tmp_path / "run"
    run.mkdir()
    for name, data in published.before.items():
        if name != leave_out:
            (run / name).write_bytes(data)
    result = _publish([run, "me/repo"])
    assert result.code == 2
    assert result.recorder.calls == []  # refused before any Hub call
    assert f"{run} is not a finished run: it has no {leave_out}" in result.stderr and "--resume" in result.stderr


@pytest.mark.slow
def test_publish_cli_refuses_without_a_traceback_and_has_help(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "train.publish", *map(str, args)], cwd=REPO, env=cli_env(),
                              capture_output=True, text=True, timeout=120)

    (tmp_path / "checkpoint.safetensors").write_bytes(b"an interrupted run")
    refused = cli(tmp_path, "me/repo")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "is not a finished run" in refused.stderr and "then publish it" in refused.stderr, refused.stderr
    assert cli(tmp_path / "nowhere", "me/repo").returncode == 2
    helped = cli("--help")
    assert helped.returncode == 0
    for says in ("RUN_DIR", "REPO_ID", "--revision", "--private", "--commit-message"):
        assert says in helped.stdout
