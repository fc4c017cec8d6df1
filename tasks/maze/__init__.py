"""Task family `maze`: MiniGrid mazes with a cheese goal, the agent `maze-ppo` and its tasks (see README.md)."""

from mirl import hookimpl


@hookimpl
def register_tasks(register):
    from .tasks import TASKS

    for task in TASKS:
        register(task)


@hookimpl
def register_agents(register):
    from .agent import zoo
    from .card import evaluate

    for spec in zoo(evaluate):  # maze-ppo and the misgen-predict zoo
        register(spec)


@hookimpl
def register_methods(register):
    from .methods import CounterfactualGoal

    register(CounterfactualGoal)  # the family's behavioural reference for misgen-predict
