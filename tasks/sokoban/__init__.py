"""Task family `sokoban`: batched Sokoban, the recurrent agent `sokoban-drc`, its feed-forward baseline
`sokoban-ff` and the planning tasks (see README.md)."""

from mirl import hookimpl


@hookimpl
def register_tasks(register):
    from .tasks import TASKS

    for task in TASKS:
        register(task)


@hookimpl
def register_agents(register):
    from functools import partial

    from .agent import spec_drc, spec_ff
    from .card import evaluate

    register(spec_drc(evaluate))
    register(spec_ff(partial(evaluate, feed_forward=True)))
