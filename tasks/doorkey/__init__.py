"""Task family `doorkey`: MiniGrid DoorKey with exact causal variables and counterfactual states, for
causal-variable localization with planted ground truth: agents in which has_key was planted by interchange-
intervention training, and the tasks that score localization against the plant (see README.md). The natural
agent `doorkey-ppo` and its tasks are still to come."""

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
