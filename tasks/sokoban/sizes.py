"""Sizes shared by the agents and the tasks, in a module that imports nothing heavy (task registration and
`mirl tasks` must not pay torch's import)."""

INTERIOR = 6  # the board's interior, squares per side (the border is wall)
SIZE = INTERIOR + 2
BOXES = 2
# DRC(2,2) with 16 channels: what 2 CPU cores can train (see agent.py for what was tried first).
DRC_DEPTH, DRC_TICKS, DRC_CHANNELS, HIDDEN = 2, 2, 16, 256
