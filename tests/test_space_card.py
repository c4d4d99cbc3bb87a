"""The Hugging Face Space around the app: README.md's front matter parsed by huggingface_hub's SpaceCard (sdk,
sdk_version equal to the pinned and installed Gradio, app file, licence, colours, model repo), requirements.txt fit
for a CPU Space (every run-time import pinned, torch from the CPU index), and the sync workflow (runs on push to
main, token from a secret, uploads every file the app needs and nothing of the tests or the trainer).

Run: python -m pytest tests/test_space_card.py   (a second)
"""

from __future__ import annotations

import ast
import fnmatch
import re
import subprocess
import sys
from pathlib import Path

import gradio
import yaml
from huggingface_hub import SpaceCard

from conftest import REPO

SPACE_COLOURS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}  # what Spaces accept
IMPORT_TO_DISTRIBUTION = {"PIL": "pillow", "yaml": "pyyaml"}


def pinned_requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            assert version, f"requirements.txt: {line!r} is not pinned with =="
            name = name.split("[", 1)[0]  # gradio[mcp]: the distribution is gradio, with an extra
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


LOCAL_PACKAGES = ("vae", "webapp")


def app_modules() -> list[Path]:
    """app.py and the modules of this repository's packages (vae, webapp) it imports, followed transitively."""
    seen, todo = [], [REPO / "app.py"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.append(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            for name in names:
                parts = name.split(".")
                if parts[0] in LOCAL_PACKAGES:
                    module = (REPO.joinpath(*parts).with_suffix(".py") if len(parts) > 1
                              else REPO / parts[0] / "__init__.py")
                    todo.append(module)
                    if len(parts) == 1:  # `import vae` runs vae/__init__.py, which imports its modules
                        todo.extend((REPO / parts[0]).glob("*.py"))
    return seen


def third_party_imports(paths: list[Path]) -> set[str]:
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in LOCAL_PACKAGES and m != "__future__"}


# ---------------------------------------------------------------------------------------------------------


def test_readme_front_matter_is_a_valid_gradio_space_card():
    text = (REPO / "README.md").read_text()
    assert text.startswith("---\n"), "the Space's front matter must be the first thing in README.md"
    card = SpaceCard.load(REPO / "README.md")
    data = card.data
    assert data.title and data.emoji
    assert data.colorFrom in SPACE_COLOURS and data.colorTo in SPACE_COLOURS
    assert data.sdk == "gradio"
    assert data.sdk_version == pinned_requirements()["gradio"] == gradio.__version__
    assert data.app_file == "app.py" and (REPO / data.app_file).is_file()
    assert data.license == "mit"
    assert 0 < len(data.short_description) <= 60  # the Hub's limit
    assert data.models and all(re.fullmatch(r"[\w.-]+/[\w.-]+", m) for m in data.models)
    assert str(data.python_version).startswith("3.")


def test_requirements_fit_a_cpu_space():
    pins = pinned_requirements()
    lines = (REPO / "requirements.txt").read_text().splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines  # torch+cpu, not the CUDA build
    assert not any(re.match(r"(nvidia-|triton|cuda)", name) for name in pins)
    needed = {IMPORT_TO_DISTRIBUTION.get(m, m).lower().replace("_", "-") for m in third_party_imports(app_modules())}
    assert needed <= set(pins), f"imported by the app but not pinned: {sorted(needed - set(pins))}"


def test_the_app_knows_nothing_of_training():
    for path in app_modules():
        assert "train" not in third_party_imports([path]), f"{path.name} imports the train package"


def test_sync_workflow_uploads_the_app_to_the_space_on_push_to_main():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "sync-space.yml").read_text())
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"]
    job = next(iter(workflow["jobs"].values()))
    assert job["env"]["HF_TOKEN"] == "${{ secrets.HF_TOKEN }}"
    script = next(s["run"] for s in job["steps"] if "upload_folder" in s.get("run", ""))
    assert "repo_type=\"space\"" in script
    python = script.split("<<'PY'", 1)[1].rsplit("PY", 1)[0]
    source = "\n".join(line[10:] if line.startswith(" " * 10) else line for line in python.splitlines())
    tree = ast.parse(source)
    patterns = next(ast.literal_eval(n.value) for n in ast.walk(tree)
                    if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "files")
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    uploaded = {f for f in tracked if any(fnmatch.fnmatch(f, p) for p in patterns)}
    needed = {p.relative_to(REPO).as_posix() for p in app_modules()}
    needed |= {f for f in tracked if f.startswith(("static/", "pretrained/"))}
    needed |= {"README.md", "requirements.txt"}
    assert needed <= uploaded, f"the Space would miss {sorted(needed - uploaded)}"
    assert not {f for f in uploaded if f.startswith(("tests/", "bench/", "train/", ".github/"))}
