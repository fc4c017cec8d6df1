"""Task family `doorkey` (issue 7, in progress): MiniGrid DoorKey with exact causal variables and counterfactual
states, for causal-variable localization with planted ground truth. The environment and the natural agent's
spec are built; the agents train next and the tasks register here once they ship (see README.md)."""

from mirl import hookimpl


@hookimpl
def register_tasks(register):
    from .tasks import TASKS

    for task in TASKS:
        register(task)


@hookimpl
def register_agents(register):
    from .agent import planted_spec, spec

    register(spec())
    register(planted_spec("channels"))
    register(planted_spec("subspace"))
