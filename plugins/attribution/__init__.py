"""Unit-scoring methods (issue 8): which units matter, by activation statistics or by ablating them."""

from mirl import hookimpl


@hookimpl
def register_methods(register):
    from .units import AblationScan, ActivationVariance

    register(ActivationVariance)
    register(AblationScan)
