"""Where mirl keeps its data: MIRL_HOME, or the user's data directory."""

from __future__ import annotations

import os
from pathlib import Path


def mirl_home() -> Path:
    raw = os.environ.get("MIRL_HOME")
    if raw:
        return Path(raw).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("mirl", appauthor=False))


def wandb_root() -> Path:
    """W&B's root folder: run files go to MIRL_HOME/wandb/ unless WANDB_DIR says otherwise, never into the
    current directory (W&B adds the ``wandb/`` level itself)."""
    raw = os.environ.get("WANDB_DIR")
    return Path(raw) if raw else mirl_home()
