"""Steering methods: activation edits built from a task's steering pairs (observations without and
with the feature the edit should induce)."""

from mirl import hookimpl


@hookimpl
def register_methods(register):
    from .contrast import ChannelClamp, MeanDifference, ProbeSteering
    from .projection import ProjectionRemoval

    register(MeanDifference)
    register(ProbeSteering)
    register(ChannelClamp)
    register(ProjectionRemoval)
