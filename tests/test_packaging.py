"""`pip install .` (not only -e) ships the whole namespace: package data included, no generic top-level names."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_the_mirl_namespace_and_the_smoke_agent(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(REPO)],
        check=True, capture_output=True,
    )
    [wheel] = tmp_path.glob("mirl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top_level == {"mirl"}  # never `tasks`, `plugins` or `benchmark` in site-packages
    roots = {"benchmark": "mirl", "tasks": "mirl/tasks", "plugins": "mirl/plugins", "leaderboards": "mirl/leaderboards"}
    sources = [
        f"{prefix}/{path.relative_to(REPO / folder).as_posix()}"
        for folder, prefix in roots.items() for path in (REPO / folder).rglob("*.py")
    ]
    missing = sorted(set(sources) - set(names))
    assert not missing, f"not in the wheel (add the sub-package to pyproject's packages): {missing}"
    data_files = [
        f"{prefix}/{path.relative_to(REPO / folder).as_posix()}" for folder, prefix in roots.items()
        for pattern in ("*.pt", "*.npz", "*.card.json", "README.md") for path in (REPO / folder).rglob(pattern)
    ]
    assert "mirl/tasks/coinrun/coinrun-ppo.pt" in data_files
    missing = sorted(set(data_files) - set(names))
    assert not missing, f"not in the wheel (add them to pyproject's package-data): {missing}"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[mirl]" in text and "smoke = mirl.tasks.smoke" in text and "mirl = mirl.cli.main:main" in text
