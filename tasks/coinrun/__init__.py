"""Task family `coinrun`: procgen CoinRun, its agent `coinrun-ppo` and four tasks (see README.md)."""

from mirl import hookimpl


@hookimpl
def register_tasks(register):
    from .tasks import TASKS

    for task in TASKS:
        register(task)


@hookimpl
def register_agents(register):
    from .agent import spec
    from .card import evaluate

    register(spec(evaluate))
