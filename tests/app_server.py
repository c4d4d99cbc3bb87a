"""Launch `python app.py` as a subprocess on a free port, as a Space runs it, with its own Gradio cache, temporary
folder and Hub home, and its log captured to a file. Shared by the robustness tests (not a test module)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@dataclass
class AppProcess:
    proc: subprocess.Popen
    url: str  # ends with "/"
    log: Path
    cache: Path  # GRADIO_TEMP_DIR: uploads and outputs
    tmp: Path  # TMPDIR: the page's weight bundle, anything else the process writes to the temporary folder

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def app_env(root: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAE_", "HF_", "HUGGINGFACE", "GRADIO_"))}
    for name in ("cache", "tmp", "hf-home"):
        (root / name).mkdir(parents=True, exist_ok=True)
    env.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_TEMP_DIR=str(root / "cache"),
               TMPDIR=str(root / "tmp"), HF_HOME=str(root / "hf-home"), HF_HUB_DISABLE_TELEMETRY="1",
               GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    env.update(extra)
    return env


def launch_app(root: Path, timeout: float = 180, **extra_env: str) -> AppProcess:
    """Start the app under `root` (folders cache/, tmp/, hf-home/, app.log) and wait until it serves its page."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = root / "app.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=REPO, env=app_env(root, port, **extra_env),
                                stdout=out, stderr=subprocess.STDOUT)
    app = AppProcess(proc, f"http://127.0.0.1:{port}/", log, root / "cache", root / "tmp")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not app.alive():
            raise RuntimeError(f"app.py exited with {proc.returncode}:\n{app.log_text()}")
        try:
            if httpx.get(app.url + "config", timeout=5).status_code == 200:
                return app
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    app.stop()
    raise RuntimeError(f"app.py did not serve within {timeout} s:\n{app.log_text()}")


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())
