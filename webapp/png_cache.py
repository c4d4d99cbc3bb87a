"""The API's images, written as PNG (and animated GIF) files straight into Gradio's cache.

A workaround, kept to this module: Gradio 6.31 rewrites a same-content output image in place (truncate,
then write) while another caller may be downloading it, and that caller reads 0 bytes. bench/load.py (50 users x
20 calls) showed 13 of 1000 calls failing that way; written here atomically, named by content as Gradio names its
own outputs, 0 of 1000 fail (docs/reliability.md). It is also faster: Gradio serves the file as it is instead of
re-encoding it at zlib level 6 (13 ms -> 4 ms for a grid, bench/app_latency.py).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
from gradio.data_classes import FileData

from vae.imaging import GIF_FRAME_MS, gif_bytes, png_bytes


def png_file(image: np.ndarray, name: str, cache: str | os.PathLike) -> FileData:
    """uint8 grey (H, W) or RGB (H, W, 3) -> a PNG file in Gradio's cache folder `cache` (cache/<sha256>/name.png).
    Gradio then only adds it to the files its cache cleaner deletes with age (delete_cache)."""
    return cached_file(png_bytes(image), f"{name}.png", "image/png", cache)


def gif_file(frames: np.ndarray, name: str, cache: str | os.PathLike, frame_ms: int = GIF_FRAME_MS) -> FileData:
    """uint8 grey frames (N, H, W) -> an animated GIF (vae.imaging.gif_bytes: lossless, looping) in Gradio's cache
    folder `cache` (cache/<sha256>/name.gif)."""
    return cached_file(gif_bytes(frames, frame_ms), f"{name}.gif", "image/gif", cache)


def cached_file(data: bytes, filename: str, mime_type: str, cache: str | os.PathLike) -> FileData:
    """A file's bytes -> cache/<sha256 of data>/filename, written atomically unless already there."""
    path = Path(cache) / hashlib.sha256(data).hexdigest() / filename
    if path.is_file():
        os.utime(path)  # a fresh ctime: the cache cleaner ages files by it and must not take one handed out now
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")  # no fsync: a cache file need not survive a crash
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return FileData(path=str(path), orig_name=filename, mime_type=mime_type)
