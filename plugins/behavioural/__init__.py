"""Behavioural baselines: methods that answer from the agent's actions on inputs they construct, not from its
internals — the reference an interpretability method has to beat on the same budget."""

from mirl import hookimpl


@hookimpl
def register_methods(register):
    from .counterfactual_goal import CounterfactualGoal

    register(CounterfactualGoal)
