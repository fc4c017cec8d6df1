"""Task family `coinrun` (in progress): procgen CoinRun and its agent `coinrun-ppo`."""

from mirl import hookimpl


@hookimpl
def register_agents(register):
    from .agent import spec

    register(spec())
