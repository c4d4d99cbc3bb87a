"""The Training tab's data for one model: its snapshots.safetensors (vae/snapshots.py), read on first use.

The page gets a replay bundle: the snapshots' compact tensors as they are (int8 with scales, float16, float32) plus
the decoder program of webapp/bundle.py, so the page (static/js/core/bundles.js) decodes any snapshot in the browser:

    format   "vae-explorer-replay/1"
    program  the decoder's operations (webapp/bundle.py); input 2; output [28, 28]
    records  one per snapshot: step, epoch, train_elbo, test_elbo, test_bce, test_kl, max_error, encodings
    map_limit  the map's half-width, fitted to the final snapshot's latent means (webapp/bundle.py's map_limit)
    classes  what the page says of the model's data set, as in the page bundle
    tensors  "labels" uint8 (N,); "s{k}.mu" float16 (N, 2); "s{k}.<decoder tensor>" (+ ".scale" for int8)

The API's `snapshot` argument decodes with the same dequantized weights (Snapshots.model), so the page and /grid
agree. A model without the file, or with one that cannot be read, is served as before: the tab says why instead.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from safetensors import safe_open
from safetensors.numpy import save_file

from vae.atomic import atomic_write
from vae.explorer import Explorer
from vae.imaging import DEFAULT_SPAN, GRID_SIZE, MARK_COLOUR
from vae.model import VAE
from vae.snapshots import SNAPSHOTS_NAME, Snapshots, SnapshotsError, load_snapshots
from webapp.bundle import decoder_metadata, map_limit

log = logging.getLogger("vae_explorer")

FORMAT = "vae-explorer-replay/1"
MAX_SNAPSHOT_FILE_BYTES = 64 * 2**20  # a Hub model's snapshots file above this is not fetched
EXPLORERS_KEPT = 4  # snapshot decoders kept in memory per model for the API
HOW_TO = ("This model has no training replay. Train one with `python -m train ... --snapshots` (on by default for "
          "the default and reference presets); its snapshots.safetensors, published with the model, is the replay.")
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]  # matplotlib tab10, a colour per class: the GIF's and the page's maps (webapp/page.py)
GIF_FRAME_MS, GIF_LAST_MS = 700, 2500


class ReplayUnavailable(ValueError):
    """The model has no usable replay; the message says why and what to do."""


def snapshot_count(path: Path) -> int:
    """The snapshots in a file, from its header alone (0: no file, or not a readable one)."""
    try:
        with safe_open(str(path), framework="numpy") as f:
            return len(json.loads((f.metadata() or {})["snapshots"]))
    except Exception:  # noqa: BLE001 - an unreadable file has no snapshots to offer
        return 0


def write_replay_bundle(snaps: Snapshots, model: VAE, folder: Path) -> Path:
    """The page's replay file for `snaps` of `model`, named by its content (a browser cache never serves a stale
    one)."""
    tensors = {"labels": snaps.labels, **snaps.tensors}
    metadata = {"format": FORMAT, **decoder_metadata(model), "records": json.dumps(snaps.records),
                "map_limit": json.dumps(map_limit(snaps.mu(len(snaps) - 1)))}
    digest = hashlib.sha256(json.dumps(metadata, sort_keys=True).encode())
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(tensors[name]).tobytes())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"replay-{digest.hexdigest()[:20]}.safetensors"
    if not path.is_file():
        atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    return path


class Replay:
    """One model's replay: `count` at once (from the header), the rest on first use, then kept."""

    def __init__(self, model: VAE, path: Path | None, bundle_dir: Path):
        self.model, self.path, self.bundle_dir = model, Path(path) if path else None, Path(bundle_dir)
        self.count = snapshot_count(self.path) if self.path else 0
        self.lock = threading.Lock()
        self.snaps: Snapshots | None = None
        self.bundle: Path | None = None
        self.error: str | None = None
        self.unreadable = False  # a file is there but cannot be shown (not just a model trained without snapshots)
        self.explorers: OrderedDict[int, Explorer] = OrderedDict()

    def load(self) -> Snapshots:
        """The snapshots, read and checked once; ReplayUnavailable when there are none or they cannot be read."""
        with self.lock:
            if self.snaps is None and self.error is None:
                if self.path is None or not self.path.is_file():
                    self.error = HOW_TO
                else:
                    try:
                        self.snaps = load_snapshots(self.path, self.model.config)
                        self.bundle = write_replay_bundle(self.snaps, self.model, self.bundle_dir)
                    except SnapshotsError as e:
                        log.warning("training replay unavailable: %s", e)
                        self.error = f"This model's training replay cannot be shown: {e}"
                        self.unreadable = True
            if self.error is not None:
                raise ReplayUnavailable(self.error)
            return self.snaps

    def page(self) -> tuple[str, str]:
        """-> (the replay bundle's path for the page, or "", the message the tab shows instead)."""
        try:
            self.load()
        except ReplayUnavailable as e:
            return "", str(e)
        return str(self.bundle), ""

    def index(self, snapshot: int) -> int:
        """A snapshot index as given (negative counts from the end) -> 0..count-1; ReplayUnavailable if out of range."""
        n = len(self.load())
        if not -n <= snapshot < n:
            raise ReplayUnavailable(f"snapshot must be a whole number from 0 to {n - 1} (or -1 for the last): this "
                                    f"model has {n} snapshots; /models lists each model's count.")
        return snapshot % n

    def explorer(self, snapshot: int) -> Explorer:
        """The views of snapshot `snapshot`'s decoder (the final encoder with it: only decoding uses it)."""
        k = self.index(snapshot)
        with self.lock:
            if k not in self.explorers:
                self.explorers[k] = Explorer(self.snaps.model(self.model, k))
                while len(self.explorers) > EXPLORERS_KEPT:
                    self.explorers.popitem(last=False)
            self.explorers.move_to_end(k)
            return self.explorers[k]

    def gif(self, z1: float = 0.0, z2: float = 0.0, span: float = DEFAULT_SPAN) -> bytes:
        """The replay as an animated GIF: per snapshot, the latent map of the tracked test digits beside the 10x10
        grid around (z1, z2) decoded by that snapshot, with its step and test -ELBO underneath."""
        snaps = self.load()
        limit = map_limit(snaps.mu(len(snaps) - 1))
        frames = []
        for k, record in enumerate(snaps.records):
            grid = self.explorer(k).grid(z1, z2, span)  # (280, 280, 3)
            caption = (f"step {record['step']:,} (epoch {record['epoch']:.2f})   "
                       f"test -ELBO {record['test_elbo']:.1f} nats")
            frames.append(replay_frame(snaps.mu(k), snaps.labels, limit, grid, caption))
        durations = [GIF_FRAME_MS] * (len(frames) - 1) + [GIF_LAST_MS]
        frames = [to_palette(f) for f in frames]
        out = io.BytesIO()
        frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0,
                       disposal=1, optimize=False)
        return out.getvalue()


