"""Task family `maze`: MiniGrid mazes with a cheese goal, the agent `maze-ppo` and its tasks (see README.md)."""

from mirl import hookimpl
from mirl.family import family_hooks

register_tasks, register_agents = family_hooks(__name__, agents="card:agent_specs")


@hookimpl
def register_methods(register):
    from .methods import CounterfactualGoal

    register(CounterfactualGoal)  # the family's behavioural reference for misgen-predict
