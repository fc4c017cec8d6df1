"""Probe methods: decoders fitted on the train split's activations."""

from mirl import hookimpl


@hookimpl
def register_methods(register):
    from .conv import ConvProbe
    from .goal_probe import GoalProbe
    from .linear import LinearProbe, ObsOnlyPredictor
    from .nmf import NMFProbe
    from .ridge import RidgeProbe
    from .sparse import SparseProbe

    register(LinearProbe)
    register(ConvProbe)
    register(SparseProbe)
    register(GoalProbe)
    register(NMFProbe)
    register(ObsOnlyPredictor)
    register(RidgeProbe)
