"""mirl: a benchmark suite for mechanistic interpretability of reinforcement-learning agents.

Importing this package is cheap on purpose (no torch, wandb or procgen): the CLI's listing commands
must answer in well under a second.
"""

from mirl.hookspecs import hookimpl, hookspec

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl", "hookspec"]