# The replay GIF's 256 colours: the 10 class colours, the grid's orange mark, then 245 evenly spaced greys (white,
# black and the axes' grey among them). A frame holds only these colours and greys (the grid's digits, the caption's
# anti-aliased text), so each grey maps to its nearest level: at most 1 grey level off, no dithering noise.
CLASS_RGB = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in COLOURS] + [tuple(MARK_COLOUR)]
GREY_LEVELS = 256 - len(CLASS_RGB)
PALETTE = [v for rgb in CLASS_RGB for v in rgb] + [round(i * 255 / (GREY_LEVELS - 1)) for i in range(GREY_LEVELS)
                                                   for _ in range(3)]


def to_palette(frame: Image.Image) -> Image.Image:
    """An RGB frame of greys and CLASS_RGB colours -> the same frame in the GIF palette (mode "P")."""
    rgb = np.asarray(frame)
    index = len(CLASS_RGB) + np.rint(rgb[..., 0] * ((GREY_LEVELS - 1) / 255)).astype(np.uint8)
    for i, colour in enumerate(CLASS_RGB):
        index[(rgb == colour).all(-1)] = i
    image = Image.fromarray(index, "P")
    image.putpalette(PALETTE)
    return image


def replay_frame(mu: np.ndarray, labels: np.ndarray, limit: float, grid: np.ndarray, caption: str,
                 side: int = 28 * GRID_SIZE) -> Image.Image:
    """One GIF frame: the map (side x side, white, axes through 0, a dot per digit) | the grid, caption below."""
    frame = Image.new("RGB", (2 * side + 10, side + 24), "white")
    draw = ImageDraw.Draw(frame)
    centre = side / 2
    draw.line([(0, centre), (side, centre)], fill=(199, 199, 199))
    draw.line([(centre, 0), (centre, side)], fill=(199, 199, 199))
    xy = (mu / limit * 0.5 + 0.5) * side
    for (x, y), label in zip(xy, labels):
        y = side - y  # z2 upwards
        if 0 <= x < side and 0 <= y < side:
            draw.rectangle([x - 1, y - 1, x + 1, y + 1], fill=COLOURS[int(label) % 10])
    frame.paste(Image.fromarray(grid), (side + 10, 0))
    draw.text((4, side + 6), caption, fill=(0, 0, 0))
    return frame


def replay_for(model: VAE, folder: Path | None, bundle_dir: Path) -> Replay:
    """The replay beside a model's weights (folder/snapshots.safetensors), or an empty one."""
    return Replay(model, Path(folder) / SNAPSHOTS_NAME if folder else None, bundle_dir)
