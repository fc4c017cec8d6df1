"""Task family `smoke`: a 7×7 grid, a planted-encoder agent, one task per answer kind (see README.md)."""

from mirl import hookimpl


@hookimpl
def register_tasks(register):
    from .tasks import TASKS

    for task in TASKS:
        register(task)


@hookimpl
def register_agents(register):
    from .agent import spec

    register(spec())
