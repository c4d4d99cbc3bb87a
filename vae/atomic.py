"""Atomic file writes: a temporary file beside the target, fsynced, then renamed over it. A crash at any point
(kill -9 included) leaves the old file or the new one, never a torn one; a failed write leaves the old file."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call write(tmp_path) for a temporary file beside `path`, fsync it, then rename it to `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes 0600; give the file the mode open() would. After write(): safetensors' save_file replaces
        # the file it is given with a new 0600 one, so a chmod before it would be lost.
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        # safetensors' writer reports a failed write (disk full, read-only) as SafetensorError "... I/O error: ...
        # (os error 28)": raise it as the OSError it is, so callers handle every failed write alike
        found = re.search(r"\(os error (\d+)\)", str(e)) if not isinstance(e, OSError) else None
        if found:
            code = int(found.group(1))
            raise OSError(code, os.strerror(code), str(path)) from e
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
