"""Task family `maze` (in progress): MiniGrid mazes with a cheese goal and the agent `maze-ppo` (issue 5)."""

from mirl import hookimpl


@hookimpl
def register_agents(register):
    from .agent import spec

    register(spec())
