"""The icrl family's tasks (none before its agent ships)."""

TASKS: list = []
