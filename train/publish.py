"""Publishing a run's folder to the Hugging Face Hub.

The token is huggingface_hub's own business: HF_TOKEN or the cached `hf auth login`; this module never reads,
prints or writes it.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi

from train.checkpoint import CHECKPOINT_NAME

# the training checkpoint (with Adam's moments) and temporary files stay local
NOT_PUBLISHED = [CHECKPOINT_NAME, ".*", "*.tmp"]


def push_folder(folder: Path, repo_id: str, *, private: bool = False, revision: str | None = None,
                commit_message: str | None = None, api: HfApi | None = None) -> str:
    """Create the model repo if needed (and the branch `revision`), upload the folder; returns the commit id."""
    api = api or HfApi()
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    if revision and revision != "main":
        api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
    info = api.upload_folder(
        repo_id=repo_id, repo_type="model", folder_path=str(folder), revision=revision,
        commit_message=commit_message or f"Upload VAE from {Path(folder).name}",
        ignore_patterns=list(NOT_PUBLISHED))  # a copy: upload_folder appends its defaults to the list it is given
    return info.oid
