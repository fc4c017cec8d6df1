"""Provenance recorded with every result: versions, commit, platform."""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import subprocess
from pathlib import Path

import mirl
from mirl.schemas import Provenance
from mirl.seeding import test_salt

# Packages whose version can move a score.
TRACKED_PACKAGES = ("torch", "numpy", "gymnasium", "minigrid", "procgen-mirror", "procgen", "pydantic", "pluggy")


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """Commit of the checkout mirl runs from (editable installs); None for an installed wheel."""
    source = Path(mirl.__file__).resolve().parent.parent
    if not (source / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = out.stdout.strip()
    if out.returncode != 0 or not commit:
        return None
    dirty = subprocess.run(
        ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, timeout=5,
    ).stdout.strip()
    return commit + ("-dirty" if dirty else "")


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def provenance(method_plugin: str | None = None, task_plugin: str | None = None) -> Provenance:
    return Provenance(
        mirl_version=mirl.__version__,
        git_commit=git_commit(),
        python=platform.python_version(),
        platform=platform.platform(),
        packages=package_versions(),
        method_plugin=method_plugin,
        task_plugin=task_plugin,
        test_salt="private" if test_salt() else "public",
    )
