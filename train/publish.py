"""Publish a finished run folder to the Hugging Face Hub: no retraining, no re-evaluation, the folder as it is
(model card included) minus the training checkpoint.

    python -m train.publish runs/default you/vae-2d-mnist
    python -m train.publish runs/default you/vae-2d-mnist --revision dev --private --commit-message "30 epochs"

It prints the commit id to pin (VAE_MODEL_REVISION=<commit> for the app). `python -m train ... --push-to-hub REPO_ID`
does the same at the end of a run. The token is huggingface_hub's own business: HF_TOKEN or the cached
`hf auth login`; this module never reads, prints or writes it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from train.checkpoint import CHECKPOINT_NAME
from vae import hub

# the training checkpoint (with Adam's moments) and temporary files stay local
NOT_PUBLISHED = [CHECKPOINT_NAME, ".*", "*.tmp"]
# what `python -m train` writes last: a folder without them is not a finished run
FINISHED_RUN = ("model.safetensors", "config.json", "README.md")


def push_folder(folder: Path, repo_id: str, **options) -> str:
    """vae.hub.push_folder of a run folder: everything but what stays local (NOT_PUBLISHED)."""
    return hub.push_folder(folder, repo_id, ignore_patterns=NOT_PUBLISHED, **options)


class NotAFinishedRun(ValueError):
    """The folder lacks the files a finished run has: the message says what to do."""


def check_finished_run(folder: Path) -> None:
    folder = Path(folder)
    if not folder.is_dir():
        raise NotAFinishedRun(f"{folder} is not a folder. Give the --out-dir of a finished `python -m train` run.")
    missing = [name for name in FINISHED_RUN if not (folder / name).is_file()]
    if missing:
        raise NotAFinishedRun(
            f"{folder} is not a finished run: it has no {', '.join(missing)}. Finish the run first "
            f"(`python -m train ... --out-dir {folder} --resume` continues an interrupted one), then publish it.")


def publish(folder: Path, repo_id: str, *, private: bool = False, revision: str | None = None,
            commit_message: str | None = None) -> str:
    """Check that `folder` is a finished run, upload it and print the commit to pin; returns the commit id."""
    check_finished_run(folder)
    commit = push_folder(folder, repo_id, private=private, revision=revision, commit_message=commit_message)
    print(f"pushed {folder} to https://huggingface.co/{repo_id} (revision {revision or 'main'}), commit {commit}: "
          f"pin it with VAE_MODEL_REVISION={commit}")
    return commit


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train.publish", description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the --out-dir of a finished `python -m train` run")
    p.add_argument("repo_id", metavar="REPO_ID", help="Hub model repo, e.g. you/vae-2d-mnist (created if needed)")
    p.add_argument("--revision", default=None, help="branch to push to, created if needed (default: main)")
    p.add_argument("--private", action="store_true", help="create the repo as private (an existing repo keeps its "
                                                          "visibility)")
    p.add_argument("--commit-message", default=None,
                   help="commit message (default: 'Upload VAE from <RUN_DIR's name>')")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        publish(args.run_dir, args.repo_id, private=args.private, revision=args.revision,
                commit_message=args.commit_message)
    except NotAFinishedRun as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 network, login and Hub refusals come as OSError, ValueError or httpx's errors
        print(f"error: uploading {args.run_dir} to {args.repo_id} failed ({type(e).__name__}: {e}). Check the "
              "connection and the login (HF_TOKEN or `hf auth login`), then run the same command again.",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
